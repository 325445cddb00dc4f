//! `NDIS_SPIN_LOCK` (`RawNdisSpinLock`) and the safe `NdisSpinLock<T>`: mutual exclusion from
//! several threads at both IRQLs, IRQL save and restore, and every check stopping with its
//! documented code before it releases or lowers anything, whatever the guards' drop order,
//! `mem::forget` or panics do.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use ndis_rwlock::bugcheck::{self, rw, verifier};
use ndis_rwlock::kernel::{
    APC_LEVEL, AtDispatch, DISPATCH_LEVEL, DefaultKernel, DispatchGuard, HIGH_LEVEL, Irql, Kernel,
    PASSIVE_LEVEL,
};
use ndis_rwlock::sim::{self, BugCheck, expect_bug_check};
use ndis_rwlock::storage::spinlock::RawNdisSpinLock;
use ndis_rwlock::{NdisSpinLock, RwLockEx};

mod support;

use support::{lower, raise};

type K = DefaultKernel;

const PROCESSORS: u32 = 4;

fn machine() -> std::sync::RwLockReadGuard<'static, ()> {
    support::machine(PROCESSORS)
}

fn machine_alone() -> std::sync::RwLockWriteGuard<'static, ()> {
    support::machine_alone(PROCESSORS)
}

fn irql() -> Irql {
    K::current_irql()
}

fn address<T>(lock: &NdisSpinLock<T>) -> usize {
    lock.as_raw() as usize
}

fn assert_c4(stop: BugCheck, subcode: usize, irql: Irql, lock: usize) {
    assert_eq!(
        stop,
        BugCheck {
            code: bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            params: [subcode, usize::from(irql), lock, 0],
        }
    );
}

// ---- Layout and behaviour -------------------------------------------------------------------

#[test]
fn the_raw_lock_has_ndis_h_layout() {
    assert_eq!(
        std::mem::size_of::<RawNdisSpinLock>(),
        2 * std::mem::size_of::<usize>()
    );
    assert_eq!(
        std::mem::align_of::<RawNdisSpinLock>(),
        std::mem::align_of::<usize>()
    );
}

#[test]
fn lock_raises_to_dispatch_and_the_guard_restores_the_irql() {
    let _m = machine();
    let lock = NdisSpinLock::new(5u32);
    for start in [PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL] {
        let old = raise(start);
        {
            let mut guard = lock.lock();
            assert_eq!(irql(), DISPATCH_LEVEL);
            assert_eq!(lock.holder(), Some(K::current_processor()));
            *guard += 1;
        }
        assert_eq!(irql(), start);
        assert_eq!(lock.holder(), None);
        lower(old);
    }
    assert_eq!(lock.into_inner(), 8);
}

#[test]
fn lock_at_dispatch_stays_at_dispatch() {
    let _m = machine();
    let lock = NdisSpinLock::new(Vec::new());
    let raised = DispatchGuard::<K>::raise();
    lock.lock_at_dispatch(raised.token()).push(1);
    assert_eq!(irql(), DISPATCH_LEVEL);
    drop(raised);
    assert_eq!(irql(), PASSIVE_LEVEL);
    assert_eq!(*lock.lock(), [1]);
}

#[test]
fn threads_at_both_irqls_exclude_each_other() {
    let _m = machine();
    const THREADS: usize = 8;
    const ROUNDS: usize = 5_000;
    let lock = Arc::new(NdisSpinLock::new((0usize, 0usize)));
    let inside = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (lock, inside) = (lock.clone(), inside.clone());
            thread::spawn(move || {
                for i in 0..ROUNDS {
                    let check = |pair: &mut (usize, usize)| {
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        assert_eq!(pair.0, pair.1, "torn update");
                        pair.0 += 1;
                        std::hint::spin_loop();
                        pair.1 += 1;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    };
                    if (t + i) % 2 == 0 {
                        check(&mut lock.lock());
                    } else {
                        let raised = DispatchGuard::<K>::raise();
                        check(&mut lock.lock_at_dispatch(raised.token()));
                    }
                    assert_eq!(irql(), PASSIVE_LEVEL);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
    assert_eq!(*lock.lock(), (THREADS * ROUNDS, THREADS * ROUNDS));
}

#[test]
fn a_panic_under_the_guard_releases_and_restores() {
    let _m = machine();
    let lock = NdisSpinLock::new(0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _guard = lock.lock();
        panic!("a driver bug");
    }));
    assert!(result.is_err());
    assert_eq!(irql(), PASSIVE_LEVEL);
    assert_eq!(lock.holder(), None);
    *lock.lock() += 1;
}

// ---- The checks -----------------------------------------------------------------------------

fn assert_ndrl(stop: BugCheck, params: [usize; 4]) {
    assert_eq!(
        stop,
        BugCheck {
            code: bugcheck::NDIS_RWLOCK_VIOLATION,
            params,
        }
    );
}

/// A lock a caught stop left held: dropping it would stop the machine (0x0A), as it should.
fn abandon<T>(lock: NdisSpinLock<T>) {
    assert!(lock.holder().is_some());
    std::mem::forget(lock);
}

#[test]
fn lock_above_dispatch_stops_and_takes_nothing() {
    let _m = machine();
    let lock = NdisSpinLock::new(0);
    let stop = expect_bug_check(|| {
        raise(HIGH_LEVEL);
        let _guard = lock.lock();
    });
    assert_ndrl(
        stop,
        [
            rw::ACQUIRE_ABOVE_DISPATCH,
            usize::from(HIGH_LEVEL),
            address(&lock),
            0,
        ],
    );
    assert_eq!(lock.holder(), None);
}

#[test]
fn lock_at_dispatch_checks_the_irql_instead_of_trusting_the_token() {
    let _m = machine();
    let lock = NdisSpinLock::new(0);
    // A token obtained by lying about the IRQL: the acquire still reads it.
    // SAFETY: deliberately false, to show that the lock does not rely on it.
    let token = unsafe { AtDispatch::<K>::assume() };
    let stop = expect_bug_check(|| drop(lock.lock_at_dispatch(&token)));
    assert_ndrl(
        stop,
        [rw::AT_DISPATCH_FLAG_BELOW_DISPATCH, 0, address(&lock), 0],
    );
    let stop = expect_bug_check(|| {
        raise(HIGH_LEVEL);
        drop(lock.lock_at_dispatch(&token));
    });
    assert_ndrl(
        stop,
        [
            rw::ACQUIRE_ABOVE_DISPATCH,
            usize::from(HIGH_LEVEL),
            address(&lock),
            0,
        ],
    );
    assert_eq!(lock.holder(), None);
}

#[test]
fn the_raw_lock_checks_the_irql_of_acquires_with_the_verifier_codes() {
    let _m = machine();
    let raw = RawNdisSpinLock::<K>::new();
    let at = raw.as_ptr() as usize;
    let stop = expect_bug_check(|| {
        raise(HIGH_LEVEL);
        raw.acquire();
    });
    assert_c4(
        stop,
        verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH,
        HIGH_LEVEL,
        at,
    );
    let stop = expect_bug_check(|| raw.dpr_acquire());
    assert_c4(
        stop,
        verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH,
        PASSIVE_LEVEL,
        at,
    );
    assert_eq!(raw.holder(), None);
}

#[test]
fn release_of_a_lock_nobody_holds_stops_with_0x10() {
    let _m = machine();
    let raw = RawNdisSpinLock::<K>::new();
    let stop = expect_bug_check(|| {
        raise(DISPATCH_LEVEL);
        // SAFETY: nobody holds the lock: the misuse under test, which stops first.
        unsafe { raw.dpr_release() };
    });
    assert_eq!(stop.code, bugcheck::SPIN_LOCK_NOT_OWNED);
    assert_eq!(stop.params[..2], [raw.as_ptr() as usize, 0]);
}

#[test]
fn the_raw_release_checks_the_irql_before_it_releases() {
    let _m = machine();
    let raw = RawNdisSpinLock::<K>::new();
    let at = raw.as_ptr() as usize;
    let stop = expect_bug_check(|| {
        raw.acquire();
        lower(PASSIVE_LEVEL);
        // SAFETY: acquired above; the IRQL is wrong on purpose, which stops first.
        unsafe { raw.release() };
    });
    assert_c4(
        stop,
        verifier::RELEASE_SPIN_LOCK_BAD_IRQL,
        PASSIVE_LEVEL,
        at,
    );
    assert_eq!(
        raw.holder(),
        Some(K::current_processor()),
        "nothing was released"
    );
    let raw = RawNdisSpinLock::<K>::new();
    let at = raw.as_ptr() as usize;
    let stop = expect_bug_check(|| {
        // SAFETY: nobody holds it; the IRQL check comes first.
        unsafe { raw.dpr_release() };
    });
    assert_c4(
        stop,
        verifier::RELEASE_FROM_DPC_BELOW_DISPATCH,
        PASSIVE_LEVEL,
        at,
    );
}

#[test]
fn a_corrupted_old_irql_stops_instead_of_raising_on_release() {
    let _m = machine();
    let raw = RawNdisSpinLock::<K>::new();
    let stop = expect_bug_check(|| {
        raw.acquire();
        // What C code that scribbles over `NDIS_SPIN_LOCK::OldIrql` does.
        let old_irql = raw
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(std::mem::size_of::<usize>());
        // SAFETY: OldIrql is the byte after the KSPIN_LOCK, owned by the holder (this thread).
        unsafe { old_irql.write(HIGH_LEVEL) };
        // SAFETY: acquired above; the saved IRQL is what is wrong, which stops first.
        unsafe { raw.release() };
    });
    assert_c4(
        stop,
        verifier::LOWER_TO_HIGHER,
        DISPATCH_LEVEL,
        usize::from(HIGH_LEVEL),
    );
    assert!(raw.holder().is_some(), "nothing was released");
}

#[test]
fn release_on_another_processor_stops_and_leaves_the_lock_to_its_holder() {
    let _m = machine_alone();
    let raw = Arc::new(RawNdisSpinLock::<K>::new());
    let held = Arc::new(Barrier::new(2));
    let done = Arc::new(AtomicBool::new(false));
    let holder = {
        let (raw, held, done) = (raw.clone(), held.clone(), done.clone());
        thread::spawn(move || {
            sim::run_on(1, || {
                raw.acquire();
                held.wait();
                while !done.load(Ordering::SeqCst) {
                    K::spin_hint();
                }
                // SAFETY: this thread acquired it above.
                unsafe { raw.release() };
            });
        })
    };
    held.wait();
    let stop = sim::run_on(2, || {
        expect_bug_check(|| {
            raise(DISPATCH_LEVEL);
            // SAFETY: held by the other thread: the misuse under test, which stops first.
            unsafe { raw.release() };
        })
    });
    assert_ndrl(
        stop,
        [rw::RELEASE_ON_OTHER_PROCESSOR, 2, raw.as_ptr() as usize, 1],
    );
    assert_eq!(raw.holder(), Some(1), "the holder keeps the lock");
    done.store(true, Ordering::SeqCst);
    holder.join().expect("the holder releases normally");
    assert_eq!(raw.holder(), None);
}

#[test]
fn guards_of_different_locks_drop_in_any_order() {
    let _m = machine();
    let outer = RwLockEx::new(0u32).expect("pool");
    let lock = NdisSpinLock::new(0);
    let raised = DispatchGuard::<K>::raise();
    let outer_guard = outer.write();
    let mut guard = lock.lock();
    let mut at_dispatch = NdisSpinLock::new(0);
    let dpr = at_dispatch.lock_at_dispatch(raised.token());
    drop(outer_guard);
    drop(dpr);
    drop(raised);
    assert_eq!(
        irql(),
        DISPATCH_LEVEL,
        "a guard still lives: the processor stays raised"
    );
    *guard += 1;
    drop(guard);
    assert_eq!(
        irql(),
        PASSIVE_LEVEL,
        "the last guard lowers, to where the first came from"
    );
    assert_eq!(*lock.lock(), 1);
    assert_eq!(*at_dispatch.get_mut(), 0);
}

#[test]
fn a_guard_never_lowers_from_above_dispatch() {
    let _m = machine();
    let lock = NdisSpinLock::new(0);
    let stop = expect_bug_check(|| {
        let guard = lock.lock();
        raise(HIGH_LEVEL);
        drop(guard);
    });
    assert_ndrl(
        stop,
        [
            rw::RELEASE_NOT_AT_DISPATCH,
            usize::from(HIGH_LEVEL),
            address(&lock),
            0,
        ],
    );
    abandon(lock);
}

#[test]
fn a_guard_whose_irql_was_lowered_under_it_stops_instead_of_releasing() {
    let _m = machine();
    let lock = NdisSpinLock::new(0);
    let stop = expect_bug_check(|| {
        let guard = lock.lock();
        lower(PASSIVE_LEVEL); // what only C or unsafe code can do
        drop(guard);
    });
    assert_ndrl(stop, [rw::RELEASE_NOT_AT_DISPATCH, 0, address(&lock), 0]);
    abandon(lock);
}

#[test]
fn a_forgotten_guard_then_a_second_lock_by_its_processor_stops_with_0x0f() {
    let _m = machine();
    let lock = NdisSpinLock::new(0);
    let stop = expect_bug_check(|| {
        std::mem::forget(lock.lock());
        let me = K::current_processor();
        let _second = lock.lock();
        unreachable!("processor {me} acquired its own lock again");
    });
    assert_eq!(stop.code, bugcheck::SPIN_LOCK_ALREADY_OWNED);
    assert_eq!(stop.params[0], address(&lock));
    abandon(lock);
}

#[test]
fn dropping_a_held_lock_stops_with_0x0a() {
    let _m = machine();
    let stop = expect_bug_check(|| {
        let lock = Box::new(NdisSpinLock::new(0)); // on the heap: its address stays
        std::mem::forget(lock.lock());
        let (at, me) = (address(&lock), K::current_processor());
        let stop = expect_bug_check(move || drop(lock));
        assert_ndrl(stop, [rw::FREE_HELD_LOCK, at, 0, me as usize + 1]);
        K::bug_check(0xE2, [0; 4]); // the forgotten guard's processor is still raised
    });
    assert_eq!(stop.code, 0xE2);
}
