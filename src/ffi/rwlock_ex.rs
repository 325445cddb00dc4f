//! The NDIS 6.20 lock's exports: `NdisAllocateRWLock`, `NdisFreeRWLock`,
//! `NdisAcquireRWLockRead`, `NdisAcquireRWLockWrite` and `NdisReleaseRWLock`, with the ndis.h
//! prototypes, over [`crate::storage::ex`].

use core::ffi::c_void;
use core::ptr::NonNull;

use crate::kernel::DefaultKernel;
use crate::storage::ex::{self, LockStateEx, NdisRwLockEx};

/// `NdisAllocateRWLock`: a new lock, or NULL when the nonpaged pool has no room.
/// `NdisHandle` may be NULL. IRQL <= DISPATCH_LEVEL.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub extern "system" fn NdisAllocateRWLock(_ndis_handle: *mut c_void) -> *mut NdisRwLockEx {
    NdisRwLockEx::<DefaultKernel>::allocate().map_or(core::ptr::null_mut(), NonNull::as_ptr)
}

/// `NdisFreeRWLock`: frees a lock that nobody holds. IRQL <= DISPATCH_LEVEL.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or a lock from `NdisAllocateRWLock`, not used afterwards.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisFreeRWLock(lock: *mut NdisRwLockEx) {
    // SAFETY: the caller's contract.
    unsafe { ex::free(lock) }
}

/// `NdisAcquireRWLockRead`.
///
/// # Safety
///
/// `lock` is NULL or a lock from `NdisAllocateRWLock`; `lock_state` is NULL or points to a
/// writable `LOCK_STATE_EX`.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisAcquireRWLockRead(
    lock: *mut NdisRwLockEx,
    lock_state: *mut LockStateEx,
    flags: u8,
) {
    // SAFETY: the caller's contract.
    unsafe { ex::acquire_read(lock, lock_state, flags) }
}

/// `NdisAcquireRWLockWrite`.
///
/// # Safety
///
/// As [`NdisAcquireRWLockRead`].
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisAcquireRWLockWrite(
    lock: *mut NdisRwLockEx,
    lock_state: *mut LockStateEx,
    flags: u8,
) {
    // SAFETY: the caller's contract.
    unsafe { ex::acquire_write(lock, lock_state, flags) }
}

/// `NdisReleaseRWLock`. IRQL == DISPATCH_LEVEL.
///
/// # Safety
///
/// `lock` is NULL or a lock from `NdisAllocateRWLock`; `lock_state` is NULL or the state an
/// acquire of this lock filled.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisReleaseRWLock(
    lock: *mut NdisRwLockEx,
    lock_state: *mut LockStateEx,
) {
    // SAFETY: the caller's contract.
    unsafe { ex::release(lock, lock_state) }
}
