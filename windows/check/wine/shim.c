/*
 * ntosshim.sys: the kernel routines that Wine 8.0's ntoskrnl.exe lacks or only stubs, for the
 * Wine load of ndis_rwlock.sys in the Linux check (run.sh, scripts/windows-check.sh).
 *
 * The test copy of ndis_rwlock.sys imports from this module instead of ntoskrnl.exe (Wine binds
 * imports by file name). It exports every routine of windows/check/ntoskrnl.def, as
 * shim_<name>: the ones Wine lacks or stubs are modelled here, the rest call Wine's
 * ntoskrnl.exe.
 * - IRQL: Wine's KfRaiseIrql/KeLowerIrql do nothing and it has no KeGetCurrentIrql. Here each
 *   thread has an IRQL, with the transition rules checked (raise never lowers, lower never
 *   raises, spin locks at DISPATCH_LEVEL, push locks at or below APC_LEVEL inside a critical
 *   region). Wine cannot stop preemption at DISPATCH_LEVEL: the test runs one thread per
 *   processor, pinned.
 * - ExAllocatePool2 over ExAllocatePoolWithTag (zeroed), push locks over SRW locks (both a
 *   pointer-sized word, zero when free), KeTryToAcquireSpinLockAtDpcLevel over the spin lock
 *   word as Wine's KeAcquireSpinLockAtDpcLevel uses it (nonzero when held), the group-affinity
 *   routines over SetThreadAffinityMask, KeIpiGenericCall as a call on this processor.
 * A broken rule is counted (NdisRwShimViolations) and printed with DbgPrint.
 */
#include <stdarg.h>

#include "ndis_rwlock.h"

typedef void *HANDLE;
typedef long NTSTATUS;
typedef unsigned long DWORD;
typedef int BOOL;
typedef ULONG_PTR KAFFINITY;
typedef struct _GROUP_AFFINITY {
    KAFFINITY Mask;
    USHORT Group;
    USHORT Reserved[3];
} GROUP_AFFINITY, *PGROUP_AFFINITY;
typedef ULONG_PTR (*PKIPI_BROADCAST_WORKER)(ULONG_PTR Argument);
typedef void (*PKSTART_ROUTINE)(PVOID StartContext);

#define STATUS_SUCCESS 0
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000DL)
#define NON_PAGED_POOL 0
#define TLS_OUT_OF_INDEXES 0xFFFFFFFFu

/* Wine's ntoskrnl.exe (mingw-w64's libntoskrnl.a). */
PVOID ExAllocatePoolWithTag(int PoolType, SIZE_T NumberOfBytes, ULONG Tag);
VOID ExFreePool(PVOID P);
ULONG vDbgPrintEx(ULONG ComponentId, ULONG Level, const char *Format, va_list Arguments);
NTSTATUS RtlQueryRegistryValues(ULONG RelativeTo, const unsigned short *Path, PVOID QueryTable,
                                PVOID Context, PVOID Environment);
VOID KeInitializeEvent(PVOID Event, int Type, BOOLEAN State);
LONG KeSetEvent(PVOID Event, LONG Increment, BOOLEAN Wait);
NTSTATUS KeWaitForSingleObject(PVOID Object, int WaitReason, char WaitMode, BOOLEAN Alertable,
                               PVOID Timeout);
NTSTATUS PsCreateSystemThread(HANDLE *ThreadHandle, ULONG DesiredAccess, PVOID ObjectAttributes,
                              HANDLE ProcessHandle, PVOID ClientId, PKSTART_ROUTINE StartRoutine,
                              PVOID StartContext);
NTSTATUS PsTerminateSystemThread(NTSTATUS ExitStatus);
NTSTATUS ZwClose(HANDLE Handle);
ULONG DbgPrint(const char *Format, ...);
void *memcpy(void *dest, const void *src, size_t n);
void *memset(void *dest, int c, size_t n);

/* kernel32.dll */
__declspec(dllimport) DWORD __stdcall TlsAlloc(void);
__declspec(dllimport) PVOID __stdcall TlsGetValue(DWORD Index);
__declspec(dllimport) BOOL __stdcall TlsSetValue(DWORD Index, PVOID Value);
__declspec(dllimport) HANDLE __stdcall GetCurrentThread(void);
__declspec(dllimport) ULONG_PTR __stdcall SetThreadAffinityMask(HANDLE Thread, ULONG_PTR Mask);
__declspec(dllimport) void __stdcall AcquireSRWLockExclusive(PVOID Lock);
__declspec(dllimport) void __stdcall AcquireSRWLockShared(PVOID Lock);
__declspec(dllimport) void __stdcall ReleaseSRWLockExclusive(PVOID Lock);
__declspec(dllimport) void __stdcall ReleaseSRWLockShared(PVOID Lock);

static volatile LONG violations;
static volatile LONG tls_slot = -1;

/* Per thread: IRQL in bits 0-7, critical-region depth above. */
static DWORD slot(void)
{
    if (tls_slot < 0) {
        LONG fresh = (LONG)TlsAlloc();
        if (__sync_val_compare_and_swap(&tls_slot, -1, fresh) != -1) {
            /* another thread won; its slot is used (one slot leaks, once) */
        }
    }
    return (DWORD)tls_slot;
}
static ULONG_PTR thread_state(void) { return (ULONG_PTR)TlsGetValue(slot()); }
static void set_thread_state(ULONG_PTR state) { TlsSetValue(slot(), (PVOID)state); }
static KIRQL irql(void) { return (KIRQL)(thread_state() & 0xFF); }
static void set_irql(KIRQL new_irql) { set_thread_state((thread_state() & ~(ULONG_PTR)0xFF) | new_irql); }
static ULONG_PTR regions(void) { return thread_state() >> 8; }

static void violation(const char *what, ULONG_PTR detail)
{
    __sync_fetch_and_add(&violations, 1);
    DbgPrint("ntosshim: VIOLATION: %s (%p) at IRQL %u\n", what, (PVOID)detail, irql());
}

LONG NdisRwShimViolations(void) { return violations; }

BOOL __stdcall ShimEntry(PVOID instance, DWORD reason, PVOID reserved)
{
    (void)instance, (void)reason, (void)reserved;
    return 1;
}

/* ---- IRQL ---- */
KIRQL shim_KeGetCurrentIrql(void) { return irql(); }

KIRQL shim_KfRaiseIrql(KIRQL NewIrql)
{
    KIRQL old = irql();
    if (NewIrql < old)
        violation("KfRaiseIrql to a lower IRQL", NewIrql);
    set_irql(NewIrql);
    return old;
}

VOID shim_KeLowerIrql(KIRQL NewIrql)
{
    if (NewIrql > irql())
        violation("KeLowerIrql to a higher IRQL", NewIrql);
    set_irql(NewIrql);
}

/* ---- Processors ---- */
ULONG shim_KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber)
{
    return KeGetCurrentProcessorNumberEx(ProcNumber);
}

ULONG shim_KeQueryMaximumProcessorCountEx(USHORT GroupNumber)
{
    return KeQueryMaximumProcessorCountEx(GroupNumber);
}

NTSTATUS shim_KeGetProcessorNumberFromIndex(ULONG ProcIndex, PPROCESSOR_NUMBER ProcNumber)
{
    if (ProcIndex >= KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS) || ProcIndex >= 64)
        return STATUS_INVALID_PARAMETER;
    ProcNumber->Group = 0;
    ProcNumber->Number = (UCHAR)ProcIndex;
    ProcNumber->Reserved = 0;
    return STATUS_SUCCESS;
}

VOID shim_KeSetSystemGroupAffinityThread(PGROUP_AFFINITY Affinity, PGROUP_AFFINITY PreviousAffinity)
{
    ULONG_PTR previous = SetThreadAffinityMask(GetCurrentThread(), Affinity->Mask);
    if (PreviousAffinity) {
        memset(PreviousAffinity, 0, sizeof(*PreviousAffinity));
        PreviousAffinity->Mask = previous;
    }
}

VOID shim_KeRevertToUserGroupAffinityThread(PGROUP_AFFINITY PreviousAffinity)
{
    SetThreadAffinityMask(GetCurrentThread(), PreviousAffinity->Mask);
}

ULONG_PTR shim_KeIpiGenericCall(PKIPI_BROADCAST_WORKER BroadcastFunction, ULONG_PTR Context)
{
    __sync_synchronize();
    return BroadcastFunction(Context);
}

/* ---- Spin locks ---- */
VOID shim_KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock)
{
    if (irql() < DISPATCH_LEVEL)
        violation("KeAcquireSpinLockAtDpcLevel below DISPATCH_LEVEL", (ULONG_PTR)SpinLock);
    KeAcquireSpinLockAtDpcLevel(SpinLock);
}

BOOLEAN shim_KeTryToAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock)
{
    if (irql() < DISPATCH_LEVEL)
        violation("KeTryToAcquireSpinLockAtDpcLevel below DISPATCH_LEVEL", (ULONG_PTR)SpinLock);
    return __sync_bool_compare_and_swap(SpinLock, 0, 1);
}

VOID shim_KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock)
{
    if (irql() < DISPATCH_LEVEL)
        violation("KeReleaseSpinLockFromDpcLevel below DISPATCH_LEVEL", (ULONG_PTR)SpinLock);
    if (*(volatile KSPIN_LOCK *)SpinLock == 0)
        violation("KeReleaseSpinLockFromDpcLevel of a free spin lock", (ULONG_PTR)SpinLock);
    KeReleaseSpinLockFromDpcLevel(SpinLock);
}

KIRQL shim_KeAcquireSpinLockRaiseToDpc(PKSPIN_LOCK SpinLock)
{
    KIRQL old = irql();
    if (old > DISPATCH_LEVEL)
        violation("KeAcquireSpinLockRaiseToDpc above DISPATCH_LEVEL", (ULONG_PTR)SpinLock);
    set_irql(DISPATCH_LEVEL);
    KeAcquireSpinLockAtDpcLevel(SpinLock);
    return old;
}

VOID shim_KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql)
{
    shim_KeReleaseSpinLockFromDpcLevel(SpinLock);
    shim_KeLowerIrql(NewIrql);
}

/* ---- Pool ---- */
PVOID shim_ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag)
{
    PVOID block;
    if (irql() > DISPATCH_LEVEL)
        violation("ExAllocatePool2 above DISPATCH_LEVEL", NumberOfBytes);
    if (!(Flags & POOL_FLAG_NON_PAGED))
        violation("ExAllocatePool2 without POOL_FLAG_NON_PAGED", (ULONG_PTR)Flags);
    block = ExAllocatePoolWithTag(NON_PAGED_POOL, NumberOfBytes, Tag);
    if (block && !(Flags & POOL_FLAG_UNINITIALIZED))
        memset(block, 0, NumberOfBytes);
    return block;
}

VOID shim_ExFreePoolWithTag(PVOID P, ULONG Tag) { ExFreePoolWithTag(P, Tag); }
VOID shim_ExFreePool(PVOID P) { ExFreePool(P); }

/* ---- Critical regions and push locks ---- */
VOID shim_KeEnterCriticalRegion(void)
{
    if (irql() > APC_LEVEL)
        violation("KeEnterCriticalRegion above APC_LEVEL", 0);
    set_thread_state(thread_state() + 0x100);
}

VOID shim_KeLeaveCriticalRegion(void)
{
    if (regions() == 0) {
        violation("KeLeaveCriticalRegion without KeEnterCriticalRegion", 0);
        return;
    }
    set_thread_state(thread_state() - 0x100);
}

/* Acquire at IRQL <= APC_LEVEL, release at IRQL <= DISPATCH_LEVEL, with normal kernel APCs
 * disabled (a critical region, or APC_LEVEL); flags EX_DEFAULT_PUSH_LOCK_FLAGS. */
static void push_lock_rules(const char *what, KIRQL highest, PEX_PUSH_LOCK PushLock, ULONG Flags)
{
    if (irql() > highest)
        violation(what, (ULONG_PTR)PushLock);
    if (irql() < APC_LEVEL && regions() == 0)
        violation("push lock used outside a critical region", (ULONG_PTR)PushLock);
    if (Flags != EX_DEFAULT_PUSH_LOCK_FLAGS)
        violation("push lock flags", Flags);
}

VOID shim_ExInitializePushLock(PEX_PUSH_LOCK PushLock) { *PushLock = 0; }

#define PUSH_LOCK_ROUTINE(name, highest, srw_routine)                                       \
    VOID shim_##name(PEX_PUSH_LOCK PushLock, ULONG Flags)                                   \
    {                                                                                       \
        push_lock_rules(#name " above its highest IRQL", highest, PushLock, Flags);         \
        srw_routine(PushLock);                                                              \
    }
PUSH_LOCK_ROUTINE(ExAcquirePushLockExclusiveEx, APC_LEVEL, AcquireSRWLockExclusive)
PUSH_LOCK_ROUTINE(ExAcquirePushLockSharedEx, APC_LEVEL, AcquireSRWLockShared)
PUSH_LOCK_ROUTINE(ExReleasePushLockExclusiveEx, DISPATCH_LEVEL, ReleaseSRWLockExclusive)
PUSH_LOCK_ROUTINE(ExReleasePushLockSharedEx, DISPATCH_LEVEL, ReleaseSRWLockShared)

/* ---- Bug checks, debug output ---- */
VOID shim_KeBugCheckEx(ULONG BugCheckCode, ULONG_PTR P1, ULONG_PTR P2, ULONG_PTR P3, ULONG_PTR P4)
{
    DbgPrint("ntosshim: KeBugCheckEx(%#lx, %p, %p, %p, %p)\n", (unsigned long)BugCheckCode,
             (PVOID)P1, (PVOID)P2, (PVOID)P3, (PVOID)P4);
    KeBugCheckEx(BugCheckCode, P1, P2, P3, P4);
}

ULONG shim_DbgPrint(const char *Format, ...)
{
    ULONG result;
    va_list arguments;
    va_start(arguments, Format);
    result = vDbgPrintEx(0xFFFFFFFF, 0, Format, arguments);
    va_end(arguments);
    return result;
}

/* ---- What DriverEntry's self-test uses: Wine's own ---- */
NTSTATUS shim_RtlQueryRegistryValues(ULONG RelativeTo, const unsigned short *Path, PVOID QueryTable,
                                     PVOID Context, PVOID Environment)
{
    return RtlQueryRegistryValues(RelativeTo, Path, QueryTable, Context, Environment);
}
VOID shim_KeInitializeEvent(PVOID Event, int Type, BOOLEAN State) { KeInitializeEvent(Event, Type, State); }
LONG shim_KeSetEvent(PVOID Event, LONG Increment, BOOLEAN Wait) { return KeSetEvent(Event, Increment, Wait); }
NTSTATUS shim_KeWaitForSingleObject(PVOID Object, int WaitReason, char WaitMode, BOOLEAN Alertable,
                                    PVOID Timeout)
{
    if (irql() > APC_LEVEL)
        violation("KeWaitForSingleObject above APC_LEVEL", (ULONG_PTR)Object);
    return KeWaitForSingleObject(Object, WaitReason, WaitMode, Alertable, Timeout);
}
NTSTATUS shim_PsCreateSystemThread(HANDLE *ThreadHandle, ULONG DesiredAccess, PVOID ObjectAttributes,
                                   HANDLE ProcessHandle, PVOID ClientId, PKSTART_ROUTINE StartRoutine,
                                   PVOID StartContext)
{
    return PsCreateSystemThread(ThreadHandle, DesiredAccess, ObjectAttributes, ProcessHandle, ClientId,
                                StartRoutine, StartContext);
}
NTSTATUS shim_PsTerminateSystemThread(NTSTATUS ExitStatus)
{
    if (irql() != PASSIVE_LEVEL)
        violation("system thread ends above PASSIVE_LEVEL", irql());
    return PsTerminateSystemThread(ExitStatus);
}
NTSTATUS shim_ZwClose(HANDLE Handle) { return ZwClose(Handle); }
void *shim_memcpy(void *dest, const void *src, size_t n) { return memcpy(dest, src, n); }
void *shim_memset(void *dest, int c, size_t n) { return memset(dest, c, n); }
