//! The allocated push-lock reader/writer lock (`NdisRwl*PushLock*`) on the simulated kernel.
#![cfg(not(loom))]

use std::mem::{align_of, offset_of, size_of};
use std::ptr;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use ndis_rwlock::bugcheck::{self, rw, verifier};
use ndis_rwlock::kernel::{APC_LEVEL, DISPATCH_LEVEL, DispatchGuard, ExPushLock, Kernel};
use ndis_rwlock::sim::pushlock::{self, LOCKED, parked_threads, shared_count};
use ndis_rwlock::sim::{self, BugCheck, Sim, catch_bug_check};
use ndis_rwlock::storage::pushrw::{
    self, PushRwLock, PushRwLockState, STATE_NONE, STATE_READ, STATE_WRITE,
};

const STUCK: Duration = Duration::from_secs(120);

fn boot() {
    sim::boot(8);
}

/// A lock pointer that may cross threads (the lock itself is thread-safe).
#[derive(Clone, Copy)]
struct Shared(*mut PushRwLock);
// SAFETY: the lock is built for concurrent use from any thread; the pointer stays valid until
// the test frees it after joining every thread.
unsafe impl Send for Shared {}

fn allocate() -> *mut PushRwLock {
    let lock = pushrw::allocate::<Sim>();
    assert!(!lock.is_null());
    lock
}

fn read(lock: *mut PushRwLock, state: &mut PushRwLockState) {
    // SAFETY: a live lock and a state on the caller's stack.
    unsafe { pushrw::acquire_read::<Sim>(lock, state, 0) }
}

fn write(lock: *mut PushRwLock, state: &mut PushRwLockState) {
    // SAFETY: a live lock and a state on the caller's stack.
    unsafe { pushrw::acquire_write::<Sim>(lock, state, 0) }
}

fn release(lock: *mut PushRwLock, state: &mut PushRwLockState) {
    // SAFETY: a live lock; the state records this thread's acquisition (checked by the lock).
    unsafe { pushrw::release::<Sim>(lock, state) }
}

fn free(lock: *mut PushRwLock) {
    // SAFETY: allocated by `allocate`, freed once, after every user is done.
    unsafe { pushrw::free::<Sim>(lock) }
}

/// The push lock inside the allocation.
fn raw<'a>(lock: *mut PushRwLock) -> &'a ExPushLock {
    // SAFETY: the tests only pass live locks.
    unsafe { &*lock }.as_raw()
}

fn word(lock: *mut PushRwLock) -> usize {
    pushlock::word(raw(lock))
}

fn expect_stop(f: impl FnOnce()) -> BugCheck {
    catch_bug_check(f).expect_err("expected a bug check, but the call returned")
}

fn assert_rw(stop: BugCheck, params: [usize; 4]) {
    assert_eq!(stop.code, bugcheck::NDIS_RWLOCK_VIOLATION, "{stop}");
    assert_eq!(stop.params, params, "{stop}");
}

#[test]
fn state_layout_matches_the_header() {
    assert_eq!(size_of::<PushRwLockState>(), 2 * size_of::<usize>());
    assert_eq!(align_of::<PushRwLockState>(), align_of::<usize>());
    assert_eq!(offset_of!(PushRwLockState, lock), 0);
    assert_eq!(offset_of!(PushRwLockState, mode), size_of::<usize>());
    assert_eq!(
        offset_of!(PushRwLockState, reserved),
        size_of::<usize>() + 4
    );
    assert_eq!(
        (STATE_NONE, STATE_READ, STATE_WRITE),
        (0, 1, 2),
        "values documented in include/ndis_rwlock.h"
    );
}

#[test]
fn acquire_records_the_state_and_release_clears_it() {
    boot();
    let lock = allocate();
    assert_eq!(word(lock), 0);
    let mut state = PushRwLockState::default();
    assert_eq!(sim::critical_region_depth(), 0);

    write(lock, &mut state);
    assert_eq!((state.lock, state.mode), (lock, STATE_WRITE));
    assert_eq!(word(lock), LOCKED);
    // The lock entered a critical region for the caller.
    assert_eq!(sim::critical_region_depth(), 1);
    release(lock, &mut state);
    assert_eq!((state.lock, state.mode), (ptr::null_mut(), STATE_NONE));
    assert_eq!(sim::critical_region_depth(), 0);
    assert_eq!(word(lock), 0);

    let mut a = PushRwLockState::default();
    read(lock, &mut a);
    assert_eq!(a.mode, STATE_READ);
    // A second reader, on another thread (a thread must not hold the lock shared twice).
    let shared = lock as usize;
    std::thread::spawn(move || {
        let lock = shared as *mut PushRwLock;
        let mut b = PushRwLockState::default();
        read(lock, &mut b);
        assert_eq!(b.mode, STATE_READ);
        assert_eq!(shared_count(word(lock)), 2);
        release(lock, &mut b);
    })
    .join()
    .unwrap();
    release(lock, &mut a);
    assert_eq!(word(lock), 0);
    assert_eq!(sim::critical_region_depth(), 0);
    free(lock);
}

#[test]
fn works_at_apc_level() {
    boot();
    let lock = allocate();
    // SAFETY: raising from PASSIVE_LEVEL.
    let old = unsafe { Sim::raise_irql(APC_LEVEL) };
    let mut state = PushRwLockState::default();
    write(lock, &mut state);
    release(lock, &mut state);
    // SAFETY: back to the IRQL we raised from.
    unsafe { Sim::lower_irql(old) };
    free(lock);
}

#[test]
fn the_c_exports_run_the_same_lock() {
    boot();
    let lock = ndis_rwlock::ffi::pushrw::NdisRwlAllocatePushLock(ptr::null_mut());
    assert!(!lock.is_null());
    let mut state = PushRwLockState::default();
    // SAFETY: a live lock and a state on this stack, used as the header documents.
    unsafe {
        ndis_rwlock::ffi::pushrw::NdisRwlAcquirePushLockWrite(lock, &mut state, 0);
    }
    assert_eq!(state.mode, STATE_WRITE);
    // SAFETY: releases the acquisition just made.
    unsafe { ndis_rwlock::ffi::pushrw::NdisRwlReleasePushLock(lock, &mut state) };
    // SAFETY: as above, shared this time.
    unsafe { ndis_rwlock::ffi::pushrw::NdisRwlAcquirePushLockRead(lock, &mut state, 0) };
    assert_eq!(state.mode, STATE_READ);
    // SAFETY: releases the acquisition just made.
    unsafe { ndis_rwlock::ffi::pushrw::NdisRwlReleasePushLock(lock, &mut state) };
    // SAFETY: allocated above, unused from now on.
    unsafe { ndis_rwlock::ffi::pushrw::NdisRwlFreePushLock(lock) };
}

#[test]
fn excludes_writers_and_readers_across_eight_threads() {
    boot();
    const THREADS: usize = 8;
    const ROUNDS: usize = 3_000;
    let lock = Shared(allocate());
    let data = Shared(Box::into_raw(Box::new([0u64; 2])).cast());
    let start = Arc::new(Barrier::new(THREADS));
    let (tx, rx) = mpsc::channel();
    for t in 0..THREADS {
        let (start, tx) = (start.clone(), tx.clone());
        thread::spawn(move || {
            let (lock, data) = (lock, data);
            let pair = data.0.cast::<[u64; 2]>();
            start.wait();
            let mut writes = 0u64;
            for i in 0..ROUNDS {
                let mut state = PushRwLockState::default();
                if (i + t) % 4 == 0 {
                    write(lock.0, &mut state);
                    // SAFETY: the write hold excludes every other access to the pair.
                    unsafe { (*pair)[0] += 1 };
                    thread::yield_now();
                    // SAFETY: as above.
                    unsafe { (*pair)[1] += 1 };
                    writes += 1;
                } else {
                    read(lock.0, &mut state);
                    // SAFETY: the read hold excludes writers.
                    let [a, b] = unsafe { *pair };
                    assert_eq!(a, b, "a reader saw a half-done write");
                }
                release(lock.0, &mut state);
            }
            tx.send((writes, pushlock::thread_sleeps())).unwrap();
        });
    }
    drop(tx);
    let (mut writes, mut sleeps) = (0, 0);
    for _ in 0..THREADS {
        let (w, s) = rx
            .recv_timeout(STUCK)
            .expect("a thread never finished: lost wake-up or deadlock");
        writes += w;
        sleeps += s;
    }
    assert!(
        sleeps > 0,
        "no thread ever slept: no contention was exercised"
    );
    // SAFETY: every thread is done; the pair came from Box::into_raw above.
    let pair = unsafe { Box::from_raw(data.0.cast::<[u64; 2]>()) };
    assert_eq!(*pair, [writes, writes]);
    assert_eq!(word(lock.0), 0);
    free(lock.0);
}

// ---------------------------------------------------------------------------------------------
// Misuse.

#[test]
fn null_pointers_stop() {
    boot();
    let lock = allocate();
    let mut state = PushRwLockState::default();
    let state_ptr: *mut PushRwLockState = &mut state;
    let stop = expect_stop(|| {
        // SAFETY: NULL is the misuse under test; it is checked before any access.
        unsafe { pushrw::acquire_read::<Sim>(ptr::null_mut(), state_ptr, 0) }
    });
    assert_rw(stop, [rw::NULL_LOCK, state_ptr as usize, 0, 0]);
    let stop = expect_stop(|| {
        // SAFETY: as above.
        unsafe { pushrw::acquire_write::<Sim>(lock, ptr::null_mut(), 0) }
    });
    assert_rw(stop, [rw::NULL_LOCK_STATE, lock as usize, 0, 0]);
    let stop = expect_stop(|| {
        // SAFETY: as above.
        unsafe { pushrw::release::<Sim>(lock, ptr::null_mut()) }
    });
    assert_rw(stop, [rw::NULL_LOCK_STATE, lock as usize, 0, 0]);
    let stop = expect_stop(|| {
        // SAFETY: as above.
        unsafe { pushrw::free::<Sim>(ptr::null_mut()) }
    });
    assert_rw(stop, [rw::NULL_LOCK, 0, 0, 0]);
    assert_eq!(word(lock), 0);
    free(lock);
}

#[test]
fn undefined_flags_stop() {
    boot();
    let lock = allocate();
    for write in [false, true] {
        let stop = expect_stop(|| {
            let mut state = PushRwLockState::default();
            if write {
                // SAFETY: a live lock and state; the flags are the misuse under test.
                unsafe { pushrw::acquire_write::<Sim>(lock, &mut state, 1) };
            } else {
                // SAFETY: as above.
                unsafe { pushrw::acquire_read::<Sim>(lock, &mut state, 1) };
            }
        });
        assert_rw(stop, [rw::UNDEFINED_FLAGS, 1, lock as usize, 0]);
    }
    assert_eq!(word(lock), 0);
    free(lock);
}

#[test]
fn acquire_at_dispatch_level_stops_0xc4_0x3b() {
    boot();
    let lock = allocate();
    let stop = expect_stop(|| {
        let _dispatch = DispatchGuard::<Sim>::raise();
        let mut state = PushRwLockState::default();
        read(lock, &mut state);
    });
    assert_eq!(stop.code, bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION);
    assert_eq!(
        stop.params,
        [
            verifier::WAIT_AT_DISPATCH,
            usize::from(DISPATCH_LEVEL),
            lock as usize,
            0
        ]
    );
    free(lock);
}

#[test]
fn release_above_apc_level_stops() {
    boot();
    let lock = allocate();
    let stop = expect_stop(|| {
        let mut state = PushRwLockState::default();
        write(lock, &mut state);
        let _dispatch = DispatchGuard::<Sim>::raise();
        release(lock, &mut state);
    });
    assert_rw(
        stop,
        [
            rw::PUSH_LOCK_RELEASE_ABOVE_APC,
            usize::from(DISPATCH_LEVEL),
            lock as usize,
            0,
        ],
    );
}

#[test]
fn a_state_that_records_no_live_acquisition_stops() {
    boot();
    let lock = allocate();
    let other = allocate();

    // Never acquired.
    let stop = expect_stop(|| release(lock, &mut PushRwLockState::default()));
    assert_rw(stop, [rw::PUSH_LOCK_BAD_STATE, lock as usize, 0, 0]);

    // Released twice with the same state.
    let stop = expect_stop(|| {
        let mut state = PushRwLockState::default();
        read(lock, &mut state);
        release(lock, &mut state);
        release(lock, &mut state);
    });
    assert_rw(stop, [rw::PUSH_LOCK_BAD_STATE, lock as usize, 0, 0]);
    assert_eq!(word(lock), 0);

    // The state of another lock.
    let stop = expect_stop(|| {
        let mut state = PushRwLockState::default();
        write(other, &mut state);
        release(lock, &mut state);
    });
    assert_rw(
        stop,
        [
            rw::PUSH_LOCK_BAD_STATE,
            lock as usize,
            other as usize,
            STATE_WRITE as usize,
        ],
    );
    assert_eq!(word(lock), 0);

    // A mode that is not one.
    let stop = expect_stop(|| {
        let mut state = PushRwLockState::default();
        read(lock, &mut state);
        state.mode = 7;
        release(lock, &mut state);
    });
    assert_rw(
        stop,
        [rw::PUSH_LOCK_BAD_STATE, lock as usize, lock as usize, 7],
    );
}

#[test]
fn free_of_a_lock_in_use_stops() {
    boot();
    let lock = Shared(allocate());
    let mut state = PushRwLockState::default();
    write(lock.0, &mut state);
    let stop = expect_stop(|| free(lock.0));
    assert_rw(stop, [rw::PUSH_LOCK_FREE_IN_USE, lock.0 as usize, 1, 0]);
    // The bug check reset this thread; a waiter still counts as a user.
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let lock = lock;
        let mut state = PushRwLockState::default();
        read(lock.0, &mut state);
        tx.send(()).unwrap();
    });
    while parked_threads(raw(lock.0)) == 0 {
        thread::sleep(Duration::from_millis(1));
    }
    let stop = expect_stop(|| free(lock.0));
    assert_rw(stop, [rw::PUSH_LOCK_FREE_IN_USE, lock.0 as usize, 2, 0]);
    // The writer's hold is left as the first bug check found it, so the waiter sleeps for
    // good: leave both to the end of the process.
    drop(waiter);
    assert!(rx.try_recv().is_err());
}

#[test]
fn recursive_write_stops_through_the_push_lock() {
    boot();
    let lock = Shared(allocate());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let lock = lock;
        let stop = catch_bug_check(|| {
            let (mut a, mut b) = (PushRwLockState::default(), PushRwLockState::default());
            write(lock.0, &mut a);
            write(lock.0, &mut b);
        });
        tx.send(stop).unwrap();
    });
    let stop = rx
        .recv_timeout(STUCK)
        .expect("the recursive write hung instead of bug-checking")
        .expect_err("the recursive write returned");
    assert_eq!(stop.code, bugcheck::NDIS_RWLOCK_VIOLATION);
    assert_eq!(stop.params[0], rw::PUSH_LOCK_RECURSIVE_EXCLUSIVE);
    assert_eq!(stop.params[1], lock.0 as usize);
}

#[test]
fn a_freed_lock_is_not_a_lock_to_any_call() {
    boot();
    let lock = allocate();
    free(lock);
    // The quarantine keeps the block mapped and poisoned; the free left its signature behind
    // it, and the pool's poison replaced that.
    let poison = u32::from_ne_bytes([ndis_rwlock::sim::pool::FREED_POISON; 4]) as usize;
    let mut state = PushRwLockState::default();
    let stop = expect_stop(|| read(lock, &mut state));
    assert_rw(stop, [rw::NOT_A_LOCK, lock as usize, poison, 0]);
    let stop = expect_stop(|| write(lock, &mut state));
    assert_rw(stop, [rw::NOT_A_LOCK, lock as usize, poison, 0]);
    let stop = expect_stop(|| release(lock, &mut state));
    assert_rw(stop, [rw::NOT_A_LOCK, lock as usize, poison, 0]);
    let stop = expect_stop(|| free(lock));
    assert_rw(stop, [rw::NOT_A_LOCK, lock as usize, poison, 0]);
    // Nothing was written to the freed block: the acquires stopped before counting a user.
    // SAFETY: the quarantined block stays mapped, and is only read.
    let bytes = unsafe { std::slice::from_raw_parts(lock.cast::<u8>(), size_of::<PushRwLock>()) };
    assert!(
        bytes
            .iter()
            .all(|&b| b == ndis_rwlock::sim::pool::FREED_POISON)
    );
}
