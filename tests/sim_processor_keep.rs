//! A plain thread keeps its processor when it drops below `DISPATCH_LEVEL` (see "Keeping a
//! processor" in the simulated kernel's docs), and another thread still gets it: while the
//! keeper is below `DISPATCH_LEVEL`, while it is at `DISPATCH_LEVEL` (the taker waits until it
//! lowers), and after the keeper has exited. The keeper that finds its processor taken queues.
//!
//! Alone in its binary: it counts the owner of one processor, which other tests would disturb.
#![cfg(not(loom))]

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ndis_rwlock::kernel::{DISPATCH_LEVEL, Kernel, PASSIVE_LEVEL};
use ndis_rwlock::sim::{self, Sim};

const PROCESSORS: u32 = 4;
const P: u32 = 2;

fn raise() -> u8 {
    // SAFETY: the tests raise from PASSIVE_LEVEL only.
    unsafe { Sim::raise_irql(DISPATCH_LEVEL) }
}

fn lower(old: u8) {
    // SAFETY: back to where `raise` came from; nothing is held at DISPATCH_LEVEL.
    unsafe { Sim::lower_irql(old) }
}

#[test]
fn a_kept_processor_goes_to_the_next_thread_in_every_state_of_its_keeper() {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
    let me = sim::thread_identity();
    // Shared state that only the processor's owner touches: a lost exclusion shows as a
    // torn pair.
    let (a, b) = (AtomicU64::new(0), AtomicU64::new(0));
    let bump = || {
        let v = a.load(Ordering::Relaxed);
        a.store(v + 1, Ordering::Relaxed);
        std::hint::spin_loop();
        assert_eq!(
            b.load(Ordering::Relaxed),
            v,
            "two threads ran on processor {P}"
        );
        b.store(v + 1, Ordering::Relaxed);
    };
    sim::run_on(P, || {
        // Keep the processor: raise and lower, then take it from another thread while this
        // one is below DISPATCH_LEVEL.
        let old = raise();
        bump();
        lower(old);
        assert_eq!(sim::processor_owner(P), None);
        std::thread::scope(|s| {
            s.spawn(|| {
                sim::run_on(P, || {
                    let old = raise();
                    assert_ne!(sim::processor_owner(P), Some(me));
                    bump();
                    lower(old);
                });
            });
        });
        // The keeper queues again and gets it back from the thread that took it (which
        // exited while keeping it).
        let old = raise();
        assert_eq!(sim::processor_owner(P), Some(me));
        bump();
        // A taker while the keeper runs at DISPATCH_LEVEL waits until it lowers.
        let entered = AtomicBool::new(false);
        let started = Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                sim::run_on(P, || {
                    started.wait();
                    let old = raise();
                    entered.store(true, Ordering::SeqCst);
                    bump();
                    lower(old);
                });
            });
            started.wait();
            while sim::processor_waiters(P) == 0 {
                std::thread::yield_now();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(
                !entered.load(Ordering::SeqCst),
                "taken while its keeper ran on it"
            );
            bump();
            lower(old);
        });
        assert!(entered.load(Ordering::SeqCst));
        // Many rounds of both, racing.
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    sim::run_on(P, || {
                        for _ in 0..2000 {
                            let old = raise();
                            bump();
                            lower(old);
                        }
                    });
                });
            }
            for _ in 0..2000 {
                let old = raise();
                bump();
                lower(old);
            }
        });
    });
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
    assert_eq!(a.load(Ordering::Relaxed), 5 + 4 * 2000);
}
