//! The kernel interface on Windows: a one-for-one mapping onto `wdk_sys::ntddk`.
//!
//! Not compiled on the Linux machines this crate is developed on (wdk-sys needs the Windows
//! Driver Kit): every name and signature here follows the wdk-sys 0.5 bindings of the WDK
//! headers, and must be confirmed by the first Windows build. Keep it mechanical.

use wdk_sys::{PKSPIN_LOCK, POOL_FLAG_NON_PAGED, PROCESSOR_NUMBER, ULONG_PTR, ntddk};

use super::{ExPushLock, Irql, KSpinLock, Kernel};

/// The Windows kernel, through wdk-sys.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wdk;

fn spin_lock_ptr(lock: &KSpinLock) -> PKSPIN_LOCK {
    lock.as_ptr().cast()
}

/// The `KIPI_BROADCAST_WORKER` of `flush_process_write_buffers`: a full fence on the processor
/// it interrupts (the IPI itself is not documented to be one).
///
/// # Safety
///
/// Called by `KeIpiGenericCall` only; any argument is fine.
unsafe extern "C" fn fence_worker(_argument: ULONG_PTR) -> ULONG_PTR {
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    0
}

/// Processors the guard table has a word for: Windows' limit of logical processors (32
/// groups of 64). A processor index beyond it stops the machine (`PROCESSOR_OUT_OF_RANGE`).
const GUARD_PROCESSORS: usize = 2048;

/// One processor's guard word, alone in its cache line: every safe guard writes it, and
/// readers on different processors must not share a line.
#[repr(C, align(64))]
struct GuardWord(core::sync::atomic::AtomicUsize);

/// The guard words of every processor (`Kernel::guard_word`): 128 KiB of the image's
/// zero-initialised data, so that nothing is allocated and nothing can leak at unload.
static GUARD_WORDS: [GuardWord; GUARD_PROCESSORS] =
    [const { GuardWord(core::sync::atomic::AtomicUsize::new(0)) }; GUARD_PROCESSORS];

fn guard_slot(processor: u32) -> &'static core::sync::atomic::AtomicUsize {
    match GUARD_WORDS.get(processor as usize) {
        Some(slot) => &slot.0,
        None => Wdk::bug_check(
            crate::bugcheck::NDIS_RWLOCK_VIOLATION,
            [
                crate::bugcheck::rw::PROCESSOR_OUT_OF_RANGE,
                processor as usize,
                GUARD_PROCESSORS,
                0,
            ],
        ),
    }
}

// SAFETY: these are the Windows routines themselves, which define the contract.
unsafe impl Kernel for Wdk {
    #[inline]
    fn current_irql() -> Irql {
        // SAFETY: callable at any IRQL.
        unsafe { ntddk::KeGetCurrentIrql() }
    }

    #[inline]
    unsafe fn raise_irql(new: Irql) -> Irql {
        // SAFETY: the caller raises, never lowers (trait contract).
        unsafe { ntddk::KfRaiseIrql(new) }
    }

    #[inline]
    unsafe fn lower_irql(new: Irql) {
        // SAFETY: the caller lowers to an IRQL it raised from (trait contract).
        unsafe { ntddk::KeLowerIrql(new) }
    }

    #[inline]
    fn current_processor() -> u32 {
        let mut number = PROCESSOR_NUMBER::default();
        // SAFETY: `number` is a valid PROCESSOR_NUMBER to fill; callable at any IRQL.
        unsafe { ntddk::KeGetCurrentProcessorNumberEx(&mut number) }
    }

    #[inline]
    fn guard_word(processor: u32) -> usize {
        // Only the thread that owns `processor` at DISPATCH_LEVEL touches its word: relaxed
        // loads and stores, no read-modify-write.
        guard_slot(processor).load(core::sync::atomic::Ordering::Relaxed)
    }

    #[inline]
    unsafe fn set_guard_word(processor: u32, word: usize) {
        guard_slot(processor).store(word, core::sync::atomic::Ordering::Relaxed);
    }

    fn max_processors() -> u32 {
        // SAFETY: callable at any IRQL.
        unsafe { ntddk::KeQueryMaximumProcessorCountEx(wdk_sys::ALL_PROCESSOR_GROUPS as u16) }
    }

    fn initialize_spin_lock(lock: &KSpinLock) {
        // What KeInitializeSpinLock does: a free spin lock is zero. Stored directly because the
        // routine is an ntoskrnl export in some WDK headers and a FORCEINLINE in others (MinGW's
        // wdm.h on x64), so a call would not compile against every binding of it.
        lock.0.store(0, crate::sync::Ordering::Release);
    }

    #[inline]
    fn acquire_spin_lock(lock: &KSpinLock) -> Irql {
        // SAFETY: the pointer is to a live KSPIN_LOCK; IRQL <= DISPATCH is the caller's
        // documented precondition, which Driver Verifier checks.
        unsafe { ntddk::KeAcquireSpinLockRaiseToDpc(spin_lock_ptr(lock)) }
    }

    #[inline]
    unsafe fn release_spin_lock(lock: &KSpinLock, old: Irql) {
        // SAFETY: the caller owns the lock and passes the IRQL its acquire returned.
        unsafe { ntddk::KeReleaseSpinLock(spin_lock_ptr(lock), old) }
    }

    #[inline]
    fn acquire_spin_lock_at_dpc(lock: &KSpinLock) {
        // SAFETY: the pointer is to a live KSPIN_LOCK; the caller runs at DISPATCH_LEVEL.
        unsafe { ntddk::KeAcquireSpinLockAtDpcLevel(spin_lock_ptr(lock)) }
    }

    #[inline]
    fn try_acquire_spin_lock_at_dpc(lock: &KSpinLock) -> bool {
        // SAFETY: the pointer is to a live KSPIN_LOCK; the caller runs at DISPATCH_LEVEL.
        unsafe { ntddk::KeTryToAcquireSpinLockAtDpcLevel(spin_lock_ptr(lock)) != 0 }
    }

    #[inline]
    unsafe fn release_spin_lock_from_dpc(lock: &KSpinLock) {
        // SAFETY: the caller owns the lock and runs at DISPATCH_LEVEL.
        unsafe { ntddk::KeReleaseSpinLockFromDpcLevel(spin_lock_ptr(lock)) }
    }

    fn allocate_nonpaged(size: usize, tag: u32) -> *mut u8 {
        // SAFETY: callable at IRQL <= DISPATCH_LEVEL for nonpaged pool; returns NULL on
        // failure.
        unsafe { ntddk::ExAllocatePool2(POOL_FLAG_NON_PAGED, size as u64, tag) }.cast()
    }

    unsafe fn free_pool(ptr: *mut u8, tag: u32) {
        // SAFETY: the caller passes a live allocation made with this tag.
        unsafe { ntddk::ExFreePoolWithTag(ptr.cast(), tag) }
    }

    fn enter_critical_region() {
        // SAFETY: callable at IRQL <= APC_LEVEL.
        unsafe { ntddk::KeEnterCriticalRegion() }
    }

    unsafe fn leave_critical_region() {
        // SAFETY: pairs with an earlier enter (trait contract).
        unsafe { ntddk::KeLeaveCriticalRegion() }
    }

    unsafe fn initialize_push_lock(lock: &ExPushLock) {
        // SAFETY: the pointer is to a live, pointer-aligned EX_PUSH_LOCK (a transparent
        // ULONG_PTR) that nobody holds (trait contract).
        unsafe { ntddk::ExInitializePushLock(lock.as_ptr().cast()) }
    }

    #[inline]
    fn acquire_push_lock_exclusive(lock: &ExPushLock, flags: u32) {
        // SAFETY: the pointer is to a live EX_PUSH_LOCK; IRQL <= APC_LEVEL, the critical
        // region and the flags are the caller's documented preconditions, which Driver
        // Verifier checks.
        unsafe { ntddk::ExAcquirePushLockExclusiveEx(lock.as_ptr().cast(), flags) }
    }

    #[inline]
    fn acquire_push_lock_shared(lock: &ExPushLock, flags: u32) {
        // SAFETY: as for the exclusive acquire.
        unsafe { ntddk::ExAcquirePushLockSharedEx(lock.as_ptr().cast(), flags) }
    }

    #[inline]
    unsafe fn release_push_lock_exclusive(lock: &ExPushLock, flags: u32) {
        // SAFETY: the caller owns the lock exclusively (trait contract).
        unsafe { ntddk::ExReleasePushLockExclusiveEx(lock.as_ptr().cast(), flags) }
    }

    #[inline]
    unsafe fn release_push_lock_shared(lock: &ExPushLock, flags: u32) {
        // SAFETY: the caller owns the lock shared (trait contract).
        unsafe { ntddk::ExReleasePushLockSharedEx(lock.as_ptr().cast(), flags) }
    }

    #[inline]
    fn spin_hint() {
        core::hint::spin_loop();
    }

    fn flush_process_write_buffers() -> bool {
        // SAFETY: callable at IRQL <= DISPATCH_LEVEL; the worker runs at IPI_LEVEL on every
        // processor, touches no memory and returns.
        unsafe { ntddk::KeIpiGenericCall(Some(fence_worker), 0) };
        true
    }

    #[expect(unreachable_code, reason = "KeBugCheckEx does not return")]
    fn bug_check(code: u32, params: [usize; 4]) -> ! {
        let [p1, p2, p3, p4] = params;
        // SAFETY: KeBugCheckEx may be called at any IRQL and stops the machine.
        unsafe { ntddk::KeBugCheckEx(code, p1 as u64, p2 as u64, p3 as u64, p4 as u64) };
        loop {
            core::hint::spin_loop();
        }
    }
}
