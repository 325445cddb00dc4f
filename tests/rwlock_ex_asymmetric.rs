//! The asymmetric mode of `RwLockEx` (readers without a fence, writers with a process-wide
//! barrier) under stress on eight simulated processors, through the safe API and the C ABI,
//! plus its fallbacks: no barrier at allocation gives a symmetric lock, a barrier that fails
//! later bug-checks the writer.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use ndis_rwlock::bugcheck::{NDIS_RWLOCK_VIOLATION, rw};
use ndis_rwlock::ffi::rwlock_ex::{NdisAcquireRWLockRead, NdisReleaseRWLock};
use ndis_rwlock::kernel::DispatchGuard;
use ndis_rwlock::storage::ex::{LockStateEx, NDIS_RWL_AT_DISPATCH_LEVEL};
use ndis_rwlock::{RwLockEx, sim};

const PROCESSORS: u32 = 8;
const WORDS: usize = 8;

/// Every word holds the number of writes so far; a reader that sees two different words saw
/// a write half done.
struct Record {
    words: [u64; WORDS],
}

impl Record {
    fn consistent(&self) -> bool {
        self.words.iter().all(|&w| w == self.words[0])
    }
}

/// Boots the machine and takes it for the calling test alone: the tests bind threads to
/// processors (`sim::dedicate`) and meet at barriers, so two of them running at once could
/// each hold a processor the other's barrier waits for.
fn boot() -> std::sync::MutexGuard<'static, ()> {
    static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let machine = MACHINE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert_eq!(
        sim::boot(PROCESSORS),
        PROCESSORS,
        "every test here boots 8 processors"
    );
    machine
}

/// Writes one word at a time, with a pause between words, so that a reader that is let in
/// during the write would see the record torn.
fn bump(record: &mut Record) {
    for word in &mut record.words {
        *word += 1;
        std::hint::spin_loop();
    }
}

/// Pins the calling thread to host CPU `cpu` (modulo the host's CPUs), so that a reader and a
/// writer really run at the same time; not pinned is only a weaker test.
fn pin(cpu: usize) {
    #[cfg(target_os = "linux")]
    {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu % cpus);
        let _ = rustix::thread::sched_setaffinity(None, &set);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

#[test]
fn asymmetric_readers_never_see_a_write_half_done() {
    let _machine = boot();
    let lock: RwLockEx<Record> =
        RwLockEx::new_asymmetric(Record { words: [0; WORDS] }).expect("pool");
    if cfg!(target_os = "linux") {
        assert!(lock.is_asymmetric(), "Linux hosts have membarrier");
    }
    const WRITERS: u32 = 2;
    const WRITES: u64 = 1500;
    let torn = AtomicU64::new(0);
    let reads = AtomicU64::new(0);
    let writers_left = AtomicU32::new(WRITERS);
    let done = AtomicBool::new(false);
    let start = Barrier::new(PROCESSORS as usize);
    std::thread::scope(|s| {
        for processor in 0..PROCESSORS {
            let (lock, torn, reads, writers_left, done, start) =
                (&lock, &torn, &reads, &writers_left, &done, &start);
            s.spawn(move || {
                let _bound = sim::dedicate(processor);
                start.wait();
                if processor < WRITERS {
                    for _ in 0..WRITES {
                        bump(&mut lock.write());
                    }
                    if writers_left.fetch_sub(1, Ordering::AcqRel) == 1 {
                        done.store(true, Ordering::Release);
                    }
                    return;
                }
                let mut n = 0u64;
                let mut round = 0u32;
                while !done.load(Ordering::Acquire) || round < 100 {
                    round += 1;
                    let ok = match round % 4 {
                        // From PASSIVE_LEVEL (raise and lower each time).
                        0 => lock.read().consistent(),
                        // At DISPATCH_LEVEL, with a recursive read inside.
                        1 => {
                            let raised: DispatchGuard = DispatchGuard::raise();
                            let outer = lock.read_at_dispatch(raised.token());
                            let inner = lock.read_at_dispatch(raised.token());
                            outer.consistent() && inner.consistent() && outer.words == inner.words
                        }
                        // Never waiting.
                        2 => lock.try_read().is_none_or(|r| r.consistent()),
                        // Through the C ABI, which honours the lock's mode.
                        _ => {
                            let raised: DispatchGuard = DispatchGuard::raise();
                            let mut state = LockStateEx::default();
                            // SAFETY: the lock is live for the whole scope; at DISPATCH_LEVEL
                            // as the flag says.
                            unsafe {
                                NdisAcquireRWLockRead(
                                    lock.as_raw(),
                                    &mut state,
                                    NDIS_RWL_AT_DISPATCH_LEVEL,
                                )
                            };
                            // The read acquisition excludes writers, so a shared look at the
                            // data through the safe type's storage is what C code would do.
                            let ok = {
                                let peek = lock.try_read();
                                // Recursive on this processor: never refused.
                                peek.is_some_and(|r| r.consistent())
                            };
                            // SAFETY: releases the acquisition `state` records, here.
                            unsafe { NdisReleaseRWLock(lock.as_raw(), &mut state) };
                            drop(raised);
                            ok
                        }
                    };
                    if !ok {
                        torn.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
                reads.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(
        torn.load(Ordering::Relaxed),
        0,
        "a reader saw a write half done"
    );
    assert!(reads.load(Ordering::Relaxed) > 0);
    let record = lock.into_inner();
    assert_eq!(record.words, [u64::from(WRITERS) * WRITES; WORDS]);
}

#[test]
fn without_a_process_barrier_the_lock_is_symmetric() {
    let _machine = boot();
    sim::fail_next_process_barriers(1);
    let lock: RwLockEx<Record> =
        RwLockEx::new_asymmetric(Record { words: [0; WORDS] }).expect("pool");
    assert!(!lock.is_asymmetric());
    bump(&mut lock.write());
    assert!(lock.read().consistent());
    assert_eq!(lock.into_inner().words, [1; WORDS]);
}

#[test]
fn the_c_allocation_and_new_are_symmetric() {
    let _machine = boot();
    let lock: RwLockEx<u32> = RwLockEx::new(0).expect("pool");
    assert!(!lock.is_asymmetric());
    let raw = ndis_rwlock::ffi::rwlock_ex::NdisAllocateRWLock(std::ptr::null_mut());
    assert!(!raw.is_null());
    // SAFETY: just allocated, not shared.
    assert!(!unsafe { &*raw }.is_asymmetric());
    // SAFETY: allocated above, not held, not used afterwards.
    unsafe { ndis_rwlock::ffi::rwlock_ex::NdisFreeRWLock(raw) };
}

#[test]
fn a_writer_whose_barrier_fails_bug_checks_and_leaves_the_lock_free() {
    let _machine = boot();
    let lock: RwLockEx<Record> =
        RwLockEx::new_asymmetric(Record { words: [0; WORDS] }).expect("pool");
    if !lock.is_asymmetric() {
        // A host without membarrier: the lock is symmetric and its writers run no barrier.
        return;
    }
    let _bound = sim::dedicate(3);
    sim::fail_next_process_barriers(1);
    let stop = sim::expect_bug_check(|| {
        let _w = lock.write();
    });
    assert_eq!(stop.code, NDIS_RWLOCK_VIOLATION);
    assert_eq!(stop.params[0], rw::PROCESS_BARRIER_FAILED);
    assert_eq!(stop.params[1], lock.as_raw() as usize);
    // The write acquisition was undone: the lock works and frees cleanly.
    let diag = lock.diagnostics();
    assert_eq!((diag.readers, diag.writer), (0, None));
    bump(&mut lock.write());
    assert!(lock.read().consistent());
    assert_eq!(lock.into_inner().words, [1; WORDS]);
}

/// Two processors, one reading and one writing as fast as they can: the store-buffer race
/// that the writer's barrier closes has the most chances here. Each reader checks that no
/// writer is inside (a flag the writer raises for the whole write).
#[test]
fn one_reader_one_writer_head_to_head() {
    let _machine = boot();
    let lock: RwLockEx<Record> =
        RwLockEx::new_asymmetric(Record { words: [0; WORDS] }).expect("pool");
    const WRITES: u64 = 100_000;
    let inside = AtomicBool::new(false);
    let overlaps = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            pin(0);
            let _bound = sim::dedicate(4);
            start.wait();
            let raised: DispatchGuard = DispatchGuard::raise();
            while !done.load(Ordering::Acquire) {
                let r = lock.read_at_dispatch(raised.token());
                if inside.load(Ordering::Relaxed) || !r.consistent() {
                    overlaps.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        s.spawn(|| {
            pin(1);
            let _bound = sim::dedicate(5);
            start.wait();
            for _ in 0..WRITES {
                let mut w = lock.write();
                inside.store(true, Ordering::Relaxed);
                bump(&mut w);
                inside.store(false, Ordering::Relaxed);
            }
            done.store(true, Ordering::Release);
        });
    });
    assert_eq!(
        overlaps.load(Ordering::Relaxed),
        0,
        "a reader ran inside a write"
    );
    assert_eq!(lock.into_inner().words, [WRITES; WORDS]);
}
