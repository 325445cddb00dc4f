//! What the C-program tests share: finding the crate's static library and compiling a
//! program of tests/c/ against it and include/ndis_rwlock.h with the system C compiler.
#![allow(
    dead_code,
    reason = "each test binary uses only part of the support module"
)]

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A C program that has not ended by then is stuck (deadlock or lost wake-up); no speed is
/// measured.
pub const STUCK: Duration = Duration::from_secs(180);
/// The signal a bug check through the C ABI ends the process with.
pub const SIGABRT: i32 = 6;

/// The `libndis_rwlock.a` that cargo built with this test: in `deps/` next to the test
/// executable, or one level up where `cargo build` copies it; the newest if there are several.
pub fn static_library() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let deps = exe.parent().expect("the test executable is in a directory");
    [Some(deps), deps.parent()]
        .into_iter()
        .flatten()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libndis_rwlock") && n.ends_with(".a"))
        })
        .filter_map(|path| Some((path.metadata().and_then(|m| m.modified()).ok()?, path)))
        .max()
        .map(|(_, path)| path)
        .unwrap_or_else(|| panic!("no libndis_rwlock*.a near {}", exe.display()))
}

/// Compiles `tests/c/<name>.c` once per test process and returns the executable.
pub fn c_program(name: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(path) = built.get_or_insert_with(HashMap::new).get(name) {
        return path.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("c_{name}"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let library = static_library();
    let status = Command::new(&cc)
        .args([
            "-std=c11",
            "-D_GNU_SOURCE",
            "-O1",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
        ])
        .arg("-pthread")
        .arg("-I")
        .arg(root.join("include"))
        .arg(root.join(format!("tests/c/{name}.c")))
        .arg(&library)
        .args(["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl"])
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc}: {e}"));
    assert!(
        status.success(),
        "compiling tests/c/{name}.c against {} failed ({status})",
        library.display()
    );
    built
        .get_or_insert_with(HashMap::new)
        .insert(name.to_owned(), out.clone());
    out
}

/// Runs `program` with `args` on a simulated machine of `processors` processors; fails the
/// test if it does not end within [`STUCK`].
pub fn run(program: &Path, args: &[&str], processors: u32) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("NDIS_SIM_PROCESSORS", processors.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", program.display()));
    let start = Instant::now();
    while child
        .try_wait()
        .expect("waiting for the C program")
        .is_none()
    {
        if start.elapsed() > STUCK {
            let _ = child.kill();
            panic!("{} {args:?} is stuck", program.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().expect("the C program's output")
}

/// Checks that `output` is that of a process stopped by a bug check whose line is `line`.
pub fn assert_stopped(output: &Output, line: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.signal(),
        Some(SIGABRT),
        "{} (stdout: {stdout}; stderr: {stderr})",
        output.status
    );
    assert!(
        stderr.lines().any(|l| l == line),
        "expected the line\n{line}\nin stderr:\n{stderr}"
    );
}
