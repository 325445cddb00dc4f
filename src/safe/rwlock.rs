//! [`RwLock`]: data behind a reader/writer lock with NDIS semantics, generic over the raw lock
//! that keeps the lock state ([`RawRwLock`]), and its guards. [`RwLockEx`](crate::RwLockEx)
//! (the allocated `NDIS_RW_LOCK_EX`) and [`LegacyRwLock`](crate::LegacyRwLock) (the inline
//! NDIS 5 `NDIS_RW_LOCK`) are this type over their raw locks, so every rule below, and every
//! fix to it, holds for both.
//!
//! The split is the one of `lock_api`: the raw lock holds lock state only and knows nothing of
//! the data; [`RwLock`] holds the data in an `UnsafeCell` and hands out guards; the guards
//! release on drop. IRQL is the business of the guard layer in `src/kernel/irql.rs`, which
//! every guard goes through.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use crate::algorithm::Diagnostics;
use crate::kernel::{self, AtDispatch, Kernel, Place};

mod sealed {
    /// Only the crate's raw locks implement [`super::RawRwLock`].
    pub trait Sealed {}
}

pub(crate) use sealed::Sealed;

/// The lock state behind an [`RwLock`]: one of the crate's NDIS locks.
///
/// Sealed: implemented by [`RwLockExBox`](crate::storage::ex::RwLockExBox) and
/// [`NdisRwLock`](crate::storage::legacy::NdisRwLock) only.
///
/// # Safety
///
/// An implementation must make [`acquire_read`](Self::acquire_read) exclude every write
/// acquisition of another processor until the matching release, and
/// [`acquire_write`](Self::acquire_write) exclude every other acquisition; and it must never
/// hand out a read or write acquisition that nests inside a write acquisition of the same
/// processor (it bug-checks instead), because the guards would alias the writer's `&mut T`.
pub unsafe trait RawRwLock: Sealed {
    /// The kernel the lock runs on.
    type Kernel: Kernel;
    /// What a read acquisition keeps for its release.
    type ReadHold<'a>: Copy
    where
        Self: 'a;
    /// What a write acquisition keeps for its release.
    type WriteHold: Copy;

    /// The name of the safe type over this raw lock, for `Debug`.
    const NAME: &'static str;

    /// The lock's address, for bug-check parameters.
    fn address(&self) -> usize;

    /// Takes a read acquisition on processor `me`. `None` only with `try_only`, when a writer
    /// holds the lock; nothing is held then.
    ///
    /// # Safety
    ///
    /// The caller runs at `DISPATCH_LEVEL` on processor `me`, and stays there until the
    /// matching [`release_read`](Self::release_read).
    unsafe fn acquire_read(&self, me: u32, try_only: bool) -> Option<Self::ReadHold<'_>>;

    /// Releases a read acquisition.
    ///
    /// # Safety
    ///
    /// The caller runs at `DISPATCH_LEVEL` on processor `me`, where it took `hold` by
    /// [`acquire_read`](Self::acquire_read), and releases it once.
    unsafe fn release_read(&self, me: u32, hold: Self::ReadHold<'_>);

    /// Takes a write acquisition on processor `me`. `None` only with `try_only`, when the
    /// lock is busy; nothing is held then.
    ///
    /// # Safety
    ///
    /// As [`acquire_read`](Self::acquire_read).
    unsafe fn acquire_write(&self, me: u32, try_only: bool) -> Option<Self::WriteHold>;

    /// Releases a write acquisition.
    ///
    /// # Safety
    ///
    /// As [`release_read`](Self::release_read), for a hold of
    /// [`acquire_write`](Self::acquire_write).
    unsafe fn release_write(&self, me: u32, hold: Self::WriteHold);

    /// A snapshot of who holds the lock, in the spirit of `!ndiskd.ndisrwlock`.
    fn diagnostics(&self) -> Diagnostics;

    /// Called when the [`RwLock`] goes away: stops the machine if the lock is still held (by
    /// C code that never released, or a leaked guard), whose storage would otherwise be
    /// reused under a live acquisition. An allocated lock makes the check when it is freed.
    fn check_unheld(&self) {}
}

/// A reader/writer lock with NDIS semantics protecting a `T`, over the raw lock `R`.
///
/// Use it through [`RwLockEx`](crate::RwLockEx) or [`LegacyRwLock`](crate::LegacyRwLock).
///
/// # Rules
///
/// - Readers on different processors never touch a shared cache line and execute no
///   interlocked instruction: each bumps its own processor's count.
/// - [`read`](Self::read) and [`write`](Self::write) raise to `DISPATCH_LEVEL`; call them at
///   `IRQL <= DISPATCH_LEVEL` (above it they stop the machine). Waits spin there. The
///   `*_at_dispatch` variants skip the raise for a caller that is already at `DISPATCH_LEVEL`
///   and takes an [`AtDispatch`] token as proof; they read the IRQL once anyway, and stop the
///   machine below `DISPATCH_LEVEL` (subcode 0x04), as the C routines do.
/// - Guards may be dropped, or leaked, in any order. Every guard counts itself on its
///   processor and only the last one dropped lowers the IRQL (see
///   [`DispatchGuard`](crate::kernel::DispatchGuard)), so a guard is never left below
///   `DISPATCH_LEVEL` while it holds a per-processor count, and a token is never stale.
///   A leaked guard keeps its acquisition and keeps the thread at `DISPATCH_LEVEL`.
/// - Counts cannot wrap: the reader count of a processor, a write recursion depth and the
///   number of guards of a processor are checked, and a leak loop long enough to wrap one
///   stops the machine (subcodes 0x51, 0x52) instead.
/// - Read recursion on one processor is allowed (two shared borrows). A write or read
///   acquisition by the processor that already writes, which the C API allows, would alias
///   the `&mut T` of the write guard, so it stops the machine
///   ([`rw::ALIASING_ACQUIRE`](crate::bugcheck::rw::ALIASING_ACQUIRE)); so does a
///   read-to-write promotion, which deadlocks on Windows.
/// - Not fair: readers can starve a writer. Meant for read-mostly data; hold a write lock
///   for a few microseconds at most.
/// - Guards are `!Send`: they release on the processor that acquired.
pub struct RwLock<R: RawRwLock, T: ?Sized> {
    raw: R,
    data: UnsafeCell<T>,
}

// SAFETY: the lock owns its raw lock and its T; moving it to another thread moves both.
unsafe impl<R: RawRwLock + Send, T: ?Sized + Send> Send for RwLock<R, T> {}
// SAFETY: shared access hands out &T to several readers at once (T: Sync) and &mut T to one
// writer at a time, possibly on another thread (T: Send), as std::sync::RwLock; the raw lock
// is shared by all of them (R: Sync).
unsafe impl<R: RawRwLock + Sync, T: ?Sized + Send + Sync> Sync for RwLock<R, T> {}

impl<R: RawRwLock, T> RwLock<R, T> {
    /// The lock over `raw` and `value`.
    #[inline]
    pub(crate) const fn from_raw(raw: R, value: T) -> Self {
        Self {
            raw,
            data: UnsafeCell::new(value),
        }
    }

    /// Returns the data, giving the lock back (`NdisFreeRWLock` for the allocated lock).
    /// Stops the machine if C code still holds the lock.
    pub fn into_inner(self) -> T {
        let this = core::mem::ManuallyDrop::new(self);
        this.raw.check_unheld();
        // SAFETY: `this` is never used or dropped again, so each field is moved out once.
        let raw = unsafe { core::ptr::read(&this.raw) };
        // SAFETY: as above.
        let data = unsafe { core::ptr::read(&this.data) };
        drop(raw);
        data.into_inner()
    }
}

impl<R: RawRwLock, T: ?Sized> RwLock<R, T> {
    /// The raw lock.
    #[inline]
    pub(crate) fn raw(&self) -> &R {
        &self.raw
    }

    /// Takes a read acquisition: `at_dispatch` for the `*_at_dispatch` form, `try_only` for
    /// the `try_*` form (`None` when a writer holds the lock).
    #[inline(always)]
    fn acquire_read(&self, at_dispatch: bool, try_only: bool) -> Option<ReadGuard<'_, R, T>> {
        let place = kernel::hold::<R::Kernel>(at_dispatch, self.raw.address());
        // SAFETY: `hold` brought us to DISPATCH_LEVEL on `place.processor()` and keeps us there
        // until the guard (or the `unhold` below) uncounts it.
        match unsafe { self.raw.acquire_read(place.processor(), try_only) } {
            Some(hold) => Some(ReadGuard {
                lock: self,
                hold,
                place,
                _not_send: PhantomData,
            }),
            None => {
                // SAFETY: nothing is held; this pairs with the `hold` above.
                unsafe { kernel::unhold::<R::Kernel>(place.processor()) };
                None
            }
        }
    }

    /// Takes a write acquisition, as [`acquire_read`](Self::acquire_read).
    #[inline(always)]
    fn acquire_write(&self, at_dispatch: bool, try_only: bool) -> Option<WriteGuard<'_, R, T>> {
        let place = kernel::hold::<R::Kernel>(at_dispatch, self.raw.address());
        // SAFETY: as in `acquire_read`.
        match unsafe { self.raw.acquire_write(place.processor(), try_only) } {
            Some(hold) => Some(WriteGuard {
                lock: self,
                hold,
                place,
                _not_send: PhantomData,
            }),
            None => {
                // SAFETY: nothing is held; this pairs with the `hold` above.
                unsafe { kernel::unhold::<R::Kernel>(place.processor()) };
                None
            }
        }
    }

    /// Shared access: raises to `DISPATCH_LEVEL` (`NdisAcquireRWLockRead` with flags 0) and
    /// spins while a writer on another processor holds the lock.
    #[inline]
    pub fn read(&self) -> ReadGuard<'_, R, T> {
        waited(self.acquire_read(false, false))
    }

    /// Shared access for a caller already at `DISPATCH_LEVEL` (`NDIS_RWL_AT_DISPATCH_LEVEL`).
    /// Checks the IRQL (one read) and stops the machine below `DISPATCH_LEVEL`.
    #[inline]
    pub fn read_at_dispatch<'a>(
        &'a self,
        _at_dispatch: &'a AtDispatch<R::Kernel>,
    ) -> ReadGuard<'a, R, T> {
        waited(self.acquire_read(true, false))
    }

    /// Shared access if no writer holds the lock; never waits.
    #[inline]
    pub fn try_read(&self) -> Option<ReadGuard<'_, R, T>> {
        self.acquire_read(false, true)
    }

    /// Exclusive access: raises to `DISPATCH_LEVEL` (`NdisAcquireRWLockWrite` with flags 0),
    /// takes the writers' spin lock and waits for readers on other processors to leave.
    #[inline]
    pub fn write(&self) -> WriteGuard<'_, R, T> {
        waited(self.acquire_write(false, false))
    }

    /// Exclusive access for a caller already at `DISPATCH_LEVEL`. Checks the IRQL (one read)
    /// and stops the machine below `DISPATCH_LEVEL`.
    #[inline]
    pub fn write_at_dispatch<'a>(
        &'a self,
        _at_dispatch: &'a AtDispatch<R::Kernel>,
    ) -> WriteGuard<'a, R, T> {
        waited(self.acquire_write(true, false))
    }

    /// Exclusive access if no writer and no reader on another processor holds the lock;
    /// never waits.
    #[inline]
    pub fn try_write(&self) -> Option<WriteGuard<'_, R, T>> {
        self.acquire_write(false, true)
    }

    /// Runs `f` with shared access ([`read`](Self::read)); the lock is released when `f`
    /// returns, so nesting is structural.
    #[inline]
    pub fn with_read<U>(&self, f: impl FnOnce(&T) -> U) -> U {
        let guard = self.read();
        f(&guard)
    }

    /// Runs `f` with exclusive access ([`write`](Self::write)); the lock is released when `f`
    /// returns.
    #[inline]
    pub fn with_write<U>(&self, f: impl FnOnce(&mut T) -> U) -> U {
        let mut guard = self.write();
        f(&mut guard)
    }

    /// The data, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// A snapshot of who holds the lock, in the spirit of `!ndiskd.ndisrwlock`.
    pub fn diagnostics(&self) -> Diagnostics {
        self.raw.diagnostics()
    }
}

/// The guard of an acquisition that waits: it always acquires (or stops the machine).
#[inline(always)]
fn waited<G>(guard: Option<G>) -> G {
    match guard {
        Some(guard) => guard,
        None => unreachable!("a waiting acquisition always acquires"),
    }
}

impl<R: RawRwLock, T: ?Sized> Drop for RwLock<R, T> {
    fn drop(&mut self) {
        self.raw.check_unheld();
    }
}

impl<R: RawRwLock + Default, T: Default> Default for RwLock<R, T> {
    fn default() -> Self {
        Self::from_raw(R::default(), T::default())
    }
}

impl<R: RawRwLock, T: ?Sized> fmt::Debug for RwLock<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let diag = self.diagnostics();
        f.debug_struct(R::NAME)
            .field("readers", &diag.readers)
            .field("writer", &diag.writer)
            .finish_non_exhaustive()
    }
}

/// Shared access to the data of an [`RwLock`]; releases on drop, and the last guard of the
/// processor restores the IRQL.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ReadGuard<'a, R: RawRwLock + 'a, T: ?Sized> {
    lock: &'a RwLock<R, T>,
    hold: R::ReadHold<'a>,
    /// `DISPATCH_LEVEL` and the processor of the acquisition.
    place: Place,
    _not_send: PhantomData<*const ()>,
}

impl<'a, R: RawRwLock, T: ?Sized> ReadGuard<'a, R, T> {
    /// The processor the guard holds its read acquisition on.
    pub fn processor(&self) -> u32 {
        self.place.processor()
    }

    /// What the raw lock keeps for this acquisition.
    pub(crate) fn hold(&self) -> R::ReadHold<'a> {
        self.hold
    }

    #[cold]
    #[inline(never)]
    fn release_slow(lock: &RwLock<R, T>, hold: R::ReadHold<'_>, place: Place) {
        if kernel::guard_is_void::<R::Kernel>(place) {
            // A bug check reset the thread: release nothing.
            return;
        }
        kernel::check_place::<R::Kernel>(place, lock.raw.address());
        // SAFETY: `check_place` returned, so we run where we acquired (it bug-checks otherwise).
        unsafe { release_read(lock, hold, place) };
    }
}

/// Releases a read acquisition and uncounts its guard.
///
/// # Safety
///
/// The caller runs at `DISPATCH_LEVEL` on `place`'s processor, where it holds `hold`.
#[inline(always)]
unsafe fn release_read<R: RawRwLock, T: ?Sized>(
    lock: &RwLock<R, T>,
    hold: R::ReadHold<'_>,
    place: Place,
) {
    // SAFETY: the caller's contract.
    unsafe { lock.raw.release_read(place.processor(), hold) };
    // SAFETY: the acquisition is released; the guard was counted by `hold` on this processor.
    unsafe { kernel::unhold::<R::Kernel>(place.processor()) };
}

impl<R: RawRwLock, T: ?Sized> Deref for ReadGuard<'_, R, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a read acquisition excludes writers, so no &mut T exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<R: RawRwLock, T: ?Sized> Drop for ReadGuard<'_, R, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if <R::Kernel as Kernel>::current_place() != self.place {
            Self::release_slow(self.lock, self.hold, self.place);
        } else {
            // SAFETY: we run where we acquired (checked just above).
            unsafe { release_read(self.lock, self.hold, self.place) };
        }
    }
}

impl<R: RawRwLock, T: ?Sized + fmt::Debug> fmt::Debug for ReadGuard<'_, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to the data of an [`RwLock`]; releases on drop, and the last guard of the
/// processor restores the IRQL.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct WriteGuard<'a, R: RawRwLock + 'a, T: ?Sized> {
    lock: &'a RwLock<R, T>,
    hold: R::WriteHold,
    /// `DISPATCH_LEVEL` and the processor of the acquisition.
    place: Place,
    _not_send: PhantomData<*const ()>,
}

impl<R: RawRwLock, T: ?Sized> WriteGuard<'_, R, T> {
    /// The processor that holds the write lock.
    pub fn processor(&self) -> u32 {
        self.place.processor()
    }

    #[cold]
    #[inline(never)]
    fn release_slow(lock: &RwLock<R, T>, hold: R::WriteHold, place: Place) {
        if kernel::guard_is_void::<R::Kernel>(place) {
            // A bug check reset the thread: release nothing.
            return;
        }
        kernel::check_place::<R::Kernel>(place, lock.raw.address());
        // SAFETY: `check_place` returned, so we run where we acquired.
        unsafe { release_write(lock, hold, place) };
    }
}

/// Releases a write acquisition and uncounts its guard.
///
/// # Safety
///
/// The caller runs at `DISPATCH_LEVEL` on `place`'s processor, where it holds `hold`.
#[inline(always)]
unsafe fn release_write<R: RawRwLock, T: ?Sized>(
    lock: &RwLock<R, T>,
    hold: R::WriteHold,
    place: Place,
) {
    // SAFETY: the caller's contract.
    unsafe { lock.raw.release_write(place.processor(), hold) };
    // SAFETY: the acquisition is released; the guard was counted by `hold` on this processor.
    unsafe { kernel::unhold::<R::Kernel>(place.processor()) };
}

impl<R: RawRwLock, T: ?Sized> Deref for WriteGuard<'_, R, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the write acquisition is exclusive.
        unsafe { &*self.lock.data.get() }
    }
}

impl<R: RawRwLock, T: ?Sized> DerefMut for WriteGuard<'_, R, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write acquisition is exclusive, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<R: RawRwLock, T: ?Sized> Drop for WriteGuard<'_, R, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if <R::Kernel as Kernel>::current_place() != self.place {
            Self::release_slow(self.lock, self.hold, self.place);
        } else {
            // SAFETY: we run where we acquired (checked just above).
            unsafe { release_write(self.lock, self.hold, self.place) };
        }
    }
}

impl<R: RawRwLock, T: ?Sized + fmt::Debug> fmt::Debug for WriteGuard<'_, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
