//! The push-lock reader/writer lock's exports: `NdisRwlAllocatePushLock`,
//! `NdisRwlAcquirePushLockRead`, `NdisRwlAcquirePushLockWrite`, `NdisRwlReleasePushLock` and
//! `NdisRwlFreePushLock` (include/ndis_rwlock.h), over [`crate::storage::pushrw`].

use core::ffi::c_void;

use crate::kernel::DefaultKernel;
use crate::storage::pushrw::{
    PushRwLock, PushRwLockState, acquire_read, acquire_write, allocate, free, release,
};

/// `NdisRwlAllocatePushLock`. `NdisHandle` is not used and may be NULL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisRwlAllocatePushLock(_ndis_handle: *mut c_void) -> *mut PushRwLock {
    allocate::<DefaultKernel>()
}

/// `NdisRwlAcquirePushLockRead`.
///
/// # Safety
///
/// As for [`acquire_read`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisRwlAcquirePushLockRead(
    lock: *mut PushRwLock,
    state: *mut PushRwLockState,
    flags: u32,
) {
    // SAFETY: the caller's contract.
    unsafe { acquire_read::<DefaultKernel>(lock, state, flags) }
}

/// `NdisRwlAcquirePushLockWrite`.
///
/// # Safety
///
/// As for [`acquire_write`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisRwlAcquirePushLockWrite(
    lock: *mut PushRwLock,
    state: *mut PushRwLockState,
    flags: u32,
) {
    // SAFETY: the caller's contract.
    unsafe { acquire_write::<DefaultKernel>(lock, state, flags) }
}

/// `NdisRwlReleasePushLock`.
///
/// # Safety
///
/// As for [`release`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisRwlReleasePushLock(
    lock: *mut PushRwLock,
    state: *mut PushRwLockState,
) {
    // SAFETY: the caller's contract.
    unsafe { release::<DefaultKernel>(lock, state) }
}

/// `NdisRwlFreePushLock`.
///
/// # Safety
///
/// As for [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisRwlFreePushLock(lock: *mut PushRwLock) {
    // SAFETY: the caller's contract.
    unsafe { free::<DefaultKernel>(lock) }
}
