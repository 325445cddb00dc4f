//! include/ndis_rwlock.h on 32-bit x86: the IRQL and spin-lock routines are declared FASTCALL,
//! as wdm.h declares them there (a syntax-only compile; the crate's library is 64-bit).

use std::process::Command;

#[test]
fn x86_irql_and_spin_lock_routines_are_fastcall() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("cc")
        .args([
            "-m32",
            "-ffreestanding",
            "-fsyntax-only",
            "-std=gnu11",
            "-Wall",
            "-Werror",
            "-D_WIN32",
        ])
        .arg(format!("-I{root}/include"))
        .arg(format!("{root}/tests/c/x86_declarations.c"))
        .output()
        .expect("cc runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
