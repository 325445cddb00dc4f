//! Build script of the wdk-sys stand-in (Linux check of the Windows build,
//! scripts/windows-check.sh): instead of running bindgen over the WDK headers, copies the
//! bindings written in bindgen's style from windows/check/bindings/ (path in
//! `NDIS_RWLOCK_WDK_BINDINGS`) into `OUT_DIR`, where wdk-sys's own sources `include!` them, and
//! writes the two small generated files of the real build script for KMDF 1.33. Prints the
//! driver-model cfg, as wdk-build does for the real crate.

use std::{env, fs, path::PathBuf};

/// wdk-sys 0.5.2's `CALL_UNSAFE_WDF_BINDING_TEMPLATE`, without its doc comment: forwards to
/// wdk-macros with the path of `types.rs`, where the macro looks up the `PFN_WDF*` types.
const CALL_UNSAFE_WDF_BINDING: &str = r#"
#[macro_export]
macro_rules! call_unsafe_wdf_function_binding {
    ( $($tt:tt)* ) => {
        $crate::__proc_macros::call_unsafe_wdf_function_binding! (
            r"TYPES_RS",
            $($tt)*
        )
    }
}
"#;

/// wdk-sys 0.5.2's function-count function for KMDF 1.25 and later (`WdfFunctionCount`).
const WDF_FUNCTION_COUNT: &str = r"#[allow(clippy::must_use_candidate)]
/// Returns the number of functions available in the WDF function table.
pub fn get_wdf_function_count() -> usize {
    // SAFETY: `crate::WdfFunctionCount` is a mutable static that WDF never mutates.
    (unsafe { crate::WdfFunctionCount }) as usize
}
";

fn main() {
    println!("cargo::rerun-if-env-changed=NDIS_RWLOCK_WDK_BINDINGS");
    let bindings = PathBuf::from(
        env::var_os("NDIS_RWLOCK_WDK_BINDINGS")
            .expect("NDIS_RWLOCK_WDK_BINDINGS names the stand-in bindings folder"),
    );
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for file in ["types.rs", "constants.rs", "ntddk.rs", "wdf.rs"] {
        let source = bindings.join(file);
        println!("cargo::rerun-if-changed={}", source.display());
        fs::copy(&source, out.join(file))
            .unwrap_or_else(|error| panic!("copying {}: {error}", source.display()));
    }
    let types = out.join("types.rs");
    fs::write(
        out.join("call_unsafe_wdf_function_binding.rs"),
        CALL_UNSAFE_WDF_BINDING.replace("TYPES_RS", types.to_str().expect("a UTF-8 path")),
    )
    .expect("writing call_unsafe_wdf_function_binding.rs");
    fs::write(out.join("wdf_function_count.rs"), WDF_FUNCTION_COUNT)
        .expect("writing wdf_function_count.rs");
    println!(
        r#"cargo::rustc-check-cfg=cfg(driver_model__driver_type, values("WDM", "KMDF", "UMDF"))"#
    );
    println!(r#"cargo::rustc-cfg=driver_model__driver_type="KMDF""#);
}
