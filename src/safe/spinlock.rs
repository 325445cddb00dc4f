//! [`NdisSpinLock`]: a `T` behind an `NDIS_SPIN_LOCK`, with guards on the crate's IRQL layer.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

use crate::algorithm::violation;
use crate::bugcheck::rw;
use crate::kernel::{self, AtDispatch, DefaultKernel, Kernel, Place};
use crate::storage::spinlock::RawNdisSpinLock;

/// A `T` behind an `NDIS_SPIN_LOCK`: mutual exclusion at `DISPATCH_LEVEL`, no allocation.
///
/// - [`lock`](Self::lock) (`NdisAcquireSpinLock`) at `IRQL <= DISPATCH_LEVEL` brings the thread
///   to `DISPATCH_LEVEL`; [`lock_at_dispatch`](Self::lock_at_dispatch)
///   (`NdisDprAcquireSpinLock`) is for code already there: it still reads the IRQL once and
///   stops the machine if the caller is elsewhere (`NDIS_RWLOCK_VIOLATION` 0x04 below,
///   0x05 above), whatever the token says.
/// - Guards go through the kernel's IRQL layer, like every guard of the crate: drop order does
///   not matter, only the last guard of the processor lowers the IRQL, and before a guard
///   releases it checks that its thread runs at `DISPATCH_LEVEL` on the processor that
///   acquired (0x07, 0x08 otherwise): it never lowers from above nor releases elsewhere.
/// - A guard passed to `mem::forget` leaves the lock held and the processor at
///   `DISPATCH_LEVEL`; the holding processor acquiring again stops with 0x0F
///   `SPIN_LOCK_ALREADY_OWNED` instead of spinning for ever. Dropping the lock while it is held
///   (a forgotten guard, C code through [`as_raw`](Self::as_raw)) stops with 0x0A.
/// - Not recursive; not fair.
///
/// ```
/// use ndis_rwlock::{DispatchGuard, NdisSpinLock};
///
/// static PACKETS: NdisSpinLock<u64> = NdisSpinLock::new(0);
///
/// *PACKETS.lock() += 1;
/// let dpc = DispatchGuard::raise();
/// *PACKETS.lock_at_dispatch(dpc.token()) += 1;
/// drop(dpc);
/// assert_eq!(*PACKETS.lock(), 2);
/// ```
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

    /// Brings the thread to `DISPATCH_LEVEL` and takes the lock. `IRQL <= DISPATCH_LEVEL`.
    #[inline]
    pub fn lock(&self) -> NdisSpinLockGuard<'_, T, K> {
        self.locked(kernel::hold::<K>(false, self.raw.address()))
    }

    /// Takes the lock without raising, for a caller at `DISPATCH_LEVEL`. The token documents
    /// the precondition; the IRQL is still read once and checked.
    #[inline]
    pub fn lock_at_dispatch<'a>(
        &'a self,
        _at_dispatch: &'a AtDispatch<K>,
    ) -> NdisSpinLockGuard<'a, T, K> {
        self.locked(kernel::hold::<K>(true, self.raw.address()))
    }

    /// Takes the lock on `place`, where the guard was just counted.
    #[inline]
    fn locked(&self, place: Place) -> NdisSpinLockGuard<'_, T, K> {
        self.raw.take();
        NdisSpinLockGuard {
            lock: self,
            place,
            _not_send: PhantomData,
        }
    }

    /// The data, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The data. Stops the machine if the lock is held (see the type's docs).
    pub fn into_inner(self) -> T {
        let this = ManuallyDrop::new(self);
        this.check_unheld();
        // SAFETY: `this` is never used or dropped again, so the data is moved out once.
        unsafe { core::ptr::read(&this.data) }.into_inner()
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

    fn check_unheld(&self) {
        if let Some(holder) = self.raw.holder()
            && !K::stopping()
        {
            violation::<K>(
                rw::FREE_HELD_LOCK,
                self.raw.address(),
                0,
                holder as usize + 1,
            );
        }
    }
}

impl<T, K: Kernel> Drop for NdisSpinLock<T, K> {
    fn drop(&mut self) {
        self.check_unheld();
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

/// Exclusive access to the data of an [`NdisSpinLock`]; releases on drop, and the last guard
/// of the processor restores the IRQL.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct NdisSpinLockGuard<'a, T, K: Kernel = DefaultKernel> {
    lock: &'a NdisSpinLock<T, K>,
    /// `DISPATCH_LEVEL` and the processor of the acquisition.
    place: Place,
    _not_send: PhantomData<*const ()>,
}

impl<T, K: Kernel> NdisSpinLockGuard<'_, T, K> {
    /// The processor that holds the lock.
    pub fn processor(&self) -> u32 {
        self.place.processor()
    }
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
        if K::current_place() != self.place {
            if kernel::guard_is_void::<K>(self.place) {
                // A bug check reset the thread: release nothing.
                return;
            }
            kernel::check_place::<K>(self.place, self.lock.raw.address());
        }
        let me = self.place.processor();
        // SAFETY: at DISPATCH_LEVEL on the processor that took the lock (checked above).
        unsafe { self.lock.raw.release_taken(me) };
        // SAFETY: the lock is released; `hold` counted this guard on `me`.
        unsafe { kernel::unhold::<K>(me) };
    }
}

impl<T: fmt::Debug, K: Kernel> fmt::Debug for NdisSpinLockGuard<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
