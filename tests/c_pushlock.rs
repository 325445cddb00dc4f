//! Builds tests/c/pushlock.c against libndis_rwlock.a and include/ndis_rwlock.h with the
//! system C compiler (`cc`, or `$CC`), runs its behaviour checks from pthreads, and checks
//! that each misuse stops the simulated machine with the right `*** STOP` line.
#![cfg(not(loom))]

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A run that has not ended by then is stuck (deadlock or lost wake-up); no speed is measured.
const STUCK: Duration = Duration::from_secs(120);

mod support;

fn program() -> PathBuf {
    support::c_program("pushlock")
}

/// Runs the C program with `args`; fails the test if it does not end within [`STUCK`].
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(program())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the C program starts");
    let start = Instant::now();
    while child
        .try_wait()
        .expect("waiting for the C program")
        .is_none()
    {
        if start.elapsed() > STUCK {
            let _ = child.kill();
            panic!("the C program {args:?} is stuck (deadlock or lost wake-up)");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child
        .wait_with_output()
        .expect("collecting the C program's output")
}

#[test]
fn c_threads_use_the_push_lock_routines_and_the_allocated_lock() {
    let out = run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stderr}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n", "{stderr}");
}

fn assert_stops(misuse: &str, code: u32, p1: usize) {
    let out = run(&[misuse]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(6),
        "{misuse}: the machine did not stop (SIGABRT): {}\n{stderr}",
        out.status
    );
    let line = format!("*** STOP: 0x{code:08X} (0x{p1:016X},");
    assert!(
        stderr.contains(&line),
        "{misuse}: expected {line}\n{stderr}"
    );
}

#[test]
fn c_misuse_stops_the_machine() {
    use ndis_rwlock::bugcheck::{self, rw, verifier};
    let rw_code = bugcheck::NDIS_RWLOCK_VIOLATION;
    assert_stops("flags", bugcheck::INVALID_PUSH_LOCK_FLAGS, 1);
    assert_stops("null", rw_code, rw::NULL_LOCK);
    assert_stops("misaligned", rw_code, rw::PUSH_LOCK_MISALIGNED);
    assert_stops(
        "apcs-enabled",
        bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
        verifier::PUSH_LOCK_ACQUIRE_APCS_ENABLED,
    );
    assert_stops(
        "dispatch",
        bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
        verifier::WAIT_AT_DISPATCH,
    );
    assert_stops("recursive", rw_code, rw::PUSH_LOCK_RECURSIVE_EXCLUSIVE);
    assert_stops("not-held", rw_code, rw::PUSH_LOCK_RELEASE_NOT_HELD);
    assert_stops("rwl-bad-state", rw_code, rw::PUSH_LOCK_BAD_STATE);
    assert_stops("rwl-free-held", rw_code, rw::PUSH_LOCK_FREE_IN_USE);
}
