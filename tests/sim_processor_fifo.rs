//! Processors are handed over first come, first served: threads waiting for a processor get
//! it in the order they arrived, all before the owner, however quickly the owner lowers and
//! raises again. So a waiting thread gets its processor in bounded time.
//!
//! Alone in its binary: the test counts the threads queued for a processor
//! (`sim::processor_waiters`), which the threads of other tests would disturb.
#![cfg(not(loom))]

use std::sync::{Mutex, PoisonError};

use ndis_rwlock::kernel::{DispatchGuard, Kernel};
use ndis_rwlock::sim::{self, Sim};

const PROCESSORS: u32 = 4;
/// The processor every thread of the test raises on.
const P: u32 = 1;
const WAITERS: usize = 3;
const ROUNDS: usize = 20;

#[test]
fn waiters_get_the_processor_in_arrival_order_before_the_owner_raises_again() {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
    sim::run_on(P, || {
        for round in 0..ROUNDS {
            let entered = Mutex::new(Vec::new());
            std::thread::scope(|s| {
                let guard = DispatchGuard::<Sim>::raise();
                assert_eq!(Sim::current_processor(), P);
                assert_eq!(sim::processor_waiters(P), 0);
                for waiter in 0..WAITERS {
                    let entered = &entered;
                    s.spawn(move || {
                        sim::run_on(P, || {
                            let _guard = DispatchGuard::<Sim>::raise();
                            entered
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(waiter);
                        });
                    });
                    // Let this waiter queue before the next one starts: the arrival order is
                    // then known.
                    while sim::processor_waiters(P) < waiter as u64 + 1 {
                        std::thread::yield_now();
                    }
                }
                let seen = entered
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                assert!(
                    seen.is_empty(),
                    "round {round}: {seen:?} got in while the owner was at DISPATCH_LEVEL"
                );
                drop(guard);
                // Straight back up: every waiter that was queued goes first, in order.
                let guard = DispatchGuard::<Sim>::raise();
                let seen = entered
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                assert_eq!(
                    seen,
                    (0..WAITERS).collect::<Vec<_>>(),
                    "round {round}: the owner overtook waiters"
                );
                assert_eq!(sim::processor_waiters(P), 0);
                drop(guard);
            });
        }
    });
}
