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
//! [`crate::rwcore`].
//!
//! # `LOCK_STATE_EX`
//!
//! Three bytes on the caller's stack, alignment 1; nothing else is ever written.
//! - `OldIrql`: the IRQL to restore on release.
//! - `LockState`: the kind of acquisition in the high nibble (read, write, recursive write;
//!   0 once released) and four bits of the lock's address in the low nibble, so that a release
//!   with a state that is not a live acquisition of this lock is caught.
//! - `Flags`: bit 0 is the caller's `NDIS_RWL_AT_DISPATCH_LEVEL`; bits 1-7 hold the low seven
//!   bits of the acquiring processor's index, so that most releases on another processor are
//!   caught even for read acquisitions.

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::bugcheck::rw;
use crate::kernel::{DISPATCH_LEVEL, DefaultKernel, KSpinLock, Kernel};
use crate::rwcore::{self, Entry, Kind, RwStorage, violation};
use crate::sync::{AtomicU32, AtomicUsize, Ordering};

/// `NDIS_RWL_AT_DISPATCH_LEVEL`: the caller is already at `DISPATCH_LEVEL`.
pub const NDIS_RWL_AT_DISPATCH_LEVEL: u8 = 1;
/// Pool tag of every `NDIS_RW_LOCK_EX` allocation: `NRwX` in a pool dump.
pub const RWLOCK_EX_TAG: u32 = u32::from_le_bytes(*b"NRwX");

/// Signature of a live lock.
const SIGNATURE_LIVE: u32 = u32::from_le_bytes(*b"RWLx");
/// Signature written just before a lock is freed.
const SIGNATURE_FREED: u32 = u32::from_le_bytes(*b"rwl-");
/// Size and alignment of the header and of each processor slot: one cache line.
const LINE: usize = 64;

/// `LOCK_STATE_EX`: per-acquisition state on the caller's stack.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockStateEx {
    /// `OldIrql`.
    pub old_irql: u8,
    /// `LockState`.
    pub lock_state: u8,
    /// `Flags`.
    pub flags: u8,
}

const _: () = assert!(core::mem::size_of::<LockStateEx>() == 3);
const _: () = assert!(core::mem::align_of::<LockStateEx>() == 1);
const _: () = assert!(core::mem::offset_of!(LockStateEx, old_irql) == 0);
const _: () = assert!(core::mem::offset_of!(LockStateEx, lock_state) == 1);
const _: () = assert!(core::mem::offset_of!(LockStateEx, flags) == 2);

const STATE_KIND_MASK: u8 = 0xF0;
const STATE_READ: u8 = 0xA0;
const STATE_WRITE: u8 = 0xB0;
const STATE_RECURSIVE_WRITE: u8 = 0xC0;

/// The opaque `NDIS_RW_LOCK_EX`. C code only ever holds a pointer to it.
#[repr(C, align(64))]
pub struct NdisRwLockEx<K: Kernel = DefaultKernel> {
    spin: KSpinLock,
    writer: AtomicUsize,
    signature: AtomicU32,
    processors: u32,
    /// Asymmetric mode ([`crate::rwcore`]): readers fence nothing, writers run a barrier on
    /// every processor. Fixed at allocation.
    asymmetric: bool,
    /// What the pool returned (the header is aligned up from it).
    base: *mut u8,
    _kernel: PhantomData<K>,
}

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
        // SAFETY: the block holds the aligned header plus `processors` slots (see
        // `allocation_size`), and nothing else refers to it yet.
        unsafe {
            header.write(Self {
                spin: KSpinLock::new(),
                writer: AtomicUsize::new(0),
                signature: AtomicU32::new(SIGNATURE_LIVE),
                processors,
                asymmetric,
                base,
                _kernel: PhantomData,
            });
        }
        let slots = header.wrapping_add(1).cast::<Slot>();
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
        if rwcore::is_held(this) {
            let diag = rwcore::diagnostics(this);
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
        let slots = lock.as_ptr().wrapping_add(1).cast::<Slot>();
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
        // SAFETY: `allocate` placed `processors` initialised slots right after the header,
        // inside the same allocation, so one header further is in bounds.
        let first = unsafe { core::ptr::from_ref(self).add(1) }.cast::<Slot>();
        // SAFETY: `index < processors`: slot `index` is in the same allocation.
        let slot = unsafe { first.add(index as usize) };
        // SAFETY: an initialised slot that lives as long as `self`.
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
    pub fn diagnostics(&self) -> rwcore::Diagnostics {
        rwcore::diagnostics(self)
    }

    fn address_bits(&self) -> u8 {
        ((self.address() / LINE) & 0x0F) as u8
    }
}

/// Checks the pointer arguments of an exported call and returns the lock.
///
/// # Safety
///
/// A non-null `lock` points to a lock from `NdisAllocateRWLock` that may be accessed for `'a`
/// (a freed lock is caught by its signature as long as its memory is still readable).
#[inline]
unsafe fn checked<'a, K: Kernel>(
    lock: *mut NdisRwLockEx<K>,
    state: *mut LockStateEx,
) -> &'a NdisRwLockEx<K> {
    if lock.is_null() {
        violation::<K>(rw::NULL_LOCK, state as usize, 0, 0);
    }
    if state.is_null() {
        violation::<K>(rw::NULL_LOCK_STATE, lock as usize, 0, 0);
    }
    // SAFETY: non-null, and the caller's contract makes it a lock from NdisAllocateRWLock.
    let lock = unsafe { &*lock };
    lock.check_live();
    lock
}

#[inline]
fn checked_flags<K: Kernel>(flags: u8, lock: &NdisRwLockEx<K>) -> bool {
    if flags & !NDIS_RWL_AT_DISPATCH_LEVEL != 0 {
        violation::<K>(rw::UNDEFINED_FLAGS, usize::from(flags), lock.address(), 0);
    }
    flags & NDIS_RWL_AT_DISPATCH_LEVEL != 0
}

#[inline]
fn record(entry: Entry, kind: u8, lock_bits: u8, flags: u8, processor: u32) -> LockStateEx {
    LockStateEx {
        old_irql: match entry {
            Entry::Raised(old) => old,
            Entry::AtDispatch => DISPATCH_LEVEL,
        },
        lock_state: kind | lock_bits,
        flags: (flags & NDIS_RWL_AT_DISPATCH_LEVEL) | (((processor & 0x7F) as u8) << 1),
    }
}

/// `NdisAcquireRWLockRead`, over kernel `K`.
///
/// # Safety
///
/// `lock` is NULL or a lock from `NdisAllocateRWLock`; `state` is NULL or points to three
/// writable bytes.
#[inline]
pub unsafe fn acquire_read<K: Kernel>(
    lock: *mut NdisRwLockEx<K>,
    state: *mut LockStateEx,
    flags: u8,
) {
    // SAFETY: the caller's contract.
    let lock = unsafe { checked(lock, state) };
    let entry = rwcore::enter::<K>(checked_flags(flags, lock), lock.address());
    let me = K::current_processor();
    // SAFETY: `enter` brought us to DISPATCH_LEVEL; the release lowers only after the
    // matching release_read.
    if let Err(seen) = unsafe { rwcore::acquire_read_fast::<K, _>(lock, me) } {
        // SAFETY: as above; the fast path raised our count by one; `state` is non-null.
        return unsafe { acquire_read_contended(lock, state, flags, entry, me, seen) };
    }
    let value = record(entry, STATE_READ, lock.address_bits(), flags, me);
    // SAFETY: `state` is non-null (checked) and points to three writable bytes.
    unsafe { state.write(value) };
}

/// The rest of [`acquire_read`] when its fast path met a writer (or recursion). A read
/// inside this processor's own write is allowed here and recorded as a read, like any other.
///
/// # Safety
///
/// The caller runs at `DISPATCH_LEVEL` on processor `me` (entered as `entry`), and
/// `acquire_read_fast` returned `seen` (the writer word, and `me`'s count before it raised
/// it by one); `state` is non-null and writable.
#[inline(never)]
unsafe fn acquire_read_contended<K: Kernel>(
    lock: &NdisRwLockEx<K>,
    state: *mut LockStateEx,
    flags: u8,
    entry: Entry,
    me: u32,
    seen: (usize, u32),
) {
    let (writer, held) = seen;
    // SAFETY: the caller's contract.
    unsafe { rwcore::acquire_read_contended::<K, _>(lock, me, writer, held, false) };
    let value = record(entry, STATE_READ, lock.address_bits(), flags, me);
    // SAFETY: `state` is non-null and points to three writable bytes.
    unsafe { state.write(value) };
}

/// `NdisAcquireRWLockWrite`, over kernel `K`.
///
/// # Safety
///
/// As [`acquire_read`].
#[inline]
pub unsafe fn acquire_write<K: Kernel>(
    lock: *mut NdisRwLockEx<K>,
    state: *mut LockStateEx,
    flags: u8,
) {
    // SAFETY: the caller's contract.
    let lock = unsafe { checked(lock, state) };
    let entry = rwcore::enter::<K>(checked_flags(flags, lock), lock.address());
    let me = K::current_processor();
    // SAFETY: at DISPATCH_LEVEL until the matching release.
    let kind = unsafe { rwcore::acquire_write::<K, _>(lock, me, false) };
    let kind = match kind {
        Some(Kind::RecursiveWrite) => STATE_RECURSIVE_WRITE,
        _ => STATE_WRITE,
    };
    let value = record(entry, kind, lock.address_bits(), flags, me);
    // SAFETY: `state` is non-null (checked) and points to three writable bytes.
    unsafe { state.write(value) };
}

/// `NdisReleaseRWLock`, over kernel `K`.
///
/// # Safety
///
/// `lock` is NULL or a lock from `NdisAllocateRWLock`; `state` is NULL or points to the
/// three bytes an acquire of this lock filled.
#[inline]
pub unsafe fn release<K: Kernel>(lock: *mut NdisRwLockEx<K>, state: *mut LockStateEx) {
    // SAFETY: the caller's contract.
    let lock = unsafe { checked(lock, state) };
    // SAFETY: non-null (checked), three readable bytes.
    let value = unsafe { state.read() };
    let place = K::current_place();
    let me = place.processor();
    // The common case, a live read released where it was taken, with every check
    // `release_any` makes for it folded into one test; anything else takes the general path,
    // which reports what is wrong.
    let count = rwcore::counter::<K, _>(lock, me);
    if value.lock_state != STATE_READ | lock.address_bits()
        || value.old_irql > DISPATCH_LEVEL
        || place.irql() != DISPATCH_LEVEL
        || (me & 0x7F) as u8 != value.flags >> 1
        || count.load(Ordering::Relaxed) == 0
    {
        // SAFETY: the caller's contract; `state` holds `value`.
        return unsafe { release_any(lock, state, value) };
    }
    // SAFETY: this processor holds a read acquisition (its count is not 0), as the state says.
    unsafe { rwcore::release_read_count::<K>(count, me, lock.address()) };
    let lock_state = state
        .cast::<u8>()
        .wrapping_add(core::mem::offset_of!(LockStateEx, lock_state));
    // SAFETY: `state` is non-null (checked) and writable; only `LockState` changes.
    unsafe { lock_state.write(0) };
    if value.flags & NDIS_RWL_AT_DISPATCH_LEVEL == 0 {
        // SAFETY: the acquisition is released; `old_irql` was checked to be <= DISPATCH_LEVEL.
        unsafe { rwcore::leave::<K>(Entry::Raised(value.old_irql)) };
    }
}

/// [`release`] of any acquisition, with every check in order.
///
/// # Safety
///
/// `state` is non-null and points to the three bytes an acquire of `lock` filled, which hold
/// `value`.
#[inline(never)]
unsafe fn release_any<K: Kernel>(
    lock: &NdisRwLockEx<K>,
    state: *mut LockStateEx,
    value: LockStateEx,
) {
    let kind = value.lock_state & STATE_KIND_MASK;
    let bytes = usize::from(value.old_irql)
        | usize::from(value.lock_state) << 8
        | usize::from(value.flags) << 16;
    if value.lock_state & !STATE_KIND_MASK != lock.address_bits()
        || !matches!(kind, STATE_READ | STATE_WRITE | STATE_RECURSIVE_WRITE)
        || value.old_irql > DISPATCH_LEVEL
    {
        violation::<K>(rw::BAD_LOCK_STATE, bytes, lock.address(), 0);
    }
    rwcore::check_release_irql::<K>(lock.address());
    let me = K::current_processor();
    if (me & 0x7F) as u8 != value.flags >> 1 {
        violation::<K>(
            rw::RELEASE_ON_OTHER_PROCESSOR,
            me as usize,
            lock.address(),
            0,
        );
    }
    let held = match kind {
        STATE_READ => None,
        STATE_WRITE => Some(Kind::Write),
        _ => Some(Kind::RecursiveWrite),
    };
    // The state names this processor; if the lock says this processor holds no such
    // acquisition (a stale copy of a released state, another lock's state, the outer write
    // released before a recursive one), the state is not live.
    if !rwcore::holds::<K, _>(lock, me, held) {
        violation::<K>(rw::BAD_LOCK_STATE, bytes, lock.address(), 0);
    }
    match kind {
        // SAFETY: the state says this processor holds a read acquisition; release_read
        // bug-checks if its count says otherwise.
        STATE_READ => unsafe { rwcore::release_read::<K, _>(lock, me) },
        // SAFETY: release_write checks that this processor owns the lock at that depth.
        STATE_WRITE => unsafe { rwcore::release_write::<K, _>(lock, me, Kind::Write) },
        // SAFETY: as above.
        _ => unsafe { rwcore::release_write::<K, _>(lock, me, Kind::RecursiveWrite) },
    }
    let released = LockStateEx {
        lock_state: 0,
        ..value
    };
    // SAFETY: non-null (checked), three writable bytes.
    unsafe { state.write(released) };
    let entry = if value.flags & NDIS_RWL_AT_DISPATCH_LEVEL != 0 {
        Entry::AtDispatch
    } else {
        Entry::Raised(value.old_irql)
    };
    // SAFETY: the acquisition is released; `old_irql` was checked to be <= DISPATCH_LEVEL.
    unsafe { rwcore::leave::<K>(entry) };
}

/// `NdisAllocateRWLock`: a new lock, or NULL when the nonpaged pool has no room.
/// `NdisHandle` may be NULL. IRQL <= DISPATCH_LEVEL.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub extern "system" fn NdisAllocateRWLock(_ndis_handle: *mut c_void) -> *mut NdisRwLockEx {
    NdisRwLockEx::<DefaultKernel>::allocate().map_or(core::ptr::null_mut(), NonNull::as_ptr)
}

/// `NdisFreeRWLock`, over kernel `K`: a NULL lock is a bug check.
///
/// # Safety
///
/// `lock` is NULL or a lock from `NdisAllocateRWLock`, not used afterwards.
pub unsafe fn free<K: Kernel>(lock: *mut NdisRwLockEx<K>) {
    let Some(lock) = NonNull::new(lock) else {
        violation::<K>(rw::NULL_LOCK, 0, 0, 0);
    };
    // SAFETY: the caller's contract.
    unsafe { NdisRwLockEx::free(lock) }
}

/// `NdisFreeRWLock`: frees a lock that nobody holds. IRQL <= DISPATCH_LEVEL.
///
/// # Safety
///
/// `lock` is NULL (a bug check) or a lock from `NdisAllocateRWLock`, not used afterwards.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisFreeRWLock(lock: *mut NdisRwLockEx) {
    // SAFETY: the caller's contract.
    unsafe { free(lock) }
}

/// `NdisAcquireRWLockRead`.
///
/// # Safety
///
/// `lock` is NULL or a lock from `NdisAllocateRWLock`; `lock_state` is NULL or points to a
/// writable `LOCK_STATE_EX`.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisAcquireRWLockRead(
    lock: *mut NdisRwLockEx,
    lock_state: *mut LockStateEx,
    flags: u8,
) {
    // SAFETY: the caller's contract.
    unsafe { acquire_read(lock, lock_state, flags) }
}

/// `NdisAcquireRWLockWrite`.
///
/// # Safety
///
/// As [`NdisAcquireRWLockRead`].
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisAcquireRWLockWrite(
    lock: *mut NdisRwLockEx,
    lock_state: *mut LockStateEx,
    flags: u8,
) {
    // SAFETY: the caller's contract.
    unsafe { acquire_write(lock, lock_state, flags) }
}

/// `NdisReleaseRWLock`. IRQL == DISPATCH_LEVEL.
///
/// # Safety
///
/// `lock` is NULL or a lock from `NdisAllocateRWLock`; `lock_state` is NULL or the state an
/// acquire of this lock filled.
#[cfg_attr(any(not(windows), feature = "driver"), unsafe(no_mangle))]
#[allow(non_snake_case, reason = "the NDIS name, also when it is not exported")]
pub unsafe extern "system" fn NdisReleaseRWLock(
    lock: *mut NdisRwLockEx,
    lock_state: *mut LockStateEx,
) {
    // SAFETY: the caller's contract.
    unsafe { release(lock, lock_state) }
}
