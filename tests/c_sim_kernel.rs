//! Runs tests/c/sim_kernel.c: C driver code calling the simulated kernel routines by their
//! Windows names from several pthreads, and misuse that must stop the process with the
//! verifier's line.
#![cfg(not(loom))]

mod support;

use ndis_rwlock::bugcheck::{self, rw, verifier};
use ndis_rwlock::sim::BugCheck;

const PROCESSORS: u32 = 4;

fn run(args: &[&str]) -> std::process::Output {
    support::run(&support::c_program("sim_kernel"), args, PROCESSORS)
}

fn stop(code: u32, params: [usize; 4]) -> String {
    BugCheck { code, params }.to_string()
}

#[test]
fn c_threads_raise_lower_and_share_a_spin_lock() {
    let output = run(&["stress", "20000"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("counter=240000 expected=240000"),
        "{stdout}"
    );
    assert!(stdout.contains("overlaps=0 irql_errors=0"), "{stdout}");
    assert!(
        stdout.contains(&format!("processors={PROCESSORS}")),
        "{stdout}"
    );
}

#[test]
fn c_routines_behave_as_on_windows() {
    let output = run(&["routines"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("ok routines"), "{stdout}");
}

#[test]
fn c_wrong_ke_lower_irql_stops_with_c4_31() {
    let output = run(&["misuse-lower-to-higher"]);
    support::assert_stopped(
        &output,
        &stop(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::LOWER_TO_HIGHER, 1, 2, 0],
        ),
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("the misuse returned"));
}

#[test]
fn c_raise_to_lower_stops_with_c4_30() {
    let output = run(&["misuse-raise-to-lower"]);
    support::assert_stopped(
        &output,
        &stop(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::RAISE_TO_LOWER, 2, 1, 0],
        ),
    );
}

#[test]
fn c_spin_lock_acquired_twice_stops_with_0x0f() {
    let output = run(&["misuse-spin-lock-twice"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("*** STOP: 0x0000000F (") && stderr.contains("SPIN_LOCK_ALREADY_OWNED"),
        "{stderr}"
    );
    support::assert_stopped(
        &output,
        stderr
            .lines()
            .find(|l| l.starts_with("*** STOP"))
            .expect("a stop line"),
    );
}

#[test]
fn c_double_free_stops_with_c4_13() {
    let output = run(&["misuse-double-free"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("*** STOP"))
        .unwrap_or_else(|| panic!("no stop line: {stderr}"));
    assert!(
        line.starts_with("*** STOP: 0x000000C4 (0x0000000000000013, 0x0000000000000000, 0x")
            && line.ends_with(", 0x0000000074736554) DRIVER_VERIFIER_DETECTED_VIOLATION"),
        "{line}"
    );
    support::assert_stopped(&output, line);
}

#[test]
fn c_unbalanced_leave_critical_region_stops_with_c4_3e() {
    let output = run(&["misuse-leave-critical-region"]);
    support::assert_stopped(
        &output,
        &stop(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::LEAVE_CRITICAL_REGION_UNBALANCED, 0, 0, 0],
        ),
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
