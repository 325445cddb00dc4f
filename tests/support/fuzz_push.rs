//! Operation sequences on push locks and a reference model that predicts each one's outcome,
//! as `fuzz_model.rs` does for `NDIS_RW_LOCK_EX`.
//!
//! A sequence drives two allocated locks through the generic functions behind the
//! `NdisRwl*PushLock*` exports (`pushrw::{acquire_read, acquire_write, release, free}`, with
//! raw `NDIS_RWL_PUSH_LOCK_STATE` slots it may copy or corrupt) and one bare `EX_PUSH_LOCK`
//! through the simulated kernel's `ExAcquirePushLock*Ex`/`ExReleasePushLock*Ex` with explicit
//! `KeEnterCriticalRegion`/`KeLeaveCriticalRegion`, on one thread with the simulated verifier
//! on. After every step that succeeds the model's view is compared with the crate's: the
//! slots, each lock word (held shared by n, held exclusive, free), the thread's critical-region
//! depth. Single-threaded, nothing ever waits; the multi-threaded variant is
//! [`check_concurrent`].
#![allow(
    dead_code,
    reason = "the fuzz targets and the tests use different parts"
)]

use ndis_rwlock::bugcheck::{
    DRIVER_VERIFIER_DETECTED_VIOLATION, INVALID_PUSH_LOCK_FLAGS, NDIS_RWLOCK_VIOLATION, rw,
    verifier,
};
use ndis_rwlock::kernel::{
    APC_LEVEL, DISPATCH_LEVEL, EX_DEFAULT_PUSH_LOCK_FLAGS, ExPushLock, Irql, Kernel, PASSIVE_LEVEL,
};
use ndis_rwlock::sim::pushlock::{LOCKED, SHARE_SHIFT, word};
use ndis_rwlock::sim::{self, Sim};
use ndis_rwlock::storage::pushrw::{self, PushRwLock, PushRwLockState, STATE_READ, STATE_WRITE};

/// How many state slots a sequence juggles.
pub const SLOTS: usize = 4;
/// Allocated locks (`NDIS_RWL_PUSH_LOCK`).
pub const LOCKS: usize = 2;

/// One operation of a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `NdisRwlAcquirePushLockRead` (`write` false) or `NdisRwlAcquirePushLockWrite`.
    Acquire {
        lock: usize,
        slot: usize,
        write: bool,
        flags: u32,
    },
    /// `NdisRwlReleasePushLock`.
    Release { lock: usize, slot: usize },
    /// `NdisRwlFreePushLock`.
    Free { lock: usize },
    /// Copies one slot into another.
    Copy { from: usize, to: usize },
    /// Overwrites a slot's mode (`lock` false) or its lock pointer (`lock` true, with the
    /// other lock's).
    Garble { slot: usize, lock: bool },
    /// `ExAcquirePushLockExclusiveEx`/`ExAcquirePushLockSharedEx` on the bare push lock.
    RawAcquire { exclusive: bool, flags: u32 },
    /// `ExReleasePushLockExclusiveEx`/`ExReleasePushLockSharedEx` on the bare push lock.
    RawRelease { exclusive: bool },
    /// `KeEnterCriticalRegion`.
    EnterRegion,
    /// `KeLeaveCriticalRegion`.
    LeaveRegion,
    /// Raises or lowers to this IRQL (`PASSIVE_LEVEL`, `APC_LEVEL` or `DISPATCH_LEVEL`).
    SetIrql(Irql),
}

impl Op {
    /// Decodes a sequence from fuzzer bytes: two bytes an operation.
    pub fn decode(bytes: &[u8]) -> Vec<Op> {
        bytes
            .chunks_exact(2)
            .map(|pair| {
                let (kind, arg) = (pair[0] % 20, pair[1]);
                let slot = usize::from(arg) % SLOTS;
                let lock = usize::from(arg >> 2) % LOCKS;
                // Mostly valid flags; sometimes not.
                let flags = if arg & 0xF0 == 0xF0 {
                    u32::from(arg & 0x0F) | 0x10
                } else {
                    0
                };
                match kind {
                    0..=2 => Op::Acquire {
                        lock,
                        slot,
                        write: false,
                        flags,
                    },
                    3..=5 => Op::Acquire {
                        lock,
                        slot,
                        write: true,
                        flags,
                    },
                    6..=8 => Op::Release { lock, slot },
                    9 => Op::Free { lock },
                    10 => Op::Copy {
                        from: slot,
                        to: usize::from(arg >> 4) % SLOTS,
                    },
                    11 => Op::Garble {
                        slot,
                        lock: arg & 0x08 != 0,
                    },
                    12 | 13 => Op::RawAcquire {
                        exclusive: arg & 1 != 0,
                        flags,
                    },
                    14 | 15 => Op::RawRelease {
                        exclusive: arg & 1 != 0,
                    },
                    16 => Op::EnterRegion,
                    17 => Op::LeaveRegion,
                    _ => Op::SetIrql(
                        [PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL][usize::from(arg % 3)],
                    ),
                }
            })
            .collect()
    }
}

/// A bug check the model predicts: code and parameter 1.
pub type Stop = (u32, usize);

fn ndrl(subcode: usize) -> Result<(), Stop> {
    Err((NDIS_RWLOCK_VIOLATION, subcode))
}

fn c4(subcode: usize) -> Result<(), Stop> {
    Err((DRIVER_VERIFIER_DETECTED_VIOLATION, subcode))
}

/// What this thread holds of one push lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Hold {
    shared: usize,
    exclusive: bool,
}

/// A slot as the model sees it: which lock (index, or `LOCKS` for a pointer to no lock) and
/// which mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    lock: Option<usize>,
    mode: u32,
}

/// The reference model: one thread, two allocated locks and a bare push lock (index `LOCKS`).
#[derive(Debug, Clone, Default)]
pub struct Model {
    irql: Irql,
    depth: u32,
    holds: [Hold; LOCKS + 1],
    /// Acquisitions counted on each allocated lock and not yet released.
    users: [usize; LOCKS],
    freed: [bool; LOCKS],
    slots: [Slot; SLOTS],
    /// Write acquisitions made, as the protected value counts them.
    pub data: u64,
}

impl Model {
    /// The push-lock routines' own checks (`Ex*PushLock*Ex`), for lock `i`.
    fn ex_acquire(&mut self, i: usize, exclusive: bool, flags: u32) -> Result<(), Stop> {
        if flags != EX_DEFAULT_PUSH_LOCK_FLAGS {
            return Err((INVALID_PUSH_LOCK_FLAGS, flags as usize));
        }
        if self.irql > APC_LEVEL {
            return c4(verifier::WAIT_AT_DISPATCH);
        }
        if self.irql < APC_LEVEL && self.depth == 0 {
            return c4(verifier::PUSH_LOCK_ACQUIRE_APCS_ENABLED);
        }
        let hold = &mut self.holds[i];
        match (hold.exclusive, hold.shared > 0, exclusive) {
            (true, _, true) => return ndrl(rw::PUSH_LOCK_RECURSIVE_EXCLUSIVE),
            (true, _, false) => return ndrl(rw::PUSH_LOCK_SHARED_INSIDE_EXCLUSIVE),
            (false, true, true) => return ndrl(rw::PUSH_LOCK_SHARED_TO_EXCLUSIVE),
            (false, true, false) => return ndrl(rw::PUSH_LOCK_RECURSIVE_SHARED),
            (false, _, true) => hold.exclusive = true,
            (false, _, false) => hold.shared += 1,
        }
        Ok(())
    }

    fn ex_release(&mut self, i: usize, exclusive: bool) -> Result<(), Stop> {
        if self.irql < APC_LEVEL && self.depth == 0 {
            return c4(verifier::PUSH_LOCK_RELEASE_APCS_ENABLED);
        }
        let hold = &mut self.holds[i];
        if exclusive && hold.exclusive {
            hold.exclusive = false;
        } else if !exclusive && hold.shared > 0 {
            hold.shared -= 1;
        } else {
            return ndrl(rw::PUSH_LOCK_RELEASE_NOT_HELD);
        }
        Ok(())
    }

    fn leave_region(&mut self) -> Result<(), Stop> {
        if self.depth == 0 {
            return c4(verifier::LEAVE_CRITICAL_REGION_UNBALANCED);
        }
        self.depth -= 1;
        Ok(())
    }

    /// Applies `op` and says what it must do.
    pub fn step(&mut self, op: Op) -> Result<(), Stop> {
        match op {
            Op::Acquire {
                lock,
                slot,
                write,
                flags,
            } => {
                if self.freed[lock] {
                    return ndrl(rw::NOT_A_LOCK);
                }
                if flags != 0 {
                    return ndrl(rw::UNDEFINED_FLAGS);
                }
                if self.irql > APC_LEVEL {
                    return c4(verifier::WAIT_AT_DISPATCH);
                }
                self.users[lock] += 1;
                self.depth += 1;
                self.ex_acquire(lock, write, EX_DEFAULT_PUSH_LOCK_FLAGS)?;
                if write {
                    self.data += 1;
                }
                self.slots[slot] = Slot {
                    lock: Some(lock),
                    mode: if write { STATE_WRITE } else { STATE_READ },
                };
                Ok(())
            }
            Op::Release { lock, slot } => {
                if self.freed[lock] {
                    return ndrl(rw::NOT_A_LOCK);
                }
                if self.irql > APC_LEVEL {
                    return ndrl(rw::PUSH_LOCK_RELEASE_ABOVE_APC);
                }
                let state = self.slots[slot];
                if state.lock != Some(lock) || !matches!(state.mode, STATE_READ | STATE_WRITE) {
                    return ndrl(rw::PUSH_LOCK_BAD_STATE);
                }
                self.slots[slot] = Slot::default();
                self.ex_release(lock, state.mode == STATE_WRITE)?;
                self.leave_region()?;
                self.users[lock] -= 1;
                Ok(())
            }
            Op::Free { lock } => {
                if self.freed[lock] {
                    return ndrl(rw::NOT_A_LOCK);
                }
                if self.users[lock] != 0 {
                    return ndrl(rw::PUSH_LOCK_FREE_IN_USE);
                }
                self.freed[lock] = true;
                Ok(())
            }
            Op::Copy { from, to } => {
                self.slots[to] = self.slots[from];
                Ok(())
            }
            Op::Garble { slot, lock } => {
                let s = &mut self.slots[slot];
                if lock {
                    s.lock = Some(s.lock.map_or(0, |l| (l + 1) % LOCKS));
                } else {
                    s.mode = GARBAGE_MODE;
                }
                Ok(())
            }
            Op::RawAcquire { exclusive, flags } => self.ex_acquire(LOCKS, exclusive, flags),
            Op::RawRelease { exclusive } => self.ex_release(LOCKS, exclusive),
            Op::EnterRegion => {
                self.depth += 1;
                Ok(())
            }
            Op::LeaveRegion => self.leave_region(),
            Op::SetIrql(irql) => {
                self.irql = irql;
                Ok(())
            }
        }
    }

    /// The lock word lock `i` must have.
    fn word(&self, i: usize) -> usize {
        let hold = self.holds[i];
        if hold.exclusive {
            LOCKED
        } else if hold.shared > 0 {
            LOCKED | hold.shared << SHARE_SHIFT
        } else {
            0
        }
    }
}

/// The mode `Garble` writes: none of the three the lock knows.
const GARBAGE_MODE: u32 = 0x5A;

/// The real thing: two allocated locks, a bare push lock, the slots and the protected value.
struct Real {
    locks: [*mut PushRwLock; LOCKS],
    raw: Box<ExPushLock>,
    slots: [PushRwLockState; SLOTS],
    data: u64,
}

impl Real {
    fn step(&mut self, op: Op) {
        match op {
            Op::Acquire {
                lock,
                slot,
                write,
                flags,
            } => {
                let (lock, state) = (self.locks[lock], &raw mut self.slots[slot]);
                if write {
                    // SAFETY: a lock from `allocate`, live or freed into the quarantine (still
                    // mapped); a writable state. Misuse bug-checks.
                    unsafe { pushrw::acquire_write::<Sim>(lock, state, flags) };
                    self.data += 1;
                } else {
                    // SAFETY: as above.
                    unsafe { pushrw::acquire_read::<Sim>(lock, state, flags) };
                }
            }
            Op::Release { lock, slot } => {
                // SAFETY: as above.
                unsafe { pushrw::release::<Sim>(self.locks[lock], &raw mut self.slots[slot]) };
            }
            Op::Free { lock } => {
                // SAFETY: as above; a second free reads the quarantined block.
                unsafe { pushrw::free::<Sim>(self.locks[lock]) };
            }
            Op::Copy { from, to } => {
                self.slots[to] = PushRwLockState {
                    lock: self.slots[from].lock,
                    mode: self.slots[from].mode,
                    reserved: self.slots[from].reserved,
                };
            }
            Op::Garble { slot, lock } => {
                let s = &mut self.slots[slot];
                if lock {
                    let i = self.locks.iter().position(|&l| l == s.lock);
                    s.lock = self.locks[i.map_or(0, |i| (i + 1) % LOCKS)];
                } else {
                    s.mode = GARBAGE_MODE;
                }
            }
            Op::RawAcquire { exclusive, flags } => {
                if exclusive {
                    Sim::acquire_push_lock_exclusive(&self.raw, flags);
                } else {
                    Sim::acquire_push_lock_shared(&self.raw, flags);
                }
            }
            Op::RawRelease { exclusive } => {
                if exclusive {
                    // SAFETY: a live push lock; a release the thread does not own bug-checks.
                    unsafe {
                        Sim::release_push_lock_exclusive(&self.raw, EX_DEFAULT_PUSH_LOCK_FLAGS)
                    };
                } else {
                    // SAFETY: as above.
                    unsafe { Sim::release_push_lock_shared(&self.raw, EX_DEFAULT_PUSH_LOCK_FLAGS) };
                }
            }
            Op::EnterRegion => Sim::enter_critical_region(),
            Op::LeaveRegion => {
                // SAFETY: an unbalanced leave bug-checks.
                unsafe { Sim::leave_critical_region() };
            }
            Op::SetIrql(irql) => super::set_irql(irql),
        }
    }

    /// Compares everything the model can see after a step that succeeded.
    fn compare(&self, model: &Model, context: &dyn Fn() -> String) {
        assert_eq!(
            self.data,
            model.data,
            "the protected value after {}",
            context()
        );
        assert_eq!(
            sim::critical_region_depth(),
            model.depth,
            "critical-region depth after {}",
            context()
        );
        for (i, (real, want)) in self.slots.iter().zip(&model.slots).enumerate() {
            let lock = want.lock.map_or(std::ptr::null_mut(), |l| self.locks[l]);
            assert_eq!(
                (real.lock, real.mode),
                (lock, want.mode),
                "slot {i} after {}",
                context()
            );
        }
        for i in 0..LOCKS {
            if !model.freed[i] {
                // SAFETY: a live lock.
                let raw = unsafe { &*self.locks[i] }.as_raw();
                assert_eq!(word(raw), model.word(i), "lock {i} after {}", context());
            }
        }
        assert_eq!(
            word(&self.raw),
            model.word(LOCKS),
            "bare lock after {}",
            context()
        );
    }
}

/// Runs `ops` on one thread and checks every step against the model. A sequence that ends
/// without a bug check is then unwound through the same calls (every hold released, the
/// thread's critical regions left, both locks freed), which must succeed. Returns the number
/// of steps run (up to and including the first bug check).
///
/// # Panics
///
/// When the crate and the model disagree.
pub fn check_sequence(ops: &[Op]) -> usize {
    let locks = [pushrw::allocate::<Sim>(), pushrw::allocate::<Sim>()];
    assert!(
        locks.iter().all(|l| !l.is_null()),
        "the simulated pool has room"
    );
    let raw = Box::new(ExPushLock::new());
    // SAFETY: a fresh push lock nobody uses.
    unsafe { Sim::initialize_push_lock(&raw) };
    let mut real = Real {
        locks,
        raw,
        slots: std::array::from_fn(|_| PushRwLockState::default()),
        data: 0,
    };
    let mut model = Model::default();
    let mut steps = 0;
    super::run_checked(0, || {
        for &op in ops {
            steps += 1;
            let predicted = model.step(op);
            let actual = sim::catch_bug_check(|| real.step(op));
            match (predicted, actual) {
                (Ok(()), Ok(())) => {
                    real.compare(&model, &|| format!("step {steps} {op:?} of {ops:?}"));
                }
                (Err((code, p1)), Err(stop)) if stop.code == code && stop.params[0] == p1 => {
                    // A stopped machine leaves the locks as they are; they go back to the pool
                    // directly, as a reboot would take them (the bare lock goes with the
                    // harness's memory).
                    for (i, &lock) in real.locks.iter().enumerate() {
                        if !model.freed[i] {
                            // SAFETY: the block `allocate` got with this tag, not freed (the
                            // model says so), and nothing uses it any more.
                            unsafe { Sim::free_pool(lock.cast(), pushrw::TAG) };
                        }
                    }
                    return;
                }
                (predicted, actual) => panic!(
                    "step {steps} {op:?} of {ops:?}: the model predicts {predicted:?}, the \
                     crate did {actual:?}"
                ),
            }
        }
        unwind(&real, &model);
    });
    steps
}

/// Releases everything the model says the thread holds, leaves its critical regions and
/// frees both locks; every call must succeed.
fn unwind(real: &Real, model: &Model) {
    super::set_irql(PASSIVE_LEVEL);
    for i in 0..LOCKS {
        if model.freed[i] {
            continue;
        }
        let hold = model.holds[i];
        let modes = std::iter::repeat_n(STATE_READ, hold.shared)
            .chain(hold.exclusive.then_some(STATE_WRITE));
        for mode in modes {
            // Each acquisition entered a region its release leaves; the sequence may have
            // left that one already.
            Sim::enter_critical_region();
            let mut state = PushRwLockState {
                lock: real.locks[i],
                mode,
                reserved: 0,
            };
            // SAFETY: the thread holds lock `i` in this mode (the model says so).
            unsafe { pushrw::release::<Sim>(real.locks[i], &mut state) };
        }
        // Acquisitions whose release bug-checked never happen here (the sequence ended), so
        // the holds released above are all the lock's users.
        // SAFETY: nobody holds the lock any more.
        unsafe { pushrw::free::<Sim>(real.locks[i]) };
    }
    let hold = model.holds[LOCKS];
    Sim::enter_critical_region();
    for _ in 0..hold.shared {
        // SAFETY: the thread holds the bare lock shared, inside a critical region.
        unsafe { Sim::release_push_lock_shared(&real.raw, EX_DEFAULT_PUSH_LOCK_FLAGS) };
    }
    if hold.exclusive {
        // SAFETY: the thread holds the bare lock exclusively, inside a critical region.
        unsafe { Sim::release_push_lock_exclusive(&real.raw, EX_DEFAULT_PUSH_LOCK_FLAGS) };
    }
    for _ in 0..=model.depth {
        // SAFETY: the regions the sequence entered and left open, and the one just above.
        unsafe { Sim::leave_critical_region() };
    }
    assert_eq!(sim::critical_region_depth(), 0);
    assert_eq!(word(&real.raw), 0, "the bare lock is still held");
}

/// The multi-threaded variant: one input drives two to four threads over two allocated locks
/// (each protecting a pair of words) through the `NdisRwl*PushLock*` calls, at `PASSIVE_LEVEL`
/// or `APC_LEVEL`; some acquisitions hold the first lock and then take the second (always in
/// that order). Readers check the pairs; the final pairs count every write; then both locks
/// are free and are freed. Waiters really sleep, so a lost wake-up would hang: after 30 s
/// without progress the run aborts the process instead (a crash to the fuzzer).
///
/// # Panics
///
/// When a reader sees a torn pair, a write is lost, a thread hangs or anything bug-checks.
pub fn check_concurrent(bytes: &[u8]) {
    struct Pairs([std::cell::UnsafeCell<(u64, u64)>; LOCKS]);
    // SAFETY: pair `i` is only touched under lock `i`.
    unsafe impl Sync for Pairs {}

    let threads = usize::from(bytes.first().copied().unwrap_or(0) % 3 + 2);
    let locks: Vec<usize> = (0..LOCKS)
        .map(|_| {
            let lock = pushrw::allocate::<Sim>();
            assert!(!lock.is_null(), "the simulated pool has room");
            lock as usize
        })
        .collect();
    let pairs = Pairs(std::array::from_fn(|_| std::cell::UnsafeCell::new((0, 0))));
    let plans: Vec<Vec<u8>> = (0..threads)
        .map(|t| bytes.iter().skip(1 + t).step_by(threads).copied().collect())
        .collect();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(threads);
        for plan in &plans {
            let (pairs, locks, done_tx) = (&pairs, &locks, done_tx.clone());
            handles.push(s.spawn(move || {
                for &b in plan {
                    let apc = b & 0x40 != 0;
                    if apc {
                        super::set_irql(APC_LEVEL);
                    }
                    let both = b & 0x20 != 0;
                    let first = usize::from(b & 0x80 != 0) % LOCKS;
                    let taken: Vec<usize> = if both { vec![0, 1] } else { vec![first] };
                    let write = b % 4 == 0;
                    let mut states: Vec<PushRwLockState> =
                        taken.iter().map(|_| PushRwLockState::default()).collect();
                    for (&i, state) in taken.iter().zip(&mut states) {
                        let lock = locks[i] as *mut PushRwLock;
                        if write {
                            // SAFETY: a live lock, a state released below, in lock order.
                            unsafe { pushrw::acquire_write::<Sim>(lock, state, 0) };
                        } else {
                            // SAFETY: as above.
                            unsafe { pushrw::acquire_read::<Sim>(lock, state, 0) };
                        }
                    }
                    for &i in &taken {
                        // SAFETY: pair `i` under lock `i`: shared for reads, exclusive for
                        // writes.
                        let p = unsafe { &mut *pairs.0[i].get() };
                        if write {
                            p.0 += 1;
                            std::thread::yield_now();
                            p.1 += 1;
                        } else {
                            assert_eq!(p.0, p.1, "a reader saw a torn pair");
                        }
                    }
                    for (&i, state) in taken.iter().zip(&mut states).rev() {
                        // SAFETY: the acquisition above, on this thread.
                        unsafe { pushrw::release::<Sim>(locks[i] as *mut PushRwLock, state) };
                    }
                    if apc {
                        super::set_irql(PASSIVE_LEVEL);
                    }
                    assert_eq!(sim::critical_region_depth(), 0);
                }
                let _ = done_tx.send(());
            }));
        }
        drop(done_tx);
        for _ in 0..threads {
            match done_rx.recv_timeout(std::time::Duration::from_secs(30)) {
                Ok(()) => {}
                // A thread panicked: joining reports it.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    // Joining would wait for the sleeping thread forever.
                    eprintln!("a thread has waited for a push lock for 30 s: a lost wake-up");
                    std::process::abort();
                }
            }
        }
        super::join_all(handles);
    });
    for (i, &lock) in locks.iter().enumerate() {
        let writes = plans
            .iter()
            .flatten()
            .filter(|&&b| b % 4 == 0 && (b & 0x20 != 0 || usize::from(b & 0x80 != 0) % LOCKS == i))
            .count() as u64;
        // SAFETY: every thread has ended.
        let p = unsafe { *pairs.0[i].get() };
        assert_eq!(p, (writes, writes), "lock {i}: lost or torn writes");
        // SAFETY: nobody holds or waits for the lock.
        unsafe { pushrw::free::<Sim>(lock as *mut PushRwLock) };
    }
}
