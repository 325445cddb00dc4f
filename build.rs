//! Configures the WDK driver build when the target is Windows; does nothing elsewhere.

/// Windows, feature `driver`: the cdylib is `ndis_rwlock.sys`, linked as a KMDF driver with the
/// exports of `windows/ndis_rwlock.def`
/// (`/DRIVER /KERNEL /ENTRY:FxDriverEntry`, WDF libraries), which needs the `DriverEntry` that
/// only that feature compiles.
///
/// Windows without it (this crate as a dependency of another Rust driver): cargo still links
/// every crate type of the package, so the cdylib must link without a `DriverEntry`. It gets the
/// kernel library paths and a plain image with no entry point and no default libraries; nothing
/// references the KMDF entry stub, so the linker never pulls it in. The image is a by-product
/// nobody loads; the consumer links the rlib.
#[cfg(windows)]
fn main() -> Result<(), wdk_build::ConfigError> {
    if std::env::var_os("CARGO_FEATURE_DRIVER").is_some() {
        // The export table: exactly the routines of the .def, under the name ndis_rwlock.sys
        // (rustc's own export list names ndis_rwlock.dll and adds the runtime symbols of
        // wdk-sys). The linker takes the last /DEF given; this one follows rustc's.
        let def = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("windows/ndis_rwlock.def");
        println!("cargo::rerun-if-changed={}", def.display());
        println!("cargo::rustc-cdylib-link-arg=/DEF:{}", def.display());
        return wdk_build::configure_wdk_binary_build();
    }
    let config = wdk_build::Config::from_env_auto()?;
    for path in config.library_paths()? {
        println!("cargo::rustc-link-search={}", path.display());
    }
    for arg in ["/NODEFAULTLIB", "/NOENTRY", "/SUBSYSTEM:NATIVE"] {
        println!("cargo::rustc-cdylib-link-arg={arg}");
    }
    config.configure_library_build()
}

#[cfg(not(windows))]
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
}
