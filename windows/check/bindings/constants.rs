// Stand-in for the `constants.rs` that wdk-sys 0.5.2's build script generates with bindgen
// (`CodegenConfig::VARS`: macros that are integer constants, and the extern variables), for the
// Linux check of the Windows build. Only what the crates in this build use.

// IRQL values: "Managing Hardware Priorities" (kernel/managing-hardware-priorities); bindgen
// renders object-like integer macros as `u32`.
pub const PASSIVE_LEVEL: u32 = 0;
pub const APC_LEVEL: u32 = 1;
pub const DISPATCH_LEVEL: u32 = 2;
// ALL_PROCESSOR_GROUPS: KeQueryMaximumProcessorCountEx (wdm/nf-wdm-kequerymaximumprocessorcountex).
pub const ALL_PROCESSOR_GROUPS: u32 = 65535;

// The KMDF function table and globals that the WDF headers declare `extern` (wdffuncenum.h,
// wdfglobals.h); wdk-build's bindgen callback renames `WdfFunctions_01033` to `WdfFunctions`.
// The check links a stand-in definition of them (windows/check/wdf-entry.s), as
// WdfDriverEntry.lib and wdk-sys's compiled wdf.c provide them on Windows.
unsafe extern "C" {
    #[link_name = "WdfFunctions_01033"]
    pub static mut WdfFunctions: *const WDFFUNC;
}
unsafe extern "C" {
    pub static mut WdfDriverGlobals: PWDF_DRIVER_GLOBALS;
}
unsafe extern "C" {
    pub static mut WdfFunctionCount: ULONG;
}
