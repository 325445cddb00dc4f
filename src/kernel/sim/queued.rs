//! In-stack queued spin locks (`KLOCK_QUEUE_HANDLE`), ntoskrnl routines that C code compiled
//! against include/km calls: `KeAcquireInStackQueuedSpinLock`,
//! `KeReleaseInStackQueuedSpinLock` and the `AtDpcLevel` / `FromDpcLevel` pair.
//!
//! The lock is an ordinary `KSPIN_LOCK`, taken the way the simulated kernel takes every spin
//! lock (the queue's FIFO hand-over is not modelled: waiters spin on the word). The handle on
//! the caller's stack records the lock, the saved IRQL and, in `LockQueue.Next`, which the
//! simulation does not need as a queue link, the acquiring processor + 1; the release checks
//! it all before it releases or lowers anything:
//!
//! - an acquire above `DISPATCH_LEVEL`: 0xC4/0x42; the `AtDpcLevel` acquire below it: 0xC4/0x40;
//! - a release at an IRQL other than `DISPATCH_LEVEL`: 0xC4/0x32 (the `FromDpcLevel` release
//!   below it: 0xC4/0x41);
//! - a release with a handle that holds nothing (never acquired, or released already): 0x10
//!   `SPIN_LOCK_NOT_OWNED` with P1 0; of a lock another thread holds: 0x10 with the lock;
//! - a release on a processor other than the acquiring one: `NDIS_RWLOCK_VIOLATION` /
//!   `RELEASE_ON_OTHER_PROCESSOR`;
//! - a NULL handle: `NDIS_RWLOCK_VIOLATION` / `NULL_LOCK_STATE`.

use crate::bugcheck::{self, rw, verifier};
use crate::kernel::{DISPATCH_LEVEL, Irql, KSpinLock, Kernel};
use crate::sim::Sim;
use crate::sim::exports::spin_lock;

/// `KLOCK_QUEUE_HANDLE`: `KSPIN_LOCK_QUEUE { Next; Lock; }` and `OldIrql`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KLockQueueHandle {
    /// `LockQueue.Next`: here the acquiring processor + 1 while held.
    pub next: usize,
    /// `LockQueue.Lock`: the lock held, NULL when none.
    pub lock: *mut usize,
    /// `OldIrql`.
    pub old_irql: Irql,
}

/// Which acquire or release: the `AtDpcLevel` / `FromDpcLevel` forms stay at
/// `DISPATCH_LEVEL`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Raising,
    AtDpc,
}

fn stop_c4(subcode: usize, irql: Irql, lock: usize) -> ! {
    Sim::bug_check(
        bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [subcode, usize::from(irql), lock, 0],
    )
}

/// # Safety
///
/// `lock` is NULL or misaligned (a bug check) or points to an initialised `KSPIN_LOCK`;
/// `handle` is NULL (a bug check) or points to a writable `KLOCK_QUEUE_HANDLE`.
unsafe fn acquire(lock: *mut usize, handle: *mut KLockQueueHandle, form: Form) {
    // SAFETY: the caller's contract.
    let spin: &KSpinLock = unsafe { spin_lock(lock) };
    if handle.is_null() {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [rw::NULL_LOCK_STATE, lock as usize, 0, 0],
        );
    }
    let irql = Sim::current_irql();
    let old = match form {
        Form::Raising => {
            if irql > DISPATCH_LEVEL {
                stop_c4(
                    verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH,
                    irql,
                    lock as usize,
                );
            }
            // SAFETY: raising to DISPATCH_LEVEL from at most DISPATCH_LEVEL.
            unsafe { Sim::raise_irql(DISPATCH_LEVEL) }
        }
        Form::AtDpc => {
            if irql < DISPATCH_LEVEL {
                stop_c4(verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH, irql, lock as usize);
            }
            DISPATCH_LEVEL
        }
    };
    Sim::acquire_spin_lock_at_dpc(spin);
    let record = KLockQueueHandle {
        next: Sim::current_processor() as usize + 1,
        lock,
        old_irql: old,
    };
    // SAFETY: non-null (checked), writable by the caller's contract.
    unsafe { handle.write(record) };
}

/// # Safety
///
/// `handle` is NULL (a bug check) or points to a `KLOCK_QUEUE_HANDLE` that an acquire filled
/// (its lock, if not NULL, still a live `KSPIN_LOCK`).
unsafe fn release(handle: *mut KLockQueueHandle, form: Form) {
    if handle.is_null() {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [rw::NULL_LOCK_STATE, 0, 0, 0],
        );
    }
    // SAFETY: non-null (checked), readable by the caller's contract.
    let record = unsafe { handle.read() };
    if record.lock.is_null() {
        Sim::bug_check(bugcheck::SPIN_LOCK_NOT_OWNED, [0, 0, handle as usize, 0]);
    }
    let place = Sim::current_place();
    let irql = place.irql();
    if irql != DISPATCH_LEVEL {
        let subcode = if form == Form::AtDpc && irql < DISPATCH_LEVEL {
            verifier::RELEASE_FROM_DPC_BELOW_DISPATCH
        } else {
            verifier::RELEASE_SPIN_LOCK_BAD_IRQL
        };
        stop_c4(subcode, irql, record.lock as usize);
    }
    if record.next != place.processor() as usize + 1 {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [
                rw::RELEASE_ON_OTHER_PROCESSOR,
                place.processor() as usize,
                record.lock as usize,
                record.next.wrapping_sub(1),
            ],
        );
    }
    // SAFETY: the handle records a live lock (the caller's contract).
    let spin = unsafe { spin_lock(record.lock) };
    // SAFETY: at DISPATCH_LEVEL (checked); a release of a lock this thread does not hold stops
    // inside with 0x10.
    unsafe { Sim::release_spin_lock_from_dpc(spin) };
    let released = KLockQueueHandle {
        next: 0,
        lock: core::ptr::null_mut(),
        ..record
    };
    // SAFETY: non-null (checked), writable by the caller's contract.
    unsafe { handle.write(released) };
    if form == Form::Raising {
        // SAFETY: the lock is released; `old_irql` is what the acquire raised from (a garbage
        // value above DISPATCH_LEVEL stops with 0xC4/0x31 inside).
        unsafe { Sim::lower_irql(record.old_irql) };
    }
}

/// `KeAcquireInStackQueuedSpinLock`: raises to `DISPATCH_LEVEL` and takes `lock`, recording
/// the acquisition in `handle`. `IRQL <= DISPATCH_LEVEL`.
///
/// # Safety
///
/// `lock` is NULL or misaligned (a bug check) or points to an initialised `KSPIN_LOCK`;
/// `handle` is NULL (a bug check) or points to a writable `KLOCK_QUEUE_HANDLE`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeAcquireInStackQueuedSpinLock(
    lock: *mut usize,
    handle: *mut KLockQueueHandle,
) {
    // SAFETY: the caller's contract.
    unsafe { acquire(lock, handle, Form::Raising) }
}

/// `KeAcquireInStackQueuedSpinLockAtDpcLevel`: takes `lock` at `DISPATCH_LEVEL`.
///
/// # Safety
///
/// As [`KeAcquireInStackQueuedSpinLock`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeAcquireInStackQueuedSpinLockAtDpcLevel(
    lock: *mut usize,
    handle: *mut KLockQueueHandle,
) {
    // SAFETY: the caller's contract.
    unsafe { acquire(lock, handle, Form::AtDpc) }
}

/// `KeReleaseInStackQueuedSpinLock`: releases the lock `handle` records and lowers to its
/// saved IRQL. `IRQL == DISPATCH_LEVEL`, on the acquiring processor.
///
/// # Safety
///
/// `handle` is NULL (a bug check) or points to a `KLOCK_QUEUE_HANDLE` that an acquire filled.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeReleaseInStackQueuedSpinLock(handle: *mut KLockQueueHandle) {
    // SAFETY: the caller's contract.
    unsafe { release(handle, Form::Raising) }
}

/// `KeReleaseInStackQueuedSpinLockFromDpcLevel`: releases and stays at `DISPATCH_LEVEL`.
///
/// # Safety
///
/// As [`KeReleaseInStackQueuedSpinLock`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeReleaseInStackQueuedSpinLockFromDpcLevel(
    handle: *mut KLockQueueHandle,
) {
    // SAFETY: the caller's contract.
    unsafe { release(handle, Form::AtDpc) }
}
