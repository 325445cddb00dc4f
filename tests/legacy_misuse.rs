//! Every misuse of the legacy `NDIS_RW_LOCK` is a bug check with its documented code and
//! parameters, never undefined behaviour or a silent hang.

mod legacy_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use legacy_common::*;
use ndis_rwlock::LegacyRwLock;
use ndis_rwlock::bugcheck::{DPC_WATCHDOG_VIOLATION, rw};
use ndis_rwlock::kernel::{APC_LEVEL, DISPATCH_LEVEL, DispatchGuard, HIGH_LEVEL, PASSIVE_LEVEL};
use ndis_rwlock::sim::{self, Sim};
use ndis_rwlock::storage::legacy::{
    self as rwlock_legacy, LockState, NDIS_RW_LOCK_SIZE, NdisRwLock,
};

const PROCESSORS: u32 = 8;

fn boot() {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
}

/// `LockState | OldIrql << 16`, as P2 reports a state.
fn packed(state: LockState) -> usize {
    usize::from(state.lock_state) | usize::from(state.old_irql) << 16
}

/// A `LegacyRwLock` that is never dropped: a bug-checked test may leave it held.
fn leaked<T: Send + Sync>(value: T) -> &'static LegacyRwLock<T, Sim> {
    Box::leak(Box::new(LegacyRwLock::new(value)))
}

// ---- pointer arguments ----------------------------------------------------------------------

#[test]
fn null_lock_pointers_stop_every_routine() {
    boot();
    let mut state = LockState::default();
    let state_ptr: *mut LockState = &mut state;
    let null = std::ptr::null_mut::<NdisRwLock<Sim>>();
    // SAFETY: NULL is checked before any access.
    let stop = expect_rw(rw::NULL_LOCK, || unsafe { rwlock_legacy::initialize(null) });
    assert_eq!(stop.params[1], 0);
    // SAFETY: as above.
    let stop = expect_rw(rw::NULL_LOCK, || unsafe {
        rwlock_legacy::acquire(null, false, state_ptr)
    });
    assert_eq!(stop.params[1], state_ptr as usize);
    let dispatch = DispatchGuard::<Sim>::raise();
    // SAFETY: as above.
    expect_rw(rw::NULL_LOCK, || unsafe {
        rwlock_legacy::dpr_acquire(null, true, state_ptr)
    });
    drop(dispatch);
    // SAFETY: as above.
    expect_rw(rw::NULL_LOCK, || unsafe {
        rwlock_legacy::release(null, state_ptr)
    });
    // SAFETY: as above.
    expect_rw(rw::NULL_LOCK, || unsafe {
        rwlock_legacy::dpr_release(null, state_ptr)
    });
}

#[test]
fn null_state_pointers_stop_every_acquire_and_release() {
    boot();
    let lock = Lock::new();
    let null = std::ptr::null_mut::<LockState>();
    // SAFETY: NULL is checked before any access.
    let stop = expect_rw(rw::NULL_LOCK_STATE, || unsafe {
        rwlock_legacy::acquire(lock.ptr(), false, null)
    });
    assert_eq!(stop.params[1], lock.address());
    let dispatch = DispatchGuard::<Sim>::raise();
    // SAFETY: as above.
    expect_rw(rw::NULL_LOCK_STATE, || unsafe {
        rwlock_legacy::dpr_acquire(lock.ptr(), true, null)
    });
    drop(dispatch);
    // SAFETY: as above.
    expect_rw(rw::NULL_LOCK_STATE, || unsafe {
        rwlock_legacy::release(lock.ptr(), null)
    });
    // SAFETY: as above.
    expect_rw(rw::NULL_LOCK_STATE, || unsafe {
        rwlock_legacy::dpr_release(lock.ptr(), null)
    });
    assert!(!lock.get().is_held(), "nothing was acquired");
}

#[test]
fn a_misaligned_lock_pointer_stops_before_any_access() {
    boot();
    let lock = Lock::new();
    let odd = lock.ptr().wrapping_byte_add(4);
    let mut state = LockState::default();
    // SAFETY: the pointer is checked for alignment before any access.
    let stop = expect_rw(rw::LEGACY_MISALIGNED_LOCK, || unsafe {
        rwlock_legacy::initialize(odd)
    });
    assert_eq!((stop.params[1], stop.params[2]), (odd as usize, 8));
    // SAFETY: as above.
    expect_rw(rw::LEGACY_MISALIGNED_LOCK, || unsafe {
        rwlock_legacy::acquire(odd, true, &mut state)
    });
    // SAFETY: as above.
    expect_rw(rw::LEGACY_MISALIGNED_LOCK, || unsafe {
        rwlock_legacy::release(odd, &mut state)
    });
    assert!(!lock.get().is_held());
}

// ---- IRQL -----------------------------------------------------------------------------------

#[test]
fn initialize_above_dispatch_stops() {
    boot();
    let lock = Lock::new();
    raise(HIGH_LEVEL);
    // SAFETY: a writable, aligned lock.
    let stop = expect_rw(rw::LEGACY_INITIALIZE_ABOVE_DISPATCH, || unsafe {
        rwlock_legacy::initialize(lock.ptr())
    });
    assert_eq!(
        (stop.params[1], stop.params[2]),
        (usize::from(HIGH_LEVEL), lock.address())
    );
}

#[test]
fn dpr_acquire_below_dispatch_stops() {
    boot();
    let lock = Lock::new();
    for irql in [PASSIVE_LEVEL, APC_LEVEL] {
        for write in [false, true] {
            raise(irql);
            let stop = expect_rw(rw::AT_DISPATCH_FLAG_BELOW_DISPATCH, || {
                lock.dpr_acquire(write)
            });
            assert_eq!(
                (stop.params[1], stop.params[2]),
                (usize::from(irql), lock.address())
            );
        }
    }
    assert!(!lock.get().is_held());
}

#[test]
fn acquire_above_dispatch_stops_both_kinds() {
    boot();
    let lock = Lock::new();
    for irql in [DISPATCH_LEVEL + 1, HIGH_LEVEL] {
        for (write, dpr) in [(false, false), (true, false), (false, true), (true, true)] {
            raise(irql);
            let stop = expect_rw(rw::ACQUIRE_ABOVE_DISPATCH, || {
                if dpr {
                    lock.dpr_acquire(write)
                } else {
                    lock.acquire(write)
                }
            });
            assert_eq!(stop.params[1], usize::from(irql));
        }
    }
    assert!(!lock.get().is_held());
}

#[test]
fn release_below_dispatch_stops() {
    boot();
    let lock = Lock::new();
    let mut state = lock.acquire(false);
    lower(PASSIVE_LEVEL);
    let stop = expect_rw(rw::RELEASE_NOT_AT_DISPATCH, || lock.release(&mut state));
    assert_eq!((stop.params[1], stop.params[2]), (0, lock.address()));

    let lock = Lock::new();
    let dispatch = DispatchGuard::<Sim>::raise();
    let mut state = lock.dpr_acquire(true);
    drop(dispatch);
    raise(APC_LEVEL);
    let stop = expect_rw(rw::RELEASE_NOT_AT_DISPATCH, || lock.dpr_release(&mut state));
    assert_eq!(stop.params[1], usize::from(APC_LEVEL));
}

#[test]
fn release_above_dispatch_stops() {
    boot();
    let lock = Lock::new();
    let mut state = lock.acquire(true);
    raise(HIGH_LEVEL);
    let stop = expect_rw(rw::RELEASE_NOT_AT_DISPATCH, || lock.release(&mut state));
    assert_eq!(stop.params[1], usize::from(HIGH_LEVEL));
}

// ---- the kind of release ---------------------------------------------------------------------

#[test]
fn a_dpr_acquisition_released_by_the_non_dpr_release_stops() {
    boot();
    for write in [false, true] {
        let lock = Lock::new();
        let _dispatch = DispatchGuard::<Sim>::raise();
        let mut state = lock.dpr_acquire(write);
        let before = state;
        let stop = expect_rw(rw::LEGACY_DPR_STATE_RELEASED_BY_NON_DPR, || {
            lock.release(&mut state)
        });
        assert_eq!(
            (stop.params[1], stop.params[2]),
            (packed(before), lock.address())
        );
        assert_eq!(state, before, "the state is left as it was");
        assert!(lock.get().is_held(), "the lock is left as it was");
    }
}

#[test]
fn a_non_dpr_acquisition_released_by_the_dpr_release_stops() {
    boot();
    for write in [false, true] {
        let lock = Lock::new();
        let mut state = lock.acquire(write);
        let before = state;
        let stop = expect_rw(rw::LEGACY_NON_DPR_STATE_RELEASED_BY_DPR, || {
            lock.dpr_release(&mut state)
        });
        assert_eq!(
            (stop.params[1], stop.params[2]),
            (packed(before), lock.address())
        );
        assert!(lock.get().is_held());
    }
}

// ---- bad states -------------------------------------------------------------------------------

#[test]
fn a_garbage_state_stops_with_the_reason() {
    boot();
    let lock = Lock::new();
    let _dispatch = DispatchGuard::<Sim>::raise();
    let valid = {
        let mut state = lock.dpr_acquire(false);
        let copy = state;
        lock.dpr_release(&mut state);
        copy
    };
    let cases = [
        (
            LockState {
                lock_state: 0x1234,
                old_irql: 0,
            },
            2,
        ),
        (
            LockState {
                lock_state: 0xFFFF,
                old_irql: 0,
            },
            2,
        ),
        (
            LockState {
                lock_state: valid.lock_state & !DPR_BIT,
                old_irql: 9,
            },
            4,
        ),
        (
            LockState {
                lock_state: valid.lock_state,
                old_irql: PASSIVE_LEVEL,
            },
            4,
        ),
    ];
    for (garbage, reason) in cases {
        for dpr in [false, true] {
            let mut state = garbage;
            let stop = expect_rw(rw::BAD_LOCK_STATE, || {
                if dpr {
                    lock.dpr_release(&mut state)
                } else {
                    lock.release(&mut state)
                }
            });
            assert_eq!(
                (stop.params[1], stop.params[2], stop.params[3]),
                (packed(garbage), lock.address(), reason),
                "{garbage:?}"
            );
            raise(DISPATCH_LEVEL);
        }
    }
    assert!(!lock.get().is_held());
}

#[test]
fn an_already_released_or_never_filled_state_stops() {
    boot();
    let lock = Lock::new();
    let mut state = lock.acquire(true);
    lock.release(&mut state);
    raise(DISPATCH_LEVEL);
    let stop = expect_rw(rw::BAD_LOCK_STATE, || lock.release(&mut state));
    assert_eq!(stop.params[3], 1);

    raise(DISPATCH_LEVEL);
    let mut zero = LockState::default();
    let stop = expect_rw(rw::BAD_LOCK_STATE, || lock.dpr_release(&mut zero));
    assert_eq!((stop.params[1], stop.params[3]), (0, 1));
    assert!(!lock.get().is_held());
}

#[test]
fn a_state_of_another_lock_stops() {
    boot();
    // Neighbours in an array: their lock bits always differ.
    let pair: &'static mut [NdisRwLock<Sim>; 2] =
        Box::leak(Box::new([const { NdisRwLock::new() }; 2]));
    let first: *mut NdisRwLock<Sim> = &mut pair[0];
    let second: *mut NdisRwLock<Sim> = &mut pair[1];
    let mut state = LockState::default();
    // SAFETY: a live lock and a writable state.
    unsafe { rwlock_legacy::acquire(first, false, &mut state) };
    // SAFETY: a live lock and a state of another lock, which is caught.
    let stop = expect_rw(rw::BAD_LOCK_STATE, || unsafe {
        rwlock_legacy::release(second, &mut state)
    });
    assert_eq!((stop.params[2], stop.params[3]), (second as usize, 3));
}

// ---- processors ------------------------------------------------------------------------------

/// Acquires on processor `from` (at DISPATCH_LEVEL), drops to PASSIVE_LEVEL while holding,
/// and releases on processor `to`.
fn release_elsewhere(lock: Lock, write: bool, dpr: bool, from: u32, to: u32) -> sim::BugCheck {
    let mut state = sim::run_on(from, || {
        let old = raise(DISPATCH_LEVEL);
        let state = if dpr {
            lock.dpr_acquire(write)
        } else {
            lock.acquire(write)
        };
        lower(old);
        state
    });
    sim::run_on(to, || {
        raise(DISPATCH_LEVEL);
        expect_rw(rw::RELEASE_ON_OTHER_PROCESSOR, || {
            if dpr {
                lock.dpr_release(&mut state)
            } else {
                lock.release(&mut state)
            }
        })
    })
}

#[test]
fn a_release_on_another_processor_stops() {
    boot();
    let _serial = serial();
    for write in [false, true] {
        for dpr in [false, true] {
            let lock = Lock::new();
            let stop = release_elsewhere(lock, write, dpr, 1, 2);
            assert_eq!(
                (stop.params[1], stop.params[2], stop.params[3]),
                (2, lock.address(), 1)
            );
            let diag = lock.get().diagnostics();
            if write {
                assert_eq!(diag.writer, Some(1), "the lock is left as it was");
            } else {
                assert_eq!(diag.reading_processors.as_slice(), &[1]);
            }
        }
    }
}

#[test]
fn a_release_on_another_processor_that_also_reads_stops() {
    boot();
    let _serial = serial();
    let lock = Lock::new();
    // Processor 1 reads and drops to PASSIVE_LEVEL; processor 2 reads too and then releases
    // processor 1's state: without the processor check its own count would go down.
    let mut foreign = sim::run_on(1, || {
        let old = raise(DISPATCH_LEVEL);
        let state = lock.acquire(false);
        lower(old);
        state
    });
    sim::run_on(2, || {
        let _own = lock.acquire(false);
        let stop = expect_rw(rw::RELEASE_ON_OTHER_PROCESSOR, || {
            lock.release(&mut foreign)
        });
        assert_eq!((stop.params[1], stop.params[3]), (2, 1));
    });
    let diag = lock.get().diagnostics();
    assert_eq!(
        diag.reading_processors.as_slice(),
        &[1, 2],
        "both counts left alone"
    );
}

#[test]
fn a_copy_of_a_released_state_stops() {
    boot();
    for write in [false, true] {
        let lock = Lock::new();
        let mut state = lock.acquire(write);
        let mut copy = state;
        lock.release(&mut state);
        raise(DISPATCH_LEVEL);
        expect_rw(rw::RELEASE_ON_OTHER_PROCESSOR, || lock.release(&mut copy));
        assert!(!lock.get().is_held());
    }
}

// ---- recursion --------------------------------------------------------------------------------

#[test]
fn read_to_write_promotion_stops_instead_of_deadlocking() {
    boot();
    for dpr in [false, true] {
        let lock = Lock::new();
        let _dispatch = DispatchGuard::<Sim>::raise();
        let me = processor();
        let _read = lock.acquire(false);
        let stop = expect_rw(rw::READ_TO_WRITE_PROMOTION, || {
            if dpr {
                lock.dpr_acquire(true)
            } else {
                lock.acquire(true)
            }
        });
        assert_eq!(
            (stop.params[1], stop.params[2]),
            (lock.address(), me as usize)
        );
        assert_eq!(lock.writer(), None);
    }
}

#[test]
fn releasing_the_outer_write_before_the_inner_one_stops() {
    boot();
    let lock = Lock::new();
    let _dispatch = DispatchGuard::<Sim>::raise();
    let mut outer = lock.acquire(true);
    let _inner = lock.acquire(true);
    let stop = expect_rw(rw::BAD_LOCK_STATE, || lock.release(&mut outer));
    assert_eq!(stop.params[2], lock.address());
    assert_eq!(lock.get().diagnostics().write_depth, 2);
}

// ---- the DPC watchdog ------------------------------------------------------------------------

#[test]
fn holding_the_write_lock_too_long_trips_the_watchdog() {
    boot();
    let lock = Lock::new();
    let stop = sim::with_watchdog(Duration::from_millis(5), || {
        sim::expect_bug_check(|| {
            let mut state = lock.acquire(true);
            thread::sleep(Duration::from_millis(200));
            lock.release(&mut state);
        })
    });
    assert_eq!((stop.code, stop.params[0]), (DPC_WATCHDOG_VIOLATION, 1));
}

#[test]
fn waiting_for_a_writer_that_never_leaves_trips_the_watchdog() {
    boot();
    let _serial = serial();
    for second_writes in [false, true] {
        let lock = Lock::new();
        let held = AtomicBool::new(false);
        let stopped = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                sim::run_on(3, || {
                    let mut state = lock.acquire(true);
                    held.store(true, Ordering::Release);
                    while !stopped.load(Ordering::Acquire) {
                        thread::yield_now();
                    }
                    lock.release(&mut state);
                });
            });
            s.spawn(|| {
                sim::run_on(4, || {
                    while !held.load(Ordering::Acquire) {
                        thread::yield_now();
                    }
                    let stop = sim::with_watchdog(Duration::from_millis(20), || {
                        sim::expect_bug_check(|| lock.acquire(second_writes))
                    });
                    stopped.store(true, Ordering::Release);
                    assert_eq!((stop.code, stop.params[0]), (DPC_WATCHDOG_VIOLATION, 1));
                });
            });
        });
    }
}

#[test]
fn an_uninitialised_lock_that_looks_held_trips_the_watchdog() {
    boot();
    for write in [false, true] {
        let storage: &'static mut [u64; NDIS_RW_LOCK_SIZE / 8] =
            Box::leak(Box::new([0; NDIS_RW_LOCK_SIZE / 8]));
        // Garbage in the header (spin lock and writer word), as on an uninitialised stack.
        storage[0] = 0x4141_4141_4141_4141;
        storage[1] = 0x4141_4141_4141_4141;
        let lock = storage.as_mut_ptr().cast::<NdisRwLock<Sim>>();
        let mut state = LockState::default();
        let stop = sim::with_watchdog(Duration::from_millis(20), || {
            // SAFETY: NDIS_RW_LOCK_SIZE aligned bytes; garbage is what is being tested.
            sim::expect_bug_check(|| unsafe { rwlock_legacy::acquire(lock, write, &mut state) })
        });
        assert_eq!((stop.code, stop.params[0]), (DPC_WATCHDOG_VIOLATION, 1));
    }
}

// ---- LegacyRwLock ------------------------------------------------------------------------------

#[test]
fn legacy_rwlock_refuses_to_alias_its_write_guard() {
    boot();
    let lock = leaked(0u32);
    let stop = expect_rw(rw::ALIASING_ACQUIRE, || {
        let _w = lock.write();
        let _r = lock.read();
    });
    assert_eq!(stop.params[3], 0);
    assert_eq!(lock.diagnostics().readers, 0, "the nested read was undone");
    let lock = leaked(0u32);
    let stop = expect_rw(rw::ALIASING_ACQUIRE, || {
        let _w = lock.write();
        let _again = lock.try_write();
    });
    assert_eq!(stop.params[3], 1);
    assert_eq!(
        lock.diagnostics().write_depth,
        1,
        "the nested level was undone"
    );
}

#[test]
fn legacy_rwlock_promotion_stops() {
    boot();
    let lock = leaked(0u32);
    expect_rw(rw::READ_TO_WRITE_PROMOTION, || {
        let _r = lock.read();
        let _w = lock.write();
    });
}

#[test]
fn legacy_rwlock_guard_dropped_below_dispatch_stops() {
    boot();
    let lock = leaked(0u32);
    let stop = expect_rw(rw::RELEASE_NOT_AT_DISPATCH, || {
        let guard = lock.read();
        lower(PASSIVE_LEVEL);
        drop(guard);
    });
    assert_eq!(stop.params[1], 0);
}

#[test]
fn legacy_rwlock_guard_dropped_on_another_processor_stops() {
    boot();
    let _serial = serial();
    let lock = leaked(0u32);
    let stop = sim::run_on(5, || {
        let guard = lock.write();
        lower(PASSIVE_LEVEL);
        sim::run_on(6, move || {
            raise(DISPATCH_LEVEL);
            expect_rw(rw::RELEASE_ON_OTHER_PROCESSOR, move || drop(guard))
        })
    });
    assert_eq!((stop.params[1], stop.params[3]), (6, 5));
}

#[test]
fn legacy_rwlock_acquire_above_dispatch_stops() {
    boot();
    let lock = leaked(0u32);
    raise(HIGH_LEVEL);
    expect_rw(rw::ACQUIRE_ABOVE_DISPATCH, || drop(lock.read()));
    raise(HIGH_LEVEL);
    expect_rw(rw::ACQUIRE_ABOVE_DISPATCH, || drop(lock.try_write()));
}

#[test]
fn legacy_rwlock_dropped_while_c_code_holds_it_stops() {
    boot();
    let lock = Box::new(LegacyRwLock::<u32, Sim>::new(0));
    let mut state = LockState::default();
    // SAFETY: the lock lives until the drop below; a writable state.
    unsafe { rwlock_legacy::acquire(lock.as_raw(), true, &mut state) };
    let me = processor();
    let address = lock.as_raw() as usize;
    let stop = expect_rw(rw::FREE_HELD_LOCK, move || drop(lock));
    assert_eq!(
        (stop.params[1], stop.params[3]),
        (address, me as usize + 1),
        "P4: writer processor + 1"
    );

    let lock = LegacyRwLock::<u32, Sim>::new(0);
    let mut state = LockState::default();
    // SAFETY: the lock lives until into_inner; a writable state.
    unsafe { rwlock_legacy::acquire(lock.as_raw(), false, &mut state) };
    lower(PASSIVE_LEVEL);
    let stop = expect_rw(rw::FREE_HELD_LOCK, move || lock.into_inner());
    assert_eq!(stop.params[2], 1, "one reader");
}

#[test]
fn guards_release_nothing_while_a_stop_unwinds() {
    boot();
    let lock = leaked(0u32);
    // The stop unwinds through both guards at PASSIVE_LEVEL; a guard that released then would
    // stop again while unwinding and abort the process.
    expect_rw(rw::READ_TO_WRITE_PROMOTION, || {
        let _a = lock.read();
        let _b = lock.read();
        let _w = lock.write();
    });
    assert_eq!(lock.diagnostics().readers, 2, "left as it was");
}

#[test]
fn a_held_legacy_rwlock_dropped_while_a_stop_unwinds_is_left_alone() {
    boot();
    // The stop unwinds through the read guard and then the lock itself, both at
    // PASSIVE_LEVEL with the lock held; a second stop while unwinding would abort.
    expect_rw(rw::READ_TO_WRITE_PROMOTION, || {
        let lock = LegacyRwLock::<u32, Sim>::new(0);
        let _r = lock.read();
        let _w = lock.write();
    });
}
