//! Bug-check codes: the ones Windows and Driver Verifier define, and the crate's own.
//!
//! Where Windows or the verifier has a code for a misuse, the locks and the simulated kernel
//! raise that code with the documented parameters. For NDIS reader/writer lock misuse Windows
//! documents none, so the crate raises [`NDIS_RWLOCK_VIOLATION`] with a subcode in parameter 1
//! (the `rw::*` constants), in the manner of 0xC4. README.md has the whole table.

/// 0x0F SPIN_LOCK_ALREADY_OWNED: a thread acquires a spin lock it already holds
/// (P1 lock address). On Windows this deadlocks; the simulated kernel stops instead.
pub const SPIN_LOCK_ALREADY_OWNED: u32 = 0x0F;
/// 0x10 SPIN_LOCK_NOT_OWNED: a thread releases a spin lock it does not hold (P1 lock address).
pub const SPIN_LOCK_NOT_OWNED: u32 = 0x10;
/// 0x1E KMODE_EXCEPTION_NOT_HANDLED: a failed `ASSERT`/`NT_ASSERT` of C code compiled with
/// include/km (P1 `STATUS_ASSERTION_FAILURE`, P2 the address of the expression's text, P3 the
/// address of the file name, P4 the line).
pub const KMODE_EXCEPTION_NOT_HANDLED: u32 = 0x1E;
/// 0x93 INVALID_KERNEL_HANDLE: `ZwClose` of a handle that is not open (P1 handle, P2 1).
pub const INVALID_KERNEL_HANDLE: u32 = 0x93;
/// 0x139 KERNEL_SECURITY_CHECK_FAILURE: a list routine of include/km found a corrupt
/// `LIST_ENTRY` (P1 3, P2 the entry).
pub const KERNEL_SECURITY_CHECK_FAILURE: u32 = 0x139;
/// 0xC4 DRIVER_VERIFIER_DETECTED_VIOLATION; parameter 1 is one of the `verifier::*` subcodes.
pub const DRIVER_VERIFIER_DETECTED_VIOLATION: u32 = 0xC4;
/// 0x133 DPC_WATCHDOG_VIOLATION: too long at DISPATCH_LEVEL (P1 = 1: cumulative time at
/// DISPATCH_LEVEL or above; P2 elapsed milliseconds, P3 the limit in milliseconds).
pub const DPC_WATCHDOG_VIOLATION: u32 = 0x133;
/// 0x152 INVALID_PUSH_LOCK_FLAGS (P1 flags, P2 lock address).
pub const INVALID_PUSH_LOCK_FLAGS: u32 = 0x152;
/// The crate's own code for reader/writer lock misuse that Windows has no code for: "NDRL".
/// Parameter 1 is one of the `rw::*` subcodes.
pub const NDIS_RWLOCK_VIOLATION: u32 = 0x4E44_524C;

/// Subcodes (parameter 1) of 0xC4 DRIVER_VERIFIER_DETECTED_VIOLATION, as Driver Verifier
/// documents them.
pub mod verifier {
    /// Zero-byte pool allocation (P2 IRQL, P3 pool type, P4 size).
    pub const ZERO_BYTE_ALLOCATION: usize = 0x00;
    /// Paged allocation above APC_LEVEL (P2 IRQL, P3 pool type, P4 size).
    pub const ALLOCATE_PAGED_ABOVE_APC: usize = 0x01;
    /// Nonpaged allocation above DISPATCH_LEVEL (P2 IRQL, P3 pool type, P4 size).
    pub const ALLOCATE_ABOVE_DISPATCH: usize = 0x02;
    /// Free of an address that no allocation returned (P2 address).
    pub const FREE_BAD_ADDRESS: usize = 0x10;
    /// Nonpaged free above DISPATCH_LEVEL (P2 IRQL, P3 pool type, P4 address).
    pub const FREE_ABOVE_DISPATCH: usize = 0x12;
    /// Free of pool already freed (P3 address, P4 tag).
    pub const DOUBLE_FREE: usize = 0x13;
    /// KeRaiseIrql to a lower IRQL (P2 current, P3 requested).
    pub const RAISE_TO_LOWER: usize = 0x30;
    /// KeLowerIrql to a higher IRQL (P2 current, P3 requested).
    pub const LOWER_TO_HIGHER: usize = 0x31;
    /// KeReleaseSpinLock at an IRQL other than DISPATCH_LEVEL (P2 IRQL, P3 lock).
    pub const RELEASE_SPIN_LOCK_BAD_IRQL: usize = 0x32;
    /// Wait or block at DISPATCH_LEVEL or above (P2 IRQL, P3 object).
    pub const WAIT_AT_DISPATCH: usize = 0x3B;
    /// KeLeaveCriticalRegion without a matching KeEnterCriticalRegion (P2 APC-disable count).
    pub const LEAVE_CRITICAL_REGION_UNBALANCED: usize = 0x3E;
    /// KeAcquireSpinLockAtDpcLevel below DISPATCH_LEVEL (P2 IRQL, P3 lock).
    pub const ACQUIRE_AT_DPC_BELOW_DISPATCH: usize = 0x40;
    /// KeReleaseSpinLockFromDpcLevel below DISPATCH_LEVEL (P2 IRQL, P3 lock).
    pub const RELEASE_FROM_DPC_BELOW_DISPATCH: usize = 0x41;
    /// KeAcquireSpinLock above DISPATCH_LEVEL (P2 IRQL, P3 lock).
    pub const ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH: usize = 0x42;
    /// Pool still allocated when the driver unloads (P2 tag, P3 allocations, P4 bytes).
    pub const POOL_LEAKED_AT_UNLOAD: usize = 0x62;
    /// Push lock acquired with normal kernel APCs enabled (P2 IRQL, P3 APC-disable count,
    /// P4 lock).
    pub const PUSH_LOCK_ACQUIRE_APCS_ENABLED: usize = 0xEA;
    /// Push lock released with normal kernel APCs enabled (P2 IRQL, P3 APC-disable count,
    /// P4 lock).
    pub const PUSH_LOCK_RELEASE_APCS_ENABLED: usize = 0xEB;
}

/// Subcodes (parameter 1) of [`NDIS_RWLOCK_VIOLATION`].
pub mod rw {
    /// A lock pointer is NULL (P2 the other pointer argument).
    pub const NULL_LOCK: usize = 0x01;
    /// A LockState pointer is NULL (P2 lock).
    pub const NULL_LOCK_STATE: usize = 0x02;
    /// Flags has undefined bits (P2 flags, P3 lock).
    pub const UNDEFINED_FLAGS: usize = 0x03;
    /// NDIS_RWL_AT_DISPATCH_LEVEL passed, or NdisDprAcquireReadWriteLock called, by a caller
    /// below DISPATCH_LEVEL (P2 IRQL, P3 lock).
    pub const AT_DISPATCH_FLAG_BELOW_DISPATCH: usize = 0x04;
    /// Acquire above DISPATCH_LEVEL (P2 IRQL, P3 lock).
    pub const ACQUIRE_ABOVE_DISPATCH: usize = 0x05;
    /// Release with a LockState that is not a live acquisition of this lock (P2 the three
    /// state bytes, P3 lock).
    pub const BAD_LOCK_STATE: usize = 0x06;
    /// Release at an IRQL other than DISPATCH_LEVEL (P2 IRQL, P3 lock).
    pub const RELEASE_NOT_AT_DISPATCH: usize = 0x07;
    /// Release on a processor other than the acquiring one (P2 current processor, P3 lock).
    pub const RELEASE_ON_OTHER_PROCESSOR: usize = 0x08;
    /// Read-to-write promotion on one processor: a self-deadlock on Windows (P2 lock,
    /// P3 processor).
    pub const READ_TO_WRITE_PROMOTION: usize = 0x09;
    /// Free of a lock that is held (P2 lock, P3 readers, P4 writer processor + 1).
    pub const FREE_HELD_LOCK: usize = 0x0A;
    /// The processor index is outside the lock's slots (P2 processor, P3 slots).
    pub const PROCESSOR_OUT_OF_RANGE: usize = 0x0B;
    /// The lock pointer does not point to a live `NDIS_RW_LOCK_EX` or `NDIS_RWL_PUSH_LOCK`:
    /// freed, or never allocated (P2 lock, P3 the signature found).
    pub const NOT_A_LOCK: usize = 0x0E;
    /// A `KSPIN_LOCK` pointer passed to a simulated kernel routine is not pointer-aligned
    /// (P2 pointer).
    pub const MISALIGNED_SPIN_LOCK: usize = 0x10;
    /// Through the safe `RwLockEx`, a processor that holds the write lock acquires it again
    /// (P4 = 1) or reads it (P4 = 0): either would alias the write guard's `&mut T`
    /// (P2 lock, P3 processor).
    pub const ALIASING_ACQUIRE: usize = 0x0F;
    /// A wait (`KeWaitForSingleObject`) on an object that is neither an initialised `KEVENT`
    /// nor a thread object of `PsCreateSystemThread` (simulated kernel; P2 object, P3 its
    /// first header word).
    pub const NOT_A_DISPATCHER_OBJECT: usize = 0x11;
    /// A thread exits while at DISPATCH_LEVEL or above (simulated kernel; P2 IRQL).
    pub const THREAD_EXIT_AT_DISPATCH: usize = 0x0C;
    /// A processor-affinity request at DISPATCH_LEVEL or above, for a processor that does not
    /// exist, or by a dedicated thread that would move or bind itself twice (simulated kernel;
    /// P2 processor, P3 IRQL, P4 the processor the thread is dedicated to + 1, else 0).
    pub const BAD_AFFINITY: usize = 0x0D;

    // Push locks (0x20-0x2F). Windows hangs or corrupts memory where these stop the machine.

    /// Exclusive acquire of a push lock by the thread that owns it exclusively (P2 lock,
    /// P3 lock word).
    pub const PUSH_LOCK_RECURSIVE_EXCLUSIVE: usize = 0x20;
    /// Shared acquire of a push lock by the thread that owns it exclusively (P2 lock,
    /// P3 lock word).
    pub const PUSH_LOCK_SHARED_INSIDE_EXCLUSIVE: usize = 0x21;
    /// Exclusive acquire of a push lock by a thread that holds it shared: a promotion, which
    /// waits for itself (P2 lock, P3 lock word, P4 the thread's shared acquisitions).
    pub const PUSH_LOCK_SHARED_TO_EXCLUSIVE: usize = 0x22;
    /// Shared re-acquire of a push lock by a thread that holds it shared. Windows deadlocks as
    /// soon as an exclusive waiter queues between the two acquisitions (the new request waits
    /// behind a waiter that waits for this thread), so the simulated kernel stops at once,
    /// waiter or not (P2 lock, P3 lock word, P4 the thread's shared acquisitions).
    pub const PUSH_LOCK_RECURSIVE_SHARED: usize = 0x23;
    /// Release of a push lock that the calling thread does not hold in that mode (P2 lock,
    /// P3 lock word, P4 the mode released: 1 exclusive, 2 shared).
    pub const PUSH_LOCK_RELEASE_NOT_HELD: usize = 0x24;
    /// Release of a push lock above DISPATCH_LEVEL (P2 IRQL, P3 lock).
    pub const PUSH_LOCK_RELEASE_ABOVE_DISPATCH: usize = 0x25;
    /// A push-lock pointer that is not pointer-aligned (P2 the pointer).
    pub const PUSH_LOCK_MISALIGNED: usize = 0x26;
    /// The push-lock word holds no valid state: overwritten while in use, or never
    /// initialised (P2 lock, P3 lock word).
    pub const PUSH_LOCK_CORRUPT: usize = 0x27;
    /// `NdisRwlReleasePushLock` with a state that is not a live acquisition of this lock
    /// (P2 lock, P3 the state's lock, P4 the state's mode).
    pub const PUSH_LOCK_BAD_STATE: usize = 0x28;
    /// `NdisRwlFreePushLock` of a lock that is held or waited for (P2 lock, P3 holders and
    /// waiters).
    pub const PUSH_LOCK_FREE_IN_USE: usize = 0x29;
    /// `NdisRwlReleasePushLock` above APC_LEVEL, where it cannot leave its critical region
    /// (P2 IRQL, P3 lock).
    pub const PUSH_LOCK_RELEASE_ABOVE_APC: usize = 0x2A;

    // Legacy NDIS 5 lock (`NDIS_RW_LOCK`, src/storage/legacy): 0x30-0x3F.

    /// NdisReleaseReadWriteLock with the LockState of an NdisDprAcquireReadWriteLock
    /// (P2 the state: LockState | OldIrql << 16, P3 lock).
    pub const LEGACY_DPR_STATE_RELEASED_BY_NON_DPR: usize = 0x30;
    /// NdisDprReleaseReadWriteLock with the LockState of an NdisAcquireReadWriteLock
    /// (P2 the state: LockState | OldIrql << 16, P3 lock).
    pub const LEGACY_NON_DPR_STATE_RELEASED_BY_DPR: usize = 0x31;
    /// An NDIS_RW_LOCK pointer that is not aligned to the pointer size (P2 lock, P3 the
    /// alignment required).
    pub const LEGACY_MISALIGNED_LOCK: usize = 0x32;
    /// NdisInitializeReadWriteLock above DISPATCH_LEVEL (P2 IRQL, P3 lock).
    pub const LEGACY_INITIALIZE_ABOVE_DISPATCH: usize = 0x33;

    // Asymmetric-mode locks (`RwLockEx::new_asymmetric`): 0x40-0x4F.

    /// The writer of an asymmetric-mode lock could not run the process-wide barrier
    /// (`Kernel::flush_process_write_buffers` failed after it had worked when the lock was
    /// allocated): readers might be inside unseen, so the machine stops; the write
    /// acquisition is undone first (P2 lock).
    pub const PROCESS_BARRIER_FAILED: usize = 0x40;

    // The safe guard layer (`src/kernel/irql.rs`) and counts: 0x50-0x5F.

    /// A safe guard is made on a processor whose IRQL was lowered below DISPATCH_LEVEL while
    /// other guards of the crate held it there (by C or unsafe code): those guards may have
    /// been preempted while holding per-processor state (P2 the IRQL found, P3 processor,
    /// P4 the processor's guard word).
    pub const IRQL_LOWERED_UNDER_GUARD: usize = 0x50;
    /// More live guards on one processor than its guard word can count: guards leaked in a
    /// loop (P2 processor, P3 guard word, P4 lock).
    pub const GUARD_COUNT_OVERFLOW: usize = 0x51;
    /// A processor's reader count of a lock, or a write recursion depth, would wrap: read
    /// guards leaked in a loop, or C code that never releases (P2 lock, P3 processor).
    pub const COUNT_OVERFLOW: usize = 0x52;
}

/// The name Windows prints for a bug-check code.
pub fn name(code: u32) -> &'static str {
    match code {
        SPIN_LOCK_ALREADY_OWNED => "SPIN_LOCK_ALREADY_OWNED",
        SPIN_LOCK_NOT_OWNED => "SPIN_LOCK_NOT_OWNED",
        KMODE_EXCEPTION_NOT_HANDLED => "KMODE_EXCEPTION_NOT_HANDLED",
        INVALID_KERNEL_HANDLE => "INVALID_KERNEL_HANDLE",
        KERNEL_SECURITY_CHECK_FAILURE => "KERNEL_SECURITY_CHECK_FAILURE",
        DRIVER_VERIFIER_DETECTED_VIOLATION => "DRIVER_VERIFIER_DETECTED_VIOLATION",
        DPC_WATCHDOG_VIOLATION => "DPC_WATCHDOG_VIOLATION",
        INVALID_PUSH_LOCK_FLAGS => "INVALID_PUSH_LOCK_FLAGS",
        NDIS_RWLOCK_VIOLATION => "NDIS_RWLOCK_VIOLATION",
        _ => "UNKNOWN_BUGCHECK",
    }
}
