//! `LOCK_STATE_EX`, the per-acquisition state of an `NDIS_RW_LOCK_EX`, and the acquire and
//! release calls over raw pointers that fill and check it (what `NdisAcquireRWLockRead`,
//! `NdisAcquireRWLockWrite`, `NdisReleaseRWLock` and `NdisFreeRWLock` in [`crate::ffi`]
//! translate to).
//!
//! # Encoding
//!
//! Three bytes on the caller's stack, alignment 1; nothing else is ever written.
//! - `OldIrql`: the IRQL to restore on release.
//! - `LockState`: the kind of acquisition in the high nibble (read, write, recursive write;
//!   0 once released) and the lock's 4-bit identity in the low nibble (see the parent
//!   module), so that a release with a state that is not a live acquisition of this lock is
//!   caught.
//! - `Flags`: bit 0 is the caller's `NDIS_RWL_AT_DISPATCH_LEVEL`; bits 1-7 hold the low seven
//!   bits of the acquiring processor's index, so that most releases on another processor are
//!   caught even for read acquisitions.

use core::ptr::NonNull;

use super::NdisRwLockEx;
use crate::algorithm::{self, Entry, Kind, RwStorage, violation};
use crate::bugcheck::rw;
use crate::kernel::{DISPATCH_LEVEL, Kernel};
use crate::sync::Ordering;

/// `NDIS_RWL_AT_DISPATCH_LEVEL`: the caller is already at `DISPATCH_LEVEL`.
pub const NDIS_RWL_AT_DISPATCH_LEVEL: u8 = 1;

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

/// Reads a `LOCK_STATE_EX` one byte at a time.
///
/// The acquire wrote its three fields as three byte stores (and C code that copies or fills
/// a state may do the same): a wider load spanning two of them cannot be forwarded from the
/// store buffer, and stalls the release until the stores reach the cache (about 12 cycles on
/// x86-64, a third of an uncontended read pair). Byte loads forward from byte stores; they are
/// volatile so that the compiler keeps them as three.
///
/// # Safety
///
/// `state` is non-null and points to three readable bytes.
#[inline(always)]
unsafe fn read_state(state: *const LockStateEx) -> LockStateEx {
    let byte = |offset: usize| {
        let field = state.cast::<u8>().wrapping_add(offset);
        // SAFETY: the caller's contract: `offset` is that of one of the three bytes.
        unsafe { field.read_volatile() }
    };
    LockStateEx {
        old_irql: byte(core::mem::offset_of!(LockStateEx, old_irql)),
        lock_state: byte(core::mem::offset_of!(LockStateEx, lock_state)),
        flags: byte(core::mem::offset_of!(LockStateEx, flags)),
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
    let entry = algorithm::enter::<K>(checked_flags(flags, lock), lock.address());
    let me = K::current_processor();
    // SAFETY: `enter` brought us to DISPATCH_LEVEL; the release lowers only after the
    // matching release_read.
    if let Err(seen) = unsafe { algorithm::acquire_read_fast::<K, _>(lock, me) } {
        // SAFETY: as above; the fast path raised our count by one; `state` is non-null.
        return unsafe { acquire_read_contended(lock, state, flags, entry, me, seen) };
    }
    let value = record(entry, STATE_READ, lock.id_bits(), flags, me);
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
    unsafe { algorithm::acquire_read_contended::<K, _>(lock, me, writer, held, false) };
    let value = record(entry, STATE_READ, lock.id_bits(), flags, me);
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
    let entry = algorithm::enter::<K>(checked_flags(flags, lock), lock.address());
    let me = K::current_processor();
    // SAFETY: at DISPATCH_LEVEL until the matching release.
    let kind = unsafe { algorithm::acquire_write::<K, _>(lock, me, false) };
    let kind = match kind {
        Some(Kind::RecursiveWrite) => STATE_RECURSIVE_WRITE,
        _ => STATE_WRITE,
    };
    let value = record(entry, kind, lock.id_bits(), flags, me);
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
    let value = unsafe { read_state(state) };
    let place = K::current_place();
    let me = place.processor();
    // The common case, a live read released where it was taken, with every check
    // `release_any` makes for it folded into one test; anything else takes the general path,
    // which reports what is wrong. The IRQL is tested before the processor is used: below
    // DISPATCH_LEVEL it may be a placeholder (a thread the kernel has not seen yet).
    if value.lock_state != STATE_READ | lock.id_bits()
        || value.old_irql > DISPATCH_LEVEL
        || place.irql() != DISPATCH_LEVEL
        || (me & 0x7F) as u8 != value.flags >> 1
    {
        // SAFETY: the caller's contract; `state` holds `value`.
        return unsafe { release_any(lock, state, value) };
    }
    let count = algorithm::counter::<K, _>(lock, me);
    if count.load(Ordering::Relaxed) == 0 {
        // SAFETY: the caller's contract; `state` holds `value`.
        return unsafe { release_any(lock, state, value) };
    }
    // SAFETY: this processor holds a read acquisition (its count is not 0), as the state says.
    unsafe { algorithm::release_read_count::<K>(count, me, lock.address()) };
    let lock_state = state
        .cast::<u8>()
        .wrapping_add(core::mem::offset_of!(LockStateEx, lock_state));
    // SAFETY: `state` is non-null (checked) and writable; only `LockState` changes.
    unsafe { lock_state.write(0) };
    if value.flags & NDIS_RWL_AT_DISPATCH_LEVEL == 0 {
        // SAFETY: the acquisition is released; `old_irql` was checked to be <= DISPATCH_LEVEL.
        unsafe { algorithm::leave::<K>(Entry::Raised(value.old_irql)) };
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
    if value.lock_state & !STATE_KIND_MASK != lock.id_bits()
        || !matches!(kind, STATE_READ | STATE_WRITE | STATE_RECURSIVE_WRITE)
        || value.old_irql > DISPATCH_LEVEL
    {
        violation::<K>(rw::BAD_LOCK_STATE, bytes, lock.address(), 0);
    }
    algorithm::check_release_irql::<K>(lock.address());
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
    if !algorithm::holds::<K, _>(lock, me, held) {
        violation::<K>(rw::BAD_LOCK_STATE, bytes, lock.address(), 0);
    }
    match kind {
        // SAFETY: the state says this processor holds a read acquisition; release_read
        // bug-checks if its count says otherwise.
        STATE_READ => unsafe { algorithm::release_read::<K, _>(lock, me) },
        // SAFETY: release_write checks that this processor owns the lock at that depth.
        STATE_WRITE => unsafe { algorithm::release_write::<K, _>(lock, me, Kind::Write) },
        // SAFETY: as above.
        _ => unsafe { algorithm::release_write::<K, _>(lock, me, Kind::RecursiveWrite) },
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
    unsafe { algorithm::leave::<K>(entry) };
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
