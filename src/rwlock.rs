//! [`RwLockEx`]: the NDIS 6.20 reader/writer lock as a safe Rust type.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use crate::bugcheck::rw;
use crate::kernel::{AtDispatch, DefaultKernel, Kernel, Place};
use crate::rwcore::{self, Diagnostics, Entry, Kind, Read, violation};
use crate::rwlock_ex::NdisRwLockEx;
use crate::sync::AtomicU32;

/// The nonpaged pool had no room for a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocError;

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NDIS_RW_LOCK_EX allocation failed: the nonpaged pool has no room")
    }
}

impl core::error::Error for AllocError {}

/// A reader/writer lock with NDIS semantics protecting a `T`: `NdisAllocateRWLock` and
/// friends behind guards.
///
/// - Readers on different processors never touch a shared cache line and execute no
///   interlocked instruction: each bumps its own processor's count.
/// - Waits spin at `DISPATCH_LEVEL`: [`read`](Self::read) and [`write`](Self::write) raise
///   to `DISPATCH_LEVEL` and the guard restores the previous IRQL when dropped. Call them at
///   `IRQL <= DISPATCH_LEVEL`; the `*_at_dispatch` variants take proof that the caller is
///   already there and skip the raise (`NDIS_RWL_AT_DISPATCH_LEVEL`).
/// - Not fair: readers can starve a writer. Meant for read-mostly data; hold a write lock for
///   a few microseconds at most.
/// - Read recursion on one processor is allowed (two shared borrows). A write or read
///   acquisition by the processor that already writes, which the C API allows, would alias
///   the `&mut T` of the write guard, so this type bug-checks instead
///   ([`NDIS_RWLOCK_VIOLATION`](crate::bugcheck::NDIS_RWLOCK_VIOLATION) /
///   [`rw::ALIASING_ACQUIRE`]); so does a read-to-write promotion, which deadlocks on Windows.
/// - Guards are released on the processor that acquired them: a guard dropped after the IRQL
///   fell below `DISPATCH_LEVEL` (an earlier guard of another lock dropped out of order) is a
///   bug check, never a corrupted count.
pub struct RwLockEx<T, K: Kernel = DefaultKernel> {
    raw: NonNull<NdisRwLockEx<K>>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock owns its allocation and its T; moving it to another thread moves both.
unsafe impl<T: Send, K: Kernel> Send for RwLockEx<T, K> {}
// SAFETY: shared access hands out &T to several readers at once (T: Sync) and &mut T to one
// writer at a time, possibly on another thread (T: Send), as std::sync::RwLock.
unsafe impl<T: Send + Sync, K: Kernel> Sync for RwLockEx<T, K> {}

impl<T> RwLockEx<T> {
    /// Allocates the lock (`NdisAllocateRWLock`) around `value`, on the target's kernel.
    /// `IRQL <= DISPATCH_LEVEL`.
    ///
    /// # Errors
    ///
    /// [`AllocError`] when the nonpaged pool has no room.
    pub fn new(value: T) -> Result<Self, AllocError> {
        Self::with_kernel(value)
    }

    /// As [`new`](Self::new), in asymmetric mode: readers execute no fence and no locked
    /// instruction, and every outermost write acquisition runs a barrier on every processor
    /// (`KeIpiGenericCall`; `membarrier` in the simulated kernel), which costs microseconds.
    /// For data that is written rarely. If the kernel has no such barrier, the lock is
    /// symmetric ([`is_asymmetric`](Self::is_asymmetric) says which).
    ///
    /// # Errors
    ///
    /// [`AllocError`] when the nonpaged pool has no room.
    pub fn new_asymmetric(value: T) -> Result<Self, AllocError> {
        Self::with_kernel_asymmetric(value)
    }
}

impl<T, K: Kernel> RwLockEx<T, K> {
    /// Allocates the lock around `value` on kernel `K` (the simulated one, a model checker's).
    ///
    /// # Errors
    ///
    /// [`AllocError`] when the nonpaged pool has no room.
    pub fn with_kernel(value: T) -> Result<Self, AllocError> {
        let raw = NdisRwLockEx::<K>::allocate().ok_or(AllocError)?;
        Ok(Self {
            raw,
            data: UnsafeCell::new(value),
        })
    }

    /// [`new_asymmetric`](RwLockEx::new_asymmetric) on kernel `K`.
    ///
    /// # Errors
    ///
    /// [`AllocError`] when the nonpaged pool has no room.
    pub fn with_kernel_asymmetric(value: T) -> Result<Self, AllocError> {
        let raw = NdisRwLockEx::<K>::allocate_asymmetric().ok_or(AllocError)?;
        Ok(Self {
            raw,
            data: UnsafeCell::new(value),
        })
    }

    /// Whether the lock is in asymmetric mode (see [`new_asymmetric`](RwLockEx::new_asymmetric)).
    pub fn is_asymmetric(&self) -> bool {
        self.raw().is_asymmetric()
    }

    #[inline]
    fn raw(&self) -> &NdisRwLockEx<K> {
        // SAFETY: `raw` is live from `new` until drop.
        unsafe { self.raw.as_ref() }
    }

    #[inline]
    fn address(&self) -> usize {
        self.raw.as_ptr() as usize
    }

    #[inline(always)]
    fn read_entered(&self, entry: Entry, try_only: bool) -> Option<ReadGuard<'_, T, K>> {
        let place = K::current_place();
        // SAFETY: `entry` brought us to DISPATCH_LEVEL on `place.processor()`; the guard
        // releases on drop before lowering.
        match unsafe { rwcore::acquire_read_fast::<K, _>(self.raw(), place.processor()) } {
            Ok(count) => Some(ReadGuard {
                lock: self,
                count,
                entry,
                place,
                _not_send: PhantomData,
            }),
            Err((writer, held)) => {
                // The slow path hands back the lock and place (the same ones), so that
                // nothing has to stay live across it in the fast path.
                let (lock, place) = self.read_contended(entry, place, writer, held, try_only)?;
                Some(ReadGuard {
                    lock,
                    // SAFETY: the fast path checked that the lock has a slot for `place`.
                    count: unsafe { lock.raw().count_unchecked(place.processor()) },
                    entry,
                    place,
                    _not_send: PhantomData,
                })
            }
        }
    }

    /// [`read_entered`](Self::read_entered) when the fast path met writer word `writer`
    /// (this processor's count was `held`): `self` and `place` once the read acquisition is
    /// taken, `None` (after leaving `entry`) if `try_only` and a writer holds the lock.
    #[cold]
    #[inline(never)]
    fn read_contended(
        &self,
        entry: Entry,
        place: Place,
        writer: usize,
        held: u32,
        try_only: bool,
    ) -> Option<(&Self, Place)> {
        let me = place.processor();
        // SAFETY: as in `read_entered`; the fast path raised our count from `held`.
        match unsafe {
            rwcore::acquire_read_contended::<K, _>(self.raw(), me, writer, held, try_only)
        } {
            Read::Shared => Some((self, place)),
            Read::InsideOwnWrite => {
                // SAFETY: we hold the read acquisition just taken, on `me`.
                unsafe { rwcore::release_read::<K, _>(self.raw(), me) };
                violation::<K>(rw::ALIASING_ACQUIRE, self.address(), me as usize, 0)
            }
            Read::Busy => {
                // SAFETY: nothing is held; `entry` is the one we took.
                unsafe { rwcore::leave::<K>(entry) };
                None
            }
        }
    }

    #[inline(always)]
    fn write_entered(&self, entry: Entry, try_only: bool) -> Option<WriteGuard<'_, T, K>> {
        let place = K::current_place();
        let me = place.processor();
        // SAFETY: at DISPATCH_LEVEL on `me` until the guard's drop.
        match unsafe { rwcore::acquire_write::<K, _>(self.raw(), me, try_only) } {
            Some(Kind::Write) => Some(WriteGuard {
                lock: self,
                entry,
                place,
                _not_send: PhantomData,
            }),
            Some(Kind::RecursiveWrite) => self.write_inside_own_write(me),
            None => {
                // SAFETY: nothing is held; `entry` is the one we took.
                unsafe { rwcore::leave::<K>(entry) };
                None
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn write_inside_own_write(&self, me: u32) -> ! {
        // SAFETY: we hold the recursive acquisition just taken, on `me`.
        unsafe { rwcore::release_write::<K, _>(self.raw(), me, Kind::RecursiveWrite) };
        violation::<K>(rw::ALIASING_ACQUIRE, self.address(), me as usize, 1)
    }

    /// Shared access: raises to `DISPATCH_LEVEL` (`NdisAcquireRWLockRead` with flags 0) and
    /// spins while a writer on another processor holds the lock.
    #[inline]
    pub fn read(&self) -> ReadGuard<'_, T, K> {
        let entry = rwcore::enter::<K>(false, self.address());
        match self.read_entered(entry, false) {
            Some(guard) => guard,
            None => unreachable!("a waiting read always acquires"),
        }
    }

    /// Shared access for a caller already at `DISPATCH_LEVEL` (`NDIS_RWL_AT_DISPATCH_LEVEL`).
    #[inline]
    pub fn read_at_dispatch<'a>(&'a self, _at_dispatch: &'a AtDispatch<K>) -> ReadGuard<'a, T, K> {
        match self.read_entered(Entry::AtDispatch, false) {
            Some(guard) => guard,
            None => unreachable!("a waiting read always acquires"),
        }
    }

    /// Shared access if no writer holds the lock; never waits.
    #[inline]
    pub fn try_read(&self) -> Option<ReadGuard<'_, T, K>> {
        let entry = rwcore::enter::<K>(false, self.address());
        self.read_entered(entry, true)
    }

    /// Exclusive access: raises to `DISPATCH_LEVEL` (`NdisAcquireRWLockWrite` with flags 0),
    /// takes the writers' spin lock and waits for readers on other processors to leave.
    #[inline]
    pub fn write(&self) -> WriteGuard<'_, T, K> {
        let entry = rwcore::enter::<K>(false, self.address());
        match self.write_entered(entry, false) {
            Some(guard) => guard,
            None => unreachable!("a waiting write always acquires"),
        }
    }

    /// Exclusive access for a caller already at `DISPATCH_LEVEL`.
    #[inline]
    pub fn write_at_dispatch<'a>(
        &'a self,
        _at_dispatch: &'a AtDispatch<K>,
    ) -> WriteGuard<'a, T, K> {
        match self.write_entered(Entry::AtDispatch, false) {
            Some(guard) => guard,
            None => unreachable!("a waiting write always acquires"),
        }
    }

    /// Exclusive access if no writer and no reader on another processor holds the lock;
    /// never waits.
    #[inline]
    pub fn try_write(&self) -> Option<WriteGuard<'_, T, K>> {
        let entry = rwcore::enter::<K>(false, self.address());
        self.write_entered(entry, true)
    }

    /// The data, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Frees the lock (`NdisFreeRWLock`) and returns the data.
    pub fn into_inner(self) -> T {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the data is moved out once.
        let data = unsafe { core::ptr::read(&this.data) };
        // SAFETY: the lock came from `allocate` and is not used afterwards; no guard can be
        // alive since we own `self`.
        unsafe { NdisRwLockEx::free(this.raw) };
        data.into_inner()
    }

    /// A snapshot of who holds the lock, in the spirit of `!ndiskd.ndisrwlock`.
    pub fn diagnostics(&self) -> Diagnostics {
        self.raw().diagnostics()
    }

    /// The underlying `NDIS_RW_LOCK_EX`, for C code that shares the lock. C code must release
    /// every acquisition it takes before the `RwLockEx` is dropped.
    pub fn as_raw(&self) -> *mut NdisRwLockEx<K> {
        self.raw.as_ptr()
    }
}

impl<T, K: Kernel> Drop for RwLockEx<T, K> {
    fn drop(&mut self) {
        if K::stopping() {
            // The machine stopped; leave the lock as it is (it may be held).
            return;
        }
        // SAFETY: the lock came from `allocate` and is not used afterwards.
        unsafe { NdisRwLockEx::free(self.raw) };
    }
}

impl<T: fmt::Debug, K: Kernel> fmt::Debug for RwLockEx<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let diag = self.diagnostics();
        f.debug_struct("RwLockEx")
            .field("readers", &diag.readers)
            .field("writer", &diag.writer)
            .finish_non_exhaustive()
    }
}

/// Lowers the IRQL back to `old` after a guard released (out of line, so that the drop of a
/// guard taken at DISPATCH_LEVEL stays small enough to inline).
///
/// # Safety
///
/// As [`rwcore::leave`] with `Entry::Raised(old)`.
#[inline(never)]
unsafe fn lower_after_release<K: Kernel>(old: crate::kernel::Irql) {
    // SAFETY: the caller's contract.
    unsafe { rwcore::leave::<K>(Entry::Raised(old)) }
}

/// The slow path of a guard's release: the thread is not where the guard acquired (IRQL or
/// processor differ). While a bug check unwinds (the machine has stopped, and the thread was
/// put back to PASSIVE_LEVEL), returns `false`: release nothing. Otherwise bug-checks for what
/// differs.
#[cold]
#[inline(never)]
fn release_elsewhere<K: Kernel>(processor: u32, address: usize) -> bool {
    if K::stopping() {
        return false;
    }
    check_release::<K>(processor, address);
    true
}

/// Checks, before a guard releases, that it still runs where it acquired.
#[inline]
fn check_release<K: Kernel>(processor: u32, address: usize) {
    rwcore::check_release_irql::<K>(address);
    let me = K::current_processor();
    if me != processor {
        violation::<K>(
            rw::RELEASE_ON_OTHER_PROCESSOR,
            me as usize,
            address,
            processor as usize,
        );
    }
}

/// Shared access to the data of a [`RwLockEx`]; releases and restores the IRQL on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ReadGuard<'a, T, K: Kernel = DefaultKernel> {
    lock: &'a RwLockEx<T, K>,
    /// This processor's reader count in the lock.
    count: &'a AtomicU32,
    entry: Entry,
    /// IRQL (DISPATCH_LEVEL) and processor of the acquisition.
    place: Place,
    _not_send: PhantomData<*const ()>,
}

impl<T, K: Kernel> ReadGuard<'_, T, K> {
    /// The processor the guard holds its read count on.
    pub fn processor(&self) -> u32 {
        self.place.processor()
    }
}

impl<T, K: Kernel> Deref for ReadGuard<'_, T, K> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a read acquisition excludes writers, so no &mut T exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T, K: Kernel> ReadGuard<'_, T, K> {
    /// Releases, once the thread is known to be where it acquired.
    #[inline(always)]
    fn release(&self) {
        let processor = self.place.processor();
        // SAFETY: we hold a read acquisition on `processor` (its count is `self.count`), where
        // we still run at DISPATCH_LEVEL (the caller checked).
        unsafe { rwcore::release_read_count::<K>(self.count, processor, self.lock.address()) };
        if let Entry::Raised(old) = self.entry {
            // SAFETY: the acquisition is released; `old` is what `enter` raised from.
            unsafe { lower_after_release::<K>(old) };
        }
    }

    /// The drop of a guard whose thread is not where it acquired (see `release_elsewhere`).
    /// Takes the guard's fields by value so that the guard need not be in memory.
    #[cold]
    #[inline(never)]
    fn release_slow(lock: &RwLockEx<T, K>, count: &AtomicU32, entry: Entry, place: Place) {
        if release_elsewhere::<K>(place.processor(), lock.address()) {
            ReadGuard {
                lock,
                count,
                entry,
                place,
                _not_send: PhantomData,
            }
            .release();
        }
    }
}

impl<T, K: Kernel> Drop for ReadGuard<'_, T, K> {
    #[inline(always)]
    fn drop(&mut self) {
        if K::current_place() != self.place {
            Self::release_slow(self.lock, self.count, self.entry, self.place);
        } else {
            self.release();
        }
    }
}

impl<T: fmt::Debug, K: Kernel> fmt::Debug for ReadGuard<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to the data of a [`RwLockEx`]; releases and restores the IRQL on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct WriteGuard<'a, T, K: Kernel = DefaultKernel> {
    lock: &'a RwLockEx<T, K>,
    entry: Entry,
    /// IRQL (DISPATCH_LEVEL) and processor of the acquisition.
    place: Place,
    _not_send: PhantomData<*const ()>,
}

impl<T, K: Kernel> WriteGuard<'_, T, K> {
    /// The processor that holds the write lock.
    pub fn processor(&self) -> u32 {
        self.place.processor()
    }
}

impl<T, K: Kernel> Deref for WriteGuard<'_, T, K> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the write acquisition is exclusive.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T, K: Kernel> DerefMut for WriteGuard<'_, T, K> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write acquisition is exclusive, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T, K: Kernel> WriteGuard<'_, T, K> {
    /// Releases, once the thread is known to be where it acquired.
    #[inline(always)]
    fn release(&self) {
        // SAFETY: we hold the outermost write acquisition on our processor, where we still
        // run at DISPATCH_LEVEL (the caller checked).
        unsafe {
            rwcore::release_write::<K, _>(self.lock.raw(), self.place.processor(), Kind::Write)
        };
        if let Entry::Raised(old) = self.entry {
            // SAFETY: the acquisition is released; `old` is what `enter` raised from.
            unsafe { lower_after_release::<K>(old) };
        }
    }

    /// The drop of a guard whose thread is not where it acquired (see `release_elsewhere`).
    #[cold]
    #[inline(never)]
    fn release_slow(lock: &RwLockEx<T, K>, entry: Entry, place: Place) {
        if release_elsewhere::<K>(place.processor(), lock.address()) {
            WriteGuard {
                lock,
                entry,
                place,
                _not_send: PhantomData,
            }
            .release();
        }
    }
}

impl<T, K: Kernel> Drop for WriteGuard<'_, T, K> {
    #[inline(always)]
    fn drop(&mut self) {
        if K::current_place() != self.place {
            Self::release_slow(self.lock, self.entry, self.place);
        } else {
            self.release();
        }
    }
}

impl<T: fmt::Debug, K: Kernel> fmt::Debug for WriteGuard<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
