//! NDIS_RW_LOCK_EX semantics: IRQL handling, recursion, read inside one's own write, exclusion
//! across processors, try-acquisitions, `LOCK_STATE_EX` layout, allocation and diagnostics,
//! through both the C exports and the safe `RwLockEx`.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Barrier, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;

use ndis_rwlock::ffi::rwlock_ex::{
    NdisAcquireRWLockRead, NdisAcquireRWLockWrite, NdisAllocateRWLock, NdisFreeRWLock,
    NdisReleaseRWLock,
};
use ndis_rwlock::kernel::{
    APC_LEVEL, DISPATCH_LEVEL, DefaultKernel, DispatchGuard, Irql, Kernel, PASSIVE_LEVEL,
};
use ndis_rwlock::sim;
use ndis_rwlock::storage::ex::{
    LockStateEx, NDIS_RWL_AT_DISPATCH_LEVEL, NdisRwLockEx, RWLOCK_EX_TAG,
};
use ndis_rwlock::{AllocError, Diagnostics, RwLockEx};

type K = DefaultKernel;

/// Every test of this binary boots the same machine.
const PROCESSORS: u32 = 4;

/// Tests that look at the pool, and tests whose threads wait for each other while they hold
/// processors at DISPATCH_LEVEL, take this exclusively; all others share it. So no other test
/// allocates (and reuses an address) while a pool test watches, and two tests never hold
/// processors the other waits for (which could deadlock the simulated machine).
static GATE: RwLock<()> = RwLock::new(());

fn machine() -> RwLockReadGuard<'static, ()> {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
    GATE.read().unwrap_or_else(PoisonError::into_inner)
}

fn machine_alone() -> RwLockWriteGuard<'static, ()> {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
    GATE.write().unwrap_or_else(PoisonError::into_inner)
}

fn irql() -> Irql {
    K::current_irql()
}

fn raise(to: Irql) -> Irql {
    // SAFETY: the tests only raise to a level at or above the current one.
    unsafe { K::raise_irql(to) }
}

fn lower(to: Irql) {
    // SAFETY: the tests only lower to a level at or below the current one, after releasing
    // whatever they took at the higher level.
    unsafe { K::lower_irql(to) }
}

/// A lock from `NdisAllocateRWLock`, used through the C exports and freed on drop.
struct CLock(*mut NdisRwLockEx);

// SAFETY: NDIS_RW_LOCK_EX is made to be shared by threads on every processor.
unsafe impl Send for CLock {}
// SAFETY: as above.
unsafe impl Sync for CLock {}

impl CLock {
    fn new() -> Self {
        let raw = NdisAllocateRWLock(std::ptr::null_mut());
        assert!(!raw.is_null(), "the simulated pool has room");
        Self(raw)
    }

    fn read(&self, state: &mut LockStateEx, flags: u8) {
        // SAFETY: a live lock and a writable LOCK_STATE_EX.
        unsafe { NdisAcquireRWLockRead(self.0, state, flags) }
    }

    fn write(&self, state: &mut LockStateEx, flags: u8) {
        // SAFETY: a live lock and a writable LOCK_STATE_EX.
        unsafe { NdisAcquireRWLockWrite(self.0, state, flags) }
    }

    fn release(&self, state: &mut LockStateEx) {
        // SAFETY: a live lock and the state of one of its acquisitions.
        unsafe { NdisReleaseRWLock(self.0, state) }
    }

    fn diag(&self) -> Diagnostics {
        // SAFETY: the lock lives until drop.
        unsafe { &*self.0 }.diagnostics()
    }
}

impl Drop for CLock {
    fn drop(&mut self) {
        // SAFETY: allocated by NdisAllocateRWLock, released by every test, not used again.
        unsafe { NdisFreeRWLock(self.0) }
    }
}

fn assert_free(diag: &Diagnostics) {
    assert_eq!(diag.readers, 0, "{diag:?}");
    assert!(diag.reading_processors.as_slice().is_empty(), "{diag:?}");
    assert_eq!(diag.writer, None, "{diag:?}");
    assert_eq!(diag.write_depth, 0, "{diag:?}");
}

/// The starting IRQLs and flags a caller may legally combine.
fn legal_entries() -> Vec<(Irql, u8)> {
    vec![
        (PASSIVE_LEVEL, 0),
        (APC_LEVEL, 0),
        (DISPATCH_LEVEL, 0),
        (DISPATCH_LEVEL, NDIS_RWL_AT_DISPATCH_LEVEL),
    ]
}

// ---------------------------------------------------------------------------------------------
// C exports: IRQL, recursion, read inside own write.

#[test]
fn c_read_raises_to_dispatch_and_restores_each_irql() {
    let _m = machine();
    let lock = CLock::new();
    for (start, flags) in legal_entries() {
        raise(start);
        let mut state = LockStateEx::default();
        lock.read(&mut state, flags);
        assert_eq!(irql(), DISPATCH_LEVEL, "start {start}, flags {flags}");
        assert_eq!(state.old_irql, start, "OldIrql records the caller's IRQL");
        let me = K::current_processor();
        let diag = lock.diag();
        assert_eq!(diag.readers, 1);
        assert_eq!(diag.reading_processors.as_slice(), &[me]);
        assert_eq!(diag.writer, None);
        lock.release(&mut state);
        assert_eq!(irql(), start, "start {start}, flags {flags}");
        assert_free(&lock.diag());
        lower(PASSIVE_LEVEL);
    }
}

#[test]
fn c_write_raises_to_dispatch_and_restores_each_irql() {
    let _m = machine();
    let lock = CLock::new();
    for (start, flags) in legal_entries() {
        raise(start);
        let mut state = LockStateEx::default();
        lock.write(&mut state, flags);
        assert_eq!(irql(), DISPATCH_LEVEL, "start {start}, flags {flags}");
        assert_eq!(state.old_irql, start);
        let me = K::current_processor();
        let diag = lock.diag();
        assert_eq!(diag.writer, Some(me));
        assert_eq!(diag.write_depth, 1);
        assert_eq!(diag.readers, 0);
        lock.release(&mut state);
        assert_eq!(irql(), start, "start {start}, flags {flags}");
        assert_free(&lock.diag());
        lower(PASSIVE_LEVEL);
    }
}

#[test]
fn c_read_recursion_on_one_processor() {
    let _m = machine();
    let lock = CLock::new();
    for (start, flags) in legal_entries() {
        raise(start);
        let mut states = [LockStateEx::default(); 4];
        lock.read(&mut states[0], flags);
        let me = K::current_processor();
        // Inner acquisitions run at DISPATCH_LEVEL: both flag values are legal there.
        lock.read(&mut states[1], 0);
        lock.read(&mut states[2], NDIS_RWL_AT_DISPATCH_LEVEL);
        lock.read(&mut states[3], 0);
        let diag = lock.diag();
        assert_eq!(diag.readers, 4);
        assert_eq!(diag.reading_processors.as_slice(), &[me]);
        for (i, state) in states.iter_mut().enumerate().skip(1).rev() {
            lock.release(state);
            assert_eq!(
                irql(),
                DISPATCH_LEVEL,
                "inner release {i} keeps DISPATCH_LEVEL"
            );
            assert_eq!(lock.diag().readers, i as u64);
        }
        lock.release(&mut states[0]);
        assert_eq!(irql(), start);
        assert_free(&lock.diag());
        lower(PASSIVE_LEVEL);
    }
}

#[test]
fn c_write_recursion_releases_only_after_the_last_release() {
    let _m = machine();
    let lock = CLock::new();
    for (start, flags) in legal_entries() {
        raise(start);
        let mut states = [LockStateEx::default(); 3];
        lock.write(&mut states[0], flags);
        let me = K::current_processor();
        lock.write(&mut states[1], NDIS_RWL_AT_DISPATCH_LEVEL);
        lock.write(&mut states[2], 0);
        let diag = lock.diag();
        assert_eq!(diag.writer, Some(me));
        assert_eq!(diag.write_depth, 3);
        lock.release(&mut states[2]);
        assert_eq!(lock.diag().write_depth, 2);
        lock.release(&mut states[1]);
        let diag = lock.diag();
        assert_eq!((diag.writer, diag.write_depth), (Some(me), 1));
        assert_eq!(irql(), DISPATCH_LEVEL);
        lock.release(&mut states[0]);
        assert_eq!(irql(), start);
        assert_free(&lock.diag());
        lower(PASSIVE_LEVEL);
    }
    // Fully released: a writer on another processor gets it without waiting forever.
    let other = (K::current_processor() + 1) % PROCESSORS;
    thread::scope(|s| {
        s.spawn(|| {
            sim::run_on(other, || {
                let mut state = LockStateEx::default();
                lock.write(&mut state, 0);
                assert_eq!(lock.diag().writer, Some(other));
                lock.release(&mut state);
            });
        });
    });
    assert_free(&lock.diag());
}

#[test]
fn c_read_inside_own_write() {
    let _m = machine();
    let lock = CLock::new();
    for (start, flags) in legal_entries() {
        raise(start);
        let mut write = LockStateEx::default();
        let mut reads = [LockStateEx::default(); 2];
        let mut inner_write = LockStateEx::default();
        lock.write(&mut write, flags);
        let me = K::current_processor();
        lock.read(&mut reads[0], 0);
        lock.read(&mut reads[1], NDIS_RWL_AT_DISPATCH_LEVEL);
        // A write inside the read inside the write is a recursive write, not a promotion.
        lock.write(&mut inner_write, 0);
        let diag = lock.diag();
        assert_eq!(diag.writer, Some(me));
        assert_eq!(diag.write_depth, 2);
        assert_eq!(diag.readers, 2);
        assert_eq!(diag.reading_processors.as_slice(), &[me]);
        lock.release(&mut inner_write);
        lock.release(&mut reads[1]);
        lock.release(&mut reads[0]);
        let diag = lock.diag();
        assert_eq!(
            (diag.writer, diag.write_depth, diag.readers),
            (Some(me), 1, 0)
        );
        lock.release(&mut write);
        assert_eq!(irql(), start);
        assert_free(&lock.diag());
        lower(PASSIVE_LEVEL);
    }
}

// ---------------------------------------------------------------------------------------------
// LOCK_STATE_EX layout.

const _: () = assert!(std::mem::size_of::<LockStateEx>() == 3);
const _: () = assert!(std::mem::align_of::<LockStateEx>() == 1);

#[test]
fn lock_state_ex_is_three_bytes_with_alignment_one() {
    assert_eq!(std::mem::size_of::<LockStateEx>(), 3);
    assert_eq!(std::mem::align_of::<LockStateEx>(), 1);
    assert_eq!(std::mem::offset_of!(LockStateEx, old_irql), 0);
    assert_eq!(std::mem::offset_of!(LockStateEx, lock_state), 1);
    assert_eq!(std::mem::offset_of!(LockStateEx, flags), 2);
}

/// Acquires and releases through `LOCK_STATE_EX`es placed at `offset` (the outer
/// acquisition) and near it (an inner one) inside a buffer of distinct canary bytes, and checks
/// that no byte outside the two states changes.
fn canary_round(lock: &CLock, offset: usize, flags: u8) {
    let inner_offset = if offset >= 8 { offset - 5 } else { offset + 5 };
    let mut buf = [0u8; 24];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = 0xA0 ^ i as u8;
    }
    let pristine = buf;
    let states = [offset..offset + 3, inner_offset..inner_offset + 3];
    let base = buf.as_mut_ptr();
    let outer = base.wrapping_add(offset).cast::<LockStateEx>();
    let inner = base.wrapping_add(inner_offset).cast::<LockStateEx>();
    let check = |what: &str| {
        // SAFETY: `base` points to the 24-byte buffer, which every access here goes through.
        let now = unsafe { base.cast::<[u8; 24]>().read() };
        for i in (0..24).filter(|i| !states.iter().any(|r| r.contains(i))) {
            assert_eq!(
                now[i], pristine[i],
                "{what} wrote byte {i} (state at {offset})"
            );
        }
    };
    // (name, outer is a write, inner is a write)
    let kinds = [
        ("read then read", false, false),
        ("write then write", true, true),
        ("write then read", true, false),
    ];
    for (name, outer_write, inner_write) in kinds {
        for (state, write, flags) in [(outer, outer_write, flags), (inner, inner_write, 0)] {
            let acquire = if write {
                NdisAcquireRWLockWrite
            } else {
                NdisAcquireRWLockRead
            };
            // SAFETY: each state is 3 bytes inside `buf`, the two do not overlap, and
            // LOCK_STATE_EX has alignment 1; the inner acquisition runs at DISPATCH_LEVEL.
            unsafe { acquire(lock.0, state, flags) };
        }
        check(&format!("acquire ({name})"));
        // SAFETY: the state filled by the inner acquisition above.
        unsafe { NdisReleaseRWLock(lock.0, inner) };
        // SAFETY: the state filled by the outer acquisition above.
        unsafe { NdisReleaseRWLock(lock.0, outer) };
        check(&format!("release ({name})"));
        assert_free(&lock.diag());
    }
    assert_eq!(
        irql(),
        if flags == 0 {
            PASSIVE_LEVEL
        } else {
            DISPATCH_LEVEL
        }
    );
}

#[test]
fn acquire_and_release_write_only_the_three_state_bytes() {
    let _m = machine();
    let lock = CLock::new();
    for offset in [1, 2, 3, 7, 8, 13, 16] {
        canary_round(&lock, offset, 0);
        raise(DISPATCH_LEVEL);
        canary_round(&lock, offset, NDIS_RWL_AT_DISPATCH_LEVEL);
        lower(PASSIVE_LEVEL);
    }
}

// ---------------------------------------------------------------------------------------------
// Allocation and pool.

/// The live pool allocation that holds the lock at `address`, if any.
fn allocation_holding(address: usize) -> Option<sim::pool::Allocation> {
    sim::pool::outstanding(RWLOCK_EX_TAG)
        .into_iter()
        .find(|a| (a.address..a.address + a.size).contains(&address))
}

#[test]
fn allocate_accepts_null_and_real_handles_and_free_returns_the_pool() {
    let _m = machine_alone();
    let mut handle = 0u64;
    for ndis_handle in [std::ptr::null_mut(), (&raw mut handle).cast()] {
        let lock = NdisAllocateRWLock(ndis_handle);
        assert!(!lock.is_null());
        assert_eq!(lock as usize % 64, 0, "the header is cache-line aligned");
        let allocation = allocation_holding(lock as usize).expect("the lock is in the pool");
        assert_eq!(allocation.tag, RWLOCK_EX_TAG);
        assert!(
            allocation.size >= NdisRwLockEx::<K>::allocation_size(PROCESSORS),
            "one slot per processor"
        );
        // SAFETY: a live lock.
        let diag = unsafe { &*lock }.diagnostics();
        assert_eq!(diag.processors, PROCESSORS);
        assert_free(&diag);
        // SAFETY: allocated above, not held, not used again.
        unsafe { NdisFreeRWLock(lock) };
        assert_eq!(allocation_holding(lock as usize), None, "freed to the pool");
    }
}

#[test]
fn allocate_returns_null_when_the_pool_is_exhausted() {
    let _m = machine_alone();
    let before = sim::pool::outstanding(RWLOCK_EX_TAG);
    sim::pool::fail_next_allocations(1);
    let lock = NdisAllocateRWLock(std::ptr::null_mut());
    assert!(lock.is_null());
    assert_eq!(sim::pool::outstanding(RWLOCK_EX_TAG), before);
    // Only one failure was injected.
    let lock = CLock::new();
    assert_free(&lock.diag());
}

#[test]
fn rwlock_ex_new_reports_alloc_error() {
    let _m = machine_alone();
    sim::pool::fail_next_allocations(1);
    let error = RwLockEx::<u32>::new(7).expect_err("the allocation fails");
    assert_eq!(error, AllocError);
    assert_eq!(format!("{error:?}"), "AllocError");
    let text = error.to_string();
    assert!(text.contains("NDIS_RW_LOCK_EX"), "{text}");
    assert!(text.contains("allocation failed"), "{text}");
    let _: &dyn std::error::Error = &error;
    let lock = RwLockEx::<u32>::new(8).expect("only one failure was injected");
    assert_eq!(*lock.read(), 8);
}

#[test]
fn rwlock_ex_lives_in_the_tagged_pool_and_into_inner_frees_it() {
    let _m = machine_alone();
    let lock = RwLockEx::<Vec<u32>>::new(vec![1, 2, 3]).expect("pool has room");
    let address = lock.as_raw() as usize;
    assert!(allocation_holding(address).is_some());
    assert_eq!(lock.into_inner(), vec![1, 2, 3]);
    assert_eq!(allocation_holding(address), None);

    let lock = RwLockEx::<u32>::new(5).expect("pool has room");
    let address = lock.as_raw() as usize;
    assert!(allocation_holding(address).is_some());
    drop(lock);
    assert_eq!(allocation_holding(address), None);
}

// ---------------------------------------------------------------------------------------------
// Safe API: IRQL, recursion, try, get_mut, diagnostics.

#[test]
fn safe_read_and_write_restore_each_irql() {
    let _m = machine();
    let lock = RwLockEx::<_>::new(0u64).expect("pool has room");
    for start in [PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL] {
        raise(start);
        {
            let guard = lock.read();
            assert_eq!(irql(), DISPATCH_LEVEL);
            assert_eq!(guard.processor(), K::current_processor());
            assert_eq!(lock.diag_readers(), 1);
        }
        assert_eq!(irql(), start);
        {
            let mut guard = lock.write();
            assert_eq!(irql(), DISPATCH_LEVEL);
            *guard += 1;
            assert_eq!(guard.processor(), K::current_processor());
            let diag = lock.diagnostics();
            assert_eq!(
                (diag.writer, diag.write_depth),
                (Some(guard.processor()), 1)
            );
        }
        assert_eq!(irql(), start);
        assert_free(&lock.diagnostics());
        lower(PASSIVE_LEVEL);
    }
    assert_eq!(*lock.read(), 3);
}

trait DiagReaders {
    fn diag_readers(&self) -> u64;
}

impl<T> DiagReaders for RwLockEx<T> {
    fn diag_readers(&self) -> u64 {
        self.diagnostics().readers
    }
}

#[test]
fn safe_at_dispatch_variants_skip_the_raise() {
    let _m = machine();
    let lock = RwLockEx::<_>::new(String::from("a")).expect("pool has room");
    {
        let dispatch = DispatchGuard::<K>::raise();
        assert_eq!(dispatch.old_irql(), PASSIVE_LEVEL);
        {
            let mut w = lock.write_at_dispatch(dispatch.token());
            w.push('b');
            assert_eq!(irql(), DISPATCH_LEVEL);
        }
        assert_eq!(
            irql(),
            DISPATCH_LEVEL,
            "an at-dispatch guard does not lower"
        );
        {
            let r = lock.read_at_dispatch(dispatch.token());
            let inner = lock.read_at_dispatch(dispatch.token());
            assert_eq!(*r, "ab");
            assert_eq!(*inner, "ab");
            assert_eq!(lock.diag_readers(), 2);
        }
        assert_eq!(irql(), DISPATCH_LEVEL);
        // A guard taken with a raise inside an at-dispatch section restores DISPATCH_LEVEL.
        drop(lock.read());
        assert_eq!(irql(), DISPATCH_LEVEL);
    }
    assert_eq!(irql(), PASSIVE_LEVEL);
    assert_free(&lock.diagnostics());
}

#[test]
fn safe_read_recursion() {
    let _m = machine();
    let lock = RwLockEx::<_>::new(41u32).expect("pool has room");
    let outer = lock.read();
    let me = outer.processor();
    let inner = lock.read();
    let innermost = lock.try_read().expect("read recursion never waits");
    assert_eq!(*outer + *inner + *innermost, 123);
    let diag = lock.diagnostics();
    assert_eq!(diag.readers, 3);
    assert_eq!(diag.reading_processors.as_slice(), &[me]);
    drop(innermost);
    drop(inner);
    assert_eq!(irql(), DISPATCH_LEVEL);
    drop(outer);
    assert_eq!(irql(), PASSIVE_LEVEL);
    assert_free(&lock.diagnostics());
}

#[test]
fn safe_try_on_a_free_lock_succeeds() {
    let _m = machine();
    let lock = RwLockEx::<_>::new(1u8).expect("pool has room");
    {
        let mut w = lock.try_write().expect("free");
        *w = 2;
        assert_eq!(irql(), DISPATCH_LEVEL);
    }
    assert_eq!(irql(), PASSIVE_LEVEL);
    {
        let r = lock.try_read().expect("free");
        assert_eq!(*r, 2);
    }
    assert_eq!(irql(), PASSIVE_LEVEL);
    assert_free(&lock.diagnostics());
}

#[test]
fn safe_try_fails_while_another_processor_writes() {
    let _m = machine_alone();
    let lock = RwLockEx::<_>::new(0u32).expect("pool has room");
    let (held_tx, held_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let lock = &lock;
        s.spawn(move || {
            sim::run_on(0, || {
                let mut w = lock.write();
                *w = 1;
                held_tx.send(()).expect("main waits");
                done_rx.recv().expect("main signals");
            });
        });
        held_rx.recv().expect("writer signals");
        sim::run_on(1, || {
            assert!(lock.try_read().is_none(), "a writer holds the lock");
            assert_eq!(irql(), PASSIVE_LEVEL, "a failed try restores the IRQL");
            assert!(lock.try_write().is_none(), "a writer holds the lock");
            assert_eq!(irql(), PASSIVE_LEVEL);
            let diag = lock.diagnostics();
            assert_eq!(
                (diag.writer, diag.readers),
                (Some(0), 0),
                "failed tries leave no trace"
            );
        });
        done_tx.send(()).expect("writer waits");
    });
    sim::run_on(1, || {
        assert_eq!(*lock.try_read().expect("the writer left"), 1);
        *lock.try_write().expect("the writer left") = 2;
    });
    assert_eq!(*lock.read(), 2);
}

#[test]
fn safe_try_write_fails_while_another_processor_reads() {
    let _m = machine_alone();
    let lock = RwLockEx::<_>::new(0u32).expect("pool has room");
    let (held_tx, held_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let lock = &lock;
        s.spawn(move || {
            sim::run_on(2, || {
                let r = lock.read();
                held_tx.send(()).expect("main waits");
                done_rx.recv().expect("main signals");
                drop(r);
            });
        });
        held_rx.recv().expect("reader signals");
        sim::run_on(3, || {
            assert!(
                lock.try_write().is_none(),
                "a reader on processor 2 holds the lock"
            );
            assert_eq!(irql(), PASSIVE_LEVEL);
            let diag = lock.diagnostics();
            assert_eq!(
                (diag.writer, diag.readers),
                (None, 1),
                "the failed try undid itself"
            );
            let r = lock.try_read().expect("readers share");
            assert_eq!(lock.diag_readers(), 2);
            drop(r);
        });
        done_tx.send(()).expect("reader waits");
    });
    sim::run_on(3, || {
        assert!(lock.try_write().is_some(), "the reader left");
    });
    assert_free(&lock.diagnostics());
}

#[test]
fn safe_get_mut_debug_and_diagnostics() {
    let _m = machine();
    let mut lock = RwLockEx::<_>::new(vec![1u8]).expect("pool has room");
    lock.get_mut().push(2);
    assert_eq!(format!("{:?}", lock.read()), "[1, 2]");
    assert_eq!(format!("{:?}", lock.write()), "[1, 2]");
    let text = format!("{lock:?}");
    assert!(text.starts_with("RwLockEx"), "{text}");
    assert!(text.contains("readers: 0"), "{text}");
    assert!(text.contains("writer: None"), "{text}");
    {
        let w = lock.write();
        let me = w.processor();
        drop(w);
        let r = lock.read();
        assert_eq!(r.processor(), me, "same thread, same processor");
    }
    let diag = lock.diagnostics();
    assert_eq!(diag.processors, PROCESSORS);
    assert_eq!(diag.reading_processors.overflow, 0);
}

#[test]
fn c_and_safe_api_share_one_lock() {
    let _m = machine();
    let lock = RwLockEx::<_>::new(5u32).expect("pool has room");
    let raw = lock.as_raw();
    let guard = lock.read();
    let mut state = LockStateEx::default();
    // SAFETY: the lock is live; a read inside a read of the same processor is recursion.
    unsafe { NdisAcquireRWLockRead(raw, &mut state, NDIS_RWL_AT_DISPATCH_LEVEL) };
    assert_eq!(lock.diag_readers(), 2);
    // SAFETY: the state just filled.
    unsafe { NdisReleaseRWLock(raw, &mut state) };
    drop(guard);
    // SAFETY: the lock is live.
    unsafe { NdisAcquireRWLockWrite(raw, &mut state, 0) };
    let diag = lock.diagnostics();
    assert_eq!(
        (diag.writer, diag.write_depth),
        (Some(K::current_processor()), 1)
    );
    // SAFETY: the state just filled.
    unsafe { NdisReleaseRWLock(raw, &mut state) };
    assert_eq!(irql(), PASSIVE_LEVEL);
    assert_free(&lock.diagnostics());
}

// ---------------------------------------------------------------------------------------------
// Several processors.

#[test]
fn c_readers_on_every_processor_hold_the_lock_at_once() {
    let _m = machine_alone();
    let lock = CLock::new();
    let inside = Barrier::new(PROCESSORS as usize + 1);
    let leave = Barrier::new(PROCESSORS as usize + 1);
    thread::scope(|s| {
        for p in 0..PROCESSORS {
            let (lock, inside, leave) = (&lock, &inside, &leave);
            s.spawn(move || {
                sim::run_on(p, || {
                    let mut state = LockStateEx::default();
                    lock.read(&mut state, 0);
                    assert_eq!(K::current_processor(), p);
                    inside.wait();
                    leave.wait();
                    lock.release(&mut state);
                    assert_eq!(irql(), PASSIVE_LEVEL);
                });
            });
        }
        // Every reader is inside at the same moment, each on its own processor.
        inside.wait();
        let diag = lock.diag();
        assert_eq!(diag.readers, u64::from(PROCESSORS));
        assert_eq!(
            diag.reading_processors.as_slice(),
            (0..PROCESSORS).collect::<Vec<_>>().as_slice()
        );
        assert_eq!(diag.writer, None);
        leave.wait();
    });
    assert_free(&lock.diag());
}

#[test]
fn safe_readers_on_every_processor_hold_the_lock_at_once() {
    let _m = machine_alone();
    let lock = RwLockEx::<_>::new([7u64; 4]).expect("pool has room");
    let inside = Barrier::new(PROCESSORS as usize + 1);
    let leave = Barrier::new(PROCESSORS as usize + 1);
    thread::scope(|s| {
        for p in 0..PROCESSORS {
            let (lock, inside, leave) = (&lock, &inside, &leave);
            s.spawn(move || {
                sim::run_on(p, || {
                    let outer = lock.read();
                    let inner = lock.read();
                    assert_eq!(outer.processor(), p);
                    inside.wait();
                    assert_eq!(*outer, [7; 4]);
                    leave.wait();
                    drop(inner);
                    drop(outer);
                });
            });
        }
        inside.wait();
        let diag = lock.diagnostics();
        assert_eq!(diag.readers, 2 * u64::from(PROCESSORS));
        assert_eq!(
            diag.reading_processors.as_slice().len(),
            PROCESSORS as usize
        );
        leave.wait();
    });
    assert_free(&lock.diagnostics());
}

/// Holds the write lock on processor 0 until a reader (processor 1) and a writer
/// (processor 2) are inside their acquisitions, then releases; each must find `released` set.
/// `hold_write` takes the write lock, calls its argument, then releases.
fn writer_excludes(
    hold_write: &(dyn Fn(&dyn Fn()) + Sync),
    read_then_check: &(dyn Fn(&AtomicBool) + Sync),
    write_then_check: &(dyn Fn(&AtomicBool) + Sync),
) {
    let released = AtomicBool::new(false);
    let (id_tx, id_rx) = mpsc::channel();
    let (held_tx, held_rx): (Vec<_>, Vec<_>) = (0..2).map(|_| mpsc::channel::<()>()).unzip();
    let mut held_rx = held_rx.into_iter();
    let (held_rx_r, held_rx_w) = (held_rx.next(), held_rx.next());
    thread::scope(|s| {
        let released = &released;
        s.spawn(move || {
            sim::run_on(0, || {
                hold_write(&|| {
                    // Only now may the contenders try.
                    for tx in &held_tx {
                        tx.send(()).expect("the contenders wait");
                    }
                    let ids: Vec<(u32, usize)> =
                        (0..2).map(|_| id_rx.recv().expect("ids")).collect();
                    // Wait until both contenders own their processors: they are inside the
                    // acquisition (raised to DISPATCH_LEVEL) and must now wait for us.
                    for (p, id) in ids {
                        while sim::processor_owner(p) != Some(id) {
                            K::spin_hint();
                        }
                    }
                    // Give a broken lock every chance to let them in.
                    for _ in 0..20_000 {
                        K::spin_hint();
                    }
                    released.store(true, Ordering::SeqCst);
                });
            });
        });
        let id_tx_w = id_tx.clone();
        s.spawn(move || {
            sim::run_on(1, || {
                held_rx_r.expect("two").recv().expect("the holder holds");
                id_tx
                    .send((1, sim::thread_identity()))
                    .expect("holder waits");
                read_then_check(released);
            });
        });
        s.spawn(move || {
            sim::run_on(2, || {
                held_rx_w.expect("two").recv().expect("the holder holds");
                id_tx_w
                    .send((2, sim::thread_identity()))
                    .expect("holder waits");
                write_then_check(released);
            });
        });
    });
}

#[test]
fn c_writer_excludes_readers_and_writers() {
    let _m = machine_alone();
    let lock = CLock::new();
    let hold_write = |inside: &dyn Fn()| {
        let mut state = LockStateEx::default();
        lock.write(&mut state, 0);
        inside();
        lock.release(&mut state);
    };
    let read_then_check = |released: &AtomicBool| {
        let mut state = LockStateEx::default();
        lock.read(&mut state, 0);
        assert!(
            released.load(Ordering::SeqCst),
            "a reader got in beside the writer"
        );
        // The contending writer may be waiting for us, but the holder is gone.
        assert_ne!(lock.diag().writer, Some(0));
        lock.release(&mut state);
    };
    let write_then_check = |released: &AtomicBool| {
        let mut state = LockStateEx::default();
        lock.write(&mut state, 0);
        assert!(released.load(Ordering::SeqCst), "a second writer got in");
        assert_eq!(lock.diag().writer, Some(2));
        lock.release(&mut state);
    };
    writer_excludes(&hold_write, &read_then_check, &write_then_check);
    assert_free(&lock.diag());
}

#[test]
fn safe_writer_excludes_readers_and_writers() {
    let _m = machine_alone();
    let lock = RwLockEx::<_>::new((0u64, 0u64)).expect("pool has room");
    let hold_write = |inside: &dyn Fn()| {
        let mut w = lock.write();
        w.0 += 1;
        inside();
        w.1 += 1;
    };
    let read_then_check = |released: &AtomicBool| {
        let r = lock.read();
        assert!(
            released.load(Ordering::SeqCst),
            "a reader got in beside the writer"
        );
        assert_eq!(r.0, r.1, "the reader saw a half-done write");
    };
    let write_then_check = |released: &AtomicBool| {
        let mut w = lock.write();
        assert!(released.load(Ordering::SeqCst), "a second writer got in");
        assert_eq!(w.0, w.1);
        w.0 += 1;
        w.1 += 1;
    };
    writer_excludes(&hold_write, &read_then_check, &write_then_check);
    assert_eq!(*lock.read(), (2, 2));
}

#[test]
fn diagnostics_report_readers_writer_and_depth() {
    let _m = machine_alone();
    let lock = CLock::new();
    let diag = lock.diag();
    assert_eq!(diag.processors, PROCESSORS);
    assert_free(&diag);
    let inside = Barrier::new(3);
    let leave = Barrier::new(3);
    thread::scope(|s| {
        for (p, reads) in [(1u32, 2usize), (3, 1)] {
            let (lock, inside, leave) = (&lock, &inside, &leave);
            s.spawn(move || {
                sim::run_on(p, || {
                    let mut states = vec![LockStateEx::default(); reads];
                    for state in &mut states {
                        lock.read(state, 0);
                    }
                    inside.wait();
                    leave.wait();
                    for state in states.iter_mut().rev() {
                        lock.release(state);
                    }
                });
            });
        }
        inside.wait();
        let diag = lock.diag();
        assert_eq!(diag.readers, 3);
        assert_eq!(diag.reading_processors.as_slice(), &[1, 3]);
        assert_eq!(diag.reading_processors.overflow, 0);
        assert_eq!((diag.writer, diag.write_depth), (None, 0));
        leave.wait();
    });
    assert_free(&lock.diag());
    thread::scope(|s| {
        let (lock, inside, leave) = (&lock, &inside, &leave);
        s.spawn(move || {
            sim::run_on(2, || {
                let mut states = [LockStateEx::default(); 3];
                lock.write(&mut states[0], 0);
                lock.write(&mut states[1], 0);
                lock.read(&mut states[2], 0);
                inside.wait();
                leave.wait();
                for state in states.iter_mut().rev() {
                    lock.release(state);
                }
            });
        });
        s.spawn(move || {
            inside.wait();
            leave.wait();
        });
        inside.wait();
        let diag = lock.diag();
        assert_eq!((diag.writer, diag.write_depth), (Some(2), 2));
        assert_eq!(diag.readers, 1, "the read inside the write");
        assert_eq!(diag.reading_processors.as_slice(), &[2]);
        leave.wait();
    });
    assert_free(&lock.diag());
}
