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
    if !NT_SUCCESS(status) {
        wdk::println!("ndis_rwlock: WdfDriverCreate failed with {status:#010x}");
        return status;
    }
    wdk::println!("ndis_rwlock: loaded as a KMDF driver");
    if self_test::requested()
        && let Err(status) = self_test::run()
    {
        return status;
    }
    STATUS_SUCCESS
}

/// The load-time self-test (`crate::selftest`, the same code the host tests run on the
/// simulated kernel): `Parameters\SelfTest` = 1 under the service key turns it on.
mod self_test {
    extern crate alloc;

    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

    use wdk_sys::{
        GROUP_AFFINITY, HANDLE, KEVENT, NTSTATUS, PROCESSOR_NUMBER, PVOID,
        RTL_QUERY_REGISTRY_TABLE, ULONG, ntddk,
    };

    use crate::kernel::{Kernel, Wdk};
    use crate::selftest::{self, Log, Shared};

    // Constants of wdm.h, written out: their binding names are not all stable across wdk-sys
    // versions.
    const RTL_REGISTRY_SERVICES: ULONG = 1;
    const RTL_QUERY_REGISTRY_DIRECT: ULONG = 0x20;
    const RTL_QUERY_REGISTRY_TYPECHECK: ULONG = 0x100;
    const RTL_QUERY_REGISTRY_TYPECHECK_SHIFT: ULONG = 24;
    const REG_DWORD: ULONG = 4;
    const THREAD_ALL_ACCESS: ULONG = 0x001F_FFFF;
    const NOTIFICATION_EVENT: i32 = 0;
    const EXECUTIVE: i32 = 0;
    const KERNEL_MODE: i8 = 0;
    /// Stress iterations per processor.
    const ITERATIONS: u32 = 200_000;

    /// ASCII to a NUL-terminated UTF-16 string, at compile time.
    const fn wide<const N: usize>(text: &[u8; N]) -> [u16; N] {
        let mut out = [0u16; N];
        let mut i = 0;
        while i < N {
            out[i] = text[i] as u16;
            i += 1;
        }
        out
    }

    static PATH: [u16; 23] = wide(b"ndis_rwlock\\Parameters\0");
    static NAME: [u16; 9] = wide(b"SelfTest\0");

    struct DbgLog;

    impl Log for DbgLog {
        fn line(&mut self, text: &str) {
            wdk::println!("{text}");
        }
    }

    /// Whether `HKLM\...\Services\ndis_rwlock\Parameters\SelfTest` is a DWORD of 1.
    pub(super) fn requested() -> bool {
        let mut value: ULONG = 0;
        let mut table: [RTL_QUERY_REGISTRY_TABLE; 2] = Default::default();
        table[0].Flags = RTL_QUERY_REGISTRY_DIRECT | RTL_QUERY_REGISTRY_TYPECHECK;
        table[0].Name = NAME.as_ptr().cast_mut();
        table[0].EntryContext = (&raw mut value).cast();
        table[0].DefaultType = REG_DWORD << RTL_QUERY_REGISTRY_TYPECHECK_SHIFT;
        // SAFETY: a zero-terminated query table (the second entry is zeroed), NUL-terminated
        // path and name that live for the program, and a DWORD to receive the value.
        let status = unsafe {
            ntddk::RtlQueryRegistryValues(
                RTL_REGISTRY_SERVICES,
                PATH.as_ptr(),
                table.as_mut_ptr(),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
            )
        };
        wdk_sys::NT_SUCCESS(status) && value == 1
    }

    /// What every stress thread shares.
    struct Run {
        shared: Shared<Wdk>,
        writes: AtomicU64,
        failed: AtomicI32,
        running: AtomicU32,
        done: KEVENT,
    }

    struct Context {
        run: *mut Run,
        processor: ULONG,
    }

    /// Runs conformance on this thread, then one system thread per processor.
    pub(super) fn run() -> Result<(), NTSTATUS> {
        let mut log = DbgLog;
        log.line("ndis_rwlock: self-test: start");
        let checks = selftest::conformance::<Wdk>(&mut log).map_err(|f| report(&f))?;
        wdk::println!("ndis_rwlock: self-test: {checks} conformance checks passed");

        let processors = Wdk::max_processors();
        let mut run = alloc::boxed::Box::new(Run {
            shared: Shared::new().map_err(|f| report(&f))?,
            writes: AtomicU64::new(0),
            failed: AtomicI32::new(0),
            running: AtomicU32::new(processors),
            done: KEVENT::default(),
        });
        // SAFETY: a KEVENT in nonpaged memory (the box) that lives until the wait ends.
        unsafe { ntddk::KeInitializeEvent(&mut run.done, NOTIFICATION_EVENT, 0) };
        let run_ptr: *mut Run = &mut *run;
        let contexts: Vec<Context> = (0..processors)
            .map(|processor| Context {
                run: run_ptr,
                processor,
            })
            .collect();
        for context in &contexts {
            let mut handle: HANDLE = core::ptr::null_mut();
            // SAFETY: `context` outlives the thread (we wait for every thread below);
            // `worker` matches KSTART_ROUTINE.
            let status = unsafe {
                ntddk::PsCreateSystemThread(
                    &mut handle,
                    THREAD_ALL_ACCESS,
                    core::ptr::null_mut(),
                    core::ptr::null_mut(),
                    core::ptr::null_mut(),
                    Some(worker),
                    core::ptr::from_ref(context).cast_mut().cast(),
                )
            };
            if wdk_sys::NT_SUCCESS(status) {
                // SAFETY: the handle PsCreateSystemThread returned; the thread runs on.
                let closed = unsafe { ntddk::ZwClose(handle) };
                if !wdk_sys::NT_SUCCESS(closed) {
                    run.failed.store(closed, Ordering::SeqCst);
                }
            } else {
                run.failed.store(status, Ordering::SeqCst);
                finish(run_ptr);
            }
        }
        // SAFETY: the event was initialised above; the last worker (or failed creation)
        // signals it; kernel-mode, non-alertable wait without timeout at PASSIVE_LEVEL.
        let waited = unsafe {
            ntddk::KeWaitForSingleObject(
                (&raw mut run.done).cast(),
                EXECUTIVE,
                KERNEL_MODE,
                0,
                core::ptr::null_mut(),
            )
        };
        if !wdk_sys::NT_SUCCESS(waited) {
            // Workers may still use `run`: leave it allocated.
            alloc::boxed::Box::leak(run);
            return Err(waited);
        }
        let failed = run.failed.load(Ordering::SeqCst);
        if failed != 0 {
            wdk::println!("ndis_rwlock: self-test: FAILED on a processor, status {failed:#010x}");
            return Err(failed);
        }
        let writes = run.writes.load(Ordering::SeqCst);
        selftest::check_final(&run.shared, writes).map_err(|f| report(&f))?;
        wdk::println!("ndis_rwlock: self-test: passed on {processors} processors, {writes} writes");
        Ok(())
    }

    fn report(failure: &selftest::Failure) -> NTSTATUS {
        wdk::println!(
            "ndis_rwlock: self-test: FAILED: {} (found {}, expected {})",
            failure.check,
            failure.found,
            failure.expected
        );
        failure.ntstatus()
    }

    /// Counts a thread out; the last one wakes `run`.
    fn finish(run: *mut Run) {
        // SAFETY: `run` lives until the waiter returns, which needs this very signal.
        let run = unsafe { &mut *run };
        if run.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            // SAFETY: an initialised event; no wait follows the signal on this thread.
            unsafe { ntddk::KeSetEvent(&mut run.done, 0, 0) };
        }
    }

    /// A stress thread: moves to its processor, runs the worker, reports, exits.
    ///
    /// # Safety
    ///
    /// Started by `run` with a `Context` that outlives the thread.
    unsafe extern "C" fn worker(context: PVOID) {
        // SAFETY: the context `run` passed, alive until every thread has finished.
        let context = unsafe { &*context.cast::<Context>() };
        let mut number = PROCESSOR_NUMBER::default();
        // SAFETY: a valid processor index below the maximum count, and a struct to fill.
        let numbered =
            unsafe { ntddk::KeGetProcessorNumberFromIndex(context.processor, &mut number) };
        let mut affinity = GROUP_AFFINITY {
            Mask: 1 << number.Number,
            Group: number.Group,
            ..GROUP_AFFINITY::default()
        };
        let mut previous = GROUP_AFFINITY::default();
        // SAFETY: at PASSIVE_LEVEL in a system thread; reverted below.
        unsafe { ntddk::KeSetSystemGroupAffinityThread(&mut affinity, &mut previous) };
        // SAFETY: `run` lives until the last `finish`.
        let run = unsafe { &*context.run };
        let seed = u64::from(context.processor) + 1;
        if !wdk_sys::NT_SUCCESS(numbered) {
            run.failed.store(numbered, Ordering::SeqCst);
        }
        match selftest::stress_worker(&run.shared, seed, ITERATIONS) {
            Ok(stats) => {
                run.writes.fetch_add(stats.writes, Ordering::SeqCst);
            }
            Err(failure) => {
                run.failed.store(report(&failure), Ordering::SeqCst);
            }
        }
        // SAFETY: restores the affinity saved above.
        unsafe { ntddk::KeRevertToUserGroupAffinityThread(&mut previous) };
        finish(context.run);
        // SAFETY: a system thread ends itself this way. The call returns (an error) only on a
        // thread that is not a system thread; then returning ends it too.
        let _ = unsafe { ntddk::PsTerminateSystemThread(0) };
    }
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
