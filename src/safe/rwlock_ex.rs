//! [`RwLockEx`]: the safe [`RwLock`] over the allocated NDIS 6.20 lock.

use core::fmt;

use crate::algorithm::{self, Diagnostics, Kind, Read, violation};
use crate::bugcheck::rw;
use crate::kernel::{DefaultKernel, Kernel};
use crate::safe::rwlock::{RawRwLock, RwLock, Sealed};
use crate::storage::ex::{NdisRwLockEx, RwLockExBox};
use crate::sync::AtomicU32;

/// A reader/writer lock with NDIS semantics protecting a `T`: `NdisAllocateRWLock` and friends
/// behind guards, with one reader count per processor, each in its own cache line.
///
/// [`RwLock`] over [`RwLockExBox`]: the rules are on [`RwLock`].
///
/// ```
/// use ndis_rwlock::RwLockEx;
///
/// let table = RwLockEx::new(vec![1, 2, 3]).expect("the pool has room");
/// assert_eq!(table.read().len(), 3);
/// table.write().push(4);
/// assert_eq!(table.with_read(|v| v[3]), 4);
/// ```
pub type RwLockEx<T, K = DefaultKernel> = RwLock<RwLockExBox<K>, T>;

/// A read guard of an [`RwLockEx`].
pub type ReadGuardEx<'a, T, K = DefaultKernel> = crate::ReadGuard<'a, RwLockExBox<K>, T>;
/// A write guard of an [`RwLockEx`].
pub type WriteGuardEx<'a, T, K = DefaultKernel> = crate::WriteGuard<'a, RwLockExBox<K>, T>;

/// The nonpaged pool had no room for a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocError;

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NDIS_RW_LOCK_EX allocation failed: the nonpaged pool has no room")
    }
}

impl core::error::Error for AllocError {}

impl<T> RwLock<RwLockExBox<DefaultKernel>, T> {
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

impl<T, K: Kernel> RwLock<RwLockExBox<K>, T> {
    /// Allocates the lock around `value` on kernel `K` (the simulated one, a model checker's).
    ///
    /// # Errors
    ///
    /// [`AllocError`] when the nonpaged pool has no room.
    pub fn with_kernel(value: T) -> Result<Self, AllocError> {
        let raw = RwLockExBox::allocate(false).ok_or(AllocError)?;
        Ok(Self::from_raw(raw, value))
    }

    /// [`new_asymmetric`](RwLock::new_asymmetric) on kernel `K`.
    ///
    /// # Errors
    ///
    /// [`AllocError`] when the nonpaged pool has no room.
    pub fn with_kernel_asymmetric(value: T) -> Result<Self, AllocError> {
        let raw = RwLockExBox::allocate(true).ok_or(AllocError)?;
        Ok(Self::from_raw(raw, value))
    }
}

impl<T: ?Sized, K: Kernel> RwLock<RwLockExBox<K>, T> {
    /// Whether the lock is in asymmetric mode (see [`new_asymmetric`](RwLock::new_asymmetric)).
    pub fn is_asymmetric(&self) -> bool {
        self.raw().get().is_asymmetric()
    }

    /// The underlying `NDIS_RW_LOCK_EX`, for C code that shares the lock. C code must release
    /// every acquisition it takes before the `RwLockEx` is dropped.
    pub fn as_raw(&self) -> *mut NdisRwLockEx<K> {
        self.raw().as_ptr()
    }
}

impl<K: Kernel> Sealed for RwLockExBox<K> {}

impl<K: Kernel> RwLockExBox<K> {
    /// The read acquisition after the fast path met writer word `writer` (this processor's
    /// count was `held`): the count once the read is taken, `None` if `try_only` and a writer
    /// holds the lock.
    ///
    /// # Safety
    ///
    /// As [`RawRwLock::acquire_read`]; the fast path raised `me`'s count from `held`.
    #[cold]
    #[inline(never)]
    unsafe fn read_contended(
        &self,
        me: u32,
        writer: usize,
        held: u32,
        try_only: bool,
    ) -> Option<&AtomicU32> {
        let lock = self.get();
        // SAFETY: the caller's contract.
        match unsafe { algorithm::acquire_read_contended::<K, _>(lock, me, writer, held, try_only) }
        {
            // SAFETY: the fast path found the slot of `me`, so `me < processors`.
            Read::Shared => Some(unsafe { lock.count_unchecked(me) }),
            Read::InsideOwnWrite => {
                // SAFETY: we hold the read acquisition just taken, on `me`.
                unsafe { algorithm::release_read::<K, _>(lock, me) };
                violation::<K>(rw::ALIASING_ACQUIRE, self.address(), me as usize, 0)
            }
            Read::Busy => None,
        }
    }

    #[cold]
    #[inline(never)]
    fn write_inside_own_write(&self, me: u32) -> ! {
        // SAFETY: we hold the recursive acquisition just taken, on `me`.
        unsafe { algorithm::release_write::<K, _>(self.get(), me, Kind::RecursiveWrite) };
        violation::<K>(rw::ALIASING_ACQUIRE, self.address(), me as usize, 1)
    }
}

// SAFETY: the algorithm excludes writers of other processors from reads and everyone from
// writes; a read or write inside this processor's own write is undone and bug-checked.
unsafe impl<K: Kernel> RawRwLock for RwLockExBox<K> {
    type Kernel = K;
    type ReadHold<'a> = &'a AtomicU32;
    const NAME: &'static str = "RwLockEx";
    type WriteHold = ();

    #[inline]
    fn address(&self) -> usize {
        self.as_ptr() as usize
    }

    #[inline(always)]
    unsafe fn acquire_read(&self, me: u32, try_only: bool) -> Option<&AtomicU32> {
        // SAFETY: the caller's contract.
        match unsafe { algorithm::acquire_read_fast::<K, _>(self.get(), me) } {
            Ok(count) => Some(count),
            // SAFETY: the caller's contract; the fast path raised our count from `held`.
            Err((writer, held)) => unsafe { self.read_contended(me, writer, held, try_only) },
        }
    }

    #[inline(always)]
    unsafe fn release_read(&self, me: u32, count: &AtomicU32) {
        // SAFETY: the caller's contract: `count` is the slot of `me`, which holds our read.
        unsafe { algorithm::release_read_count::<K>(count, me, self.address()) }
    }

    #[inline(always)]
    unsafe fn acquire_write(&self, me: u32, try_only: bool) -> Option<()> {
        // SAFETY: the caller's contract.
        match unsafe { algorithm::acquire_write::<K, _>(self.get(), me, try_only) }? {
            Kind::Write => Some(()),
            Kind::RecursiveWrite => self.write_inside_own_write(me),
        }
    }

    #[inline(always)]
    unsafe fn release_write(&self, me: u32, _hold: ()) {
        // SAFETY: the caller's contract: the outermost write acquisition of `me`.
        unsafe { algorithm::release_write::<K, _>(self.get(), me, Kind::Write) }
    }

    fn diagnostics(&self) -> Diagnostics {
        self.get().diagnostics()
    }
}
