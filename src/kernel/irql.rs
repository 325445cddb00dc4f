//! The safe IRQL layer: [`DispatchGuard`], the [`AtDispatch`] proof, and the per-processor
//! count of guards that every safe guard of the crate (lock guards included) goes through.
//!
//! # Why a count
//!
//! Guards can be dropped in any order, and safe code may leak them. A guard that raised from
//! `PASSIVE_LEVEL` and lowered back when dropped would, dropped before a guard taken after it,
//! leave that later guard holding a per-processor read (or an `AtDispatch` token) below
//! `DISPATCH_LEVEL`: the thread could be preempted or moved, and another thread of the
//! processor would then find the processor's reader count in use. So no guard lowers on its
//! own. Every guard counts itself on its processor when it is made (the *guard word*, kept by
//! the kernel: [`Kernel::guard_word`]); the first one records the IRQL the processor came
//! from, and only the last one dropped lowers, to that IRQL. Whatever the drop order, the
//! processor stays at `DISPATCH_LEVEL` while any guard lives, and returns to where it started
//! when none is left. A leaked guard keeps it there (the thread never lowers again: on
//! Windows the kernel stops the machine when the thread returns raised; the simulated kernel
//! stops it when the thread exits).
//!
//! # Invariants
//!
//! - The guard word of processor `p` is `depth << BASE_BITS | base`: `depth` live guards run
//!   on `p` (all of one thread, which owns `p` at `DISPATCH_LEVEL`), and `base` is the IRQL
//!   the thread had before the first of them.
//! - While `depth > 0`, `p` runs at `DISPATCH_LEVEL`: safe code cannot lower it, and a guard
//!   that finds it lowered by C or unsafe code stops the machine.

use core::marker::PhantomData;

use super::{DISPATCH_LEVEL, Irql, Kernel, Place};
use crate::bugcheck::{self, rw, verifier};

/// Bits of the guard word that hold the base IRQL.
const BASE_BITS: u32 = 8;
/// One guard in the guard word.
const ONE_GUARD: usize = 1 << BASE_BITS;
/// The base IRQL part of the guard word.
const BASE_MASK: usize = ONE_GUARD - 1;

#[cold]
#[inline(never)]
fn stop<K: Kernel>(subcode: usize, p2: usize, p3: usize, p4: usize) -> ! {
    K::bug_check(bugcheck::NDIS_RWLOCK_VIOLATION, [subcode, p2, p3, p4])
}

/// Brings the thread to `DISPATCH_LEVEL` for a new guard and counts the guard on its
/// processor. Returns the place of the guard (`DISPATCH_LEVEL`, the processor).
///
/// With `at_dispatch` the caller claims to be at `DISPATCH_LEVEL` already (a `*_at_dispatch`
/// acquisition): the IRQL is read and checked, never trusted, as the C routines check
/// `NDIS_RWL_AT_DISPATCH_LEVEL`. Without it the caller must be at `IRQL <= DISPATCH_LEVEL`.
/// `address` is the lock's, for the bug-check parameters (0 for a [`DispatchGuard`]).
#[inline]
pub(crate) fn hold<K: Kernel>(at_dispatch: bool, address: usize) -> Place {
    let irql = K::current_irql();
    if irql != DISPATCH_LEVEL {
        if at_dispatch || irql > DISPATCH_LEVEL {
            entry_irql_violation::<K>(at_dispatch, irql, address);
        }
        // SAFETY: raising to DISPATCH_LEVEL from below it.
        unsafe { K::raise_irql(DISPATCH_LEVEL) };
    }
    let me = K::current_processor();
    let word = K::guard_word(me);
    let new = if word == 0 {
        ONE_GUARD | usize::from(irql)
    } else if irql < DISPATCH_LEVEL {
        // Guards of this processor are alive, yet the thread was below DISPATCH_LEVEL: C or
        // unsafe code lowered under them.
        stop::<K>(
            rw::IRQL_LOWERED_UNDER_GUARD,
            usize::from(irql),
            me as usize,
            word,
        )
    } else if word > usize::MAX - ONE_GUARD {
        stop::<K>(rw::GUARD_COUNT_OVERFLOW, me as usize, word, address)
    } else {
        word + ONE_GUARD
    };
    // SAFETY: at DISPATCH_LEVEL on `me`; the word counts one more guard.
    unsafe { K::set_guard_word(me, new) };
    Place::new(DISPATCH_LEVEL, me)
}

#[cold]
#[inline(never)]
fn entry_irql_violation<K: Kernel>(at_dispatch: bool, irql: Irql, address: usize) -> ! {
    if address == 0 {
        // DispatchGuard::raise above DISPATCH_LEVEL: KfRaiseIrql would lower.
        K::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::RAISE_TO_LOWER,
                usize::from(irql),
                usize::from(DISPATCH_LEVEL),
                0,
            ],
        );
    }
    let subcode = if at_dispatch && irql < DISPATCH_LEVEL {
        rw::AT_DISPATCH_FLAG_BELOW_DISPATCH
    } else {
        rw::ACQUIRE_ABOVE_DISPATCH
    };
    stop::<K>(subcode, usize::from(irql), address, 0)
}

/// Uncounts a guard of processor `processor` whose acquisition is released (or was never
/// taken); the last guard of the processor lowers to the IRQL the first one came from.
///
/// # Safety
///
/// The caller runs on `processor` at `DISPATCH_LEVEL`, and pairs this with the [`hold`] that
/// counted the guard; nothing the guard held is still held.
#[inline]
pub(crate) unsafe fn unhold<K: Kernel>(processor: u32) {
    let word = K::guard_word(processor);
    if word >= 2 * ONE_GUARD {
        // SAFETY: the caller's contract; other guards remain.
        unsafe { K::set_guard_word(processor, word - ONE_GUARD) };
        return;
    }
    // SAFETY: the caller's contract; this was the last guard.
    unsafe { K::set_guard_word(processor, 0) };
    // The base is an IRQL (at most DISPATCH_LEVEL: `hold` never records more).
    let base = (word & BASE_MASK) as Irql;
    if base < DISPATCH_LEVEL {
        // SAFETY: no guard of this processor is left, so nothing relies on DISPATCH_LEVEL;
        // `base` is at most the current IRQL.
        unsafe { K::lower_irql(base) };
    }
}

/// Checks, before a guard releases what it holds, that its thread still runs where the guard
/// was made: at `DISPATCH_LEVEL`, on `place`'s processor. While a guard lives safe code cannot
/// change either (see the module docs); C or unsafe code can, and that is a bug check, never
/// a release on the wrong processor.
#[inline]
pub(crate) fn check_place<K: Kernel>(place: Place, address: usize) {
    let now = K::current_place();
    if now != place {
        misplaced::<K>(now, place, address);
    }
}

/// Whether a guard that is not where it was made should release nothing: the machine
/// stopped, and the thread is unwinding from the bug check ([`Kernel::stopping`]), or a stop
/// was caught since the guard was made, which reset the thread and its guard word to zero.
/// (Only the simulated kernel lets a thread go on after a stop. On Windows, a processor that
/// has a live guard always has a guard word above zero.)
#[cold]
pub(crate) fn guard_is_void<K: Kernel>(place: Place) -> bool {
    K::stopping() || K::guard_word(place.processor()) == 0
}

#[cold]
#[inline(never)]
fn misplaced<K: Kernel>(now: Place, place: Place, address: usize) -> ! {
    if now.irql() != DISPATCH_LEVEL {
        stop::<K>(
            rw::RELEASE_NOT_AT_DISPATCH,
            usize::from(now.irql()),
            address,
            0,
        );
    }
    stop::<K>(
        rw::RELEASE_ON_OTHER_PROCESSOR,
        now.processor() as usize,
        address,
        place.processor() as usize,
    )
}

/// Proof that the current thread runs at `DISPATCH_LEVEL`.
///
/// Obtained from [`DispatchGuard::token`] (or, unsafely, from [`AtDispatch::assume`]); the
/// locks' `*_at_dispatch` methods take `&AtDispatch` to skip their own raise. They still read
/// the IRQL once and stop the machine if it is not `DISPATCH_LEVEL`, as the C routines do for
/// `NDIS_RWL_AT_DISPATCH_LEVEL`: the token documents intent, the check keeps it honest. Not
/// `Send`: IRQL belongs to the processor the thread runs on.
#[derive(Debug)]
pub struct AtDispatch<K: Kernel = crate::kernel::DefaultKernel> {
    _not_send: PhantomData<*const K>,
}

impl<K: Kernel> AtDispatch<K> {
    /// A token for code that knows it already runs at `DISPATCH_LEVEL` (a DPC routine, say).
    ///
    /// # Safety
    ///
    /// The current thread runs at exactly `DISPATCH_LEVEL` and stays there while the token (or
    /// anything borrowed from it) lives.
    pub unsafe fn assume() -> Self {
        Self {
            _not_send: PhantomData,
        }
    }
}

/// Keeps the current processor at `DISPATCH_LEVEL` while it lives.
///
/// # Rules
///
/// - [`raise`](Self::raise) runs at `IRQL <= DISPATCH_LEVEL`; above it, where `KfRaiseIrql`
///   would *lower*, it stops the machine (0xC4/0x30) instead.
/// - Drop order does not matter. `DispatchGuard`s and the crate's lock guards count
///   themselves on their processor; only the last one dropped lowers the IRQL, to what it was
///   before the first (module docs of `src/kernel/irql.rs`). So the token of a live guard is
///   always true, and no lock guard is ever left below `DISPATCH_LEVEL`.
/// - Leaking a guard (`mem::forget`) is safe: the thread stays at `DISPATCH_LEVEL`.
/// - Not `Send`: the IRQL belongs to the processor that raised it.
#[must_use = "dropping the guard lowers the IRQL again at once"]
#[derive(Debug)]
pub struct DispatchGuard<K: Kernel = crate::kernel::DefaultKernel> {
    place: Place,
    old: Irql,
    token: AtDispatch<K>,
}

impl<K: Kernel> DispatchGuard<K> {
    /// `KfRaiseIrql(DISPATCH_LEVEL)`, counted (see the type's rules).
    #[inline]
    pub fn raise() -> Self {
        let old = K::current_irql();
        let place = hold::<K>(false, 0);
        Self {
            place,
            old,
            // SAFETY: `hold` brought us to DISPATCH_LEVEL, and the count keeps us there until
            // this guard, which the token borrows from, is dropped.
            token: unsafe { AtDispatch::assume() },
        }
    }

    /// The IRQL the thread had when this guard raised. The thread returns to it when the last
    /// guard of its processor is dropped, which need not be this one.
    pub fn old_irql(&self) -> Irql {
        self.old
    }

    /// The proof of `DISPATCH_LEVEL`, valid while the guard lives.
    pub fn token(&self) -> &AtDispatch<K> {
        &self.token
    }
}

impl<K: Kernel> Drop for DispatchGuard<K> {
    #[inline]
    fn drop(&mut self) {
        if K::current_place() != self.place && guard_is_void::<K>(self.place) {
            return;
        }
        check_place::<K>(self.place, 0);
        // SAFETY: at DISPATCH_LEVEL on the guard's processor (checked); it holds nothing else.
        unsafe { unhold::<K>(self.place.processor()) };
    }
}
