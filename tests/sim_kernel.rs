//! The simulated kernel: every routine and every verifier check.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use ndis_rwlock::bugcheck::{self, rw, verifier};
use ndis_rwlock::kernel::{
    APC_LEVEL, DISPATCH_LEVEL, DispatchGuard, HIGH_LEVEL, KSpinLock, Kernel, PASSIVE_LEVEL,
};
use ndis_rwlock::sim::{self, BugCheck, Sim, expect_bug_check, exports, pool};

const PROCESSORS: u32 = 4;

fn boot() {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
    assert_eq!(
        sim::boot(PROCESSORS + 3),
        PROCESSORS,
        "the first boot decides the processor count"
    );
}

fn ndrl(params: [usize; 4]) -> BugCheck {
    BugCheck {
        code: bugcheck::NDIS_RWLOCK_VIOLATION,
        params,
    }
}

fn c4(subcode: usize, p2: usize, p3: usize, p4: usize) -> BugCheck {
    BugCheck {
        code: bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
        params: [subcode, p2, p3, p4],
    }
}

fn raise(irql: u8) -> u8 {
    // SAFETY: tests raise from below or at `irql`; a raise to a lower IRQL bug-checks.
    unsafe { Sim::raise_irql(irql) }
}

fn lower(irql: u8) {
    // SAFETY: tests hold nothing that depends on the IRQL they leave.
    unsafe { Sim::lower_irql(irql) }
}

// ---- IRQL ---------------------------------------------------------------------------------

#[test]
fn raise_and_lower_follow_kf_raise_irql_semantics() {
    boot();
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
    assert_eq!(raise(APC_LEVEL), PASSIVE_LEVEL);
    assert_eq!(raise(DISPATCH_LEVEL), APC_LEVEL);
    assert_eq!(
        raise(DISPATCH_LEVEL),
        DISPATCH_LEVEL,
        "raising to the same level is allowed"
    );
    assert_eq!(raise(HIGH_LEVEL), DISPATCH_LEVEL);
    assert_eq!(Sim::current_irql(), HIGH_LEVEL);
    lower(DISPATCH_LEVEL);
    lower(PASSIVE_LEVEL);
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
}

#[test]
fn raise_to_a_lower_irql_is_c4_30() {
    boot();
    raise(DISPATCH_LEVEL);
    let stop = expect_bug_check(|| raise(APC_LEVEL));
    assert_eq!(stop, c4(verifier::RAISE_TO_LOWER, 2, 1, 0));
    assert_eq!(
        Sim::current_irql(),
        PASSIVE_LEVEL,
        "the stopped thread is reset"
    );
}

#[test]
fn lower_to_a_higher_irql_is_c4_31() {
    boot();
    raise(APC_LEVEL);
    let stop = expect_bug_check(|| lower(DISPATCH_LEVEL));
    assert_eq!(stop, c4(verifier::LOWER_TO_HIGHER, 1, 2, 0));
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
}

#[test]
fn dispatch_guard_raises_and_restores() {
    boot();
    raise(APC_LEVEL);
    {
        let guard = DispatchGuard::<Sim>::raise();
        assert_eq!(guard.old_irql(), APC_LEVEL);
        assert_eq!(Sim::current_irql(), DISPATCH_LEVEL);
        let _token = guard.token();
    }
    assert_eq!(Sim::current_irql(), APC_LEVEL);
    lower(PASSIVE_LEVEL);
}

#[test]
fn a_thread_owns_its_processor_exactly_while_at_dispatch_or_above() {
    boot();
    sim::run_on(2, || {
        let me = sim::thread_identity();
        raise(APC_LEVEL);
        assert_ne!(
            sim::processor_owner(2),
            Some(me),
            "APC_LEVEL owns no processor"
        );
        raise(DISPATCH_LEVEL);
        assert_eq!(sim::processor_owner(2), Some(me));
        raise(HIGH_LEVEL);
        lower(DISPATCH_LEVEL);
        assert_eq!(
            sim::processor_owner(2),
            Some(me),
            "moves above DISPATCH_LEVEL keep it"
        );
        lower(APC_LEVEL);
        assert_ne!(
            sim::processor_owner(2),
            Some(me),
            "dropping below gives it back"
        );
        raise(HIGH_LEVEL);
        assert_eq!(
            sim::processor_owner(2),
            Some(me),
            "a raise straight to HIGH_LEVEL takes it"
        );
        lower(PASSIVE_LEVEL);
        assert_ne!(sim::processor_owner(2), Some(me));
    });
    // Every lowering gave the processor back: another thread can take it now.
    std::thread::spawn(|| sim::run_on(2, || drop(DispatchGuard::<Sim>::raise())))
        .join()
        .expect("processor 2 is free");
}

// ---- Processors ---------------------------------------------------------------------------

#[test]
fn a_thread_at_dispatch_owns_its_processor_exclusively() {
    boot();
    const THREADS: usize = 6;
    const ROUNDS: usize = 2_000;
    let inside = AtomicU32::new(0);
    let overlaps = AtomicU32::new(0);
    let wrong_owner = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                sim::run_on(1, || {
                    for _ in 0..ROUNDS {
                        let guard = DispatchGuard::<Sim>::raise();
                        if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        if Sim::current_processor() != 1
                            || sim::processor_owner(1) != Some(sim::thread_identity())
                        {
                            wrong_owner.fetch_add(1, Ordering::SeqCst);
                        }
                        // Let the other threads of processor 1 run: none may get in.
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(guard);
                    }
                });
            });
        }
    });
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
    assert_eq!(wrong_owner.load(Ordering::SeqCst), 0);
}

#[test]
fn a_waiting_thread_gets_the_processor_while_the_owner_keeps_re_raising() {
    boot();
    const HOLDER_ROUNDS: usize = 200_000;
    let waiter_in = AtomicBool::new(false);
    let rounds_after = AtomicUsize::new(usize::MAX);
    let holder_raised = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            sim::run_on(2, || {
                for round in 0..HOLDER_ROUNDS {
                    let guard = DispatchGuard::<Sim>::raise();
                    if round == 0 {
                        holder_raised.wait();
                    }
                    if waiter_in.load(Ordering::SeqCst) {
                        rounds_after.store(round, Ordering::SeqCst);
                        drop(guard);
                        break;
                    }
                    drop(guard);
                }
            });
        });
        s.spawn(|| {
            holder_raised.wait();
            sim::run_on(2, || {
                let _guard = DispatchGuard::<Sim>::raise();
                waiter_in.store(true, Ordering::SeqCst);
            });
        });
    });
    assert!(waiter_in.load(Ordering::SeqCst));
    let round = rounds_after.load(Ordering::SeqCst);
    assert!(
        round < HOLDER_ROUNDS,
        "the waiter never got processor 2 while the holder kept re-raising"
    );
}

#[test]
fn the_processor_number_is_stable_at_dispatch_and_run_on_moves_the_thread() {
    boot();
    for p in 0..PROCESSORS {
        sim::run_on(p, || {
            assert_eq!(
                Sim::current_processor(),
                p,
                "below DISPATCH: the home processor"
            );
            let _guard = DispatchGuard::<Sim>::raise();
            for _ in 0..100 {
                assert_eq!(Sim::current_processor(), p);
                std::thread::yield_now();
            }
            assert_eq!(sim::processor_owner(p), Some(sim::thread_identity()));
        });
    }
    assert_eq!(Sim::max_processors(), PROCESSORS);
    assert_eq!(sim::processor_count(), PROCESSORS);
}

#[test]
fn run_on_at_dispatch_or_a_missing_processor_is_a_bug_check() {
    boot();
    let stop = expect_bug_check(|| sim::run_on(PROCESSORS, || ()));
    assert_eq!(stop, ndrl([rw::BAD_AFFINITY, PROCESSORS as usize, 0, 0]));
    raise(DISPATCH_LEVEL);
    let stop = expect_bug_check(|| sim::run_on(0, || ()));
    assert_eq!(stop, ndrl([rw::BAD_AFFINITY, 0, 2, 0]));
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
    let ran = sim::run_on(PROCESSORS - 1, Sim::current_processor);
    assert_eq!(ran, PROCESSORS - 1, "the bug checks left run_on usable");
}

#[test]
fn dedicate_at_dispatch_for_a_missing_processor_or_twice_is_a_bug_check() {
    boot();
    let stop = expect_bug_check(|| sim::dedicate(PROCESSORS));
    assert_eq!(stop, ndrl([rw::BAD_AFFINITY, PROCESSORS as usize, 0, 0]));
    raise(DISPATCH_LEVEL);
    let stop = expect_bug_check(|| sim::dedicate(1));
    assert_eq!(stop, ndrl([rw::BAD_AFFINITY, 1, 2, 0]));
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);

    let me = sim::thread_identity();
    let binding = sim::dedicate(1);
    // A second binding would wait for the processor this thread holds; a move would be
    // ignored, since the thread runs where it is bound. P4: the bound processor + 1.
    let stop = expect_bug_check(|| sim::dedicate(1));
    assert_eq!(stop, ndrl([rw::BAD_AFFINITY, 1, 0, 2]));
    let stop = expect_bug_check(|| sim::dedicate(2));
    assert_eq!(stop, ndrl([rw::BAD_AFFINITY, 2, 0, 2]));
    let stop = expect_bug_check(|| sim::run_on(0, || ()));
    assert_eq!(stop, ndrl([rw::BAD_AFFINITY, 0, 0, 2]));
    assert_eq!(
        sim::processor_owner(1),
        Some(me),
        "the binding survives the stops"
    );
    let at = sim::run_on(1, || {
        let _guard = DispatchGuard::<Sim>::raise();
        Sim::current_processor()
    });
    assert_eq!(at, 1, "run_on the bound processor is allowed");
    drop(binding);
    assert_ne!(sim::processor_owner(1), Some(me));
}

#[test]
fn a_binding_dropped_at_dispatch_keeps_the_processor_until_the_thread_lowers() {
    boot();
    let me = sim::thread_identity();
    let binding = sim::dedicate(0);
    raise(DISPATCH_LEVEL);
    drop(binding);
    assert_eq!(Sim::current_processor(), 0);
    assert_eq!(sim::processor_owner(0), Some(me));
    lower(PASSIVE_LEVEL);
    assert_ne!(sim::processor_owner(0), Some(me));
    std::thread::spawn(|| sim::run_on(0, || drop(DispatchGuard::<Sim>::raise())))
        .join()
        .expect("processor 0 is free");
}

#[test]
fn a_thread_that_ends_while_dedicated_gives_its_processor_back() {
    boot();
    let ended = std::thread::spawn(|| {
        let me = sim::thread_identity();
        std::mem::forget(sim::dedicate(3));
        assert_eq!(sim::processor_owner(3), Some(me));
        me
    })
    .join()
    .expect("the thread runs");
    assert_ne!(sim::processor_owner(3), Some(ended));
    sim::run_on(3, || drop(DispatchGuard::<Sim>::raise()));
}

#[test]
fn a_dedicated_thread_keeps_its_processor_through_a_caught_bug_check() {
    boot();
    let me = sim::thread_identity();
    let binding = sim::dedicate(2);
    let stop = expect_bug_check(|| {
        raise(DISPATCH_LEVEL);
        Sim::bug_check(0xE5, [5, 6, 7, 8])
    });
    assert_eq!(stop.params, [5, 6, 7, 8]);
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
    assert_eq!(sim::processor_owner(2), Some(me));
    {
        let _guard = DispatchGuard::<Sim>::raise();
        assert_eq!(Sim::current_processor(), 2);
    }
    assert_eq!(sim::processor_owner(2), Some(me));
    drop(binding);
    assert_ne!(sim::processor_owner(2), Some(me));
}

#[test]
fn a_dedicated_thread_keeps_its_processor_and_others_wait_for_the_end() {
    boot();
    let dedicated = Barrier::new(2);
    let released = AtomicBool::new(false);
    let other_got_in_early = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let binding = sim::dedicate(3);
            assert_eq!(binding.processor(), 3);
            let me = sim::thread_identity();
            for _ in 0..1_000 {
                let _guard = DispatchGuard::<Sim>::raise();
                assert_eq!(Sim::current_processor(), 3);
            }
            // Below DISPATCH the processor stays ours.
            assert_eq!(sim::processor_owner(3), Some(me));
            dedicated.wait();
            std::thread::sleep(Duration::from_millis(50));
            released.store(true, Ordering::SeqCst);
            drop(binding);
        });
        s.spawn(|| {
            dedicated.wait();
            sim::run_on(3, || {
                let _guard = DispatchGuard::<Sim>::raise();
                if !released.load(Ordering::SeqCst) {
                    other_got_in_early.store(true, Ordering::SeqCst);
                }
            });
        });
    });
    assert!(!other_got_in_early.load(Ordering::SeqCst));
}

#[test]
fn threads_are_attached_on_first_use_with_distinct_identities() {
    boot();
    let ids: Vec<usize> = (0..8)
        .map(|_| std::thread::spawn(sim::thread_identity))
        .map(|h| h.join().expect("the thread runs"))
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len());
    assert!(ids.iter().all(|&id| id != 0));
}

// ---- Spin locks ---------------------------------------------------------------------------

#[test]
fn spin_lock_excludes_across_processors_and_records_its_owner() {
    boot();
    let lock = KSpinLock::new();
    Sim::initialize_spin_lock(&lock);
    let counter = AtomicUsize::new(0);
    let inside = AtomicU32::new(0);
    let overlaps = AtomicU32::new(0);
    const PER_THREAD: usize = 20_000;
    std::thread::scope(|s| {
        for t in 0..PROCESSORS {
            let (lock, counter, inside, overlaps) = (&lock, &counter, &inside, &overlaps);
            s.spawn(move || {
                sim::run_on(t, || {
                    for _ in 0..PER_THREAD {
                        let old = Sim::acquire_spin_lock(lock);
                        assert_eq!(owner(lock), sim::thread_identity());
                        if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        // A non-atomic read-modify-write: lost updates show missing exclusion.
                        let v = counter.load(Ordering::Relaxed);
                        counter.store(v + 1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        // SAFETY: we own the lock; `old` came from the acquire.
                        unsafe { Sim::release_spin_lock(lock, old) };
                    }
                });
            });
        }
    });
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
    assert_eq!(
        counter.load(Ordering::SeqCst),
        PROCESSORS as usize * PER_THREAD
    );
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
}

/// The owner the simulated spin lock records (its `KSPIN_LOCK` word).
fn owner(lock: &KSpinLock) -> usize {
    // SAFETY: KSpinLock is a transparent AtomicUsize, live for the borrow.
    unsafe { &*lock.as_ptr().cast::<AtomicUsize>() }.load(Ordering::Relaxed)
}

#[test]
fn initialize_spin_lock_stores_a_free_lock() {
    boot();
    let lock = KSpinLock::new();
    // SAFETY: KSpinLock is a transparent AtomicUsize, live for the borrow.
    unsafe { &*lock.as_ptr().cast::<AtomicUsize>() }.store(0x5A5A, Ordering::Relaxed);
    Sim::initialize_spin_lock(&lock);
    assert_eq!(owner(&lock), 0);
    let old = Sim::acquire_spin_lock(&lock);
    // SAFETY: acquired just above.
    unsafe { Sim::release_spin_lock(&lock, old) };
}

#[test]
fn spin_lock_try_acquire_and_release_at_dpc() {
    boot();
    let lock = KSpinLock::new();
    Sim::initialize_spin_lock(&lock);
    let guard = DispatchGuard::<Sim>::raise();
    let mine = Sim::current_processor();
    assert!(Sim::try_acquire_spin_lock_at_dpc(&lock));
    assert_eq!(owner(&lock), sim::thread_identity());
    std::thread::scope(|s| {
        s.spawn(|| {
            // On another processor: this thread holds its own until it lowers.
            sim::run_on((mine + 1) % PROCESSORS, || {
                let _guard = DispatchGuard::<Sim>::raise();
                assert!(
                    !Sim::try_acquire_spin_lock_at_dpc(&lock),
                    "held by another thread"
                );
            });
        });
    });
    // SAFETY: we own it, at DISPATCH_LEVEL.
    unsafe { Sim::release_spin_lock_from_dpc(&lock) };
    assert_eq!(owner(&lock), 0);
    Sim::acquire_spin_lock_at_dpc(&lock);
    // SAFETY: as above.
    unsafe { Sim::release_spin_lock_from_dpc(&lock) };
    drop(guard);
}

#[test]
fn spin_lock_irql_rules_are_checked() {
    boot();
    let lock = KSpinLock::new();
    let address = lock.as_ptr() as usize;

    let stop = expect_bug_check(|| Sim::acquire_spin_lock_at_dpc(&lock));
    assert_eq!(
        stop,
        c4(verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH, 0, address, 0)
    );
    let stop = expect_bug_check(|| Sim::try_acquire_spin_lock_at_dpc(&lock));
    assert_eq!(
        stop,
        c4(verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH, 0, address, 0)
    );

    let stop = expect_bug_check(|| {
        // SAFETY: the misuse under test; the kernel bug-checks before touching the lock.
        unsafe { Sim::release_spin_lock_from_dpc(&lock) }
    });
    assert_eq!(
        stop,
        c4(verifier::RELEASE_FROM_DPC_BELOW_DISPATCH, 0, address, 0)
    );

    raise(HIGH_LEVEL);
    let stop = expect_bug_check(|| Sim::acquire_spin_lock(&lock));
    assert_eq!(
        stop,
        c4(verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH, 15, address, 0)
    );

    let old = Sim::acquire_spin_lock(&lock);
    lower_at(APC_LEVEL, || {
        let stop = expect_bug_check(|| {
            // SAFETY: the misuse under test (release below DISPATCH); it bug-checks first.
            unsafe { Sim::release_spin_lock(&lock, old) }
        });
        assert_eq!(
            stop,
            c4(verifier::RELEASE_SPIN_LOCK_BAD_IRQL, 1, address, 0)
        );
    });
    assert_eq!(
        owner(&lock),
        sim::thread_identity(),
        "the lock is left as it was"
    );
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
}

/// Simulates a thread that lowered to `irql` while still holding a spin lock.
fn lower_at(irql: u8, f: impl FnOnce()) {
    lower(irql);
    f();
}

#[test]
fn a_thread_re_acquiring_its_spin_lock_is_0x0f_and_a_foreign_release_is_0x10() {
    boot();
    let lock = KSpinLock::new();
    let address = lock.as_ptr() as usize;
    let me = sim::thread_identity();
    let old = Sim::acquire_spin_lock(&lock);
    let stop = expect_bug_check(|| Sim::acquire_spin_lock_at_dpc(&lock));
    assert_eq!(
        stop,
        BugCheck {
            code: bugcheck::SPIN_LOCK_ALREADY_OWNED,
            params: [address, me, 0, 0]
        }
    );
    assert_eq!(old, PASSIVE_LEVEL);
    // The stop left the lock held by this thread: the other acquire routines see the same.
    assert_eq!(
        expect_bug_check(|| Sim::acquire_spin_lock(&lock)),
        BugCheck {
            code: bugcheck::SPIN_LOCK_ALREADY_OWNED,
            params: [address, me, 0, 0]
        }
    );
    raise(DISPATCH_LEVEL);
    assert_eq!(
        expect_bug_check(|| Sim::try_acquire_spin_lock_at_dpc(&lock)),
        BugCheck {
            code: bugcheck::SPIN_LOCK_ALREADY_OWNED,
            params: [address, me, 0, 0]
        }
    );
    // Now another thread releases the lock this thread still holds.
    std::thread::scope(|s| {
        s.spawn(|| {
            let other = sim::thread_identity();
            let _guard = DispatchGuard::<Sim>::raise();
            let stop = expect_bug_check(|| {
                // SAFETY: the misuse under test; the kernel bug-checks before releasing.
                unsafe { Sim::release_spin_lock_from_dpc(&lock) }
            });
            assert_eq!(
                stop,
                BugCheck {
                    code: bugcheck::SPIN_LOCK_NOT_OWNED,
                    params: [address, me, other, 0]
                }
            );
        });
    });
    assert_eq!(owner(&lock), me);
}

#[test]
fn releasing_a_free_spin_lock_is_0x10() {
    boot();
    let lock = KSpinLock::new();
    let me = sim::thread_identity();
    raise(DISPATCH_LEVEL);
    let stop = expect_bug_check(|| {
        // SAFETY: the misuse under test; the kernel bug-checks before releasing.
        unsafe { Sim::release_spin_lock_from_dpc(&lock) }
    });
    assert_eq!(
        stop,
        BugCheck {
            code: bugcheck::SPIN_LOCK_NOT_OWNED,
            params: [lock.as_ptr() as usize, 0, me, 0]
        }
    );
    let old = raise(DISPATCH_LEVEL);
    let stop = expect_bug_check(|| {
        // SAFETY: as above, through KeReleaseSpinLock.
        unsafe { Sim::release_spin_lock(&lock, old) }
    });
    assert_eq!(stop.code, bugcheck::SPIN_LOCK_NOT_OWNED);
    assert_eq!(owner(&lock), 0);
}

// ---- Pool ---------------------------------------------------------------------------------

#[test]
fn pool_allocations_are_zeroed_aligned_tagged_and_reported() {
    boot();
    let tag = pool::tag(b"Tst1");
    let a = Sim::allocate_nonpaged(100, tag);
    let b = Sim::allocate_nonpaged(1, tag);
    assert!(!a.is_null() && !b.is_null());
    assert_eq!(a as usize % pool::POOL_ALIGNMENT, 0);
    // SAFETY: 100 bytes were allocated at `a`.
    let bytes = unsafe { std::slice::from_raw_parts(a, 100) };
    assert!(bytes.iter().all(|&x| x == 0));
    let live = pool::outstanding(tag);
    assert_eq!(live.len(), 2);
    let all = pool::outstanding_all();
    assert!(live.iter().all(|x| all.contains(x)));
    assert!(
        live.iter()
            .any(|x| x.address == a as usize && x.size == 100 && x.tag == tag)
    );
    let stop = expect_bug_check(|| pool::check_unload(tag));
    assert_eq!(
        stop,
        c4(verifier::POOL_LEAKED_AT_UNLOAD, tag as usize, 2, 101)
    );
    // SAFETY: both blocks came from allocate_nonpaged with this tag.
    unsafe { Sim::free_pool(a, tag) };
    // SAFETY: as above.
    unsafe { Sim::free_pool(b, tag) };
    assert!(pool::outstanding(tag).is_empty());
    pool::check_unload(tag);
}

#[test]
fn fault_injection_fails_the_next_allocations_of_this_thread_only() {
    boot();
    let tag = pool::tag(b"Tst2");
    pool::fail_next_allocations(2);
    std::thread::spawn(move || {
        let p = Sim::allocate_nonpaged(8, tag);
        assert!(!p.is_null(), "another thread's allocations are not failed");
        // SAFETY: allocated just above with this tag.
        unsafe { Sim::free_pool(p, tag) };
    })
    .join()
    .expect("the other thread runs");
    assert!(Sim::allocate_nonpaged(8, tag).is_null());
    assert!(Sim::allocate_nonpaged(8, tag).is_null());
    let p = Sim::allocate_nonpaged(8, tag);
    assert!(!p.is_null());
    // SAFETY: allocated just above with this tag.
    unsafe { Sim::free_pool(p, tag) };
}

#[test]
fn pool_misuse_is_reported_with_the_verifier_codes() {
    boot();
    let tag = pool::tag(b"Tst3");
    let stop = expect_bug_check(|| Sim::allocate_nonpaged(0, tag));
    assert_eq!(stop, c4(verifier::ZERO_BYTE_ALLOCATION, 0, 512, 0));

    raise(HIGH_LEVEL);
    let stop = expect_bug_check(|| Sim::allocate_nonpaged(64, tag));
    assert_eq!(stop, c4(verifier::ALLOCATE_ABOVE_DISPATCH, 15, 512, 64));

    let p = Sim::allocate_nonpaged(64, tag);
    raise(HIGH_LEVEL);
    let stop = expect_bug_check(|| {
        // SAFETY: the misuse under test; it bug-checks before freeing.
        unsafe { Sim::free_pool(p, tag) }
    });
    assert_eq!(stop, c4(verifier::FREE_ABOVE_DISPATCH, 15, 512, p as usize));

    let stop = expect_bug_check(|| {
        // SAFETY: the misuse under test (wrong tag); the block is put back.
        unsafe { Sim::free_pool(p, pool::tag(b"Oth3")) }
    });
    assert_eq!(
        stop,
        c4(
            verifier::FREE_BAD_ADDRESS,
            p as usize,
            pool::tag(b"Oth3") as usize,
            tag as usize
        )
    );
    // SAFETY: the block is still live with its own tag.
    unsafe { Sim::free_pool(p, tag) };
    let stop = expect_bug_check(|| {
        // SAFETY: the misuse under test (double free); detected before touching memory.
        unsafe { Sim::free_pool(p, tag) }
    });
    assert_eq!(stop, c4(verifier::DOUBLE_FREE, 0, p as usize, tag as usize));

    let bogus = 0x10usize as *mut u8;
    let stop = expect_bug_check(|| {
        // SAFETY: the misuse under test (never allocated); detected before touching memory.
        unsafe { Sim::free_pool(bogus, tag) }
    });
    assert_eq!(stop, c4(verifier::FREE_BAD_ADDRESS, 0x10, 0, 0));
}

// ---- Critical regions ---------------------------------------------------------------------

#[test]
fn critical_regions_nest_and_an_unbalanced_leave_is_c4_3e() {
    boot();
    assert_eq!(sim::critical_region_depth(), 0);
    Sim::enter_critical_region();
    Sim::enter_critical_region();
    assert_eq!(sim::critical_region_depth(), 2);
    // SAFETY: pairs with the enters above.
    unsafe { Sim::leave_critical_region() };
    // SAFETY: as above.
    unsafe { Sim::leave_critical_region() };
    assert_eq!(sim::critical_region_depth(), 0);
    let stop = expect_bug_check(|| {
        // SAFETY: the misuse under test.
        unsafe { Sim::leave_critical_region() }
    });
    assert_eq!(
        stop,
        c4(verifier::LEAVE_CRITICAL_REGION_UNBALANCED, 0, 0, 0)
    );
}

// ---- Watchdog -----------------------------------------------------------------------------

#[test]
fn too_long_at_dispatch_is_0x133_when_the_thread_lowers() {
    boot();
    const LIMIT_MS: usize = 20;
    // The machine's clock ticks on its own thread, which a loaded host may hold back: stay
    // raised longer on each attempt until the lowering sees the limit passed.
    let stop = (1..=50)
        .find_map(|attempt| {
            sim::with_watchdog(Duration::from_millis(LIMIT_MS as u64), || {
                sim::catch_bug_check(|| {
                    let guard = DispatchGuard::<Sim>::raise();
                    std::thread::sleep(Duration::from_millis(40 * attempt));
                    drop(guard);
                })
                .err()
            })
        })
        .expect("lowering after more than the limit at DISPATCH_LEVEL bug-checks");
    assert_eq!(stop.code, bugcheck::DPC_WATCHDOG_VIOLATION);
    assert_eq!(stop.params[0], 1);
    assert!(stop.params[1] > LIMIT_MS, "elapsed {} ms", stop.params[1]);
    assert_eq!(stop.params[2], LIMIT_MS);
    assert_eq!(stop.params[3], 0);
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
    // The limit was this thread's for the closure only: back to the machine's (20 s).
    let guard = DispatchGuard::<Sim>::raise();
    std::thread::sleep(Duration::from_millis(5 * LIMIT_MS as u64));
    drop(guard);
}

#[test]
fn too_long_spinning_at_dispatch_is_0x133_while_spinning() {
    boot();
    let stop = sim::with_watchdog(Duration::from_millis(20), || {
        expect_bug_check(|| {
            let _guard = DispatchGuard::<Sim>::raise();
            loop {
                Sim::spin_hint();
            }
        })
    });
    assert_eq!(stop.code, bugcheck::DPC_WATCHDOG_VIOLATION);
    assert_eq!(stop.params[2], 20);
    // Below DISPATCH nothing fires, however long the thread spins.
    sim::with_watchdog(Duration::from_millis(5), || {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(30) {
            Sim::spin_hint();
        }
    });
}

// ---- C exports, called from Rust ---------------------------------------------------------

#[test]
fn the_exports_number_processors_in_groups_of_64() {
    boot();
    assert_eq!(
        exports::KeQueryMaximumProcessorCountEx(exports::ALL_PROCESSOR_GROUPS),
        PROCESSORS
    );
    assert_eq!(exports::KeQueryMaximumProcessorCountEx(0), PROCESSORS);
    assert_eq!(exports::KeQueryMaximumProcessorCountEx(1), 0);
    for p in 0..PROCESSORS {
        sim::run_on(p, || {
            let old = exports::KfRaiseIrql(DISPATCH_LEVEL);
            assert_eq!(exports::KeGetCurrentIrql(), DISPATCH_LEVEL);
            let mut number = exports::ProcessorNumber {
                group: 7,
                number: 7,
                reserved: 7,
            };
            // SAFETY: `number` is a writable PROCESSOR_NUMBER.
            let index = unsafe { exports::KeGetCurrentProcessorNumberEx(&mut number) };
            assert_eq!(index, p);
            assert_eq!(
                number,
                exports::ProcessorNumber {
                    group: 0,
                    number: p as u8,
                    reserved: 0
                }
            );
            // SAFETY: NULL is allowed.
            let index = unsafe { exports::KeGetCurrentProcessorNumberEx(std::ptr::null_mut()) };
            assert_eq!(index, p);
            exports::KeLowerIrql(old);
        });
    }
    assert_eq!(exports::KeGetCurrentIrql(), PASSIVE_LEVEL);
}

// ---- Bug checks ---------------------------------------------------------------------------

#[test]
fn a_bug_check_prints_like_windows_and_leaves_the_machine_usable() {
    boot();
    let stop = BugCheck {
        code: 0xC4,
        params: [0x31, 2, 1, 0],
    };
    assert_eq!(
        stop.to_string(),
        "*** STOP: 0x000000C4 (0x0000000000000031, 0x0000000000000002, \
         0x0000000000000001, 0x0000000000000000) DRIVER_VERIFIER_DETECTED_VIOLATION"
    );
    let caught = sim::run_on(0, || {
        expect_bug_check(|| {
            raise(DISPATCH_LEVEL);
            Sim::enter_critical_region();
            Sim::bug_check(0xE2, [1, 2, 3, 4])
        })
    });
    assert_eq!(
        caught,
        BugCheck {
            code: 0xE2,
            params: [1, 2, 3, 4]
        }
    );
    assert_eq!(
        caught.to_string().split(") ").nth(1),
        Some("UNKNOWN_BUGCHECK")
    );
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
    assert_eq!(sim::critical_region_depth(), 0);
    assert!(!Sim::stopping(), "catching the stop ends it");
    // Processor 0 was given back: another thread can take it.
    std::thread::spawn(|| sim::run_on(0, || drop(DispatchGuard::<Sim>::raise())))
        .join()
        .expect("processor 0 is free");
    // A panic that is not a bug check passes through.
    let other = std::panic::catch_unwind(|| sim::catch_bug_check(|| panic!("not a stop")));
    assert!(other.is_err());
}

#[test]
fn guards_release_nothing_while_a_stop_unwinds() {
    boot();
    let stop = expect_bug_check(|| {
        let _outer = DispatchGuard::<Sim>::raise();
        assert!(!Sim::stopping());
        Sim::bug_check(0xE3, [0; 4])
        // `_outer` drops during the unwind: lowering from the reset PASSIVE_LEVEL to
        // PASSIVE_LEVEL would be fine, but it must not even try.
    });
    assert_eq!(stop.code, 0xE3);
    let flag = Arc::new(AtomicBool::new(false));
    let seen = flag.clone();
    struct Probe(Arc<AtomicBool>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.store(Sim::stopping(), Ordering::SeqCst);
        }
    }
    let _ = sim::catch_bug_check(move || {
        let _probe = Probe(seen);
        Sim::bug_check(0xE4, [0; 4])
    });
    assert!(
        flag.load(Ordering::SeqCst),
        "drops during the unwind see `stopping`"
    );
}
