//! Behaviour of the legacy `NDIS_RW_LOCK` through its C API (called from Rust) and through
//! `LegacyRwLock`: layout, initialisation, IRQL handling, sharing, exclusion, recursion, the
//! Dpr variants and the `LOCK_STATE` encoding.

mod legacy_common;

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;

use legacy_common::*;
use ndis_rwlock::ffi::legacy::{
    NdisAcquireReadWriteLock, NdisDprAcquireReadWriteLock, NdisDprReleaseReadWriteLock,
    NdisInitializeReadWriteLock, NdisReleaseReadWriteLock,
};
use ndis_rwlock::kernel::{APC_LEVEL, DISPATCH_LEVEL, DispatchGuard, PASSIVE_LEVEL};
use ndis_rwlock::sim::{self, Sim};
use ndis_rwlock::storage::legacy::{
    self as rwlock_legacy, LockState, MAXIMUM_PROCESSORS, NDIS_RW_LOCK_SIZE, NdisRwLock,
};
use ndis_rwlock::{LegacyRwLock, kernel::Kernel};

const PROCESSORS: u32 = 8;

fn boot() {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
}

/// Spins (yielding) until `flag` is set; the other side always sets it.
fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        thread::yield_now();
    }
}

/// Gives a thread that should be blocked plenty of chances to run (not a timing assertion:
/// what is checked afterwards must hold however long this takes).
fn let_others_run() {
    for _ in 0..2000 {
        thread::yield_now();
    }
}

#[test]
fn layout_is_the_one_of_ndis_h() {
    assert_eq!(MAXIMUM_PROCESSORS, 64);
    assert_eq!(NDIS_RW_LOCK_SIZE, 1040);
    assert_eq!(size_of::<NdisRwLock>(), 1040);
    assert_eq!(align_of::<NdisRwLock>(), 8);
    assert_eq!(size_of::<LockState>(), 4);
    assert_eq!(std::mem::offset_of!(LockState, old_irql), 2);
}

#[test]
fn initialize_zeroes_every_byte_of_a_garbage_lock() {
    boot();
    let mut storage = Box::new(std::mem::MaybeUninit::<NdisRwLock>::uninit());
    let ptr = storage.as_mut_ptr();
    // SAFETY: the box holds the whole structure.
    unsafe { ptr.cast::<u8>().write_bytes(0xEE, NDIS_RW_LOCK_SIZE) };
    // SAFETY: writable, aligned, unused.
    unsafe { NdisInitializeReadWriteLock(ptr) };
    // SAFETY: every byte was just written.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), NDIS_RW_LOCK_SIZE) };
    assert!(bytes.iter().all(|&b| b == 0));
    // SAFETY: initialised above.
    let lock = unsafe { &*ptr };
    assert!(!lock.is_held());
    assert_eq!(lock.diagnostics().processors, PROCESSORS);
}

#[test]
fn initialize_works_at_dispatch_level_and_resets_a_used_lock() {
    boot();
    let lock = Lock::new();
    let mut state = lock.acquire(false);
    lock.release(&mut state);
    let dispatch = DispatchGuard::<Sim>::raise();
    // SAFETY: a live lock nobody holds.
    unsafe { rwlock_legacy::initialize(lock.ptr()) };
    drop(dispatch);
    assert!(!lock.get().is_held());
}

#[test]
fn new_is_a_zeroed_released_lock_usable_in_a_static() {
    boot();
    static STATIC_LOCK: NdisRwLock = NdisRwLock::new();
    let ptr = std::ptr::from_ref(&STATIC_LOCK).cast_mut();
    let mut state = LockState::default();
    // SAFETY: a released lock (all zero) and a writable state.
    unsafe { NdisAcquireReadWriteLock(ptr, 1, &mut state) };
    assert_eq!(STATIC_LOCK.diagnostics().writer, Some(processor()));
    // SAFETY: the state that acquire filled, at DISPATCH_LEVEL.
    unsafe { NdisReleaseReadWriteLock(ptr, &mut state) };
    assert!(!STATIC_LOCK.is_held());
    assert_eq!(irql(), PASSIVE_LEVEL);
}

#[test]
fn acquire_raises_to_dispatch_and_release_restores_each_starting_irql() {
    boot();
    let lock = Lock::new();
    for start in [PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL] {
        for write in [false, true] {
            let old = raise(start);
            let mut state = lock.acquire(write);
            assert_eq!(irql(), DISPATCH_LEVEL);
            assert_eq!(state.old_irql, start);
            assert_eq!(state.lock_state & DPR_BIT, 0);
            lock.release(&mut state);
            assert_eq!(irql(), start);
            lower(old);
        }
    }
    assert!(!lock.get().is_held());
}

#[test]
fn dpr_variants_stay_at_dispatch() {
    boot();
    let lock = Lock::new();
    let dispatch = DispatchGuard::<Sim>::raise();
    for write in [false, true] {
        let mut state = lock.dpr_acquire(write);
        assert_eq!(irql(), DISPATCH_LEVEL);
        assert_eq!(state.old_irql, DISPATCH_LEVEL);
        assert_ne!(state.lock_state & DPR_BIT, 0);
        if write {
            assert_eq!(lock.writer(), Some(processor()));
        } else {
            assert_eq!(lock.readers(), 1);
        }
        lock.dpr_release(&mut state);
        assert_eq!(irql(), DISPATCH_LEVEL);
    }
    drop(dispatch);
    assert!(!lock.get().is_held());
}

#[test]
fn exported_dpr_routines_work_through_the_c_abi() {
    boot();
    let lock = Lock::new();
    let dispatch = DispatchGuard::<Sim>::raise();
    let mut read = LockState::default();
    let mut write = LockState::default();
    // SAFETY: a live lock and writable states, at DISPATCH_LEVEL.
    unsafe { NdisDprAcquireReadWriteLock(lock.ptr(), 1, &mut write) };
    // SAFETY: as above; a read inside our own write.
    unsafe { NdisDprAcquireReadWriteLock(lock.ptr(), 0, &mut read) };
    assert_eq!(lock.readers(), 1);
    assert_eq!(lock.writer(), Some(processor()));
    // SAFETY: the states those acquires filled.
    unsafe { NdisDprReleaseReadWriteLock(lock.ptr(), &mut read) };
    // SAFETY: as above.
    unsafe { NdisDprReleaseReadWriteLock(lock.ptr(), &mut write) };
    drop(dispatch);
    assert!(!lock.get().is_held());
}

#[test]
fn any_nonzero_fwrite_asks_for_write_access() {
    boot();
    let lock = Lock::new();
    for f_write in [1u8, 2, 0x80, 0xFF] {
        let mut state = LockState::default();
        // SAFETY: a live lock and a writable state.
        unsafe { NdisAcquireReadWriteLock(lock.ptr(), f_write, &mut state) };
        assert_eq!(state.lock_state & KIND_MASK, KIND_WRITE, "fWrite {f_write}");
        assert_eq!(lock.writer(), Some(processor()));
        assert_eq!(lock.readers(), 0);
        // SAFETY: the state that acquire filled.
        unsafe { NdisReleaseReadWriteLock(lock.ptr(), &mut state) };
    }
    let mut state = LockState::default();
    // SAFETY: a live lock and a writable state.
    unsafe { NdisAcquireReadWriteLock(lock.ptr(), 0, &mut state) };
    assert_eq!(state.lock_state & KIND_MASK, KIND_READ);
    assert_eq!(lock.readers(), 1);
    assert_eq!(lock.writer(), None);
    // SAFETY: the state that acquire filled.
    unsafe { NdisReleaseReadWriteLock(lock.ptr(), &mut state) };
}

#[test]
fn lock_state_encodes_kind_dpr_lock_and_processor() {
    boot();
    let lock = Lock::new();
    sim::run_on(5, || {
        let mut read = lock.acquire(false);
        assert_eq!(processor(), 5);
        assert_eq!(read.lock_state & KIND_MASK, KIND_READ);
        assert_eq!(read.lock_state & LOCK_MASK, lock_bits(lock.address()));
        assert_eq!(read.lock_state & PROCESSOR_MASK, 5);
        assert_eq!(read.lock_state & DPR_BIT, 0);
        lock.release(&mut read);
        // A release clears the kind and keeps the rest.
        assert_eq!(read.lock_state & KIND_MASK, 0);
        assert_eq!(read.lock_state & LOCK_MASK, lock_bits(lock.address()));
        assert_eq!(read.lock_state & PROCESSOR_MASK, 5);

        let mut write = lock.acquire(true);
        let mut nested = lock.dpr_acquire(true);
        assert_eq!(write.lock_state & KIND_MASK, KIND_WRITE);
        assert_eq!(nested.lock_state & KIND_MASK, KIND_RECURSIVE_WRITE);
        assert_ne!(nested.lock_state & DPR_BIT, 0);
        assert_eq!(nested.old_irql, DISPATCH_LEVEL);
        lock.dpr_release(&mut nested);
        lock.release(&mut write);
    });
}

#[test]
fn byte_three_of_lock_state_is_never_touched_and_any_alignment_works() {
    boot();
    let lock = Lock::new();
    for offset in 0..4 {
        for write in [false, true] {
            for dpr in [false, true] {
                let mut buffer = [0xA5u8; 12];
                let state = buffer[offset..].as_mut_ptr().cast::<LockState>();
                let dispatch = dpr.then(DispatchGuard::<Sim>::raise);
                if dpr {
                    // SAFETY: a live lock; three writable bytes at `state`.
                    unsafe { rwlock_legacy::dpr_acquire(lock.ptr(), write, state) };
                } else {
                    // SAFETY: as above.
                    unsafe { rwlock_legacy::acquire(lock.ptr(), write, state) };
                }
                assert_eq!(buffer[offset + 3], 0xA5, "byte 3 after acquire");
                let filled = u16::from_le_bytes([buffer[offset], buffer[offset + 1]]);
                assert_ne!(filled & KIND_MASK, 0);
                let state = buffer[offset..].as_mut_ptr().cast::<LockState>();
                if dpr {
                    // SAFETY: the state the acquire filled.
                    unsafe { rwlock_legacy::dpr_release(lock.ptr(), state) };
                } else {
                    // SAFETY: as above.
                    unsafe { rwlock_legacy::release(lock.ptr(), state) };
                }
                drop(dispatch);
                assert_eq!(buffer[offset + 3], 0xA5, "byte 3 after release");
                assert!(buffer[..offset].iter().all(|&b| b == 0xA5));
                assert!(buffer[offset + 4..].iter().all(|&b| b == 0xA5));
            }
        }
    }
    assert!(!lock.get().is_held());
}

#[test]
fn read_recursion_on_one_processor_releases_in_any_order() {
    boot();
    let lock = Lock::new();
    // The outermost acquisition restores PASSIVE_LEVEL, so it is released last; the others
    // were taken at DISPATCH_LEVEL and go in any order.
    let mut outermost = lock.acquire(false);
    let mut a = lock.acquire(false);
    let mut b = lock.dpr_acquire(false);
    let mut c = lock.acquire(false);
    assert_eq!(lock.readers(), 4);
    lock.release(&mut a);
    lock.release(&mut c);
    assert_eq!(lock.readers(), 2);
    lock.dpr_release(&mut b);
    assert_eq!(irql(), DISPATCH_LEVEL);
    lock.release(&mut outermost);
    assert_eq!(lock.readers(), 0);
    assert_eq!(irql(), PASSIVE_LEVEL);
}

#[test]
fn write_recursion_needs_one_release_per_acquire() {
    boot();
    let lock = Lock::new();
    let mut outer = lock.acquire(true);
    let mut middle = lock.acquire(true);
    let mut inner = lock.acquire(true);
    let diag = lock.get().diagnostics();
    assert_eq!((diag.writer, diag.write_depth), (Some(processor()), 3));
    lock.release(&mut inner);
    lock.release(&mut middle);
    assert_eq!(lock.get().diagnostics().write_depth, 1);
    lock.release(&mut outer);
    assert!(!lock.get().is_held());
}

#[test]
fn read_inside_own_write_works_and_may_outlive_the_write() {
    boot();
    let lock = Lock::new();
    let dispatch = DispatchGuard::<Sim>::raise();
    let mut write = lock.acquire(true);
    let mut read = lock.acquire(false);
    assert_eq!((lock.writer(), lock.readers()), (Some(processor()), 1));
    lock.release(&mut write);
    assert_eq!((lock.writer(), lock.readers()), (None, 1));
    lock.release(&mut read);
    drop(dispatch);
    assert!(!lock.get().is_held());
}

#[test]
fn states_of_several_locks_are_independent() {
    boot();
    let locks: Vec<Lock> = (0..8).map(|_| Lock::new()).collect();
    let mut states: Vec<LockState> = locks
        .iter()
        .enumerate()
        .map(|(i, lock)| lock.acquire(i % 2 == 0))
        .collect();
    for (lock, state) in locks.iter().zip(&mut states).rev() {
        lock.release(state);
    }
    assert!(locks.iter().all(|lock| !lock.get().is_held()));
}

#[test]
fn an_array_of_locks_declared_contiguously_works() {
    boot();
    let mut array: Box<[NdisRwLock; 4]> = Box::new([const { NdisRwLock::new() }; 4]);
    for lock in array.iter_mut() {
        // SAFETY: writable, aligned, unused.
        unsafe { NdisInitializeReadWriteLock(lock) };
    }
    let mut states = [LockState::default(); 4];
    for (lock, state) in array.iter_mut().zip(&mut states) {
        // SAFETY: a live lock and a writable state.
        unsafe { NdisAcquireReadWriteLock(lock, 1, state) };
    }
    let bits: Vec<u16> = states.iter().map(|s| s.lock_state & LOCK_MASK).collect();
    assert!(bits.windows(2).all(|pair| pair[0] != pair[1]));
    for (lock, state) in array.iter_mut().zip(&mut states).rev() {
        // SAFETY: the state that acquire filled.
        unsafe { NdisReleaseReadWriteLock(lock, state) };
    }
}

#[test]
fn readers_on_different_processors_share_the_lock() {
    boot();
    let _serial = serial();
    let lock = Lock::new();
    let all_in = Barrier::new(4);
    let checked = Barrier::new(4);
    thread::scope(|s| {
        for p in 0..4 {
            let (all_in, checked) = (&all_in, &checked);
            s.spawn(move || {
                sim::run_on(p, || {
                    let mut state = lock.acquire(false);
                    all_in.wait();
                    let diag = lock.get().diagnostics();
                    checked.wait();
                    lock.release(&mut state);
                    assert_eq!(diag.readers, 4);
                    assert_eq!(diag.reading_processors.as_slice(), &[0, 1, 2, 3]);
                });
            });
        }
    });
    assert!(!lock.get().is_held());
}

#[test]
fn a_writer_excludes_readers_and_writers_of_other_processors() {
    boot();
    let _serial = serial();
    for (dpr, second_writes) in [(false, false), (false, true), (true, false), (true, true)] {
        let lock = Lock::new();
        let held = AtomicBool::new(false);
        let started = AtomicBool::new(false);
        let entered = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                sim::run_on(1, || {
                    let mut state = lock.acquire(true);
                    held.store(true, Ordering::Release);
                    wait_for(&started);
                    let_others_run();
                    let early = entered.load(Ordering::Acquire);
                    lock.release(&mut state);
                    assert!(!early, "entered during a write");
                });
            });
            s.spawn(|| {
                sim::run_on(2, || {
                    wait_for(&held);
                    started.store(true, Ordering::Release);
                    let dispatch = dpr.then(DispatchGuard::<Sim>::raise);
                    let mut state = if dpr {
                        lock.dpr_acquire(second_writes)
                    } else {
                        lock.acquire(second_writes)
                    };
                    entered.store(true, Ordering::Release);
                    if dpr {
                        lock.dpr_release(&mut state);
                    } else {
                        lock.release(&mut state);
                    }
                    drop(dispatch);
                });
            });
        });
        assert!(entered.load(Ordering::Acquire));
        assert!(!lock.get().is_held());
    }
}

#[test]
fn a_writer_waits_for_readers_of_other_processors() {
    boot();
    let _serial = serial();
    let lock = Lock::new();
    let held = AtomicBool::new(false);
    let started = AtomicBool::new(false);
    let entered = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            sim::run_on(3, || {
                let mut first = lock.acquire(false);
                let mut second = lock.acquire(false);
                held.store(true, Ordering::Release);
                wait_for(&started);
                let_others_run();
                // `first` restores PASSIVE_LEVEL, so it goes last.
                lock.release(&mut second);
                let_others_run();
                let early = entered.load(Ordering::Acquire);
                lock.release(&mut first);
                assert!(!early, "writer entered over a reader");
            });
        });
        s.spawn(|| {
            sim::run_on(4, || {
                wait_for(&held);
                started.store(true, Ordering::Release);
                let mut state = lock.acquire(true);
                entered.store(true, Ordering::Release);
                let readers = lock.readers();
                lock.release(&mut state);
                assert_eq!(readers, 0);
            });
        });
    });
    assert!(entered.load(Ordering::Acquire));
}

#[test]
fn a_processor_that_already_reads_is_never_blocked_by_a_waiting_writer() {
    boot();
    let _serial = serial();
    let lock = Lock::new();
    let held = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            sim::run_on(5, || {
                let mut first = lock.acquire(false);
                held.store(true, Ordering::Release);
                // Wait until the writer holds the spin lock and waits for us to drain.
                while lock.writer() != Some(6) {
                    thread::yield_now();
                }
                // A recursive read must not wait, or this would deadlock.
                let mut again = lock.acquire(false);
                lock.release(&mut again);
                lock.release(&mut first);
            });
        });
        s.spawn(|| {
            sim::run_on(6, || {
                wait_for(&held);
                let mut state = lock.acquire(true);
                lock.release(&mut state);
            });
        });
    });
    assert!(!lock.get().is_held());
}

#[test]
fn dpr_and_non_dpr_acquisitions_mix_on_one_lock() {
    boot();
    let _serial = serial();
    let lock = Lock::new();
    let count = AtomicU32::new(0);
    let go = Barrier::new(4);
    thread::scope(|s| {
        for p in 0..4u32 {
            let (go, count) = (&go, &count);
            s.spawn(move || {
                sim::run_on(p, || {
                    go.wait();
                    for i in 0..200u32 {
                        let write = (i + p) % 5 == 0;
                        if (i + p) % 2 == 0 {
                            let dispatch = DispatchGuard::<Sim>::raise();
                            let mut state = lock.dpr_acquire(write);
                            if write {
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            lock.dpr_release(&mut state);
                            drop(dispatch);
                        } else {
                            let mut state = lock.acquire(write);
                            if write {
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            lock.release(&mut state);
                        }
                    }
                });
            });
        }
    });
    assert_eq!(count.load(Ordering::Relaxed), 4 * 40);
    assert!(!lock.get().is_held());
}

// ---- LegacyRwLock --------------------------------------------------------------------------

static COUNTER: LegacyRwLock<u64> = LegacyRwLock::new(0);

#[test]
fn legacy_rwlock_works_as_a_static() {
    boot();
    {
        let mut w = COUNTER.write();
        *w += 1;
        assert_eq!(irql(), DISPATCH_LEVEL);
    }
    assert_eq!(irql(), PASSIVE_LEVEL);
    assert!(*COUNTER.read() >= 1);
}

#[test]
fn legacy_rwlock_guards_restore_the_irql() {
    boot();
    let lock = LegacyRwLock::<Vec<u32>, Sim>::new(Vec::new());
    let old = raise(APC_LEVEL);
    {
        let mut w = lock.write();
        w.push(1);
        assert_eq!(irql(), DISPATCH_LEVEL);
        assert_eq!(w.processor(), processor());
    }
    assert_eq!(irql(), APC_LEVEL);
    {
        let r = lock.read();
        assert_eq!(*r, [1]);
        assert!(!r.is_exclusive());
    }
    assert_eq!(irql(), APC_LEVEL);
    lower(old);
}

#[test]
fn legacy_rwlock_at_dispatch_variants_skip_the_raise() {
    boot();
    let lock = LegacyRwLock::<u32, Sim>::new(1);
    let dispatch = DispatchGuard::<Sim>::raise();
    {
        let mut w = lock.write_at_dispatch(dispatch.token());
        *w = 2;
    }
    assert_eq!(irql(), DISPATCH_LEVEL);
    {
        let r = lock.read_at_dispatch(dispatch.token());
        assert_eq!(*r, 2);
    }
    assert_eq!(irql(), DISPATCH_LEVEL);
    drop(dispatch);
    assert_eq!(irql(), PASSIVE_LEVEL);
}

#[test]
fn legacy_rwlock_read_guards_nest_and_drop_in_any_order() {
    boot();
    let lock = LegacyRwLock::<u32, Sim>::new(7);
    let dispatch = DispatchGuard::<Sim>::raise();
    let a = lock.read();
    let b = lock.read_at_dispatch(dispatch.token());
    assert_eq!(*a + *b, 14);
    assert_eq!(lock.diagnostics().readers, 2);
    drop(a);
    assert_eq!(lock.diagnostics().readers, 1);
    drop(b);
    drop(dispatch);
    assert_eq!(irql(), PASSIVE_LEVEL);
}

#[test]
fn legacy_rwlock_try_variants_respect_the_holder() {
    boot();
    let _serial = serial();
    let lock = LegacyRwLock::<u32, Sim>::new(0);
    let held = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            sim::run_on(1, || {
                let w = lock.write();
                held.store(true, Ordering::Release);
                wait_for(&done);
                drop(w);
            });
        });
        s.spawn(|| {
            sim::run_on(2, || {
                wait_for(&held);
                assert!(lock.try_read().is_none());
                assert!(lock.try_write().is_none());
                assert_eq!(irql(), PASSIVE_LEVEL, "a failed try lowers again");
                done.store(true, Ordering::Release);
            });
        });
    });
    assert!(lock.try_write().is_some());
    let r = lock.try_read().expect("free lock");
    assert!(lock.try_read().is_some(), "read recursion");
    drop(r);
}

#[test]
fn legacy_rwlock_shares_the_lock_with_the_c_api() {
    boot();
    let lock = LegacyRwLock::<u32, Sim>::new(3);
    let raw = lock.as_raw();
    let mut state = LockState::default();
    // SAFETY: the lock is live while `lock` is; a writable state.
    unsafe { rwlock_legacy::acquire(raw, false, &mut state) };
    assert_eq!(*lock.read(), 3, "read recursion over a C read");
    assert_eq!(lock.diagnostics().readers, 1);
    // SAFETY: the state that acquire filled.
    unsafe { rwlock_legacy::release(raw, &mut state) };
    *lock.write() = 4;
    assert_eq!(lock.into_inner(), 4);
}

#[test]
fn legacy_rwlock_get_mut_into_inner_default_and_debug() {
    boot();
    let mut lock = LegacyRwLock::<Vec<u8>, Sim>::default();
    lock.get_mut().push(9);
    assert_eq!(
        format!("{lock:?}"),
        "LegacyRwLock { readers: 0, writer: None, .. }"
    );
    {
        let r = lock.read();
        assert_eq!(format!("{r:?}"), "[9]");
    }
    assert_eq!(lock.into_inner(), vec![9]);
}

#[test]
fn legacy_rwlock_fits_inside_a_fixed_size_structure() {
    struct Adapter {
        _id: u32,
        routes: LegacyRwLock<[u16; 4], Sim>,
    }
    boot();
    assert_eq!(
        size_of::<Adapter>(),
        size_of::<NdisRwLock<Sim>>() + 8 + 8,
        "the lock is stored inline"
    );
    let adapter = Adapter {
        _id: 1,
        routes: LegacyRwLock::new([0; 4]),
    };
    adapter.routes.write()[2] = 5;
    assert_eq!(adapter.routes.read()[2], 5);
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
}
