//! Operation sequences on the NDIS 6.20 lock and a reference model that predicts each one's
//! outcome: success, or the bug check (code and subcode) of the first misuse. The fuzz
//! targets in fuzz/ and the regular test tests/fuzz_model.rs both drive the crate with it.
//!
//! The sequence runs through the generic functions behind the C exports
//! (`rwlock_ex::{acquire_read, acquire_write, release, free}`), which are the exports' bodies
//! but can unwind, inside `sim::catch_bug_check`, with raw pointers and raw `LOCK_STATE_EX`
//! bytes, on one virtual processor with the simulated verifier on.
#![allow(
    dead_code,
    reason = "the fuzz targets and the test use different parts"
)]

use std::ptr::NonNull;

/// The push locks' sequences and model.
#[path = "fuzz_push.rs"]
pub mod push;

/// The legacy NDIS 5 lock's sequences and model.
#[path = "fuzz_legacy.rs"]
pub mod legacy;

use ndis_rwlock::bugcheck::{NDIS_RWLOCK_VIOLATION, rw};
use ndis_rwlock::kernel::{DISPATCH_LEVEL, Irql, Kernel, PASSIVE_LEVEL};
use ndis_rwlock::sim::{self, Sim};
use ndis_rwlock::storage::ex::{
    self as rwlock_ex, LockStateEx, NDIS_RWL_AT_DISPATCH_LEVEL, NdisRwLockEx,
};

/// How many `LOCK_STATE_EX` slots a sequence juggles.
pub const SLOTS: usize = 4;

/// One operation of a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `NdisAcquireRWLockRead(lock, &slot, flags)`.
    Read { slot: usize, flags: u8 },
    /// `NdisAcquireRWLockWrite(lock, &slot, flags)`.
    Write { slot: usize, flags: u8 },
    /// `NdisReleaseRWLock(lock, &slot)`.
    Release { slot: usize },
    /// Overwrites a slot with bytes that are no acquisition's.
    Garble { slot: usize },
    /// `KfRaiseIrql(DISPATCH_LEVEL)`.
    Raise,
    /// `KeLowerIrql(PASSIVE_LEVEL)` (when above it).
    Lower,
    /// `NdisFreeRWLock(lock)`.
    Free,
}

impl Op {
    /// Decodes a sequence from fuzzer bytes: two bytes an operation.
    pub fn decode(bytes: &[u8]) -> Vec<Op> {
        bytes
            .chunks_exact(2)
            .map(|pair| {
                let (kind, arg) = (pair[0] % 16, pair[1]);
                let slot = usize::from(arg) % SLOTS;
                // Mostly valid flags; sometimes undefined bits.
                let flags = if arg & 0xF0 == 0xF0 {
                    arg & 0x0E | 0x02
                } else {
                    (arg >> 2) & 1
                };
                match kind {
                    0..=3 => Op::Read { slot, flags },
                    4..=6 => Op::Write { slot, flags },
                    7..=10 => Op::Release { slot },
                    11 => Op::Garble { slot },
                    12 => Op::Raise,
                    13 => Op::Lower,
                    14 => Op::Free,
                    _ => Op::Release { slot },
                }
            })
            .collect()
    }
}

/// What the model says an operation does.
pub type Outcome = Result<(), (u32, usize)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    None,
    Read { old: Irql, at_dispatch: bool },
    Write { old: Irql, at_dispatch: bool },
    RecursiveWrite { old: Irql, at_dispatch: bool },
    Garbage,
}

/// The reference model: one processor, one lock.
#[derive(Debug, Clone)]
pub struct Model {
    irql: Irql,
    readers: u32,
    /// Write acquisitions held by this processor (0: no writer).
    writes: u32,
    freed: bool,
    slots: [Held; SLOTS],
    /// The protected value, as writers leave it.
    pub data: u64,
}

fn stop(subcode: usize) -> Outcome {
    Err((NDIS_RWLOCK_VIOLATION, subcode))
}

impl Default for Model {
    fn default() -> Self {
        Self {
            irql: PASSIVE_LEVEL,
            readers: 0,
            writes: 0,
            freed: false,
            slots: [Held::None; SLOTS],
            data: 0,
        }
    }
}

impl Model {
    fn check_acquire(&self, flags: u8) -> Result<(Irql, bool), (u32, usize)> {
        if self.freed {
            return Err((NDIS_RWLOCK_VIOLATION, rw::NOT_A_LOCK));
        }
        if flags & !NDIS_RWL_AT_DISPATCH_LEVEL != 0 {
            return Err((NDIS_RWLOCK_VIOLATION, rw::UNDEFINED_FLAGS));
        }
        let at_dispatch = flags & NDIS_RWL_AT_DISPATCH_LEVEL != 0;
        if at_dispatch && self.irql != DISPATCH_LEVEL {
            return Err((NDIS_RWLOCK_VIOLATION, rw::AT_DISPATCH_FLAG_BELOW_DISPATCH));
        }
        let old = if at_dispatch {
            DISPATCH_LEVEL
        } else {
            self.irql
        };
        Ok((old, at_dispatch))
    }

    /// Applies `op` and says what it must do.
    pub fn step(&mut self, op: Op) -> Outcome {
        match op {
            Op::Read { slot, flags } => {
                let (old, at_dispatch) = self.check_acquire(flags)?;
                self.readers += 1;
                self.irql = DISPATCH_LEVEL;
                self.slots[slot] = Held::Read { old, at_dispatch };
                Ok(())
            }
            Op::Write { slot, flags } => {
                let (old, at_dispatch) = self.check_acquire(flags)?;
                if self.writes > 0 {
                    self.writes += 1;
                    self.slots[slot] = Held::RecursiveWrite { old, at_dispatch };
                } else if self.readers > 0 {
                    // The count check comes before any IRQL change of the lock's own... but
                    // the raise already happened; the stop resets the thread anyway.
                    return stop(rw::READ_TO_WRITE_PROMOTION);
                } else {
                    self.writes = 1;
                    self.slots[slot] = Held::Write { old, at_dispatch };
                }
                self.irql = DISPATCH_LEVEL;
                self.data += 1;
                Ok(())
            }
            Op::Release { slot } => {
                if self.freed {
                    return stop(rw::NOT_A_LOCK);
                }
                let (old, at_dispatch) = match self.slots[slot] {
                    Held::None | Held::Garbage => return stop(rw::BAD_LOCK_STATE),
                    Held::Read { old, at_dispatch }
                    | Held::Write { old, at_dispatch }
                    | Held::RecursiveWrite { old, at_dispatch } => (old, at_dispatch),
                };
                if self.irql != DISPATCH_LEVEL {
                    return stop(rw::RELEASE_NOT_AT_DISPATCH);
                }
                match self.slots[slot] {
                    Held::Read { .. } if self.readers > 0 => self.readers -= 1,
                    Held::Write { .. } if self.writes == 1 => self.writes = 0,
                    Held::RecursiveWrite { .. } if self.writes > 1 => self.writes -= 1,
                    _ => return stop(rw::BAD_LOCK_STATE),
                }
                self.slots[slot] = Held::None;
                if !at_dispatch {
                    self.irql = old;
                }
                Ok(())
            }
            Op::Garble { slot } => {
                self.slots[slot] = Held::Garbage;
                Ok(())
            }
            Op::Raise => {
                self.irql = DISPATCH_LEVEL;
                Ok(())
            }
            Op::Lower => {
                self.irql = PASSIVE_LEVEL;
                Ok(())
            }
            Op::Free => {
                if self.freed {
                    return stop(rw::NOT_A_LOCK);
                }
                if self.readers > 0 || self.writes > 0 {
                    return stop(rw::FREE_HELD_LOCK);
                }
                self.freed = true;
                Ok(())
            }
        }
    }

    /// Whether the lock is still held when the sequence ends.
    pub fn held(&self) -> bool {
        self.readers > 0 || self.writes > 0
    }
}

/// The real thing: a lock, its state slots and the protected value.
struct Real {
    lock: *mut NdisRwLockEx<Sim>,
    slots: [LockStateEx; SLOTS],
    data: u64,
}

impl Real {
    fn step(&mut self, op: Op) {
        let lock = self.lock;
        match op {
            Op::Read { slot, flags } => {
                // SAFETY: the lock is live or quarantined (its memory stays mapped), the slot
                // is three writable bytes; misuse bug-checks.
                unsafe { rwlock_ex::acquire_read::<Sim>(lock, &mut self.slots[slot], flags) };
            }
            Op::Write { slot, flags } => {
                // SAFETY: as above.
                unsafe { rwlock_ex::acquire_write::<Sim>(lock, &mut self.slots[slot], flags) };
                self.data += 1;
            }
            Op::Release { slot } => {
                // SAFETY: as above.
                unsafe { rwlock_ex::release::<Sim>(lock, &mut self.slots[slot]) };
            }
            Op::Garble { slot } => {
                self.slots[slot] = LockStateEx {
                    old_irql: 0x7F,
                    lock_state: 0x05,
                    flags: 0xFE,
                };
            }
            Op::Raise => {
                // SAFETY: the model only raises to DISPATCH_LEVEL, from at most there.
                unsafe { Sim::raise_irql(DISPATCH_LEVEL) };
            }
            Op::Lower => {
                // SAFETY: lowering with the lock held is a caller bug the lock detects later.
                unsafe { Sim::lower_irql(PASSIVE_LEVEL) };
            }
            Op::Free => {
                // SAFETY: as above; a second free reads the quarantined, poisoned block.
                unsafe { rwlock_ex::free::<Sim>(lock) };
            }
        }
    }
}

/// Runs `ops` on processor `processor` and checks every step against the model. Returns the
/// number of steps run (up to and including the first bug check).
///
/// # Panics
///
/// When the crate and the model disagree.
pub fn check_sequence(ops: &[Op], processor: u32) -> usize {
    let lock = NdisRwLockEx::<Sim>::allocate()
        .expect("the simulated pool has room")
        .as_ptr();
    let mut model = Model::default();
    let mut real = Real {
        lock,
        slots: [LockStateEx::default(); SLOTS],
        data: 0,
    };
    let mut steps = 0;
    let mut stopped = false;
    run_checked(processor, || {
        for &op in ops {
            steps += 1;
            let predicted = model.step(op);
            let actual = sim::catch_bug_check(|| real.step(op));
            match (predicted, actual) {
                (Ok(()), Ok(())) => {
                    assert_eq!(real.data, model.data, "the protected value after {op:?}");
                }
                (Err((code, p1)), Err(stop)) if stop.code == code && stop.params[0] == p1 => {
                    stopped = true;
                    break;
                }
                (predicted, actual) => panic!(
                    "step {steps} {op:?} of {ops:?}: the model predicts {predicted:?}, the \
                     crate did {actual:?}"
                ),
            }
        }
        if !stopped && Sim::current_irql() != PASSIVE_LEVEL {
            // SAFETY: the sequence is over; nothing more is released on this thread.
            unsafe { Sim::lower_irql(PASSIVE_LEVEL) };
        }
    });
    // A clean lock is freed through the lock (a failure would be a finding). One left held, or
    // on a stopped machine, goes back to the pool directly, as a reboot would take it, so that
    // long fuzzing runs do not grow.
    if !stopped && !model.held() && !model.freed {
        // SAFETY: released by every acquisition and not used afterwards.
        unsafe { NdisRwLockEx::free(NonNull::new(lock).expect("non-null")) };
    } else if !model.freed {
        let block = sim::pool::outstanding(rwlock_ex::RWLOCK_EX_TAG)
            .into_iter()
            .find(|a| (a.address..a.address + a.size).contains(&(lock as usize)))
            .expect("the lock's block is live");
        // SAFETY: the live block holding the lock, allocated with this tag; nothing uses it
        // any more.
        unsafe { Sim::free_pool(block.address as *mut u8, rwlock_ex::RWLOCK_EX_TAG) };
    }
    steps
}

/// The multi-threaded variant: one input drives up to four threads, each on its own
/// processor, each running well-formed acquisitions (reads, writes, nested reads, reads inside
/// its own writes) over one lock that protects a pair of words; every reader checks the pair,
/// and the final pair counts every write. A hang would be a DPC-watchdog stop.
///
/// # Panics
///
/// When a reader sees a torn pair, a write is lost, or anything bug-checks.
pub fn check_concurrent(bytes: &[u8]) {
    struct Pair(std::cell::UnsafeCell<(u64, u64)>);
    // SAFETY: the pair is only touched under the lock.
    unsafe impl Sync for Pair {}

    let threads = (bytes.first().copied().unwrap_or(0) % 3 + 2) as usize;
    let lock = NdisRwLockEx::<Sim>::allocate()
        .expect("the simulated pool has room")
        .as_ptr() as usize;
    let pair = Pair(std::cell::UnsafeCell::new((0, 0)));
    let plans: Vec<Vec<u8>> = (0..threads)
        .map(|t| bytes.iter().skip(1 + t).step_by(threads).copied().collect())
        .collect();
    let processors = sim::processor_count();
    std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(threads);
        for (t, plan) in plans.iter().enumerate() {
            let pair = &pair;
            handles.push(s.spawn(move || {
                let lock = lock as *mut NdisRwLockEx<Sim>;
                run_checked(t as u32 % processors, || {
                    sim::with_watchdog(std::time::Duration::from_secs(10), || {
                        for &b in plan {
                            let mut outer = LockStateEx::default();
                            let mut inner = LockStateEx::default();
                            let write = b % 4 == 0;
                            if write {
                                // SAFETY: a live lock, valid states, released in reverse order.
                                unsafe { rwlock_ex::acquire_write::<Sim>(lock, &mut outer, 0) };
                            } else {
                                // SAFETY: as above.
                                unsafe { rwlock_ex::acquire_read::<Sim>(lock, &mut outer, 0) };
                            }
                            if b & 0x10 != 0 {
                                // SAFETY: as above: nested read (inside a read or own write).
                                unsafe {
                                    rwlock_ex::acquire_read::<Sim>(
                                        lock,
                                        &mut inner,
                                        NDIS_RWL_AT_DISPATCH_LEVEL,
                                    );
                                }
                            }
                            // SAFETY: under the lock: shared for reads, exclusive for writes.
                            let p = unsafe { &mut *pair.0.get() };
                            if write {
                                p.0 += 1;
                                std::hint::spin_loop();
                                p.1 += 1;
                            } else {
                                assert_eq!(p.0, p.1, "a reader saw a torn pair");
                            }
                            if b & 0x10 != 0 {
                                // SAFETY: the nested acquisition above.
                                unsafe { rwlock_ex::release::<Sim>(lock, &mut inner) };
                            }
                            // SAFETY: the outer acquisition above.
                            unsafe { rwlock_ex::release::<Sim>(lock, &mut outer) };
                        }
                    });
                });
            }));
        }
        join_all(handles);
    });
    let writes: u64 = plans.iter().flatten().filter(|&&b| b % 4 == 0).count() as u64;
    // SAFETY: every thread has ended.
    let p = unsafe { *pair.0.get() };
    assert_eq!(p, (writes, writes), "lost or torn writes");
    // SAFETY: nobody holds the lock.
    unsafe { rwlock_ex::free::<Sim>(lock as *mut NdisRwLockEx<Sim>) };
}

/// Joins every thread of a checker's scope, and re-raises the first panic.
///
/// A scope alone waits only until the threads' closures have returned; a thread's
/// thread-local destructors (which give its simulated-kernel state back, such as its lease
/// and its list of held push locks) may still be running when the input ends, and
/// LeakSanitizer, which libFuzzer runs after an input that allocated more than it freed,
/// would then report that state as leaked. Joining waits until each thread has exited.
pub fn join_all<T>(handles: Vec<std::thread::ScopedJoinHandle<'_, T>>) {
    let mut first_panic = None;
    for handle in handles {
        if let Err(panic) = handle.join() {
            first_panic.get_or_insert(panic);
        }
    }
    if let Some(panic) = first_panic {
        std::panic::resume_unwind(panic);
    }
}

/// libFuzzer's panic hook aborts on every panic; a bug check that the harness catches is an
/// expected outcome, not a crash. Wraps the hook so that only other panics reach it.
pub fn let_bug_checks_unwind() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let abort_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<sim::BugCheck>().is_none() {
                abort_hook(info);
            }
        }));
    });
}

/// The processors a legacy-lock sequence runs on: two with a reader slot and, on a machine with
/// more than `MAXIMUM_PROCESSORS`, two without one.
pub fn legacy_processors() -> Vec<u32> {
    use ndis_rwlock::storage::legacy::MAXIMUM_PROCESSORS;
    [0, 1, MAXIMUM_PROCESSORS, MAXIMUM_PROCESSORS + 1]
        .into_iter()
        .filter(|&p| p < sim::processor_count())
        .collect()
}

/// Which lock a fuzz input drives, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `NDIS_RW_LOCK_EX`.
    Ex,
    /// `NDIS_RWL_PUSH_LOCK` and a bare `EX_PUSH_LOCK`.
    Push,
    /// `NDIS_RW_LOCK`.
    Legacy,
}

impl Target {
    /// The lock the first byte selects.
    pub fn of(first: u8) -> Self {
        match first % 3 {
            0 => Self::Ex,
            1 => Self::Push,
            _ => Self::Legacy,
        }
    }
}

/// The `sequence` fuzz target's body: the first byte picks the lock and the processor, the
/// rest is the operation sequence, checked step by step against that lock's model.
///
/// # Panics
///
/// When the crate and the model disagree.
pub fn check_input(data: &[u8]) -> usize {
    let first = data.first().copied().unwrap_or(0);
    let rest = data.get(1..).unwrap_or_default();
    match Target::of(first) {
        Target::Ex => check_sequence(&Op::decode(rest), u32::from(first / 3 % 2)),
        Target::Push => push::check_sequence(&push::Op::decode(rest)),
        Target::Legacy => {
            let processors = legacy_processors();
            let processor = processors[usize::from(first / 3) % processors.len()];
            legacy::check_sequence(&legacy::Op::decode(rest), processor)
        }
    }
}

/// The `concurrent` fuzz target's body: the first byte picks the lock, the rest drives the
/// threads.
///
/// # Panics
///
/// When a reader sees a torn pair, a write is lost, or anything bug-checks.
pub fn check_concurrent_input(data: &[u8]) {
    let first = data.first().copied().unwrap_or(0);
    let rest = data.get(1..).unwrap_or_default();
    match Target::of(first) {
        Target::Ex => check_concurrent(rest),
        Target::Push => push::check_concurrent(rest),
        Target::Legacy => legacy::check_concurrent(rest),
    }
}

/// The machine the fuzz targets and their tests run on: more processors than an
/// `NDIS_RW_LOCK` has reader slots, so that legacy sequences also run where every acquisition
/// is exclusive.
pub const PROCESSORS: u32 = 66;

/// `sim::run_on(processor, f)` for a checker: when `f` panics (the crate and a model disagree)
/// at `DISPATCH_LEVEL`, the thread first goes back to `PASSIVE_LEVEL`, so that the panic's
/// message is what the test reports, not the simulated kernel's stop for a thread that ends at
/// `DISPATCH_LEVEL`.
pub fn run_checked<R>(processor: u32, f: impl FnOnce() -> R) -> R {
    let result = sim::run_on(processor, || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        if result.is_err() && Sim::current_irql() > PASSIVE_LEVEL {
            // SAFETY: the check is over; nothing the thread holds is released any more.
            unsafe { Sim::lower_irql(PASSIVE_LEVEL) };
        }
        result
    });
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Raises or lowers the current thread to `irql` (at most `DISPATCH_LEVEL`).
pub fn set_irql(irql: Irql) {
    let current = Sim::current_irql();
    if irql > current {
        // SAFETY: raising, to at most DISPATCH_LEVEL.
        unsafe { Sim::raise_irql(irql) };
    } else if irql < current {
        // SAFETY: lowering; what the model allows the thread to hold at the new IRQL.
        unsafe { Sim::lower_irql(irql) };
    }
}
