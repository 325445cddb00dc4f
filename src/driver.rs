//! The driver image `ndis_rwlock.sys`: its entry points, allocator and WDF objects.
//!
//! Compiled only for Windows with the `driver` feature, which the `.sys` build (`cargo make`)
//! turns on. A Rust driver that takes this crate as a dependency leaves the feature off, so
//! none of this reaches it: it brings its own `DriverEntry` and global allocator.
//!
//! The image loads two ways:
//! - as the KMDF service `ndis_rwlock` (INF install, root-enumerated device): KMDF's
//!   `FxDriverEntry` calls [`driver_entry`], which registers with the framework;
//! - as an export driver, when another driver imports a routine from it: the kernel calls
//!   [`dll_initialize`] and never `DriverEntry`, so WDF is not set up. The exported lock
//!   routines therefore use the kernel only (`crate::kernel::Wdk`), never WDF.
//!
//! Not compiled on the Linux machines this crate is developed on: every name here follows the
//! wdk-sys 0.5 bindings and must be confirmed by the first Windows build.

use wdk_alloc::WdkAllocator;
use wdk_sys::{
    NT_SUCCESS, NTSTATUS, PCUNICODE_STRING, PDRIVER_OBJECT, PUNICODE_STRING, STATUS_SUCCESS, ULONG,
    WDF_DRIVER_CONFIG, WDF_NO_HANDLE, WDF_NO_OBJECT_ATTRIBUTES, WDFDEVICE, WDFDEVICE_INIT,
    WDFDRIVER, call_unsafe_wdf_function_binding,
};

/// Rust allocations of the driver image come from nonpaged pool (tag `rust`).
///
/// The lock routines never allocate through it (they use tagged pool through the kernel
/// interface); it is here so that the image is complete if anything in it ever does.
#[global_allocator]
static GLOBAL_ALLOCATOR: WdkAllocator = WdkAllocator;

/// `sizeof(T)` as a WDF `Size` field wants it.
const fn wdf_struct_size<T>() -> ULONG {
    let size = core::mem::size_of::<T>();
    assert!(size <= ULONG::MAX as usize);
    size as ULONG
}

/// `DriverEntry`: registers the driver with KMDF, with a device-add and an unload callback.
///
/// # Safety
///
/// Called once, by KMDF's `FxDriverEntry`, with the driver object and the service key path
/// the I/O manager passed it; nothing else may call it.
// SAFETY: `DriverEntry` is the symbol KMDF's entry stub calls; no other item of this image
// exports that name, and the `driver` feature that compiles this is off in every other build.
#[unsafe(export_name = "DriverEntry")]
pub unsafe extern "system" fn driver_entry(
    driver: PDRIVER_OBJECT,
    registry_path: PCUNICODE_STRING,
) -> NTSTATUS {
    let mut config = WDF_DRIVER_CONFIG {
        Size: wdf_struct_size::<WDF_DRIVER_CONFIG>(),
        EvtDriverDeviceAdd: Some(evt_driver_device_add),
        EvtDriverUnload: Some(evt_driver_unload),
        ..WDF_DRIVER_CONFIG::default()
    };
    // SAFETY: `driver` and `registry_path` are the ones the I/O manager passed to this entry
    // point; `config` is a filled, correctly sized WDF_DRIVER_CONFIG that outlives the call;
    // no attributes and no output handle are requested, which WdfDriverCreate allows.
    let status = unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDriverCreate,
            driver,
            registry_path,
            WDF_NO_OBJECT_ATTRIBUTES,
            &mut config,
            WDF_NO_HANDLE.cast::<WDFDRIVER>(),
        )
    };
    if NT_SUCCESS(status) {
        wdk::println!("ndis_rwlock: loaded as a KMDF driver");
    } else {
        wdk::println!("ndis_rwlock: WdfDriverCreate failed with {status:#010x}");
    }
    status
}

/// `EvtDriverDeviceAdd`: creates the function device object for the root-enumerated device.
///
/// The device has no I/O queue; it exists so that Plug and Play can start (and later stop) the
/// driver. The framework fails any request sent to it.
///
/// # Safety
///
/// Called by KMDF only, with the `WDFDEVICE_INIT` it allocated for this device.
unsafe extern "C" fn evt_driver_device_add(
    _driver: WDFDRIVER,
    mut device_init: *mut WDFDEVICE_INIT,
) -> NTSTATUS {
    let mut device: WDFDEVICE = core::ptr::null_mut();
    // SAFETY: `device_init` is the structure KMDF passed for this device add, used once here;
    // no object attributes are requested; `device` receives the new handle.
    let status = unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceCreate,
            &mut device_init,
            WDF_NO_OBJECT_ATTRIBUTES,
            &mut device,
        )
    };
    if !NT_SUCCESS(status) {
        wdk::println!("ndis_rwlock: WdfDeviceCreate failed with {status:#010x}");
    }
    status
}

/// `EvtDriverUnload`: the driver holds no global state, so there is nothing to release.
///
/// # Safety
///
/// Called by KMDF only, once, when the service stops.
unsafe extern "C" fn evt_driver_unload(_driver: WDFDRIVER) {
    wdk::println!("ndis_rwlock: KMDF driver unloaded");
}

/// `DllInitialize`: the kernel calls it when it loads this image for another driver's imports.
///
/// There is nothing to set up: the exported lock routines keep no global state.
// SAFETY: `DllInitialize` is the symbol the kernel looks up in an export driver; no other item
// of this image exports that name.
#[unsafe(export_name = "DllInitialize")]
pub extern "system" fn dll_initialize(_registry_path: PUNICODE_STRING) -> NTSTATUS {
    wdk::println!("ndis_rwlock: loaded as an export driver");
    STATUS_SUCCESS
}

/// `DllUnload`: the kernel calls it before unloading the export driver, once no importer is
/// left. Returning success allows the unload.
// SAFETY: `DllUnload` is the symbol the kernel looks up in an export driver; no other item of
// this image exports that name.
#[unsafe(export_name = "DllUnload")]
pub extern "system" fn dll_unload() -> NTSTATUS {
    wdk::println!("ndis_rwlock: export driver unloading");
    STATUS_SUCCESS
}
