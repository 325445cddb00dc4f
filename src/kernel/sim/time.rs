//! Time and delays for C code compiled against include/km: `KeQuerySystemTime`,
//! `KeQuerySystemTimePrecise`, `NdisGetCurrentSystemTime`, `KeQueryInterruptTime`,
//! `KeDelayExecutionThread`, `NdisMSleep`, `NdisStallExecution`, `KeStallExecutionProcessor`.
//!
//! System time is the host's wall clock in 100-nanosecond units since 1601-01-01 UTC;
//! interrupt time counts 100-nanosecond units since the first call. A delay or sleep at
//! `DISPATCH_LEVEL` or above stops with 0xC4/0x3B; a stall spins (and so meets the DPC
//! watchdog if it is long).

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::bugcheck::{self, verifier};
use crate::kernel::{DISPATCH_LEVEL, Kernel};
use crate::sim::Sim;

/// 100-nanosecond units from 1601-01-01 to 1970-01-01.
const UNIX_EPOCH_AS_FILETIME: i64 = 116_444_736_000_000_000;

/// `STATUS_SUCCESS`.
const STATUS_SUCCESS: i32 = 0;

/// Now, as a Windows system time.
pub fn system_time() -> i64 {
    let since_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let units = i64::try_from(since_unix.as_nanos() / 100).unwrap_or(i64::MAX);
    units.saturating_add(UNIX_EPOCH_AS_FILETIME)
}

/// How long from now a Windows timeout or interval means: negative values are relative,
/// positive ones absolute system times (already past: zero).
pub fn interval(value: i64) -> Duration {
    let units = if value < 0 {
        value.unsigned_abs()
    } else {
        u64::try_from(value.saturating_sub(system_time())).unwrap_or(0)
    };
    Duration::from_nanos(units.saturating_mul(100))
}

/// Stops with 0xC4/0x3B when the caller waits at `DISPATCH_LEVEL` or above (P2 IRQL,
/// P3 `object`).
pub(crate) fn check_may_wait(object: usize) {
    let irql = Sim::current_irql();
    if irql >= DISPATCH_LEVEL {
        Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::WAIT_AT_DISPATCH, usize::from(irql), object, 0],
        );
    }
}

/// Writes now's system time to `out`.
///
/// # Safety
///
/// `out` is NULL (ignored) or points to a writable `LARGE_INTEGER`.
unsafe fn write_now(out: *mut i64) {
    if !out.is_null() {
        // SAFETY: the caller's contract.
        unsafe { out.write_unaligned(system_time()) };
    }
}

/// `KeQuerySystemTime`.
///
/// # Safety
///
/// `time` is NULL (ignored) or points to a writable `LARGE_INTEGER`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeQuerySystemTime(time: *mut i64) {
    // SAFETY: the caller's contract.
    unsafe { write_now(time) }
}

/// `KeQuerySystemTimePrecise`.
///
/// # Safety
///
/// As [`KeQuerySystemTime`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeQuerySystemTimePrecise(time: *mut i64) {
    // SAFETY: the caller's contract.
    unsafe { write_now(time) }
}

/// `NdisGetCurrentSystemTime`.
///
/// # Safety
///
/// As [`KeQuerySystemTime`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisGetCurrentSystemTime(time: *mut i64) {
    // SAFETY: the caller's contract.
    unsafe { write_now(time) }
}

/// `KeQueryInterruptTime`: 100-nanosecond units since the first call.
#[unsafe(no_mangle)]
pub extern "system" fn KeQueryInterruptTime() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let elapsed = START.get_or_init(Instant::now).elapsed();
    u64::try_from(elapsed.as_nanos() / 100).unwrap_or(u64::MAX)
}

/// `KeDelayExecutionThread`: sleeps for the interval (negative: relative, positive: until
/// that system time). `IRQL <= APC_LEVEL`, else 0xC4/0x3B. Returns `STATUS_SUCCESS`.
///
/// # Safety
///
/// `interval_ptr` is NULL (a stop: `NDIS_RWLOCK_VIOLATION` / `NULL_LOCK_STATE`) or points to
/// a readable `LARGE_INTEGER`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeDelayExecutionThread(
    _wait_mode: i8,
    _alertable: u8,
    interval_ptr: *const i64,
) -> i32 {
    check_may_wait(interval_ptr as usize);
    if interval_ptr.is_null() {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [bugcheck::rw::NULL_LOCK_STATE, 0, 0, 0],
        );
    }
    // SAFETY: non-null (checked), readable by the caller's contract.
    let value = unsafe { interval_ptr.read_unaligned() };
    std::thread::sleep(interval(value));
    STATUS_SUCCESS
}

/// `NdisMSleep`: sleeps. `IRQL < DISPATCH_LEVEL`, else 0xC4/0x3B.
#[unsafe(no_mangle)]
pub extern "system" fn NdisMSleep(microseconds: u32) {
    check_may_wait(0);
    std::thread::sleep(Duration::from_micros(u64::from(microseconds)));
}

/// Busy-waits for `microseconds`, at any IRQL.
fn stall(microseconds: u32) {
    let end = Instant::now() + Duration::from_micros(u64::from(microseconds));
    while Instant::now() < end {
        Sim::spin_hint();
    }
}

/// `NdisStallExecution`: busy-waits, at any IRQL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisStallExecution(microseconds: u32) {
    stall(microseconds);
}

/// `KeStallExecutionProcessor`: busy-waits, at any IRQL.
#[unsafe(no_mangle)]
pub extern "system" fn KeStallExecutionProcessor(microseconds: u32) {
    stall(microseconds);
}
