//! Runs tests/c/legacy.c: C code that declares `NDIS_RW_LOCK` and `LOCK_STATE` from
//! include/ndis_rwlock.h and calls the legacy routines by their ndis.h names, linked against
//! the crate's static library (simulated kernel included).

use std::path::PathBuf;
use std::process::{Command, Output};

use ndis_rwlock::bugcheck::{NDIS_RWLOCK_VIOLATION, rw};

mod support;

fn program() -> PathBuf {
    support::c_program("legacy")
}

fn run(mode: &str) -> Output {
    Command::new(program())
        .arg(mode)
        .env("NDIS_SIM_PROCESSORS", "8")
        .output()
        .expect("the C program runs")
}

#[test]
fn c_code_uses_the_legacy_lock_as_ndis_h_declares_it() {
    let out = run("semantics");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("ok semantics"), "{stdout}");
}

#[test]
fn c_threads_mix_dpr_and_non_dpr_acquisitions() {
    let out = run("threads");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("ok threads"), "{stdout}");
}

#[test]
fn c_misuse_stops_the_machine_with_the_documented_code() {
    let cases = [
        (
            "dpr-state-released-by-non-dpr",
            rw::LEGACY_DPR_STATE_RELEASED_BY_NON_DPR,
        ),
        (
            "non-dpr-state-released-by-dpr",
            rw::LEGACY_NON_DPR_STATE_RELEASED_BY_DPR,
        ),
        ("double-release", rw::BAD_LOCK_STATE),
        ("state-of-another-lock", rw::BAD_LOCK_STATE),
        (
            "dpr-acquire-at-passive",
            rw::AT_DISPATCH_FLAG_BELOW_DISPATCH,
        ),
        ("null-lock-state", rw::NULL_LOCK_STATE),
        ("promotion", rw::READ_TO_WRITE_PROMOTION),
    ];
    for (mode, subcode) in cases {
        let out = run(mode);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{mode}: the machine did not stop");
        assert!(!stdout.contains("not stopped"), "{mode}: {stdout}");
        let stop = format!("*** STOP: 0x{NDIS_RWLOCK_VIOLATION:08X} (0x{subcode:016X},");
        assert!(
            stderr.contains(&stop),
            "{mode}: expected `{stop}` in:\n{stderr}"
        );
    }
}
