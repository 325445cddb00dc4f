//! NDIS_RW_LOCK_EX under load on an 8-processor simulated machine: more threads than
//! processors, readers checking an invariant over multi-word data while writers update it,
//! nested reads, write recursion and reads inside writes, through the safe `RwLockEx` and the
//! C exports.
//!
//! `NDIS_RWLOCK_STRESS_OPS` sets the number of lock operations per test (default: 3 million
//! in a debug build, 8 million in a release build).
#![cfg(not(loom))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;

use ndis_rwlock::RwLockEx;
use ndis_rwlock::ffi::rwlock_ex::{
    NdisAcquireRWLockRead, NdisAcquireRWLockWrite, NdisAllocateRWLock, NdisFreeRWLock,
    NdisReleaseRWLock,
};
use ndis_rwlock::kernel::{DISPATCH_LEVEL, DefaultKernel, DispatchGuard, Kernel, PASSIVE_LEVEL};
use ndis_rwlock::sim;
use ndis_rwlock::storage::ex::{LockStateEx, NDIS_RWL_AT_DISPATCH_LEVEL, NdisRwLockEx};

type K = DefaultKernel;

const PROCESSORS: u32 = 8;
/// More threads than processors: threads of one processor take turns at DISPATCH_LEVEL.
const THREADS: u32 = 16;
/// Words of the protected record; all equal whenever no writer is inside.
const WORDS: usize = 8;

/// The tests run one at a time, so that each has the machine (and the host's cores) to itself.
static SERIAL: Mutex<()> = Mutex::new(());

fn machine() -> MutexGuard<'static, ()> {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lock operations per test, spread over the threads.
fn operations() -> u64 {
    let default = if cfg!(debug_assertions) {
        3_000_000
    } else {
        8_000_000
    };
    std::env::var("NDIS_RWLOCK_STRESS_OPS")
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: a cheap per-thread choice of operations.
struct Rng(u64);

impl Rng {
    fn new(seed: u32) -> Self {
        Self(0x9E37_79B9_7F4A_7C15 ^ (u64::from(seed) + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % n
    }
}

/// What the threads of one test counted.
#[derive(Debug, Default)]
struct Tally {
    operations: AtomicU64,
    reads: AtomicU64,
    nested_reads: AtomicU64,
    writes: AtomicU64,
    failed_tries: AtomicU64,
    violations: AtomicU64,
}

impl Tally {
    fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn check(&self, final_value: u64) {
        let ops = self.operations.load(Ordering::Relaxed);
        let writes = self.writes.load(Ordering::Relaxed);
        eprintln!("{self:?}, final value {final_value}");
        assert_eq!(self.violations.load(Ordering::Relaxed), 0, "{self:?}");
        assert_eq!(
            final_value, writes,
            "every write is counted once: no lost update"
        );
        assert!(ops >= operations(), "{self:?}");
        assert!(
            writes > 0 && self.reads.load(Ordering::Relaxed) > 0,
            "{self:?}"
        );
        assert!(self.nested_reads.load(Ordering::Relaxed) > 0, "{self:?}");
    }
}

fn consistent(words: &[u64; WORDS]) -> bool {
    words.iter().all(|w| *w == words[0])
}

// ---------------------------------------------------------------------------------------------
// Safe API.

/// One operation on the safe lock; returns how many acquisitions it made.
fn safe_operation(lock: &RwLockEx<[u64; WORDS]>, rng: &mut Rng, tally: &Tally) -> u64 {
    let bad = |ok: bool| {
        if !ok {
            tally.add(&tally.violations, 1);
        }
    };
    match rng.below(100) {
        // Plain read.
        0..60 => {
            let r = lock.read();
            bad(consistent(&r));
            tally.add(&tally.reads, 1);
            1
        }
        // Nested reads on one processor, both must see the same record.
        60..72 => {
            let outer = lock.read();
            let inner = lock.read();
            let innermost = lock.try_read();
            bad(consistent(&outer) && *outer == *inner);
            bad(innermost.is_some_and(|r| *r == *outer));
            tally.add(&tally.nested_reads, 1);
            3
        }
        // Reads and a write at DISPATCH_LEVEL, the way a DPC would.
        72..80 => {
            let dispatch = DispatchGuard::<K>::raise();
            let before = {
                let r = lock.read_at_dispatch(dispatch.token());
                bad(consistent(&r));
                r[0]
            };
            let mut w = lock.write_at_dispatch(dispatch.token());
            bad(consistent(&w) && w[0] >= before);
            for word in w.iter_mut() {
                *word += 1;
            }
            tally.add(&tally.writes, 1);
            drop(w);
            drop(lock.read_at_dispatch(dispatch.token()));
            3
        }
        // Try, and count the refusals.
        80..88 => {
            match lock.try_read() {
                Some(r) => bad(consistent(&r)),
                None => tally.add(&tally.failed_tries, 1),
            }
            1
        }
        88..92 => {
            match lock.try_write() {
                Some(mut w) => {
                    bad(consistent(&w));
                    for word in w.iter_mut() {
                        *word += 1;
                    }
                    tally.add(&tally.writes, 1);
                }
                None => tally.add(&tally.failed_tries, 1),
            }
            1
        }
        // Write: all words, one at a time.
        _ => {
            let mut w = lock.write();
            bad(consistent(&w));
            for word in w.iter_mut() {
                *word += 1;
            }
            tally.add(&tally.writes, 1);
            1
        }
    }
}

#[test]
fn safe_api_readers_and_writers_keep_the_record_consistent() {
    let _m = machine();
    let lock = RwLockEx::<_>::new([0u64; WORDS]).expect("pool has room");
    let tally = Tally::default();
    let per_thread = operations().div_ceil(u64::from(THREADS));
    thread::scope(|s| {
        for t in 0..THREADS {
            let (lock, tally) = (&lock, &tally);
            s.spawn(move || {
                sim::run_on(t % PROCESSORS, || {
                    let mut rng = Rng::new(t);
                    let mut done = 0;
                    while done < per_thread {
                        done += safe_operation(lock, &mut rng, tally);
                        debug_assert_eq!(K::current_irql(), PASSIVE_LEVEL);
                    }
                    tally.add(&tally.operations, done);
                });
            });
        }
    });
    let record = lock.into_inner();
    assert!(consistent(&record));
    tally.check(record[0]);
}

// ---------------------------------------------------------------------------------------------
// C exports.

/// The protected record for the C-ABI test. Relaxed atomics so that a broken lock shows up
/// as a failed check rather than as undefined behaviour; the lock alone orders them.
struct Record([AtomicU64; WORDS]);

impl Record {
    fn load(&self) -> [u64; WORDS] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }

    fn bump(&self) {
        for word in &self.0 {
            word.store(word.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    }
}

struct CLock(*mut NdisRwLockEx);

// SAFETY: NDIS_RW_LOCK_EX is made to be shared by threads on every processor.
unsafe impl Send for CLock {}
// SAFETY: as above.
unsafe impl Sync for CLock {}

impl CLock {
    fn read(&self, state: &mut LockStateEx, flags: u8) {
        // SAFETY: a live lock and a writable state.
        unsafe { NdisAcquireRWLockRead(self.0, state, flags) }
    }

    fn write(&self, state: &mut LockStateEx, flags: u8) {
        // SAFETY: a live lock and a writable state.
        unsafe { NdisAcquireRWLockWrite(self.0, state, flags) }
    }

    fn release(&self, state: &mut LockStateEx) {
        // SAFETY: a live lock and the state of one of its acquisitions.
        unsafe { NdisReleaseRWLock(self.0, state) }
    }
}

/// One operation through the C exports; returns how many acquisitions it made.
fn c_operation(lock: &CLock, record: &Record, rng: &mut Rng, tally: &Tally) -> u64 {
    let bad = |ok: bool| {
        if !ok {
            tally.add(&tally.violations, 1);
        }
    };
    let (mut s1, mut s2, mut s3) = Default::default();
    match rng.below(100) {
        0..62 => {
            lock.read(&mut s1, 0);
            bad(consistent(&record.load()));
            lock.release(&mut s1);
            tally.add(&tally.reads, 1);
            1
        }
        // Read recursion, the inner ones flagged as already at DISPATCH_LEVEL.
        62..75 => {
            lock.read(&mut s1, 0);
            let outer = record.load();
            lock.read(&mut s2, NDIS_RWL_AT_DISPATCH_LEVEL);
            lock.read(&mut s3, 0);
            bad(consistent(&outer) && record.load() == outer);
            lock.release(&mut s3);
            lock.release(&mut s2);
            bad(record.load() == outer);
            lock.release(&mut s1);
            tally.add(&tally.nested_reads, 1);
            3
        }
        // A caller already at DISPATCH_LEVEL.
        75..85 => {
            let dispatch = DispatchGuard::<K>::raise();
            lock.read(&mut s1, NDIS_RWL_AT_DISPATCH_LEVEL);
            bad(consistent(&record.load()));
            lock.release(&mut s1);
            lock.write(&mut s2, NDIS_RWL_AT_DISPATCH_LEVEL);
            bad(consistent(&record.load()));
            record.bump();
            tally.add(&tally.writes, 1);
            lock.release(&mut s2);
            debug_assert_eq!(K::current_irql(), DISPATCH_LEVEL);
            drop(dispatch);
            2
        }
        // Write recursion and a read inside the write.
        85..92 => {
            lock.write(&mut s1, 0);
            bad(consistent(&record.load()));
            record.bump();
            lock.write(&mut s2, NDIS_RWL_AT_DISPATCH_LEVEL);
            record.bump();
            lock.read(&mut s3, 0);
            bad(consistent(&record.load()));
            lock.release(&mut s3);
            lock.release(&mut s2);
            tally.add(&tally.writes, 2);
            lock.release(&mut s1);
            3
        }
        _ => {
            lock.write(&mut s1, 0);
            bad(consistent(&record.load()));
            record.bump();
            tally.add(&tally.writes, 1);
            lock.release(&mut s1);
            1
        }
    }
}

#[test]
fn c_exports_readers_and_writers_keep_the_record_consistent() {
    let _m = machine();
    let lock = CLock(NdisAllocateRWLock(std::ptr::null_mut()));
    assert!(!lock.0.is_null());
    let record = Record(std::array::from_fn(|_| AtomicU64::new(0)));
    let tally = Tally::default();
    let per_thread = operations().div_ceil(u64::from(THREADS));
    thread::scope(|s| {
        for t in 0..THREADS {
            let (lock, record, tally) = (&lock, &record, &tally);
            s.spawn(move || {
                sim::run_on(t % PROCESSORS, || {
                    let mut rng = Rng::new(t + THREADS);
                    let mut done = 0;
                    while done < per_thread {
                        done += c_operation(lock, record, &mut rng, tally);
                        debug_assert_eq!(K::current_irql(), PASSIVE_LEVEL);
                    }
                    tally.add(&tally.operations, done);
                });
            });
        }
    });
    // SAFETY: a live lock, released by every thread.
    let diag = unsafe { &*lock.0 }.diagnostics();
    assert_eq!((diag.readers, diag.writer), (0, None));
    // SAFETY: allocated above, not held, not used again.
    unsafe { NdisFreeRWLock(lock.0) };
    let words = record.load();
    assert!(consistent(&words));
    tally.check(words[0]);
}
