//! The legacy NDIS 5 lock's storage: the caller-owned `NDIS_RW_LOCK`. Its `LOCK_STATE` and
//! the calls over raw pointers are in [`state`], the C exports in [`crate::ffi::legacy`], the
//! safe wrapper that needs no allocation is [`LegacyRwLock`](crate::LegacyRwLock).
//!
//! The algorithm is the one of `NDIS_RW_LOCK_EX`, in `src/algorithm.rs`; only the storage and
//! the per-acquisition state differ.
//!
//! # Layout
//!
//! Exactly the ndis.h structure, which the caller declares and owns (no allocation, no free):
//!
//! | offset (64-bit / 32-bit) | size | field | use |
//! |---|---|---|---|
//! | 0 / 0 | pointer | `SpinLock` | the writers' `KSPIN_LOCK` |
//! | 8 / 4 | pointer | `Context` | the writer word: `processor + 1` in the low half, write recursion depth in the high half |
//! | - / 8 | 8 | (rest of `Reserved[16]`) | unused |
//! | 16 / 16 | 16 each | `RefCount[MAXIMUM_PROCESSORS]` | processor `i`'s reader count in the first 4 bytes of slot `i` |
//!
//! `sizeof(NDIS_RW_LOCK)` is 1040 on 64-bit targets (`MAXIMUM_PROCESSORS` = 64) and 528 on
//! 32-bit ones (32); the alignment is the pointer's. Slots are 16 bytes, as in ndis.h, so four
//! processors' counts share a 64-byte cache line: readers on those processors contend for the
//! line, which the allocated `NDIS_RW_LOCK_EX` (one line per processor) avoids.
//!
//! # Processors beyond `MAXIMUM_PROCESSORS`
//!
//! A processor whose index is `MAXIMUM_PROCESSORS` or more has no reader slot: that is why NDIS
//! 6.20 replaced this lock. Here such a processor still gets a correct lock, never an access
//! outside the structure: every acquisition it makes, read or write, is *exclusive*. It takes
//! the writers' spin lock and waits for all readers to leave, exactly as a writer does; a read
//! there therefore excludes readers on other processors too, and `try_read` fails while anyone
//! holds the lock. Its acquisitions nest (read in read, read in write, write in write) and may
//! be released in any order; the last release frees the lock. Read-to-write promotion is still
//! a bug check. The bookkeeping for this lives in the spare 12 bytes of the last `RefCount`
//! slot (the owner processor and its read and write levels), touched only by the processor
//! that holds the spin lock.
//!
//! # What cannot be checked
//!
//! The structure is the caller's and has no signature: a lock that was never initialised (or
//! was overwritten) cannot be told apart from a live one. Its garbage words look like a
//! writer, a held spin lock or readers, so acquisitions spin until the DPC watchdog stops the
//! machine (0x133). `NdisInitializeReadWriteLock` on a lock that is in use cannot be caught
//! either (uninitialised memory looks in use too); it resets the lock.
//!
//! # Bug checks
//!
//! [`NDIS_RWLOCK_VIOLATION`](crate::bugcheck::NDIS_RWLOCK_VIOLATION) with the `rw` subcodes of
//! `NDIS_RW_LOCK_EX` where the meaning is the same (0x01 NULL lock, 0x02 NULL state, 0x04 Dpr
//! acquire below `DISPATCH_LEVEL`, 0x05 acquire above it, 0x06 bad state with P4 the reason,
//! 0x07 release not at `DISPATCH_LEVEL`, 0x08 release on another processor, 0x09 promotion,
//! 0x0A a held `LegacyRwLock` dropped, 0x0F aliasing through `LegacyRwLock`) and the
//! legacy subcodes 0x30-0x33 in [`crate::bugcheck::rw`].

use core::fmt;
use core::marker::PhantomData;

use crate::algorithm::{self, Diagnostics, Kind, Read, RwStorage, violation};
use crate::bugcheck::rw;
use crate::kernel::{DefaultKernel, KSpinLock, Kernel};
use crate::sync::{AtomicU32, AtomicUsize, Ordering};

pub mod state;

#[cfg(test)]
use state::KIND_MASK;
use state::reason;
pub use state::{LockState, acquire, dpr_acquire, dpr_release, initialize, release};

/// `MAXIMUM_PROCESSORS`: the reader slots of an `NDIS_RW_LOCK` (64 on 64-bit targets).
#[cfg(target_pointer_width = "64")]
pub const MAXIMUM_PROCESSORS: u32 = 64;
/// `MAXIMUM_PROCESSORS`: the reader slots of an `NDIS_RW_LOCK` (32 on 32-bit targets).
#[cfg(target_pointer_width = "32")]
pub const MAXIMUM_PROCESSORS: u32 = 32;
#[cfg(not(any(target_pointer_width = "64", target_pointer_width = "32")))]
compile_error!("NDIS_RW_LOCK is defined for 32-bit and 64-bit targets only");

/// `sizeof(NDIS_RW_LOCK)`: 1040 on 64-bit targets, 528 on 32-bit ones.
pub const NDIS_RW_LOCK_SIZE: usize = 16 + 16 * MAXIMUM_PROCESSORS as usize;

const SLOTS: usize = MAXIMUM_PROCESSORS as usize;
/// The slot whose spare bytes hold the bookkeeping of processors without a slot.
const BOOK_SLOT: usize = SLOTS - 1;

/// `NDIS_RW_LOCK_REFCOUNT`: one processor's reader count, padded to 16 bytes.
#[repr(C)]
struct RefCount {
    count: AtomicU32,
    /// Unused except in the last slot (see [`Overflow`]).
    spare: [AtomicU32; 3],
}

impl RefCount {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Self {
            count: AtomicU32::new(0),
            spare: [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)],
        }
    }

    #[cfg(loom)]
    fn new() -> Self {
        Self {
            count: AtomicU32::new(0),
            spare: [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)],
        }
    }
}

/// `NDIS_RW_LOCK`: the legacy reader/writer lock, in storage the caller owns.
///
/// Initialise it with [`NdisRwLock::new`] (or `NdisInitializeReadWriteLock` from C) before
/// use. It may live anywhere resident (a `static`, inside another structure); it must not move
/// while it is held, which Rust's borrows guarantee for [`LegacyRwLock`](crate::LegacyRwLock).
#[repr(C)]
pub struct NdisRwLock<K: Kernel = DefaultKernel> {
    spin_lock: KSpinLock,
    context: AtomicUsize,
    #[cfg(target_pointer_width = "32")]
    _reserved: [u8; 8],
    ref_count: [RefCount; SLOTS],
    _kernel: PhantomData<fn() -> K>,
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    #[cfg(target_pointer_width = "64")]
    assert!(size_of::<NdisRwLock<DefaultKernel>>() == 1040);
    #[cfg(target_pointer_width = "32")]
    assert!(size_of::<NdisRwLock<DefaultKernel>>() == 528);
    assert!(size_of::<NdisRwLock<DefaultKernel>>() == NDIS_RW_LOCK_SIZE);
    assert!(align_of::<NdisRwLock<DefaultKernel>>() == align_of::<usize>());
    assert!(offset_of!(NdisRwLock<DefaultKernel>, spin_lock) == 0);
    assert!(offset_of!(NdisRwLock<DefaultKernel>, context) == size_of::<usize>());
    #[cfg(target_pointer_width = "64")]
    assert!(offset_of!(NdisRwLock<DefaultKernel>, context) == 8);
    #[cfg(target_pointer_width = "32")]
    assert!(offset_of!(NdisRwLock<DefaultKernel>, context) == 4);
    assert!(offset_of!(NdisRwLock<DefaultKernel>, ref_count) == 16);
    assert!(size_of::<RefCount>() == 16);
    assert!(offset_of!(RefCount, count) == 0);
    assert!(size_of::<KSpinLock>() == size_of::<usize>());
};

/// What one acquisition holds; the kind nibble of `LockState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// A shared read on a processor with a slot.
    Read,
    /// The outermost write on a processor with a slot.
    Write,
    /// A nested write on a processor with a slot.
    RecursiveWrite,
    /// A read on a processor without a slot (one level of an exclusive hold).
    ExclusiveRead,
    /// A write on a processor without a slot (one level of an exclusive hold).
    ExclusiveWrite,
}

impl Hold {
    pub(crate) const fn bits(self) -> u16 {
        match self {
            Self::Read => 0xA000,
            Self::Write => 0xB000,
            Self::RecursiveWrite => 0xC000,
            Self::ExclusiveRead => 0xD000,
            Self::ExclusiveWrite => 0xE000,
        }
    }

    pub(crate) fn from_bits(kind: u16) -> Option<Self> {
        [
            Self::Read,
            Self::Write,
            Self::RecursiveWrite,
            Self::ExclusiveRead,
            Self::ExclusiveWrite,
        ]
        .into_iter()
        .find(|hold| hold.bits() == kind)
    }

    /// Whether this kind is taken on a processor without a slot.
    pub(crate) fn without_slot(self) -> bool {
        matches!(self, Self::ExclusiveRead | Self::ExclusiveWrite)
    }
}

/// The bookkeeping of an exclusive hold by a processor without a slot.
struct Overflow<'a> {
    /// `processor + 1` of the holder, 0 when none.
    owner: &'a AtomicU32,
    /// Read levels the holder has.
    reads: &'a AtomicU32,
    /// Write levels the holder has.
    writes: &'a AtomicU32,
}

#[inline]
fn has_slot(processor: u32) -> bool {
    processor < MAXIMUM_PROCESSORS
}

// SAFETY: `ref_count` has a distinct slot for every index below MAXIMUM_PROCESSORS, and
// `processors()` is never more than that; the fields live as long as the structure.
unsafe impl<K: Kernel> RwStorage for NdisRwLock<K> {
    #[inline]
    fn spin_lock(&self) -> &KSpinLock {
        &self.spin_lock
    }

    #[inline]
    fn writer(&self) -> &AtomicUsize {
        &self.context
    }

    #[inline]
    fn count(&self, index: u32) -> Option<&AtomicU32> {
        self.ref_count.get(index as usize).map(|slot| &slot.count)
    }

    #[inline]
    fn processors(&self) -> u32 {
        // Writers scan only the slots a processor of this machine can use.
        K::max_processors().min(MAXIMUM_PROCESSORS)
    }

    #[inline]
    fn address(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }
}

impl<K: Kernel> Default for NdisRwLock<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Kernel> NdisRwLock<K> {
    /// A released lock: all bytes zero, which is what `NdisInitializeReadWriteLock` stores.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            spin_lock: KSpinLock::new(),
            context: AtomicUsize::new(0),
            #[cfg(target_pointer_width = "32")]
            _reserved: [0; 8],
            ref_count: [const { RefCount::new() }; SLOTS],
            _kernel: PhantomData,
        }
    }

    /// A released lock: all bytes zero, which is what `NdisInitializeReadWriteLock` stores.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            spin_lock: KSpinLock::new(),
            context: AtomicUsize::new(0),
            #[cfg(target_pointer_width = "32")]
            _reserved: [0; 8],
            ref_count: core::array::from_fn(|_| RefCount::new()),
            _kernel: PhantomData,
        }
    }

    /// A snapshot of who holds the lock. A processor without a slot shows as the writer, its
    /// read and write levels together as the write depth.
    pub fn diagnostics(&self) -> Diagnostics {
        algorithm::diagnostics(self)
    }

    /// The lock's address, for bug-check parameters.
    #[inline]
    pub(crate) fn address_of(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }

    /// Whether anybody holds the lock.
    pub fn is_held(&self) -> bool {
        algorithm::is_held(self)
    }

    fn overflow(&self) -> Overflow<'_> {
        let [owner, reads, writes] = &self.ref_count[BOOK_SLOT].spare;
        Overflow {
            owner,
            reads,
            writes,
        }
    }

    /// Takes a read acquisition for processor `me`. `None` only with `try_only`, when the lock
    /// is busy. The flag says whether it nests inside a write acquisition of `me`.
    ///
    /// # Safety
    ///
    /// The caller runs at `DISPATCH_LEVEL` on processor `me` until the matching
    /// [`release_on`](Self::release_on).
    #[inline]
    pub(crate) unsafe fn acquire_read_on(&self, me: u32, try_only: bool) -> Option<(Hold, bool)> {
        if has_slot(me) {
            // SAFETY: the caller's contract.
            return match unsafe { algorithm::acquire_read::<K, _>(self, me, try_only) } {
                Read::Shared => Some((Hold::Read, false)),
                Read::InsideOwnWrite => Some((Hold::Read, true)),
                Read::Busy => None,
            };
        }
        // SAFETY: the caller's contract.
        unsafe { self.acquire_exclusive(me, try_only, Hold::ExclusiveRead) }
    }

    /// Takes a write acquisition for processor `me`. `None` only with `try_only`, when the
    /// lock is busy. The flag says whether it nests inside a write acquisition of `me`.
    ///
    /// # Safety
    ///
    /// As [`acquire_read_on`](Self::acquire_read_on).
    #[inline]
    pub(crate) unsafe fn acquire_write_on(&self, me: u32, try_only: bool) -> Option<(Hold, bool)> {
        if has_slot(me) {
            // SAFETY: the caller's contract.
            return match unsafe { algorithm::acquire_write::<K, _>(self, me, try_only) }? {
                Kind::Write => Some((Hold::Write, false)),
                Kind::RecursiveWrite => Some((Hold::RecursiveWrite, true)),
            };
        }
        // SAFETY: the caller's contract.
        unsafe { self.acquire_exclusive(me, try_only, Hold::ExclusiveWrite) }
    }

    /// An acquisition by a processor without a slot: one level of an exclusive hold.
    ///
    /// # Safety
    ///
    /// As [`acquire_read_on`](Self::acquire_read_on).
    #[cold]
    unsafe fn acquire_exclusive(
        &self,
        me: u32,
        try_only: bool,
        hold: Hold,
    ) -> Option<(Hold, bool)> {
        let book = self.overflow();
        // Only `me` stores `me + 1`, and it clears it before it lets the lock go: a match
        // means `me` holds the lock now.
        let holding = book.owner.load(Ordering::Relaxed) == me + 1;
        let writes = if holding {
            book.writes.load(Ordering::Relaxed)
        } else {
            0
        };
        if hold == Hold::ExclusiveWrite && holding && writes == 0 {
            // Only reads held: on a processor with a slot this waits for itself forever.
            violation::<K>(rw::READ_TO_WRITE_PROMOTION, self.address(), me as usize, 0);
        }
        // SAFETY: the caller's contract; a processor without a slot never has a reader count,
        // so the core takes it as a writer.
        let kind = unsafe { algorithm::acquire_write::<K, _>(self, me, try_only) }?;
        let levels = match hold {
            Hold::ExclusiveRead => book.reads,
            _ => book.writes,
        };
        if kind == Kind::Write {
            book.owner.store(me + 1, Ordering::Relaxed);
            book.reads.store(0, Ordering::Relaxed);
            book.writes.store(0, Ordering::Relaxed);
        }
        levels.store(levels.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        Some((hold, writes != 0))
    }

    /// Releases one acquisition of kind `hold` taken on processor `me`, the caller's.
    /// `detail` goes into P2 of a bug check.
    ///
    /// # Safety
    ///
    /// The caller runs at `DISPATCH_LEVEL` on processor `me`; it bug-checks unless `me` holds
    /// an acquisition of that kind.
    #[inline]
    pub(crate) unsafe fn release_on(&self, hold: Hold, me: u32, detail: usize) {
        match hold {
            // SAFETY: the caller's contract; release_read checks the count.
            Hold::Read => unsafe { algorithm::release_read::<K, _>(self, me) },
            // SAFETY: the caller's contract; release_write checks owner and depth.
            Hold::Write => unsafe { algorithm::release_write::<K, _>(self, me, Kind::Write) },
            // SAFETY: as above.
            Hold::RecursiveWrite => unsafe {
                algorithm::release_write::<K, _>(self, me, Kind::RecursiveWrite);
            },
            // SAFETY: the caller's contract.
            Hold::ExclusiveRead | Hold::ExclusiveWrite => unsafe {
                self.release_exclusive(hold, me, detail);
            },
        }
    }

    /// Releases one level of the exclusive hold of processor `me`, which has no slot.
    ///
    /// # Safety
    ///
    /// As [`release_on`](Self::release_on).
    #[cold]
    unsafe fn release_exclusive(&self, hold: Hold, me: u32, detail: usize) {
        let book = self.overflow();
        let owner = book.owner.load(Ordering::Relaxed);
        if owner != me + 1 {
            violation::<K>(
                rw::RELEASE_ON_OTHER_PROCESSOR,
                me as usize,
                self.address(),
                owner as usize,
            );
        }
        let (levels, others) = match hold {
            Hold::ExclusiveRead => (book.reads, book.writes),
            _ => (book.writes, book.reads),
        };
        let held = levels.load(Ordering::Relaxed);
        if held == 0 {
            violation::<K>(rw::BAD_LOCK_STATE, detail, self.address(), reason::NOT_HELD);
        }
        levels.store(held - 1, Ordering::Relaxed);
        if held == 1 && others.load(Ordering::Relaxed) == 0 {
            // The last level: clear the owner before the lock can pass to another processor.
            book.owner.store(0, Ordering::Relaxed);
            // SAFETY: `me` holds the outermost acquisition (owner checked, no level left).
            unsafe { algorithm::release_write::<K, _>(self, me, Kind::Write) };
        } else {
            // SAFETY: `me` holds more than one level, so the core's depth is at least 1.
            unsafe { algorithm::release_write::<K, _>(self, me, Kind::RecursiveWrite) };
        }
    }
}

impl<K: Kernel> fmt::Debug for NdisRwLock<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let diag = self.diagnostics();
        f.debug_struct("NdisRwLock")
            .field("readers", &diag.readers)
            .field("writer", &diag.writer)
            .field("write_depth", &diag.write_depth)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_kinds_round_trip_and_fill_the_high_nibble() {
        for hold in [
            Hold::Read,
            Hold::Write,
            Hold::RecursiveWrite,
            Hold::ExclusiveRead,
            Hold::ExclusiveWrite,
        ] {
            assert_eq!(hold.bits() & !KIND_MASK, 0);
            assert_eq!(Hold::from_bits(hold.bits()), Some(hold));
        }
        for kind in [0x0000, 0x1000, 0x9000, 0xF000] {
            assert_eq!(Hold::from_bits(kind), None);
        }
    }
}
