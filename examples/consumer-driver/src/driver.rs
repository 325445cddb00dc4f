//! The driver's entry point, allocator and panic handler (Windows only; never compiled on the
//! Linux machines this example is developed on).
//!
//! ndis-rwlock is linked as a library, without its `driver` feature: this image has its own
//! `DriverEntry` and global allocator; ndis-rwlock links wdk-panic, which is this driver's panic
//! handler too (one crate, linked once).

use wdk_alloc::WdkAllocator;
use wdk_sys::{
    NTSTATUS, PCUNICODE_STRING, PDRIVER_OBJECT, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS,
};

use crate::{Config, Flow, FlowTable};
use ndis_rwlock::kernel::DispatchGuard;

extern crate wdk_panic;

#[global_allocator]
static GLOBAL_ALLOCATOR: WdkAllocator = WdkAllocator;

/// `DriverEntry`: builds a flow table, classifies one packet at `DISPATCH_LEVEL` and reports.
///
/// # Safety
///
/// Called once, by the KMDF entry stub, with the driver object and the service key path.
// SAFETY: the only `DriverEntry` of this image: ndis-rwlock is linked without its `driver`
// feature, so it brings none.
#[unsafe(export_name = "DriverEntry")]
pub unsafe extern "system" fn driver_entry(
    _driver: PDRIVER_OBJECT,
    _registry_path: PCUNICODE_STRING,
) -> NTSTATUS {
    let Ok(table) = FlowTable::new(Config::default()) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    let added = table.add(Flow { key: 42, queue: 3 }).is_ok();
    let dispatch = DispatchGuard::raise();
    let queue = table.classify(42, dispatch.token());
    drop(dispatch);
    wdk::println!("flow_table_driver: added={added} queue={queue:?}");
    STATUS_SUCCESS
}
