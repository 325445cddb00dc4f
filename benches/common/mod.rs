//! The locks the benchmarks compare, behind one trait, and the timed round they run in.
//!
//! Shared by `benches/locks.rs` (criterion) and `examples/lab.rs` (interleaved rounds).
//! Every worker thread is bound to its own virtual processor (`sim::dedicate`) and pinned to
//! the host CPU of the same index, and repeatedly reads (or, for a share of operations,
//! writes) a two-word record that must always read back consistent.

#![allow(dead_code, reason = "each benchmark program uses a different part")]

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::cell::UnsafeCell;

use ndis_rwlock::ffi::rwlock_ex::{
    NdisAcquireRWLockRead, NdisAcquireRWLockWrite, NdisAllocateRWLock, NdisFreeRWLock,
    NdisReleaseRWLock,
};
use ndis_rwlock::kernel::{DISPATCH_LEVEL, DispatchGuard};
use ndis_rwlock::sim::exports::{KeLowerIrql, KfRaiseIrql};
use ndis_rwlock::storage::ex::{LockStateEx, NDIS_RWL_AT_DISPATCH_LEVEL, NdisRwLockEx};
use ndis_rwlock::{CriticalRegion, LegacyRwLock, PushLock, RwLockEx, sim};

/// The protected data: readers check `a == b`, writers bump both.
#[derive(Debug, Default)]
pub struct Record {
    pub a: u64,
    pub b: u64,
}

/// What a benchmark needs from a lock.
pub trait Lock: Sync + Sized {
    /// What a thread holds for the whole run: an IRQL raised once, a critical region.
    type Cx;
    /// Row name in the tables.
    const NAME: &'static str;
    /// Whether the lock supports writes (the no-lock control does not).
    const WRITES: bool = true;
    /// Whether a worker binds itself to its virtual processor (`sim::dedicate`, the Rust
    /// rows); the C-ABI rows run on plain threads the kernel attaches, homed there.
    const DEDICATED: bool = true;
    fn make() -> Self;
    fn enter() -> Self::Cx;
    /// One read acquire + check + release; `false` if the record was torn.
    fn read_check(&self, cx: &Self::Cx) -> bool;
    /// One write acquire + bump + release.
    fn write_bump(&self, cx: &Self::Cx);
}

macro_rules! rwlock_ex_row {
    ($ty:ident, $name:expr, $asym:expr, passive) => {
        /// `RwLockEx` through `read()`/`write()` from `PASSIVE_LEVEL` (raise and lower each time).
        pub struct $ty(pub RwLockEx<Record>);
        impl Lock for $ty {
            type Cx = ();
            const NAME: &'static str = $name;
            fn make() -> Self {
                let lock = if $asym {
                    RwLockEx::new_asymmetric(Record::default())
                } else {
                    RwLockEx::new(Record::default())
                }
                .expect("the simulated pool has room");
                assert_eq!(lock.is_asymmetric(), $asym, "this host lacks membarrier");
                Self(lock)
            }
            fn enter() {}
            #[inline]
            fn read_check(&self, _: &()) -> bool {
                let r = self.0.read();
                r.a == r.b
            }
            #[inline]
            fn write_bump(&self, _: &()) {
                let mut w = self.0.write();
                w.a += 1;
                w.b += 1;
            }
        }
    };
    ($ty:ident, $name:expr, $asym:expr, dispatch) => {
        /// `RwLockEx` through `read_at_dispatch()`/`write_at_dispatch()`: each thread raises to
        /// `DISPATCH_LEVEL` once for the whole run (`NDIS_RWL_AT_DISPATCH_LEVEL`).
        pub struct $ty(pub RwLockEx<Record>);
        impl Lock for $ty {
            type Cx = DispatchGuard;
            const NAME: &'static str = $name;
            fn make() -> Self {
                let lock = if $asym {
                    RwLockEx::new_asymmetric(Record::default())
                } else {
                    RwLockEx::new(Record::default())
                }
                .expect("the simulated pool has room");
                assert_eq!(lock.is_asymmetric(), $asym, "this host lacks membarrier");
                Self(lock)
            }
            fn enter() -> DispatchGuard {
                DispatchGuard::raise()
            }
            #[inline]
            fn read_check(&self, cx: &DispatchGuard) -> bool {
                let r = self.0.read_at_dispatch(cx.token());
                r.a == r.b
            }
            #[inline]
            fn write_bump(&self, cx: &DispatchGuard) {
                let mut w = self.0.write_at_dispatch(cx.token());
                w.a += 1;
                w.b += 1;
            }
        }
    };
}

rwlock_ex_row!(ExSymPassive, "RwLockEx symmetric", false, passive);
rwlock_ex_row!(
    ExSymDispatch,
    "RwLockEx symmetric @DISPATCH",
    false,
    dispatch
);
rwlock_ex_row!(ExAsymPassive, "RwLockEx asymmetric", true, passive);
rwlock_ex_row!(
    ExAsymDispatch,
    "RwLockEx asymmetric @DISPATCH",
    true,
    dispatch
);

/// `LegacyRwLock` (the NDIS 5 lock) through `read()`/`write()` from `PASSIVE_LEVEL`.
pub struct LegacyPassive(pub LegacyRwLock<Record>);

impl Lock for LegacyPassive {
    type Cx = ();
    const NAME: &'static str = "LegacyRwLock (NDIS 5)";
    fn make() -> Self {
        Self(LegacyRwLock::new(Record::default()))
    }
    fn enter() {}
    #[inline]
    fn read_check(&self, _: &()) -> bool {
        let r = self.0.read();
        r.a == r.b
    }
    #[inline]
    fn write_bump(&self, _: &()) {
        let mut w = self.0.write();
        w.a += 1;
        w.b += 1;
    }
}

/// `LegacyRwLock` through the Dpr variants, each thread at `DISPATCH_LEVEL` for the run.
pub struct LegacyDispatch(pub LegacyRwLock<Record>);

impl Lock for LegacyDispatch {
    type Cx = DispatchGuard;
    const NAME: &'static str = "LegacyRwLock @DISPATCH";
    fn make() -> Self {
        Self(LegacyRwLock::new(Record::default()))
    }
    fn enter() -> DispatchGuard {
        DispatchGuard::raise()
    }
    #[inline]
    fn read_check(&self, cx: &DispatchGuard) -> bool {
        let r = self.0.read_at_dispatch(cx.token());
        r.a == r.b
    }
    #[inline]
    fn write_bump(&self, cx: &DispatchGuard) {
        let mut w = self.0.write_at_dispatch(cx.token());
        w.a += 1;
        w.b += 1;
    }
}

/// `PushLock`: each thread stays in one critical region for the run.
pub struct Push(pub PushLock<Record>);

impl Lock for Push {
    type Cx = CriticalRegion;
    const NAME: &'static str = "PushLock";
    fn make() -> Self {
        Self(PushLock::new(Record::default()))
    }
    fn enter() -> CriticalRegion {
        CriticalRegion::enter()
    }
    #[inline]
    fn read_check(&self, region: &CriticalRegion) -> bool {
        let r = self.0.read(region);
        r.a == r.b
    }
    #[inline]
    fn write_bump(&self, region: &CriticalRegion) {
        let mut w = self.0.write(region);
        w.a += 1;
        w.b += 1;
    }
}

macro_rules! guard_row {
    ($ty:ident, $inner:ty, $name:expr, $new:expr, $read:ident, $write:ident $(, $unwrap:ident)?) => {
        pub struct $ty(pub $inner);
        impl Lock for $ty {
            type Cx = ();
            const NAME: &'static str = $name;
            fn make() -> Self {
                Self($new)
            }
            fn enter() {}
            #[inline]
            fn read_check(&self, _: &()) -> bool {
                let r = self.0.$read()$(.$unwrap())?;
                r.a == r.b
            }
            #[inline]
            fn write_bump(&self, _: &()) {
                let mut w = self.0.$write()$(.$unwrap())?;
                w.a += 1;
                w.b += 1;
            }
        }
    };
}

guard_row!(
    StdRwLock,
    std::sync::RwLock<Record>,
    "std::sync::RwLock",
    std::sync::RwLock::new(Record::default()),
    read,
    write,
    unwrap
);
guard_row!(
    ParkingLot,
    parking_lot::RwLock<Record>,
    "parking_lot::RwLock",
    parking_lot::RwLock::new(Record::default()),
    read,
    write
);
guard_row!(
    Sharded,
    crossbeam_utils::sync::ShardedLock<Record>,
    "crossbeam ShardedLock",
    crossbeam_utils::sync::ShardedLock::new(Record::default()),
    read,
    write,
    unwrap
);
guard_row!(
    Spin,
    spin::RwLock<Record>,
    "spin::RwLock",
    spin::RwLock::new(Record::default()),
    read,
    write
);

/// The control: two relaxed loads and a compare, no lock (read-only scenarios only).
pub struct NoLock {
    a: AtomicU64,
    b: AtomicU64,
}

impl Lock for NoLock {
    type Cx = ();
    const NAME: &'static str = "no lock (control)";
    const WRITES: bool = false;
    fn make() -> Self {
        Self {
            a: AtomicU64::new(0),
            b: AtomicU64::new(0),
        }
    }
    fn enter() {}
    #[inline]
    fn read_check(&self, _: &()) -> bool {
        self.a.load(Ordering::Relaxed) == self.b.load(Ordering::Relaxed)
    }
    fn write_bump(&self, _: &()) {
        unreachable!("the control is read-only")
    }
}

/// The C ABI: `NdisAcquireRWLockRead`/`NdisAcquireRWLockWrite`/`NdisReleaseRWLock` called
/// through function pointers (never inlined, as a C driver calls the exports) by plain threads
/// that the simulated kernel attaches on first use, not dedicated. With `AT_DISPATCH`, each
/// thread raises once with `KfRaiseIrql` for the run and passes `NDIS_RWL_AT_DISPATCH_LEVEL`;
/// without, every call raises and lowers.
pub struct CAbi<const AT_DISPATCH: bool> {
    lock: *mut NdisRwLockEx,
    data: UnsafeCell<Record>,
    acquire_read: AcquireFn,
    acquire_write: AcquireFn,
    release: ReleaseFn,
}

type AcquireFn = unsafe extern "system" fn(*mut NdisRwLockEx, *mut LockStateEx, u8);
type ReleaseFn = unsafe extern "system" fn(*mut NdisRwLockEx, *mut LockStateEx);

// SAFETY: the NDIS lock serialises access to `data` (shared for reads, exclusive for
// writes), and the lock itself is made for use from any thread.
unsafe impl<const AT_DISPATCH: bool> Sync for CAbi<AT_DISPATCH> {}

/// The IRQL a C-ABI worker raised from, lowered back when the run ends.
pub struct CIrql(Option<u8>);

impl Drop for CIrql {
    fn drop(&mut self) {
        if let Some(old) = self.0 {
            KeLowerIrql(old);
        }
    }
}

impl<const AT_DISPATCH: bool> CAbi<AT_DISPATCH> {
    const FLAGS: u8 = if AT_DISPATCH {
        NDIS_RWL_AT_DISPATCH_LEVEL
    } else {
        0
    };
}

impl<const AT_DISPATCH: bool> Lock for CAbi<AT_DISPATCH> {
    type Cx = CIrql;
    const NAME: &'static str = if AT_DISPATCH {
        "C ABI @DISPATCH"
    } else {
        "C ABI"
    };
    const DEDICATED: bool = false;
    fn make() -> Self {
        let lock = NdisAllocateRWLock(std::ptr::null_mut());
        assert!(!lock.is_null(), "the simulated pool has room");
        Self {
            lock,
            data: UnsafeCell::new(Record::default()),
            acquire_read: black_box(NdisAcquireRWLockRead as AcquireFn),
            acquire_write: black_box(NdisAcquireRWLockWrite as AcquireFn),
            release: black_box(NdisReleaseRWLock as ReleaseFn),
        }
    }
    fn enter() -> CIrql {
        CIrql(AT_DISPATCH.then(|| KfRaiseIrql(DISPATCH_LEVEL)))
    }
    #[inline]
    fn read_check(&self, _: &CIrql) -> bool {
        let mut state = LockStateEx::default();
        // SAFETY: a live lock and a writable state; the flag is true of `enter`'s IRQL.
        unsafe { (self.acquire_read)(self.lock, &raw mut state, Self::FLAGS) };
        // SAFETY: a read acquisition is held: no writer changes the record.
        let record = unsafe { &*self.data.get() };
        let consistent = record.a == record.b;
        // SAFETY: releases the acquisition `state` records, on the same thread.
        unsafe { (self.release)(self.lock, &raw mut state) };
        consistent
    }
    #[inline]
    fn write_bump(&self, _: &CIrql) {
        let mut state = LockStateEx::default();
        // SAFETY: as in `read_check`.
        unsafe { (self.acquire_write)(self.lock, &raw mut state, Self::FLAGS) };
        // SAFETY: the write acquisition is held: the record is ours alone.
        let record = unsafe { &mut *self.data.get() };
        record.a += 1;
        record.b += 1;
        // SAFETY: as in `read_check`.
        unsafe { (self.release)(self.lock, &raw mut state) };
    }
}

impl<const AT_DISPATCH: bool> Drop for CAbi<AT_DISPATCH> {
    fn drop(&mut self) {
        // SAFETY: allocated in `make`, not held (every acquisition was released).
        unsafe { NdisFreeRWLock(self.lock) };
    }
}

/// The C ABI with `NDIS_RWL_AT_DISPATCH_LEVEL`.
pub type CDispatch = CAbi<true>;
/// The C ABI from `PASSIVE_LEVEL`.
pub type CPassive = CAbi<false>;

/// Runs `f` on virtual processor `processor` as `L`'s workers run: bound to it (dedicated),
/// or, for a plain attached thread, with it as the home processor.
pub fn on_processor<L: Lock, R>(processor: u32, f: impl FnOnce() -> R) -> R {
    if L::DEDICATED {
        let _bound = sim::dedicate(processor);
        f()
    } else {
        sim::run_on(processor, f)
    }
}

/// Pins the calling thread to host CPU `cpu` (modulo the CPUs the thread may use), if the host
/// lets it.
pub fn pin(cpu: u32) {
    #[cfg(target_os = "linux")]
    {
        // Counted once, before any thread is pinned: a pinned thread's children inherit its
        // mask, and would count one CPU.
        static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let cpus =
            *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu as usize % cpus);
        // Not pinned is only noisier, never wrong.
        let _ = rustix::thread::sched_setaffinity(None, &set);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// Operations between two looks at the clock.
const BATCH: u64 = 256;
/// Length of the windows a round is cut into.
const SLOT: Duration = Duration::from_millis(1);

/// What one timed round measured.
#[derive(Debug, Clone, Copy)]
pub struct RoundResult {
    /// Operations per second, summed over threads, counting only the windows in which every
    /// thread ran.
    pub ops_per_sec: f64,
    /// Share of the windows counted.
    pub kept: f64,
}

/// One timed round of `length`: `threads` threads, thread `i` on virtual processor `i` and
/// host CPU `i`; each operation writes with probability `write_bp` / 10 000.
///
/// The host pauses virtual CPUs for milliseconds at a time and other work shares the cores,
/// so the round is cut into 1 ms windows and only the windows in which every thread ran at
/// full speed count: at least 80% of its own 90th-percentile window.
///
/// # Panics
///
/// If a reader saw a torn record.
pub fn round<L: Lock>(lock: &L, threads: u32, write_bp: u32, length: Duration) -> RoundResult {
    assert!(L::WRITES || write_bp == 0, "{} is read-only", L::NAME);
    let slots = usize::try_from(length.as_micros() / SLOT.as_micros())
        .unwrap_or(1)
        .max(1);
    let violations = AtomicU64::new(0);
    let start = Barrier::new(threads as usize);
    let per_thread: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|processor| {
                let (violations, start) = (&violations, &start);
                s.spawn(move || {
                    pin(processor);
                    on_processor::<L, _>(processor, || {
                        let mut counts = vec![0u64; slots];
                        // A cheap per-thread generator decides which operations write.
                        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (u64::from(processor) << 32);
                        let mut torn = 0u64;
                        start.wait();
                        let cx = L::enter();
                        let t0 = Instant::now();
                        loop {
                            for _ in 0..BATCH {
                                x ^= x << 13;
                                x ^= x >> 7;
                                x ^= x << 17;
                                if (x % 10_000) < u64::from(write_bp) {
                                    lock.write_bump(&cx);
                                } else if !lock.read_check(&cx) {
                                    torn += 1;
                                }
                            }
                            let slot = t0.elapsed().as_micros() / SLOT.as_micros();
                            match counts.get_mut(usize::try_from(slot).unwrap_or(usize::MAX)) {
                                Some(count) => *count += BATCH,
                                None => break,
                            }
                        }
                        drop(cx);
                        violations.fetch_add(torn, Ordering::Relaxed);
                        counts
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a benchmark thread panicked"))
            .collect()
    });
    assert_eq!(
        violations.load(Ordering::Relaxed),
        0,
        "{} let a reader see a torn record",
        L::NAME
    );
    // A thread's full speed: its 90th-percentile window.
    let fulls: Vec<u64> = per_thread
        .iter()
        .map(|counts| {
            let mut sorted = counts.clone();
            sorted.sort_unstable();
            sorted[sorted.len() * 9 / 10]
        })
        .collect();
    let clean: Vec<usize> = (0..slots)
        .filter(|&i| {
            per_thread
                .iter()
                .zip(&fulls)
                .all(|(counts, &full)| counts[i] * 5 >= full * 4)
        })
        .collect();
    let counted: Vec<usize> = if clean.is_empty() {
        (0..slots).collect()
    } else {
        clean
    };
    let ops: u64 = counted
        .iter()
        .map(|&i| per_thread.iter().map(|c| c[i]).sum::<u64>())
        .sum();
    RoundResult {
        ops_per_sec: ops as f64 / (counted.len() as f64 * SLOT.as_secs_f64()),
        kept: counted.len() as f64 / slots as f64,
    }
}

/// The median of `values` (which must not be empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One uncontended read pair on the calling thread, for criterion (`black_box`ed).
#[inline]
pub fn read_once<L: Lock>(lock: &L, cx: &L::Cx) -> bool {
    black_box(lock).read_check(cx)
}

/// `threads` threads (as in [`round`]) each run `iters` operations (writes with probability
/// `write_bp` / 10 000); returns the longest thread's time. For criterion's `iter_custom`.
pub fn timed_ops<L: Lock>(lock: &L, threads: u32, write_bp: u32, iters: u64) -> Duration {
    let start = Barrier::new(threads as usize);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|processor| {
                let start = &start;
                s.spawn(move || {
                    pin(processor);
                    on_processor::<L, _>(processor, || {
                        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (u64::from(processor) << 32);
                        start.wait();
                        let cx = L::enter();
                        let t0 = Instant::now();
                        for _ in 0..iters {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            if (x % 10_000) < u64::from(write_bp) {
                                lock.write_bump(&cx);
                            } else {
                                assert!(lock.read_check(&cx), "{} tore a record", L::NAME);
                            }
                        }
                        let elapsed = t0.elapsed();
                        drop(cx);
                        elapsed
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a benchmark thread panicked"))
            .max()
            .unwrap_or_default()
    })
}
