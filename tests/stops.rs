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
        "owner-blocks" | "owner-blocks-after-keeping" => {
            // The machine's limit, which the waiters' check of the owner also uses.
            sim::set_watchdog(std::time::Duration::from_millis(OWNER_LIMIT_MS));
            let raised = Arc::new(Barrier::new(3));
            let owner = {
                let raised = raised.clone();
                let keep_first = case == "owner-blocks-after-keeping";
                std::thread::spawn(move || {
                    sim::run_on(1, || {
                        if keep_first {
                            // Lowering keeps the processor (nobody waits yet); the raise
                            // below retakes it.
                            // SAFETY: raising from PASSIVE_LEVEL, lowering back.
                            let old = unsafe { K::raise_irql(DISPATCH_LEVEL) };
                            // SAFETY: as above.
                            unsafe { K::lower_irql(old) };
                        }
                        // SAFETY: raising from PASSIVE_LEVEL; never lowered (the misuse).
                        unsafe { K::raise_irql(DISPATCH_LEVEL) };
                        raised.wait();
                        // Blocks at DISPATCH_LEVEL: its own checks never run.
                        loop {
                            std::thread::park();
                        }
                    })
                })
            };
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let raised = raised.clone();
                    std::thread::spawn(move || {
                        sim::run_on(1, || {
                            raised.wait();
                            // SAFETY: raising from PASSIVE_LEVEL (waits for processor 1).
                            unsafe { K::raise_irql(DISPATCH_LEVEL) };
                            println!("a waiter got the processor");
                        })
                    })
                })
                .collect();
            // The stop comes after about 2 x 50 ms; without one the case ends here.
            std::thread::sleep(std::time::Duration::from_secs(10));
            drop((owner, waiters));
            println!("no stop");
            std::process::exit(0);
        }
        other => panic!("unknown case {other}"),
    }
}

/// The machine's watchdog limit in the owner cases.
const OWNER_LIMIT_MS: u64 = 50;

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

/// A plain thread that blocks at `DISPATCH_LEVEL` never reaches its own watchdog check; the
/// threads waiting for its processor stop the machine with 0x133 once it has been raised for
/// twice the limit, whether it took the processor from the queue or retook the one it kept.
#[test]
fn a_thread_blocked_at_dispatch_is_stopped_by_the_threads_waiting_for_its_processor() {
    for case in ["owner-blocks", "owner-blocks-after-keeping"] {
        let output = run_child(case);
        assert_aborted(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{case}: {stderr}");
        let prefix = format!("*** STOP: 0x{:08X} (0x{:016X}, ", 0x133, 1);
        assert!(lines[0].starts_with(&prefix), "{case}: {stderr}");
        let limit = format!("0x{OWNER_LIMIT_MS:016X}, 0x{:016X})", 0);
        assert!(lines[0].contains(&limit), "{case}: {stderr}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            !stdout.contains("a waiter got the processor"),
            "{case}: {stdout}"
        );
    }
}
