//! Operation sequences on the legacy NDIS 5 lock (`NDIS_RW_LOCK`, `LOCK_STATE`) and a
//! reference model that predicts each one's outcome, as `fuzz_model.rs` does for
//! `NDIS_RW_LOCK_EX`.
//!
//! The sequence runs through the generic functions behind the C exports
//! (`rwlock_legacy::{acquire, dpr_acquire, release, dpr_release}`) on two neighbouring locks
//! (an array of two `NDIS_RW_LOCK`s, as a driver might declare them), with raw `LOCK_STATE`
//! slots that it may copy or corrupt bit by bit, on one virtual processor: one with a reader
//! slot (below `MAXIMUM_PROCESSORS`) or, on a machine with more processors, one without (whose
//! every acquisition is exclusive).
//!
//! The model knows `LOCK_STATE`'s encoding only from the documentation (src/storage/legacy/state.rs,
//! "LOCK_STATE"): it computes the state an acquisition must write and compares it with the
//! bytes the crate wrote, and it decodes a state to predict what its release does. After every
//! step it also compares the lock's own diagnostics (readers, writer, depth) with its counts.
#![allow(
    dead_code,
    reason = "the fuzz targets and the tests use different parts"
)]

use ndis_rwlock::bugcheck::{NDIS_RWLOCK_VIOLATION, rw};
use ndis_rwlock::kernel::{APC_LEVEL, DISPATCH_LEVEL, Irql, Kernel, PASSIVE_LEVEL};
use ndis_rwlock::sim::{self, Sim};
use ndis_rwlock::storage::legacy::{
    self as rwlock_legacy, LockState, MAXIMUM_PROCESSORS, NdisRwLock,
};

/// How many `LOCK_STATE` slots a sequence juggles.
pub const SLOTS: usize = 4;
/// How many locks (neighbours in one array).
pub const LOCKS: usize = 2;

/// One operation of a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `NdisAcquireReadWriteLock` (`dpr` false) or `NdisDprAcquireReadWriteLock`.
    Acquire {
        lock: usize,
        slot: usize,
        write: bool,
        dpr: bool,
    },
    /// `NdisReleaseReadWriteLock` (`dpr` false) or `NdisDprReleaseReadWriteLock`.
    Release { lock: usize, slot: usize, dpr: bool },
    /// Copies one slot's bytes into another.
    Copy { from: usize, to: usize },
    /// Flips bit `bit` (0-23) of a slot's three meaningful bytes.
    Flip { slot: usize, bit: u8 },
    /// Raises or lowers to this IRQL (`PASSIVE_LEVEL`, `APC_LEVEL` or `DISPATCH_LEVEL`).
    SetIrql(Irql),
}

impl Op {
    /// Decodes a sequence from fuzzer bytes: two bytes an operation.
    pub fn decode(bytes: &[u8]) -> Vec<Op> {
        bytes
            .chunks_exact(2)
            .map(|pair| {
                let (kind, arg) = (pair[0] % 16, pair[1]);
                let slot = usize::from(arg) % SLOTS;
                let lock = usize::from(arg >> 2) % LOCKS;
                let dpr = arg & 0x08 != 0;
                match kind {
                    0..=3 => Op::Acquire {
                        lock,
                        slot,
                        write: false,
                        dpr,
                    },
                    4..=6 => Op::Acquire {
                        lock,
                        slot,
                        write: true,
                        dpr,
                    },
                    7..=11 => Op::Release { lock, slot, dpr },
                    12 => Op::Copy {
                        from: slot,
                        to: usize::from(arg >> 4) % SLOTS,
                    },
                    13 => Op::Flip {
                        slot,
                        bit: (arg >> 2) % 24,
                    },
                    _ => Op::SetIrql(
                        [PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL][usize::from(arg % 3)],
                    ),
                }
            })
            .collect()
    }
}

/// A bug check the model predicts: code, parameter 1, and parameter 4 where the model knows it.
pub type Stop = (u32, usize, Option<usize>);

// The documented encoding of `LockState` (src/storage/legacy/state.rs, "LOCK_STATE").
const KIND_MASK: u16 = 0xF000;
const READ: u16 = 0xA000;
const WRITE: u16 = 0xB000;
const RECURSIVE_WRITE: u16 = 0xC000;
const EXCLUSIVE_READ: u16 = 0xD000;
const EXCLUSIVE_WRITE: u16 = 0xE000;
const DPR: u16 = 0x0800;
const LOCK_MASK: u16 = 0x07C0;
const PROCESSOR_MASK: u16 = 0x003F;

// P4 of a BAD_LOCK_STATE stop raised by the state checks.
const REASON_RELEASED: usize = 1;
const REASON_NOT_A_KIND: usize = 2;
const REASON_OTHER_LOCK: usize = 3;
const REASON_OLD_IRQL: usize = 4;
const REASON_NOT_HELD: usize = 5;

fn lock_bits(address: usize) -> u16 {
    (((address >> 3) % 31) as u16) << 6
}

fn stop(subcode: usize, p4: Option<usize>) -> Result<(), Stop> {
    Err((NDIS_RWLOCK_VIOLATION, subcode, p4))
}

/// One lock as the processor running the sequence sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    /// Reads held on a processor with a slot (its reader count).
    reads: u32,
    /// Write acquisitions held on a processor with a slot (0: not the writer).
    writes: u32,
    /// Read levels of an exclusive hold (processor without a slot).
    x_reads: u32,
    /// Write levels of an exclusive hold (processor without a slot).
    x_writes: u32,
}

/// The reference model: one processor, two locks.
#[derive(Debug, Clone)]
pub struct Model {
    processor: u32,
    addresses: [usize; LOCKS],
    irql: Irql,
    locks: [Counts; LOCKS],
    /// The slots' bytes: `LockState` and `OldIrql`.
    pub slots: [(u16, Irql); SLOTS],
    /// Write acquisitions made, as the protected value counts them.
    pub data: u64,
}

impl Model {
    /// A model of processor `processor` over locks at `addresses`, with zeroed slots.
    pub fn new(processor: u32, addresses: [usize; LOCKS]) -> Self {
        Self {
            processor,
            addresses,
            irql: PASSIVE_LEVEL,
            locks: [Counts::default(); LOCKS],
            slots: [(0, 0); SLOTS],
            data: 0,
        }
    }

    fn has_slot(&self) -> bool {
        self.processor < MAXIMUM_PROCESSORS
    }

    /// What the lock's diagnostics must say: (readers, writer, write depth).
    pub fn diagnostics(&self, lock: usize) -> (u64, Option<u32>, u32) {
        let c = self.locks[lock];
        let depth = c.writes + c.x_reads + c.x_writes;
        let writer = (depth > 0).then_some(self.processor);
        (u64::from(c.reads), writer, depth)
    }

    /// Whether the processor holds anything.
    pub fn held(&self) -> bool {
        self.locks.iter().any(|c| *c != Counts::default())
    }

    fn acquire(&mut self, lock: usize, slot: usize, write: bool, dpr: bool) -> Result<(), Stop> {
        if dpr && self.irql != DISPATCH_LEVEL {
            return stop(rw::AT_DISPATCH_FLAG_BELOW_DISPATCH, None);
        }
        let old = self.irql;
        self.irql = DISPATCH_LEVEL;
        let c = &mut self.locks[lock];
        let kind = if self.processor < MAXIMUM_PROCESSORS {
            if !write {
                c.reads += 1;
                READ
            } else if c.writes > 0 {
                c.writes += 1;
                RECURSIVE_WRITE
            } else if c.reads > 0 {
                return stop(rw::READ_TO_WRITE_PROMOTION, None);
            } else {
                c.writes = 1;
                WRITE
            }
        } else if !write {
            c.x_reads += 1;
            EXCLUSIVE_READ
        } else if c.x_reads > 0 && c.x_writes == 0 {
            return stop(rw::READ_TO_WRITE_PROMOTION, None);
        } else {
            c.x_writes += 1;
            EXCLUSIVE_WRITE
        };
        if write {
            self.data += 1;
        }
        let value = kind
            | if dpr { DPR } else { 0 }
            | lock_bits(self.addresses[lock])
            | (self.processor as u16 & PROCESSOR_MASK);
        self.slots[slot] = (value, if dpr { DISPATCH_LEVEL } else { old });
        Ok(())
    }

    fn release(&mut self, lock: usize, slot: usize, dpr: bool) -> Result<(), Stop> {
        let (value, old) = self.slots[slot];
        let kind = value & KIND_MASK;
        let state_dpr = value & DPR != 0;
        let bad = if kind == 0 {
            Some(REASON_RELEASED)
        } else if !(READ..=EXCLUSIVE_WRITE).contains(&kind) {
            Some(REASON_NOT_A_KIND)
        } else if value & LOCK_MASK != lock_bits(self.addresses[lock]) {
            Some(REASON_OTHER_LOCK)
        } else if old > DISPATCH_LEVEL || (state_dpr && old != DISPATCH_LEVEL) {
            Some(REASON_OLD_IRQL)
        } else {
            None
        };
        if let Some(reason) = bad {
            return stop(rw::BAD_LOCK_STATE, Some(reason));
        }
        if state_dpr != dpr {
            return stop(
                if state_dpr {
                    rw::LEGACY_DPR_STATE_RELEASED_BY_NON_DPR
                } else {
                    rw::LEGACY_NON_DPR_STATE_RELEASED_BY_DPR
                },
                None,
            );
        }
        if self.irql != DISPATCH_LEVEL {
            return stop(rw::RELEASE_NOT_AT_DISPATCH, None);
        }
        let exclusive_kind = matches!(kind, EXCLUSIVE_READ | EXCLUSIVE_WRITE);
        if value & PROCESSOR_MASK != self.processor as u16 & PROCESSOR_MASK
            || exclusive_kind == self.has_slot()
        {
            return stop(rw::RELEASE_ON_OTHER_PROCESSOR, None);
        }
        let c = &mut self.locks[lock];
        match kind {
            READ if c.reads == 0 => return stop(rw::RELEASE_ON_OTHER_PROCESSOR, None),
            READ => c.reads -= 1,
            WRITE | RECURSIVE_WRITE if c.writes == 0 => {
                return stop(rw::RELEASE_ON_OTHER_PROCESSOR, None);
            }
            WRITE if c.writes == 1 => c.writes = 0,
            RECURSIVE_WRITE if c.writes > 1 => c.writes -= 1,
            WRITE | RECURSIVE_WRITE => return stop(rw::BAD_LOCK_STATE, Some(0)),
            _ => {
                if c.x_reads + c.x_writes == 0 {
                    return stop(rw::RELEASE_ON_OTHER_PROCESSOR, None);
                }
                let levels = if kind == EXCLUSIVE_READ {
                    &mut c.x_reads
                } else {
                    &mut c.x_writes
                };
                if *levels == 0 {
                    return stop(rw::BAD_LOCK_STATE, Some(REASON_NOT_HELD));
                }
                *levels -= 1;
            }
        }
        self.slots[slot].0 = value & !KIND_MASK;
        if !dpr {
            self.irql = old;
        }
        Ok(())
    }

    /// Applies `op` and says what it must do.
    pub fn step(&mut self, op: Op) -> Result<(), Stop> {
        match op {
            Op::Acquire {
                lock,
                slot,
                write,
                dpr,
            } => self.acquire(lock, slot, write, dpr),
            Op::Release { lock, slot, dpr } => self.release(lock, slot, dpr),
            Op::Copy { from, to } => {
                self.slots[to] = self.slots[from];
                Ok(())
            }
            Op::Flip { slot, bit } => {
                let (value, old) = &mut self.slots[slot];
                if bit < 16 {
                    *value ^= 1 << bit;
                } else {
                    *old ^= 1 << (bit - 16);
                }
                Ok(())
            }
            Op::SetIrql(irql) => {
                self.irql = irql;
                Ok(())
            }
        }
    }
}

/// Two neighbouring locks, the slots and the protected value.
struct Real {
    locks: Box<[NdisRwLock<Sim>; LOCKS]>,
    slots: [LockState; SLOTS],
    data: u64,
}

impl Real {
    fn lock(&mut self, i: usize) -> *mut NdisRwLock<Sim> {
        &raw mut self.locks[i]
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Acquire {
                lock,
                slot,
                write,
                dpr,
            } => {
                let lock = self.lock(lock);
                let state = &raw mut self.slots[slot];
                if dpr {
                    // SAFETY: an initialised lock and a writable state; misuse bug-checks.
                    unsafe { rwlock_legacy::dpr_acquire::<Sim>(lock, write, state) };
                } else {
                    // SAFETY: as above.
                    unsafe { rwlock_legacy::acquire::<Sim>(lock, write, state) };
                }
                if write {
                    self.data += 1;
                }
            }
            Op::Release { lock, slot, dpr } => {
                let lock = self.lock(lock);
                let state = &raw mut self.slots[slot];
                if dpr {
                    // SAFETY: as above.
                    unsafe { rwlock_legacy::dpr_release::<Sim>(lock, state) };
                } else {
                    // SAFETY: as above.
                    unsafe { rwlock_legacy::release::<Sim>(lock, state) };
                }
            }
            Op::Copy { from, to } => self.slots[to] = self.slots[from],
            Op::Flip { slot, bit } => {
                let state = &mut self.slots[slot];
                if bit < 16 {
                    state.lock_state ^= 1 << bit;
                } else {
                    state.old_irql ^= 1 << (bit - 16);
                }
            }
            Op::SetIrql(irql) => super::set_irql(irql),
        }
    }
}

/// Runs `ops` on processor `processor` and checks every step against the model: the outcome,
/// the slots' bytes, the protected value and both locks' diagnostics. Returns the number of
/// steps run (up to and including the first bug check).
///
/// # Panics
///
/// When the crate and the model disagree.
pub fn check_sequence(ops: &[Op], processor: u32) -> usize {
    let mut real = Real {
        locks: Box::new([NdisRwLock::new(), NdisRwLock::new()]),
        slots: [LockState::default(); SLOTS],
        data: 0,
    };
    for i in 0..LOCKS {
        // SAFETY: a writable lock nobody else uses.
        unsafe { rwlock_legacy::initialize::<Sim>(real.lock(i)) };
    }
    let addresses = [real.lock(0) as usize, real.lock(1) as usize];
    let mut model = Model::new(processor, addresses);
    let mut steps = 0;
    super::run_checked(processor, || {
        for &op in ops {
            steps += 1;
            let predicted = model.step(op);
            let actual = sim::catch_bug_check(|| real.step(op));
            match (predicted, actual) {
                (Ok(()), Ok(())) => {
                    assert_eq!(real.data, model.data, "the protected value after {op:?}");
                    for (i, (state, &(value, old))) in
                        real.slots.iter().zip(&model.slots).enumerate()
                    {
                        assert_eq!(
                            (state.lock_state, state.old_irql),
                            (value, old),
                            "slot {i} after step {steps} {op:?} of {ops:?}"
                        );
                    }
                    for (i, lock) in real.locks.iter().enumerate() {
                        let d = lock.diagnostics();
                        assert_eq!(
                            (d.readers, d.writer, d.write_depth),
                            model.diagnostics(i),
                            "lock {i} after step {steps} {op:?} of {ops:?}"
                        );
                    }
                }
                (Err((code, p1, p4)), Err(stop))
                    if stop.code == code
                        && stop.params[0] == p1
                        && p4.is_none_or(|p4| stop.params[3] == p4) =>
                {
                    // A stopped machine leaves the locks as they are; they are the harness's
                    // memory and go with it.
                    return;
                }
                (predicted, actual) => panic!(
                    "step {steps} {op:?} of {ops:?} on processor {processor}: the model \
                     predicts {predicted:?}, the crate did {actual:?}"
                ),
            }
        }
        if Sim::current_irql() != PASSIVE_LEVEL {
            // SAFETY: the sequence is over; nothing more is released on this thread. A lock
            // still held keeps its spin lock word set, which lives in the harness's memory.
            unsafe { Sim::lower_irql(PASSIVE_LEVEL) };
        }
    });
    steps
}

/// The multi-threaded variant: one input drives two to four threads, each on its own
/// processor (processors without a reader slot among them when the machine has more than
/// `MAXIMUM_PROCESSORS`), each running well-formed acquisitions (reads, writes, Dpr reads
/// nested in either, writes nested in writes) over one lock that protects a pair of words.
/// Every reader checks the pair; the final pair counts every write. A hang would be a
/// DPC-watchdog stop.
///
/// # Panics
///
/// When a reader sees a torn pair, a write is lost, or anything bug-checks.
pub fn check_concurrent(bytes: &[u8]) {
    struct Shared {
        lock: NdisRwLock<Sim>,
        pair: std::cell::UnsafeCell<(u64, u64)>,
    }
    // SAFETY: the pair is only touched under the lock.
    unsafe impl Sync for Shared {}

    let first = bytes.first().copied().unwrap_or(0);
    let threads = usize::from(first % 3 + 2);
    let count = sim::processor_count();
    // Processors with a slot, and without one when the machine has them.
    let candidates: Vec<u32> = [0, 1, MAXIMUM_PROCESSORS, MAXIMUM_PROCESSORS + 1]
        .into_iter()
        .filter(|&p| p < count)
        .collect();
    let shared = Shared {
        lock: NdisRwLock::new(),
        pair: std::cell::UnsafeCell::new((0, 0)),
    };
    let plans: Vec<Vec<u8>> = (0..threads)
        .map(|t| bytes.iter().skip(1 + t).step_by(threads).copied().collect())
        .collect();
    std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(threads);
        for (t, plan) in plans.iter().enumerate() {
            let shared = &shared;
            let processor = candidates[(t + usize::from(first >> 2)) % candidates.len()];
            handles.push(s.spawn(move || {
                let lock = (&raw const shared.lock).cast_mut();
                super::run_checked(processor, || {
                    sim::with_watchdog(std::time::Duration::from_secs(10), || {
                        for &b in plan {
                            let mut outer = LockState::default();
                            let mut inner = LockState::default();
                            let write = b % 4 == 0;
                            // SAFETY: an initialised lock, valid states, released in reverse
                            // order on this processor.
                            unsafe { rwlock_legacy::acquire::<Sim>(lock, write, &mut outer) };
                            // Nested: a Dpr read (inside a read or the own write), or a Dpr
                            // write inside the own write.
                            let nested = b & 0x10 != 0;
                            let nested_write = write && b & 0x20 != 0;
                            if nested {
                                // SAFETY: as above; at DISPATCH_LEVEL since the outer acquire.
                                unsafe {
                                    rwlock_legacy::dpr_acquire::<Sim>(
                                        lock,
                                        nested_write,
                                        &mut inner,
                                    );
                                }
                            }
                            // SAFETY: under the lock: shared for reads, exclusive for writes.
                            let p = unsafe { &mut *shared.pair.get() };
                            if write {
                                p.0 += 1;
                                std::hint::spin_loop();
                                p.1 += 1;
                            } else {
                                assert_eq!(p.0, p.1, "a reader saw a torn pair");
                            }
                            if nested {
                                // SAFETY: the nested acquisition above.
                                unsafe { rwlock_legacy::dpr_release::<Sim>(lock, &mut inner) };
                            }
                            // SAFETY: the outer acquisition above.
                            unsafe { rwlock_legacy::release::<Sim>(lock, &mut outer) };
                            assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
                        }
                    });
                });
            }));
        }
        super::join_all(handles);
    });
    let writes = plans.iter().flatten().filter(|&&b| b % 4 == 0).count() as u64;
    // SAFETY: every thread has ended.
    let p = unsafe { *shared.pair.get() };
    assert_eq!(p, (writes, writes), "lost or torn writes");
    assert!(!shared.lock.is_held(), "the lock is still held");
}
