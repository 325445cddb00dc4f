//! [`LegacyRwLock`]: the safe [`RwLock`] over the NDIS 5 lock, stored inline.

use crate::algorithm::{Diagnostics, violation};
use crate::bugcheck::rw;
use crate::kernel::{DefaultKernel, Kernel};
use crate::safe::rwlock::{RawRwLock, ReadGuard, RwLock, Sealed, WriteGuard};
use crate::storage::legacy::{Hold, NdisRwLock};

/// A reader/writer lock with NDIS semantics protecting a `T`, stored inline: the legacy
/// `NDIS_RW_LOCK` behind guards.
///
/// [`RwLock`] over [`NdisRwLock`]: the rules are on [`RwLock`]. What it adds over
/// [`RwLockEx`](crate::RwLockEx): no allocation. [`LegacyRwLock::new`] is a `const fn` that
/// cannot fail, so the lock can be a `static` or a field of a fixed-size structure. The price:
/// 16-byte reader slots (four processors per cache line, so readers on neighbouring
/// processors contend), 1040 bytes whatever the machine, and exclusive acquisitions on
/// processors beyond [`MAXIMUM_PROCESSORS`](crate::storage::legacy::MAXIMUM_PROCESSORS)
/// (see [`crate::storage::legacy`]). Dropping the lock while C code holds it (through
/// [`as_raw`](RwLock::as_raw)) stops the machine ([`rw::FREE_HELD_LOCK`]).
///
/// ```
/// use ndis_rwlock::LegacyRwLock;
///
/// static COUNTERS: LegacyRwLock<[u64; 4]> = LegacyRwLock::new([0; 4]);
///
/// COUNTERS.write()[2] += 1;
/// assert_eq!(COUNTERS.read()[2], 1);
/// ```
pub type LegacyRwLock<T, K = DefaultKernel> = RwLock<NdisRwLock<K>, T>;

/// A read guard of a [`LegacyRwLock`].
pub type LegacyReadGuard<'a, T, K = DefaultKernel> = ReadGuard<'a, NdisRwLock<K>, T>;
/// A write guard of a [`LegacyRwLock`].
pub type LegacyWriteGuard<'a, T, K = DefaultKernel> = WriteGuard<'a, NdisRwLock<K>, T>;

impl<T> RwLock<NdisRwLock<DefaultKernel>, T> {
    /// A released lock around `value`, on the target's kernel. No allocation, usable in a
    /// `static`.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        Self::from_raw(NdisRwLock::new(), value)
    }

    /// A released lock around `value`. No allocation.
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        Self::from_raw(NdisRwLock::new(), value)
    }
}

impl<T, K: Kernel> RwLock<NdisRwLock<K>, T> {
    /// A released lock around `value` on kernel `K`. No allocation, usable in a `static`.
    #[cfg(not(loom))]
    pub const fn with_kernel(value: T) -> Self {
        Self::from_raw(NdisRwLock::new(), value)
    }

    /// A released lock around `value` on kernel `K`. No allocation.
    #[cfg(loom)]
    pub fn with_kernel(value: T) -> Self {
        Self::from_raw(NdisRwLock::new(), value)
    }
}

impl<T: ?Sized, K: Kernel> RwLock<NdisRwLock<K>, T> {
    /// The underlying `NDIS_RW_LOCK`, for C code that shares the lock. C code must release
    /// every acquisition it takes before the `LegacyRwLock` is dropped or moved, and must not
    /// read-acquire it on a processor where a write guard of this lock is alive (the C API
    /// allows a read inside one's own write; a guard taken after it could not tell).
    pub fn as_raw(&self) -> *mut NdisRwLock<K> {
        core::ptr::from_ref(self.raw()).cast_mut()
    }
}

impl<T: ?Sized, K: Kernel> ReadGuard<'_, NdisRwLock<K>, T> {
    /// Whether the read is exclusive (taken on a processor beyond
    /// [`MAXIMUM_PROCESSORS`](crate::storage::legacy::MAXIMUM_PROCESSORS)).
    pub fn is_exclusive(&self) -> bool {
        self.hold().without_slot()
    }
}

impl<K: Kernel> Sealed for NdisRwLock<K> {}

impl<K: Kernel> NdisRwLock<K> {
    /// Gives back an acquisition that nests inside this processor's own write (the C API
    /// allows it; a guard would alias the writer's `&mut T`) and stops the machine.
    #[cold]
    #[inline(never)]
    fn aliasing(&self, hold: Hold, me: u32, write: bool) -> ! {
        // SAFETY: we hold the nested acquisition just taken, on `me`.
        unsafe { self.release_on(hold, me, 0) };
        violation::<K>(
            rw::ALIASING_ACQUIRE,
            self.address_of(),
            me as usize,
            usize::from(write),
        )
    }
}

// SAFETY: the algorithm (with the exclusive holds of processors without a slot) excludes
// writers from reads and everyone from writes; nested acquisitions inside this processor's
// own write are undone and bug-checked.
unsafe impl<K: Kernel> RawRwLock for NdisRwLock<K> {
    type Kernel = K;
    type ReadHold<'a> = Hold;
    const NAME: &'static str = "LegacyRwLock";
    type WriteHold = Hold;

    #[inline]
    fn address(&self) -> usize {
        self.address_of()
    }

    #[inline]
    unsafe fn acquire_read(&self, me: u32, try_only: bool) -> Option<Hold> {
        // SAFETY: the caller's contract.
        match unsafe { self.acquire_read_on(me, try_only) }? {
            (hold, false) => Some(hold),
            (hold, true) => self.aliasing(hold, me, false),
        }
    }

    #[inline]
    unsafe fn release_read(&self, me: u32, hold: Hold) {
        // SAFETY: the caller's contract.
        unsafe { self.release_on(hold, me, 0) }
    }

    #[inline]
    unsafe fn acquire_write(&self, me: u32, try_only: bool) -> Option<Hold> {
        // SAFETY: the caller's contract.
        match unsafe { self.acquire_write_on(me, try_only) }? {
            (hold, false) => Some(hold),
            (hold, true) => self.aliasing(hold, me, true),
        }
    }

    #[inline]
    unsafe fn release_write(&self, me: u32, hold: Hold) {
        // SAFETY: the caller's contract.
        unsafe { self.release_on(hold, me, 0) }
    }

    fn diagnostics(&self) -> Diagnostics {
        NdisRwLock::diagnostics(self)
    }

    fn check_unheld(&self) {
        if K::stopping() || !self.is_held() {
            return;
        }
        let diag = NdisRwLock::diagnostics(self);
        violation::<K>(
            rw::FREE_HELD_LOCK,
            self.address_of(),
            usize::try_from(diag.readers).unwrap_or(usize::MAX),
            diag.writer.map_or(0, |p| p as usize + 1),
        );
    }
}
