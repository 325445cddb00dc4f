//! What the C-program tests share: finding the crate's static library and compiling a
//! program of tests/c/ against it and include/ndis_rwlock.h with the system C compiler.
#![allow(
    dead_code,
    reason = "each test binary uses only part of the support module"
)]

use std::collections::HashMap;
use std::io::Read;
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

/// Compiles `tests/c/<name>.c` against include/ndis_rwlock.h once per test process and
/// returns the executable.
pub fn c_program(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let flags = [
        "-std=c11",
        "-D_GNU_SOURCE",
        "-O1",
        "-g",
        "-Wall",
        "-Wextra",
        "-Werror",
    ];
    let include = root.join("include");
    let source = root.join(format!("tests/c/{name}.c"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    compile(name, &source, &cc, &flags, &include)
}

/// Compiles `source` (relative to tests/c/, or absolute) as driver code is: with the WDK-style
/// headers of include/km and nothing else than `flags` (`-std=gnu11 -Wall -Werror` for C,
/// `-std=c++17 -Wall -Werror` for C++, plus whatever the test adds), once per test process
/// under `name`.
pub fn km_program(name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cxx = source.ends_with(".cpp");
    let (variable, default) = if cxx { ("CXX", "c++") } else { ("CC", "cc") };
    let compiler = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
    let include = root.join("include/km");
    let source = root.join("tests/c").join(source);
    compile(name, &source, &compiler, flags, &include)
}

fn compile(name: &str, source: &Path, cc: &str, flags: &[&str], include: &Path) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(path) = built.get_or_insert_with(HashMap::new).get(name) {
        return path.clone();
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("c_{name}"));
    let library = static_library();
    // Compile with exactly `flags` and the include directory; link separately.
    let object = out.with_extension("o");
    let status = Command::new(cc)
        .args(flags)
        .arg("-I")
        .arg(include)
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(&object)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the compiler {cc}: {e}"));
    assert!(
        status.success(),
        "compiling {} failed ({status})",
        source.display()
    );
    let status = Command::new(cc)
        .arg("-pthread")
        .arg(&object)
        .arg(&library)
        .args(["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl"])
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the linker {cc}: {e}"));
    assert!(
        status.success(),
        "linking {} with {} failed ({status})",
        source.display(),
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
    let processors = processors.to_string();
    run_with(
        program,
        args,
        &[("NDIS_SIM_PROCESSORS", Some(processors.as_str()))],
    )
}

/// Runs `program` with `args`, with each of `vars` set (`Some`) or removed (`None`) in its
/// environment; fails the test if it does not end within [`STUCK`].
pub fn run_with(program: &Path, args: &[&str], vars: &[(&str, Option<&str>)]) -> Output {
    let mut command = Command::new(program);
    for (name, value) in vars {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let mut child = command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", program.display()));
    // Drain both pipes while the program runs, so that a chatty program cannot block on a
    // full pipe and look stuck.
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the C program") {
            break status;
        }
        if start.elapsed() > STUCK {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} {args:?} is stuck", program.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: stdout.join().expect("the stdout reader"),
        stderr: stderr.join().expect("the stderr reader"),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes)
            .expect("reading the C program's output");
        bytes
    })
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

/// The program's standard output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Checks that the program succeeded and returns its standard output.
pub fn assert_success(output: &Output) -> String {
    let out = stdout(output);
    assert!(
        output.status.success(),
        "{}: {out}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// The value the program printed on a line `name=...` (hexadecimal with a 0x prefix, else
/// decimal), typically an address before a misuse.
pub fn announced(output: &Output, name: &str) -> usize {
    let out = stdout(output);
    let value = out
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= line in {out}"));
    match value.strip_prefix("0x") {
        Some(hex) => usize::from_str_radix(hex, 16),
        None => value.parse(),
    }
    .unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// Tests of one binary that hold processors at `DISPATCH_LEVEL` while waiting for each other
/// take this exclusively ([`machine_alone`]), so that two such tests never wait for each
/// other's processors; the others share it ([`machine`]).
static GATE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Boots the simulated machine with `processors` (every test of a binary asks for the same
/// count) and shares it with the other tests.
pub fn machine(processors: u32) -> std::sync::RwLockReadGuard<'static, ()> {
    assert_eq!(ndis_rwlock::sim::boot(processors), processors);
    GATE.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// As [`machine`], alone.
pub fn machine_alone(processors: u32) -> std::sync::RwLockWriteGuard<'static, ()> {
    assert_eq!(ndis_rwlock::sim::boot(processors), processors);
    GATE.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Raises the current thread to `to` on the simulated kernel.
pub fn raise(to: ndis_rwlock::kernel::Irql) -> ndis_rwlock::kernel::Irql {
    use ndis_rwlock::kernel::Kernel;
    // SAFETY: the tests only raise to a level at or above the current one (a lower one is a
    // bug check, not undefined behaviour, on the simulated kernel).
    unsafe { ndis_rwlock::sim::Sim::raise_irql(to) }
}

/// Lowers the current thread to `to` on the simulated kernel, on purpose: the checks under
/// test read the IRQL themselves.
pub fn lower(to: ndis_rwlock::kernel::Irql) {
    use ndis_rwlock::kernel::Kernel;
    // SAFETY: a lower to a higher level is a bug check on the simulated kernel; what the
    // thread holds is the test's business.
    unsafe { ndis_rwlock::sim::Sim::lower_irql(to) }
}
