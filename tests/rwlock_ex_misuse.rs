//! NDIS_RW_LOCK_EX misuse: every check bug-checks with its documented code, subcode and
//! parameters, and leaves the lock as it was.
//!
//! The C exports are `extern "system"`: a bug check inside them cannot unwind and stops the
//! process (tests/c_rwlock_ex.rs checks that through a C program). Here the same code is
//! called through the Rust-ABI functions the exports wrap (`rwlock_ex::acquire_read::<K>` and
//! friends), so that each stop can be caught and examined.
#![cfg(not(loom))]

use std::ptr::NonNull;
use std::sync::mpsc;
use std::sync::{Barrier, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use ndis_rwlock::bugcheck::{DPC_WATCHDOG_VIOLATION, NDIS_RWLOCK_VIOLATION, rw};
use ndis_rwlock::kernel::{
    APC_LEVEL, DISPATCH_LEVEL, DefaultKernel, DispatchGuard, HIGH_LEVEL, Irql, Kernel,
    PASSIVE_LEVEL,
};
use ndis_rwlock::sim::{self, BugCheck, catch_bug_check, expect_bug_check};
use ndis_rwlock::storage::ex::{
    self as rwlock_ex, LockStateEx, NDIS_RWL_AT_DISPATCH_LEVEL, NdisRwLockEx,
};
use ndis_rwlock::{Diagnostics, RwLockEx};

type K = DefaultKernel;
type Lock = *mut NdisRwLockEx<K>;
/// `read` or `write` below.
type Acquire = fn(Lock, *mut LockStateEx, u8);
/// Something done to a safe lock.
type Attempt = fn(&RwLockEx<u32>);

/// Every test of this binary boots the same machine.
const PROCESSORS: u32 = 4;

/// Tests whose threads wait for each other while holding processors at DISPATCH_LEVEL take
/// this exclusively, so that two such tests never wait for each other's processors.
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
    // SAFETY: the tests lower on purpose, to misuse the lock; the simulated kernel tolerates
    // it and the lock checks the IRQL of each release.
    unsafe { K::lower_irql(to) }
}

fn alloc() -> Lock {
    NdisRwLockEx::<K>::allocate()
        .expect("the simulated pool has room")
        .as_ptr()
}

fn read(lock: Lock, state: *mut LockStateEx, flags: u8) {
    // SAFETY: `lock` is NULL or a live lock; `state` is NULL or three writable bytes (the
    // misuse under test is reported by a bug check, never by touching bad memory).
    unsafe { rwlock_ex::acquire_read::<K>(lock, state, flags) }
}

fn write(lock: Lock, state: *mut LockStateEx, flags: u8) {
    // SAFETY: as in `read`.
    unsafe { rwlock_ex::acquire_write::<K>(lock, state, flags) }
}

fn release(lock: Lock, state: *mut LockStateEx) {
    // SAFETY: `lock` is NULL or a live lock; `state` is NULL or three readable and writable
    // bytes, whatever they hold.
    unsafe { rwlock_ex::release::<K>(lock, state) }
}

fn free(lock: Lock) {
    // SAFETY: a live lock from `alloc`; after a successful free it is not used again.
    unsafe { NdisRwLockEx::<K>::free(NonNull::new(lock).expect("non-null")) }
}

fn diag(lock: Lock) -> Diagnostics {
    // SAFETY: a live lock.
    unsafe { &*lock }.diagnostics()
}

fn assert_free(lock: Lock) {
    let d = diag(lock);
    assert_eq!((d.readers, d.writer, d.write_depth), (0, None, 0), "{d:?}");
}

/// The three state bytes as bug-check parameter 2 reports them.
fn bytes(state: LockStateEx) -> usize {
    usize::from(state.old_irql)
        | usize::from(state.lock_state) << 8
        | usize::from(state.flags) << 16
}

#[track_caller]
fn assert_rw(stop: BugCheck, subcode: usize, p2: usize, p3: usize, p4: usize) {
    assert_eq!(
        stop,
        BugCheck {
            code: NDIS_RWLOCK_VIOLATION,
            params: [subcode, p2, p3, p4],
        },
        "got {stop}"
    );
    assert_eq!(
        irql(),
        PASSIVE_LEVEL,
        "a bug check leaves the thread at PASSIVE_LEVEL"
    );
}

// ---------------------------------------------------------------------------------------------
// Pointer and flag arguments.

#[test]
fn null_lock() {
    let _m = machine();
    let mut state = LockStateEx::default();
    let at = (&raw mut state) as usize;
    for (name, call) in [("read", read as Acquire), ("write", write as Acquire)] {
        let stop = expect_bug_check(|| call(std::ptr::null_mut(), &mut state, 0));
        assert_rw(stop, rw::NULL_LOCK, at, 0, 0);
        let stop = expect_bug_check(|| call(std::ptr::null_mut(), std::ptr::null_mut(), 0));
        assert_rw(stop, rw::NULL_LOCK, 0, 0, 0);
        assert_eq!(state, LockStateEx::default(), "{name} wrote the state");
    }
    let stop = expect_bug_check(|| release(std::ptr::null_mut(), &mut state));
    assert_rw(stop, rw::NULL_LOCK, at, 0, 0);
    let stop = expect_bug_check(|| release(std::ptr::null_mut(), std::ptr::null_mut()));
    assert_rw(stop, rw::NULL_LOCK, 0, 0, 0);
}

#[test]
fn null_lock_state() {
    let _m = machine();
    let lock = alloc();
    for flags in [0, NDIS_RWL_AT_DISPATCH_LEVEL] {
        for call in [read, write] {
            if flags != 0 {
                raise(DISPATCH_LEVEL);
            }
            let stop = expect_bug_check(|| call(lock, std::ptr::null_mut(), flags));
            assert_rw(stop, rw::NULL_LOCK_STATE, lock as usize, 0, 0);
        }
    }
    let mut state = LockStateEx::default();
    write(lock, &mut state, 0);
    let stop = expect_bug_check(|| release(lock, std::ptr::null_mut()));
    assert_rw(stop, rw::NULL_LOCK_STATE, lock as usize, 0, 0);
    // The write acquisition is intact: release it on its processor.
    let me = state.flags >> 1;
    sim::run_on(u32::from(me), || {
        raise(DISPATCH_LEVEL);
        release(lock, &mut state);
    });
    assert_eq!(irql(), PASSIVE_LEVEL);
    assert_free(lock);
    free(lock);
}

#[test]
fn undefined_flag_bits() {
    let _m = machine();
    let lock = alloc();
    for flags in [0x02, 0x03, 0x04, 0x10, 0x80, 0xFE, 0xFF] {
        for start in [PASSIVE_LEVEL, DISPATCH_LEVEL] {
            for call in [read, write] {
                raise(start);
                let mut state = LockStateEx::default();
                let stop = expect_bug_check(|| call(lock, &mut state, flags));
                assert_rw(
                    stop,
                    rw::UNDEFINED_FLAGS,
                    usize::from(flags),
                    lock as usize,
                    0,
                );
                assert_eq!(state, LockStateEx::default());
                assert_free(lock);
            }
        }
    }
    free(lock);
}

#[test]
fn at_dispatch_flag_below_dispatch() {
    let _m = machine();
    let lock = alloc();
    for start in [PASSIVE_LEVEL, APC_LEVEL] {
        for call in [read, write] {
            raise(start);
            let mut state = LockStateEx::default();
            let stop = expect_bug_check(|| call(lock, &mut state, NDIS_RWL_AT_DISPATCH_LEVEL));
            assert_rw(
                stop,
                rw::AT_DISPATCH_FLAG_BELOW_DISPATCH,
                usize::from(start),
                lock as usize,
                0,
            );
            assert_free(lock);
        }
    }
    free(lock);
}

#[test]
fn acquire_above_dispatch() {
    let _m = machine();
    let lock = alloc();
    for level in [DISPATCH_LEVEL + 1, HIGH_LEVEL] {
        for flags in [0, NDIS_RWL_AT_DISPATCH_LEVEL] {
            for call in [read, write] {
                raise(level);
                let mut state = LockStateEx::default();
                let stop = expect_bug_check(|| call(lock, &mut state, flags));
                assert_rw(
                    stop,
                    rw::ACQUIRE_ABOVE_DISPATCH,
                    usize::from(level),
                    lock as usize,
                    0,
                );
                assert_free(lock);
            }
        }
    }
    free(lock);
}

#[test]
fn safe_acquire_above_dispatch() {
    let _m = machine();
    let lock = RwLockEx::<_>::new(0u32).expect("pool has room");
    let address = lock.as_raw() as usize;
    let attempts: [(&str, &dyn Fn()); 4] = [
        ("read", &|| drop(lock.read())),
        ("write", &|| drop(lock.write())),
        ("try_read", &|| drop(lock.try_read())),
        ("try_write", &|| drop(lock.try_write())),
    ];
    for (name, attempt) in attempts {
        raise(HIGH_LEVEL);
        let stop = expect_bug_check(attempt);
        assert_rw(
            stop,
            rw::ACQUIRE_ABOVE_DISPATCH,
            usize::from(HIGH_LEVEL),
            address,
            0,
        );
        let d = lock.diagnostics();
        assert_eq!((d.readers, d.writer), (0, None), "{name}");
    }
    assert_eq!(*lock.read(), 0);
}

// ---------------------------------------------------------------------------------------------
// Releases with a LockState that is not a live acquisition of this lock.

#[test]
fn release_with_garbage_state() {
    let _m = machine();
    sim::run_on(1, || {
        let lock = alloc();
        let mut held = LockStateEx::default();
        read(lock, &mut held, 0);
        let mut valid_write = LockStateEx::default();
        let garbage = [
            LockStateEx::default(),
            LockStateEx {
                old_irql: 0xFF,
                lock_state: 0xFF,
                flags: 0xFF,
            },
            LockStateEx {
                old_irql: 0x5A,
                lock_state: 0xA5,
                flags: 0x3C,
            },
            // A real state whose saved IRQL is above DISPATCH_LEVEL.
            LockStateEx {
                old_irql: HIGH_LEVEL,
                ..held
            },
            // A real state with its kind wiped.
            LockStateEx {
                lock_state: held.lock_state & 0x0F,
                ..held
            },
        ];
        for mut bad in garbage {
            raise(DISPATCH_LEVEL);
            let stop = expect_bug_check(|| release(lock, &mut bad));
            assert_rw(stop, rw::BAD_LOCK_STATE, bytes(bad), lock as usize, 0);
            let d = diag(lock);
            assert_eq!(
                (d.readers, d.writer),
                (1, None),
                "the bad release changed nothing"
            );
        }
        // The real acquisition still releases, and write state from a real write is fine too.
        raise(DISPATCH_LEVEL);
        release(lock, &mut held);
        assert_eq!(irql(), PASSIVE_LEVEL);
        write(lock, &mut valid_write, 0);
        release(lock, &mut valid_write);
        assert_free(lock);
        free(lock);
    });
}

#[test]
fn release_twice() {
    let _m = machine();
    sim::run_on(2, || {
        let lock = alloc();
        for acquire in [read, write] {
            for at_dispatch in [false, true] {
                let mut state = LockStateEx::default();
                acquire(lock, &mut state, 0);
                release(lock, &mut state);
                if at_dispatch {
                    raise(DISPATCH_LEVEL);
                }
                let again = state;
                let stop = expect_bug_check(|| release(lock, &mut state));
                assert_rw(stop, rw::BAD_LOCK_STATE, bytes(again), lock as usize, 0);
                assert_free(lock);
            }
        }
        free(lock);
    });
}

#[test]
fn release_of_a_stale_copy_of_a_released_state() {
    let _m = machine();
    sim::run_on(3, || {
        let lock = alloc();
        for acquire in [read, write] {
            let mut state = LockStateEx::default();
            acquire(lock, &mut state, 0);
            let mut copy = state;
            release(lock, &mut state);
            raise(DISPATCH_LEVEL);
            let stop = expect_bug_check(|| release(lock, &mut copy));
            assert_rw(stop, rw::BAD_LOCK_STATE, bytes(copy), lock as usize, 0);
            assert_free(lock);
        }
        // A stale copy of a recursive write, released after the lock went free.
        let mut outer = LockStateEx::default();
        let mut inner = LockStateEx::default();
        write(lock, &mut outer, 0);
        write(lock, &mut inner, 0);
        let mut copy = inner;
        release(lock, &mut inner);
        release(lock, &mut outer);
        raise(DISPATCH_LEVEL);
        let stop = expect_bug_check(|| release(lock, &mut copy));
        assert_rw(stop, rw::BAD_LOCK_STATE, bytes(copy), lock as usize, 0);
        assert_free(lock);
        free(lock);
    });
}

#[test]
fn release_of_the_outer_write_before_the_recursive_one() {
    let _m = machine();
    sim::run_on(0, || {
        let lock = alloc();
        let mut outer = LockStateEx::default();
        let mut inner = LockStateEx::default();
        write(lock, &mut outer, 0);
        write(lock, &mut inner, 0);
        let stop = expect_bug_check(|| release(lock, &mut outer));
        assert_rw(stop, rw::BAD_LOCK_STATE, bytes(outer), lock as usize, 0);
        let d = diag(lock);
        assert_eq!(
            (d.writer, d.write_depth),
            (Some(0), 2),
            "nothing was released"
        );
        // In order, both release.
        raise(DISPATCH_LEVEL);
        release(lock, &mut inner);
        release(lock, &mut outer);
        assert_eq!(irql(), PASSIVE_LEVEL);
        assert_free(lock);
        free(lock);
    });
}

#[test]
fn release_with_the_state_of_another_lock() {
    let _m = machine();
    sim::run_on(1, || {
        for acquire in [read, write] {
            let a = alloc();
            let mut sa = LockStateEx::default();
            acquire(a, &mut sa, 0);
            // Find a second lock whose states differ from `a`'s (states carry a few bits of
            // the lock's address; two locks can share them).
            let mut lookalikes = Vec::new();
            let (b, mut sb) = loop {
                let b = alloc();
                let mut sb = LockStateEx::default();
                acquire(b, &mut sb, 0);
                if sb.lock_state != sa.lock_state {
                    break (b, sb);
                }
                lookalikes.push((b, sb));
                assert!(lookalikes.len() < 64, "every lock's state looks the same");
            };
            let stop = expect_bug_check(|| release(a, &mut sb));
            assert_rw(stop, rw::BAD_LOCK_STATE, bytes(sb), a as usize, 0);
            // Both locks are intact: release everything, innermost first.
            raise(DISPATCH_LEVEL);
            release(b, &mut sb);
            for (other, mut state) in lookalikes.into_iter().rev() {
                release(other, &mut state);
                free(other);
            }
            release(a, &mut sa);
            assert_eq!(irql(), PASSIVE_LEVEL);
            for lock in [a, b] {
                assert_free(lock);
                free(lock);
            }
        }
    });
}

#[test]
fn release_of_a_free_lock_with_the_state_of_another_lock() {
    let _m = machine();
    sim::run_on(2, || {
        for acquire in [read, write] {
            // States carry a few bits of the lock's address, which `a`'s may or may not share
            // with `b`'s; either way `a` holds nothing that the state could release.
            let a = alloc();
            let b = alloc();
            let mut sb = LockStateEx::default();
            acquire(b, &mut sb, 0);
            let passed = sb;
            let stop = expect_bug_check(|| release(a, &mut sb));
            assert_rw(stop, rw::BAD_LOCK_STATE, bytes(passed), a as usize, 0);
            assert_free(a);
            raise(DISPATCH_LEVEL);
            release(b, &mut sb);
            assert_eq!(irql(), PASSIVE_LEVEL);
            for lock in [a, b] {
                assert_free(lock);
                free(lock);
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Release at the wrong IRQL or on the wrong processor.

#[test]
fn release_below_dispatch() {
    let _m = machine();
    sim::run_on(3, || {
        let lock = alloc();
        for acquire in [read, write] {
            for level in [PASSIVE_LEVEL, APC_LEVEL] {
                let mut state = LockStateEx::default();
                acquire(lock, &mut state, 0);
                lower(level);
                let stop = expect_bug_check(|| release(lock, &mut state));
                assert_rw(
                    stop,
                    rw::RELEASE_NOT_AT_DISPATCH,
                    usize::from(level),
                    lock as usize,
                    0,
                );
                assert!(diag(lock).readers + u64::from(diag(lock).write_depth) == 1);
                // Back at DISPATCH_LEVEL on the same processor, the release works.
                raise(DISPATCH_LEVEL);
                release(lock, &mut state);
                assert_free(lock);
            }
        }
        free(lock);
    });
}

#[test]
fn release_above_dispatch() {
    let _m = machine();
    sim::run_on(0, || {
        let lock = alloc();
        for acquire in [read, write] {
            for level in [DISPATCH_LEVEL + 1, HIGH_LEVEL] {
                let mut state = LockStateEx::default();
                acquire(lock, &mut state, 0);
                raise(level);
                let stop = expect_bug_check(|| release(lock, &mut state));
                assert_rw(
                    stop,
                    rw::RELEASE_NOT_AT_DISPATCH,
                    usize::from(level),
                    lock as usize,
                    0,
                );
                raise(DISPATCH_LEVEL);
                release(lock, &mut state);
                assert_free(lock);
            }
        }
        free(lock);
    });
}

#[test]
fn release_on_another_processor() {
    let _m = machine_alone();
    let lock = alloc() as usize;
    for acquire in [read, write] {
        for flags in [0, NDIS_RWL_AT_DISPATCH_LEVEL] {
            let (state_tx, state_rx) = mpsc::channel();
            let (stop_tx, stop_rx) = mpsc::channel();
            thread::scope(|s| {
                s.spawn(move || {
                    sim::run_on(0, || {
                        let lock = lock as Lock;
                        if flags != 0 {
                            raise(DISPATCH_LEVEL);
                        }
                        let mut state = LockStateEx::default();
                        acquire(lock, &mut state, flags);
                        state_tx.send(state).expect("the other thread waits");
                        // Hold the acquisition until the other processor's release failed.
                        let stop: BugCheck = stop_rx.recv().expect("the other thread reports");
                        assert_rw_on_dispatch(stop, lock);
                        release(lock, &mut state);
                        lower(PASSIVE_LEVEL);
                    });
                });
                s.spawn(move || {
                    sim::run_on(1, || {
                        let mut copy: LockStateEx = state_rx.recv().expect("acquired");
                        raise(DISPATCH_LEVEL);
                        let stop = expect_bug_check(|| release(lock as Lock, &mut copy));
                        assert_eq!(irql(), PASSIVE_LEVEL);
                        stop_tx.send(stop).expect("the holder waits");
                    });
                });
            });
            assert_eq!(irql(), PASSIVE_LEVEL);
            assert_free(lock as Lock);
        }
    }
    free(lock as Lock);
}

/// Checks the stop of `release_on_another_processor` on the acquiring thread, which is still
/// at DISPATCH_LEVEL.
#[track_caller]
fn assert_rw_on_dispatch(stop: BugCheck, lock: Lock) {
    assert_eq!(
        stop,
        BugCheck {
            code: NDIS_RWLOCK_VIOLATION,
            params: [rw::RELEASE_ON_OTHER_PROCESSOR, 1, lock as usize, 0],
        },
        "got {stop}"
    );
    let d = diag(lock);
    assert_eq!(d.readers + u64::from(d.write_depth), 1, "{d:?}");
    assert_eq!(irql(), DISPATCH_LEVEL);
}

#[test]
fn safe_guards_dropped_out_of_order_keep_dispatch_level_until_the_last() {
    let _m = machine();
    sim::run_on(1, || {
        for write_guards in [false, true] {
            let first = RwLockEx::<_>::new(1u32).expect("pool has room");
            let second = RwLockEx::<_>::new(2u32).expect("pool has room");
            if write_guards {
                let g1 = first.write();
                let g2 = second.write();
                drop(g1);
                // The second guard still holds: the processor stays at DISPATCH_LEVEL.
                assert_eq!(irql(), DISPATCH_LEVEL);
                drop(g2);
            } else {
                let g1 = first.read();
                let g2 = second.read();
                drop(g1);
                assert_eq!(irql(), DISPATCH_LEVEL);
                drop(g2);
            }
            assert_eq!(irql(), PASSIVE_LEVEL);
            for lock in [&first, &second] {
                let d = lock.diagnostics();
                assert_eq!((d.readers, d.writer), (0, None));
            }
        }
    });
}

#[test]
fn safe_guard_dropped_on_another_processor() {
    let _m = machine();
    for write_guards in [false, true] {
        let first = RwLockEx::<_>::new(1u32).expect("pool has room");
        let second = RwLockEx::<_>::new(2u32).expect("pool has room");
        let stop = sim::run_on(2, || {
            expect_bug_check(|| {
                // Safe code cannot take a guard to another processor (the processor stays at
                // DISPATCH_LEVEL while a guard lives); unsafe code that lowers and raises
                // behind the guard layer's back can, and the guard's drop catches it.
                let elsewhere = |last: &dyn Fn()| {
                    // SAFETY: the misuse under test: lowering under a live guard.
                    unsafe { K::lower_irql(PASSIVE_LEVEL) };
                    sim::run_on(3, || {
                        // SAFETY: a raise from PASSIVE_LEVEL, outside the guard layer.
                        unsafe { K::raise_irql(DISPATCH_LEVEL) };
                        last();
                    });
                };
                if write_guards {
                    let g1 = first.write();
                    let g2 = std::cell::Cell::new(Some(second.write()));
                    drop(g1);
                    elsewhere(&|| drop(g2.take()));
                } else {
                    let g1 = first.read();
                    let g2 = std::cell::Cell::new(Some(second.read()));
                    drop(g1);
                    elsewhere(&|| drop(g2.take()));
                }
            })
        });
        assert_rw(
            stop,
            rw::RELEASE_ON_OTHER_PROCESSOR,
            3,
            second.as_raw() as usize,
            2,
        );
        drop(first);
        std::mem::forget(second);
    }
}

// ---------------------------------------------------------------------------------------------
// Promotion, aliasing, freeing a held lock.

#[test]
fn read_to_write_promotion() {
    let _m = machine();
    sim::run_on(3, || {
        let lock = alloc();
        for (reads, write_flags) in [(1, 0), (1, NDIS_RWL_AT_DISPATCH_LEVEL), (3, 0)] {
            let mut states = vec![LockStateEx::default(); reads];
            for state in &mut states {
                read(lock, state, 0);
            }
            let mut w = LockStateEx::default();
            let stop = expect_bug_check(|| write(lock, &mut w, write_flags));
            assert_rw(stop, rw::READ_TO_WRITE_PROMOTION, lock as usize, 3, 0);
            let d = diag(lock);
            assert_eq!(
                (d.readers, d.writer),
                (reads as u64, None),
                "nothing was taken"
            );
            raise(DISPATCH_LEVEL);
            for state in states.iter_mut().rev() {
                release(lock, state);
            }
            assert_eq!(irql(), PASSIVE_LEVEL);
            assert_free(lock);
        }
        free(lock);
    });
}

#[test]
fn safe_read_to_write_promotion() {
    let _m = machine();
    sim::run_on(0, || {
        let attempts: [Attempt; 3] = [
            |l| {
                let _r = l.read();
                drop(l.write());
            },
            |l| {
                let _r = l.read();
                // A try is no way out: waiting for our own read would never end either.
                drop(l.try_write());
            },
            |l| {
                let dispatch = DispatchGuard::<K>::raise();
                let _r = l.read_at_dispatch(dispatch.token());
                drop(l.write_at_dispatch(dispatch.token()));
            },
        ];
        for attempt in attempts {
            let lock = RwLockEx::<_>::new(0u32).expect("pool has room");
            let stop = expect_bug_check(|| attempt(&lock));
            assert_rw(
                stop,
                rw::READ_TO_WRITE_PROMOTION,
                lock.as_raw() as usize,
                0,
                0,
            );
            let d = lock.diagnostics();
            assert_eq!((d.readers, d.writer), (1, None));
            std::mem::forget(lock);
        }
    });
}

#[test]
fn safe_aliasing_acquire_inside_own_write() {
    let _m = machine();
    sim::run_on(1, || {
        // (attempt, P4: 1 for a second write, 0 for a read)
        let attempts: [(Attempt, usize); 5] = [
            (
                |l| {
                    let _w = l.write();
                    drop(l.write());
                },
                1,
            ),
            (
                |l| {
                    let _w = l.write();
                    drop(l.read());
                },
                0,
            ),
            (
                |l| {
                    let _w = l.write();
                    drop(l.try_write());
                },
                1,
            ),
            (
                |l| {
                    let _w = l.write();
                    drop(l.try_read());
                },
                0,
            ),
            (
                |l| {
                    let dispatch = DispatchGuard::<K>::raise();
                    let _w = l.write_at_dispatch(dispatch.token());
                    drop(l.read_at_dispatch(dispatch.token()));
                },
                0,
            ),
        ];
        for (attempt, kind) in attempts {
            let lock = RwLockEx::<_>::new(0u32).expect("pool has room");
            let stop = expect_bug_check(|| attempt(&lock));
            assert_rw(stop, rw::ALIASING_ACQUIRE, lock.as_raw() as usize, 1, kind);
            // The refused acquisition was undone; the first write is still held.
            let d = lock.diagnostics();
            assert_eq!((d.readers, d.writer, d.write_depth), (0, Some(1), 1));
            std::mem::forget(lock);
        }
    });
}

#[test]
fn safe_acquire_inside_a_c_write_of_the_same_processor() {
    let _m = machine();
    sim::run_on(2, || {
        for (kind, attempt) in [
            (0usize, (|l| drop(l.read())) as Attempt),
            (1, |l| drop(l.write())),
        ] {
            let lock = RwLockEx::<_>::new(0u32).expect("pool has room");
            let raw = lock.as_raw();
            let mut state = LockStateEx::default();
            write(raw, &mut state, 0);
            let stop = expect_bug_check(|| attempt(&lock));
            assert_rw(stop, rw::ALIASING_ACQUIRE, raw as usize, 2, kind);
            raise(DISPATCH_LEVEL);
            release(raw, &mut state);
            assert_eq!(irql(), PASSIVE_LEVEL);
            assert_eq!(*lock.read(), 0, "the lock works again");
        }
    });
}

#[test]
fn free_of_a_held_lock() {
    let _m = machine();
    sim::run_on(3, || {
        let lock = alloc();
        // (acquisitions, P3 readers, P4 writer processor + 1)
        let cases: [(&[bool], usize, usize); 4] = [
            (&[false], 1, 0),
            (&[false, false], 2, 0),
            (&[true], 0, 4),
            (&[true, true, false], 1, 4),
        ];
        for (writes, readers, writer) in cases {
            let mut states = vec![LockStateEx::default(); writes.len()];
            for (state, &is_write) in states.iter_mut().zip(writes) {
                if is_write {
                    write(lock, state, 0);
                } else {
                    read(lock, state, 0);
                }
            }
            let stop = expect_bug_check(|| free(lock));
            assert_rw(stop, rw::FREE_HELD_LOCK, lock as usize, readers, writer);
            // Not freed: release everything, and then the free works.
            raise(DISPATCH_LEVEL);
            for state in states.iter_mut().rev() {
                release(lock, state);
            }
            assert_eq!(irql(), PASSIVE_LEVEL);
            assert_free(lock);
        }
        free(lock);
    });
}

#[test]
fn free_of_a_lock_read_on_two_other_processors() {
    let _m = machine_alone();
    let lock = alloc() as usize;
    let inside = Barrier::new(3);
    let leave = Barrier::new(3);
    thread::scope(|s| {
        for p in [1, 2] {
            let (inside, leave) = (&inside, &leave);
            s.spawn(move || {
                sim::run_on(p, || {
                    let mut state = LockStateEx::default();
                    read(lock as Lock, &mut state, 0);
                    inside.wait();
                    leave.wait();
                    release(lock as Lock, &mut state);
                });
            });
        }
        inside.wait();
        let stop = expect_bug_check(|| free(lock as Lock));
        assert_rw(stop, rw::FREE_HELD_LOCK, lock, 2, 0);
        leave.wait();
    });
    assert_free(lock as Lock);
    free(lock as Lock);
}

#[test]
fn safe_drop_or_into_inner_of_a_lock_c_code_holds() {
    let _m = machine();
    sim::run_on(0, || {
        for into_inner in [false, true] {
            let lock = RwLockEx::<_>::new(vec![1u8]).expect("pool has room");
            let raw = lock.as_raw();
            let mut state = LockStateEx::default();
            read(raw, &mut state, 0);
            let stop = expect_bug_check(move || {
                if into_inner {
                    drop(lock.into_inner());
                } else {
                    drop(lock);
                }
            });
            assert_rw(stop, rw::FREE_HELD_LOCK, raw as usize, 1, 0);
            // The lock was not freed: release the C acquisition and free it.
            raise(DISPATCH_LEVEL);
            release(raw, &mut state);
            assert_free(raw);
            free(raw);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The DPC watchdog and a writer that holds on too long.

const WATCHDOG: Duration = Duration::from_millis(5);
/// How long a test waits for a stop that a working watchdog raises within milliseconds.
const PATIENCE: Duration = Duration::from_secs(30);

#[track_caller]
fn assert_watchdog(stop: BugCheck, limit: Duration) {
    let limit = limit.as_millis() as usize;
    assert_eq!(stop.code, DPC_WATCHDOG_VIOLATION, "got {stop}");
    assert_eq!(stop.params[0], 1, "cumulative time at DISPATCH_LEVEL");
    assert!(
        stop.params[1] > limit,
        "elapsed {} ms, limit {limit} ms",
        stop.params[1]
    );
    assert_eq!(stop.params[2], limit);
    assert_eq!(irql(), PASSIVE_LEVEL);
}

#[test]
fn watchdog_stops_a_writer_spinning_inside_the_lock() {
    let _m = machine();
    sim::run_on(1, || {
        let lock = alloc();
        let start = Instant::now();
        let stop = sim::with_watchdog(WATCHDOG, || {
            expect_bug_check(|| {
                let mut state = LockStateEx::default();
                write(lock, &mut state, 0);
                while start.elapsed() < PATIENCE {
                    K::spin_hint();
                }
                release(lock, &mut state);
            })
        });
        assert_watchdog(stop, WATCHDOG);
        // The watchdog fired in the spin, with the lock still held.
        let d = diag(lock);
        assert_eq!((d.writer, d.write_depth), (Some(1), 1));
        // The lock stays held by the stopped holder: leak it.
    });
}

#[test]
fn watchdog_stops_a_writer_that_slept_when_it_releases() {
    let _m = machine();
    sim::run_on(2, || {
        let lock = alloc();
        // The watchdog reads a clock that a thread advances every millisecond; on a loaded
        // host it may lag, so a nap that went unnoticed is retried with a longer one.
        for attempt in 0..8 {
            let nap = Duration::from_millis(20 << attempt);
            let outcome = sim::with_watchdog(WATCHDOG, || {
                catch_bug_check(|| {
                    let mut state = LockStateEx::default();
                    write(lock, &mut state, 0);
                    thread::sleep(nap);
                    release(lock, &mut state);
                })
            });
            if let Err(stop) = outcome {
                assert_watchdog(stop, WATCHDOG);
                // It fired when the release lowered the IRQL: the lock was already free.
                assert_free(lock);
                free(lock);
                return;
            }
            assert_free(lock);
        }
        panic!("the DPC watchdog never fired");
    });
}

#[test]
fn watchdog_stops_waiters_behind_a_long_writer() {
    let _m = machine_alone();
    let lock = alloc() as usize;
    let (stopped_tx, stopped_rx) = mpsc::channel::<BugCheck>();
    let waiters: [(u32, Acquire); 2] = [(1, read), (2, write)];
    let mut held = Vec::new();
    thread::scope(|s| {
        for (p, acquire) in waiters {
            let (held_tx, held_rx) = mpsc::channel::<()>();
            held.push(held_tx);
            let stopped_tx = stopped_tx.clone();
            s.spawn(move || {
                sim::run_on(p, || {
                    held_rx.recv().expect("the writer holds");
                    let stop = sim::with_watchdog(WATCHDOG, || {
                        expect_bug_check(|| {
                            let mut state = LockStateEx::default();
                            acquire(lock as Lock, &mut state, 0);
                            release(lock as Lock, &mut state);
                        })
                    });
                    assert_watchdog(stop, WATCHDOG);
                    stopped_tx.send(stop).expect("the writer waits");
                });
            });
        }
        s.spawn(move || {
            sim::run_on(0, || {
                let mut state = LockStateEx::default();
                write(lock as Lock, &mut state, 0);
                for held_tx in held {
                    held_tx.send(()).expect("the waiter waits");
                }
                // Hold until both waiters were stopped (or give up: then a waiter gets in,
                // returns without a bug check, and the test fails).
                for _ in 0..2 {
                    if let Ok(stop) = stopped_rx.recv_timeout(PATIENCE) {
                        assert_eq!(stop.code, DPC_WATCHDOG_VIOLATION);
                    }
                }
                let d = diag(lock as Lock);
                assert_eq!(
                    (d.readers, d.writer),
                    (0, Some(0)),
                    "the waiters left no trace"
                );
                release(lock as Lock, &mut state);
            });
        });
    });
    assert_free(lock as Lock);
    free(lock as Lock);
}
