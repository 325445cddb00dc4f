//! Stand-in for the wdk-build 0.6.0 API that the build scripts of wdk, wdk-alloc and wdk-panic
//! call (`configure_wdk_library_build`, `ConfigError`), for the Linux check of the Windows build.
//!
//! The real `configure_wdk_library_build` reads the driver model from the workspace metadata and
//! prints the `driver_model__driver_type` cfg (with its check-cfg). This workspace declares
//! `driver-type = "KMDF"`, which is what this prints; the check script verifies that the
//! metadata still says so.

use std::fmt;

/// The error type of the real crate's configuration functions (never produced here).
#[derive(Debug)]
pub enum ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl std::error::Error for ConfigError {}

/// The cfg the real crate derives from `[package.metadata.wdk.driver-model]`.
const DRIVER_TYPE: &str = "KMDF";

/// Prints the cfg settings of a KMDF library build, as wdk-build's
/// `Config::configure_library_build` does.
///
/// # Errors
///
/// Never; the signature is the real crate's.
pub fn configure_wdk_library_build() -> Result<(), ConfigError> {
    println!(
        r#"cargo::rustc-check-cfg=cfg(driver_model__driver_type, values("WDM", "KMDF", "UMDF"))"#
    );
    println!(r#"cargo::rustc-cfg=driver_model__driver_type="{DRIVER_TYPE}""#);
    Ok(())
}
