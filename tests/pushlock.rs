//! Push locks on the simulated kernel: exclusion, shared owners, waiting and waking, the lock
//! word's invariants, and every misuse the simulated verifier stops.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use ndis_rwlock::bugcheck::{self, rw, verifier};
use ndis_rwlock::kernel::{
    APC_LEVEL, DISPATCH_LEVEL, DispatchGuard, EX_DEFAULT_PUSH_LOCK_FLAGS, ExPushLock, HIGH_LEVEL,
    Kernel, PASSIVE_LEVEL,
};
use ndis_rwlock::sim::pushlock::{
    self, LOCKED, MULTIPLE_SHARED, WAITING, WAKING, parked_threads, shared_count, violation,
};
use ndis_rwlock::sim::{self, BugCheck, Sim, catch_bug_check};
use ndis_rwlock::{CriticalRegion, PushLock};

const F: u32 = EX_DEFAULT_PUSH_LOCK_FLAGS;

/// How long a test waits for a thread that should make progress before calling it stuck.
/// Only a lost wake-up or a deadlock comes near it; it measures no speed.
const STUCK: Duration = Duration::from_secs(120);

fn boot() {
    sim::boot(8);
}

fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(STUCK)
        .unwrap_or_else(|_| panic!("no progress: {what} (lost wake-up or deadlock)"))
}

/// Waits until `n` threads sleep in `lock`'s wait queue.
fn wait_parked(lock: &ExPushLock, n: usize) {
    let start = std::time::Instant::now();
    while parked_threads(lock) < n {
        assert!(
            start.elapsed() < STUCK,
            "threads never went to sleep on the lock"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

fn addr(lock: &ExPushLock) -> usize {
    lock.as_ptr() as usize
}

fn expect_stop(f: impl FnOnce()) -> BugCheck {
    catch_bug_check(f).expect_err("expected a bug check, but the call returned")
}

fn assert_rw(stop: BugCheck, subcode: usize, lock: &ExPushLock) {
    assert_eq!(stop.code, bugcheck::NDIS_RWLOCK_VIOLATION, "{stop}");
    assert_eq!(stop.params[0], subcode, "{stop}");
    assert_eq!(stop.params[1], addr(lock), "{stop}");
}

/// Runs `f`, which must bug-check, on a thread of its own: a misuse that the simulation failed
/// to stop would hang there, and the test fails instead of hanging with it.
fn stop_on_thread(f: impl FnOnce() + Send + 'static) -> BugCheck {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(catch_bug_check(f)).unwrap());
    recv(&rx, "the misuse hung instead of bug-checking")
        .expect_err("expected a bug check, but the call returned")
}

/// A lock that outlives the test: for scenarios that leave a thread asleep on it for good.
fn leaked_lock() -> &'static ExPushLock {
    Box::leak(Box::new(ExPushLock::new()))
}

// ---------------------------------------------------------------------------------------------
// Behaviour.

static STATIC_LOCK: PushLock<u32> = PushLock::new(7);

#[test]
fn new_is_const_and_the_word_starts_free() {
    boot();
    assert_eq!(pushlock::word(STATIC_LOCK.as_raw()), 0);
    let region = CriticalRegion::enter();
    assert_eq!(*STATIC_LOCK.read(&region), 7);
    assert_eq!(
        std::mem::size_of::<ExPushLock>(),
        std::mem::size_of::<usize>()
    );
    assert_eq!(
        std::mem::align_of::<ExPushLock>(),
        std::mem::align_of::<usize>()
    );
}

#[test]
fn guards_give_access_and_release() {
    boot();
    let mut lock = PushLock::new(vec![1, 2]);
    {
        let region = CriticalRegion::enter();
        lock.write(&region).push(3);
        let a = lock.read(&region);
        assert_eq!(*a, [1, 2, 3]);
        assert_eq!(pushlock::word(lock.as_raw()), LOCKED | (1 << 4));
        drop(a);
        assert_eq!(pushlock::word(lock.as_raw()), 0);
        assert_eq!(sim::critical_region_depth(), 1);
    }
    assert_eq!(sim::critical_region_depth(), 0);
    lock.get_mut().push(4);
    assert_eq!(lock.into_inner(), [1, 2, 3, 4]);
}

#[test]
fn readers_share_the_lock() {
    boot();
    let lock = Arc::new(PushLock::new(5u32));
    let region = CriticalRegion::enter();
    let mine = lock.read(&region);
    let (tx, rx) = mpsc::channel();
    let other = {
        let lock = lock.clone();
        thread::spawn(move || {
            let region = CriticalRegion::enter();
            let guard = lock.read(&region);
            tx.send(shared_count(pushlock::word(lock.as_raw())))
                .unwrap();
            *guard
        })
    };
    assert_eq!(recv(&rx, "a second reader"), 2);
    assert_eq!(other.join().unwrap(), 5);
    assert_eq!(*mine, 5);
    drop(mine);
    assert_eq!(pushlock::word(lock.as_raw()), 0);
}

#[test]
fn shared_owners_drain_before_a_writer_enters() {
    boot();
    const READERS: usize = 4;
    let lock = Arc::new(PushLock::new(0u32));
    let writer_in = Arc::new(AtomicBool::new(false));
    let (held_tx, held_rx) = mpsc::channel();
    let mut release = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        release.push(go_tx);
        let lock = lock.clone();
        let held_tx = held_tx.clone();
        readers.push(thread::spawn(move || {
            let region = CriticalRegion::enter();
            let guard = lock.read(&region);
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            drop(guard);
        }));
    }
    for _ in 0..READERS {
        recv(&held_rx, "readers acquiring");
    }
    assert_eq!(shared_count(pushlock::word(lock.as_raw())), READERS);

    let writer = {
        let lock = lock.clone();
        let writer_in = writer_in.clone();
        thread::spawn(move || {
            let region = CriticalRegion::enter();
            let mut guard = lock.write(&region);
            writer_in.store(true, Ordering::SeqCst);
            *guard += 1;
        })
    };
    wait_parked(lock.as_raw(), 1);
    let word = pushlock::word(lock.as_raw());
    assert_eq!(word & (LOCKED | WAITING), LOCKED | WAITING);
    assert_ne!(word & MULTIPLE_SHARED, 0);

    for (i, (go, reader)) in release.into_iter().zip(readers).enumerate() {
        assert!(
            !writer_in.load(Ordering::SeqCst),
            "the writer entered with {} readers inside",
            READERS - i
        );
        go.send(()).unwrap();
        reader.join().unwrap();
    }
    writer.join().unwrap();
    assert!(writer_in.load(Ordering::SeqCst));
    assert_eq!(pushlock::word(lock.as_raw()), 0);
    let region = CriticalRegion::enter();
    assert_eq!(*lock.read(&region), 1);
}

#[test]
fn a_new_reader_queues_behind_a_waiting_writer() {
    boot();
    let lock = Arc::new(PushLock::new(()));
    let order = Arc::new(Mutex::new(Vec::new()));
    let region = CriticalRegion::enter();
    let first = lock.read(&region);

    let writer = {
        let (lock, order) = (lock.clone(), order.clone());
        thread::spawn(move || {
            let region = CriticalRegion::enter();
            let _guard = lock.write(&region);
            order.lock().unwrap().push("writer");
        })
    };
    wait_parked(lock.as_raw(), 1);
    let reader = {
        let (lock, order) = (lock.clone(), order.clone());
        thread::spawn(move || {
            let region = CriticalRegion::enter();
            let _guard = lock.read(&region);
            order.lock().unwrap().push("reader");
        })
    };
    // The lock is only held shared, yet the new reader sleeps: a writer waits before it.
    wait_parked(lock.as_raw(), 2);
    assert_eq!(shared_count(pushlock::word(lock.as_raw())), 1);
    drop(first);
    writer.join().unwrap();
    reader.join().unwrap();
    assert_eq!(*order.lock().unwrap(), ["writer", "reader"]);
    assert_eq!(pushlock::word(lock.as_raw()), 0);
}

#[test]
fn writers_exclude_each_other_and_readers_under_contention() {
    boot();
    const THREADS: usize = 8;
    const ROUNDS: usize = 2_000;
    let lock = Arc::new(PushLock::new((0u64, 0u64)));
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (lock, start) = (lock.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut writes = 0u64;
                for i in 0..ROUNDS {
                    let region = CriticalRegion::enter();
                    if (i + t) % 3 == 0 {
                        let mut g = lock.write(&region);
                        g.0 += 1;
                        thread::yield_now();
                        g.1 += 1;
                        writes += 1;
                    } else {
                        let g = lock.read(&region);
                        let (a, b) = *g;
                        thread::yield_now();
                        assert_eq!(a, b, "a reader saw a half-done write");
                        assert_eq!(*g, (a, b), "the data changed under a reader");
                    }
                }
                writes
            })
        })
        .collect();
    let writes: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let lock = Arc::into_inner(lock).unwrap();
    assert_eq!(lock.into_inner(), (writes, writes));
}

/// Eight threads hammer one lock with short and long holds in both modes while every word the
/// lock writes is audited. A lost wake-up leaves a thread asleep for good: the test then fails
/// with the lock's state instead of hanging.
#[test]
fn stress_eight_threads_every_word_valid_no_lost_wake_up() {
    boot();
    const THREADS: usize = 8;
    const ROUNDS: usize = 20_000;
    pushlock::set_word_audit(true);
    let (checked_before, _) = pushlock::word_audit();
    let lock = Arc::new(PushLock::new(0u64));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let (tx, rx) = mpsc::channel();
    for t in 0..THREADS {
        let (lock, done, start, tx) = (lock.clone(), done.clone(), start.clone(), tx.clone());
        thread::spawn(move || {
            start.wait();
            let mut writes = 0u64;
            for i in 0..ROUNDS {
                let region = CriticalRegion::enter();
                match (i * 7 + t) % 8 {
                    0 | 1 => {
                        *lock.write(&region) += 1;
                        writes += 1;
                    }
                    2 => {
                        let mut g = lock.write(&region);
                        thread::yield_now();
                        *g += 1;
                        writes += 1;
                    }
                    3 => {
                        let g = lock.read(&region);
                        let before = *g;
                        thread::yield_now();
                        assert_eq!(*g, before);
                    }
                    _ => {
                        let _ = *lock.read(&region);
                    }
                }
            }
            done.fetch_add(1, Ordering::SeqCst);
            tx.send((writes, pushlock::thread_sleeps())).unwrap();
        });
    }
    drop(tx);
    let (mut writes, mut sleeps) = (0, 0);
    for _ in 0..THREADS {
        match rx.recv_timeout(STUCK) {
            Ok((w, s)) => {
                writes += w;
                sleeps += s;
            }
            Err(_) => panic!(
                "lost wake-up: {} of {THREADS} threads finished; word {:#x}, {} asleep",
                done.load(Ordering::SeqCst),
                pushlock::word(lock.as_raw()),
                parked_threads(lock.as_raw())
            ),
        }
    }
    assert_eq!(pushlock::word(lock.as_raw()), 0);
    let region = CriticalRegion::enter();
    assert_eq!(*lock.read(&region), writes);
    assert!(
        sleeps > 0,
        "no thread ever slept: the wake-up path was not exercised"
    );
    eprintln!("stress: {writes} writes, {sleeps} sleeps");
    let (checked_after, violations) = pushlock::word_audit();
    assert_eq!(violations, 0, "a push-lock word broke an invariant");
    // Each acquire and each release writes the word at least once.
    let ops = (THREADS * ROUNDS * 2) as u64;
    assert!(
        checked_after - checked_before >= ops,
        "only {} words audited for {ops} operations",
        checked_after - checked_before
    );
}

#[test]
fn invariants_of_the_word() {
    let share = |n: usize| n << 4;
    for valid in [
        0,
        LOCKED,
        LOCKED | share(3),
        LOCKED | WAITING,
        LOCKED | WAITING | WAKING,
        WAITING,
        WAITING | WAKING,
        LOCKED | WAITING | share(1),
        LOCKED | WAITING | MULTIPLE_SHARED | share(2),
    ] {
        assert_eq!(violation(valid), None, "{valid:#x}");
    }
    for (invalid, broken) in [
        (WAKING, "Waking without Waiting"),
        (LOCKED | WAKING, "Waking without Waiting"),
        (
            LOCKED | MULTIPLE_SHARED | share(2),
            "MultipleShared without",
        ),
        (WAITING | MULTIPLE_SHARED, "MultipleShared without"),
        (share(1), "neither Locked nor Waiting"),
        (WAITING | share(1), "shared owners without Locked"),
        (LOCKED | WAITING | share(2), "MultipleShared disagrees"),
        (
            LOCKED | WAITING | MULTIPLE_SHARED | share(1),
            "MultipleShared disagrees",
        ),
    ] {
        let found = violation(invalid).unwrap_or_else(|| panic!("{invalid:#x} passed"));
        assert!(found.starts_with(broken), "{invalid:#x}: {found}");
    }
}

#[test]
fn release_at_dispatch_level_is_allowed() {
    boot();
    let lock = PushLock::new(1);
    let region = CriticalRegion::enter();
    let guard = lock.write(&region);
    let dispatch = DispatchGuard::<Sim>::raise();
    assert_eq!(Sim::current_irql(), DISPATCH_LEVEL);
    drop(guard);
    drop(dispatch);
    assert_eq!(pushlock::word(lock.as_raw()), 0);
}

#[test]
fn at_apc_level_no_critical_region_is_needed() {
    boot();
    let lock = ExPushLock::new();
    // SAFETY: raising from PASSIVE_LEVEL to APC_LEVEL.
    let old = unsafe { Sim::raise_irql(APC_LEVEL) };
    Sim::acquire_push_lock_exclusive(&lock, F);
    // SAFETY: held exclusively by this thread, at APC_LEVEL.
    unsafe { Sim::release_push_lock_exclusive(&lock, F) };
    Sim::acquire_push_lock_shared(&lock, F);
    // SAFETY: held shared by this thread, at APC_LEVEL.
    unsafe { Sim::release_push_lock_shared(&lock, F) };
    // SAFETY: back to the IRQL we raised from.
    unsafe { Sim::lower_irql(old) };
    assert_eq!(pushlock::word(&lock), 0);
}

#[test]
fn nested_shared_acquire_stops_even_without_waiters() {
    boot();
    let lock = ExPushLock::new();
    Sim::enter_critical_region();
    Sim::acquire_push_lock_shared(&lock, F);
    // No writer waits, so the second acquire would get in; on Windows it deadlocks as soon as
    // one queues between the two, so the simulated kernel stops at once.
    let stop = catch_bug_check(|| Sim::acquire_push_lock_shared(&lock, F))
        .expect_err("a nested shared acquire returned");
    assert_rw(stop, rw::PUSH_LOCK_RECURSIVE_SHARED, &lock);
    assert_eq!(stop.params[3], 1);
    assert_eq!(shared_count(pushlock::word(&lock)), 1);
}

#[test]
fn initialize_stores_a_free_lock() {
    boot();
    let lock = ExPushLock::new();
    // SAFETY: writing a stale value into an unused lock stands for uninitialised storage.
    unsafe { lock.as_ptr().write(0x5A5A) };
    // SAFETY: nobody holds or waits for the lock.
    unsafe { Sim::initialize_push_lock(&lock) };
    assert_eq!(pushlock::word(&lock), 0);
}

#[test]
fn an_ordinary_panic_releases_the_lock() {
    boot();
    let lock = PushLock::new(0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let region = CriticalRegion::enter();
        let _guard = lock.write(&region);
        panic!("a driver bug");
    }));
    assert!(result.is_err());
    assert_eq!(pushlock::word(lock.as_raw()), 0);
    assert_eq!(sim::critical_region_depth(), 0);
}

// ---------------------------------------------------------------------------------------------
// Misuse: each row of the push-lock table.

#[test]
fn flags_other_than_default_stop_0x152_on_every_routine() {
    boot();
    let check = |stop: BugCheck, lock: &ExPushLock| {
        assert_eq!(stop.code, bugcheck::INVALID_PUSH_LOCK_FLAGS, "{stop}");
        assert_eq!(stop.params[..2], [2, addr(lock)], "{stop}");
    };
    let lock = ExPushLock::new();
    check(
        expect_stop(|| {
            Sim::enter_critical_region();
            Sim::acquire_push_lock_exclusive(&lock, 2);
        }),
        &lock,
    );
    check(
        expect_stop(|| {
            Sim::enter_critical_region();
            Sim::acquire_push_lock_shared(&lock, 2);
        }),
        &lock,
    );
    let lock = ExPushLock::new();
    check(
        expect_stop(|| {
            Sim::enter_critical_region();
            Sim::acquire_push_lock_exclusive(&lock, F);
            // SAFETY: held exclusively; the flags are the misuse under test.
            unsafe { Sim::release_push_lock_exclusive(&lock, 2) };
        }),
        &lock,
    );
    let lock = ExPushLock::new();
    check(
        expect_stop(|| {
            Sim::enter_critical_region();
            Sim::acquire_push_lock_shared(&lock, F);
            // SAFETY: held shared; the flags are the misuse under test.
            unsafe { Sim::release_push_lock_shared(&lock, 2) };
        }),
        &lock,
    );
}

#[test]
fn acquire_at_dispatch_level_stops_0xc4_0x3b() {
    boot();
    let lock = ExPushLock::new();
    for exclusive in [true, false] {
        let stop = expect_stop(|| {
            Sim::enter_critical_region();
            let _dispatch = DispatchGuard::<Sim>::raise();
            if exclusive {
                Sim::acquire_push_lock_exclusive(&lock, F);
            } else {
                Sim::acquire_push_lock_shared(&lock, F);
            }
        });
        assert_eq!(stop.code, bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION);
        assert_eq!(
            stop.params,
            [
                verifier::WAIT_AT_DISPATCH,
                usize::from(DISPATCH_LEVEL),
                addr(&lock),
                0
            ]
        );
        assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
    }
    assert_eq!(pushlock::word(&lock), 0);
}

#[test]
fn acquire_outside_a_critical_region_stops_0xc4_0xea() {
    boot();
    let lock = ExPushLock::new();
    for exclusive in [true, false] {
        let stop = expect_stop(|| {
            if exclusive {
                Sim::acquire_push_lock_exclusive(&lock, F);
            } else {
                Sim::acquire_push_lock_shared(&lock, F);
            }
        });
        assert_eq!(stop.code, bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION);
        assert_eq!(
            stop.params,
            [verifier::PUSH_LOCK_ACQUIRE_APCS_ENABLED, 0, 0, addr(&lock)]
        );
    }
    assert_eq!(pushlock::word(&lock), 0);
}

#[test]
fn release_outside_a_critical_region_stops_0xc4_0xeb() {
    boot();
    for exclusive in [true, false] {
        let lock = ExPushLock::new();
        let stop = expect_stop(|| {
            Sim::enter_critical_region();
            if exclusive {
                Sim::acquire_push_lock_exclusive(&lock, F);
            } else {
                Sim::acquire_push_lock_shared(&lock, F);
            }
            // SAFETY: leaves the region entered above (early: the misuse under test).
            unsafe { Sim::leave_critical_region() };
            if exclusive {
                // SAFETY: held exclusively by this thread.
                unsafe { Sim::release_push_lock_exclusive(&lock, F) };
            } else {
                // SAFETY: held shared by this thread.
                unsafe { Sim::release_push_lock_shared(&lock, F) };
            }
        });
        assert_eq!(stop.code, bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION);
        assert_eq!(
            stop.params,
            [verifier::PUSH_LOCK_RELEASE_APCS_ENABLED, 0, 0, addr(&lock)]
        );
    }
}

#[test]
fn release_above_dispatch_level_stops() {
    boot();
    let lock = ExPushLock::new();
    let stop = expect_stop(|| {
        Sim::enter_critical_region();
        Sim::acquire_push_lock_exclusive(&lock, F);
        // SAFETY: raising from PASSIVE_LEVEL.
        unsafe { Sim::raise_irql(HIGH_LEVEL) };
        // SAFETY: held exclusively; the IRQL is the misuse under test.
        unsafe { Sim::release_push_lock_exclusive(&lock, F) };
    });
    assert_eq!(stop.code, bugcheck::NDIS_RWLOCK_VIOLATION);
    assert_eq!(
        stop.params,
        [
            rw::PUSH_LOCK_RELEASE_ABOVE_DISPATCH,
            usize::from(HIGH_LEVEL),
            addr(&lock),
            0
        ]
    );
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
}

#[test]
fn exclusive_reacquire_by_the_owner_stops_instead_of_hanging() {
    boot();
    let lock = leaked_lock();
    let stop = stop_on_thread(|| {
        Sim::enter_critical_region();
        Sim::acquire_push_lock_exclusive(lock, F);
        Sim::acquire_push_lock_exclusive(lock, F);
    });
    assert_rw(stop, rw::PUSH_LOCK_RECURSIVE_EXCLUSIVE, lock);
    assert_eq!(stop.params[2], LOCKED);
}

#[test]
fn recursive_write_through_the_safe_api_stops() {
    boot();
    let lock: &'static PushLock<i32> = Box::leak(Box::new(PushLock::new(0)));
    let stop = stop_on_thread(|| {
        let region = CriticalRegion::enter();
        let _outer = lock.write(&region);
        let _inner = lock.write(&region);
    });
    assert_rw(stop, rw::PUSH_LOCK_RECURSIVE_EXCLUSIVE, lock.as_raw());
    // The outer guard and the region, dropped while unwinding from the stop, released
    // nothing: the lock stays as the misuse found it.
    assert_eq!(pushlock::word(lock.as_raw()), LOCKED);
}

#[test]
fn a_bug_check_resets_the_thread_s_push_locks() {
    boot();
    let lock = ExPushLock::new();
    let other = ExPushLock::new();
    let stop = expect_stop(|| {
        Sim::enter_critical_region();
        Sim::acquire_push_lock_exclusive(&lock, F);
        Sim::acquire_push_lock_exclusive(&other, 1);
    });
    assert_eq!(stop.code, bugcheck::INVALID_PUSH_LOCK_FLAGS);
    assert_eq!(sim::critical_region_depth(), 0);
    // The lock stays as the stop left it; once re-initialised, the same storage is a new lock
    // that this thread does not hold.
    assert_eq!(pushlock::word(&lock), LOCKED);
    // SAFETY: the only holder was this thread, which the bug check reset.
    unsafe { Sim::initialize_push_lock(&lock) };
    Sim::enter_critical_region();
    Sim::acquire_push_lock_exclusive(&lock, F);
    // SAFETY: held exclusively by this thread, in its critical region.
    unsafe { Sim::release_push_lock_exclusive(&lock, F) };
    // SAFETY: leaves the region entered above.
    unsafe { Sim::leave_critical_region() };
    assert_eq!(pushlock::word(&lock), 0);
}

#[test]
fn shared_acquire_by_the_exclusive_owner_stops() {
    boot();
    let lock = leaked_lock();
    let stop = stop_on_thread(|| {
        Sim::enter_critical_region();
        Sim::acquire_push_lock_exclusive(lock, F);
        Sim::acquire_push_lock_shared(lock, F);
    });
    assert_rw(stop, rw::PUSH_LOCK_SHARED_INSIDE_EXCLUSIVE, lock);
}

#[test]
fn promotion_from_shared_to_exclusive_stops() {
    boot();
    let lock = leaked_lock();
    let stop = stop_on_thread(|| {
        Sim::enter_critical_region();
        Sim::acquire_push_lock_shared(lock, F);
        Sim::acquire_push_lock_exclusive(lock, F);
    });
    assert_rw(stop, rw::PUSH_LOCK_SHARED_TO_EXCLUSIVE, lock);
    assert_eq!(stop.params[2..], [LOCKED | (1 << 4), 1]);
}

#[test]
fn shared_reacquire_behind_a_waiting_writer_stops_instead_of_hanging() {
    boot();
    // The writer below stays asleep for good (the reader's share is never released), so the
    // lock must outlive the test.
    let lock = leaked_lock();
    let (held_tx, held_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        Sim::enter_critical_region();
        Sim::acquire_push_lock_shared(lock, F);
        held_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        tx.send(catch_bug_check(|| Sim::acquire_push_lock_shared(lock, F)))
            .unwrap();
    });
    recv(&held_rx, "the first shared acquire");
    thread::spawn(move || {
        Sim::enter_critical_region();
        Sim::acquire_push_lock_exclusive(lock, F);
        unreachable!("the writer got a lock whose reader never left");
    });
    wait_parked(lock, 1);
    go_tx.send(()).unwrap();
    let stop = recv(&rx, "the shared re-acquire hung instead of bug-checking")
        .expect_err("the shared re-acquire returned");
    assert_rw(stop, rw::PUSH_LOCK_RECURSIVE_SHARED, lock);
    assert_eq!(stop.params[2] & (LOCKED | WAITING), LOCKED | WAITING);
    assert_eq!(stop.params[3], 1);
}

#[test]
fn release_of_a_lock_not_held_stops() {
    boot();
    let exclusive_mode = 1;
    let shared_mode = 2;
    // Free lock, each mode.
    let lock = ExPushLock::new();
    let stop = expect_stop(|| {
        Sim::enter_critical_region();
        // SAFETY: not held: the misuse under test; the simulation checks before touching it.
        unsafe { Sim::release_push_lock_exclusive(&lock, F) };
    });
    assert_rw(stop, rw::PUSH_LOCK_RELEASE_NOT_HELD, &lock);
    assert_eq!(stop.params[2..], [0, exclusive_mode]);
    let stop = expect_stop(|| {
        Sim::enter_critical_region();
        // SAFETY: as above.
        unsafe { Sim::release_push_lock_shared(&lock, F) };
    });
    assert_rw(stop, rw::PUSH_LOCK_RELEASE_NOT_HELD, &lock);
    assert_eq!(stop.params[2..], [0, shared_mode]);

    // Held in the other mode.
    let lock = ExPushLock::new();
    let stop = expect_stop(|| {
        Sim::enter_critical_region();
        Sim::acquire_push_lock_shared(&lock, F);
        // SAFETY: held shared, released exclusive: the misuse under test.
        unsafe { Sim::release_push_lock_exclusive(&lock, F) };
    });
    assert_rw(stop, rw::PUSH_LOCK_RELEASE_NOT_HELD, &lock);
    assert_eq!(stop.params[2..], [LOCKED | (1 << 4), exclusive_mode]);
    let lock = ExPushLock::new();
    let stop = expect_stop(|| {
        Sim::enter_critical_region();
        Sim::acquire_push_lock_exclusive(&lock, F);
        // SAFETY: held exclusively, released shared: the misuse under test.
        unsafe { Sim::release_push_lock_shared(&lock, F) };
    });
    assert_rw(stop, rw::PUSH_LOCK_RELEASE_NOT_HELD, &lock);
    assert_eq!(stop.params[2..], [LOCKED, shared_mode]);

    // Held by another thread.
    let lock = Arc::new(ExPushLock::new());
    {
        let lock = lock.clone();
        thread::spawn(move || {
            Sim::enter_critical_region();
            Sim::acquire_push_lock_exclusive(&lock, F);
        })
        .join()
        .unwrap();
    }
    let stop = expect_stop(|| {
        Sim::enter_critical_region();
        // SAFETY: held by the other thread: the misuse under test.
        unsafe { Sim::release_push_lock_exclusive(&lock, F) };
    });
    assert_rw(stop, rw::PUSH_LOCK_RELEASE_NOT_HELD, &lock);
    assert_eq!(stop.params[2..], [LOCKED, exclusive_mode]);
}

#[test]
fn a_corrupt_word_stops() {
    boot();
    let lock = ExPushLock::new();
    // SAFETY: no other thread uses the lock; the bad value is the misuse under test.
    unsafe { lock.as_ptr().write(WAKING) };
    let stop = expect_stop(|| {
        Sim::enter_critical_region();
        Sim::acquire_push_lock_exclusive(&lock, F);
    });
    assert_rw(stop, rw::PUSH_LOCK_CORRUPT, &lock);
    assert_eq!(stop.params[2], WAKING);

    let lock = ExPushLock::new();
    let stop = expect_stop(|| {
        Sim::enter_critical_region();
        Sim::acquire_push_lock_shared(&lock, F);
        // SAFETY: as above: the share count vanishes under the owner.
        unsafe { lock.as_ptr().write(LOCKED | WAITING | (3 << 4)) };
        // SAFETY: held shared by this thread.
        unsafe { Sim::release_push_lock_shared(&lock, F) };
    });
    assert_rw(stop, rw::PUSH_LOCK_CORRUPT, &lock);
    assert_eq!(stop.params[2], LOCKED | WAITING | (3 << 4));
}

#[test]
fn release_of_a_lock_re_initialised_under_its_owner_stops() {
    boot();
    for exclusive in [true, false] {
        let lock = ExPushLock::new();
        let stop = expect_stop(|| {
            Sim::enter_critical_region();
            if exclusive {
                Sim::acquire_push_lock_exclusive(&lock, F);
            } else {
                Sim::acquire_push_lock_shared(&lock, F);
            }
            // SAFETY: breaks the contract (the lock is held): the misuse under test.
            unsafe { Sim::initialize_push_lock(&lock) };
            if exclusive {
                // SAFETY: this thread acquired it exclusively.
                unsafe { Sim::release_push_lock_exclusive(&lock, F) };
            } else {
                // SAFETY: this thread acquired it shared.
                unsafe { Sim::release_push_lock_shared(&lock, F) };
            }
        });
        assert_rw(stop, rw::PUSH_LOCK_RELEASE_NOT_HELD, &lock);
        assert_eq!(stop.params[2..], [0, if exclusive { 1 } else { 2 }]);
    }
}
