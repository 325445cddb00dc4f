//! Compiles tests/c/ndis_rwlock_ex.c against include/ndis_rwlock.h and the crate's static
//! library (the simulated kernel included) with the system C compiler, then runs it: its
//! reader/writer threads must find the lock consistent, and each misuse must stop the
//! process with the documented `*** STOP` line.
#![cfg(not(loom))]

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use ndis_rwlock::bugcheck::{NDIS_RWLOCK_VIOLATION, rw};
use ndis_rwlock::sim::BugCheck;

/// Simulated processors of the C program's machine.
const PROCESSORS: &str = "8";
const SIGABRT: i32 = 6;

mod support;

fn program() -> PathBuf {
    support::c_program("ndis_rwlock_ex")
}

fn run(args: &[&str]) -> Output {
    Command::new(program())
        .args(args)
        .env("NDIS_SIM_PROCESSORS", PROCESSORS)
        .output()
        .expect("the C program runs")
}

fn stdout_value(output: &Output, key: &str) -> usize {
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in the program's output: {text}"))
        .parse()
        .unwrap_or_else(|e| panic!("bad {key}= in the program's output ({e}): {text}"))
}

/// Runs misuse `name`, checks that the process aborted after printing the stop that
/// `expected` computes from the values the program printed.
fn misuse(name: &str, expected: impl FnOnce(&Output) -> BugCheck) {
    let output = run(&[&format!("misuse-{name}")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.signal(),
        Some(SIGABRT),
        "{name}: {} (stdout: {stdout}; stderr: {stderr})",
        output.status
    );
    let line = expected(&output).to_string();
    assert!(
        stderr.lines().any(|l| l == line),
        "{name}: expected the line\n{line}\nin stderr:\n{stderr}"
    );
    assert!(!stdout.contains("the misuse returned"), "{stdout}");
}

fn rw_stop(params: [usize; 4]) -> BugCheck {
    BugCheck {
        code: NDIS_RWLOCK_VIOLATION,
        params,
    }
}

#[test]
fn c_readers_and_writers_on_several_threads() {
    let output = run(&["stress", "60000"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} (stdout: {stdout}; stderr: {stderr})",
        output.status
    );
    assert!(stdout.contains("violations=0 failures=0"), "{stdout}");
    assert!(
        stdout.contains(&format!("processors={PROCESSORS}")),
        "{stdout}"
    );
    assert!(stdout_value(&output, "threads") > PROCESSORS.parse().expect("a number"));
}

#[test]
fn c_free_of_null() {
    misuse("free-null", |_| rw_stop([rw::NULL_LOCK, 0, 0, 0]));
}

#[test]
fn c_null_lock_state() {
    misuse("null-state", |out| {
        rw_stop([rw::NULL_LOCK_STATE, stdout_value(out, "lock"), 0, 0])
    });
}

#[test]
fn c_undefined_flags() {
    misuse("bad-flags", |out| {
        rw_stop([rw::UNDEFINED_FLAGS, 2, stdout_value(out, "lock"), 0])
    });
}

#[test]
fn c_read_to_write_promotion() {
    misuse("promotion", |out| {
        rw_stop([
            rw::READ_TO_WRITE_PROMOTION,
            stdout_value(out, "lock"),
            stdout_value(out, "processor"),
            0,
        ])
    });
}

#[test]
fn c_release_twice() {
    misuse("release-twice", |out| {
        rw_stop([
            rw::BAD_LOCK_STATE,
            stdout_value(out, "state"),
            stdout_value(out, "lock"),
            0,
        ])
    });
}

#[test]
fn c_free_of_a_held_lock() {
    misuse("free-held", |out| {
        rw_stop([rw::FREE_HELD_LOCK, stdout_value(out, "lock"), 1, 0])
    });
}
