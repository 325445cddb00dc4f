//! C and C++ driver code compiled against the WDK-style headers of include/km with nothing but
//! `-std=gnu11 -Wall -Werror -I include/km` (C++: `-std=c++17`), linked with the crate's
//! static library: an NDIS 6.x filter driver's locking run from several threads
//! (tests/c/filter_driver.c), every header compiled on its own in both languages, and each
//! misuse of the new routines stopping the machine with its documented line
//! (tests/c/km_misuse.c).
#![cfg(not(loom))]

mod support;

use support::{announced, assert_success, stdout};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ndis_rwlock::bugcheck::{self, rw, verifier};
use ndis_rwlock::sim::BugCheck;

const PROCESSORS: u32 = 4;
const C_FLAGS: [&str; 3] = ["-std=gnu11", "-Wall", "-Werror"];
const CXX_FLAGS: [&str; 3] = ["-std=c++17", "-Wall", "-Werror"];

fn filter_driver() -> PathBuf {
    support::km_program("filter_driver", "filter_driver.c", &C_FLAGS)
}

fn misuse_program() -> PathBuf {
    support::km_program("km_misuse", "km_misuse.c", &C_FLAGS)
}

fn stop(code: u32, params: [usize; 4]) -> String {
    BugCheck { code, params }.to_string()
}

fn c4(params: [usize; 4]) -> String {
    stop(bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION, params)
}

fn ndrl(params: [usize; 4]) -> String {
    stop(bugcheck::NDIS_RWLOCK_VIOLATION, params)
}

/// Runs misuse `name` and checks that stderr is exactly the stop line `expected` computes
/// from what the program printed, and that the process aborted right after it.
fn misuse(name: &str, expected: impl FnOnce(&Output) -> String) {
    let output = support::run(&misuse_program(), &[name], PROCESSORS);
    let line = expected(&output);
    support::assert_stopped(&output, &line);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("{line}\n"),
        "{name}: stderr must be the stop line alone"
    );
    assert!(!stdout(&output).contains("the misuse returned"), "{name}");
}

// ---- The filter driver ----------------------------------------------------------------------

#[test]
fn a_filter_driver_compiles_unchanged_and_keeps_its_invariants_from_many_threads() {
    let output = support::run(&filter_driver(), &["run", "8", "20000"], PROCESSORS);
    let out = assert_success(&output);
    assert!(out.contains("violations=0 failures=0 errors=0"), "{out}");
    assert!(out.contains("leaked=0 leaked_bytes=0"), "{out}");
    assert!(out.contains("result=0"), "{out}");
    let value = |key: &str| -> usize {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key}= in {out}"))
    };
    let sent = value("sent");
    assert_eq!(sent, value("counted"), "{out}");
    assert_eq!(value("bytes"), value("counted_bytes"), "{out}");
    assert_eq!(value("requests"), value("completed"), "{out}");
    assert!(
        sent >= 8 * 20000,
        "every send of a fixed module finds it: {out}"
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn without_a_version_macro_the_headers_default_to_the_newest_ndis() {
    let out = assert_success(&support::run(&filter_driver(), &["version"], PROCESSORS));
    assert_eq!(
        out.trim(),
        "filter ndis=6.89 support6=1 support620=1 support689=1 defaulted=1 ntddi=0x0A00000C win64=1"
    );
}

#[test]
fn version_macros_select_the_ndis_version_as_the_wdk_does() {
    let cases = [
        (
            "filter_ndis60",
            &["-DNDIS60=1"][..],
            "filter ndis=6.0 support6=1 support620=0 support689=0 defaulted=0",
        ),
        (
            "filter_ndis630",
            &["-DNDIS630=1"][..],
            "filter ndis=6.30 support6=1 support620=1 support689=0 defaulted=0",
        ),
        (
            "miniport_ndis620",
            &["-DNDIS_MINIPORT_DRIVER=1", "-DNDIS620_MINIPORT=1"][..],
            "miniport ndis=6.20 support6=1 support620=1 support689=0 defaulted=0",
        ),
        (
            "miniport_ndis51",
            &["-DNDIS51_MINIPORT=1"][..],
            "miniport ndis=5.1 support6=0 support620=0 support689=0 defaulted=0",
        ),
        (
            "wrapper",
            &["-DNDIS_WRAPPER=1", "-DNTDDI_VERSION=0x0A000005"][..],
            "filter ndis=6.89 support6=1 support620=1 support689=1 defaulted=0 ntddi=0x0A000005",
        ),
    ];
    for (name, defines, expected) in cases {
        let flags: Vec<&str> = C_FLAGS
            .iter()
            .copied()
            .chain(defines.iter().copied())
            .collect();
        let program = support::km_program(name, "filter_driver.c", &flags);
        let out = assert_success(&support::run(&program, &["version"], PROCESSORS));
        assert!(out.starts_with(expected), "{name}: {out}");
    }
}

#[test]
fn the_legacy_lock_path_of_an_ndis_6_0_filter_runs_too() {
    let flags: Vec<&str> = C_FLAGS.iter().copied().chain(["-DNDIS60=1"]).collect();
    let program = support::km_program("filter_ndis60_run", "filter_driver.c", &flags);
    let out = assert_success(&support::run(&program, &["run", "6", "5000"], PROCESSORS));
    assert!(out.contains("violations=0 failures=0 errors=0"), "{out}");
    assert!(out.contains("result=0"), "{out}");
}

// ---- The headers ----------------------------------------------------------------------------

/// Compiles `source` as C or C++ with include/km and the strict flags; no linking.
fn syntax_check(source: &str, cxx: bool) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (compiler, language, flags) = if cxx {
        (
            std::env::var("CXX").unwrap_or_else(|_| "c++".into()),
            "c++",
            &CXX_FLAGS,
        )
    } else {
        (
            std::env::var("CC").unwrap_or_else(|_| "cc".into()),
            "c",
            &C_FLAGS,
        )
    };
    let mut child = Command::new(&compiler)
        .args(flags)
        .arg("-I")
        .arg(root.join("include/km"))
        .args(["-fsyntax-only", "-x", language, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(source.as_bytes())
        .expect("writing the source");
    child.wait_with_output().expect("the compiler runs")
}

#[test]
fn every_header_compiles_on_its_own_as_c_and_as_cxx() {
    for header in ["ntdef.h", "wdm.h", "ntddk.h", "ndis.h"] {
        for cxx in [false, true] {
            let source = format!("#include <{header}>\nint ndis_rwlock_probe;\n");
            let output = syntax_check(&source, cxx);
            assert!(
                output.status.success(),
                "{header} (C++: {cxx}): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

#[test]
fn push_locks_declare_either_way_they_are_spelt() {
    let source = "#include <wdm.h>\n\
        struct S { EX_PUSH_LOCK Lock; PEX_PUSH_LOCK Other; };\n\
        EX_PUSH_LOCK Global;\n\
        void f(void) { EX_PUSH_LOCK onStack; PEX_PUSH_LOCK p = &onStack; ULONG_PTR *q = p;\n\
        ExInitializePushLock(&Global); ExInitializePushLock(p); (void)q; }\n";
    for cxx in [false, true] {
        let output = syntax_check(source, cxx);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_headers_compile_and_link_as_cxx() {
    let program = support::km_program("km_headers_cxx", "km_headers.cpp", &CXX_FLAGS);
    let out = assert_success(&support::run(&program, &[], PROCESSORS));
    assert!(out.contains("c++ errors=0 count=1"), "{out}");
}

// ---- NDIS spin lock misuse through the C exports --------------------------------------------

#[test]
fn ndis_acquire_spin_lock_above_dispatch_stops_with_c4_42() {
    misuse("spin-acquire-above-dispatch", |o| {
        c4([
            verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH,
            15,
            announced(o, "lock"),
            0,
        ])
    });
}

#[test]
fn ndis_dpr_acquire_spin_lock_below_dispatch_stops_with_c4_40() {
    misuse("spin-dpr-acquire-at-passive", |o| {
        c4([
            verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH,
            0,
            announced(o, "lock"),
            0,
        ])
    });
}

#[test]
fn ndis_release_of_a_spin_lock_nobody_holds_stops_with_0x10() {
    misuse("spin-release-not-held", |o| {
        stop(
            bugcheck::SPIN_LOCK_NOT_OWNED,
            [announced(o, "lock"), 0, announced(o, "releaser"), 0],
        )
    });
}

#[test]
fn ndis_release_of_a_spin_lock_on_another_processor_stops() {
    misuse("spin-release-on-other-processor", |o| {
        let (holder, releaser) = (announced(o, "holder"), announced(o, "releaser"));
        assert_ne!(holder, releaser);
        ndrl([
            rw::RELEASE_ON_OTHER_PROCESSOR,
            releaser,
            announced(o, "lock"),
            holder,
        ])
    });
}

#[test]
fn ndis_release_spin_lock_below_dispatch_stops_with_c4_32() {
    misuse("spin-release-at-passive", |o| {
        c4([
            verifier::RELEASE_SPIN_LOCK_BAD_IRQL,
            0,
            announced(o, "lock"),
            0,
        ])
    });
}

#[test]
fn ndis_dpr_release_spin_lock_below_dispatch_stops_with_c4_41() {
    misuse("spin-dpr-release-at-passive", |o| {
        c4([
            verifier::RELEASE_FROM_DPC_BELOW_DISPATCH,
            0,
            announced(o, "lock"),
            0,
        ])
    });
}

#[test]
fn ndis_spin_lock_acquired_again_by_its_holder_stops_with_0x0f() {
    misuse("spin-acquire-twice", |o| {
        stop(
            bugcheck::SPIN_LOCK_ALREADY_OWNED,
            [announced(o, "lock"), announced(o, "holder"), 0, 0],
        )
    });
}

#[test]
fn ndis_spin_lock_null_stops_with_the_null_lock_code() {
    misuse("spin-null", |_| ndrl([rw::NULL_LOCK, 0, 0, 0]));
}

// ---- Queued spin locks --------------------------------------------------------------------

#[test]
fn queued_acquire_above_dispatch_stops_with_c4_42() {
    misuse("queued-acquire-above-dispatch", |o| {
        c4([
            verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH,
            15,
            announced(o, "queued"),
            0,
        ])
    });
}

#[test]
fn queued_acquire_at_dpc_level_below_dispatch_stops_with_c4_40() {
    misuse("queued-at-dpc-below-dispatch", |o| {
        c4([
            verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH,
            0,
            announced(o, "queued"),
            0,
        ])
    });
}

#[test]
fn queued_release_of_a_released_handle_stops_with_0x10() {
    misuse("queued-release-twice", |o| {
        stop(
            bugcheck::SPIN_LOCK_NOT_OWNED,
            [0, 0, announced(o, "handle"), 0],
        )
    });
}

#[test]
fn queued_release_below_dispatch_stops_with_c4_32() {
    misuse("queued-release-at-passive", |o| {
        c4([
            verifier::RELEASE_SPIN_LOCK_BAD_IRQL,
            0,
            announced(o, "queued"),
            0,
        ])
    });
}

#[test]
fn queued_release_from_dpc_level_below_dispatch_stops_with_c4_41() {
    misuse("queued-release-from-dpc-at-passive", |o| {
        c4([
            verifier::RELEASE_FROM_DPC_BELOW_DISPATCH,
            0,
            announced(o, "queued"),
            0,
        ])
    });
}

#[test]
fn queued_release_on_another_processor_stops() {
    misuse("queued-release-on-other-processor", |o| {
        let (holder, releaser) = (announced(o, "holder"), announced(o, "releaser"));
        assert_ne!(holder, releaser);
        ndrl([
            rw::RELEASE_ON_OTHER_PROCESSOR,
            releaser,
            announced(o, "queued"),
            holder,
        ])
    });
}

// ---- Waits, threads, lists, assertions, pool ---------------------------------------------

#[test]
fn a_wait_at_dispatch_stops_with_c4_3b() {
    misuse("wait-at-dispatch", |o| {
        c4([verifier::WAIT_AT_DISPATCH, 2, announced(o, "event"), 0])
    });
}

#[test]
fn a_wait_on_an_uninitialised_event_stops() {
    misuse("wait-uninitialised-event", |o| {
        ndrl([rw::NOT_A_DISPATCHER_OBJECT, announced(o, "event"), 0, 0])
    });
}

#[test]
fn ndis_m_sleep_at_dispatch_stops_with_c4_3b() {
    misuse("sleep-at-dispatch", |_| {
        c4([verifier::WAIT_AT_DISPATCH, 2, 0, 0])
    });
}

#[test]
fn zw_close_of_a_handle_that_is_not_open_stops_with_0x93() {
    misuse("close-bad-handle", |_| {
        stop(bugcheck::INVALID_KERNEL_HANDLE, [0x1230, 1, 0, 0])
    });
}

#[test]
fn a_failed_assert_stops_with_0x1e_and_the_line() {
    let output = support::run(&misuse_program(), &["assert"], PROCESSORS);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/km_misuse.c"))
            .expect("the source");
    let line = source
        .lines()
        .position(|l| l.contains("ASSERT(references > 0)"))
        .expect("the ASSERT line")
        + 1;
    let prefix = "*** STOP: 0x0000001E (0x00000000C0000420, 0x";
    let suffix = format!(", 0x{line:016X}) KMODE_EXCEPTION_NOT_HANDLED\n");
    assert!(
        stderr.starts_with(prefix) && stderr.ends_with(&suffix),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    support::assert_stopped(&output, stderr.trim_end());
}

#[test]
fn a_corrupt_list_entry_stops_with_0x139() {
    misuse("list-corrupt", |o| {
        stop(
            bugcheck::KERNEL_SECURITY_CHECK_FAILURE,
            [3, announced(o, "entry"), 0, 0],
        )
    });
}

#[test]
fn a_paged_allocation_at_dispatch_stops_with_c4_01() {
    misuse("paged-allocation-at-dispatch", |_| {
        c4([verifier::ALLOCATE_PAGED_ABOVE_APC, 2, 1, 64])
    });
}

#[test]
fn a_double_free_through_ndis_free_memory_stops_with_c4_13() {
    misuse("double-free", |o| {
        c4([verifier::DOUBLE_FREE, 0, announced(o, "block"), 0])
    });
}

#[test]
fn a_tag_left_allocated_at_unload_stops_with_c4_62() {
    misuse("leak-at-unload", |_| {
        c4([
            verifier::POOL_LEAKED_AT_UNLOAD,
            u32::from_le_bytes(*b"Leak") as usize,
            1,
            48,
        ])
    });
}

// ---- One stop, one line -------------------------------------------------------------------

#[test]
fn nine_threads_stopping_at_once_print_one_line_and_nothing_else() {
    for _ in 0..5 {
        let output = support::run_with(
            &misuse_program(),
            &["concurrent-stops"],
            &[
                ("NDIS_SIM_PROCESSORS", Some("4")),
                ("RUST_BACKTRACE", Some("full")),
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        let which = (1..=9).find(|i| lines[0] == stop(0xE2, [*i, 0, 0, 0]));
        assert!(which.is_some(), "{stderr}");
        support::assert_stopped(&output, lines[0]);
    }
}

// ---- The README's example -------------------------------------------------------------------

#[test]
fn the_readme_c_example_compiles_with_include_km_only_and_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let start = readme
        .find("```c\n#include <ndis.h>")
        .expect("the C example")
        + "```c\n".len();
    let end = start + readme[start..].find("```").expect("its end");
    let source = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme_example.c");
    std::fs::write(&source, &readme[start..end]).expect("writing the example");
    let program = support::km_program(
        "readme_example",
        source.to_str().expect("a UTF-8 path"),
        &C_FLAGS,
    );
    let output = support::run(&program, &[], PROCESSORS);
    assert_success(&output);
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
