//! `LOCK_STATE`, the legacy lock's per-acquisition state, and the acquire and release calls
//! that fill and check it (what the C exports in `crate::ffi::legacy` translate to).
//!
//! # Encoding
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

use super::{Hold, NdisRwLock, has_slot};
use crate::algorithm::violation;
use crate::algorithm::{self, Entry};
use crate::bugcheck::rw;
use crate::kernel::{DISPATCH_LEVEL, Irql, Kernel};

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

pub(super) const KIND_MASK: u16 = 0xF000;
const DPR: u16 = 0x0800;
const LOCK_SHIFT: u32 = 6;
const LOCK_MASK: u16 = 0x1F << LOCK_SHIFT;
const PROCESSOR_MASK: u16 = 0x3F;

/// Reasons in P4 of a `BAD_LOCK_STATE` bug check of this lock.
pub(super) mod reason {
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

#[inline]
fn lock_bits(address: usize) -> u16 {
    // < 31, so it fits the five bits.
    (((address >> 3) % 31) as u16) << LOCK_SHIFT
}

#[inline]
fn processor_bits(processor: u32) -> u16 {
    (processor & u32::from(PROCESSOR_MASK)) as u16
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
    let entry = algorithm::enter::<K>(dpr, lock.address_of());
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
        hold.bits() | if dpr { DPR } else { 0 } | lock_bits(lock.address_of()) | processor_bits(me);
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
    } else if value & LOCK_MASK != lock_bits(lock.address_of()) {
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
            lock.address_of(),
            bad.unwrap_or(reason::NOT_A_KIND),
        ),
    };
    if state_dpr != dpr {
        let subcode = if state_dpr {
            rw::LEGACY_DPR_STATE_RELEASED_BY_NON_DPR
        } else {
            rw::LEGACY_NON_DPR_STATE_RELEASED_BY_DPR
        };
        violation::<K>(subcode, packed, lock.address_of(), 0);
    }
    algorithm::check_release_irql::<K>(lock.address_of());
    let me = K::current_processor();
    if processor_bits(me) != value & PROCESSOR_MASK || hold.without_slot() == has_slot(me) {
        violation::<K>(
            rw::RELEASE_ON_OTHER_PROCESSOR,
            me as usize,
            lock.address_of(),
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
        unsafe { algorithm::leave::<K>(Entry::Raised(old_irql)) };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::legacy::NDIS_RW_LOCK_SIZE;

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
