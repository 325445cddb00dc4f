//! The kernel interface every lock in this crate is written against.
//!
//! A lock algorithm takes a type parameter `K: Kernel` and calls nothing else of the operating
//! system: it cannot tell whether it runs on Windows (`Wdk`, a thin mapping onto wdk-sys) or
//! on the simulated kernel ([`crate::sim::Sim`], every other target). [`DefaultKernel`] names
//! the one the target has; the exported C functions use it.
//!
//! The interface mirrors the kernel routines it maps to, one for one, so that the Windows
//! implementation stays mechanical: `KeGetCurrentIrql`, `KfRaiseIrql`, `KeLowerIrql`,
//! `KeGetCurrentProcessorNumberEx`, `KeQueryMaximumProcessorCountEx`, the `KSPIN_LOCK`
//! routines, `ExAllocatePool2`/`ExFreePoolWithTag`, `KeEnter/LeaveCriticalRegion`, the
//! `EX_PUSH_LOCK` routines, a spin-wait hint and `KeBugCheckEx`.

mod irql;
#[cfg(loom)]
pub mod loom;
#[cfg(not(windows))]
pub mod sim;
#[cfg(windows)]
mod wdk;
pub use irql::{AtDispatch, DispatchGuard};
pub(crate) use irql::{check_place, guard_is_void, hold, unhold};
#[cfg(windows)]
pub use wdk::Wdk;

/// The kernel of the target: `Wdk` on Windows, the simulated kernel elsewhere.
#[cfg(windows)]
pub type DefaultKernel = Wdk;
/// The kernel of the target: `Wdk` on Windows, the simulated kernel elsewhere.
#[cfg(not(windows))]
pub type DefaultKernel = crate::sim::Sim;

/// An interrupt request level (`KIRQL`).
pub type Irql = u8;
/// `PASSIVE_LEVEL`: ordinary thread execution.
pub const PASSIVE_LEVEL: Irql = 0;
/// `APC_LEVEL`: asynchronous procedure calls are masked.
pub const APC_LEVEL: Irql = 1;
/// `DISPATCH_LEVEL`: the scheduler is masked; the thread owns its processor.
pub const DISPATCH_LEVEL: Irql = 2;
/// `HIGH_LEVEL` on x64 and ARM64.
pub const HIGH_LEVEL: Irql = 15;

/// Storage of a `KSPIN_LOCK`: one `ULONG_PTR`, zero when free.
///
/// The word is only ever touched through [`Kernel`]; on Windows its address is passed to the
/// `Ke*SpinLock*` routines, in the simulation it holds the owner's identity.
#[repr(transparent)]
#[derive(Debug, Default)]
pub struct KSpinLock(pub(crate) crate::sync::AtomicUsize);

impl KSpinLock {
    /// A released spin lock (what `KeInitializeSpinLock` stores).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self(crate::sync::AtomicUsize::new(0))
    }

    /// A released spin lock (what `KeInitializeSpinLock` stores).
    #[cfg(loom)]
    pub fn new() -> Self {
        Self(crate::sync::AtomicUsize::new(0))
    }

    /// The address handed to the kernel as `PKSPIN_LOCK`.
    pub fn as_ptr(&self) -> *mut usize {
        core::ptr::from_ref(self).cast_mut().cast()
    }
}

/// Storage of an `EX_PUSH_LOCK`: one `ULONG_PTR`, zero when free.
#[repr(transparent)]
#[derive(Debug, Default)]
pub struct ExPushLock(pub(crate) crate::sync::AtomicUsize);

impl ExPushLock {
    /// A released push lock (what `ExInitializePushLock` stores).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self(crate::sync::AtomicUsize::new(0))
    }

    /// A released push lock (what `ExInitializePushLock` stores).
    #[cfg(loom)]
    pub fn new() -> Self {
        Self(crate::sync::AtomicUsize::new(0))
    }

    /// The address handed to the kernel as `PEX_PUSH_LOCK`.
    pub fn as_ptr(&self) -> *mut usize {
        core::ptr::from_ref(self).cast_mut().cast()
    }
}

/// Where the current thread runs: its IRQL and processor index, which a lock records when it
/// acquires and compares when it releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    irql: Irql,
    processor: u32,
}

impl Place {
    /// The place of a thread at `irql` on processor `processor`.
    #[inline]
    pub const fn new(irql: Irql, processor: u32) -> Self {
        Self { irql, processor }
    }

    /// The IRQL.
    #[inline]
    pub const fn irql(self) -> Irql {
        self.irql
    }

    /// The processor index.
    #[inline]
    pub const fn processor(self) -> u32 {
        self.processor
    }
}

/// `EX_DEFAULT_PUSH_LOCK_FLAGS`: the only flag value the push-lock routines accept.
pub const EX_DEFAULT_PUSH_LOCK_FLAGS: u32 = 0;

/// What a lock needs from a kernel.
///
/// All functions are associated functions: a kernel is a type, not a value, so that a lock
/// carries no pointer to it.
///
/// # Safety
///
/// An implementation must give the routines the semantics of the Windows routines they are
/// named after. In particular the locks rely on these guarantees:
///
/// - While the calling thread runs at `DISPATCH_LEVEL` or above, it is the only thread that
///   runs on its processor, and [`Kernel::current_processor`] returns the same index, smaller
///   than [`Kernel::max_processors`], until the thread drops below `DISPATCH_LEVEL`.
/// - A spin lock acquired through these routines excludes every other acquirer until it is
///   released, and acquire/release are acquire/release barriers.
/// - [`Kernel::bug_check`] never returns.
pub unsafe trait Kernel: 'static {
    /// `KeGetCurrentIrql`.
    fn current_irql() -> Irql;

    /// `KfRaiseIrql`: raises to `new` and returns the previous IRQL.
    ///
    /// # Safety
    ///
    /// `new` must not be lower than the current IRQL (the verifier bug-checks 0xC4/0x30).
    unsafe fn raise_irql(new: Irql) -> Irql;

    /// `KeLowerIrql`: lowers to `new`.
    ///
    /// # Safety
    ///
    /// `new` must not be higher than the current IRQL (0xC4/0x31), and nothing that relies on
    /// the current IRQL (a spin lock, a per-processor slot) may still be held above `new`.
    unsafe fn lower_irql(new: Irql);

    /// `KeGetCurrentProcessorNumberEx`, as a group-aware index in `0..max_processors()`.
    ///
    /// Stable only while the caller runs at `DISPATCH_LEVEL` or above.
    fn current_processor() -> u32;

    /// [`Kernel::current_irql`] and [`Kernel::current_processor`] together (what a lock's
    /// release compares with the place of its acquisition). At `DISPATCH_LEVEL` or above the
    /// processor is [`Kernel::current_processor`]; below, a kernel may report a placeholder
    /// for a thread it has not seen yet.
    #[inline]
    fn current_place() -> Place {
        Place::new(Self::current_irql(), Self::current_processor())
    }

    /// The guard word of processor `processor`: the crate's own per-processor record of the
    /// safe guards that keep that processor at `DISPATCH_LEVEL` (how many there are, and the
    /// IRQL the last one lowers to; see `DispatchGuard`). Zero when none.
    ///
    /// Only the thread that runs on `processor` at `DISPATCH_LEVEL` reads or writes it, so a
    /// kernel may keep it per processor or, equivalently for these callers, per thread.
    fn guard_word(processor: u32) -> usize;

    /// Stores the guard word of processor `processor` (see [`Kernel::guard_word`]).
    ///
    /// # Safety
    ///
    /// The caller runs on `processor` at `DISPATCH_LEVEL` and stores what the guard layer
    /// computed from [`Kernel::guard_word`].
    unsafe fn set_guard_word(processor: u32, word: usize);

    /// `KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS)`: the number of processor slots,
    /// including processors that may be hot-added later.
    fn max_processors() -> u32;

    /// `KeInitializeSpinLock`.
    fn initialize_spin_lock(lock: &KSpinLock);

    /// `KeAcquireSpinLockRaiseToDpc`: raises to `DISPATCH_LEVEL`, spins until it owns the
    /// lock, returns the previous IRQL.
    fn acquire_spin_lock(lock: &KSpinLock) -> Irql;

    /// `KeReleaseSpinLock`: releases and lowers to `old`.
    ///
    /// # Safety
    ///
    /// The caller owns `lock` (acquired by [`Kernel::acquire_spin_lock`]) and `old` is the IRQL
    /// that call returned.
    unsafe fn release_spin_lock(lock: &KSpinLock, old: Irql);

    /// `KeAcquireSpinLockAtDpcLevel`: the caller already runs at `DISPATCH_LEVEL`.
    fn acquire_spin_lock_at_dpc(lock: &KSpinLock);

    /// `KeTryToAcquireSpinLockAtDpcLevel`: `true` if the lock was taken.
    fn try_acquire_spin_lock_at_dpc(lock: &KSpinLock) -> bool;

    /// `KeReleaseSpinLockFromDpcLevel`.
    ///
    /// # Safety
    ///
    /// The caller owns `lock` and runs at `DISPATCH_LEVEL`.
    unsafe fn release_spin_lock_from_dpc(lock: &KSpinLock);

    /// `ExAllocatePool2(POOL_FLAG_NON_PAGED, size, tag)`: zeroed, 16-byte aligned memory, or
    /// null when the pool is exhausted. Callable at `IRQL <= DISPATCH_LEVEL`.
    fn allocate_nonpaged(size: usize, tag: u32) -> *mut u8;

    /// `ExFreePoolWithTag`.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by [`Kernel::allocate_nonpaged`] with the same `tag` and has not been
    /// freed since.
    unsafe fn free_pool(ptr: *mut u8, tag: u32);

    /// `KeEnterCriticalRegion`: disables normal kernel APCs for the current thread.
    fn enter_critical_region();

    /// `KeLeaveCriticalRegion`.
    ///
    /// # Safety
    ///
    /// Pairs with an earlier [`Kernel::enter_critical_region`] of the same thread.
    unsafe fn leave_critical_region();

    /// `ExInitializePushLock`: stores a released push lock in `lock`.
    ///
    /// # Safety
    ///
    /// No thread holds `lock` or waits for it: re-initialising a lock in use strands its
    /// owners and waiters.
    unsafe fn initialize_push_lock(lock: &ExPushLock);

    /// `ExAcquirePushLockExclusiveEx`: blocks until the calling thread owns `lock` exclusively.
    ///
    /// The caller runs at `IRQL <= APC_LEVEL` with normal kernel APCs disabled (inside
    /// [`Kernel::enter_critical_region`]), passes [`EX_DEFAULT_PUSH_LOCK_FLAGS`] and does not
    /// hold `lock` already: push locks are not recursive, and Windows hangs where the simulated
    /// kernel bug-checks.
    fn acquire_push_lock_exclusive(lock: &ExPushLock, flags: u32);

    /// `ExAcquirePushLockSharedEx`: blocks until the calling thread owns `lock` shared.
    ///
    /// Same rules as [`Kernel::acquire_push_lock_exclusive`]. New shared acquirers queue
    /// behind a waiting exclusive acquirer, so a thread that already holds `lock` shared must
    /// not acquire it shared again.
    fn acquire_push_lock_shared(lock: &ExPushLock, flags: u32);

    /// `ExReleasePushLockExclusiveEx`.
    ///
    /// # Safety
    ///
    /// The calling thread owns `lock` exclusively, through
    /// [`Kernel::acquire_push_lock_exclusive`], runs at `IRQL <= DISPATCH_LEVEL` and is still
    /// in the critical region it acquired in.
    unsafe fn release_push_lock_exclusive(lock: &ExPushLock, flags: u32);

    /// `ExReleasePushLockSharedEx`.
    ///
    /// # Safety
    ///
    /// The calling thread owns `lock` shared, through [`Kernel::acquire_push_lock_shared`],
    /// runs at `IRQL <= DISPATCH_LEVEL` and is still in the critical region it acquired in.
    unsafe fn release_push_lock_shared(lock: &ExPushLock, flags: u32);

    /// A hint to the processor that the caller is spin-waiting (`YieldProcessor`).
    fn spin_hint();

    /// `KeBugCheckEx`: stops the machine with `code` and four parameters.
    fn bug_check(code: u32, params: [usize; 4]) -> !;

    /// Whether the current thread is unwinding from a bug check. Guards check it in `drop`
    /// and release nothing then: the machine has stopped. On Windows a bug check never
    /// returns, so this is always `false`; the simulated kernel lets tests catch a stop.
    #[inline]
    fn stopping() -> bool {
        false
    }

    /// A full memory barrier executed on every processor, at an instruction boundary of
    /// whatever each one runs, before this returns (what `FlushProcessWriteBuffers` does for a
    /// process): `KeIpiGenericCall` with a worker that only fences. The writer of an
    /// asymmetric-mode lock calls it so that readers need no fence of their own.
    /// `IRQL <= DISPATCH_LEVEL`.
    ///
    /// Returns `false`, having done nothing, when the platform has no such barrier (the
    /// simulated kernel on a host without `membarrier`, and the default); an implementation
    /// that returned `true` once keeps returning `true` unless it fails outright.
    #[inline]
    fn flush_process_write_buffers() -> bool {
        false
    }
}
