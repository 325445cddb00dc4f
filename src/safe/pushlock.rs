//! [`PushLock<T>`]: data behind an `EX_PUSH_LOCK`, and [`CriticalRegion`], the proof that
//! normal kernel APCs are disabled, which every push-lock call needs.
//!
//! # IRQL and APC contract
//!
//! - Acquire ([`PushLock::read`], [`PushLock::write`]) at `IRQL <= APC_LEVEL`: a thread that
//!   cannot get the lock sleeps. Driver Verifier (and the simulated kernel) stops the machine
//!   with 0xC4/0x3B above `APC_LEVEL`.
//! - Release (dropping the guard) at `IRQL <= DISPATCH_LEVEL`.
//! - Both inside a critical region (`KeEnterCriticalRegion`), so that the thread cannot be
//!   suspended while it holds the lock. The methods take a `&CriticalRegion`, and a guard
//!   cannot outlive the region it was acquired in, so the rule holds by construction.
//! - Not recursive: a thread that holds the lock must not acquire it again, in either mode.
//!   Windows hangs; the simulated kernel bug-checks (`bugcheck::rw` 0x20-0x23).
//! - Not fair: no order among waiters is promised. Once a thread waits, new shared acquirers
//!   queue behind it, so readers do not starve a waiting writer.
//!
//! A guard cannot outlive the critical region it was acquired in, nor leave its thread:
//!
//! ```compile_fail,E0597
//! use ndis_rwlock::{CriticalRegion, PushLock};
//! let lock = PushLock::new(0);
//! let guard = {
//!     let region = CriticalRegion::enter();
//!     lock.write(&region)
//! };
//! ```
//!
//! ```compile_fail,E0277
//! use ndis_rwlock::{CriticalRegion, PushLock};
//! fn send<T: Send>(_: T) {}
//! let lock = PushLock::new(0);
//! let region = CriticalRegion::enter();
//! send(lock.read(&region));
//! ```
//!
//! There are no `try_read`/`try_write`: the try-acquire routines of wdm.h
//! (`ExTryAcquirePushLock*Ex`) are marked by Microsoft as reserved for internal system use,
//! and the lock word is opaque, so a driver has no honest way to test a push lock without
//! blocking.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use crate::kernel::{DefaultKernel, EX_DEFAULT_PUSH_LOCK_FLAGS, ExPushLock, Kernel};

/// A critical region of the current thread: normal kernel APCs stay disabled while it lives.
///
/// [`CriticalRegion::enter`] calls `KeEnterCriticalRegion`, drop calls
/// `KeLeaveCriticalRegion`. Regions nest. Not `Send`: the region belongs to the thread that
/// entered it. Enter at `IRQL <= APC_LEVEL`.
#[must_use = "dropping the region re-enables normal kernel APCs at once"]
pub struct CriticalRegion<K: Kernel = DefaultKernel> {
    _not_send: PhantomData<*const K>,
}

impl<K: Kernel> CriticalRegion<K> {
    /// `KeEnterCriticalRegion`.
    #[inline]
    pub fn enter() -> Self {
        K::enter_critical_region();
        Self {
            _not_send: PhantomData,
        }
    }
}

impl<K: Kernel> Drop for CriticalRegion<K> {
    #[inline]
    fn drop(&mut self) {
        if K::stopping() {
            // Unwinding from a bug check, which has already reset the thread.
            return;
        }
        // SAFETY: `enter` entered the region on this thread (the type is not Send), and every
        // guard borrowed from it has been dropped before it.
        unsafe { K::leave_critical_region() }
    }
}

impl<K: Kernel> fmt::Debug for CriticalRegion<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CriticalRegion")
    }
}

/// A reader/writer lock over `T` built on an `EX_PUSH_LOCK`: one pointer-sized lock word next
/// to the data, usable in paged or nonpaged memory.
///
/// Waiters sleep instead of spinning, so it is for code at `PASSIVE_LEVEL` or `APC_LEVEL`
/// that may hold the lock for a while; see the [module docs](self) for the IRQL contract.
///
/// ```
/// use ndis_rwlock::{CriticalRegion, PushLock};
///
/// static TABLE: PushLock<Vec<u32>> = PushLock::new(Vec::new());
///
/// fn add(entry: u32) {
///     let region = CriticalRegion::enter();
///     TABLE.write(&region).push(entry);
/// }
///
/// fn contains(entry: u32) -> bool {
///     let region = CriticalRegion::enter();
///     TABLE.read(&region).contains(&entry)
/// }
///
/// add(7);
/// assert!(contains(7));
/// ```
pub struct PushLock<T: ?Sized, K: Kernel = DefaultKernel> {
    lock: ExPushLock,
    _kernel: PhantomData<fn() -> K>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock word is an atomic; moving the lock moves the T it owns.
unsafe impl<T: ?Sized + Send, K: Kernel> Send for PushLock<T, K> {}
// SAFETY: writers get `&mut T` only while they hold the lock exclusively, readers get `&T`
// while they hold it shared, possibly on several threads at once: hence Send + Sync, as for
// `std::sync::RwLock`.
unsafe impl<T: ?Sized + Send + Sync, K: Kernel> Sync for PushLock<T, K> {}

impl<T> PushLock<T> {
    /// A free lock over `value`, for the target's kernel: the lock word is zero, which is what
    /// `ExInitializePushLock` stores.
    #[cfg(not(loom))]
    #[inline]
    pub const fn new(value: T) -> Self {
        Self::with_kernel(value)
    }

    /// A free lock over `value`, for the target's kernel: the lock word is zero, which is what
    /// `ExInitializePushLock` stores.
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        Self::with_kernel(value)
    }
}

impl<T, K: Kernel> PushLock<T, K> {
    /// A free lock over `value`, for the kernel `K`.
    #[cfg(not(loom))]
    #[inline]
    pub const fn with_kernel(value: T) -> Self {
        Self {
            lock: ExPushLock::new(),
            _kernel: PhantomData,
            data: UnsafeCell::new(value),
        }
    }

    /// A free lock over `value`, for the kernel `K`.
    #[cfg(loom)]
    pub fn with_kernel(value: T) -> Self {
        Self {
            lock: ExPushLock::new(),
            _kernel: PhantomData,
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized, K: Kernel> PushLock<T, K> {
    /// `ExAcquirePushLockSharedEx`: waits until no thread holds the lock exclusively and no
    /// thread waits before this one, then returns a guard for shared access.
    ///
    /// Call at `IRQL <= APC_LEVEL`, and not while this thread holds the lock.
    #[inline]
    pub fn read<'a>(&'a self, _region: &'a CriticalRegion<K>) -> PushLockReadGuard<'a, T, K> {
        K::acquire_push_lock_shared(&self.lock, EX_DEFAULT_PUSH_LOCK_FLAGS);
        PushLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// `ExAcquirePushLockExclusiveEx`: waits until no other thread holds the lock, then
    /// returns a guard for exclusive access.
    ///
    /// Call at `IRQL <= APC_LEVEL`, and not while this thread holds the lock.
    #[inline]
    pub fn write<'a>(&'a self, _region: &'a CriticalRegion<K>) -> PushLockWriteGuard<'a, T, K> {
        K::acquire_push_lock_exclusive(&self.lock, EX_DEFAULT_PUSH_LOCK_FLAGS);
        PushLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// The protected value, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The lock word, for diagnostics.
    pub fn as_raw(&self) -> &ExPushLock {
        &self.lock
    }
}

impl<T: Default, K: Kernel> Default for PushLock<T, K> {
    fn default() -> Self {
        Self::with_kernel(T::default())
    }
}

impl<T, K: Kernel> From<T> for PushLock<T, K> {
    fn from(value: T) -> Self {
        Self::with_kernel(value)
    }
}

impl<T: ?Sized, K: Kernel> fmt::Debug for PushLock<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Reading the data would need the lock, and a push lock cannot be tried.
        f.debug_struct("PushLock").finish_non_exhaustive()
    }
}

/// Shared access to the data of a [`PushLock`]; releases the lock when dropped.
///
/// Not `Send`: the thread that acquired the lock releases it, inside its critical region.
#[must_use = "dropping the guard releases the lock at once"]
pub struct PushLockReadGuard<'a, T: ?Sized, K: Kernel = DefaultKernel> {
    lock: &'a PushLock<T, K>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a `&PushLockReadGuard` only hands out `&T`, which is fine to share when T is Sync.
unsafe impl<T: ?Sized + Sync, K: Kernel> Sync for PushLockReadGuard<'_, T, K> {}

impl<T: ?Sized, K: Kernel> Deref for PushLockReadGuard<'_, T, K> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock shared, which excludes every writer.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized, K: Kernel> Drop for PushLockReadGuard<'_, T, K> {
    #[inline]
    fn drop(&mut self) {
        if K::stopping() {
            // The machine stopped; leave the lock as the bug check found it.
            return;
        }
        // SAFETY: this guard's thread acquired the lock shared in `read` and is still in the
        // critical region the guard borrows.
        unsafe { K::release_push_lock_shared(&self.lock.lock, EX_DEFAULT_PUSH_LOCK_FLAGS) }
    }
}

impl<T: ?Sized + fmt::Debug, K: Kernel> fmt::Debug for PushLockReadGuard<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to the data of a [`PushLock`]; releases the lock when dropped.
///
/// Not `Send`: the thread that acquired the lock releases it, inside its critical region.
#[must_use = "dropping the guard releases the lock at once"]
pub struct PushLockWriteGuard<'a, T: ?Sized, K: Kernel = DefaultKernel> {
    lock: &'a PushLock<T, K>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a `&PushLockWriteGuard` only hands out `&T`, which is fine to share when T is Sync.
unsafe impl<T: ?Sized + Sync, K: Kernel> Sync for PushLockWriteGuard<'_, T, K> {}

impl<T: ?Sized, K: Kernel> Deref for PushLockWriteGuard<'_, T, K> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock exclusively.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized, K: Kernel> DerefMut for PushLockWriteGuard<'_, T, K> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock exclusively, and `&mut self` makes this the only
        // borrow of the data through it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized, K: Kernel> Drop for PushLockWriteGuard<'_, T, K> {
    #[inline]
    fn drop(&mut self) {
        if K::stopping() {
            // The machine stopped; leave the lock as the bug check found it.
            return;
        }
        // SAFETY: this guard's thread acquired the lock exclusively in `write` and is still in
        // the critical region the guard borrows.
        unsafe { K::release_push_lock_exclusive(&self.lock.lock, EX_DEFAULT_PUSH_LOCK_FLAGS) }
    }
}

impl<T: ?Sized + fmt::Debug, K: Kernel> fmt::Debug for PushLockWriteGuard<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
