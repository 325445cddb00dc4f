//! Soak: readers, writers and allocate/free churn on 8 virtual processors for a configurable
//! time, over every lock of the crate, checking the protected data all along and that nothing
//! is left allocated at the end.
//!
//! `NDIS_RWLOCK_SOAK_SECS` sets the duration (default 2 s; `.ci/run` runs 60 s).
#![cfg(not(loom))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ndis_rwlock::kernel::{DispatchGuard, Kernel, PASSIVE_LEVEL};
use ndis_rwlock::sim::{self, Sim, pool};
use ndis_rwlock::storage::ex::{self as rwlock_ex, LockStateEx, NdisRwLockEx, RWLOCK_EX_TAG};
use ndis_rwlock::storage::legacy::{self as rwlock_legacy, LockState, NdisRwLock};
use ndis_rwlock::storage::pushrw;
use ndis_rwlock::{CriticalRegion, LegacyRwLock, PushLock, RwLockEx};

const PROCESSORS: u32 = 8;
const WORDS: usize = 4;

/// Words that every writer bumps together and every reader checks.
#[derive(Default)]
struct Record([u64; WORDS]);

impl Record {
    fn consistent(&self) -> bool {
        self.0.iter().all(|&w| w == self.0[0])
    }
    fn bump(&mut self) {
        for w in &mut self.0 {
            *w += 1;
        }
    }
}

#[derive(Default)]
struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
    churned: AtomicU64,
    violations: AtomicU64,
}

fn duration() -> Duration {
    let secs = std::env::var("NDIS_RWLOCK_SOAK_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(2);
    Duration::from_secs(secs)
}

/// A cheap per-thread generator: decides reads vs writes and nesting.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

#[test]
fn soak_every_lock_with_churn_and_no_leak() {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
    let length = duration();
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let ex = Arc::new(RwLockEx::new(Record::default()).expect("the pool has room"));
    // Asymmetric mode: readers without a fence, writers with a process-wide barrier.
    let asym = Arc::new(RwLockEx::new_asymmetric(Record::default()).expect("the pool has room"));
    assert!(
        asym.is_asymmetric(),
        "the simulated kernel has a process-wide barrier"
    );
    let legacy = Arc::new(LegacyRwLock::new(Record::default()));
    let push = Arc::new(PushLock::new(Record::default()));
    let start = Instant::now();

    std::thread::scope(|s| {
        // 12 workers on 8 processors: 3 on RwLockEx, 3 on an asymmetric-mode RwLockEx, 3 on
        // the legacy lock, 3 on the push lock.
        for worker in 0..12u32 {
            let (stop, counters) = (stop.clone(), counters.clone());
            let (ex, asym, legacy, push) = (ex.clone(), asym.clone(), legacy.clone(), push.clone());
            s.spawn(move || {
                let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ u64::from(worker + 1));
                sim::run_on(worker % PROCESSORS, || {
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..64 {
                            let write = dice.roll(100) < 5;
                            let ok = match worker % 4 {
                                0 | 1 => {
                                    let ex = if worker % 4 == 0 { &ex } else { &asym };
                                    if write {
                                        ex.write().bump();
                                        true
                                    } else if dice.roll(4) == 0 {
                                        let d = DispatchGuard::<Sim>::raise();
                                        let outer = ex.read_at_dispatch(d.token());
                                        let inner = ex.read_at_dispatch(d.token());
                                        outer.consistent() && inner.0 == outer.0
                                    } else {
                                        ex.try_read().is_none_or(|g| g.consistent())
                                            && ex.read().consistent()
                                    }
                                }
                                2 => {
                                    if write {
                                        legacy.write().bump();
                                        true
                                    } else {
                                        legacy.read().consistent()
                                    }
                                }
                                _ => {
                                    let region = CriticalRegion::<Sim>::enter();
                                    if write {
                                        push.write(&region).bump();
                                        true
                                    } else {
                                        push.read(&region).consistent()
                                    }
                                }
                            };
                            let counter = if write {
                                &counters.writes
                            } else {
                                &counters.reads
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            if !ok {
                                counters.violations.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                });
                assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
            });
        }
        // 2 churn threads: allocate, use through the C-ABI functions, free.
        for churner in 0..2u32 {
            let (stop, counters) = (stop.clone(), counters.clone());
            s.spawn(move || {
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let lock = NdisRwLockEx::<Sim>::allocate().expect("the pool has room");
                    let raw = lock.as_ptr();
                    let mut state = LockStateEx::default();
                    // SAFETY: a live lock and a valid state; released before the free.
                    unsafe { rwlock_ex::acquire_write::<Sim>(raw, &mut state, 0) };
                    // SAFETY: the acquisition above.
                    unsafe { rwlock_ex::release::<Sim>(raw, &mut state) };
                    // SAFETY: allocated above, not held, not used afterwards.
                    unsafe { NdisRwLockEx::free(lock) };

                    let push = pushrw::allocate::<Sim>();
                    assert!(!push.is_null());
                    let mut state = pushrw::PushRwLockState::default();
                    // SAFETY: a live lock and a valid state; released before the free.
                    unsafe { pushrw::acquire_read::<Sim>(push, &mut state, 0) };
                    // SAFETY: the acquisition above.
                    unsafe { pushrw::release::<Sim>(push, &mut state) };
                    // SAFETY: allocated above, not held, not used afterwards.
                    unsafe { pushrw::free::<Sim>(push) };

                    let boxed = RwLockEx::new(u64::from(churner)).expect("the pool has room");
                    *boxed.write() += 1;
                    drop(boxed);
                    // An asymmetric-mode lock's barrier costs microseconds: one in 32 rounds.
                    if round.is_multiple_of(32) {
                        let boxed = RwLockEx::new_asymmetric(u64::from(churner))
                            .expect("the pool has room");
                        *boxed.write() += 1;
                        assert_eq!(*boxed.read(), u64::from(churner) + 1);
                        drop(boxed);
                        counters.churned.fetch_add(1, Ordering::Relaxed);
                    }
                    round += 1;

                    // The legacy lock through its C-ABI functions, in caller-owned storage.
                    let mut legacy = Box::new(NdisRwLock::<Sim>::new());
                    let mut state = LockState::default();
                    // SAFETY: writable storage nobody else uses.
                    unsafe { rwlock_legacy::initialize::<Sim>(&mut *legacy) };
                    // SAFETY: an initialised lock and a valid state; released below.
                    unsafe { rwlock_legacy::acquire::<Sim>(&mut *legacy, true, &mut state) };
                    // SAFETY: the acquisition above.
                    unsafe { rwlock_legacy::release::<Sim>(&mut *legacy, &mut state) };
                    assert!(!legacy.is_held());
                    counters.churned.fetch_add(4, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(length);
        stop.store(true, Ordering::Relaxed);
    });

    let elapsed = start.elapsed();
    let reads = counters.reads.load(Ordering::Relaxed);
    let writes = counters.writes.load(Ordering::Relaxed);
    let churned = counters.churned.load(Ordering::Relaxed);
    println!(
        "soak: {:.1} s, {reads} reads, {writes} writes, {churned} locks allocated and freed",
        elapsed.as_secs_f64()
    );
    assert_eq!(counters.violations.load(Ordering::Relaxed), 0);
    assert!(reads > 0 && writes > 0 && churned > 0);

    // The four records saw every write exactly once.
    let ex_writes = ex.read().0[0] + asym.read().0[0];
    let legacy_writes = legacy.read().0[0];
    let push_writes = push.read(&CriticalRegion::<Sim>::enter()).0[0];
    assert_eq!(ex_writes + legacy_writes + push_writes, writes);
    for (name, diag) in [
        ("RwLockEx", ex.diagnostics()),
        ("asymmetric RwLockEx", asym.diagnostics()),
        ("legacy", legacy.diagnostics()),
    ] {
        assert_eq!((diag.readers, diag.writer), (0, None), "{name} left held");
    }

    drop(ex);
    drop(asym);
    // Nothing is left allocated (the driver-unload check bug-checks otherwise).
    pool::check_unload(RWLOCK_EX_TAG);
    pool::check_unload(pushrw::TAG);
}
