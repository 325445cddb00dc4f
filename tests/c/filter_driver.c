/*
 * An NDIS 6.x lightweight filter driver's locking, written against <ndis.h> as such a driver is
 * and compiled with nothing but `-std=gnu11 -Wall -Werror -I include/km`: the filter-module
 * list under an NDIS_RW_LOCK_EX (NDIS 6.20 and later; the legacy NDIS_RW_LOCK otherwise),
 * per-module statistics under an NDIS_SPIN_LOCK (the Dpr calls on the send path, which runs at
 * DISPATCH_LEVEL), interlocked reference counts, tagged pool, a queued spin lock over the
 * pending-request queue, system threads and events. The test harness at the end drives it from
 * several threads and checks its invariants.
 *
 *   filter_driver run <threads> <iterations>   attach modules, send from every thread, check
 *   filter_driver version                      print the NDIS version the headers chose
 */
#include <ndis.h>

#define FILTER_ALLOC_TAG 'tliF'
#define FILTER_REQUEST_TAG 'qerF'
#define FILTER_MODULES 4

C_ASSERT(FILTER_ALLOC_TAG == 0x746c6946);

/* ---- The driver ---------------------------------------------------------------------------- */

typedef struct _FILTER_MODULE {
    LIST_ENTRY Link;
    volatile LONG RefCount;
    ULONG Id;
    NDIS_SPIN_LOCK StatsLock;
    _Guarded_by_(StatsLock) ULONG64 PacketsSent;
    _Guarded_by_(StatsLock) ULONG64 BytesSent;
    _Guarded_by_(StatsLock) ULONG Inside; /* holders of StatsLock right now: must stay 0 or 1 */
} FILTER_MODULE, *PFILTER_MODULE;

typedef struct _FILTER_REQUEST {
    SINGLE_LIST_ENTRY Link;
    ULONG Id;
} FILTER_REQUEST, *PFILTER_REQUEST;

typedef struct _FILTER_GLOBALS {
#if NDIS_SUPPORT_NDIS620
    PNDIS_RW_LOCK_EX ModuleListLock;
#else
    NDIS_RW_LOCK ModuleListLock;
#endif
    LIST_ENTRY ModuleList;
    volatile LONG ModuleCount;
    KSPIN_LOCK RequestLock; /* queued spin lock */
    SINGLE_LIST_ENTRY PendingRequests;
    ULONG PendingCount;
    volatile LONG Violations;
} FILTER_GLOBALS;

static FILTER_GLOBALS FilterGlobals;

#if NDIS_SUPPORT_NDIS620
typedef LOCK_STATE_EX FILTER_LOCK_STATE;
#define FILTER_ACQUIRE_LIST_READ(State, Dispatch)                                               \
    NdisAcquireRWLockRead(FilterGlobals.ModuleListLock, (State),                               \
                          (Dispatch) ? NDIS_RWL_AT_DISPATCH_LEVEL : 0)
#define FILTER_ACQUIRE_LIST_WRITE(State)                                                        \
    NdisAcquireRWLockWrite(FilterGlobals.ModuleListLock, (State), 0)
#define FILTER_RELEASE_LIST(State, Dispatch) NdisReleaseRWLock(FilterGlobals.ModuleListLock, (State))
#else
typedef LOCK_STATE FILTER_LOCK_STATE;
#define FILTER_ACQUIRE_LIST_READ(State, Dispatch)                                               \
    ((Dispatch) ? NdisDprAcquireReadWriteLock(&FilterGlobals.ModuleListLock, FALSE, (State))    \
                : NdisAcquireReadWriteLock(&FilterGlobals.ModuleListLock, FALSE, (State)))
#define FILTER_ACQUIRE_LIST_WRITE(State)                                                        \
    NdisAcquireReadWriteLock(&FilterGlobals.ModuleListLock, TRUE, (State))
#define FILTER_RELEASE_LIST(State, Dispatch)                                                    \
    ((Dispatch) ? NdisDprReleaseReadWriteLock(&FilterGlobals.ModuleListLock, (State))           \
                : NdisReleaseReadWriteLock(&FilterGlobals.ModuleListLock, (State)))
#endif

_IRQL_requires_max_(PASSIVE_LEVEL)
static NDIS_STATUS FilterRegister(VOID) {
    NdisZeroMemory(&FilterGlobals, sizeof(FilterGlobals));
#if NDIS_SUPPORT_NDIS620
    FilterGlobals.ModuleListLock = NdisAllocateRWLock(NULL);
    if (FilterGlobals.ModuleListLock == NULL) return NDIS_STATUS_RESOURCES;
#else
    NdisInitializeReadWriteLock(&FilterGlobals.ModuleListLock);
#endif
    InitializeListHead(&FilterGlobals.ModuleList);
    KeInitializeSpinLock(&FilterGlobals.RequestLock);
    FilterGlobals.PendingRequests.Next = NULL;
    return NDIS_STATUS_SUCCESS;
}

_IRQL_requires_max_(PASSIVE_LEVEL)
static NDIS_STATUS FilterAttach(ULONG Id, PFILTER_MODULE *Module) {
    FILTER_LOCK_STATE state;
    PFILTER_MODULE module = (PFILTER_MODULE)NdisAllocateMemoryWithTagPriority(
        NULL, sizeof(FILTER_MODULE), FILTER_ALLOC_TAG, NormalPoolPriority);
    if (module == NULL) return NDIS_STATUS_RESOURCES;
    NdisZeroMemory(module, sizeof(*module));
    module->Id = Id;
    module->RefCount = 1; /* the list's reference */
    NdisAllocateSpinLock(&module->StatsLock);
    FILTER_ACQUIRE_LIST_WRITE(&state);
    InsertTailList(&FilterGlobals.ModuleList, &module->Link);
    FILTER_RELEASE_LIST(&state, FALSE);
    InterlockedIncrement(&FilterGlobals.ModuleCount);
    *Module = module;
    return NDIS_STATUS_SUCCESS;
}

static VOID FilterDereferenceModule(PFILTER_MODULE Module) {
    LONG left = NdisInterlockedDecrement(&Module->RefCount);
    ASSERT(left >= 0);
    if (left == 0) {
        NdisFreeSpinLock(&Module->StatsLock);
        NdisFreeMemoryWithTagPriority(NULL, Module, FILTER_ALLOC_TAG);
    }
}

/* Finds module Id and takes a reference on it; NULL if it is not attached. */
_IRQL_requires_max_(DISPATCH_LEVEL)
static PFILTER_MODULE FilterReferenceModule(ULONG Id, BOOLEAN DispatchLevel) {
    FILTER_LOCK_STATE state;
    PLIST_ENTRY link;
    PFILTER_MODULE found = NULL;
    FILTER_ACQUIRE_LIST_READ(&state, DispatchLevel);
    for (link = FilterGlobals.ModuleList.Flink; link != &FilterGlobals.ModuleList;
         link = link->Flink) {
        PFILTER_MODULE module = CONTAINING_RECORD(link, FILTER_MODULE, Link);
        if (module->Id == Id) {
            NdisInterlockedIncrement(&module->RefCount);
            found = module;
            break;
        }
    }
    FILTER_RELEASE_LIST(&state, DispatchLevel);
    return found;
}

_IRQL_requires_max_(PASSIVE_LEVEL)
static VOID FilterDetach(PFILTER_MODULE Module) {
    FILTER_LOCK_STATE state;
    FILTER_ACQUIRE_LIST_WRITE(&state);
    RemoveEntryList(&Module->Link);
    FILTER_RELEASE_LIST(&state, FALSE);
    InterlockedDecrement(&FilterGlobals.ModuleCount);
    FilterDereferenceModule(Module);
}

/* The statistics update of the send path. */
_When_(DispatchLevel, _IRQL_requires_(DISPATCH_LEVEL))
static VOID FilterCountSend(PFILTER_MODULE Module, ULONG Bytes, BOOLEAN DispatchLevel) {
    if (DispatchLevel) {
        NdisDprAcquireSpinLock(&Module->StatsLock);
    } else {
        NdisAcquireSpinLock(&Module->StatsLock);
    }
    if (++Module->Inside != 1) InterlockedIncrement(&FilterGlobals.Violations);
    if (NDIS_CURRENT_IRQL() != DISPATCH_LEVEL) InterlockedIncrement(&FilterGlobals.Violations);
    Module->PacketsSent++;
    Module->BytesSent += Bytes;
    Module->Inside--;
    if (DispatchLevel) {
        NdisDprReleaseSpinLock(&Module->StatsLock);
    } else {
        NdisReleaseSpinLock(&Module->StatsLock);
    }
}

/* FilterSendNetBufferLists: NDIS calls it at DISPATCH_LEVEL or below. */
_IRQL_requires_max_(DISPATCH_LEVEL)
static BOOLEAN FilterSendNetBufferLists(ULONG ModuleId, ULONG Bytes, BOOLEAN DispatchLevel) {
    PFILTER_MODULE module = FilterReferenceModule(ModuleId, DispatchLevel);
    if (module == NULL) return FALSE;
    FilterCountSend(module, Bytes, DispatchLevel);
    FilterDereferenceModule(module);
    return TRUE;
}

/* An OID request queued for the worker, under the queued spin lock. */
_IRQL_requires_max_(DISPATCH_LEVEL)
static BOOLEAN FilterQueueRequest(ULONG Id) {
    KLOCK_QUEUE_HANDLE handle;
    PFILTER_REQUEST request = (PFILTER_REQUEST)ExAllocatePoolWithTag(
        NonPagedPoolNx, sizeof(FILTER_REQUEST), FILTER_REQUEST_TAG);
    if (request == NULL) return FALSE;
    request->Id = Id;
    KeAcquireInStackQueuedSpinLock(&FilterGlobals.RequestLock, &handle);
    PushEntryList(&FilterGlobals.PendingRequests, &request->Link);
    FilterGlobals.PendingCount++;
    KeReleaseInStackQueuedSpinLock(&handle);
    return TRUE;
}

/* Completes one queued request from a DPC-like path; FALSE if none was pending. */
_IRQL_requires_(DISPATCH_LEVEL)
static BOOLEAN FilterCompleteRequestAtDpc(VOID) {
    KLOCK_QUEUE_HANDLE handle;
    PSINGLE_LIST_ENTRY entry;
    KeAcquireInStackQueuedSpinLockAtDpcLevel(&FilterGlobals.RequestLock, &handle);
    entry = PopEntryList(&FilterGlobals.PendingRequests);
    if (entry != NULL) FilterGlobals.PendingCount--;
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&handle);
    if (entry == NULL) return FALSE;
    ExFreePool(CONTAINING_RECORD(entry, FILTER_REQUEST, Link));
    return TRUE;
}

_IRQL_requires_max_(PASSIVE_LEVEL)
static VOID FilterDeregister(VOID) {
    ASSERT(IsListEmpty(&FilterGlobals.ModuleList));
#if NDIS_SUPPORT_NDIS620
    NdisFreeRWLock(FilterGlobals.ModuleListLock);
    FilterGlobals.ModuleListLock = NULL;
#endif
}

/* ---- The test harness ---------------------------------------------------------------------- */

typedef struct _WORKER {
    ULONG Index;
    ULONG Iterations;
    PKEVENT Start;
    ULONG64 Sent;      /* sends that found their module */
    ULONG64 Bytes;
    ULONG64 Requests;  /* requests queued */
    ULONG64 Completed; /* requests completed */
    ULONG Churn;       /* attach/detach cycles of a private module */
    LONG Failures;
} WORKER, *PWORKER;

static KSTART_ROUTINE FilterWorker;

static VOID FilterWorker(PVOID Context) {
    PWORKER worker = (PWORKER)Context;
    ULONG i;
    NTSTATUS status = KeWaitForSingleObject(worker->Start, Executive, KernelMode, FALSE, NULL);
    if (status != STATUS_SUCCESS) worker->Failures++;
    for (i = 0; i < worker->Iterations; i++) {
        ULONG id = (worker->Index + i) % FILTER_MODULES;
        ULONG bytes = 64 + (i % 1400);
        if (i % 3 == 0) {
            /* The send path as NDIS runs it from a DPC: at DISPATCH_LEVEL, Dpr calls. */
            KIRQL old;
            KeRaiseIrql(DISPATCH_LEVEL, &old);
            if (FilterSendNetBufferLists(id, bytes, TRUE)) {
                worker->Sent++;
                worker->Bytes += bytes;
            }
            if (FilterCompleteRequestAtDpc()) worker->Completed++;
            KeLowerIrql(old);
        } else {
            if (FilterSendNetBufferLists(id, bytes, FALSE)) {
                worker->Sent++;
                worker->Bytes += bytes;
            }
        }
        if (i % 7 == 0 && FilterQueueRequest(i)) worker->Requests++;
        if (i % 101 == 0) {
            /* A module that comes and goes while the others send. */
            PFILTER_MODULE churn;
            if (FilterAttach(1000 + worker->Index, &churn) == NDIS_STATUS_SUCCESS) {
                if (FilterSendNetBufferLists(1000 + worker->Index, 1, FALSE)) {
                    worker->Sent++;
                    worker->Bytes += 1;
                }
                FilterDetach(churn);
                worker->Churn++;
            } else {
                worker->Failures++;
            }
        }
        if (KeGetCurrentIrql() != PASSIVE_LEVEL) worker->Failures++;
    }
    PsTerminateSystemThread(STATUS_SUCCESS);
}

static int FilterRun(ULONG threads, ULONG iterations) {
    PFILTER_MODULE modules[FILTER_MODULES];
    PWORKER workers;
    PHANDLE handles;
    KEVENT start;
    ULONG i;
    ULONG64 sent = 0, bytes = 0, requests = 0, completed = 0, counted = 0, counted_bytes = 0;
    LONG failures = 0;
    SIZE_T leaked_bytes = 0;
    int errors = 0;

    if (FilterRegister() != NDIS_STATUS_SUCCESS) return 2;
    for (i = 0; i < FILTER_MODULES; i++) {
        if (FilterAttach(i, &modules[i]) != NDIS_STATUS_SUCCESS) return 2;
    }
    workers = (PWORKER)ExAllocatePoolWithTag(NonPagedPoolNx, threads * sizeof(WORKER), 'kroW');
    handles = (PHANDLE)ExAllocatePoolWithTag(PagedPool, threads * sizeof(HANDLE), 'kroW');
    if (workers == NULL || handles == NULL) return 2;
    KeInitializeEvent(&start, NotificationEvent, FALSE);
    for (i = 0; i < threads; i++) {
        OBJECT_ATTRIBUTES attributes;
        InitializeObjectAttributes(&attributes, NULL, OBJ_KERNEL_HANDLE, NULL, NULL);
        RtlZeroMemory(&workers[i], sizeof(WORKER));
        workers[i].Index = i;
        workers[i].Iterations = iterations;
        workers[i].Start = &start;
        if (!NT_SUCCESS(PsCreateSystemThread(&handles[i], THREAD_ALL_ACCESS, &attributes, NULL,
                                             NULL, FilterWorker, &workers[i])))
            return 2;
    }
    KeSetEvent(&start, IO_NO_INCREMENT, FALSE);
    for (i = 0; i < threads; i++) {
        PVOID thread;
        NTSTATUS status = ObReferenceObjectByHandle(handles[i], THREAD_ALL_ACCESS, *PsThreadType,
                                                    KernelMode, &thread, NULL);
        if (!NT_SUCCESS(status)) return 2;
        (void)KeWaitForSingleObject(thread, Executive, KernelMode, FALSE, NULL);
        ObDereferenceObject(thread);
        ZwClose(handles[i]);
        sent += workers[i].Sent;
        bytes += workers[i].Bytes;
        requests += workers[i].Requests;
        completed += workers[i].Completed;
        failures += workers[i].Failures;
    }

    /* Drain what the workers left queued, from a DPC-like path. */
    {
        KIRQL old = KeRaiseIrqlToDpcLevel();
        while (FilterCompleteRequestAtDpc()) completed++;
        KeLowerIrql(old);
    }
    for (i = 0; i < FILTER_MODULES; i++) {
        counted += modules[i]->PacketsSent;
        counted_bytes += modules[i]->BytesSent;
        if (modules[i]->RefCount != 1) errors++;
    }
    /* Churn modules counted their own sends; add them via the workers' churn count. */
    for (i = 0; i < threads; i++) {
        counted += workers[i].Churn;
        counted_bytes += workers[i].Churn;
    }
    if (FilterGlobals.ModuleCount != FILTER_MODULES) errors++;
    if (FilterGlobals.PendingCount != 0) errors++;
    for (i = 0; i < FILTER_MODULES; i++) FilterDetach(modules[i]);
    FilterDeregister();
    ExFreePool(workers);
    ExFreePoolWithTag(handles, 'kroW');

    DbgPrint("sent=%llu counted=%llu bytes=%llu counted_bytes=%llu\n", (unsigned long long)sent,
             (unsigned long long)counted, (unsigned long long)bytes,
             (unsigned long long)counted_bytes);
    DbgPrint("requests=%llu completed=%llu\n", (unsigned long long)requests,
             (unsigned long long)completed);
    DbgPrint("violations=%d failures=%d errors=%d\n", (int)FilterGlobals.Violations,
             (int)failures, errors);
    DbgPrint("leaked=%u leaked_bytes=%zu\n",
             NdisRwlSimPoolOutstanding(FILTER_ALLOC_TAG, &leaked_bytes) +
                 NdisRwlSimPoolOutstanding(FILTER_REQUEST_TAG, NULL) +
                 NdisRwlSimPoolOutstanding('kroW', NULL),
             leaked_bytes);
    NdisRwlSimCheckUnload(FILTER_ALLOC_TAG);
    NdisRwlSimCheckUnload(FILTER_REQUEST_TAG);
    return sent == counted && bytes == counted_bytes && requests == completed &&
                   FilterGlobals.Violations == 0 && failures == 0 && errors == 0
               ? 0
               : 1;
}

static ULONG FilterArgument(const char *text) {
    ULONG value = 0;
    while (*text >= '0' && *text <= '9') value = value * 10 + (ULONG)(*text++ - '0');
    return value;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "run") == 0) {
        int result = FilterRun(FilterArgument(argv[2]), FilterArgument(argv[3]));
        DbgPrint("result=%d\n", result);
        return result;
    }
    if (argc >= 2 && strcmp(argv[1], "version") == 0) {
#ifdef NDIS_RWLOCK_NDIS_VERSION_DEFAULTED
        const int defaulted = 1;
#else
        const int defaulted = 0;
#endif
#ifdef NDIS_MINIPORT_MAJOR_VERSION
        const int major = NDIS_MINIPORT_MAJOR_VERSION, minor = NDIS_MINIPORT_MINOR_VERSION;
        const char *kind = "miniport";
#else
        const int major = NDIS_FILTER_MAJOR_VERSION, minor = NDIS_FILTER_MINOR_VERSION;
        const char *kind = "filter";
#endif
        DbgPrint("%s ndis=%d.%d support6=%d support620=%d support689=%d defaulted=%d "
                 "ntddi=0x%08X win64=%d\n",
                 kind, major, minor, (int)NDIS_SUPPORT_NDIS6, (int)NDIS_SUPPORT_NDIS620,
                 (int)NDIS_SUPPORT_NDIS689, defaulted, (unsigned)NTDDI_VERSION,
                 (int)(sizeof(ULONG_PTR) == 8 && _WIN64));
        return 0;
    }
    DbgPrint("usage: filter_driver run THREADS ITERATIONS | version\n");
    return 3;
}
