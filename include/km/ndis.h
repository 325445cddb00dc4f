/*
 * ndis.h (ndis-rwlock): the NDIS names driver code uses next to its locks, for compiling on
 * Linux against libndis_rwlock.a. Written from Microsoft's public documentation; not the WDK's
 * header. The NDIS locks themselves (NDIS_RW_LOCK_EX, NDIS_RW_LOCK, NDIS_SPIN_LOCK) are
 * declared once, in ../ndis_rwlock.h, which wdm.h includes.
 *
 * NDIS version: define one of the WDK's version macros, as a driver project does:
 *   miniport: NDIS60_MINIPORT ... NDIS689_MINIPORT (and NDIS_MINIPORT_DRIVER);
 *   filter or protocol: NDIS60 ... NDIS689;
 *   NDIS_WRAPPER: everything.
 * With none of them, these headers act as if NDIS689=1 were given (the newest NDIS they know:
 * every NDIS_SUPPORT_NDIS6xx is 1) and define NDIS_RWLOCK_NDIS_VERSION_DEFAULTED, so that an
 * `#if NDIS_SUPPORT_NDIS620` never silently compiles a legacy path. NDIS50/NDIS51 (and their
 * _MINIPORT forms) select NDIS 5: every NDIS_SUPPORT_NDIS6xx is 0.
 */
#ifndef NDIS_RWLOCK_KM_NDIS_H
#define NDIS_RWLOCK_KM_NDIS_H

#include <ntddk.h>

/* ---- Version ----------------------------------------------------------------------------
 * NDIS_RWLOCK_NDIS_LEVEL is major * 100 + minor (6.20 -> 620, 6.1 -> 610). */
#if defined(NDIS_WRAPPER)
#define NDIS_RWLOCK_NDIS_LEVEL 689
#elif defined(NDIS689_MINIPORT) || defined(NDIS689)
#define NDIS_RWLOCK_NDIS_LEVEL 689
#elif defined(NDIS688_MINIPORT) || defined(NDIS688)
#define NDIS_RWLOCK_NDIS_LEVEL 688
#elif defined(NDIS687_MINIPORT) || defined(NDIS687)
#define NDIS_RWLOCK_NDIS_LEVEL 687
#elif defined(NDIS686_MINIPORT) || defined(NDIS686)
#define NDIS_RWLOCK_NDIS_LEVEL 686
#elif defined(NDIS685_MINIPORT) || defined(NDIS685)
#define NDIS_RWLOCK_NDIS_LEVEL 685
#elif defined(NDIS684_MINIPORT) || defined(NDIS684)
#define NDIS_RWLOCK_NDIS_LEVEL 684
#elif defined(NDIS683_MINIPORT) || defined(NDIS683)
#define NDIS_RWLOCK_NDIS_LEVEL 683
#elif defined(NDIS682_MINIPORT) || defined(NDIS682)
#define NDIS_RWLOCK_NDIS_LEVEL 682
#elif defined(NDIS681_MINIPORT) || defined(NDIS681)
#define NDIS_RWLOCK_NDIS_LEVEL 681
#elif defined(NDIS680_MINIPORT) || defined(NDIS680)
#define NDIS_RWLOCK_NDIS_LEVEL 680
#elif defined(NDIS670_MINIPORT) || defined(NDIS670)
#define NDIS_RWLOCK_NDIS_LEVEL 670
#elif defined(NDIS660_MINIPORT) || defined(NDIS660)
#define NDIS_RWLOCK_NDIS_LEVEL 660
#elif defined(NDIS651_MINIPORT) || defined(NDIS651)
#define NDIS_RWLOCK_NDIS_LEVEL 651
#elif defined(NDIS650_MINIPORT) || defined(NDIS650)
#define NDIS_RWLOCK_NDIS_LEVEL 650
#elif defined(NDIS640_MINIPORT) || defined(NDIS640)
#define NDIS_RWLOCK_NDIS_LEVEL 640
#elif defined(NDIS630_MINIPORT) || defined(NDIS630)
#define NDIS_RWLOCK_NDIS_LEVEL 630
#elif defined(NDIS620_MINIPORT) || defined(NDIS620)
#define NDIS_RWLOCK_NDIS_LEVEL 620
#elif defined(NDIS61_MINIPORT) || defined(NDIS61)
#define NDIS_RWLOCK_NDIS_LEVEL 610
#elif defined(NDIS60_MINIPORT) || defined(NDIS60)
#define NDIS_RWLOCK_NDIS_LEVEL 600
#elif defined(NDIS51_MINIPORT) || defined(NDIS51)
#define NDIS_RWLOCK_NDIS_LEVEL 510
#elif defined(NDIS50_MINIPORT) || defined(NDIS50)
#define NDIS_RWLOCK_NDIS_LEVEL 500
#else
#define NDIS_RWLOCK_NDIS_LEVEL 689
#define NDIS_RWLOCK_NDIS_VERSION_DEFAULTED 1
#endif

#define NDIS_RWLOCK_NDIS_MAJOR (NDIS_RWLOCK_NDIS_LEVEL / 100)
#define NDIS_RWLOCK_NDIS_MINOR                                                              \
    (NDIS_RWLOCK_NDIS_LEVEL % 100 % 10 == 0 && NDIS_RWLOCK_NDIS_LEVEL < 620                 \
         ? NDIS_RWLOCK_NDIS_LEVEL % 100 / 10                                                \
         : NDIS_RWLOCK_NDIS_LEVEL % 100)

#if defined(NDIS_MINIPORT_DRIVER) || defined(NDIS689_MINIPORT) || defined(NDIS688_MINIPORT) ||  \
    defined(NDIS687_MINIPORT) || defined(NDIS686_MINIPORT) || defined(NDIS685_MINIPORT) ||      \
    defined(NDIS684_MINIPORT) || defined(NDIS683_MINIPORT) || defined(NDIS682_MINIPORT) ||      \
    defined(NDIS681_MINIPORT) || defined(NDIS680_MINIPORT) || defined(NDIS670_MINIPORT) ||      \
    defined(NDIS660_MINIPORT) || defined(NDIS651_MINIPORT) || defined(NDIS650_MINIPORT) ||      \
    defined(NDIS640_MINIPORT) || defined(NDIS630_MINIPORT) || defined(NDIS620_MINIPORT) ||      \
    defined(NDIS61_MINIPORT) || defined(NDIS60_MINIPORT) || defined(NDIS51_MINIPORT) ||         \
    defined(NDIS50_MINIPORT)
#define NDIS_MINIPORT_MAJOR_VERSION NDIS_RWLOCK_NDIS_MAJOR
#define NDIS_MINIPORT_MINOR_VERSION NDIS_RWLOCK_NDIS_MINOR
#else
#define NDIS_PROTOCOL_MAJOR_VERSION NDIS_RWLOCK_NDIS_MAJOR
#define NDIS_PROTOCOL_MINOR_VERSION NDIS_RWLOCK_NDIS_MINOR
#define NDIS_FILTER_MAJOR_VERSION NDIS_RWLOCK_NDIS_MAJOR
#define NDIS_FILTER_MINOR_VERSION NDIS_RWLOCK_NDIS_MINOR
#endif

#define NDIS_SUPPORT_NDIS6 (NDIS_RWLOCK_NDIS_LEVEL >= 600)
#define NDIS_SUPPORT_NDIS61 (NDIS_RWLOCK_NDIS_LEVEL >= 610)
#define NDIS_SUPPORT_NDIS620 (NDIS_RWLOCK_NDIS_LEVEL >= 620)
#define NDIS_SUPPORT_NDIS630 (NDIS_RWLOCK_NDIS_LEVEL >= 630)
#define NDIS_SUPPORT_NDIS640 (NDIS_RWLOCK_NDIS_LEVEL >= 640)
#define NDIS_SUPPORT_NDIS650 (NDIS_RWLOCK_NDIS_LEVEL >= 650)
#define NDIS_SUPPORT_NDIS651 (NDIS_RWLOCK_NDIS_LEVEL >= 651)
#define NDIS_SUPPORT_NDIS660 (NDIS_RWLOCK_NDIS_LEVEL >= 660)
#define NDIS_SUPPORT_NDIS670 (NDIS_RWLOCK_NDIS_LEVEL >= 670)
#define NDIS_SUPPORT_NDIS680 (NDIS_RWLOCK_NDIS_LEVEL >= 680)
#define NDIS_SUPPORT_NDIS681 (NDIS_RWLOCK_NDIS_LEVEL >= 681)
#define NDIS_SUPPORT_NDIS682 (NDIS_RWLOCK_NDIS_LEVEL >= 682)
#define NDIS_SUPPORT_NDIS683 (NDIS_RWLOCK_NDIS_LEVEL >= 683)
#define NDIS_SUPPORT_NDIS684 (NDIS_RWLOCK_NDIS_LEVEL >= 684)
#define NDIS_SUPPORT_NDIS685 (NDIS_RWLOCK_NDIS_LEVEL >= 685)
#define NDIS_SUPPORT_NDIS686 (NDIS_RWLOCK_NDIS_LEVEL >= 686)
#define NDIS_SUPPORT_NDIS687 (NDIS_RWLOCK_NDIS_LEVEL >= 687)
#define NDIS_SUPPORT_NDIS688 (NDIS_RWLOCK_NDIS_LEVEL >= 688)
#define NDIS_SUPPORT_NDIS689 (NDIS_RWLOCK_NDIS_LEVEL >= 689)
#define NDIS_SUPPORT_60_COMPATIBLE_API 1

/* The real header's guard: ../ndis_rwlock.h (already included) skips what it would redefine. */
#define _NDIS_

NDIS_RWLOCK_KM_BEGIN

/* ---- Status ----------------------------------------------------------------------------- */
typedef int NDIS_STATUS, *PNDIS_STATUS;
typedef UNICODE_STRING NDIS_STRING, *PNDIS_STRING;
typedef PHYSICAL_ADDRESS NDIS_PHYSICAL_ADDRESS, *PNDIS_PHYSICAL_ADDRESS;

#define NDIS_STATUS_SUCCESS ((NDIS_STATUS)STATUS_SUCCESS)
#define NDIS_STATUS_PENDING ((NDIS_STATUS)STATUS_PENDING)
#define NDIS_STATUS_NOT_ACCEPTED ((NDIS_STATUS)STATUS_NOT_ACCEPTED)
#define NDIS_STATUS_BUFFER_OVERFLOW ((NDIS_STATUS)STATUS_BUFFER_OVERFLOW)
#define NDIS_STATUS_FAILURE ((NDIS_STATUS)STATUS_UNSUCCESSFUL)
#define NDIS_STATUS_RESOURCES ((NDIS_STATUS)STATUS_INSUFFICIENT_RESOURCES)
#define NDIS_STATUS_NOT_SUPPORTED ((NDIS_STATUS)STATUS_NOT_SUPPORTED)
#define NDIS_STATUS_INVALID_PARAMETER ((NDIS_STATUS)STATUS_INVALID_PARAMETER)
#define NDIS_STATUS_INVALID_LENGTH ((NDIS_STATUS)STATUS_INVALID_BUFFER_SIZE)
#define NDIS_STATUS_BUFFER_TOO_SHORT ((NDIS_STATUS)STATUS_BUFFER_TOO_SMALL)
#define NDIS_STATUS_REQUEST_ABORTED ((NDIS_STATUS)STATUS_REQUEST_ABORTED)
#define NDIS_STATUS_FILE_NOT_FOUND ((NDIS_STATUS)STATUS_OBJECT_NAME_NOT_FOUND)
#define NDIS_STATUS_ADAPTER_NOT_READY ((NDIS_STATUS)0xC0230011L)
#define NDIS_STATUS_PAUSED ((NDIS_STATUS)0xC023002AL)

#define NDIS_CURRENT_IRQL() KeGetCurrentIrql()
#define NDIS_RAISE_IRQL_TO_DISPATCH(pOldIrql) (*(pOldIrql) = KfRaiseIrql(DISPATCH_LEVEL))
#define NDIS_LOWER_IRQL(OldIrql, CurrentIrql) KeLowerIrql(OldIrql)
#define NdisGetCurrentProcessorNumber() KeGetCurrentProcessorNumber()
#define NdisSystemProcessorCount() ((CCHAR)KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS))

/* ---- Memory over the simulated pool -------------------------------------------------------
 * Tagged, zeroed nonpaged allocations (NULL when the pool is exhausted or fault injection says
 * so); sim::pool's checks apply (double free, free of an unknown address, leak report:
 * NdisRwlSimPoolOutstanding, NdisRwlSimCheckUnload). */
#define NDIS_RWLOCK_UNUSED_TAG 0
PVOID NdisAllocateMemoryWithTagPriority(NDIS_HANDLE NdisHandle, UINT Length, ULONG Tag,
                                        EX_POOL_PRIORITY Priority);
VOID NdisFreeMemoryWithTagPriority(NDIS_HANDLE NdisHandle, PVOID VirtualAddress, ULONG Tag);
VOID NdisFreeMemory(PVOID VirtualAddress, UINT Length, UINT MemoryFlags);

#define NdisZeroMemory(Destination, Length) RtlZeroMemory(Destination, Length)
#define NdisFillMemory(Destination, Length, Fill) RtlFillMemory(Destination, Length, Fill)
#define NdisMoveMemory(Destination, Source, Length) RtlCopyMemory(Destination, Source, Length)
#define NdisEqualMemory(Source1, Source2, Length) RtlEqualMemory(Source1, Source2, Length)

/* ---- Interlocked operations ------------------------------------------------------------- */
#define NdisInterlockedIncrement(Addend) InterlockedIncrement(Addend)
#define NdisInterlockedDecrement(Addend) InterlockedDecrement(Addend)
#define NdisInterlockedExchange(Target, Value) InterlockedExchange(Target, Value)
#define NdisInterlockedCompareExchange(Destination, ExChange, Comperand)                      \
    InterlockedCompareExchange(Destination, ExChange, Comperand)
#define NdisInterlockedExchangePointer(Target, Value) InterlockedExchangePointer(Target, Value)

static __inline__ VOID NdisInterlockedAddUlong(PULONG Addend, ULONG Increment,
                                               PNDIS_SPIN_LOCK SpinLock) {
    NdisAcquireSpinLock(SpinLock);
    *Addend += Increment;
    NdisReleaseSpinLock(SpinLock);
}

static __inline__ LARGE_INTEGER NdisInterlockedAddLargeInteger(PLARGE_INTEGER Addend,
                                                               ULONG Increment,
                                                               PNDIS_SPIN_LOCK SpinLock) {
    LARGE_INTEGER old;
    NdisAcquireSpinLock(SpinLock);
    old = *Addend;
    Addend->QuadPart += Increment;
    NdisReleaseSpinLock(SpinLock);
    return old;
}

static __inline__ PLIST_ENTRY NdisInterlockedInsertHeadList(PLIST_ENTRY ListHead,
                                                            PLIST_ENTRY ListEntry,
                                                            PNDIS_SPIN_LOCK SpinLock) {
    PLIST_ENTRY first;
    NdisAcquireSpinLock(SpinLock);
    first = IsListEmpty(ListHead) ? NULL : ListHead->Flink;
    InsertHeadList(ListHead, ListEntry);
    NdisReleaseSpinLock(SpinLock);
    return first;
}

static __inline__ PLIST_ENTRY NdisInterlockedInsertTailList(PLIST_ENTRY ListHead,
                                                            PLIST_ENTRY ListEntry,
                                                            PNDIS_SPIN_LOCK SpinLock) {
    PLIST_ENTRY last;
    NdisAcquireSpinLock(SpinLock);
    last = IsListEmpty(ListHead) ? NULL : ListHead->Blink;
    InsertTailList(ListHead, ListEntry);
    NdisReleaseSpinLock(SpinLock);
    return last;
}

static __inline__ PLIST_ENTRY NdisInterlockedRemoveHeadList(PLIST_ENTRY ListHead,
                                                            PNDIS_SPIN_LOCK SpinLock) {
    PLIST_ENTRY first;
    NdisAcquireSpinLock(SpinLock);
    first = IsListEmpty(ListHead) ? NULL : RemoveHeadList(ListHead);
    NdisReleaseSpinLock(SpinLock);
    return first;
}

static __inline__ PSINGLE_LIST_ENTRY NdisInterlockedPushEntryList(PSINGLE_LIST_ENTRY ListHead,
                                                                  PSINGLE_LIST_ENTRY ListEntry,
                                                                  PNDIS_SPIN_LOCK Lock) {
    PSINGLE_LIST_ENTRY first;
    NdisAcquireSpinLock(Lock);
    first = ListHead->Next;
    PushEntryList(ListHead, ListEntry);
    NdisReleaseSpinLock(Lock);
    return first;
}

static __inline__ PSINGLE_LIST_ENTRY NdisInterlockedPopEntryList(PSINGLE_LIST_ENTRY ListHead,
                                                                 PNDIS_SPIN_LOCK Lock) {
    PSINGLE_LIST_ENTRY first;
    NdisAcquireSpinLock(Lock);
    first = PopEntryList(ListHead);
    NdisReleaseSpinLock(Lock);
    return first;
}

#define NdisInitializeListHead(ListHead) InitializeListHead(ListHead)

/* ---- Events ----------------------------------------------------------------------------- */
typedef struct _NDIS_EVENT {
    KEVENT Event;
} NDIS_EVENT, *PNDIS_EVENT;

static __inline__ VOID NdisInitializeEvent(PNDIS_EVENT Event) {
    KeInitializeEvent(&Event->Event, NotificationEvent, FALSE);
}
static __inline__ VOID NdisSetEvent(PNDIS_EVENT Event) {
    (void)KeSetEvent(&Event->Event, IO_NO_INCREMENT, FALSE);
}
static __inline__ VOID NdisResetEvent(PNDIS_EVENT Event) {
    KeClearEvent(&Event->Event);
}
/* TRUE if the event was signalled within MsToWait milliseconds (0: wait for ever). */
static __inline__ BOOLEAN NdisWaitEvent(PNDIS_EVENT Event, UINT MsToWait) {
    LARGE_INTEGER timeout;
    timeout.QuadPart = -(LONGLONG)MsToWait * 10000;
    return (BOOLEAN)(KeWaitForSingleObject(&Event->Event, Executive, KernelMode, FALSE,
                                           MsToWait == 0 ? NULL : &timeout) == STATUS_SUCCESS);
}

/* ---- Time (simulated kernel) ------------------------------------------------------------- */
VOID NdisGetCurrentSystemTime(PLARGE_INTEGER pSystemTime);
/* Sleeps; IRQL == PASSIVE_LEVEL (else 0xC4/0x3B). */
VOID NdisMSleep(ULONG MicrosecondsToSleep);
/* Busy-waits; any IRQL. */
VOID NdisStallExecution(ULONG MicrosecondsToStall);

NDIS_RWLOCK_KM_END

#endif /* NDIS_RWLOCK_KM_NDIS_H */
