//! Multi-processor stress of the legacy `NDIS_RW_LOCK`: more threads than processors, Dpr and
//! non-Dpr acquisitions mixed on one lock, read and write recursion, reads inside writes,
//! with invariants checked over the protected data on every acquisition.

mod legacy_common;

use std::sync::Barrier;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;

use legacy_common::*;
use ndis_rwlock::LegacyRwLock;
use ndis_rwlock::kernel::{DispatchGuard, PASSIVE_LEVEL};
use ndis_rwlock::sim::{self, Sim};
use ndis_rwlock::storage::legacy::LockState;

const PROCESSORS: u32 = 8;
const THREADS: u32 = 12;
const ITERATIONS: u32 = 4000;
const FIELDS: usize = 4;

fn boot() {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
}

/// xorshift32: a fixed sequence per thread, so a failure reproduces.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// Data the lock protects. Atomics with relaxed loads and stores, so that a broken lock shows
/// up as a failed invariant rather than as undefined behaviour in the test. Violations are
/// counted, not asserted on the spot: a panic at DISPATCH_LEVEL would stop the machine
/// before the test could report.
struct Protected {
    fields: [AtomicU64; FIELDS],
    readers_inside: AtomicU32,
    writers_inside: AtomicU32,
    reader_beside_writer: AtomicU64,
    torn: AtomicU64,
    two_writers: AtomicU64,
    writer_beside_reader: AtomicU64,
}

impl Protected {
    fn new() -> Self {
        Self {
            fields: [const { AtomicU64::new(0) }; FIELDS],
            readers_inside: AtomicU32::new(0),
            writers_inside: AtomicU32::new(0),
            reader_beside_writer: AtomicU64::new(0),
            torn: AtomicU64::new(0),
            two_writers: AtomicU64::new(0),
            writer_beside_reader: AtomicU64::new(0),
        }
    }

    fn count_if(counter: &AtomicU64, violated: bool) {
        if violated {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn check(&self) {
        let counts = [
            ("reader beside a writer", &self.reader_beside_writer),
            ("torn record", &self.torn),
            ("two writers", &self.two_writers),
            ("writer beside a reader", &self.writer_beside_reader),
        ]
        .map(|(what, counter)| (what, counter.load(Ordering::Relaxed)));
        assert!(counts.iter().all(|(_, n)| *n == 0), "{counts:?}");
    }

    /// Under a read acquisition: no writer of another processor, and a consistent record.
    fn read(&self, inside_own_write: bool) {
        self.readers_inside.fetch_add(1, Ordering::SeqCst);
        if !inside_own_write {
            let writers = self.writers_inside.load(Ordering::SeqCst);
            Self::count_if(&self.reader_beside_writer, writers != 0);
        }
        let first = self.fields[0].load(Ordering::Relaxed);
        for field in &self.fields[1..] {
            Self::count_if(&self.torn, field.load(Ordering::Relaxed) != first);
        }
        self.readers_inside.fetch_sub(1, Ordering::SeqCst);
    }

    /// Under the outermost write acquisition: alone, and a non-atomic-style update that a
    /// second writer would tear.
    fn write(&self) {
        let writers = self.writers_inside.fetch_add(1, Ordering::SeqCst);
        Self::count_if(&self.two_writers, writers != 0);
        let readers = self.readers_inside.load(Ordering::SeqCst);
        Self::count_if(&self.writer_beside_reader, readers != 0);
        for field in &self.fields {
            let value = field.load(Ordering::Relaxed);
            // Let the host run another thread mid-update: a reader or writer that the lock
            // failed to exclude would see the record torn.
            thread::yield_now();
            field.store(value + 1, Ordering::Relaxed);
        }
        self.writers_inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One acquisition through the C API, Dpr or not.
fn acquire(lock: Lock, write: bool, dpr: bool) -> LockState {
    if dpr {
        lock.dpr_acquire(write)
    } else {
        lock.acquire(write)
    }
}

fn release(lock: Lock, state: &mut LockState, dpr: bool) {
    if dpr {
        lock.dpr_release(state);
    } else {
        lock.release(state);
    }
}

/// One operation of the mix; returns the outermost writes it made.
fn operation(lock: Lock, data: &Protected, rng: &mut Rng) -> u64 {
    let roll = rng.next();
    let dpr = roll & 0x100 != 0;
    // A Dpr acquisition needs DISPATCH_LEVEL; the guard keeps the thread there around it.
    let dispatch = dpr.then(DispatchGuard::<Sim>::raise);
    let writes = match roll % 100 {
        0..60 => {
            let mut state = acquire(lock, false, dpr);
            data.read(false);
            release(lock, &mut state, dpr);
            0
        }
        60..72 => {
            // Read recursion, the inner one of the other kind once at DISPATCH_LEVEL.
            let mut outer = acquire(lock, false, dpr);
            let mut inner = lock.dpr_acquire(false);
            data.read(false);
            lock.dpr_release(&mut inner);
            data.read(false);
            release(lock, &mut outer, dpr);
            0
        }
        72..88 => {
            let mut state = acquire(lock, true, dpr);
            data.write();
            release(lock, &mut state, dpr);
            1
        }
        88..95 => {
            // Write recursion and a read inside our own write.
            let mut outer = acquire(lock, true, dpr);
            let mut nested = lock.acquire(true);
            let mut read = lock.dpr_acquire(false);
            data.read(true);
            lock.dpr_release(&mut read);
            lock.release(&mut nested);
            data.write();
            release(lock, &mut outer, dpr);
            1
        }
        _ => {
            // A read that outlives the write it was taken in (both at DISPATCH_LEVEL).
            let at_dispatch = DispatchGuard::<Sim>::raise();
            let mut write = lock.acquire(true);
            data.write();
            let mut read = lock.acquire(false);
            lock.release(&mut write);
            data.read(false);
            lock.release(&mut read);
            drop(at_dispatch);
            1
        }
    };
    drop(dispatch);
    writes
}

#[test]
fn mixed_dpr_and_non_dpr_acquisitions_keep_the_invariants() {
    boot();
    let lock = Lock::new();
    let data = Protected::new();
    let total = AtomicU64::new(0);
    let start = Barrier::new(THREADS as usize);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (data, total, start) = (&data, &total, &start);
            s.spawn(move || {
                sim::run_on(t % PROCESSORS, || {
                    let mut rng = Rng(0x9E37_79B9 ^ (t + 1).wrapping_mul(0x85EB_CA6B));
                    start.wait();
                    let mut writes = 0;
                    for _ in 0..ITERATIONS {
                        writes += operation(lock, data, &mut rng);
                    }
                    total.fetch_add(writes, Ordering::Relaxed);
                    assert_eq!(irql(), PASSIVE_LEVEL);
                });
            });
        }
    });
    data.check();
    let writes = total.load(Ordering::Relaxed);
    assert!(writes > 0);
    for field in &data.fields {
        assert_eq!(field.load(Ordering::Relaxed), writes, "lost update");
    }
    assert!(!lock.get().is_held());
}

#[test]
fn legacy_rwlock_under_contention_keeps_its_record_consistent() {
    boot();
    static RECORD: LegacyRwLock<(u64, u64), Sim> = LegacyRwLock::new((0, 0));
    let total = AtomicU64::new(0);
    let torn = AtomicU64::new(0);
    let start = Barrier::new(THREADS as usize);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (total, start, torn) = (&total, &start, &torn);
            let check = move |a: u64, b: u64| {
                if a != b {
                    torn.fetch_add(1, Ordering::Relaxed);
                }
            };
            s.spawn(move || {
                let mut rng = Rng(0x2545_F491 ^ (t + 1).wrapping_mul(0x9E37_79B9));
                start.wait();
                let mut writes = 0;
                for _ in 0..ITERATIONS {
                    let roll = rng.next();
                    match roll % 16 {
                        0 | 1 => {
                            let mut w = RECORD.write();
                            w.0 += 1;
                            thread::yield_now();
                            w.1 += 1;
                            writes += 1;
                        }
                        2 => {
                            if let Some(mut w) = RECORD.try_write() {
                                w.0 += 1;
                                w.1 += 1;
                                writes += 1;
                            }
                        }
                        3 => {
                            let dispatch = DispatchGuard::<Sim>::raise();
                            let mut w = RECORD.write_at_dispatch(dispatch.token());
                            w.0 += 1;
                            w.1 += 1;
                            writes += 1;
                        }
                        4 | 5 => {
                            let dispatch = DispatchGuard::<Sim>::raise();
                            let a = RECORD.read_at_dispatch(dispatch.token());
                            let b = RECORD.read();
                            check(a.0, a.1);
                            check(a.0, b.0);
                        }
                        6 => {
                            if let Some(r) = RECORD.try_read() {
                                check(r.0, r.1);
                            }
                        }
                        _ => {
                            let r = RECORD.read();
                            let first = r.0;
                            thread::yield_now();
                            check(first, r.1);
                        }
                    }
                }
                total.fetch_add(writes, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(torn.load(Ordering::Relaxed), 0, "torn records");
    let record = *RECORD.read();
    assert_eq!(
        record,
        (total.load(Ordering::Relaxed), total.load(Ordering::Relaxed))
    );
}
