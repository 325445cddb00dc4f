// Stand-in for the `types.rs` that wdk-sys 0.5.2's build script generates with bindgen from the
// WDK headers (x64, KMDF 1.33), for the Linux check of the Windows build
// (scripts/windows-check.sh). Written by hand in bindgen's rendering with wdk-build's settings
// (`derive_default`, `ModuleConsts` enums, `use_core`): only the types that ndis-rwlock, its
// consumer driver, wdk, wdk-alloc and wdk-panic name. Each comes from Microsoft's public
// documentation (learn.microsoft.com, "Windows Driver Kit DDI reference" and the Windows data
// types page), cited per item. Structures whose fields nothing here touches are rendered as
// bindgen renders an incomplete type (opaque).

// ---- Base types: "Windows Data Types" (learn.microsoft.com/windows/win32/winprog/windows-data-types)
// and ntdef.h as documented there. `long` is 32 bits on Windows (LLP64).
pub type CHAR = ::core::ffi::c_char;
pub type CCHAR = ::core::ffi::c_char;
pub type UCHAR = ::core::ffi::c_uchar;
pub type USHORT = ::core::ffi::c_ushort;
pub type WCHAR = ::core::ffi::c_ushort;
pub type LONG = ::core::ffi::c_long;
pub type ULONG = ::core::ffi::c_ulong;
pub type LONGLONG = ::core::ffi::c_longlong;
pub type ULONG64 = ::core::ffi::c_ulonglong;
pub type ULONG_PTR = ::core::ffi::c_ulonglong;
pub type SIZE_T = ULONG_PTR;
pub type BOOLEAN = UCHAR;
pub type PVOID = *mut ::core::ffi::c_void;
pub type HANDLE = *mut ::core::ffi::c_void;
pub type PHANDLE = *mut HANDLE;
pub type PWSTR = *mut WCHAR;
pub type PCWSTR = *const WCHAR;
pub type PWCH = *mut WCHAR;
pub type PCSTR = *const CHAR;
pub type ACCESS_MASK = ULONG;
pub type KAFFINITY = ULONG_PTR;
// NTSTATUS: "Using NTSTATUS Values" (kernel/using-ntstatus-values): a LONG.
pub type NTSTATUS = LONG;

// ---- Kernel scalar types (wdm.h), as the DDI reference pages show them in prototypes.
// KIRQL: "Managing Hardware Priorities" (kernel/managing-hardware-priorities): a UCHAR.
pub type KIRQL = UCHAR;
pub type PKIRQL = *mut KIRQL;
// KSPIN_LOCK: "Introduction to Spin Locks" (kernel/introduction-to-spin-locks): a ULONG_PTR.
pub type KSPIN_LOCK = ULONG_PTR;
pub type PKSPIN_LOCK = *mut KSPIN_LOCK;
// POOL_FLAGS: "POOL_FLAGS" (kernel/pool_flags): a ULONG64 bit field.
pub type POOL_FLAGS = ULONG64;
// EX_PUSH_LOCK: ExInitializePushLock (wdm/nf-wdm-exinitializepushlock) takes a PEX_PUSH_LOCK;
// wdm.h declares EX_PUSH_LOCK as a ULONG_PTR.
pub type EX_PUSH_LOCK = ULONG_PTR;
pub type PEX_PUSH_LOCK = *mut EX_PUSH_LOCK;
// KPROCESSOR_MODE: KeWaitForSingleObject (wdm/nf-wdm-kewaitforsingleobject), WaitMode: a CCHAR.
pub type KPROCESSOR_MODE = CCHAR;
// KPRIORITY: KeSetEvent (wdm/nf-wdm-kesetevent), Increment: a LONG.
pub type KPRIORITY = LONG;

// ---- Structures.
// PROCESSOR_NUMBER (miniport/ns-miniport-_processor_number).
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct _PROCESSOR_NUMBER {
    pub Group: USHORT,
    pub Number: UCHAR,
    pub Reserved: UCHAR,
}
pub type PROCESSOR_NUMBER = _PROCESSOR_NUMBER;
pub type PPROCESSOR_NUMBER = *mut _PROCESSOR_NUMBER;

// GROUP_AFFINITY (miniport/ns-miniport-_group_affinity).
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct _GROUP_AFFINITY {
    pub Mask: KAFFINITY,
    pub Group: USHORT,
    pub Reserved: [USHORT; 3usize],
}
pub type GROUP_AFFINITY = _GROUP_AFFINITY;
pub type PGROUP_AFFINITY = *mut _GROUP_AFFINITY;

// UNICODE_STRING (ntdef/ns-ntdef-_unicode_string).
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _UNICODE_STRING {
    pub Length: USHORT,
    pub MaximumLength: USHORT,
    pub Buffer: PWCH,
}
impl Default for _UNICODE_STRING {
    fn default() -> Self {
        let mut s = ::core::mem::MaybeUninit::<Self>::uninit();
        unsafe {
            ::core::ptr::write_bytes(s.as_mut_ptr(), 0, 1);
            s.assume_init()
        }
    }
}
pub type UNICODE_STRING = _UNICODE_STRING;
pub type PUNICODE_STRING = *mut UNICODE_STRING;
pub type PCUNICODE_STRING = *const UNICODE_STRING;

// LIST_ENTRY (ntdef/ns-ntdef-list_entry).
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _LIST_ENTRY {
    pub Flink: *mut _LIST_ENTRY,
    pub Blink: *mut _LIST_ENTRY,
}
impl Default for _LIST_ENTRY {
    fn default() -> Self {
        let mut s = ::core::mem::MaybeUninit::<Self>::uninit();
        unsafe {
            ::core::ptr::write_bytes(s.as_mut_ptr(), 0, 1);
            s.assume_init()
        }
    }
}
pub type LIST_ENTRY = _LIST_ENTRY;

// KEVENT: "Event Objects" (kernel/event-objects) says drivers allocate it in nonpaged memory and
// never touch its fields; wdm.h defines it as a DISPATCHER_HEADER (24 bytes on x64: a 32-bit
// lock word in a union of type/flag bytes, SignalState, WaitListHead). The union is rendered
// with the one member bindgen names first.
#[repr(C)]
#[derive(Copy, Clone)]
pub union _DISPATCHER_HEADER__bindgen_ty_1 {
    pub Lock: LONG,
    pub LockNV: LONG,
}
impl Default for _DISPATCHER_HEADER__bindgen_ty_1 {
    fn default() -> Self {
        let mut s = ::core::mem::MaybeUninit::<Self>::uninit();
        unsafe {
            ::core::ptr::write_bytes(s.as_mut_ptr(), 0, 1);
            s.assume_init()
        }
    }
}
#[repr(C)]
#[derive(Copy, Clone)]
pub struct _DISPATCHER_HEADER {
    pub __bindgen_anon_1: _DISPATCHER_HEADER__bindgen_ty_1,
    pub SignalState: LONG,
    pub WaitListHead: LIST_ENTRY,
}
impl Default for _DISPATCHER_HEADER {
    fn default() -> Self {
        let mut s = ::core::mem::MaybeUninit::<Self>::uninit();
        unsafe {
            ::core::ptr::write_bytes(s.as_mut_ptr(), 0, 1);
            s.assume_init()
        }
    }
}
pub type DISPATCHER_HEADER = _DISPATCHER_HEADER;
#[repr(C)]
#[derive(Copy, Clone)]
pub struct _KEVENT {
    pub Header: DISPATCHER_HEADER,
}
impl Default for _KEVENT {
    fn default() -> Self {
        let mut s = ::core::mem::MaybeUninit::<Self>::uninit();
        unsafe {
            ::core::ptr::write_bytes(s.as_mut_ptr(), 0, 1);
            s.assume_init()
        }
    }
}
pub type KEVENT = _KEVENT;
pub type PKEVENT = *mut _KEVENT;
pub type PRKEVENT = *mut _KEVENT;

// LARGE_INTEGER (winnt/ns-winnt-large_integer~r1): a union of the two halves and QuadPart.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct _LARGE_INTEGER__bindgen_ty_1 {
    pub LowPart: ULONG,
    pub HighPart: LONG,
}
#[repr(C)]
#[derive(Copy, Clone)]
pub union _LARGE_INTEGER {
    pub __bindgen_anon_1: _LARGE_INTEGER__bindgen_ty_1,
    pub u: _LARGE_INTEGER__bindgen_ty_1,
    pub QuadPart: LONGLONG,
}
impl Default for _LARGE_INTEGER {
    fn default() -> Self {
        let mut s = ::core::mem::MaybeUninit::<Self>::uninit();
        unsafe {
            ::core::ptr::write_bytes(s.as_mut_ptr(), 0, 1);
            s.assume_init()
        }
    }
}
pub type LARGE_INTEGER = _LARGE_INTEGER;
pub type PLARGE_INTEGER = *mut LARGE_INTEGER;

// RTL_QUERY_REGISTRY_TABLE and its routine (wdm/nf-wdm-rtlqueryregistryvalues,
// wdm/nc-wdm-rtl_query_registry_routine).
pub type PRTL_QUERY_REGISTRY_ROUTINE = ::core::option::Option<
    unsafe extern "C" fn(
        ValueName: PWSTR,
        ValueType: ULONG,
        ValueData: PVOID,
        ValueLength: ULONG,
        Context: PVOID,
        EntryContext: PVOID,
    ) -> NTSTATUS,
>;
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _RTL_QUERY_REGISTRY_TABLE {
    pub QueryRoutine: PRTL_QUERY_REGISTRY_ROUTINE,
    pub Flags: ULONG,
    pub Name: PWSTR,
    pub EntryContext: PVOID,
    pub DefaultType: ULONG,
    pub DefaultData: PVOID,
    pub DefaultLength: ULONG,
}
impl Default for _RTL_QUERY_REGISTRY_TABLE {
    fn default() -> Self {
        let mut s = ::core::mem::MaybeUninit::<Self>::uninit();
        unsafe {
            ::core::ptr::write_bytes(s.as_mut_ptr(), 0, 1);
            s.assume_init()
        }
    }
}
pub type RTL_QUERY_REGISTRY_TABLE = _RTL_QUERY_REGISTRY_TABLE;
pub type PRTL_QUERY_REGISTRY_TABLE = *mut _RTL_QUERY_REGISTRY_TABLE;

// Passed by pointer only, fields untouched here: DRIVER_OBJECT (wdm/ns-wdm-_driver_object),
// OBJECT_ATTRIBUTES (wudfwdm/ns-wudfwdm-_object_attributes), CLIENT_ID (PsCreateSystemThread's
// ClientId). Rendered opaque.
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _DRIVER_OBJECT {
    _unused: [u8; 0],
}
pub type DRIVER_OBJECT = _DRIVER_OBJECT;
pub type PDRIVER_OBJECT = *mut _DRIVER_OBJECT;
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _OBJECT_ATTRIBUTES {
    _unused: [u8; 0],
}
pub type POBJECT_ATTRIBUTES = *mut _OBJECT_ATTRIBUTES;
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _CLIENT_ID {
    _unused: [u8; 0],
}
pub type PCLIENT_ID = *mut _CLIENT_ID;

// ---- Enumerations (ModuleConsts style), values from the documentation pages.
// EVENT_TYPE: KeInitializeEvent (wdm/nf-wdm-keinitializeevent): NotificationEvent,
// SynchronizationEvent.
pub mod _EVENT_TYPE {
    pub type Type = ::core::ffi::c_int;
    pub const NotificationEvent: Type = 0;
    pub const SynchronizationEvent: Type = 1;
}
pub use self::_EVENT_TYPE::Type as EVENT_TYPE;
// KWAIT_REASON: KeWaitForSingleObject (wdm/nf-wdm-kewaitforsingleobject): Executive first.
pub mod _KWAIT_REASON {
    pub type Type = ::core::ffi::c_int;
    pub const Executive: Type = 0;
}
pub use self::_KWAIT_REASON::Type as KWAIT_REASON;

// ---- Callback types.
// KSTART_ROUTINE (wdm/nc-wdm-kstart_routine).
pub type KSTART_ROUTINE = ::core::option::Option<unsafe extern "C" fn(StartContext: PVOID)>;
pub type PKSTART_ROUTINE = KSTART_ROUTINE;
// KIPI_BROADCAST_WORKER (wdm/nc-wdm-kipi_broadcast_worker).
pub type PKIPI_BROADCAST_WORKER =
    ::core::option::Option<unsafe extern "C" fn(Argument: ULONG_PTR) -> ULONG_PTR>;

// ---- KMDF 1.33 (wdf*.h, documented under "wdfdriver.h", "wdfobject.h", "wdfdevice.h",
// "wdfsync.h", "wdftimer.h" of the DDI reference).
// Handles: DECLARE_HANDLE types ("Framework Object Handles"); WDFOBJECT is a HANDLE.
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct WDFDRIVER__ {
    pub unused: ::core::ffi::c_int,
}
pub type WDFDRIVER = *mut WDFDRIVER__;
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct WDFDEVICE__ {
    pub unused: ::core::ffi::c_int,
}
pub type WDFDEVICE = *mut WDFDEVICE__;
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct WDFSPINLOCK__ {
    pub unused: ::core::ffi::c_int,
}
pub type WDFSPINLOCK = *mut WDFSPINLOCK__;
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct WDFTIMER__ {
    pub unused: ::core::ffi::c_int,
}
pub type WDFTIMER = *mut WDFTIMER__;
pub type WDFOBJECT = HANDLE;
// WDFDEVICE_INIT: an opaque structure (wdfdevice.h, "WDFDEVICE_INIT").
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct WDFDEVICE_INIT {
    _unused: [u8; 0],
}
pub type PWDFDEVICE_INIT = *mut WDFDEVICE_INIT;

// WDF_DRIVER_GLOBALS (wdfglobals.h; the first argument of every function-table entry).
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _WDF_DRIVER_GLOBALS {
    pub Driver: WDFDRIVER,
    pub DriverFlags: ULONG,
    pub DriverTag: ULONG,
    pub DriverName: [CHAR; 32usize],
    pub DisplaceDriverUnload: BOOLEAN,
}
pub type PWDF_DRIVER_GLOBALS = *mut _WDF_DRIVER_GLOBALS;

// WDFFUNC: the function-table entry type (wdffuncenum.h).
pub type WDFFUNC = ::core::option::Option<unsafe extern "C" fn()>;

// WDF_EXECUTION_LEVEL, WDF_SYNCHRONIZATION_SCOPE (wdfobject.h).
pub mod _WDF_EXECUTION_LEVEL {
    pub type Type = ::core::ffi::c_int;
    pub const WdfExecutionLevelInvalid: Type = 0;
    pub const WdfExecutionLevelInheritFromParent: Type = 1;
    pub const WdfExecutionLevelPassive: Type = 2;
    pub const WdfExecutionLevelDispatch: Type = 3;
}
pub use self::_WDF_EXECUTION_LEVEL::Type as WDF_EXECUTION_LEVEL;
pub mod _WDF_SYNCHRONIZATION_SCOPE {
    pub type Type = ::core::ffi::c_int;
    pub const WdfSynchronizationScopeInvalid: Type = 0;
    pub const WdfSynchronizationScopeInheritFromParent: Type = 1;
    pub const WdfSynchronizationScopeDevice: Type = 2;
    pub const WdfSynchronizationScopeQueue: Type = 3;
    pub const WdfSynchronizationScopeNone: Type = 4;
}
pub use self::_WDF_SYNCHRONIZATION_SCOPE::Type as WDF_SYNCHRONIZATION_SCOPE;

// WDF_OBJECT_ATTRIBUTES (wdfobject/ns-wdfobject-_wdf_object_attributes). The context type info
// is only pointed to here: opaque.
pub type PFN_WDF_OBJECT_CONTEXT_CLEANUP =
    ::core::option::Option<unsafe extern "C" fn(Object: WDFOBJECT)>;
pub type PFN_WDF_OBJECT_CONTEXT_DESTROY =
    ::core::option::Option<unsafe extern "C" fn(Object: WDFOBJECT)>;
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _WDF_OBJECT_CONTEXT_TYPE_INFO {
    _unused: [u8; 0],
}
pub type PCWDF_OBJECT_CONTEXT_TYPE_INFO = *const _WDF_OBJECT_CONTEXT_TYPE_INFO;
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct _WDF_OBJECT_ATTRIBUTES {
    pub Size: ULONG,
    pub EvtCleanupCallback: PFN_WDF_OBJECT_CONTEXT_CLEANUP,
    pub EvtDestroyCallback: PFN_WDF_OBJECT_CONTEXT_DESTROY,
    pub ExecutionLevel: WDF_EXECUTION_LEVEL,
    pub SynchronizationScope: WDF_SYNCHRONIZATION_SCOPE,
    pub ParentObject: WDFOBJECT,
    pub ContextSizeOverride: usize,
    pub ContextTypeInfo: PCWDF_OBJECT_CONTEXT_TYPE_INFO,
}
impl Default for _WDF_OBJECT_ATTRIBUTES {
    fn default() -> Self {
        let mut s = ::core::mem::MaybeUninit::<Self>::uninit();
        unsafe {
            ::core::ptr::write_bytes(s.as_mut_ptr(), 0, 1);
            s.assume_init()
        }
    }
}
pub type WDF_OBJECT_ATTRIBUTES = _WDF_OBJECT_ATTRIBUTES;
pub type PWDF_OBJECT_ATTRIBUTES = *mut _WDF_OBJECT_ATTRIBUTES;

// WDF_DRIVER_CONFIG and its callbacks (wdfdriver/ns-wdfdriver-_wdf_driver_config,
// wdfdriver/nc-wdfdriver-evt_wdf_driver_device_add, .../nc-wdfdriver-evt_wdf_driver_unload).
pub type PFN_WDF_DRIVER_DEVICE_ADD = ::core::option::Option<
    unsafe extern "C" fn(Driver: WDFDRIVER, DeviceInit: PWDFDEVICE_INIT) -> NTSTATUS,
>;
pub type PFN_WDF_DRIVER_UNLOAD = ::core::option::Option<unsafe extern "C" fn(Driver: WDFDRIVER)>;
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct _WDF_DRIVER_CONFIG {
    pub Size: ULONG,
    pub EvtDriverDeviceAdd: PFN_WDF_DRIVER_DEVICE_ADD,
    pub EvtDriverUnload: PFN_WDF_DRIVER_UNLOAD,
    pub DriverInitFlags: ULONG,
    pub DriverPoolTag: ULONG,
}
pub type WDF_DRIVER_CONFIG = _WDF_DRIVER_CONFIG;
pub type PWDF_DRIVER_CONFIG = *mut _WDF_DRIVER_CONFIG;

// WDF_TIMER_CONFIG and its callback (wdftimer/ns-wdftimer-_wdf_timer_config,
// wdftimer/nc-wdftimer-evt_wdf_timer).
pub type PFN_WDF_TIMER = ::core::option::Option<unsafe extern "C" fn(Timer: WDFTIMER)>;
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct _WDF_TIMER_CONFIG {
    pub Size: ULONG,
    pub EvtTimerFunc: PFN_WDF_TIMER,
    pub Period: ULONG,
    pub AutomaticSerialization: BOOLEAN,
    pub TolerableDelay: ULONG,
    pub UseHighResolutionTimer: BOOLEAN,
}
pub type WDF_TIMER_CONFIG = _WDF_TIMER_CONFIG;
pub type PWDF_TIMER_CONFIG = *mut _WDF_TIMER_CONFIG;

// The function table: indices of the WDFFUNCENUM enumeration (wdffuncenum.h, as published in
// the open-source KMDF, github.com/microsoft/Windows-Driver-Frameworks) for the routines called
// through `call_unsafe_wdf_function_binding!`, and their `PFN_WDF*` types, one per DDI page:
// WdfDriverCreate (wdfdriver/nf-wdfdriver-wdfdrivercreate), WdfDeviceCreate
// (wdfdevice/nf-wdfdevice-wdfdevicecreate), WdfSpinLockCreate/Acquire/Release
// (wdfsync/nf-wdfsync-wdfspinlockcreate, -acquire, -release), WdfTimerCreate/Start/Stop
// (wdftimer/nf-wdftimer-wdftimercreate, -start, -stop). The DriverGlobals first argument is
// the table's calling convention (wdfdriver.h's inline wrappers pass WdfDriverGlobals).
pub mod _WDFFUNCENUM {
    pub type Type = ::core::ffi::c_int;
    pub const WdfDeviceCreateTableIndex: Type = 75;
    pub const WdfDriverCreateTableIndex: Type = 116;
    pub const WdfSpinLockCreateTableIndex: Type = 315;
    pub const WdfSpinLockAcquireTableIndex: Type = 316;
    pub const WdfSpinLockReleaseTableIndex: Type = 317;
    pub const WdfTimerCreateTableIndex: Type = 318;
    pub const WdfTimerStartTableIndex: Type = 319;
    pub const WdfTimerStopTableIndex: Type = 320;
}
pub type PFN_WDFDRIVERCREATE = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        DriverObject: PDRIVER_OBJECT,
        RegistryPath: PCUNICODE_STRING,
        DriverAttributes: PWDF_OBJECT_ATTRIBUTES,
        DriverConfig: PWDF_DRIVER_CONFIG,
        Driver: *mut WDFDRIVER,
    ) -> NTSTATUS,
>;
pub type PFN_WDFDEVICECREATE = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        DeviceInit: *mut PWDFDEVICE_INIT,
        DeviceAttributes: PWDF_OBJECT_ATTRIBUTES,
        Device: *mut WDFDEVICE,
    ) -> NTSTATUS,
>;
pub type PFN_WDFSPINLOCKCREATE = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        SpinLockAttributes: PWDF_OBJECT_ATTRIBUTES,
        SpinLock: *mut WDFSPINLOCK,
    ) -> NTSTATUS,
>;
pub type PFN_WDFSPINLOCKACQUIRE = ::core::option::Option<
    unsafe extern "C" fn(DriverGlobals: PWDF_DRIVER_GLOBALS, SpinLock: WDFSPINLOCK),
>;
pub type PFN_WDFSPINLOCKRELEASE = ::core::option::Option<
    unsafe extern "C" fn(DriverGlobals: PWDF_DRIVER_GLOBALS, SpinLock: WDFSPINLOCK),
>;
pub type PFN_WDFTIMERCREATE = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        Config: PWDF_TIMER_CONFIG,
        Attributes: PWDF_OBJECT_ATTRIBUTES,
        Timer: *mut WDFTIMER,
    ) -> NTSTATUS,
>;
pub type PFN_WDFTIMERSTART = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        Timer: WDFTIMER,
        DueTime: LONGLONG,
    ) -> BOOLEAN,
>;
pub type PFN_WDFTIMERSTOP = ::core::option::Option<
    unsafe extern "C" fn(
        DriverGlobals: PWDF_DRIVER_GLOBALS,
        Timer: WDFTIMER,
        Wait: BOOLEAN,
    ) -> BOOLEAN,
>;
