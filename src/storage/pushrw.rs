//! An allocated reader/writer lock whose waiters sleep: the five calls of the NDIS 6.20 lock
//! (`NdisAllocateRWLock`, `NdisAcquireRWLockRead`, `NdisAcquireRWLockWrite`,
//! `NdisReleaseRWLock`, `NdisFreeRWLock`), backed by an `EX_PUSH_LOCK`, for callers at
//! `PASSIVE_LEVEL` or `APC_LEVEL`.
//!
//! C names (include/ndis_rwlock.h): `NdisRwlAllocatePushLock`, `NdisRwlAcquirePushLockRead`,
//! `NdisRwlAcquirePushLockWrite`, `NdisRwlReleasePushLock`, `NdisRwlFreePushLock`, the opaque
//! `NDIS_RWL_PUSH_LOCK` and the caller-owned [`PushRwLockState`]
//! (`NDIS_RWL_PUSH_LOCK_STATE`).
//!
//! Unlike the push-lock routines themselves, the acquire enters a critical region and the
//! release leaves it, as the NDIS lock raises and restores the IRQL: callers need no
//! `KeEnterCriticalRegion` of their own. The state records which lock and which mode an
//! acquisition took, so one release call serves both modes and a release with a wrong or
//! stale state stops the machine instead of corrupting the lock.
//!
//! Rules: acquire and release at `IRQL <= APC_LEVEL` on the same thread; not recursive in
//! either mode (unlike the NDIS lock, whose reads and writes nest on one processor); free only
//! when no thread holds or waits for the lock. Every call checks the lock's signature first,
//! so a freed lock (while its memory is still readable) bug-checks with 0x0E instead of being
//! used. Rust code uses [`crate::PushLock`] instead.

use crate::bugcheck::{self, rw, verifier};
use crate::kernel::{APC_LEVEL, EX_DEFAULT_PUSH_LOCK_FLAGS, ExPushLock, Kernel};
use crate::sync::{AtomicU32, AtomicUsize, Ordering};

/// Pool tag of the allocations (`'NRpl'`, as tools display it).
pub const TAG: u32 = u32::from_le_bytes(*b"NRpl");

/// The signature of a live lock (`'RWLp'`): every call checks it, so a freed lock whose memory
/// is still readable, or a pointer to something else, is a bug check (0x0E), never a use.
const SIGNATURE_LIVE: u32 = u32::from_le_bytes(*b"RWLp");
/// The signature [`free`] leaves behind.
const SIGNATURE_FREED: u32 = u32::from_le_bytes(*b"rwp-");

/// `NDIS_RWL_PUSH_LOCK_STATE.Mode` of a state that records no acquisition.
pub const STATE_NONE: u32 = 0;
/// `NDIS_RWL_PUSH_LOCK_STATE.Mode` after `NdisRwlAcquirePushLockRead`.
pub const STATE_READ: u32 = 1;
/// `NDIS_RWL_PUSH_LOCK_STATE.Mode` after `NdisRwlAcquirePushLockWrite`.
pub const STATE_WRITE: u32 = 2;

/// `NDIS_RWL_PUSH_LOCK`: the allocated lock, opaque to C.
#[repr(C)]
#[derive(Debug)]
pub struct PushRwLock {
    lock: ExPushLock,
    /// Threads between the start of an acquire and the end of the matching release.
    users: AtomicUsize,
    /// [`SIGNATURE_LIVE`] from allocation to free.
    signature: AtomicU32,
}

impl PushRwLock {
    /// The push lock inside, for diagnostics.
    pub fn as_raw(&self) -> &ExPushLock {
        &self.lock
    }
}

/// `NDIS_RWL_PUSH_LOCK_STATE`: one acquisition, in storage the caller owns (its stack, as
/// `LOCK_STATE_EX`). The acquire fills it in; the release checks it and clears it.
#[repr(C)]
#[derive(Debug)]
pub struct PushRwLockState {
    /// The lock this state's acquisition holds; NULL when it holds none.
    pub lock: *mut PushRwLock,
    /// [`STATE_NONE`], [`STATE_READ`] or [`STATE_WRITE`].
    pub mode: u32,
    /// Zero.
    pub reserved: u32,
}

impl Default for PushRwLockState {
    fn default() -> Self {
        Self {
            lock: core::ptr::null_mut(),
            mode: STATE_NONE,
            reserved: 0,
        }
    }
}

/// `NdisRwlAllocatePushLock`: a free lock from nonpaged pool, or NULL when the pool is
/// exhausted. Callable at `IRQL <= DISPATCH_LEVEL`.
pub fn allocate<K: Kernel>() -> *mut PushRwLock {
    let lock = K::allocate_nonpaged(core::mem::size_of::<PushRwLock>(), TAG).cast::<PushRwLock>();
    if lock.is_null() {
        return lock;
    }
    // SAFETY: the pool returned a fresh allocation of the right size, 16-byte aligned.
    unsafe {
        lock.write(PushRwLock {
            lock: ExPushLock::new(),
            users: AtomicUsize::new(0),
            signature: AtomicU32::new(SIGNATURE_LIVE),
        });
    }
    // SAFETY: the lock was written just above and nobody else knows it yet.
    let lock_ref = unsafe { &*lock };
    // SAFETY: a fresh lock: no thread holds it or waits for it.
    unsafe { K::initialize_push_lock(&lock_ref.lock) };
    lock
}

/// Turns the C arguments into references, bug-checking on NULL.
///
/// # Safety
///
/// Non-null pointers point to a live lock from [`allocate`] and to writable state storage.
unsafe fn arguments<'a, K: Kernel>(
    lock: *mut PushRwLock,
    state: *mut PushRwLockState,
) -> (&'a PushRwLock, &'a mut PushRwLockState) {
    if lock.is_null() {
        stop::<K>(rw::NULL_LOCK, state as usize, 0, 0);
    }
    if state.is_null() {
        stop::<K>(rw::NULL_LOCK_STATE, lock as usize, 0, 0);
    }
    // SAFETY: non-null (checked) and readable (the caller's contract: a lock from `allocate`,
    // whose memory a freed lock keeps while the pool holds it back).
    let lock_ref = unsafe { &*lock };
    check_signature::<K>(lock_ref, lock);
    // SAFETY: non-null (checked), writable and not otherwise borrowed (the caller's contract).
    let state_ref = unsafe { &mut *state };
    (lock_ref, state_ref)
}

/// Bug-checks unless `lock` is live: allocated and not yet freed.
fn check_signature<K: Kernel>(lock_ref: &PushRwLock, lock: *mut PushRwLock) {
    let signature = lock_ref.signature.load(Ordering::Relaxed);
    if signature != SIGNATURE_LIVE {
        stop::<K>(rw::NOT_A_LOCK, lock as usize, signature as usize, 0);
    }
}

fn stop<K: Kernel>(subcode: usize, p2: usize, p3: usize, p4: usize) -> ! {
    K::bug_check(bugcheck::NDIS_RWLOCK_VIOLATION, [subcode, p2, p3, p4])
}

/// The shared part of both acquires.
///
/// # Safety
///
/// As for [`acquire_read`].
unsafe fn acquire<K: Kernel>(
    lock: *mut PushRwLock,
    state: *mut PushRwLockState,
    flags: u32,
    write: bool,
) {
    // SAFETY: the caller's contract.
    let (lock_ref, state) = unsafe { arguments::<K>(lock, state) };
    if flags != 0 {
        stop::<K>(rw::UNDEFINED_FLAGS, flags as usize, lock as usize, 0);
    }
    let irql = K::current_irql();
    if irql > APC_LEVEL {
        // The wait below could block at DISPATCH_LEVEL, which Driver Verifier reports so.
        K::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::WAIT_AT_DISPATCH,
                usize::from(irql),
                lock as usize,
                0,
            ],
        );
    }
    lock_ref.users.fetch_add(1, Ordering::Relaxed);
    K::enter_critical_region();
    if write {
        K::acquire_push_lock_exclusive(&lock_ref.lock, EX_DEFAULT_PUSH_LOCK_FLAGS);
    } else {
        K::acquire_push_lock_shared(&lock_ref.lock, EX_DEFAULT_PUSH_LOCK_FLAGS);
    }
    *state = PushRwLockState {
        lock,
        mode: if write { STATE_WRITE } else { STATE_READ },
        reserved: 0,
    };
}

/// `NdisRwlAcquirePushLockRead`: enters a critical region and waits (sleeping) for shared
/// access; records the acquisition in `state`. `flags` must be 0.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or a live lock from [`allocate`]; `state` is NULL (a bug check)
/// or writable storage for a [`PushRwLockState`] that lives until the matching [`release`].
pub unsafe fn acquire_read<K: Kernel>(
    lock: *mut PushRwLock,
    state: *mut PushRwLockState,
    flags: u32,
) {
    // SAFETY: the caller's contract.
    unsafe { acquire::<K>(lock, state, flags, false) }
}

/// `NdisRwlAcquirePushLockWrite`: enters a critical region and waits (sleeping) for
/// exclusive access; records the acquisition in `state`. `flags` must be 0.
///
/// # Safety
///
/// As for [`acquire_read`].
pub unsafe fn acquire_write<K: Kernel>(
    lock: *mut PushRwLock,
    state: *mut PushRwLockState,
    flags: u32,
) {
    // SAFETY: the caller's contract.
    unsafe { acquire::<K>(lock, state, flags, true) }
}

/// `NdisRwlReleasePushLock`: releases the acquisition `state` records and leaves its critical
/// region. A state that records no live acquisition of `lock` bug-checks.
///
/// # Safety
///
/// `lock` and `state` are NULL (a bug check) or as for [`acquire_read`]; the calling thread
/// made the acquisition the state records.
pub unsafe fn release<K: Kernel>(lock: *mut PushRwLock, state: *mut PushRwLockState) {
    // SAFETY: the caller's contract.
    let (lock_ref, state) = unsafe { arguments::<K>(lock, state) };
    let irql = K::current_irql();
    if irql > APC_LEVEL {
        stop::<K>(
            rw::PUSH_LOCK_RELEASE_ABOVE_APC,
            usize::from(irql),
            lock as usize,
            0,
        );
    }
    if state.lock != lock || !(state.mode == STATE_READ || state.mode == STATE_WRITE) {
        stop::<K>(
            rw::PUSH_LOCK_BAD_STATE,
            lock as usize,
            state.lock as usize,
            state.mode as usize,
        );
    }
    let write = state.mode == STATE_WRITE;
    *state = PushRwLockState::default();
    if write {
        // SAFETY: the state says this thread holds the lock exclusively, inside the critical
        // region its acquire entered.
        unsafe { K::release_push_lock_exclusive(&lock_ref.lock, EX_DEFAULT_PUSH_LOCK_FLAGS) };
    } else {
        // SAFETY: the state says this thread holds the lock shared, inside the critical region
        // its acquire entered.
        unsafe { K::release_push_lock_shared(&lock_ref.lock, EX_DEFAULT_PUSH_LOCK_FLAGS) };
    }
    // SAFETY: leaves the region the matching acquire entered on this thread.
    unsafe { K::leave_critical_region() };
    lock_ref.users.fetch_sub(1, Ordering::Release);
}

/// `NdisRwlFreePushLock`: returns the lock to the pool. A lock that a thread holds or waits
/// for bug-checks. Callable at `IRQL <= DISPATCH_LEVEL`.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or came from [`allocate`]; no thread uses it after this call.
/// A lock freed already is a bug check (0x0E) while the pool keeps its memory readable, as
/// Driver Verifier's special pool and the simulated pool's quarantine do.
pub unsafe fn free<K: Kernel>(lock: *mut PushRwLock) {
    if lock.is_null() {
        stop::<K>(rw::NULL_LOCK, 0, 0, 0);
    }
    // SAFETY: non-null (checked) and readable (the caller's contract, as for `arguments`).
    let lock_ref = unsafe { &*lock };
    check_signature::<K>(lock_ref, lock);
    let users = lock_ref.users.load(Ordering::Acquire);
    if users != 0 {
        stop::<K>(rw::PUSH_LOCK_FREE_IN_USE, lock as usize, users, 0);
    }
    lock_ref.signature.store(SIGNATURE_FREED, Ordering::Relaxed);
    // SAFETY: allocated by `allocate` with TAG, not freed before, and unused from now on.
    unsafe { K::free_pool(lock.cast(), TAG) }
}
