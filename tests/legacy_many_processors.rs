//! The legacy `NDIS_RW_LOCK` on a machine with more processors than `MAXIMUM_PROCESSORS`
//! (80 > 64): processors without a reader slot take every acquisition exclusively, the lock
//! stays correct, and nothing outside the structure is ever touched.
//!
//! Its own test binary: the simulated machine boots once per process, first caller wins.

mod legacy_common;

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use legacy_common::*;
use ndis_rwlock::LegacyRwLock;
use ndis_rwlock::bugcheck::rw;
use ndis_rwlock::kernel::{DISPATCH_LEVEL, DispatchGuard, PASSIVE_LEVEL};
use ndis_rwlock::sim::{self, Sim};
use ndis_rwlock::storage::legacy::{
    self as rwlock_legacy, LockState, MAXIMUM_PROCESSORS, NdisRwLock,
};

const PROCESSORS: u32 = 80;

fn boot() {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
    const { assert!(PROCESSORS > MAXIMUM_PROCESSORS) };
}

fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        thread::yield_now();
    }
}

/// Gives a thread that should be blocked plenty of chances to run; what is checked afterwards
/// holds however long this takes.
fn let_others_run() {
    for _ in 0..2000 {
        thread::yield_now();
    }
}

#[test]
fn the_lock_scans_only_its_slots() {
    boot();
    let lock = Lock::new();
    assert_eq!(lock.get().diagnostics().processors, MAXIMUM_PROCESSORS);
}

#[test]
fn acquisitions_beyond_the_slots_are_exclusive_and_say_so_in_the_state() {
    boot();
    let lock = Lock::new();
    sim::run_on(70, || {
        let mut read = lock.acquire(false);
        assert_eq!(processor(), 70);
        assert_eq!(read.lock_state & KIND_MASK, KIND_EXCLUSIVE_READ);
        assert_eq!(read.lock_state & PROCESSOR_MASK, 70 % 64);
        assert_eq!(read.lock_state & LOCK_MASK, lock_bits(lock.address()));
        let diag = lock.get().diagnostics();
        assert_eq!(
            (diag.readers, diag.writer, diag.write_depth),
            (0, Some(70), 1)
        );
        lock.release(&mut read);
        assert!(!lock.get().is_held());

        let mut write = lock.acquire(true);
        assert_eq!(write.lock_state & KIND_MASK, KIND_EXCLUSIVE_WRITE);
        lock.release(&mut write);
        assert!(!lock.get().is_held());
        assert_eq!(irql(), PASSIVE_LEVEL);
    });
}

#[test]
fn nested_acquisitions_beyond_the_slots_release_in_any_order() {
    boot();
    let lock = Lock::new();
    sim::run_on(75, || {
        let dispatch = DispatchGuard::<Sim>::raise();
        // Reads in reads, released first-in first-out.
        let mut a = lock.acquire(false);
        let mut b = lock.dpr_acquire(false);
        let mut c = lock.acquire(false);
        assert_eq!(lock.get().diagnostics().write_depth, 3);
        lock.release(&mut a);
        lock.dpr_release(&mut b);
        assert!(lock.get().is_held());
        lock.release(&mut c);
        assert!(!lock.get().is_held());

        // A write, a read inside it and a write inside that; the read outlives the writes.
        let mut write = lock.acquire(true);
        let mut read = lock.dpr_acquire(false);
        let mut nested = lock.acquire(true);
        lock.release(&mut write);
        lock.release(&mut nested);
        assert_eq!(lock.writer(), Some(75));
        lock.dpr_release(&mut read);
        assert!(!lock.get().is_held());
        drop(dispatch);
    });
}

#[test]
fn promotion_beyond_the_slots_still_stops() {
    boot();
    let lock = Lock::new();
    sim::run_on(66, || {
        let _dispatch = DispatchGuard::<Sim>::raise();
        let _first = lock.acquire(false);
        let _second = lock.dpr_acquire(false);
        let stop = expect_rw(rw::READ_TO_WRITE_PROMOTION, || lock.acquire(true));
        assert_eq!((stop.params[1], stop.params[2]), (lock.address(), 66));
    });
}

#[test]
fn a_state_whose_kind_this_processor_does_not_hold_stops() {
    boot();
    let lock = Lock::new();
    sim::run_on(77, || {
        let _dispatch = DispatchGuard::<Sim>::raise();
        let write = lock.acquire(true);
        let mut forged = LockState {
            lock_state: (write.lock_state & !KIND_MASK) | KIND_EXCLUSIVE_READ,
            ..write
        };
        let stop = expect_rw(rw::BAD_LOCK_STATE, || lock.release(&mut forged));
        assert_eq!((stop.params[2], stop.params[3]), (lock.address(), 5));
    });
}

#[test]
fn a_copy_of_a_released_exclusive_state_stops() {
    boot();
    let lock = Lock::new();
    sim::run_on(68, || {
        for write in [false, true] {
            let mut state = lock.acquire(write);
            let mut copy = state;
            lock.release(&mut state);
            raise(DISPATCH_LEVEL);
            let stop = expect_rw(rw::RELEASE_ON_OTHER_PROCESSOR, || lock.release(&mut copy));
            assert_eq!((stop.params[1], stop.params[3]), (68, 0));
            assert!(!lock.get().is_held());
        }
    });
}

/// Acquires on `from`, drops to PASSIVE_LEVEL while holding, releases on `to`.
fn release_elsewhere(lock: Lock, write: bool, from: u32, to: u32) -> sim::BugCheck {
    let mut state = sim::run_on(from, || {
        let old = raise(DISPATCH_LEVEL);
        let state = lock.acquire(write);
        lower(old);
        state
    });
    sim::run_on(to, || {
        raise(DISPATCH_LEVEL);
        expect_rw(rw::RELEASE_ON_OTHER_PROCESSOR, || lock.release(&mut state))
    })
}

#[test]
fn releases_on_another_processor_stop_even_with_the_same_low_bits() {
    boot();
    let _serial = serial();
    for write in [false, true] {
        // 70 and 6 share the low six bits; the kind tells slot from no slot.
        let stop = release_elsewhere(Lock::new(), write, 70, 6);
        assert_eq!(stop.params[1], 6);
        let stop = release_elsewhere(Lock::new(), write, 6, 70);
        assert_eq!(stop.params[1], 70);
        // Both without a slot: the low bits differ.
        let stop = release_elsewhere(Lock::new(), write, 70, 71);
        assert_eq!(stop.params[1], 71);
    }
}

#[test]
fn an_exclusive_read_excludes_readers_with_a_slot_and_waits_for_them() {
    boot();
    let _serial = serial();
    let lock = Lock::new();
    // First: a reader on processor 3 holds; the exclusive reader on 72 must wait for it.
    let held = AtomicBool::new(false);
    let started = AtomicBool::new(false);
    let entered = AtomicBool::new(false);
    let leave = AtomicBool::new(false);
    let overlapped = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            sim::run_on(3, || {
                let mut state = lock.acquire(false);
                held.store(true, Ordering::Release);
                wait_for(&started);
                let_others_run();
                let early = entered.load(Ordering::Acquire);
                lock.release(&mut state);
                assert!(!early, "exclusive read over a reader");
            });
        });
        s.spawn(|| {
            sim::run_on(72, || {
                wait_for(&held);
                started.store(true, Ordering::Release);
                let mut state = lock.acquire(false);
                entered.store(true, Ordering::Release);
                wait_for(&leave);
                lock.release(&mut state);
            });
        });
        // Then: while 72 holds its exclusive read, a reader on 4 waits.
        s.spawn(|| {
            sim::run_on(4, || {
                wait_for(&entered);
                let mut state = lock.acquire(false);
                if lock.writer().is_some() {
                    overlapped.store(true, Ordering::Relaxed);
                }
                lock.release(&mut state);
            });
        });
        wait_for(&entered);
        let_others_run();
        assert_eq!(lock.writer(), Some(72));
        leave.store(true, Ordering::Release);
    });
    assert!(
        !overlapped.load(Ordering::Relaxed),
        "a reader entered beside the exclusive read"
    );
    assert!(!lock.get().is_held());
}

#[test]
fn legacy_rwlock_beyond_the_slots() {
    boot();
    let lock: &'static LegacyRwLock<u32, Sim> = Box::leak(Box::new(LegacyRwLock::new(5)));
    sim::run_on(79, || {
        let dispatch = DispatchGuard::<Sim>::raise();
        let a = lock.read();
        let b = lock.read_at_dispatch(dispatch.token());
        assert!(a.is_exclusive() && b.is_exclusive());
        assert_eq!(*a + *b, 10);
        drop(a);
        assert!(lock.diagnostics().writer.is_some(), "b still holds");
        drop(b);
        *lock.write() += 1;
        drop(dispatch);
        assert_eq!(*lock.read(), 6);

        let stop = expect_rw(rw::ALIASING_ACQUIRE, || {
            let _w = lock.write();
            let _r = lock.read();
        });
        assert_eq!(stop.params[3], 0);
    });
    let lock: &'static LegacyRwLock<u32, Sim> = Box::leak(Box::new(LegacyRwLock::new(0)));
    sim::run_on(78, || {
        let stop = expect_rw(rw::ALIASING_ACQUIRE, || {
            let _w = lock.write();
            let _again = lock.write();
        });
        assert_eq!(stop.params[3], 1);
    });
    let lock: &'static LegacyRwLock<u32, Sim> = Box::leak(Box::new(LegacyRwLock::new(0)));
    sim::run_on(77, || {
        expect_rw(rw::READ_TO_WRITE_PROMOTION, || {
            let _r = lock.read();
            let _w = lock.try_write();
        });
    });
}

#[test]
fn legacy_rwlock_try_read_beyond_the_slots_fails_while_anyone_reads() {
    boot();
    let _serial = serial();
    let lock = LegacyRwLock::<u32, Sim>::new(0);
    let held = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            sim::run_on(2, || {
                let r = lock.read();
                held.store(true, Ordering::Release);
                wait_for(&done);
                drop(r);
            });
        });
        s.spawn(|| {
            sim::run_on(65, || {
                wait_for(&held);
                assert!(lock.try_read().is_none());
                assert!(lock.try_write().is_none());
                done.store(true, Ordering::Release);
            });
        });
    });
    sim::run_on(65, || assert!(lock.try_read().is_some()));
}

/// The lock between two canary regions.
#[repr(C)]
struct Fenced {
    before: [u64; 32],
    lock: NdisRwLock<Sim>,
    after: [u64; 32],
}

const CANARY: u64 = 0xC0FF_EE00_DEAD_BEEF;

#[test]
fn every_processor_of_the_machine_stays_inside_the_structure() {
    boot();
    let _serial = serial();
    let fenced: *mut Fenced = Box::into_raw(Box::new(Fenced {
        before: [CANARY; 32],
        lock: NdisRwLock::new(),
        after: [CANARY; 32],
    }));
    // SAFETY: `fenced` is a live allocation, leaked for the rest of the process.
    let ptr = unsafe { &raw mut (*fenced).lock };
    // SAFETY: a writable, aligned lock nobody uses yet.
    unsafe { rwlock_legacy::initialize(ptr) };
    let shared = Lock::from_raw(ptr);
    let sum = AtomicU64::new(0);
    let start = Barrier::new(PROCESSORS as usize);
    thread::scope(|s| {
        for p in 0..PROCESSORS {
            let (sum, start) = (&sum, &start);
            s.spawn(move || {
                sim::run_on(p, || {
                    start.wait();
                    for i in 0..20 {
                        let mut state = shared.acquire(i % 4 == 0);
                        sum.fetch_add(1, Ordering::Relaxed);
                        shared.release(&mut state);
                    }
                    let _dispatch = DispatchGuard::<Sim>::raise();
                    let mut state = shared.dpr_acquire(false);
                    shared.dpr_release(&mut state);
                });
            });
        }
    });
    assert_eq!(sum.load(Ordering::Relaxed), u64::from(PROCESSORS) * 20);
    // SAFETY: all threads have finished; the structure is ours again.
    let fenced = unsafe { &*fenced };
    assert!(fenced.before.iter().all(|&w| w == CANARY));
    assert!(fenced.after.iter().all(|&w| w == CANARY));
    assert!(!fenced.lock.is_held());
}

#[test]
fn stress_across_processors_with_and_without_slots() {
    boot();
    let _serial = serial();
    let lock = Lock::new();
    let record = [AtomicU64::new(0), AtomicU64::new(0)];
    let torn = AtomicU64::new(0);
    let writes = AtomicU64::new(0);
    const THREADS: u32 = 16;
    let start = Barrier::new(THREADS as usize);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (record, torn, writes, start) = (&record, &torn, &writes, &start);
            // Processors 56..80: some with a slot, most without.
            let p = 56 + t * (PROCESSORS - 56) / THREADS;
            s.spawn(move || {
                sim::run_on(p, || {
                    start.wait();
                    for i in 0..400u32 {
                        let write = (i + t) % 4 == 0;
                        let dpr = (i + t) % 3 == 0;
                        let dispatch = dpr.then(DispatchGuard::<Sim>::raise);
                        let mut state = shared_acquire(lock, write, dpr);
                        if write {
                            let a = record[0].load(Ordering::Relaxed);
                            thread::yield_now();
                            record[0].store(a + 1, Ordering::Relaxed);
                            record[1].store(a + 1, Ordering::Relaxed);
                            writes.fetch_add(1, Ordering::Relaxed);
                        } else {
                            let a = record[0].load(Ordering::Relaxed);
                            thread::yield_now();
                            if record[1].load(Ordering::Relaxed) != a {
                                torn.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if dpr {
                            lock.dpr_release(&mut state);
                        } else {
                            lock.release(&mut state);
                        }
                        drop(dispatch);
                    }
                });
            });
        }
    });
    assert_eq!(torn.load(Ordering::Relaxed), 0);
    let total = writes.load(Ordering::Relaxed);
    assert_eq!(record[0].load(Ordering::Relaxed), total, "lost update");
    assert_eq!(record[1].load(Ordering::Relaxed), total);
    assert!(!lock.get().is_held());
}

fn shared_acquire(lock: Lock, write: bool, dpr: bool) -> LockState {
    if dpr {
        lock.dpr_acquire(write)
    } else {
        lock.acquire(write)
    }
}
