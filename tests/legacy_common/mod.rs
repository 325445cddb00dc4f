//! Helpers shared by the tests of the legacy `NDIS_RW_LOCK`.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::sync::{Mutex, MutexGuard};

use ndis_rwlock::bugcheck::NDIS_RWLOCK_VIOLATION;
use ndis_rwlock::kernel::Irql;
use ndis_rwlock::sim::{self, BugCheck, Sim};
use ndis_rwlock::storage::legacy::{self as rwlock_legacy, LockState, NdisRwLock};

/// `LockState` kinds (bits 15-12), as the module documents them.
pub const KIND_MASK: u16 = 0xF000;
pub const KIND_READ: u16 = 0xA000;
pub const KIND_WRITE: u16 = 0xB000;
pub const KIND_RECURSIVE_WRITE: u16 = 0xC000;
pub const KIND_EXCLUSIVE_READ: u16 = 0xD000;
pub const KIND_EXCLUSIVE_WRITE: u16 = 0xE000;
/// Bit 11: a Dpr acquisition.
pub const DPR_BIT: u16 = 0x0800;
/// Bits 10-6: the lock's address / 8 modulo 31.
pub const LOCK_MASK: u16 = 0x07C0;
/// Bits 5-0: the acquiring processor modulo 64.
pub const PROCESSOR_MASK: u16 = 0x003F;

/// The lock bits of a lock at `address`, as the module documents them.
pub fn lock_bits(address: usize) -> u16 {
    (((address >> 3) % 31) as u16) << 6
}

/// An initialised `NDIS_RW_LOCK` that lives for the rest of the process. Leaked on purpose: a
/// test that bug-checks may leave it held, as a stopped machine would.
#[derive(Debug, Clone, Copy)]
pub struct Lock(*mut NdisRwLock<Sim>);

// SAFETY: the pointer is to a leaked lock, valid for the whole process; the lock itself is
// shared between processors by design (atomics only).
unsafe impl Send for Lock {}
// SAFETY: as above.
unsafe impl Sync for Lock {}

impl Lock {
    /// A new lock, initialised with `NdisInitializeReadWriteLock` over garbage bytes.
    pub fn new() -> Self {
        let raw = Box::into_raw(Box::new(std::mem::MaybeUninit::<NdisRwLock<Sim>>::uninit()));
        let ptr = raw.cast::<NdisRwLock<Sim>>();
        // SAFETY: the box holds NDIS_RW_LOCK_SIZE bytes; garbage first, as a C stack would.
        unsafe {
            ptr.cast::<u8>()
                .write_bytes(0xA7, size_of::<NdisRwLock<Sim>>())
        };
        // SAFETY: a writable, aligned, unused NDIS_RW_LOCK.
        unsafe { rwlock_legacy::initialize(ptr) };
        Self(ptr)
    }

    /// Wraps an initialised lock that is never freed.
    pub fn from_raw(ptr: *mut NdisRwLock<Sim>) -> Self {
        Self(ptr)
    }

    /// The `PNDIS_RW_LOCK`.
    pub fn ptr(self) -> *mut NdisRwLock<Sim> {
        self.0
    }

    /// The lock, borrowed.
    pub fn get(self) -> &'static NdisRwLock<Sim> {
        // SAFETY: leaked, initialised, never freed.
        unsafe { &*self.0 }
    }

    /// The lock's address.
    pub fn address(self) -> usize {
        self.0 as usize
    }

    /// `NdisAcquireReadWriteLock`.
    pub fn acquire(self, write: bool) -> LockState {
        let mut state = LockState::default();
        // SAFETY: a live lock and a writable state.
        unsafe { rwlock_legacy::acquire(self.0, write, &mut state) };
        state
    }

    /// `NdisDprAcquireReadWriteLock`.
    pub fn dpr_acquire(self, write: bool) -> LockState {
        let mut state = LockState::default();
        // SAFETY: a live lock and a writable state.
        unsafe { rwlock_legacy::dpr_acquire(self.0, write, &mut state) };
        state
    }

    /// `NdisReleaseReadWriteLock`.
    pub fn release(self, state: &mut LockState) {
        // SAFETY: a live lock and a writable state.
        unsafe { rwlock_legacy::release(self.0, state) };
    }

    /// `NdisDprReleaseReadWriteLock`.
    pub fn dpr_release(self, state: &mut LockState) {
        // SAFETY: a live lock and a writable state.
        unsafe { rwlock_legacy::dpr_release(self.0, state) };
    }

    /// Readers counted over all processors.
    pub fn readers(self) -> u64 {
        self.get().diagnostics().readers
    }

    /// The writing processor, if any.
    pub fn writer(self) -> Option<u32> {
        self.get().diagnostics().writer
    }
}

/// Serialises the tests of one binary that coordinate several threads across processors, so
/// that two of them never wait on each other's processors.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The current IRQL.
pub fn irql() -> Irql {
    sim::exports::KeGetCurrentIrql()
}

/// `KfRaiseIrql`.
pub fn raise(to: Irql) -> Irql {
    sim::exports::KfRaiseIrql(to)
}

/// `KeLowerIrql`.
pub fn lower(to: Irql) {
    sim::exports::KeLowerIrql(to);
}

/// The current processor (stable at DISPATCH_LEVEL).
pub fn processor() -> u32 {
    use ndis_rwlock::kernel::Kernel;
    Sim::current_processor()
}

/// Runs `f`, which must raise `NDIS_RWLOCK_VIOLATION` with `subcode`, and returns the stop.
#[track_caller]
pub fn expect_rw<R>(subcode: usize, f: impl FnOnce() -> R) -> BugCheck {
    let stop = sim::expect_bug_check(f);
    assert_eq!(
        (stop.code, stop.params[0]),
        (NDIS_RWLOCK_VIOLATION, subcode),
        "unexpected stop: {stop}"
    );
    assert_eq!(irql(), 0, "a bug check leaves the thread at PASSIVE_LEVEL");
    stop
}
