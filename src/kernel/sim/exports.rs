//! The simulated kernel routines under their Windows names and signatures, so that C driver
//! code compiles against `include/ndis_rwlock.h` and runs on the simulation unchanged.
//!
//! Every routine is `extern "system"`: a bug check cannot unwind through it, so the process
//! prints the `*** STOP` line and aborts, as a machine stops.

use crate::bugcheck::{self, rw};
use crate::kernel::{APC_LEVEL, Irql, KSpinLock, Kernel};
use crate::sim::Sim;

/// `PROCESSOR_NUMBER`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessorNumber {
    /// Processor group.
    pub group: u16,
    /// Number within the group.
    pub number: u8,
    /// Reserved, zero.
    pub reserved: u8,
}

/// Processors per group, as on Windows.
pub const PROCESSORS_PER_GROUP: u32 = 64;
/// `ALL_PROCESSOR_GROUPS`.
pub const ALL_PROCESSOR_GROUPS: u16 = 0xFFFF;
/// `POOL_FLAG_UNINITIALIZED`.
pub const POOL_FLAG_UNINITIALIZED: u64 = 0x2;
/// `POOL_FLAG_NON_PAGED`.
pub const POOL_FLAG_NON_PAGED: u64 = 0x40;
/// `POOL_FLAG_PAGED`.
pub const POOL_FLAG_PAGED: u64 = 0x100;

/// Turns a C `PKSPIN_LOCK` into a reference, bug-checking on NULL.
///
/// # Safety
///
/// A non-null, aligned `lock` points to a live `KSPIN_LOCK` for `'a`.
pub(crate) unsafe fn spin_lock<'a>(lock: *mut usize) -> &'a KSpinLock {
    if lock.is_null() {
        Sim::bug_check(bugcheck::NDIS_RWLOCK_VIOLATION, [rw::NULL_LOCK, 0, 0, 0]);
    }
    if !lock.is_aligned() {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [rw::MISALIGNED_SPIN_LOCK, lock as usize, 0, 0],
        );
    }
    // SAFETY: KSpinLock is a transparent AtomicUsize, which has the layout of usize; the
    // caller guarantees the pointer is live and aligned.
    unsafe { &*lock.cast::<KSpinLock>() }
}

/// `KeGetCurrentIrql`.
#[unsafe(no_mangle)]
pub extern "system" fn KeGetCurrentIrql() -> Irql {
    Sim::current_irql()
}

/// `KfRaiseIrql`.
#[unsafe(no_mangle)]
pub extern "system" fn KfRaiseIrql(new_irql: Irql) -> Irql {
    // SAFETY: a raise to a lower IRQL bug-checks inside; that is the contract C callers get.
    unsafe { Sim::raise_irql(new_irql) }
}

/// `KeLowerIrql`.
#[unsafe(no_mangle)]
pub extern "system" fn KeLowerIrql(new_irql: Irql) {
    // SAFETY: a lower to a higher IRQL bug-checks inside; keeping locks consistent across the
    // lowering is the C caller's duty, as on Windows.
    unsafe { Sim::lower_irql(new_irql) }
}

/// `KeInitializeSpinLock`.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or points to a writable `KSPIN_LOCK`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeInitializeSpinLock(lock: *mut usize) {
    // SAFETY: the caller's contract.
    Sim::initialize_spin_lock(unsafe { spin_lock(lock) });
}

/// `KeAcquireSpinLockRaiseToDpc`.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or points to an initialised `KSPIN_LOCK`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeAcquireSpinLockRaiseToDpc(lock: *mut usize) -> Irql {
    // SAFETY: the caller's contract.
    Sim::acquire_spin_lock(unsafe { spin_lock(lock) })
}

/// `KeReleaseSpinLock`.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or points to an initialised `KSPIN_LOCK`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeReleaseSpinLock(lock: *mut usize, new_irql: Irql) {
    // SAFETY: the caller's contract.
    let lock = unsafe { spin_lock(lock) };
    // SAFETY: a release by a non-owner or at the wrong IRQL bug-checks inside.
    unsafe { Sim::release_spin_lock(lock, new_irql) }
}

/// `KeAcquireSpinLockAtDpcLevel`.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or points to an initialised `KSPIN_LOCK`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeAcquireSpinLockAtDpcLevel(lock: *mut usize) {
    // SAFETY: the caller's contract.
    Sim::acquire_spin_lock_at_dpc(unsafe { spin_lock(lock) });
}

/// `KeTryToAcquireSpinLockAtDpcLevel`: 1 if the lock was taken, else 0.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or points to an initialised `KSPIN_LOCK`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeTryToAcquireSpinLockAtDpcLevel(lock: *mut usize) -> u8 {
    // SAFETY: the caller's contract.
    u8::from(Sim::try_acquire_spin_lock_at_dpc(unsafe {
        spin_lock(lock)
    }))
}

/// `KeReleaseSpinLockFromDpcLevel`.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or points to an initialised `KSPIN_LOCK`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeReleaseSpinLockFromDpcLevel(lock: *mut usize) {
    // SAFETY: the caller's contract.
    let lock = unsafe { spin_lock(lock) };
    // SAFETY: a release by a non-owner or below DISPATCH_LEVEL bug-checks inside.
    unsafe { Sim::release_spin_lock_from_dpc(lock) }
}

/// `KeGetCurrentProcessorNumberEx`: the group-aware index; fills `number` when not NULL.
///
/// # Safety
///
/// `number` is NULL or points to a writable `PROCESSOR_NUMBER`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeGetCurrentProcessorNumberEx(number: *mut ProcessorNumber) -> u32 {
    let index = Sim::current_processor();
    if !number.is_null() {
        let value = ProcessorNumber {
            group: u16::try_from(index / PROCESSORS_PER_GROUP).unwrap_or(u16::MAX),
            number: u8::try_from(index % PROCESSORS_PER_GROUP).unwrap_or(u8::MAX),
            reserved: 0,
        };
        // SAFETY: the caller's contract.
        unsafe { number.write(value) };
    }
    index
}

/// `KeQueryMaximumProcessorCountEx`: all processors for `ALL_PROCESSOR_GROUPS`, else those of
/// one group.
#[unsafe(no_mangle)]
pub extern "system" fn KeQueryMaximumProcessorCountEx(group: u16) -> u32 {
    let total = Sim::max_processors();
    if group == ALL_PROCESSOR_GROUPS {
        return total;
    }
    let first = u32::from(group) * PROCESSORS_PER_GROUP;
    total.saturating_sub(first).min(PROCESSORS_PER_GROUP)
}

/// `KeEnterCriticalRegion`.
#[unsafe(no_mangle)]
pub extern "system" fn KeEnterCriticalRegion() {
    Sim::enter_critical_region();
}

/// `KeLeaveCriticalRegion`.
#[unsafe(no_mangle)]
pub extern "system" fn KeLeaveCriticalRegion() {
    // SAFETY: an unbalanced leave bug-checks (0xC4/0x3E) inside.
    unsafe { Sim::leave_critical_region() }
}

/// `ExAllocatePool2`: zeroed unless `POOL_FLAG_UNINITIALIZED` (the simulation zeroes anyway);
/// paged requests above `APC_LEVEL` bug-check 0xC4/0x01.
#[unsafe(no_mangle)]
pub extern "system" fn ExAllocatePool2(
    flags: u64,
    size: usize,
    tag: u32,
) -> *mut core::ffi::c_void {
    let irql = Sim::current_irql();
    if flags & POOL_FLAG_PAGED != 0 && irql > APC_LEVEL {
        Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                crate::bugcheck::verifier::ALLOCATE_PAGED_ABOVE_APC,
                usize::from(irql),
                1,
                size,
            ],
        );
    }
    if flags & (POOL_FLAG_NON_PAGED | POOL_FLAG_PAGED) == 0 {
        // No pool type: the request is invalid and fails, as ExAllocatePool2 does.
        return core::ptr::null_mut();
    }
    Sim::allocate_nonpaged(size, tag).cast()
}

/// `ExFreePoolWithTag`.
///
/// # Safety
///
/// `ptr` came from `ExAllocatePool2` (a bad or double free bug-checks).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ExFreePoolWithTag(ptr: *mut core::ffi::c_void, tag: u32) {
    // SAFETY: frees of unknown or freed addresses bug-check inside instead of touching memory.
    unsafe { Sim::free_pool(ptr.cast(), tag) }
}

/// `KeBugCheckEx`.
#[unsafe(no_mangle)]
pub extern "system" fn KeBugCheckEx(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> ! {
    Sim::bug_check(code, [p1, p2, p3, p4])
}
