//! Safe code cannot break the locks: one regression test per hole that safe (or C-ABI) code
//! could reach before the guard layer counted its guards. Each names the hole it closes.
//!
//! The machine has 64 processors, so an `NDIS_RW_LOCK_EX` takes more than a page of pool and
//! its block is page-aligned, as on Windows.

use std::process::Command;

use ndis_rwlock::bugcheck::{
    DRIVER_VERIFIER_DETECTED_VIOLATION, NDIS_RWLOCK_VIOLATION, rw, verifier,
};
use ndis_rwlock::kernel::{
    AtDispatch, DISPATCH_LEVEL, DispatchGuard, ExPushLock, HIGH_LEVEL, Irql, KSpinLock, Kernel,
    PASSIVE_LEVEL,
};
use ndis_rwlock::sim::{self, BugCheck, Sim, expect_bug_check};
use ndis_rwlock::storage::ex::{self, LockStateEx};
use ndis_rwlock::storage::legacy::{NDIS_RW_LOCK_SIZE, NdisRwLock};
use ndis_rwlock::{CriticalRegion, LegacyRwLock, PushLock, RwLockEx};

const PROCESSORS: u32 = 64;

fn boot() {
    sim::boot(PROCESSORS);
}

fn irql() -> Irql {
    Sim::current_irql()
}

fn assert_ndrl(stop: BugCheck, subcode: usize) {
    assert_eq!(stop.code, NDIS_RWLOCK_VIOLATION, "{stop}");
    assert_eq!(stop.params[0], subcode, "{stop}");
}

#[test]
fn stale_at_dispatch_token_a_read_guard_dropped_under_a_dispatch_guard_keeps_the_irql() {
    boot();
    let lock = RwLockEx::new(0u64).unwrap();
    let other = RwLockEx::new(0u64).unwrap();
    let read = lock.read();
    let dispatch = DispatchGuard::<Sim>::raise();
    drop(read);
    // The token of the live DispatchGuard must still be true.
    assert_eq!(irql(), DISPATCH_LEVEL);
    {
        let guard = other.read_at_dispatch(dispatch.token());
        assert_eq!(*guard, 0);
    }
    assert_eq!(irql(), DISPATCH_LEVEL);
    drop(dispatch);
    assert_eq!(irql(), PASSIVE_LEVEL);
}

#[test]
fn stale_at_dispatch_token_dispatch_guards_dropped_out_of_order() {
    boot();
    let first = DispatchGuard::<Sim>::raise();
    let second = DispatchGuard::<Sim>::raise();
    drop(first);
    assert_eq!(
        irql(),
        DISPATCH_LEVEL,
        "the second guard's token must stay true"
    );
    drop(second);
    assert_eq!(irql(), PASSIVE_LEVEL);
}

#[test]
fn stale_at_dispatch_token_at_dispatch_acquisitions_check_the_irql() {
    boot();
    let lock = RwLockEx::new(0u64).unwrap();
    let legacy = LegacyRwLock::new(0u64);
    // A token that lies (only unsafe code can make one): the acquisition reads the IRQL.
    // SAFETY: deliberately false, to show the check; nothing is acquired.
    let token = unsafe { AtDispatch::<Sim>::assume() };
    for stop in [
        expect_bug_check(|| drop(lock.read_at_dispatch(&token))),
        expect_bug_check(|| drop(lock.write_at_dispatch(&token))),
        expect_bug_check(|| drop(legacy.read_at_dispatch(&token))),
        expect_bug_check(|| drop(legacy.write_at_dispatch(&token))),
    ] {
        assert_ndrl(stop, rw::AT_DISPATCH_FLAG_BELOW_DISPATCH);
        assert_eq!(stop.params[1], usize::from(PASSIVE_LEVEL));
    }
    assert_eq!(lock.diagnostics().readers, 0);
    assert!(lock.try_write().is_some());
}

#[test]
fn read_guard_left_below_dispatch_cannot_happen_whatever_the_drop_order() {
    boot();
    let lock = LegacyRwLock::new(7u64);
    let first = DispatchGuard::<Sim>::raise();
    let read = lock.read();
    let processor = read.processor();
    drop(first);
    // The read holds a per-processor count: the processor must stay owned.
    assert_eq!(irql(), DISPATCH_LEVEL);
    assert_eq!(Sim::current_processor(), processor);
    assert_eq!(
        sim::processor_owner(processor),
        Some(sim::thread_identity())
    );
    let again = DispatchGuard::<Sim>::raise();
    drop(read);
    drop(again);
    assert_eq!(irql(), PASSIVE_LEVEL);
    assert_eq!(lock.diagnostics().readers, 0);
}

#[test]
fn guards_of_two_locks_dropped_in_acquisition_order_restore_passive_level() {
    boot();
    let a = RwLockEx::new(1u32).unwrap();
    let b = LegacyRwLock::new(2u32);
    let ra = a.read();
    let wb = b.write();
    drop(ra);
    assert_eq!(irql(), DISPATCH_LEVEL);
    drop(wb);
    assert_eq!(irql(), PASSIVE_LEVEL);
    assert_eq!(a.diagnostics().readers, 0);
    assert_eq!(b.diagnostics().writer, None);
}

/// The reader count of processor `processor` inside a legacy lock (ndis.h layout: 16-byte
/// `RefCount` slots from offset 16).
fn legacy_count(lock: &LegacyRwLock<u64>, processor: u32) -> *mut u32 {
    lock.as_raw()
        .cast::<u8>()
        .wrapping_add(16 + 16 * processor as usize)
        .cast()
}

#[test]
fn counter_overflow_a_full_reader_count_stops_instead_of_wrapping() {
    boot();
    let lock = LegacyRwLock::new(0u64);
    sim::run_on(3, || {
        // 2^32 - 1 leaked read guards on processor 3, written in one go.
        // SAFETY: the slot of processor 3 is inside the lock and no thread uses it now.
        unsafe { legacy_count(&lock, 3).write(u32::MAX) };
        let stop = expect_bug_check(|| std::mem::forget(lock.read()));
        assert_ndrl(stop, rw::COUNT_OVERFLOW);
        assert_eq!(stop.params[2], 3);
        // The count did not wrap: a writer still waits for the readers.
        // SAFETY: as above.
        assert_eq!(unsafe { legacy_count(&lock, 3).read() }, u32::MAX);
        // SAFETY: as above; put the lock back to released for the drop.
        unsafe { legacy_count(&lock, 3).write(0) };
    });
    assert_eq!(irql(), PASSIVE_LEVEL);
}

#[test]
fn counter_overflow_a_full_write_depth_stops_instead_of_wrapping() {
    boot();
    let lock = Box::new(NdisRwLock::<Sim>::new());
    let raw = std::ptr::from_ref(&*lock).cast_mut();
    sim::run_on(5, || {
        let _dispatch = DispatchGuard::<Sim>::raise();
        let mut outer = ndis_rwlock::storage::legacy::LockState::default();
        // SAFETY: a live lock and state.
        unsafe { ndis_rwlock::storage::legacy::dpr_acquire(raw, true, &mut outer) };
        // The writer word (`Context`, after the spin lock): processor 5 owns it at the largest
        // recursion depth the word holds.
        let context = raw.cast::<usize>().wrapping_add(1);
        let half = usize::BITS / 2;
        // SAFETY: `Context` is inside the lock; only this processor, its owner, touches it.
        unsafe { context.write((usize::MAX >> half << half) | 6) };
        let mut inner = ndis_rwlock::storage::legacy::LockState::default();
        let stop = expect_bug_check(|| {
            // SAFETY: a live lock and state.
            unsafe { ndis_rwlock::storage::legacy::dpr_acquire(raw, true, &mut inner) }
        });
        assert_ndrl(stop, rw::COUNT_OVERFLOW);
        assert_eq!(stop.params[3], 1);
    });
    // The stop reset the thread; the lock stays as the stop found it, so it is leaked.
    std::mem::forget(lock);
}

/// A kernel with the routines of the simulated one, except that `KfRaiseIrql` behaves as on
/// Windows without Driver Verifier: raising to a lower IRQL lowers it, silently.
struct NoVerifier;

// SAFETY: the simulated kernel's routines, unchanged but for `raise_irql` (whose contract is
// the caller's: the safe code under test must never call it to lower).
unsafe impl Kernel for NoVerifier {
    fn current_irql() -> Irql {
        Sim::current_irql()
    }
    unsafe fn raise_irql(new: Irql) -> Irql {
        let old = Sim::current_irql();
        if new < old {
            // SAFETY: lowering, which is what KfRaiseIrql does here without the verifier.
            unsafe { Sim::lower_irql(new) };
        } else {
            // SAFETY: a real raise.
            unsafe { Sim::raise_irql(new) };
        }
        old
    }
    unsafe fn lower_irql(new: Irql) {
        // SAFETY: the caller's contract.
        unsafe { Sim::lower_irql(new) }
    }
    fn current_processor() -> u32 {
        Sim::current_processor()
    }
    fn guard_word(processor: u32) -> usize {
        Sim::guard_word(processor)
    }
    unsafe fn set_guard_word(processor: u32, word: usize) {
        // SAFETY: the caller's contract.
        unsafe { Sim::set_guard_word(processor, word) }
    }
    fn max_processors() -> u32 {
        Sim::max_processors()
    }
    fn initialize_spin_lock(lock: &KSpinLock) {
        Sim::initialize_spin_lock(lock)
    }
    fn acquire_spin_lock(lock: &KSpinLock) -> Irql {
        Sim::acquire_spin_lock(lock)
    }
    unsafe fn release_spin_lock(lock: &KSpinLock, old: Irql) {
        // SAFETY: the caller's contract.
        unsafe { Sim::release_spin_lock(lock, old) }
    }
    fn acquire_spin_lock_at_dpc(lock: &KSpinLock) {
        Sim::acquire_spin_lock_at_dpc(lock)
    }
    fn try_acquire_spin_lock_at_dpc(lock: &KSpinLock) -> bool {
        Sim::try_acquire_spin_lock_at_dpc(lock)
    }
    unsafe fn release_spin_lock_from_dpc(lock: &KSpinLock) {
        // SAFETY: the caller's contract.
        unsafe { Sim::release_spin_lock_from_dpc(lock) }
    }
    fn allocate_nonpaged(size: usize, tag: u32) -> *mut u8 {
        Sim::allocate_nonpaged(size, tag)
    }
    unsafe fn free_pool(ptr: *mut u8, tag: u32) {
        // SAFETY: the caller's contract.
        unsafe { Sim::free_pool(ptr, tag) }
    }
    fn enter_critical_region() {
        Sim::enter_critical_region()
    }
    unsafe fn leave_critical_region() {
        // SAFETY: the caller's contract.
        unsafe { Sim::leave_critical_region() }
    }
    unsafe fn initialize_push_lock(lock: &ExPushLock) {
        // SAFETY: the caller's contract.
        unsafe { Sim::initialize_push_lock(lock) }
    }
    fn acquire_push_lock_exclusive(lock: &ExPushLock, flags: u32) {
        Sim::acquire_push_lock_exclusive(lock, flags)
    }
    fn acquire_push_lock_shared(lock: &ExPushLock, flags: u32) {
        Sim::acquire_push_lock_shared(lock, flags)
    }
    unsafe fn release_push_lock_exclusive(lock: &ExPushLock, flags: u32) {
        // SAFETY: the caller's contract.
        unsafe { Sim::release_push_lock_exclusive(lock, flags) }
    }
    unsafe fn release_push_lock_shared(lock: &ExPushLock, flags: u32) {
        // SAFETY: the caller's contract.
        unsafe { Sim::release_push_lock_shared(lock, flags) }
    }
    fn spin_hint() {
        Sim::spin_hint()
    }
    fn bug_check(code: u32, params: [usize; 4]) -> ! {
        Sim::bug_check(code, params)
    }
    fn stopping() -> bool {
        Sim::stopping()
    }
}

#[test]
fn raise_above_dispatch_stops_instead_of_lowering_even_without_the_verifier() {
    boot();
    // SAFETY: a raise; the stop below puts the thread back to PASSIVE_LEVEL.
    unsafe { Sim::raise_irql(HIGH_LEVEL) };
    let stop = expect_bug_check(|| {
        let guard = DispatchGuard::<NoVerifier>::raise();
        // Reached only if the raise lowered: report the IRQL it left.
        let left = Sim::current_irql();
        std::mem::forget(guard);
        left
    });
    assert_eq!(stop.code, DRIVER_VERIFIER_DETECTED_VIOLATION, "{stop}");
    assert_eq!(stop.params[0], verifier::RAISE_TO_LOWER, "{stop}");
    assert_eq!(stop.params[1], usize::from(HIGH_LEVEL));
}

#[test]
fn lock_state_ex_identity_another_page_sized_locks_state_is_caught() {
    boot();
    assert!(
        ndis_rwlock::storage::ex::NdisRwLockEx::<Sim>::allocation_size(PROCESSORS) >= 4096,
        "the locks of this machine take a page or more"
    );
    let a = RwLockEx::new(0u8).unwrap();
    let b = RwLockEx::new(0u8).unwrap();
    // Both are page-aligned: any identity taken from address bits would be the same.
    assert_eq!(a.as_raw() as usize % 4096, 0);
    assert_eq!(b.as_raw() as usize % 4096, 0);
    let (mut sa, mut sb) = (LockStateEx::default(), LockStateEx::default());
    let _dispatch = DispatchGuard::<Sim>::raise();
    // SAFETY: live locks and states; released below.
    unsafe { ex::acquire_read(a.as_raw(), &mut sa, 1) };
    // SAFETY: as above.
    unsafe { ex::acquire_read(b.as_raw(), &mut sb, 1) };
    // Releasing `b` with `a`'s state: this processor does hold a read of `b`, so only the
    // lock identity in the state can tell.
    let mut wrong = sa;
    let stop = expect_bug_check(|| {
        // SAFETY: the misuse under test.
        unsafe { ex::release(b.as_raw(), &mut wrong) }
    });
    assert_ndrl(stop, rw::BAD_LOCK_STATE);
    assert_eq!(stop.params[2], b.as_raw() as usize);
    // The stop reset the thread; take the reads back on their processor.
    let processor = usize::from(sa.flags >> 1) as u32;
    sim::run_on(processor, || {
        let _dispatch = DispatchGuard::<Sim>::raise();
        // SAFETY: the reads taken above, on this processor.
        unsafe { ex::release(a.as_raw(), &mut sa) };
        // SAFETY: as above.
        unsafe { ex::release(b.as_raw(), &mut sb) };
    });
}

#[test]
fn release_at_passive_from_an_unseen_thread_reports_the_state_or_the_irql() {
    boot();
    let lock = RwLockEx::new(0u8).unwrap();
    let raw = lock.as_raw() as usize;
    let stop = std::thread::spawn(move || {
        let mut state = LockStateEx::default();
        expect_bug_check(|| {
            // SAFETY: the misuse under test, on a thread the machine has not seen yet.
            unsafe { ex::release::<Sim>(raw as *mut _, &mut state) }
        })
    })
    .join()
    .unwrap();
    assert_eq!(stop.code, NDIS_RWLOCK_VIOLATION, "{stop}");
    assert!(
        [rw::BAD_LOCK_STATE, rw::RELEASE_NOT_AT_DISPATCH].contains(&stop.params[0]),
        "{stop}"
    );
}

#[test]
fn simulation_state_after_catch_unwind_guards_release_again() {
    boot();
    sim::catch_bug_check(|| {
        let caught = std::panic::catch_unwind(|| {
            Sim::bug_check(NDIS_RWLOCK_VIOLATION, [rw::NULL_LOCK, 0, 0, 0])
        });
        assert!(caught.is_err());
        // The stop was caught by a plain catch_unwind: the thread must work normally again.
        let lock = LegacyRwLock::new(0u32);
        drop(lock.write());
        assert_eq!(
            lock.diagnostics().writer,
            None,
            "the write guard released nothing"
        );
        drop(DispatchGuard::<Sim>::raise());
        assert_eq!(irql(), PASSIVE_LEVEL, "the DispatchGuard did not lower");
        let push = PushLock::<u32, Sim>::with_kernel(0);
        let region = CriticalRegion::<Sim>::enter();
        drop(push.write(&region));
        assert_eq!(
            sim::pushlock::word(push.as_raw()),
            0,
            "the push-lock guard released nothing"
        );
        drop(region);
        assert_eq!(sim::critical_region_depth(), 0, "the region was not left");
    })
    .unwrap();
}

/// The child of [`a_leaked_guard_then_the_lock_dropped_during_unwinding_stops_cleanly`].
#[test]
fn child_leaks_a_guard_then_panics() {
    if std::env::var_os("NDIS_RWLOCK_SOUNDNESS_CHILD").is_none() {
        return;
    }
    boot();
    let lock = RwLockEx::new(0u8).unwrap();
    std::mem::forget(lock.read());
    panic!("an ordinary panic while the lock is held");
}

#[test]
fn a_leaked_guard_then_the_lock_dropped_during_unwinding_stops_cleanly() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_leaks_a_guard_then_panics", "--nocapture"])
        .env("NDIS_RWLOCK_SOUNDNESS_CHILD", "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("*** STOP: 0x4E44524C (0x000000000000000A"),
        "no FREE_HELD_LOCK stop line:\n{stderr}"
    );
    assert!(
        !stderr.contains("panic in a destructor during cleanup"),
        "the process aborted with Rust's message instead of a clean stop:\n{stderr}"
    );
}

#[test]
fn legacy_lock_keeps_its_ndis_h_size() {
    assert_eq!(std::mem::size_of::<NdisRwLock>(), NDIS_RW_LOCK_SIZE);
}
