//! The legacy NDIS 5 lock: the caller-owned `NDIS_RW_LOCK`, its `LOCK_STATE`, the C exports
//! `NdisInitializeReadWriteLock`, `NdisAcquireReadWriteLock`, `NdisReleaseReadWriteLock`,
//! `NdisDprAcquireReadWriteLock` and `NdisDprReleaseReadWriteLock` with the ndis.h
//! prototypes, and [`LegacyRwLock`], a safe wrapper that needs no allocation.
//!
//! The algorithm is the one of `NDIS_RW_LOCK_EX`, in `src/rwcore.rs`; only the storage and
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
//! # `LOCK_STATE`
//!
//! `{ USHORT LockState; KIRQL OldIrql; }`: four bytes, `OldIrql` at offset 2. The lock writes
//! `LockState` and `OldIrql` and nothing else: byte 3 (padding in C) is never read or written,
//! so a `LOCK_STATE` packed into 3 bytes is safe too. Any alignment is accepted.
//!
//! - `OldIrql`: the IRQL `NdisAcquireReadWriteLock` raised from, restored by
//!   `NdisReleaseReadWriteLock`; `DISPATCH_LEVEL` for a Dpr acquisition.
//! - `LockState` bits 15-12, the kind: `0xA` shared read, `0xB` write, `0xC` recursive write,
//!   `0xD` exclusive read and `0xE` exclusive write (on a processor beyond
//!   `MAXIMUM_PROCESSORS`), `0` released. Other values are never written.
//! - bit 11: set by `NdisDprAcquireReadWriteLock`. Each acquisition must be released by its own
//!   kind of release; a mismatch is a bug check.
//! - bits 10-6: the lock's address divided by 8, modulo 31. A state of another lock is caught
//!   unless the two addresses differ by a multiple of 248 bytes (never for neighbours in an
//!   array of locks: 1040 / 8 = 130 is not a multiple of 31 until 31 locks apart).
//! - bits 5-0: the acquiring processor's index modulo 64. With the kind (slot or no slot) and
//!   the writer word this catches every release on another processor.
//!
//! A release clears the kind and keeps the other bits, so a second release of the same state
//! is a bug check. A garbage state passes the checks only if its kind, Dpr bit, lock bits,
//! processor bits and `OldIrql` all happen to match.
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
//! 0x0A a held [`LegacyRwLock`] dropped, 0x0F aliasing through [`LegacyRwLock`]) and the
//! legacy subcodes 0x30-0x33 in [`crate::bugcheck::rw`].

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use crate::bugcheck::rw;
use crate::kernel::{AtDispatch, DISPATCH_LEVEL, DefaultKernel, Irql, KSpinLock, Kernel};
use crate::rwcore::{self, Diagnostics, Entry, Kind, Read, RwStorage, violation};
use crate::sync::{AtomicU32, AtomicUsize, Ordering};

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
/// while it is held, which Rust's borrows guarantee for [`LegacyRwLock`].
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

/// `LOCK_STATE`: per-acquisition state on the caller's stack (see the module docs for the
/// encoding).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockState {
    /// `LockState`.
    pub lock_state: u16,
    /// `OldIrql`.
    pub old_irql: Irql,
}

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<LockState>() == 4);
    assert!(align_of::<LockState>() == 2);
    assert!(offset_of!(LockState, lock_state) == 0);
    assert!(offset_of!(LockState, old_irql) == 2);
};

const KIND_MASK: u16 = 0xF000;
const DPR: u16 = 0x0800;
const LOCK_SHIFT: u32 = 6;
const LOCK_MASK: u16 = 0x1F << LOCK_SHIFT;
const PROCESSOR_MASK: u16 = 0x3F;

/// Reasons in P4 of a `BAD_LOCK_STATE` bug check of this lock.
mod reason {
    /// The kind is 0: released already, or never filled.
    pub const RELEASED: usize = 1;
    /// The kind is not one the lock writes.
    pub const NOT_A_KIND: usize = 2;
    /// The lock bits name another lock.
    pub const OTHER_LOCK: usize = 3;
    /// `OldIrql` is not one an acquisition records.
    pub const OLD_IRQL: usize = 4;
    /// The processor holds no acquisition of that kind.
    pub const NOT_HELD: usize = 5;
}

/// What one acquisition holds; the kind nibble of `LockState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
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
    const fn bits(self) -> u16 {
        match self {
            Self::Read => 0xA000,
            Self::Write => 0xB000,
            Self::RecursiveWrite => 0xC000,
            Self::ExclusiveRead => 0xD000,
            Self::ExclusiveWrite => 0xE000,
        }
    }

    fn from_bits(kind: u16) -> Option<Self> {
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
    fn without_slot(self) -> bool {
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

#[inline]
fn lock_bits(address: usize) -> u16 {
    // < 31, so it fits the five bits.
    (((address >> 3) % 31) as u16) << LOCK_SHIFT
}

#[inline]
fn processor_bits(processor: u32) -> u16 {
    (processor & u32::from(PROCESSOR_MASK)) as u16
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
        rwcore::diagnostics(self)
    }

    /// Whether anybody holds the lock.
    pub fn is_held(&self) -> bool {
        rwcore::is_held(self)
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
    unsafe fn acquire_read_on(&self, me: u32, try_only: bool) -> Option<(Hold, bool)> {
        if has_slot(me) {
            // SAFETY: the caller's contract.
            return match unsafe { rwcore::acquire_read::<K, _>(self, me, try_only) } {
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
    unsafe fn acquire_write_on(&self, me: u32, try_only: bool) -> Option<(Hold, bool)> {
        if has_slot(me) {
            // SAFETY: the caller's contract.
            return match unsafe { rwcore::acquire_write::<K, _>(self, me, try_only) }? {
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
        let kind = unsafe { rwcore::acquire_write::<K, _>(self, me, try_only) }?;
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
    unsafe fn release_on(&self, hold: Hold, me: u32, detail: usize) {
        match hold {
            // SAFETY: the caller's contract; release_read checks the count.
            Hold::Read => unsafe { rwcore::release_read::<K, _>(self, me) },
            // SAFETY: the caller's contract; release_write checks owner and depth.
            Hold::Write => unsafe { rwcore::release_write::<K, _>(self, me, Kind::Write) },
            // SAFETY: as above.
            Hold::RecursiveWrite => unsafe {
                rwcore::release_write::<K, _>(self, me, Kind::RecursiveWrite);
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
            unsafe { rwcore::release_write::<K, _>(self, me, Kind::Write) };
        } else {
            // SAFETY: `me` holds more than one level, so the core's depth is at least 1.
            unsafe { rwcore::release_write::<K, _>(self, me, Kind::RecursiveWrite) };
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

// ---------------------------------------------------------------------------------------------
// The C API.

/// Checks a lock pointer: non-null and aligned.
#[inline]
fn check_lock_pointer<K: Kernel>(lock: *mut NdisRwLock<K>, other: usize) {
    if lock.is_null() {
        violation::<K>(rw::NULL_LOCK, other, 0, 0);
    }
    if !lock.is_aligned() {
        violation::<K>(
            rw::LEGACY_MISALIGNED_LOCK,
            lock as usize,
            core::mem::align_of::<NdisRwLock<K>>(),
            0,
        );
    }
}

/// Checks the pointer arguments of an acquire or release and returns the lock.
///
/// # Safety
///
/// A non-null, aligned `lock` points to an `NDIS_RW_LOCK` that may be accessed for `'a`.
#[inline]
unsafe fn checked<'a, K: Kernel>(
    lock: *mut NdisRwLock<K>,
    state: *mut LockState,
) -> &'a NdisRwLock<K> {
    check_lock_pointer(lock, state as usize);
    if state.is_null() {
        violation::<K>(rw::NULL_LOCK_STATE, lock as usize, 0, 0);
    }
    // SAFETY: non-null and aligned (checked); the caller's contract makes it a lock.
    unsafe { &*lock }
}

/// Offset of `OldIrql` inside `LOCK_STATE`.
const OLD_IRQL_OFFSET: usize = core::mem::offset_of!(LockState, old_irql);

/// Reads `LockState` and `OldIrql`, never byte 3.
///
/// # Safety
///
/// `state` points to three readable bytes.
#[inline]
unsafe fn read_state(state: *mut LockState) -> (u16, Irql) {
    // SAFETY: `LockState` is at offset 0, inside the caller's state; any alignment is
    // accepted.
    let lock_state = unsafe { state.cast::<u16>().read_unaligned() };
    // SAFETY: `OldIrql` is inside the caller's state; a byte is always aligned.
    let old_irql = unsafe { state.cast::<Irql>().wrapping_add(OLD_IRQL_OFFSET).read() };
    (lock_state, old_irql)
}

/// Writes `LockState`, never byte 3.
///
/// # Safety
///
/// `state` points to two writable bytes.
#[inline]
unsafe fn write_lock_state(state: *mut LockState, value: u16) {
    // SAFETY: `LockState` is at offset 0, inside the caller's state; any alignment is
    // accepted.
    unsafe { state.cast::<u16>().write_unaligned(value) };
}

/// Writes `OldIrql`, never byte 3.
///
/// # Safety
///
/// `state` points to three writable bytes.
#[inline]
unsafe fn write_old_irql(state: *mut LockState, value: Irql) {
    // SAFETY: `OldIrql` is inside the caller's state; a byte is always aligned.
    unsafe {
        state
            .cast::<Irql>()
            .wrapping_add(OLD_IRQL_OFFSET)
            .write(value)
    };
}

/// `NdisInitializeReadWriteLock`, over kernel `K`: zeroes the whole structure and initialises
/// its spin lock. `IRQL <= DISPATCH_LEVEL`.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or points to `NDIS_RW_LOCK_SIZE` writable bytes that nobody
/// else uses during the call.
pub unsafe fn initialize<K: Kernel>(lock: *mut NdisRwLock<K>) {
    check_lock_pointer(lock, 0);
    let irql = K::current_irql();
    if irql > DISPATCH_LEVEL {
        violation::<K>(
            rw::LEGACY_INITIALIZE_ABOVE_DISPATCH,
            usize::from(irql),
            lock as usize,
            0,
        );
    }
    // SAFETY: non-null and aligned (checked), writable for the whole structure (the caller's
    // contract); `new` has no padding, so every byte is written (zero).
    unsafe { lock.write(NdisRwLock::new()) };
    // SAFETY: initialised just above.
    K::initialize_spin_lock(unsafe { &(*lock).spin_lock });
}

/// `NdisAcquireReadWriteLock` (`dpr` false) or `NdisDprAcquireReadWriteLock` (`dpr` true).
///
/// # Safety
///
/// `lock` is NULL or an initialised `NDIS_RW_LOCK`; `state` is NULL or points to three
/// writable bytes.
#[inline]
unsafe fn acquire_impl<K: Kernel>(
    lock: *mut NdisRwLock<K>,
    write: bool,
    state: *mut LockState,
    dpr: bool,
) {
    // SAFETY: the caller's contract.
    let lock = unsafe { checked(lock, state) };
    let entry = rwcore::enter::<K>(dpr, lock.address());
    let me = K::current_processor();
    let acquired = if write {
        // SAFETY: `enter` brought us to DISPATCH_LEVEL; the matching release lowers.
        unsafe { lock.acquire_write_on(me, false) }
    } else {
        // SAFETY: as above.
        unsafe { lock.acquire_read_on(me, false) }
    };
    let Some((hold, _nested)) = acquired else {
        unreachable!("a waiting acquisition always acquires")
    };
    let old_irql = match entry {
        Entry::Raised(old) => old,
        Entry::AtDispatch => DISPATCH_LEVEL,
    };
    let value =
        hold.bits() | if dpr { DPR } else { 0 } | lock_bits(lock.address()) | processor_bits(me);
    // SAFETY: `state` is non-null (checked) and points to three writable bytes.
    unsafe { write_lock_state(state, value) };
    // SAFETY: as above.
    unsafe { write_old_irql(state, old_irql) };
}

/// `NdisReleaseReadWriteLock` (`dpr` false) or `NdisDprReleaseReadWriteLock` (`dpr` true).
///
/// # Safety
///
/// `lock` is NULL or an initialised `NDIS_RW_LOCK`; `state` is NULL or points to three
/// writable bytes.
#[inline]
unsafe fn release_impl<K: Kernel>(lock: *mut NdisRwLock<K>, state: *mut LockState, dpr: bool) {
    // SAFETY: the caller's contract.
    let lock = unsafe { checked(lock, state) };
    // SAFETY: non-null (checked), three readable bytes.
    let (value, old_irql) = unsafe { read_state(state) };
    let packed = usize::from(value) | usize::from(old_irql) << 16;
    let kind = value & KIND_MASK;
    let state_dpr = value & DPR != 0;
    let hold = Hold::from_bits(kind);
    let bad = if kind == 0 {
        Some(reason::RELEASED)
    } else if hold.is_none() {
        Some(reason::NOT_A_KIND)
    } else if value & LOCK_MASK != lock_bits(lock.address()) {
        Some(reason::OTHER_LOCK)
    } else if old_irql > DISPATCH_LEVEL || (state_dpr && old_irql != DISPATCH_LEVEL) {
        Some(reason::OLD_IRQL)
    } else {
        None
    };
    let hold = match (bad, hold) {
        (None, Some(hold)) => hold,
        (bad, _) => violation::<K>(
            rw::BAD_LOCK_STATE,
            packed,
            lock.address(),
            bad.unwrap_or(reason::NOT_A_KIND),
        ),
    };
    if state_dpr != dpr {
        let subcode = if state_dpr {
            rw::LEGACY_DPR_STATE_RELEASED_BY_NON_DPR
        } else {
            rw::LEGACY_NON_DPR_STATE_RELEASED_BY_DPR
        };
        violation::<K>(subcode, packed, lock.address(), 0);
    }
    rwcore::check_release_irql::<K>(lock.address());
    let me = K::current_processor();
    if processor_bits(me) != value & PROCESSOR_MASK || hold.without_slot() == has_slot(me) {
        violation::<K>(
            rw::RELEASE_ON_OTHER_PROCESSOR,
            me as usize,
            lock.address(),
            usize::from(value & PROCESSOR_MASK),
        );
    }
    // SAFETY: at DISPATCH_LEVEL on the processor the state names; release_on bug-checks if
    // the lock says that processor holds no such acquisition.
    unsafe { lock.release_on(hold, me, packed) };
    // SAFETY: non-null (checked), two writable bytes.
    unsafe { write_lock_state(state, value & !KIND_MASK) };
    if !dpr {
        // SAFETY: the acquisition is released; `old_irql` was checked to be at most
        // DISPATCH_LEVEL and is the IRQL the acquire raised from.
        unsafe { rwcore::leave::<K>(Entry::Raised(old_irql)) };
    }
}

/// `NdisAcquireReadWriteLock`, over kernel `K`: raises to `DISPATCH_LEVEL` (from at most
/// `DISPATCH_LEVEL`) and takes the lock for writing if `write`, else for reading.
///
/// # Safety
///
/// `lock` is NULL or an initialised `NDIS_RW_LOCK`; `state` is NULL or points to three
/// writable bytes.
#[inline]
pub unsafe fn acquire<K: Kernel>(lock: *mut NdisRwLock<K>, write: bool, state: *mut LockState) {
    // SAFETY: the caller's contract.
    unsafe { acquire_impl(lock, write, state, false) }
}

/// `NdisDprAcquireReadWriteLock`, over kernel `K`: as [`acquire`] for a caller at exactly
/// `DISPATCH_LEVEL`; no raise.
///
/// # Safety
///
/// As [`acquire`].
#[inline]
pub unsafe fn dpr_acquire<K: Kernel>(lock: *mut NdisRwLock<K>, write: bool, state: *mut LockState) {
    // SAFETY: the caller's contract.
    unsafe { acquire_impl(lock, write, state, true) }
}

/// `NdisReleaseReadWriteLock`, over kernel `K`: releases an [`acquire`] acquisition and
/// lowers to its `OldIrql`. `IRQL == DISPATCH_LEVEL`.
///
/// # Safety
///
/// `lock` is NULL or an initialised `NDIS_RW_LOCK`; `state` is NULL or points to three
/// writable bytes.
#[inline]
pub unsafe fn release<K: Kernel>(lock: *mut NdisRwLock<K>, state: *mut LockState) {
    // SAFETY: the caller's contract.
    unsafe { release_impl(lock, state, false) }
}

/// `NdisDprReleaseReadWriteLock`, over kernel `K`: releases a [`dpr_acquire`] acquisition;
/// stays at `DISPATCH_LEVEL`.
///
/// # Safety
///
/// As [`release`].
#[inline]
pub unsafe fn dpr_release<K: Kernel>(lock: *mut NdisRwLock<K>, state: *mut LockState) {
    // SAFETY: the caller's contract.
    unsafe { release_impl(lock, state, true) }
}

/// `NdisInitializeReadWriteLock`. `IRQL <= DISPATCH_LEVEL`.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or points to a writable `NDIS_RW_LOCK` that nobody uses
/// during the call.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisInitializeReadWriteLock(lock: *mut NdisRwLock) {
    // SAFETY: the caller's contract.
    unsafe { initialize(lock) }
}

/// `NdisAcquireReadWriteLock`. `IRQL <= DISPATCH_LEVEL`; raises to `DISPATCH_LEVEL`.
/// `fWrite` nonzero asks for write access.
///
/// # Safety
///
/// `lock` is NULL or an initialised `NDIS_RW_LOCK`; `lock_state` is NULL or points to a
/// writable `LOCK_STATE`.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisAcquireReadWriteLock(
    lock: *mut NdisRwLock,
    f_write: u8,
    lock_state: *mut LockState,
) {
    // SAFETY: the caller's contract.
    unsafe { acquire(lock, f_write != 0, lock_state) }
}

/// `NdisReleaseReadWriteLock`. `IRQL == DISPATCH_LEVEL`; lowers to the saved IRQL.
///
/// # Safety
///
/// `lock` is NULL or an initialised `NDIS_RW_LOCK`; `lock_state` is NULL or the state an
/// `NdisAcquireReadWriteLock` of this lock filled.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisReleaseReadWriteLock(
    lock: *mut NdisRwLock,
    lock_state: *mut LockState,
) {
    // SAFETY: the caller's contract.
    unsafe { release(lock, lock_state) }
}

/// `NdisDprAcquireReadWriteLock`. `IRQL == DISPATCH_LEVEL`. `fWrite` nonzero asks for write
/// access.
///
/// # Safety
///
/// As [`NdisAcquireReadWriteLock`].
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisDprAcquireReadWriteLock(
    lock: *mut NdisRwLock,
    f_write: u8,
    lock_state: *mut LockState,
) {
    // SAFETY: the caller's contract.
    unsafe { dpr_acquire(lock, f_write != 0, lock_state) }
}

/// `NdisDprReleaseReadWriteLock`. `IRQL == DISPATCH_LEVEL`; stays there.
///
/// # Safety
///
/// `lock` is NULL or an initialised `NDIS_RW_LOCK`; `lock_state` is NULL or the state an
/// `NdisDprAcquireReadWriteLock` of this lock filled.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisDprReleaseReadWriteLock(
    lock: *mut NdisRwLock,
    lock_state: *mut LockState,
) {
    // SAFETY: the caller's contract.
    unsafe { dpr_release(lock, lock_state) }
}

// ---------------------------------------------------------------------------------------------
// The safe wrapper.

/// A reader/writer lock with NDIS semantics protecting a `T`, stored inline: the legacy
/// `NDIS_RW_LOCK` behind guards.
///
/// What it adds over [`RwLockEx`](crate::RwLockEx): no allocation. [`LegacyRwLock::new`] is a
/// `const fn` that cannot fail, so the lock can be a `static` or a field of a fixed-size
/// structure, and creating it never touches the pool. The price: 16-byte reader slots (four
/// processors per cache line, so readers on neighbouring processors contend), 1040 bytes
/// whatever the machine, and exclusive acquisitions on processors beyond
/// [`MAXIMUM_PROCESSORS`] (see the module docs).
///
/// Otherwise it behaves as `RwLockEx`: guards raise to `DISPATCH_LEVEL` and restore the IRQL
/// on drop, are `!Send` and check on drop that they run on the acquiring processor at
/// `DISPATCH_LEVEL`; the `*_at_dispatch` variants (the Dpr routines) take proof that the
/// caller is already there. Read recursion on one processor is allowed; acquiring the lock
/// again while this processor writes would alias the `&mut T` and bug-checks
/// ([`rw::ALIASING_ACQUIRE`]), and so does a read-to-write promotion. Dropping the lock while
/// it is held (by C code through [`as_raw`](Self::as_raw)) bug-checks
/// ([`rw::FREE_HELD_LOCK`]).
pub struct LegacyRwLock<T, K: Kernel = DefaultKernel> {
    raw: NdisRwLock<K>,
    data: UnsafeCell<T>,
}

// SAFETY: shared access hands out &T to several readers at once (T: Sync) and &mut T to one
// writer at a time, possibly on another thread (T: Send), as std::sync::RwLock. The raw lock
// is atomics only.
unsafe impl<T: Send + Sync, K: Kernel> Sync for LegacyRwLock<T, K> {}

impl<T> LegacyRwLock<T> {
    /// A released lock around `value`, on the target's kernel. No allocation, usable in a
    /// `static`.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        Self::with_kernel(value)
    }

    /// A released lock around `value`. No allocation.
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        Self::with_kernel(value)
    }
}

impl<T, K: Kernel> LegacyRwLock<T, K> {
    /// A released lock around `value` on kernel `K`. No allocation, usable in a `static`.
    #[cfg(not(loom))]
    pub const fn with_kernel(value: T) -> Self {
        Self {
            raw: NdisRwLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// A released lock around `value` on kernel `K`. No allocation.
    #[cfg(loom)]
    pub fn with_kernel(value: T) -> Self {
        Self {
            raw: NdisRwLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    #[inline]
    fn address(&self) -> usize {
        self.raw.address()
    }

    #[inline]
    fn read_entered(&self, entry: Entry, try_only: bool) -> Option<LegacyReadGuard<'_, T, K>> {
        let me = K::current_processor();
        // SAFETY: `entry` brought us to DISPATCH_LEVEL on `me`; the guard releases on drop
        // before lowering.
        match unsafe { self.raw.acquire_read_on(me, try_only) } {
            Some((hold, false)) => Some(LegacyReadGuard {
                lock: self,
                entry,
                processor: me,
                hold,
                _not_send: PhantomData,
            }),
            Some((hold, true)) => {
                // SAFETY: we hold the acquisition just taken, on `me`.
                unsafe { self.raw.release_on(hold, me, 0) };
                violation::<K>(rw::ALIASING_ACQUIRE, self.address(), me as usize, 0)
            }
            None => {
                // SAFETY: nothing is held; `entry` is the one we took.
                unsafe { rwcore::leave::<K>(entry) };
                None
            }
        }
    }

    #[inline]
    fn write_entered(&self, entry: Entry, try_only: bool) -> Option<LegacyWriteGuard<'_, T, K>> {
        let me = K::current_processor();
        // SAFETY: at DISPATCH_LEVEL on `me` until the guard's drop.
        match unsafe { self.raw.acquire_write_on(me, try_only) } {
            Some((hold, false)) => Some(LegacyWriteGuard {
                lock: self,
                entry,
                processor: me,
                hold,
                _not_send: PhantomData,
            }),
            Some((hold, true)) => {
                // SAFETY: we hold the nested acquisition just taken, on `me`.
                unsafe { self.raw.release_on(hold, me, 0) };
                violation::<K>(rw::ALIASING_ACQUIRE, self.address(), me as usize, 1)
            }
            None => {
                // SAFETY: nothing is held; `entry` is the one we took.
                unsafe { rwcore::leave::<K>(entry) };
                None
            }
        }
    }

    /// Shared access: raises to `DISPATCH_LEVEL` (`NdisAcquireReadWriteLock` with `fWrite`
    /// FALSE) and spins while a writer on another processor holds the lock.
    #[inline]
    pub fn read(&self) -> LegacyReadGuard<'_, T, K> {
        let entry = rwcore::enter::<K>(false, self.address());
        match self.read_entered(entry, false) {
            Some(guard) => guard,
            None => unreachable!("a waiting read always acquires"),
        }
    }

    /// Shared access for a caller already at `DISPATCH_LEVEL` (`NdisDprAcquireReadWriteLock`).
    #[inline]
    pub fn read_at_dispatch<'a>(
        &'a self,
        _at_dispatch: &'a AtDispatch<K>,
    ) -> LegacyReadGuard<'a, T, K> {
        match self.read_entered(Entry::AtDispatch, false) {
            Some(guard) => guard,
            None => unreachable!("a waiting read always acquires"),
        }
    }

    /// Shared access if no writer holds the lock; never waits. On a processor beyond
    /// [`MAXIMUM_PROCESSORS`], also fails while any reader holds it.
    #[inline]
    pub fn try_read(&self) -> Option<LegacyReadGuard<'_, T, K>> {
        let entry = rwcore::enter::<K>(false, self.address());
        self.read_entered(entry, true)
    }

    /// Exclusive access: raises to `DISPATCH_LEVEL` (`NdisAcquireReadWriteLock` with `fWrite`
    /// TRUE), takes the writers' spin lock and waits for readers on other processors to leave.
    #[inline]
    pub fn write(&self) -> LegacyWriteGuard<'_, T, K> {
        let entry = rwcore::enter::<K>(false, self.address());
        match self.write_entered(entry, false) {
            Some(guard) => guard,
            None => unreachable!("a waiting write always acquires"),
        }
    }

    /// Exclusive access for a caller already at `DISPATCH_LEVEL`
    /// (`NdisDprAcquireReadWriteLock`).
    #[inline]
    pub fn write_at_dispatch<'a>(
        &'a self,
        _at_dispatch: &'a AtDispatch<K>,
    ) -> LegacyWriteGuard<'a, T, K> {
        match self.write_entered(Entry::AtDispatch, false) {
            Some(guard) => guard,
            None => unreachable!("a waiting write always acquires"),
        }
    }

    /// Exclusive access if no writer and no reader on another processor holds the lock;
    /// never waits.
    #[inline]
    pub fn try_write(&self) -> Option<LegacyWriteGuard<'_, T, K>> {
        let entry = rwcore::enter::<K>(false, self.address());
        self.write_entered(entry, true)
    }

    /// The data, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Returns the data. Bug-checks if C code still holds the lock.
    pub fn into_inner(self) -> T {
        self.check_not_held();
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the data is moved out once; the
        // raw lock needs no drop.
        let data = unsafe { core::ptr::read(&this.data) };
        data.into_inner()
    }

    /// A snapshot of who holds the lock, in the spirit of `!ndiskd.ndisrwlock`.
    pub fn diagnostics(&self) -> Diagnostics {
        self.raw.diagnostics()
    }

    /// The underlying `NDIS_RW_LOCK`, for C code that shares the lock. C code must release
    /// every acquisition it takes before the `LegacyRwLock` is dropped or moved, and must not
    /// read-acquire it on a processor where a write guard of this lock is alive (the C API
    /// allows a read inside one's own write; a guard taken after it could not tell).
    pub fn as_raw(&self) -> *mut NdisRwLock<K> {
        core::ptr::from_ref(&self.raw).cast_mut()
    }

    fn check_not_held(&self) {
        if K::stopping() || !self.raw.is_held() {
            return;
        }
        let diag = self.raw.diagnostics();
        violation::<K>(
            rw::FREE_HELD_LOCK,
            self.address(),
            usize::try_from(diag.readers).unwrap_or(usize::MAX),
            diag.writer.map_or(0, |p| p as usize + 1),
        );
    }
}

impl<T: Default, K: Kernel> Default for LegacyRwLock<T, K> {
    fn default() -> Self {
        Self::with_kernel(T::default())
    }
}

impl<T, K: Kernel> Drop for LegacyRwLock<T, K> {
    fn drop(&mut self) {
        self.check_not_held();
    }
}

impl<T: fmt::Debug, K: Kernel> fmt::Debug for LegacyRwLock<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let diag = self.diagnostics();
        f.debug_struct("LegacyRwLock")
            .field("readers", &diag.readers)
            .field("writer", &diag.writer)
            .finish_non_exhaustive()
    }
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

/// Shared access to the data of a [`LegacyRwLock`]; releases and restores the IRQL on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LegacyReadGuard<'a, T, K: Kernel = DefaultKernel> {
    lock: &'a LegacyRwLock<T, K>,
    entry: Entry,
    processor: u32,
    hold: Hold,
    _not_send: PhantomData<*const ()>,
}

impl<T, K: Kernel> LegacyReadGuard<'_, T, K> {
    /// The processor the guard holds its acquisition on.
    pub fn processor(&self) -> u32 {
        self.processor
    }

    /// Whether the read is exclusive (taken on a processor beyond [`MAXIMUM_PROCESSORS`]).
    pub fn is_exclusive(&self) -> bool {
        self.hold.without_slot()
    }
}

impl<T, K: Kernel> Deref for LegacyReadGuard<'_, T, K> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a read acquisition excludes writers, so no &mut T exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T, K: Kernel> Drop for LegacyReadGuard<'_, T, K> {
    #[inline]
    fn drop(&mut self) {
        if K::stopping() {
            return;
        }
        check_release::<K>(self.processor, self.lock.address());
        // SAFETY: we hold this acquisition on `processor`, where we still run at
        // DISPATCH_LEVEL (checked).
        unsafe { self.lock.raw.release_on(self.hold, self.processor, 0) };
        // SAFETY: the acquisition is released; `entry` is ours.
        unsafe { rwcore::leave::<K>(self.entry) };
    }
}

impl<T: fmt::Debug, K: Kernel> fmt::Debug for LegacyReadGuard<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to the data of a [`LegacyRwLock`]; releases and restores the IRQL on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LegacyWriteGuard<'a, T, K: Kernel = DefaultKernel> {
    lock: &'a LegacyRwLock<T, K>,
    entry: Entry,
    processor: u32,
    hold: Hold,
    _not_send: PhantomData<*const ()>,
}

impl<T, K: Kernel> LegacyWriteGuard<'_, T, K> {
    /// The processor that holds the write lock.
    pub fn processor(&self) -> u32 {
        self.processor
    }
}

impl<T, K: Kernel> Deref for LegacyWriteGuard<'_, T, K> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the write acquisition is exclusive.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T, K: Kernel> DerefMut for LegacyWriteGuard<'_, T, K> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write acquisition is exclusive, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T, K: Kernel> Drop for LegacyWriteGuard<'_, T, K> {
    #[inline]
    fn drop(&mut self) {
        if K::stopping() {
            return;
        }
        check_release::<K>(self.processor, self.lock.address());
        // SAFETY: we hold the outermost write acquisition on `processor` (checked).
        unsafe { self.lock.raw.release_on(self.hold, self.processor, 0) };
        // SAFETY: the acquisition is released; `entry` is ours.
        unsafe { rwcore::leave::<K>(self.entry) };
    }
}

impl<T: fmt::Debug, K: Kernel> fmt::Debug for LegacyWriteGuard<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
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

    #[test]
    fn fields_of_the_state_do_not_overlap() {
        assert_eq!(KIND_MASK & DPR, 0);
        assert_eq!((KIND_MASK | DPR) & LOCK_MASK, 0);
        assert_eq!((KIND_MASK | DPR | LOCK_MASK) & PROCESSOR_MASK, 0);
        assert_eq!(KIND_MASK | DPR | LOCK_MASK | PROCESSOR_MASK, 0xFFFF);
    }

    #[test]
    fn lock_bits_stay_in_their_field_and_tell_array_neighbours_apart() {
        let base = 0x7F00_1234_5670usize;
        for index in 0..64 {
            let address = base + index * NDIS_RW_LOCK_SIZE;
            let bits = lock_bits(address);
            assert_eq!(bits & !LOCK_MASK, 0);
            assert_ne!(bits, lock_bits(address + NDIS_RW_LOCK_SIZE));
        }
    }
}
