//! A stop outside `catch_bug_check` ends the process after one `*** STOP` line, with nothing
//! after it (no panic message, no backtrace, whatever `RUST_BACKTRACE` says); of several
//! threads stopping at once only the first prints. Inside `catch_bug_check` a stop is caught
//! silently. Each case runs in a child process: this test binary again, told by an environment
//! variable which case to play.
#![cfg(not(loom))]

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::sync::{Arc, Barrier};

use ndis_rwlock::kernel::{DISPATCH_LEVEL, DefaultKernel, Kernel};
use ndis_rwlock::sim::{self, BugCheck};

type K = DefaultKernel;

/// The environment variable that makes [`child`] play a case.
const CASE: &str = "NDIS_RWLOCK_STOP_CASE";
const SIGABRT: i32 = 6;

/// Runs [`child`] in a new process of this binary, playing `case`.
fn run_child(case: &str) -> Output {
    let exe = std::env::current_exe().expect("the test binary has a path");
    Command::new(exe)
        .args(["--exact", "child", "--nocapture", "--test-threads", "1"])
        .env(CASE, case)
        .env("RUST_BACKTRACE", "full")
        .env("NDIS_SIM_PROCESSORS", "4")
        .output()
        .expect("the child runs")
}

/// The cases, played only in a child process (does nothing in an ordinary run).
#[test]
fn child() {
    let Ok(case) = std::env::var(CASE) else {
        return;
    };
    match case.as_str() {
        "one-thread" => {
            // SAFETY: raising from PASSIVE_LEVEL.
            unsafe { K::raise_irql(DISPATCH_LEVEL) };
            K::bug_check(0xE2, [1, 2, 3, 4]);
        }
        "many-threads" => {
            let start = Arc::new(Barrier::new(9));
            let threads: Vec<_> = (1..=8)
                .map(|i| {
                    let start = start.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        K::bug_check(0xE2, [i, 0, 0, 0])
                    })
                })
                .collect();
            start.wait();
            for t in threads {
                let _ = t.join();
            }
            println!("a stop returned");
        }
        "caught" => {
            let stop = sim::expect_bug_check(|| K::bug_check(0xE2, [5, 0, 0, 0]));
            println!("caught {stop}");
            // A caught stop is no stop of the machine: a later one still prints.
            K::bug_check(0xE2, [6, 0, 0, 0]);
        }
        other => panic!("unknown case {other}"),
    }
}

fn line(params: [usize; 4]) -> String {
    BugCheck { code: 0xE2, params }.to_string()
}

fn assert_aborted(output: &Output) {
    assert_eq!(
        output.status.signal(),
        Some(SIGABRT),
        "{} (stderr: {})",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_stop_prints_one_line_and_nothing_after_it() {
    let output = run_child("one-thread");
    assert_aborted(&output);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("{}\n", line([1, 2, 3, 4]))
    );
}

#[test]
fn of_threads_stopping_at_once_only_the_first_prints() {
    for _ in 0..5 {
        let output = run_child("many-threads");
        assert_aborted(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!((1..=8).any(|i| lines[0] == line([i, 0, 0, 0])), "{stderr}");
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("a stop returned"),
            "a stop returned"
        );
    }
}

#[test]
fn a_caught_stop_prints_nothing() {
    let output = run_child("caught");
    assert_aborted(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("caught {}", line([5, 0, 0, 0]))),
        "{stdout}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("{}\n", line([6, 0, 0, 0]))
    );
}
