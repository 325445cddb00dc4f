//! Runs tests/c/sim_kernel.c: C driver code calling the simulated kernel routines by their
//! Windows names from several pthreads, and misuse that must stop the process with the
//! verifier's line.
#![cfg(not(loom))]

mod support;

use support::{announced, assert_success, stdout};

use std::process::Output;

use ndis_rwlock::bugcheck::{self, rw, verifier};
use ndis_rwlock::sim::BugCheck;

const PROCESSORS: u32 = 4;
/// `'tseT'`, the pool tag of the C program.
const TAG: usize = 0x7473_6554;
/// `NonPagedPoolNx`, as the pool checks report it.
const NON_PAGED_POOL_NX: usize = 512;

fn run(args: &[&str]) -> Output {
    support::run(&support::c_program("sim_kernel"), args, PROCESSORS)
}

fn stop(code: u32, params: [usize; 4]) -> String {
    BugCheck { code, params }.to_string()
}

fn c4(params: [usize; 4]) -> String {
    stop(bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION, params)
}

/// The one `*** STOP` line on stderr.
fn stop_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("*** STOP"))
        .collect();
    assert_eq!(lines.len(), 1, "one stop line expected in {stderr}");
    lines[0].to_owned()
}

// ---- What works -------------------------------------------------------------------------

#[test]
fn c_threads_raise_lower_and_share_a_spin_lock() {
    let output = run(&["stress", "20000"]);
    let out = assert_success(&output);
    // 12 threads, 3 of every 4 iterations under the lock.
    assert!(out.contains("counter=180000 expected=180000"), "{out}");
    assert!(
        out.contains("overlaps=0 irql_errors=0 processor_overlaps=0"),
        "{out}"
    );
    assert!(out.contains(&format!("processors={PROCESSORS}")), "{out}");
}

#[test]
fn c_routines_behave_as_on_windows() {
    let out = assert_success(&run(&["routines"]));
    assert!(out.contains("ok routines"), "{out}");
}

#[test]
fn c_processor_groups_have_64_processors_each() {
    let output = support::run(&support::c_program("sim_kernel"), &["groups"], 130);
    let out = assert_success(&output);
    assert!(
        out.contains("groups processors=130 errors=0 missing=0"),
        "{out}"
    );
}

#[test]
fn the_processor_count_comes_from_ndis_sim_processors_and_is_at_least_two() {
    let program = support::c_program("sim_kernel");
    let count = |value: Option<&str>| {
        let output =
            support::run_with(&program, &["processors"], &[("NDIS_SIM_PROCESSORS", value)]);
        let out = assert_success(&output);
        out.trim()
            .strip_prefix("processors=")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("{out}"))
    };
    assert_eq!(count(Some("6")), 6);
    assert_eq!(count(Some("1")), 2);
    assert_eq!(count(Some("0")), 2);
    let host = std::thread::available_parallelism().map_or(2, |n| n.get());
    assert_eq!(count(None), host.max(2));
    assert_eq!(count(Some("not a number")), host.max(2));
}

// ---- Misuse stops the process with the verifier's line ----------------------------------

#[test]
fn c_wrong_ke_lower_irql_stops_with_c4_31() {
    let output = run(&["misuse-lower-to-higher"]);
    support::assert_stopped(&output, &c4([verifier::LOWER_TO_HIGHER, 1, 2, 0]));
    assert!(!stdout(&output).contains("the misuse returned"));
}

#[test]
fn c_raise_to_lower_stops_with_c4_30() {
    let output = run(&["misuse-raise-to-lower"]);
    support::assert_stopped(&output, &c4([verifier::RAISE_TO_LOWER, 2, 1, 0]));
}

#[test]
fn c_spin_lock_acquired_twice_stops_with_0x0f() {
    let output = run(&["misuse-spin-lock-twice"]);
    let lock = announced(&output, "lock");
    let line = stop_line(&output);
    // P2 is the thread's identity, which C code does not know.
    let prefix = format!("*** STOP: 0x0000000F (0x{lock:016X}, 0x");
    assert!(
        line.starts_with(&prefix)
            && line.ends_with(", 0x0000000000000000, 0x0000000000000000) SPIN_LOCK_ALREADY_OWNED"),
        "{line}"
    );
    support::assert_stopped(&output, &line);
}

#[test]
fn c_release_of_a_spin_lock_nobody_holds_stops_with_0x10() {
    let output = run(&["misuse-release-not-owned"]);
    let lock = announced(&output, "lock");
    let line = stop_line(&output);
    let prefix = format!("*** STOP: 0x00000010 (0x{lock:016X}, 0x0000000000000000, 0x");
    assert!(
        line.starts_with(&prefix) && line.ends_with(", 0x0000000000000000) SPIN_LOCK_NOT_OWNED"),
        "{line}"
    );
    support::assert_stopped(&output, &line);
}

#[test]
fn c_acquire_at_dpc_level_at_passive_stops_with_c4_40() {
    let output = run(&["misuse-acquire-at-dpc-at-passive"]);
    let lock = announced(&output, "lock");
    support::assert_stopped(
        &output,
        &c4([verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH, 0, lock, 0]),
    );
}

#[test]
fn c_null_spin_lock_stops_with_the_null_lock_code() {
    let output = run(&["misuse-null-spin-lock"]);
    support::assert_stopped(
        &output,
        &stop(bugcheck::NDIS_RWLOCK_VIOLATION, [rw::NULL_LOCK, 0, 0, 0]),
    );
}

#[test]
fn c_misaligned_spin_lock_stops_instead_of_touching_it() {
    let output = run(&["misuse-misaligned-spin-lock"]);
    let lock = announced(&output, "lock");
    support::assert_stopped(
        &output,
        &stop(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [rw::MISALIGNED_SPIN_LOCK, lock, 0, 0],
        ),
    );
}

#[test]
fn c_double_free_stops_with_c4_13() {
    let output = run(&["misuse-double-free"]);
    let block = announced(&output, "block");
    support::assert_stopped(&output, &c4([verifier::DOUBLE_FREE, 0, block, TAG]));
}

#[test]
fn c_free_of_a_never_allocated_address_stops_with_c4_10() {
    let output = run(&["misuse-bad-free"]);
    support::assert_stopped(&output, &c4([verifier::FREE_BAD_ADDRESS, 0x1000, 0, 0]));
}

#[test]
fn c_zero_byte_allocation_stops_with_c4_00() {
    let output = run(&["misuse-zero-byte-allocation"]);
    support::assert_stopped(
        &output,
        &c4([verifier::ZERO_BYTE_ALLOCATION, 0, NON_PAGED_POOL_NX, 0]),
    );
}

#[test]
fn c_paged_allocation_at_dispatch_stops_with_c4_01() {
    let output = run(&["misuse-paged-at-dispatch"]);
    support::assert_stopped(&output, &c4([verifier::ALLOCATE_PAGED_ABOVE_APC, 2, 1, 64]));
}

#[test]
fn c_unbalanced_leave_critical_region_stops_with_c4_3e() {
    let output = run(&["misuse-leave-critical-region"]);
    support::assert_stopped(
        &output,
        &c4([verifier::LEAVE_CRITICAL_REGION_UNBALANCED, 0, 0, 0]),
    );
}

#[test]
fn c_ke_bug_check_ex_stops_with_its_code() {
    let output = run(&["misuse-bugcheck"]);
    support::assert_stopped(&output, &stop(0xE2, [1, 2, 3, 4]));
}

#[test]
fn c_thread_exiting_at_dispatch_stops_the_machine() {
    let output = run(&["misuse-thread-exit-at-dispatch"]);
    support::assert_stopped(
        &output,
        &stop(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [rw::THREAD_EXIT_AT_DISPATCH, 2, 0, 0],
        ),
    );
}

#[test]
fn c_thread_blocked_at_dispatch_is_caught_by_a_waiter_for_its_processor() {
    const LIMIT_MS: usize = 300;
    let limit = LIMIT_MS.to_string();
    let output = support::run_with(
        &support::c_program("sim_kernel"),
        &["misuse-blocked-at-dispatch"],
        &[
            ("NDIS_SIM_PROCESSORS", Some("2")),
            ("NDIS_SIM_WATCHDOG_MS", Some(limit.as_str())),
        ],
    );
    let out = stdout(&output);
    assert!(out.contains("waiting for processor"), "{out}");
    assert!(!out.contains("the waiter got the processor"), "{out}");
    let line = stop_line(&output);
    let prefix = "*** STOP: 0x00000133 (0x0000000000000001, 0x";
    let suffix = format!(", 0x{LIMIT_MS:016X}, 0x0000000000000000) DPC_WATCHDOG_VIOLATION");
    assert!(
        line.starts_with(prefix) && line.ends_with(&suffix),
        "{line}"
    );
    let elapsed = usize::from_str_radix(&line[prefix.len()..prefix.len() + 16], 16)
        .expect("P2 is hexadecimal");
    assert!(elapsed > 2 * LIMIT_MS, "{line}");
    support::assert_stopped(&output, &line);
}
