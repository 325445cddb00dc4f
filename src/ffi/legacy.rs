//! The legacy NDIS 5 lock's exports: `NdisInitializeReadWriteLock`,
//! `NdisAcquireReadWriteLock`, `NdisReleaseReadWriteLock`, `NdisDprAcquireReadWriteLock` and
//! `NdisDprReleaseReadWriteLock`, with the ndis.h prototypes, over
//! [`crate::storage::legacy`].

use crate::storage::legacy::{
    LockState, NdisRwLock, acquire, dpr_acquire, dpr_release, initialize, release,
};

/// `NdisInitializeReadWriteLock`. `IRQL <= DISPATCH_LEVEL`.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or points to a writable `NDIS_RW_LOCK` that nobody uses
/// during the call.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisInitializeReadWriteLock(lock: *mut NdisRwLock) {
    // SAFETY: the caller's contract.
    unsafe { initialize(lock) }
}

/// `NdisAcquireReadWriteLock`. `IRQL <= DISPATCH_LEVEL`; raises to `DISPATCH_LEVEL`.
/// `fWrite` nonzero asks for write access.
///
/// # Safety
///
/// `lock` is NULL or an initialised `NDIS_RW_LOCK`; `lock_state` is NULL or points to a
/// writable `LOCK_STATE`.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisAcquireReadWriteLock(
    lock: *mut NdisRwLock,
    f_write: u8,
    lock_state: *mut LockState,
) {
    // SAFETY: the caller's contract.
    unsafe { acquire(lock, f_write != 0, lock_state) }
}

/// `NdisReleaseReadWriteLock`. `IRQL == DISPATCH_LEVEL`; lowers to the saved IRQL.
///
/// # Safety
///
/// `lock` is NULL or an initialised `NDIS_RW_LOCK`; `lock_state` is NULL or the state an
/// `NdisAcquireReadWriteLock` of this lock filled.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisReleaseReadWriteLock(
    lock: *mut NdisRwLock,
    lock_state: *mut LockState,
) {
    // SAFETY: the caller's contract.
    unsafe { release(lock, lock_state) }
}

/// `NdisDprAcquireReadWriteLock`. `IRQL == DISPATCH_LEVEL`. `fWrite` nonzero asks for write
/// access.
///
/// # Safety
///
/// As [`NdisAcquireReadWriteLock`].
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisDprAcquireReadWriteLock(
    lock: *mut NdisRwLock,
    f_write: u8,
    lock_state: *mut LockState,
) {
    // SAFETY: the caller's contract.
    unsafe { dpr_acquire(lock, f_write != 0, lock_state) }
}

/// `NdisDprReleaseReadWriteLock`. `IRQL == DISPATCH_LEVEL`; stays there.
///
/// # Safety
///
/// `lock` is NULL or an initialised `NDIS_RW_LOCK`; `lock_state` is NULL or the state an
/// `NdisDprAcquireReadWriteLock` of this lock filled.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisDprReleaseReadWriteLock(
    lock: *mut NdisRwLock,
    lock_state: *mut LockState,
) {
    // SAFETY: the caller's contract.
    unsafe { dpr_release(lock, lock_state) }
}
