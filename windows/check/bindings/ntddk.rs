// Stand-in for the `ntddk.rs` that wdk-sys 0.5.2's build script generates with bindgen (the
// functions of ntddk.h/wdm.h), for the Linux check of the Windows build
// (scripts/windows-check.sh). Exactly the routines that ndis-rwlock, its consumer driver, wdk,
// wdk-alloc and wdk-panic call, each transcribed from the prototype on its page of Microsoft's
// DDI reference (learn.microsoft.com/windows-hardware/drivers/ddi/<header>/nf-<header>-<name>,
// cited per routine) in bindgen's rendering: `unsafe extern "C"` (the x64 and ARM64 system
// convention), parameter names kept, `#[must_use]` on NTSTATUS results (wdk-build sets
// `must_use_type("NTSTATUS")`), `-> !` for DECLSPEC_NORETURN. A routine that wdm.h defines only
// as an inline function or a macro (KeRaiseIrql, KeAcquireSpinLock, and on x64
// KeInitializeSpinLock in some headers) has no binding, as in the real crate, and is absent.
//
// The link directives are the ones wdk-build's `bindgen_library_link_raw_lines` adds for a
// KMDF driver (`base_libraries`); the check provides these libraries (an ntoskrnl import
// library made from windows/check/ntoskrnl.def, stand-ins for the others).

#[cfg(not(any(test, feature = "suppress-wdk-linking")))]
#[link(
    name = "BufferOverflowFastFailK",
    kind = "static",
    modifiers = "-bundle"
)]
unsafe extern "C" {}
#[cfg(not(any(test, feature = "suppress-wdk-linking")))]
#[link(name = "ntoskrnl", kind = "static", modifiers = "-bundle")]
unsafe extern "C" {}
#[cfg(not(any(test, feature = "suppress-wdk-linking")))]
#[link(name = "hal", kind = "static", modifiers = "-bundle")]
unsafe extern "C" {}
#[cfg(not(any(test, feature = "suppress-wdk-linking")))]
#[link(name = "wmilib", kind = "static", modifiers = "-bundle")]
unsafe extern "C" {}
#[cfg(not(any(test, feature = "suppress-wdk-linking")))]
#[link(name = "WdfLdr", kind = "static", modifiers = "-bundle")]
unsafe extern "C" {}
#[cfg(not(any(test, feature = "suppress-wdk-linking")))]
#[link(name = "WdfDriverEntry", kind = "static", modifiers = "-bundle")]
unsafe extern "C" {}

// ---- IRQL
unsafe extern "C" {
    // wdm/nf-wdm-kegetcurrentirql: `KIRQL KeGetCurrentIrql();`
    pub fn KeGetCurrentIrql() -> KIRQL;
}
unsafe extern "C" {
    // wdm/nf-wdm-keraiseirql documents the KeRaiseIrql macro, which wdm.h expands to
    // `*OldIrql = KfRaiseIrql(NewIrql)`: `KIRQL KfRaiseIrql(KIRQL NewIrql);` (also in
    // Microsoft's Windows.Wdk metadata as an ntoskrnl.exe export).
    pub fn KfRaiseIrql(NewIrql: KIRQL) -> KIRQL;
}
unsafe extern "C" {
    // wdm/nf-wdm-kelowerirql: `void KeLowerIrql(KIRQL NewIrql);`
    pub fn KeLowerIrql(NewIrql: KIRQL);
}

// ---- Processors
unsafe extern "C" {
    // wdm/nf-wdm-kegetcurrentprocessornumberex:
    // `ULONG KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber);`
    pub fn KeGetCurrentProcessorNumberEx(ProcNumber: PPROCESSOR_NUMBER) -> ULONG;
}
unsafe extern "C" {
    // wdm/nf-wdm-kequerymaximumprocessorcountex:
    // `ULONG KeQueryMaximumProcessorCountEx(USHORT GroupNumber);`
    pub fn KeQueryMaximumProcessorCountEx(GroupNumber: USHORT) -> ULONG;
}
unsafe extern "C" {
    // wdm/nf-wdm-kegetprocessornumberfromindex:
    // `NTSTATUS KeGetProcessorNumberFromIndex(ULONG ProcIndex, PPROCESSOR_NUMBER ProcNumber);`
    #[must_use]
    pub fn KeGetProcessorNumberFromIndex(
        ProcIndex: ULONG,
        ProcNumber: PPROCESSOR_NUMBER,
    ) -> NTSTATUS;
}
unsafe extern "C" {
    // wdm/nf-wdm-kesetsystemgroupaffinitythread: `void KeSetSystemGroupAffinityThread(
    // PGROUP_AFFINITY Affinity, PGROUP_AFFINITY PreviousAffinity);`
    pub fn KeSetSystemGroupAffinityThread(
        Affinity: PGROUP_AFFINITY,
        PreviousAffinity: PGROUP_AFFINITY,
    );
}
unsafe extern "C" {
    // wdm/nf-wdm-kereverttousergroupaffinitythread:
    // `void KeRevertToUserGroupAffinityThread(PGROUP_AFFINITY PreviousAffinity);`
    pub fn KeRevertToUserGroupAffinityThread(PreviousAffinity: PGROUP_AFFINITY);
}
unsafe extern "C" {
    // wdm/nf-wdm-keipigenericcall: `ULONG_PTR KeIpiGenericCall(
    // PKIPI_BROADCAST_WORKER BroadcastFunction, ULONG_PTR Context);`
    pub fn KeIpiGenericCall(
        BroadcastFunction: PKIPI_BROADCAST_WORKER,
        Context: ULONG_PTR,
    ) -> ULONG_PTR;
}

// ---- Spin locks
unsafe extern "C" {
    // wdm/nf-wdm-keacquirespinlockraisetodpc:
    // `KIRQL KeAcquireSpinLockRaiseToDpc(PKSPIN_LOCK SpinLock);`
    pub fn KeAcquireSpinLockRaiseToDpc(SpinLock: PKSPIN_LOCK) -> KIRQL;
}
unsafe extern "C" {
    // wdm/nf-wdm-kereleasespinlock: `void KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql);`
    pub fn KeReleaseSpinLock(SpinLock: PKSPIN_LOCK, NewIrql: KIRQL);
}
unsafe extern "C" {
    // wdm/nf-wdm-keacquirespinlockatdpclevel:
    // `void KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock);`
    pub fn KeAcquireSpinLockAtDpcLevel(SpinLock: PKSPIN_LOCK);
}
unsafe extern "C" {
    // wdm/nf-wdm-ketrytoacquirespinlockatdpclevel:
    // `BOOLEAN KeTryToAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock);`
    pub fn KeTryToAcquireSpinLockAtDpcLevel(SpinLock: PKSPIN_LOCK) -> BOOLEAN;
}
unsafe extern "C" {
    // wdm/nf-wdm-kereleasespinlockfromdpclevel:
    // `void KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock);`
    pub fn KeReleaseSpinLockFromDpcLevel(SpinLock: PKSPIN_LOCK);
}

// ---- Pool
unsafe extern "C" {
    // wdm/nf-wdm-exallocatepool2:
    // `PVOID ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag);`
    pub fn ExAllocatePool2(Flags: POOL_FLAGS, NumberOfBytes: SIZE_T, Tag: ULONG) -> PVOID;
}
unsafe extern "C" {
    // wdm/nf-wdm-exfreepoolwithtag: `void ExFreePoolWithTag(PVOID P, ULONG Tag);`
    pub fn ExFreePoolWithTag(P: PVOID, Tag: ULONG);
}
unsafe extern "C" {
    // wdm/nf-wdm-exfreepool: `void ExFreePool(PVOID P);` (wdk-alloc's deallocation)
    pub fn ExFreePool(P: PVOID);
}

// ---- Critical regions and push locks
unsafe extern "C" {
    // ntddk/nf-ntddk-keentercriticalregion: `void KeEnterCriticalRegion();`
    pub fn KeEnterCriticalRegion();
}
unsafe extern "C" {
    // ntddk/nf-ntddk-keleavecriticalregion: `void KeLeaveCriticalRegion();`
    pub fn KeLeaveCriticalRegion();
}
unsafe extern "C" {
    // wdm/nf-wdm-exinitializepushlock: `void ExInitializePushLock(PEX_PUSH_LOCK PushLock);`
    pub fn ExInitializePushLock(PushLock: PEX_PUSH_LOCK);
}
unsafe extern "C" {
    // wdm/nf-wdm-exacquirepushlockexclusiveex:
    // `void ExAcquirePushLockExclusiveEx(PEX_PUSH_LOCK PushLock, ULONG Flags);`
    pub fn ExAcquirePushLockExclusiveEx(PushLock: PEX_PUSH_LOCK, Flags: ULONG);
}
unsafe extern "C" {
    // wdm/nf-wdm-exacquirepushlocksharedex:
    // `void ExAcquirePushLockSharedEx(PEX_PUSH_LOCK PushLock, ULONG Flags);`
    pub fn ExAcquirePushLockSharedEx(PushLock: PEX_PUSH_LOCK, Flags: ULONG);
}
unsafe extern "C" {
    // wdm/nf-wdm-exreleasepushlockexclusiveex:
    // `void ExReleasePushLockExclusiveEx(PEX_PUSH_LOCK PushLock, ULONG Flags);`
    pub fn ExReleasePushLockExclusiveEx(PushLock: PEX_PUSH_LOCK, Flags: ULONG);
}
unsafe extern "C" {
    // wdm/nf-wdm-exreleasepushlocksharedex:
    // `void ExReleasePushLockSharedEx(PEX_PUSH_LOCK PushLock, ULONG Flags);`
    pub fn ExReleasePushLockSharedEx(PushLock: PEX_PUSH_LOCK, Flags: ULONG);
}

// ---- Bug checks and debug output
unsafe extern "C" {
    // wdm/nf-wdm-kebugcheckex: `DECLSPEC_NORETURN void KeBugCheckEx(ULONG BugCheckCode,
    // ULONG_PTR BugCheckParameter1, ..., ULONG_PTR BugCheckParameter4);`
    pub fn KeBugCheckEx(
        BugCheckCode: ULONG,
        BugCheckParameter1: ULONG_PTR,
        BugCheckParameter2: ULONG_PTR,
        BugCheckParameter3: ULONG_PTR,
        BugCheckParameter4: ULONG_PTR,
    ) -> !;
}
unsafe extern "C" {
    // wdm/nf-wdm-dbgprint: `ULONG DbgPrint(PCSTR Format, ...);`
    pub fn DbgPrint(Format: PCSTR, ...) -> ULONG;
}

// ---- Registry, events, system threads (the driver's load-time self-test)
unsafe extern "C" {
    // wdm/nf-wdm-rtlqueryregistryvalues: `NTSTATUS RtlQueryRegistryValues(ULONG RelativeTo,
    // PCWSTR Path, PRTL_QUERY_REGISTRY_TABLE QueryTable, PVOID Context, PVOID Environment);`
    #[must_use]
    pub fn RtlQueryRegistryValues(
        RelativeTo: ULONG,
        Path: PCWSTR,
        QueryTable: PRTL_QUERY_REGISTRY_TABLE,
        Context: PVOID,
        Environment: PVOID,
    ) -> NTSTATUS;
}
unsafe extern "C" {
    // wdm/nf-wdm-keinitializeevent:
    // `void KeInitializeEvent(PRKEVENT Event, EVENT_TYPE Type, BOOLEAN State);`
    pub fn KeInitializeEvent(Event: PRKEVENT, Type: EVENT_TYPE, State: BOOLEAN);
}
unsafe extern "C" {
    // wdm/nf-wdm-kesetevent: `LONG KeSetEvent(PRKEVENT Event, KPRIORITY Increment, BOOLEAN Wait);`
    pub fn KeSetEvent(Event: PRKEVENT, Increment: KPRIORITY, Wait: BOOLEAN) -> LONG;
}
unsafe extern "C" {
    // wdm/nf-wdm-kewaitforsingleobject: `NTSTATUS KeWaitForSingleObject(PVOID Object,
    // KWAIT_REASON WaitReason, KPROCESSOR_MODE WaitMode, BOOLEAN Alertable,
    // PLARGE_INTEGER Timeout);`
    #[must_use]
    pub fn KeWaitForSingleObject(
        Object: PVOID,
        WaitReason: KWAIT_REASON,
        WaitMode: KPROCESSOR_MODE,
        Alertable: BOOLEAN,
        Timeout: PLARGE_INTEGER,
    ) -> NTSTATUS;
}
unsafe extern "C" {
    // wdm/nf-wdm-pscreatesystemthread: `NTSTATUS PsCreateSystemThread(PHANDLE ThreadHandle,
    // ULONG DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes, HANDLE ProcessHandle,
    // PCLIENT_ID ClientId, PKSTART_ROUTINE StartRoutine, PVOID StartContext);`
    #[must_use]
    pub fn PsCreateSystemThread(
        ThreadHandle: PHANDLE,
        DesiredAccess: ULONG,
        ObjectAttributes: POBJECT_ATTRIBUTES,
        ProcessHandle: HANDLE,
        ClientId: PCLIENT_ID,
        StartRoutine: PKSTART_ROUTINE,
        StartContext: PVOID,
    ) -> NTSTATUS;
}
unsafe extern "C" {
    // wdm/nf-wdm-psterminatesystemthread: `NTSTATUS PsTerminateSystemThread(NTSTATUS ExitStatus);`
    #[must_use]
    pub fn PsTerminateSystemThread(ExitStatus: NTSTATUS) -> NTSTATUS;
}
unsafe extern "C" {
    // wdm/nf-wdm-zwclose: `NTSYSAPI NTSTATUS ZwClose(HANDLE Handle);`
    #[must_use]
    pub fn ZwClose(Handle: HANDLE) -> NTSTATUS;
}
