//! The NDIS spin lock: `NDIS_SPIN_LOCK` with ndis.h's layout, its six C routines
//! (`NdisAllocateSpinLock`, `NdisFreeSpinLock`, `NdisAcquireSpinLock`, `NdisReleaseSpinLock`,
//! `NdisDprAcquireSpinLock`, `NdisDprReleaseSpinLock`) and [`NdisSpinLock`], the safe Rust
//! type.
//!
//! ndis.h declares `typedef struct _NDIS_SPIN_LOCK { KSPIN_LOCK SpinLock; KIRQL OldIrql; }`:
//! the IRQL that `NdisAcquireSpinLock` raised from is kept in the structure (the holder owns
//! it) and `NdisReleaseSpinLock` lowers back to it. The structure's tail padding (7 bytes on
//! 64-bit targets, 3 on 32-bit) is the crate's: it records the acquiring processor, so that
//! every release can check, over any kernel and without Driver Verifier, that it runs at
//! exactly `DISPATCH_LEVEL` on the processor that holds the lock, before it lowers anything.
//!
//! Checks (README "Bug checks"): an acquire above `DISPATCH_LEVEL` stops with 0xC4/0x42; a Dpr
//! acquire below it with 0xC4/0x40; a release at another IRQL with 0xC4/0x32 (a Dpr release
//! below `DISPATCH_LEVEL`: 0xC4/0x41); a release of a lock nobody holds with 0x10
//! `SPIN_LOCK_NOT_OWNED`; a release on a processor that does not hold it with
//! `NDIS_RWLOCK_VIOLATION` / `RELEASE_ON_OTHER_PROCESSOR`; an acquire by the processor that
//! holds the lock (a deadlock on Windows) with 0x0F `SPIN_LOCK_ALREADY_OWNED`.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use crate::bugcheck::{self, rw, verifier};
use crate::kernel::{AtDispatch, DISPATCH_LEVEL, DefaultKernel, Irql, KSpinLock, Kernel};
use crate::rwcore::violation;
use crate::sync::{AtomicU16, Ordering};

/// `NDIS_SPIN_LOCK`: a `KSPIN_LOCK` and the IRQL its holder raised from, in caller storage.
///
/// `#[repr(C)]`, two pointers in size, with `SpinLock` at offset 0 and `OldIrql` at the
/// pointer size, as in ndis.h. Initialise it with [`initialize`](Self::initialize)
/// (`NdisAllocateSpinLock`) or create it released with [`new`](Self::new).
#[repr(C)]
pub struct RawNdisSpinLock<K: Kernel = DefaultKernel> {
    /// `SpinLock`.
    spin_lock: KSpinLock,
    /// `OldIrql`: written and read by the holder only.
    old_irql: UnsafeCell<Irql>,
    /// Padding in ndis.h; zero.
    reserved: u8,
    /// Padding in ndis.h: the holder's processor + 1, or 0 while nobody holds the lock.
    holder: AtomicU16,
    _kernel: PhantomData<fn() -> K>,
}

// ndis.h's layout (loom's atomics are larger, and loom builds never meet C code).
#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<RawNdisSpinLock>() == 2 * core::mem::size_of::<usize>());
    assert!(core::mem::offset_of!(RawNdisSpinLock, old_irql) == core::mem::size_of::<usize>());
};

// SAFETY: `old_irql` is only touched by the thread that holds the spin lock (checked before
// every access); everything else is atomic.
unsafe impl<K: Kernel> Sync for RawNdisSpinLock<K> {}

impl<K: Kernel> Default for RawNdisSpinLock<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Kernel> fmt::Debug for RawNdisSpinLock<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawNdisSpinLock")
            .field("holder", &self.holder())
            .finish_non_exhaustive()
    }
}

/// Where a release has to run: its name in the checks' bug checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Release {
    /// `NdisReleaseSpinLock`: lowers to the saved IRQL.
    Lowering,
    /// `NdisDprReleaseSpinLock`: stays at `DISPATCH_LEVEL`.
    Dpr,
}

impl<K: Kernel> RawNdisSpinLock<K> {
    /// A released lock (what `NdisAllocateSpinLock` leaves).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            spin_lock: KSpinLock::new(),
            old_irql: UnsafeCell::new(0),
            reserved: 0,
            holder: AtomicU16::new(0),
            _kernel: PhantomData,
        }
    }

    /// A released lock (what `NdisAllocateSpinLock` leaves).
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            spin_lock: KSpinLock::new(),
            old_irql: UnsafeCell::new(0),
            reserved: 0,
            holder: AtomicU16::new(0),
            _kernel: PhantomData,
        }
    }

    /// The address C code knows the lock by (`PNDIS_SPIN_LOCK`).
    pub fn as_ptr(&self) -> *mut Self {
        core::ptr::from_ref(self).cast_mut()
    }

    fn address(&self) -> usize {
        self.as_ptr() as usize
    }

    /// The processor that holds the lock, if any (a snapshot).
    pub fn holder(&self) -> Option<u32> {
        match self.holder.load(Ordering::Relaxed) {
            0 => None,
            p => Some(u32::from(p) - 1),
        }
    }

    /// `NdisAllocateSpinLock`: (re)initialises the lock, released. Any IRQL.
    pub fn initialize(&self) {
        K::initialize_spin_lock(&self.spin_lock);
        self.holder.store(0, Ordering::Release);
    }

    /// `NdisAcquireSpinLock`: raises to `DISPATCH_LEVEL`, spins until it owns the lock and
    /// saves the previous IRQL in it. `IRQL <= DISPATCH_LEVEL`, else 0xC4/0x42.
    #[inline]
    pub fn acquire(&self) {
        let irql = K::current_irql();
        if irql > DISPATCH_LEVEL {
            self.stop(verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH, irql);
        }
        // SAFETY: raising to DISPATCH_LEVEL from at most DISPATCH_LEVEL.
        let old = unsafe { K::raise_irql(DISPATCH_LEVEL) };
        self.take();
        // SAFETY: this thread holds the lock now; only the holder touches `old_irql`.
        unsafe { self.old_irql.get().write(old) };
    }

    /// `NdisDprAcquireSpinLock`: the caller already runs at `DISPATCH_LEVEL` (checked with one
    /// IRQL read: below it 0xC4/0x40, above it 0xC4/0x42); `OldIrql` becomes
    /// `DISPATCH_LEVEL`.
    #[inline]
    pub fn dpr_acquire(&self) {
        let irql = K::current_irql();
        if irql != DISPATCH_LEVEL {
            let subcode = if irql < DISPATCH_LEVEL {
                verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH
            } else {
                verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH
            };
            self.stop(subcode, irql);
        }
        self.take();
        // SAFETY: this thread holds the lock now; only the holder touches `old_irql`.
        unsafe { self.old_irql.get().write(DISPATCH_LEVEL) };
    }

    /// Takes the spin lock at `DISPATCH_LEVEL` and records this processor as the holder.
    #[inline]
    fn take(&self) {
        let me = K::current_processor();
        let tag = holder_tag(me);
        if self.holder.load(Ordering::Relaxed) == tag {
            // Only a thread at DISPATCH_LEVEL on this processor can have stored our tag, and
            // that is the caller: a re-acquire, which spins for ever on Windows.
            K::bug_check(
                bugcheck::SPIN_LOCK_ALREADY_OWNED,
                [self.address(), me as usize, 0, 0],
            );
        }
        K::acquire_spin_lock_at_dpc(&self.spin_lock);
        self.holder.store(tag, Ordering::Relaxed);
    }

    /// `NdisReleaseSpinLock`: releases and lowers to the saved IRQL.
    ///
    /// Checks first that the caller runs at exactly `DISPATCH_LEVEL` (else 0xC4/0x32) on the
    /// processor that holds the lock (else 0x10 if nobody holds it, `NDIS_RWLOCK_VIOLATION` /
    /// `RELEASE_ON_OTHER_PROCESSOR` if another does); nothing is released or lowered then.
    ///
    /// # Safety
    ///
    /// The calling thread took the lock with [`acquire`](Self::acquire) (or
    /// [`dpr_acquire`](Self::dpr_acquire), when the release stays at `DISPATCH_LEVEL`) and has
    /// not released it since.
    #[inline]
    pub unsafe fn release(&self) {
        self.check_release(Release::Lowering);
        // SAFETY: the caller holds the lock (checked above, and its contract).
        let old = unsafe { self.old_irql.get().read() };
        self.holder.store(0, Ordering::Relaxed);
        // SAFETY: the caller holds the spin lock; `old` is what its acquire raised from.
        unsafe { K::release_spin_lock(&self.spin_lock, old) };
    }

    /// `NdisDprReleaseSpinLock`: releases and stays at `DISPATCH_LEVEL`.
    ///
    /// Same checks as [`release`](Self::release), except that a caller below
    /// `DISPATCH_LEVEL` stops with 0xC4/0x41.
    ///
    /// # Safety
    ///
    /// As [`release`](Self::release).
    #[inline]
    pub unsafe fn dpr_release(&self) {
        self.check_release(Release::Dpr);
        self.holder.store(0, Ordering::Relaxed);
        // SAFETY: the caller holds the spin lock and runs at DISPATCH_LEVEL (checked).
        unsafe { K::release_spin_lock_from_dpc(&self.spin_lock) };
    }

    /// Stops unless the caller runs at exactly `DISPATCH_LEVEL` on the holding processor.
    #[inline]
    fn check_release(&self, kind: Release) {
        let place = K::current_place();
        let irql = place.irql();
        if irql != DISPATCH_LEVEL {
            let subcode = if kind == Release::Dpr && irql < DISPATCH_LEVEL {
                verifier::RELEASE_FROM_DPC_BELOW_DISPATCH
            } else {
                verifier::RELEASE_SPIN_LOCK_BAD_IRQL
            };
            self.stop(subcode, irql);
        }
        let me = place.processor();
        let holder = self.holder.load(Ordering::Relaxed);
        if holder != holder_tag(me) {
            self.not_held_here(holder, me);
        }
    }

    #[cold]
    #[inline(never)]
    fn not_held_here(&self, holder: u16, me: u32) -> ! {
        if holder == 0 {
            K::bug_check(
                bugcheck::SPIN_LOCK_NOT_OWNED,
                [self.address(), 0, me as usize, 0],
            );
        }
        violation::<K>(
            rw::RELEASE_ON_OTHER_PROCESSOR,
            me as usize,
            self.address(),
            usize::from(holder - 1),
        )
    }

    #[cold]
    #[inline(never)]
    fn stop(&self, subcode: usize, irql: Irql) -> ! {
        K::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [subcode, usize::from(irql), self.address(), 0],
        )
    }
}

/// What `holder` stores for processor `p`: `p + 1`, saturated (processor indexes stay far
/// below 65535 on Windows and in the simulation).
#[inline]
fn holder_tag(p: u32) -> u16 {
    u16::try_from(p.saturating_add(1)).unwrap_or(u16::MAX)
}

// ---------------------------------------------------------------------------------------------
// The C exports.

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
pub unsafe extern "system" fn NdisDprReleaseSpinLock(lock: *mut RawNdisSpinLock) {
    // SAFETY: the caller's contract.
    let lock = unsafe { checked(lock) };
    // SAFETY: the caller's contract; a release elsewhere or of a free lock stops inside.
    unsafe { lock.dpr_release() };
}

// ---------------------------------------------------------------------------------------------
// The safe type.

/// A `T` behind an `NDIS_SPIN_LOCK`: mutual exclusion at `DISPATCH_LEVEL`, no allocation.
///
/// - [`lock`](Self::lock) (`NdisAcquireSpinLock`) at `IRQL <= DISPATCH_LEVEL` raises to
///   `DISPATCH_LEVEL`; the guard releases and lowers back (`NdisReleaseSpinLock`).
/// - [`lock_at_dispatch`](Self::lock_at_dispatch) (`NdisDprAcquireSpinLock`) for code already
///   at `DISPATCH_LEVEL`: it still reads the IRQL once and stops if the caller is elsewhere;
///   its guard releases without lowering.
/// - Every guard, before it releases or lowers anything, checks that the thread runs at
///   exactly `DISPATCH_LEVEL` on the processor that acquired, and bug-checks otherwise (guards
///   dropped out of order, a forgotten guard of another lock). A guard passed to
///   `mem::forget` leaves the lock held and the IRQL raised: the next acquirer spins, or
///   stops with 0x0F on the same processor; nothing is unsound.
/// - Not recursive: the holding processor acquiring again stops with 0x0F.
pub struct NdisSpinLock<T, K: Kernel = DefaultKernel> {
    raw: RawNdisSpinLock<K>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock owns its T; moving it moves the T.
unsafe impl<T: Send, K: Kernel> Send for NdisSpinLock<T, K> {}
// SAFETY: one guard at a time hands out &mut T, possibly on another thread (T: Send), as
// std::sync::Mutex.
unsafe impl<T: Send, K: Kernel> Sync for NdisSpinLock<T, K> {}

impl<T> NdisSpinLock<T> {
    /// A released lock around `value`, on the target's kernel.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        Self::with_kernel(value)
    }
}

impl<T, K: Kernel> NdisSpinLock<T, K> {
    /// A released lock around `value`, on kernel `K`.
    #[cfg(not(loom))]
    pub const fn with_kernel(value: T) -> Self {
        Self {
            raw: RawNdisSpinLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// A released lock around `value`, on kernel `K`.
    #[cfg(loom)]
    pub fn with_kernel(value: T) -> Self {
        Self {
            raw: RawNdisSpinLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Raises to `DISPATCH_LEVEL` and takes the lock. `IRQL <= DISPATCH_LEVEL` (else
    /// 0xC4/0x42).
    #[inline]
    pub fn lock(&self) -> NdisSpinLockGuard<'_, T, K> {
        self.raw.acquire();
        NdisSpinLockGuard {
            lock: self,
            release: Release::Lowering,
            _not_send: PhantomData,
        }
    }

    /// Takes the lock without raising, for a caller at `DISPATCH_LEVEL`. The token documents
    /// the precondition; the IRQL is still read once and checked (0xC4/0x40 below, 0xC4/0x42
    /// above).
    #[inline]
    pub fn lock_at_dispatch<'a>(
        &'a self,
        _at_dispatch: &'a AtDispatch<K>,
    ) -> NdisSpinLockGuard<'a, T, K> {
        self.raw.dpr_acquire();
        NdisSpinLockGuard {
            lock: self,
            release: Release::Dpr,
            _not_send: PhantomData,
        }
    }

    /// The data, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }

    /// The processor that holds the lock, if any (a snapshot).
    pub fn holder(&self) -> Option<u32> {
        self.raw.holder()
    }

    /// The `NDIS_SPIN_LOCK`, for C code that shares it: C code must release every acquisition
    /// it takes before the lock is dropped.
    pub fn as_raw(&self) -> *mut RawNdisSpinLock<K> {
        self.raw.as_ptr()
    }
}

impl<T: Default, K: Kernel> Default for NdisSpinLock<T, K> {
    fn default() -> Self {
        Self::with_kernel(T::default())
    }
}

impl<T, K: Kernel> fmt::Debug for NdisSpinLock<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NdisSpinLock")
            .field("holder", &self.holder())
            .finish_non_exhaustive()
    }
}

/// Exclusive access to the data of an [`NdisSpinLock`]; releases on drop, and lowers the
/// IRQL if the acquire raised it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct NdisSpinLockGuard<'a, T, K: Kernel = DefaultKernel> {
    lock: &'a NdisSpinLock<T, K>,
    release: Release,
    _not_send: PhantomData<*const ()>,
}

impl<T, K: Kernel> Deref for NdisSpinLockGuard<'_, T, K> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the spin lock: no other reference to the data exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T, K: Kernel> DerefMut for NdisSpinLockGuard<'_, T, K> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the spin lock and is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T, K: Kernel> Drop for NdisSpinLockGuard<'_, T, K> {
    #[inline]
    fn drop(&mut self) {
        if K::stopping() {
            // The machine stopped; leave the lock as it is.
            return;
        }
        match self.release {
            // SAFETY: this guard's acquire took the lock on this thread; the release checks
            // the IRQL and processor before it releases or lowers.
            Release::Lowering => unsafe { self.lock.raw.release() },
            // SAFETY: as above, without lowering.
            Release::Dpr => unsafe { self.lock.raw.dpr_release() },
        }
    }
}

impl<T: fmt::Debug, K: Kernel> fmt::Debug for NdisSpinLockGuard<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
