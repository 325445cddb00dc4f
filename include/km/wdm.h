/*
 * wdm.h (ndis-rwlock): the kernel routines driver code calls next to its locks, for compiling
 * on Linux against libndis_rwlock.a, where they run on the simulated kernel. Written from
 * Microsoft's public documentation; not the WDK's header.
 *
 * The routines that the crate itself implements and exports (IRQL, KSPIN_LOCK, pool, critical
 * regions, push locks, KeBugCheckEx, the NDIS locks) are declared once, in ../ndis_rwlock.h,
 * which this header includes; everything here is either inline or implemented by the
 * simulated kernel (src/kernel/sim/). README.md ("Using it from C") lists what is provided.
 */
#ifndef _WDMDDK_
#define _WDMDDK_

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <ntdef.h>

#include "../ndis_rwlock.h"

NDIS_RWLOCK_KM_BEGIN

/* ---- Assertions: a failed one stops the machine ----------------------------------------
 * Live in every build here (DBG is 1 unless the build sets it to 0, which turns ASSERT and
 * NT_ASSERT into no-ops, as a free build does). A failure bug-checks 0x1E
 * KMODE_EXCEPTION_NOT_HANDLED with P1 STATUS_ASSERTION_FAILURE, P2 the address of the
 * expression's text, P3 the address of the file name, P4 the line: what an unhandled
 * NT_ASSERT does on a machine without a debugger. */
#define NDIS_RWLOCK_ASSERT_FAILED(text)                                                    \
    KeBugCheckEx(KMODE_EXCEPTION_NOT_HANDLED, (ULONG_PTR)(ULONG)STATUS_ASSERTION_FAILURE, (ULONG_PTR)(text),      \
                 (ULONG_PTR)__FILE__, (ULONG_PTR)__LINE__)
#if DBG
#define ASSERT(e) ((void)((e) ? 0 : (NDIS_RWLOCK_ASSERT_FAILED(#e), 0)))
#define ASSERTMSG(msg, e) ((void)((e) ? 0 : (NDIS_RWLOCK_ASSERT_FAILED(msg), 0)))
#define NT_ASSERT(e) ASSERT(e)
#define NT_ASSERTMSG(msg, e) ASSERTMSG(msg, e)
#define NT_VERIFY(e) ASSERT(e)
#define NT_VERIFYMSG(msg, e) ASSERTMSG(msg, e)
#else
#define ASSERT(e) ((void)0)
#define ASSERTMSG(msg, e) ((void)0)
#define NT_ASSERT(e) ((void)0)
#define NT_ASSERTMSG(msg, e) ((void)0)
#define NT_VERIFY(e) ((void)(e))
#define NT_VERIFYMSG(msg, e) ((void)(e))
#endif
#define NT_ANALYSIS_ASSUME(e) ((void)0)
#define NT_FRE_ASSERT(e) ((void)((e) ? 0 : (NDIS_RWLOCK_ASSERT_FAILED(#e), 0)))

NDIS_RWLOCK_KM_BEGIN
VOID KeBugCheckEx(ULONG BugCheckCode, ULONG_PTR P1, ULONG_PTR P2, ULONG_PTR P3, ULONG_PTR P4);
NDIS_RWLOCK_KM_END

/* ---- Bug-check codes the inline routines raise ----------------------------------------- */
#define KMODE_EXCEPTION_NOT_HANDLED 0x0000001E
#define KERNEL_SECURITY_CHECK_FAILURE 0x00000139
#define FAST_FAIL_CORRUPT_LIST_ENTRY 3

/* ---- IRQL and processors --------------------------------------------------------------- */
#define CLOCK_LEVEL 13
#define IPI_LEVEL 14
#define PROFILE_LEVEL 15
#define POWER_LEVEL 14
#define LOW_LEVEL 0
#define MAXIMUM_PROCESSORS_PER_GROUP 64

typedef struct _KTHREAD *PKTHREAD, *PRKTHREAD;
typedef struct _ETHREAD *PETHREAD;
typedef struct _EPROCESS *PEPROCESS;
typedef struct _DRIVER_OBJECT DRIVER_OBJECT, *PDRIVER_OBJECT;
typedef struct _DEVICE_OBJECT DEVICE_OBJECT, *PDEVICE_OBJECT;
typedef struct _OBJECT_TYPE *POBJECT_TYPE;
typedef NTSTATUS DRIVER_INITIALIZE(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath);
typedef DRIVER_INITIALIZE *PDRIVER_INITIALIZE;
typedef VOID DRIVER_UNLOAD(PDRIVER_OBJECT DriverObject);
typedef DRIVER_UNLOAD *PDRIVER_UNLOAD;

/* KeRaiseIrql and KeAcquireSpinLock are macros over the exported routines, as on x64. */
#define KeRaiseIrql(NewIrql, OldIrql) (*(OldIrql) = KfRaiseIrql(NewIrql))
#define KeAcquireSpinLock(SpinLock, OldIrql) (*(OldIrql) = KeAcquireSpinLockRaiseToDpc(SpinLock))

static __inline__ KIRQL KeRaiseIrqlToDpcLevel(void) {
    return KfRaiseIrql(DISPATCH_LEVEL);
}

/* The group-relative number; the same as the index on a machine of one group. */
static __inline__ ULONG KeGetCurrentProcessorNumber(void) {
    PROCESSOR_NUMBER number;
    (void)KeGetCurrentProcessorNumberEx(&number);
    return number.Number;
}

static __inline__ ULONG KeGetCurrentProcessorIndex(void) {
    return KeGetCurrentProcessorNumberEx(NULL);
}

static __inline__ ULONG KeQueryActiveProcessorCountEx(USHORT GroupNumber) {
    return KeQueryMaximumProcessorCountEx(GroupNumber);
}

static __inline__ ULONG KeQueryActiveProcessorCount(PKAFFINITY ActiveProcessors) {
    ULONG count = KeQueryMaximumProcessorCountEx(0);
    if (ActiveProcessors != NULL)
        *ActiveProcessors = count >= 64 ? ~(KAFFINITY)0 : (((KAFFINITY)1 << count) - 1);
    return count;
}

/* A unique pointer per thread (the simulated kernel's thread identity). */
PKTHREAD KeGetCurrentThread(void);
#define PsGetCurrentThread() ((PETHREAD)KeGetCurrentThread())

/* ---- Queued spin locks (simulated kernel) ---------------------------------------------- */
typedef struct _KSPIN_LOCK_QUEUE {
    struct _KSPIN_LOCK_QUEUE *volatile Next;
    PKSPIN_LOCK volatile Lock;
} KSPIN_LOCK_QUEUE, *PKSPIN_LOCK_QUEUE;

typedef struct _KLOCK_QUEUE_HANDLE {
    KSPIN_LOCK_QUEUE LockQueue;
    KIRQL OldIrql;
} KLOCK_QUEUE_HANDLE, *PKLOCK_QUEUE_HANDLE;

VOID KeAcquireInStackQueuedSpinLock(PKSPIN_LOCK SpinLock, PKLOCK_QUEUE_HANDLE LockHandle);
VOID KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE LockHandle);
VOID KeAcquireInStackQueuedSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock,
                                              PKLOCK_QUEUE_HANDLE LockHandle);
VOID KeReleaseInStackQueuedSpinLockFromDpcLevel(PKLOCK_QUEUE_HANDLE LockHandle);

/* ---- Lists ------------------------------------------------------------------------------
 * The routines check the links they touch, as the WDK's do: a corrupt LIST_ENTRY stops with
 * 0x139 KERNEL_SECURITY_CHECK_FAILURE (P1 3, P2 the entry whose neighbours disagree). */
static __inline__ VOID NdisRwlListCorrupt(PLIST_ENTRY Entry) {
    KeBugCheckEx(KERNEL_SECURITY_CHECK_FAILURE, FAST_FAIL_CORRUPT_LIST_ENTRY, (ULONG_PTR)Entry, 0,
                 0);
}

static __inline__ VOID InitializeListHead(PLIST_ENTRY ListHead) {
    ListHead->Flink = ListHead->Blink = ListHead;
}

static __inline__ BOOLEAN IsListEmpty(const LIST_ENTRY *ListHead) {
    return (BOOLEAN)(ListHead->Flink == ListHead);
}

static __inline__ BOOLEAN RemoveEntryList(PLIST_ENTRY Entry) {
    PLIST_ENTRY next = Entry->Flink;
    PLIST_ENTRY prev = Entry->Blink;
    if (next->Blink != Entry || prev->Flink != Entry) NdisRwlListCorrupt(Entry);
    prev->Flink = next;
    next->Blink = prev;
    return (BOOLEAN)(next == prev);
}

static __inline__ PLIST_ENTRY RemoveHeadList(PLIST_ENTRY ListHead) {
    PLIST_ENTRY entry = ListHead->Flink;
    PLIST_ENTRY next = entry->Flink;
    if (entry->Blink != ListHead || next->Blink != entry) NdisRwlListCorrupt(ListHead);
    ListHead->Flink = next;
    next->Blink = ListHead;
    return entry;
}

static __inline__ PLIST_ENTRY RemoveTailList(PLIST_ENTRY ListHead) {
    PLIST_ENTRY entry = ListHead->Blink;
    PLIST_ENTRY prev = entry->Blink;
    if (entry->Flink != ListHead || prev->Flink != entry) NdisRwlListCorrupt(ListHead);
    ListHead->Blink = prev;
    prev->Flink = ListHead;
    return entry;
}

static __inline__ VOID InsertTailList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry) {
    PLIST_ENTRY prev = ListHead->Blink;
    if (prev->Flink != ListHead) NdisRwlListCorrupt(ListHead);
    Entry->Flink = ListHead;
    Entry->Blink = prev;
    prev->Flink = Entry;
    ListHead->Blink = Entry;
}

static __inline__ VOID InsertHeadList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry) {
    PLIST_ENTRY next = ListHead->Flink;
    if (next->Blink != ListHead) NdisRwlListCorrupt(ListHead);
    Entry->Flink = next;
    Entry->Blink = ListHead;
    next->Blink = Entry;
    ListHead->Flink = Entry;
}

static __inline__ VOID AppendTailList(PLIST_ENTRY ListHead, PLIST_ENTRY ListToAppend) {
    PLIST_ENTRY end = ListHead->Blink;
    ListHead->Blink->Flink = ListToAppend;
    ListHead->Blink = ListToAppend->Blink;
    ListToAppend->Blink->Flink = ListHead;
    ListToAppend->Blink = end;
}

static __inline__ PSINGLE_LIST_ENTRY PopEntryList(PSINGLE_LIST_ENTRY ListHead) {
    PSINGLE_LIST_ENTRY first = ListHead->Next;
    if (first != NULL) ListHead->Next = first->Next;
    return first;
}

static __inline__ VOID PushEntryList(PSINGLE_LIST_ENTRY ListHead, PSINGLE_LIST_ENTRY Entry) {
    Entry->Next = ListHead->Next;
    ListHead->Next = Entry;
}

/* The ExInterlocked list routines: the list is guarded by a KSPIN_LOCK. */
static __inline__ PLIST_ENTRY ExInterlockedInsertHeadList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry,
                                                          PKSPIN_LOCK Lock) {
    KIRQL old = KeAcquireSpinLockRaiseToDpc(Lock);
    PLIST_ENTRY first = IsListEmpty(ListHead) ? NULL : ListHead->Flink;
    InsertHeadList(ListHead, Entry);
    KeReleaseSpinLock(Lock, old);
    return first;
}

static __inline__ PLIST_ENTRY ExInterlockedInsertTailList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry,
                                                          PKSPIN_LOCK Lock) {
    KIRQL old = KeAcquireSpinLockRaiseToDpc(Lock);
    PLIST_ENTRY last = IsListEmpty(ListHead) ? NULL : ListHead->Blink;
    InsertTailList(ListHead, Entry);
    KeReleaseSpinLock(Lock, old);
    return last;
}

static __inline__ PLIST_ENTRY ExInterlockedRemoveHeadList(PLIST_ENTRY ListHead, PKSPIN_LOCK Lock) {
    KIRQL old = KeAcquireSpinLockRaiseToDpc(Lock);
    PLIST_ENTRY first = IsListEmpty(ListHead) ? NULL : RemoveHeadList(ListHead);
    KeReleaseSpinLock(Lock, old);
    return first;
}

/* ---- Interlocked operations (full barriers) -------------------------------------------- */
#define NDIS_RWLOCK_SEQ __ATOMIC_SEQ_CST
static __inline__ LONG InterlockedIncrement(LONG volatile *Addend) {
    return __atomic_add_fetch(Addend, 1, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG InterlockedDecrement(LONG volatile *Addend) {
    return __atomic_sub_fetch(Addend, 1, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG InterlockedExchange(LONG volatile *Target, LONG Value) {
    return __atomic_exchange_n(Target, Value, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG InterlockedExchangeAdd(LONG volatile *Addend, LONG Value) {
    return __atomic_fetch_add(Addend, Value, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG InterlockedAdd(LONG volatile *Addend, LONG Value) {
    return __atomic_add_fetch(Addend, Value, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG InterlockedCompareExchange(LONG volatile *Destination, LONG ExChange,
                                                  LONG Comperand) {
    __atomic_compare_exchange_n(Destination, &Comperand, ExChange, 0, NDIS_RWLOCK_SEQ,
                                NDIS_RWLOCK_SEQ);
    return Comperand;
}
static __inline__ LONG InterlockedOr(LONG volatile *Destination, LONG Value) {
    return __atomic_fetch_or(Destination, Value, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG InterlockedAnd(LONG volatile *Destination, LONG Value) {
    return __atomic_fetch_and(Destination, Value, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG InterlockedXor(LONG volatile *Destination, LONG Value) {
    return __atomic_fetch_xor(Destination, Value, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG64 InterlockedIncrement64(LONG64 volatile *Addend) {
    return __atomic_add_fetch(Addend, 1, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG64 InterlockedDecrement64(LONG64 volatile *Addend) {
    return __atomic_sub_fetch(Addend, 1, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG64 InterlockedExchange64(LONG64 volatile *Target, LONG64 Value) {
    return __atomic_exchange_n(Target, Value, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG64 InterlockedExchangeAdd64(LONG64 volatile *Addend, LONG64 Value) {
    return __atomic_fetch_add(Addend, Value, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG64 InterlockedAdd64(LONG64 volatile *Addend, LONG64 Value) {
    return __atomic_add_fetch(Addend, Value, NDIS_RWLOCK_SEQ);
}
static __inline__ LONG64 InterlockedCompareExchange64(LONG64 volatile *Destination,
                                                      LONG64 ExChange, LONG64 Comperand) {
    __atomic_compare_exchange_n(Destination, &Comperand, ExChange, 0, NDIS_RWLOCK_SEQ,
                                NDIS_RWLOCK_SEQ);
    return Comperand;
}
static __inline__ PVOID InterlockedExchangePointer(PVOID volatile *Target, PVOID Value) {
    return __atomic_exchange_n(Target, Value, NDIS_RWLOCK_SEQ);
}
static __inline__ PVOID InterlockedCompareExchangePointer(PVOID volatile *Destination,
                                                          PVOID ExChange, PVOID Comperand) {
    __atomic_compare_exchange_n(Destination, &Comperand, ExChange, 0, NDIS_RWLOCK_SEQ,
                                NDIS_RWLOCK_SEQ);
    return Comperand;
}
static __inline__ LONG ReadNoFence(LONG const volatile *Source) {
    return __atomic_load_n(Source, __ATOMIC_RELAXED);
}
static __inline__ VOID WriteNoFence(LONG volatile *Destination, LONG Value) {
    __atomic_store_n(Destination, Value, __ATOMIC_RELAXED);
}
static __inline__ LONG ReadAcquire(LONG const volatile *Source) {
    return __atomic_load_n(Source, __ATOMIC_ACQUIRE);
}
static __inline__ VOID WriteRelease(LONG volatile *Destination, LONG Value) {
    __atomic_store_n(Destination, Value, __ATOMIC_RELEASE);
}
#define InterlockedIncrementNoFence InterlockedIncrement
#define InterlockedDecrementNoFence InterlockedDecrement
#define InterlockedIncrementAcquire InterlockedIncrement
#define InterlockedDecrementRelease InterlockedDecrement
#define InterlockedCompareExchangeAcquire InterlockedCompareExchange
#define InterlockedCompareExchangeRelease InterlockedCompareExchange
#define KeMemoryBarrier() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define MemoryBarrier() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define KeMemoryBarrierWithoutFence() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#define _ReadWriteBarrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#if defined(__x86_64__)
#define YieldProcessor() __builtin_ia32_pause()
#else
#define YieldProcessor() ((void)0)
#endif

/* ---- Memory ---------------------------------------------------------------------------- */
typedef enum _POOL_TYPE {
    NonPagedPool = 0,
    NonPagedPoolExecute = 0,
    PagedPool = 1,
    NonPagedPoolMustSucceed = 2,
    NonPagedPoolCacheAligned = 4,
    PagedPoolCacheAligned = 5,
    NonPagedPoolNx = 512,
    NonPagedPoolNxCacheAligned = 516
} POOL_TYPE;

typedef enum _EX_POOL_PRIORITY {
    LowPoolPriority = 0,
    LowPoolPrioritySpecialPoolOverrun = 8,
    LowPoolPrioritySpecialPoolUnderrun = 9,
    NormalPoolPriority = 16,
    NormalPoolPrioritySpecialPoolOverrun = 24,
    NormalPoolPrioritySpecialPoolUnderrun = 25,
    HighPoolPriority = 32,
    HighPoolPrioritySpecialPoolOverrun = 40,
    HighPoolPrioritySpecialPoolUnderrun = 41
} EX_POOL_PRIORITY;

/* Tagged allocations from the simulated pool (zeroed; a paged request above APC_LEVEL stops
 * with 0xC4/0x01); ExFreePool frees an allocation of any tag. */
PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag);
VOID ExFreePool(PVOID P);
static __inline__ PVOID ExAllocatePoolZero(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag) {
    return ExAllocatePoolWithTag(PoolType, NumberOfBytes, Tag);
}

#define RtlZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define RtlFillMemory(Destination, Length, Fill) memset((Destination), (int)(Fill), (Length))
#define RtlCopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#define RtlMoveMemory(Destination, Source, Length) memmove((Destination), (Source), (Length))
#define RtlEqualMemory(Source1, Source2, Length) (!memcmp((Source1), (Source2), (Length)))
#define RtlCompareMemory(Source1, Source2, Length) NdisRwlCompareMemory((Source1), (Source2), (Length))
#define RtlSecureZeroMemory(Destination, Length) memset((Destination), 0, (Length))
static __inline__ SIZE_T NdisRwlCompareMemory(const VOID *Source1, const VOID *Source2,
                                              SIZE_T Length) {
    SIZE_T i = 0;
    while (i < Length && ((const UCHAR *)Source1)[i] == ((const UCHAR *)Source2)[i]) i++;
    return i;
}

/* ---- Events and waits (simulated kernel) ------------------------------------------------
 * KEVENT has the size of Windows's (24 bytes on 64-bit); its contents are the simulated
 * kernel's. Waits park the thread. A wait with a non-zero (or no) timeout at DISPATCH_LEVEL
 * or above stops with 0xC4/0x3B, as Driver Verifier does; a zero timeout polls at any IRQL up
 * to DISPATCH_LEVEL. Waiting on something that is neither an initialised event nor a thread
 * object stops (NDIS_RWLOCK_VIOLATION 0x11). */
typedef struct _DISPATCHER_HEADER {
    LONG Lock;
    LONG SignalState;
    LIST_ENTRY WaitListHead;
} DISPATCHER_HEADER;

typedef struct _KEVENT {
    DISPATCHER_HEADER Header;
} KEVENT, *PKEVENT, *PRKEVENT;

typedef enum _KWAIT_REASON {
    Executive = 0,
    FreePage,
    PageIn,
    PoolAllocation,
    DelayExecution,
    Suspended,
    UserRequest,
    WrExecutive,
    WrFreePage,
    WrPageIn,
    WrPoolAllocation,
    WrDelayExecution,
    WrSuspended,
    WrUserRequest
} KWAIT_REASON;

#define IO_NO_INCREMENT 0
#define EVENT_INCREMENT 1
#define MUTANT_INCREMENT 1

VOID KeInitializeEvent(PRKEVENT Event, EVENT_TYPE Type, BOOLEAN State);
LONG KeSetEvent(PRKEVENT Event, KPRIORITY Increment, BOOLEAN Wait);
LONG KeResetEvent(PRKEVENT Event);
VOID KeClearEvent(PRKEVENT Event);
LONG KeReadStateEvent(PRKEVENT Event);
NTSTATUS KeWaitForSingleObject(PVOID Object, KWAIT_REASON WaitReason, KPROCESSOR_MODE WaitMode,
                               BOOLEAN Alertable, PLARGE_INTEGER Timeout);

/* ---- System threads (simulated kernel) --------------------------------------------------
 * PsCreateSystemThread starts a host thread on the simulated machine; its handle is closed
 * with ZwClose. ObReferenceObjectByHandle(handle, ..., *PsThreadType, ...) gives the thread
 * object, which KeWaitForSingleObject waits for (signalled when the thread ends) and
 * ObDereferenceObject releases. PsTerminateSystemThread ends the calling system thread at
 * once (it is signalled, and never runs again); from any other thread it returns
 * STATUS_INVALID_PARAMETER. */
typedef VOID KSTART_ROUTINE(PVOID StartContext);
typedef KSTART_ROUTINE *PKSTART_ROUTINE;

#define THREAD_ALL_ACCESS 0x001FFFFFu
#define SYNCHRONIZE 0x00100000u
#define GENERIC_ALL 0x10000000u

extern POBJECT_TYPE *PsThreadType;

NTSTATUS PsCreateSystemThread(PHANDLE ThreadHandle, ULONG DesiredAccess,
                              POBJECT_ATTRIBUTES ObjectAttributes, HANDLE ProcessHandle,
                              PCLIENT_ID ClientId, PKSTART_ROUTINE StartRoutine,
                              PVOID StartContext);
NTSTATUS PsTerminateSystemThread(NTSTATUS ExitStatus);
NTSTATUS ObReferenceObjectByHandle(HANDLE Handle, ACCESS_MASK DesiredAccess,
                                   POBJECT_TYPE ObjectType, KPROCESSOR_MODE AccessMode,
                                   PVOID *Object, PVOID HandleInformation);
LONG_PTR ObfDereferenceObject(PVOID Object);
#define ObDereferenceObject(Object) ObfDereferenceObject(Object)
NTSTATUS ZwClose(HANDLE Handle);

/* ---- Time (simulated kernel) ------------------------------------------------------------
 * System time in 100-nanosecond units since 1601-01-01 UTC, from the host clock. Delays and
 * timeouts: negative values are relative, positive ones absolute system times. */
VOID KeQuerySystemTime(PLARGE_INTEGER CurrentTime);
VOID KeQuerySystemTimePrecise(PLARGE_INTEGER CurrentTime);
ULONGLONG KeQueryInterruptTime(void);
NTSTATUS KeDelayExecutionThread(KPROCESSOR_MODE WaitMode, BOOLEAN Alertable,
                                PLARGE_INTEGER Interval);
VOID KeStallExecutionProcessor(ULONG MicroSeconds);

/* ---- Debug output (to stdout; stderr carries only a stop's line) ------------------------ */
#define DPFLTR_ERROR_LEVEL 0
#define DPFLTR_WARNING_LEVEL 1
#define DPFLTR_TRACE_LEVEL 2
#define DPFLTR_INFO_LEVEL 3
#define DPFLTR_IHVDRIVER_ID 77
#define DPFLTR_IHVNETWORK_ID 80
static __inline__ __attribute__((__format__(__printf__, 1, 2))) ULONG DbgPrint(PCSTR Format,
                                                                                  ...) {
    va_list args;
    va_start(args, Format);
    vprintf(Format, args);
    va_end(args);
    return 0;
}
static __inline__ __attribute__((__format__(__printf__, 3, 4))) ULONG
DbgPrintEx(ULONG ComponentId, ULONG Level, PCSTR Format, ...) {
    va_list args;
    (void)ComponentId;
    (void)Level;
    va_start(args, Format);
    vprintf(Format, args);
    va_end(args);
    return 0;
}
#if DBG
#define KdPrint(args) DbgPrint args
#define KdPrintEx(args) DbgPrintEx args
#else
#define KdPrint(args) ((void)0)
#define KdPrintEx(args) ((void)0)
#endif
#define KdBreakPoint() ((void)0)
#define DbgBreakPoint() ((void)0)

NDIS_RWLOCK_KM_END

#endif /* _WDMDDK_ */
