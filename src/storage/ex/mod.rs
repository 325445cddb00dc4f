//! `NDIS_RW_LOCK_EX`: the allocated NDIS 6.20 lock, its `LOCK_STATE_EX`, and the C exports
//! `NdisAllocateRWLock`, `NdisFreeRWLock`, `NdisAcquireRWLockRead`, `NdisAcquireRWLockWrite`
//! and `NdisReleaseRWLock` with the ndis.h prototypes.
//!
//! # Layout
//!
//! One nonpaged allocation, tagged [`RWLOCK_EX_TAG`]: a 64-byte header (writers' spin lock,
//! writer word, signature, slot count) and then one 64-byte slot per processor that
//! `KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS)` reports, so that no two processors'
//! reader counts share a cache line and hot-added processors have a slot. The algorithm is in
//! `src/algorithm.rs`.
//!
//! # Lock identity
//!
//! Every lock gets a 4-bit identity when it is allocated, from a counter that goes round all
//! sixteen values in turn, so that locks allocated one after the other never share one. The
//! `LOCK_STATE_EX` of an acquisition carries it (see [`state`]), and a release with the state
//! of another lock is caught unless the two identities happen to match. The identity does not
//! come from the lock's address: a lock with 63 or more processor slots takes a page or more,
//! pool blocks that large are page-aligned, and every such lock would have the same address
//! bits.
//!
//! # Provenance
//!
//! The header keeps the pointer the pool returned and a pointer to the first slot, both
//! derived from the allocation itself; the slots are always reached through the latter, never
//! through a reference to the 64-byte header (whose borrow does not cover them under Stacked
//! or Tree Borrows).

pub mod state;

pub use state::{
    LockStateEx, NDIS_RWL_AT_DISPATCH_LEVEL, acquire_read, acquire_write, free, release,
};

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::algorithm::{self, RwStorage, violation};
use crate::bugcheck::rw;
use crate::kernel::{DefaultKernel, KSpinLock, Kernel};
use crate::sync::{AtomicU32, AtomicUsize, Ordering};

/// Pool tag of every `NDIS_RW_LOCK_EX` allocation: `NRwX` in a pool dump.
pub const RWLOCK_EX_TAG: u32 = u32::from_le_bytes(*b"NRwX");

/// Signature of a live lock.
const SIGNATURE_LIVE: u32 = u32::from_le_bytes(*b"RWLx");
/// Signature written just before a lock is freed.
const SIGNATURE_FREED: u32 = u32::from_le_bytes(*b"rwl-");
/// Size and alignment of the header and of each processor slot: one cache line.
const LINE: usize = 64;

/// The opaque `NDIS_RW_LOCK_EX`. C code only ever holds a pointer to it.
#[repr(C, align(64))]
pub struct NdisRwLockEx<K: Kernel = DefaultKernel> {
    spin: KSpinLock,
    writer: AtomicUsize,
    signature: AtomicU32,
    processors: u32,
    /// Asymmetric mode (`src/algorithm.rs`): readers fence nothing, writers run a barrier on
    /// every processor. Fixed at allocation.
    asymmetric: bool,
    /// The lock's identity (module docs), 0-15.
    id: u8,
    /// What the pool returned (the header is aligned up from it).
    base: *mut u8,
    /// The first slot, derived from `base` (module docs, "Provenance").
    slots: *mut Slot,
    _kernel: PhantomData<K>,
}

/// The identity the next lock gets (module docs).
static NEXT_ID: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

#[repr(C, align(64))]
struct Slot {
    count: AtomicU32,
}

const _: () = assert!(core::mem::size_of::<NdisRwLockEx<DefaultKernel>>() == LINE);
const _: () = assert!(core::mem::size_of::<Slot>() == LINE);

// SAFETY: `count` returns the i-th slot after the header for i < processors, each distinct;
// the header never moves while the allocation lives.
unsafe impl<K: Kernel> RwStorage for NdisRwLockEx<K> {
    #[inline]
    fn spin_lock(&self) -> &KSpinLock {
        &self.spin
    }

    #[inline]
    fn writer(&self) -> &AtomicUsize {
        &self.writer
    }

    #[inline]
    fn count(&self, index: u32) -> Option<&AtomicU32> {
        if index >= self.processors {
            return None;
        }
        // SAFETY: checked just above.
        Some(unsafe { self.count_unchecked(index) })
    }

    #[inline]
    fn processors(&self) -> u32 {
        self.processors
    }

    #[inline]
    fn address(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }

    #[inline]
    fn asymmetric(&self) -> bool {
        self.asymmetric
    }
}

impl<K: Kernel> NdisRwLockEx<K> {
    /// Bytes one lock takes from the pool on a machine with `processors` processor slots.
    pub const fn allocation_size(processors: u32) -> usize {
        // Pool blocks are 16-byte aligned: up to LINE - 16 bytes are lost to alignment.
        LINE + processors as usize * LINE + (LINE - 16)
    }

    /// What `NdisAllocateRWLock` does: a released lock with one reader slot per processor, or
    /// `None` when the nonpaged pool has no room. IRQL <= DISPATCH_LEVEL.
    pub fn allocate() -> Option<NonNull<Self>> {
        Self::allocate_in_mode(false)
    }

    /// As [`allocate`](Self::allocate), in asymmetric mode if the kernel has a process-wide
    /// barrier ([`Kernel::flush_process_write_buffers`], tried once here), else in symmetric
    /// mode: readers execute no fence and no locked instruction, and every outermost write
    /// acquisition runs a barrier on every processor (microseconds). See
    /// [`is_asymmetric`](Self::is_asymmetric). The C functions work on such a lock too.
    pub fn allocate_asymmetric() -> Option<NonNull<Self>> {
        Self::allocate_in_mode(K::flush_process_write_buffers())
    }

    /// Whether the lock is in asymmetric mode.
    pub fn is_asymmetric(&self) -> bool {
        self.asymmetric
    }

    fn allocate_in_mode(asymmetric: bool) -> Option<NonNull<Self>> {
        let processors = K::max_processors();
        let base = K::allocate_nonpaged(Self::allocation_size(processors), RWLOCK_EX_TAG);
        if base.is_null() {
            return None;
        }
        let header = base.wrapping_add(base.align_offset(LINE)).cast::<Self>();
        let slots = header.wrapping_add(1).cast::<Slot>();
        // Not a synchronisation: any spread of values will do, so the counter is a plain
        // core atomic, outside the loom shim.
        let id = NEXT_ID.fetch_add(1, core::sync::atomic::Ordering::Relaxed) & 0x0F;
        // SAFETY: the block holds the aligned header plus `processors` slots (see
        // `allocation_size`), and nothing else refers to it yet.
        unsafe {
            header.write(Self {
                spin: KSpinLock::new(),
                writer: AtomicUsize::new(0),
                signature: AtomicU32::new(SIGNATURE_LIVE),
                processors,
                asymmetric,
                id,
                base,
                slots,
                _kernel: PhantomData,
            });
        }
        for index in 0..processors as usize {
            // SAFETY: slot `index` lies inside the block (see `allocation_size`) and is
            // aligned, since the header is aligned and slots are LINE bytes each.
            unsafe {
                slots.wrapping_add(index).write(Slot {
                    count: AtomicU32::new(0),
                });
            }
        }
        // SAFETY: `header` was derived from a non-null pointer by adding an offset.
        let lock = unsafe { NonNull::new_unchecked(header) };
        // SAFETY: the header was initialised just above.
        K::initialize_spin_lock(unsafe { &lock.as_ref().spin });
        Some(lock)
    }

    /// What `NdisFreeRWLock` does: checks that the lock is live and not held, then returns it
    /// to the pool.
    ///
    /// # Safety
    ///
    /// `lock` came from [`NdisRwLockEx::allocate`] and nothing uses it afterwards.
    pub unsafe fn free(lock: NonNull<Self>) {
        // SAFETY: the caller passes a lock from `allocate`; `check_live` bug-checks on a
        // freed or foreign one instead of using it.
        let this = unsafe { lock.as_ref() };
        this.check_live();
        if algorithm::is_held(this) {
            let diag = algorithm::diagnostics(this);
            violation::<K>(
                rw::FREE_HELD_LOCK,
                this.address(),
                usize::try_from(diag.readers).unwrap_or(usize::MAX),
                diag.writer.map_or(0, |p| p as usize + 1),
            );
        }
        this.signature.store(SIGNATURE_FREED, Ordering::Relaxed);
        let base = this.base;
        let processors = this.processors as usize;
        let slots = this.slots;
        for index in 0..processors {
            // SAFETY: each slot was initialised by `allocate` and is dropped once, here.
            unsafe { core::ptr::drop_in_place(slots.wrapping_add(index)) };
        }
        // SAFETY: the header was initialised by `allocate` and is dropped once, here.
        unsafe { core::ptr::drop_in_place(lock.as_ptr()) };
        // SAFETY: `base` is the block `allocate` got with this tag, freed once.
        unsafe { K::free_pool(base, RWLOCK_EX_TAG) };
    }

    /// The reader count of processor `index`, without the range check.
    ///
    /// # Safety
    ///
    /// `index < self.processors`.
    #[inline]
    pub(crate) unsafe fn count_unchecked(&self, index: u32) -> &AtomicU32 {
        // SAFETY: `slots` points to `processors` initialised slots inside the allocation, and
        // carries the allocation's provenance (module docs), so slot `index` is in bounds.
        let slot = unsafe { self.slots.add(index as usize) };
        // SAFETY: an initialised slot that lives as long as the lock, and so as `self`.
        let slot = unsafe { &*slot };
        &slot.count
    }

    /// Bug-checks unless this is a live lock.
    #[inline]
    pub(crate) fn check_live(&self) {
        let signature = self.signature.load(Ordering::Relaxed);
        if signature != SIGNATURE_LIVE {
            violation::<K>(rw::NOT_A_LOCK, self.address(), signature as usize, 0);
        }
    }

    /// A snapshot of the lock's state.
    pub fn diagnostics(&self) -> algorithm::Diagnostics {
        algorithm::diagnostics(self)
    }

    /// The lock's identity (module docs), in the low nibble.
    #[inline]
    pub(crate) fn id_bits(&self) -> u8 {
        self.id
    }
}

/// An `NDIS_RW_LOCK_EX` owned by Rust code: allocated by
/// [`allocate`](RwLockExBox::allocate), freed (`NdisFreeRWLock`) when dropped. The raw lock of
/// [`RwLockEx`](crate::RwLockEx).
pub struct RwLockExBox<K: Kernel = DefaultKernel> {
    lock: NonNull<NdisRwLockEx<K>>,
}

// SAFETY: the box owns its allocation, whose state is atomics and a spin lock that any thread
// may use; moving the box moves only the pointer.
unsafe impl<K: Kernel> Send for RwLockExBox<K> {}
// SAFETY: as above; shared use goes through the lock's own synchronisation.
unsafe impl<K: Kernel> Sync for RwLockExBox<K> {}

impl<K: Kernel> RwLockExBox<K> {
    /// A new lock, in asymmetric mode if `asymmetric` and the kernel has the barrier (see
    /// [`NdisRwLockEx::allocate_asymmetric`]); `None` when the pool has no room.
    pub fn allocate(asymmetric: bool) -> Option<Self> {
        let lock = if asymmetric {
            NdisRwLockEx::allocate_asymmetric()
        } else {
            NdisRwLockEx::allocate()
        }?;
        Some(Self { lock })
    }

    /// The lock.
    #[inline]
    pub fn get(&self) -> &NdisRwLockEx<K> {
        // SAFETY: the allocation is live from `allocate` until drop.
        unsafe { self.lock.as_ref() }
    }

    /// The lock as C code sees it (`PNDIS_RW_LOCK_EX`).
    #[inline]
    pub fn as_ptr(&self) -> *mut NdisRwLockEx<K> {
        self.lock.as_ptr()
    }
}

impl<K: Kernel> Drop for RwLockExBox<K> {
    fn drop(&mut self) {
        if K::stopping() {
            // The machine stopped; leave the lock as it is (it may be held).
            return;
        }
        // SAFETY: the lock came from `allocate` and is not used afterwards; `free` bug-checks
        // if it is still held (C code that kept an acquisition, or a leaked guard).
        unsafe { NdisRwLockEx::free(self.lock) };
    }
}

impl<K: Kernel> fmt::Debug for RwLockExBox<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLockExBox")
            .field("lock", &self.lock)
            .finish()
    }
}

#[cfg(all(test, not(windows), not(loom)))]
mod tests {
    use super::*;
    use crate::sim::Sim;

    /// The slots are reached through the pointer the header keeps, which derives from the
    /// allocation, and never by offsetting a reference to the header (whose borrow covers only
    /// the header's 64 bytes under Stacked and Tree Borrows). A bitwise copy of the header
    /// elsewhere must therefore find the very same slots.
    #[test]
    fn slots_come_from_the_allocation_not_from_the_header_reference() {
        let lock = NdisRwLockEx::<Sim>::allocate().expect("the pool has room");
        // SAFETY: a live lock from `allocate`.
        let original = unsafe { lock.as_ref() };
        // SAFETY: a bitwise copy of the header, never dropped (ManuallyDrop) and never used to
        // change the lock.
        let copy = core::mem::ManuallyDrop::new(unsafe { core::ptr::read(lock.as_ptr()) });
        for index in 0..original.processors {
            // SAFETY: `index < processors`.
            let from_original = unsafe { original.count_unchecked(index) };
            // SAFETY: as above; the copy keeps the allocation's slot pointer.
            let from_copy = unsafe { copy.count_unchecked(index) };
            assert!(core::ptr::eq(from_original, from_copy), "slot {index}");
        }
        // SAFETY: the lock came from `allocate`, is not held and is not used afterwards.
        unsafe { NdisRwLockEx::free(lock) };
    }
}
