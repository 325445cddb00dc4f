//! The pool and thread routines of ndis.h and wdm.h that the crate does not use itself,
//! exported for C code compiled against include/km: `ExAllocatePoolWithTag`, `ExFreePool`,
//! `NdisAllocateMemoryWithTagPriority`, `NdisFreeMemoryWithTagPriority`, `NdisFreeMemory`,
//! `KeGetCurrentThread`, and the leak report of the simulated pool for C tests.

use core::ffi::c_void;

use crate::bugcheck::{self, verifier};
use crate::kernel::{APC_LEVEL, Kernel};
use crate::sim::{Sim, pool};

/// `PagedPool` and the other paged `POOL_TYPE`s (`PagedPoolCacheAligned`) have bit 0 set.
const POOL_TYPE_PAGED_BIT: u32 = 1;

/// `ExAllocatePoolWithTag`: a zeroed allocation from the simulated pool; a paged request
/// (`PagedPool`, `PagedPoolCacheAligned`) above `APC_LEVEL` stops with 0xC4/0x01.
#[unsafe(no_mangle)]
pub extern "system" fn ExAllocatePoolWithTag(pool_type: u32, size: usize, tag: u32) -> *mut c_void {
    let irql = Sim::current_irql();
    if pool_type & POOL_TYPE_PAGED_BIT != 0 && irql > APC_LEVEL {
        Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::ALLOCATE_PAGED_ABOVE_APC,
                usize::from(irql),
                pool_type as usize,
                size,
            ],
        );
    }
    Sim::allocate_nonpaged(size, tag).cast()
}

/// `ExFreePool`: frees an allocation whatever its tag (a free of an unknown or freed address
/// stops, as `ExFreePoolWithTag` does).
///
/// # Safety
///
/// `ptr` came from the simulated pool (anything else stops without being touched).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ExFreePool(ptr: *mut c_void) {
    let tag = pool::tag_of(ptr as usize).unwrap_or(0);
    // SAFETY: the pool checks the address before it touches anything.
    unsafe { Sim::free_pool(ptr.cast(), tag) }
}

/// `NdisAllocateMemoryWithTagPriority`: a zeroed nonpaged allocation, or NULL. The handle and
/// the priority are not used.
#[unsafe(no_mangle)]
pub extern "system" fn NdisAllocateMemoryWithTagPriority(
    _ndis_handle: *mut c_void,
    length: u32,
    tag: u32,
    _priority: u32,
) -> *mut c_void {
    Sim::allocate_nonpaged(length as usize, tag).cast()
}

/// `NdisFreeMemoryWithTagPriority`: frees an allocation made with `tag` (another tag stops
/// with 0xC4/0x10).
///
/// # Safety
///
/// `ptr` came from the simulated pool (anything else stops without being touched).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisFreeMemoryWithTagPriority(
    _ndis_handle: *mut c_void,
    ptr: *mut c_void,
    tag: u32,
) {
    // SAFETY: the pool checks the address and tag before it touches anything.
    unsafe { Sim::free_pool(ptr.cast(), tag) }
}

/// `NdisFreeMemory`: frees an allocation whatever its tag; length and flags are not used.
///
/// # Safety
///
/// As [`ExFreePool`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisFreeMemory(ptr: *mut c_void, _length: u32, _flags: u32) {
    // SAFETY: the caller's contract.
    unsafe { ExFreePool(ptr) }
}

thread_local! {
    /// Its address is the thread's `PKTHREAD`: unique among live threads.
    static KTHREAD: u8 = const { 0 };
}

/// `KeGetCurrentThread`: an opaque pointer, unique to the calling thread while it lives.
#[unsafe(no_mangle)]
pub extern "system" fn KeGetCurrentThread() -> *mut c_void {
    KTHREAD.with(|t| core::ptr::from_ref(t).cast_mut().cast())
}

/// The leak report for C tests: how many allocations tagged `tag` are live, and (when `bytes`
/// is not NULL) their size in bytes.
///
/// # Safety
///
/// `bytes` is NULL or points to a writable `SIZE_T`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisRwlSimPoolOutstanding(tag: u32, bytes: *mut usize) -> u32 {
    let live = pool::outstanding(tag);
    if !bytes.is_null() {
        // SAFETY: the caller's contract.
        unsafe { bytes.write(live.iter().map(|a| a.size).sum()) };
    }
    u32::try_from(live.len()).unwrap_or(u32::MAX)
}

/// Driver Verifier's unload check for C tests: stops with 0xC4/0x62 if anything tagged `tag`
/// is still allocated.
#[unsafe(no_mangle)]
pub extern "system" fn NdisRwlSimCheckUnload(tag: u32) {
    pool::check_unload(tag);
}
