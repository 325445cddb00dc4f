//! The NDIS spin lock's exports: `NdisAllocateSpinLock`, `NdisFreeSpinLock`,
//! `NdisAcquireSpinLock`, `NdisReleaseSpinLock`, `NdisDprAcquireSpinLock` and
//! `NdisDprReleaseSpinLock`, with the ndis.h prototypes, over [`crate::storage::spinlock`].

use crate::algorithm::violation;
use crate::bugcheck::rw;
use crate::kernel::Kernel;
use crate::storage::spinlock::RawNdisSpinLock;

/// Turns a C `PNDIS_SPIN_LOCK` into a reference: NULL and misaligned pointers stop.
///
/// # Safety
///
/// A non-null, aligned `lock` points to a live `NDIS_SPIN_LOCK` for `'a`.
unsafe fn checked<'a, K: Kernel>(lock: *mut RawNdisSpinLock<K>) -> &'a RawNdisSpinLock<K> {
    if lock.is_null() {
        violation::<K>(rw::NULL_LOCK, 0, 0, 0);
    }
    if !lock.is_aligned() {
        violation::<K>(rw::MISALIGNED_SPIN_LOCK, lock as usize, 0, 0);
    }
    // SAFETY: non-null and aligned (checked); live by the caller's contract.
    unsafe { &*lock }
}

/// `NdisAllocateSpinLock`: initialises a caller-owned `NDIS_SPIN_LOCK`. Any IRQL.
///
/// # Safety
///
/// `lock` is NULL or misaligned (a bug check) or points to a writable `NDIS_SPIN_LOCK` that
/// nobody holds.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisAllocateSpinLock(lock: *mut RawNdisSpinLock) {
    // SAFETY: the caller's contract.
    unsafe { checked(lock) }.initialize();
}

/// `NdisFreeSpinLock`: nothing to free (the storage is the caller's); checks the pointer.
///
/// # Safety
///
/// `lock` is NULL or misaligned (a bug check) or points to an `NDIS_SPIN_LOCK`.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisFreeSpinLock(lock: *mut RawNdisSpinLock) {
    // SAFETY: the caller's contract.
    let _ = unsafe { checked(lock) };
}

/// `NdisAcquireSpinLock`. `IRQL <= DISPATCH_LEVEL`.
///
/// # Safety
///
/// `lock` is NULL or misaligned (a bug check) or points to an initialised `NDIS_SPIN_LOCK`.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisAcquireSpinLock(lock: *mut RawNdisSpinLock) {
    // SAFETY: the caller's contract.
    unsafe { checked(lock) }.acquire();
}

/// `NdisReleaseSpinLock`. `IRQL == DISPATCH_LEVEL`, on the processor that acquired.
///
/// # Safety
///
/// `lock` is NULL or misaligned (a bug check) or points to an initialised `NDIS_SPIN_LOCK`
/// that the calling thread acquired.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisReleaseSpinLock(lock: *mut RawNdisSpinLock) {
    // SAFETY: the caller's contract.
    let lock = unsafe { checked(lock) };
    // SAFETY: the caller's contract; a release elsewhere or of a free lock stops inside.
    unsafe { lock.release() };
}

/// `NdisDprAcquireSpinLock`. `IRQL == DISPATCH_LEVEL`.
///
/// # Safety
///
/// As [`NdisAcquireSpinLock`].
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisDprAcquireSpinLock(lock: *mut RawNdisSpinLock) {
    // SAFETY: the caller's contract.
    unsafe { checked(lock) }.dpr_acquire();
}

/// `NdisDprReleaseSpinLock`. `IRQL == DISPATCH_LEVEL`, on the processor that acquired.
///
/// # Safety
///
/// As [`NdisReleaseSpinLock`].
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisDprReleaseSpinLock(lock: *mut RawNdisSpinLock) {
    // SAFETY: the caller's contract.
    let lock = unsafe { checked(lock) };
    // SAFETY: the caller's contract; a release elsewhere or of a free lock stops inside.
    unsafe { lock.dpr_release() };
}
