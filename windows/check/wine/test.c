/*
 * ndisrwtest.sys: a test driver for the Wine load of ndis_rwlock.sys in the Linux check
 * (run.sh, scripts/windows-check.sh). Built with mingw-w64 against include/ndis_rwlock.h.
 *
 * DriverEntry takes each kind of lock in turn (NDIS 6.20 NDIS_RW_LOCK_EX, the legacy
 * NDIS_RW_LOCK, the NdisRwl push lock), starts one system thread per processor, pinned, and has
 * each run readers and writers: writers must be alone (no reader, no other writer inside) and
 * keep two counters equal; readers must see no writer and equal counters; every release must
 * leave the thread at PASSIVE_LEVEL again. It reports through DbgPrint ("ndisrwtest: ...")
 * and fails DriverEntry (so `net start` fails) on any error, or when the kernel shim counted a
 * broken IRQL, spin-lock, pool or push-lock rule.
 */
#include "ndis_rwlock.h"

typedef void *HANDLE;
typedef long NTSTATUS;
typedef long long LONG64;
typedef struct _GROUP_AFFINITY {
    ULONG_PTR Mask;
    USHORT Group;
    USHORT Reserved[3];
} GROUP_AFFINITY;
typedef struct _KEVENT {
    ULONG_PTR Opaque[3];
} KEVENT;
typedef void (*PKSTART_ROUTINE)(PVOID StartContext);

#define STATUS_SUCCESS 0
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001L)
#define THREAD_ALL_ACCESS 0x001FFFFF
#define NOTIFICATION_EVENT 0
#define EXECUTIVE 0
#define KERNEL_MODE 0
#define ITERATIONS 20000

ULONG DbgPrint(const char *Format, ...);
NTSTATUS PsCreateSystemThread(HANDLE *ThreadHandle, ULONG DesiredAccess, PVOID ObjectAttributes,
                              HANDLE ProcessHandle, PVOID ClientId, PKSTART_ROUTINE StartRoutine,
                              PVOID StartContext);
NTSTATUS PsTerminateSystemThread(NTSTATUS ExitStatus);
NTSTATUS ZwClose(HANDLE Handle);
VOID KeInitializeEvent(KEVENT *Event, int Type, BOOLEAN State);
LONG KeSetEvent(KEVENT *Event, LONG Increment, BOOLEAN Wait);
NTSTATUS KeWaitForSingleObject(PVOID Object, int WaitReason, char WaitMode, BOOLEAN Alertable,
                               PVOID Timeout);
NTSTATUS KeGetProcessorNumberFromIndex(ULONG ProcIndex, PPROCESSOR_NUMBER ProcNumber);
VOID KeSetSystemGroupAffinityThread(GROUP_AFFINITY *Affinity, GROUP_AFFINITY *PreviousAffinity);
VOID KeRevertToUserGroupAffinityThread(GROUP_AFFINITY *PreviousAffinity);
LONG NdisRwShimViolations(void);

enum kind { RW_LOCK_EX, RW_LOCK_LEGACY, RWL_PUSH_LOCK, KINDS };
static const char *const kind_names[KINDS] = {"NDIS_RW_LOCK_EX", "NDIS_RW_LOCK", "NDIS_RWL_PUSH_LOCK"};

static struct {
    enum kind kind;
    PNDIS_RW_LOCK_EX lock_ex;
    NDIS_RW_LOCK legacy;
    PNDIS_RWL_PUSH_LOCK push;
    volatile LONG readers, writers, running, failures;
    volatile LONG64 a, b, writes, reads;
    KEVENT done;
} run;

static void fail(const char *what, ULONG processor)
{
    if (__sync_fetch_and_add(&run.failures, 1) < 8)
        DbgPrint("ndisrwtest: %s: FAILED on processor %lu: %s\n", kind_names[run.kind],
                 (unsigned long)processor, what);
}

static void critical_section(int write, ULONG processor)
{
    if (write) {
        if (__sync_add_and_fetch(&run.writers, 1) != 1 || run.readers != 0)
            fail("a writer is not alone", processor);
        run.a = run.a + 1;
        for (volatile int spin = 0; spin < 20; spin++) {
        }
        run.b = run.b + 1;
        __sync_fetch_and_add(&run.writes, 1);
        __sync_fetch_and_sub(&run.writers, 1);
    } else {
        __sync_fetch_and_add(&run.readers, 1);
        if (run.writers != 0)
            fail("a reader sees a writer inside", processor);
        if (run.a != run.b)
            fail("a reader sees a half-done write", processor);
        __sync_fetch_and_add(&run.reads, 1);
        __sync_fetch_and_sub(&run.readers, 1);
    }
}

/* One acquire/release pair of the current kind; `dispatch` calls from DISPATCH_LEVEL. */
static void pair(int write, int dispatch, ULONG processor)
{
    KIRQL old = 0;
    if (dispatch && run.kind != RWL_PUSH_LOCK)
        old = KfRaiseIrql(DISPATCH_LEVEL);
    switch (run.kind) {
    case RW_LOCK_EX: {
        LOCK_STATE_EX state;
        UCHAR flags = dispatch ? NDIS_RWL_AT_DISPATCH_LEVEL : 0;
        if (write)
            NdisAcquireRWLockWrite(run.lock_ex, &state, flags);
        else
            NdisAcquireRWLockRead(run.lock_ex, &state, flags);
        critical_section(write, processor);
        NdisReleaseRWLock(run.lock_ex, &state);
        break;
    }
    case RW_LOCK_LEGACY: {
        LOCK_STATE state;
        if (dispatch) {
            NdisDprAcquireReadWriteLock(&run.legacy, (BOOLEAN)write, &state);
            critical_section(write, processor);
            NdisDprReleaseReadWriteLock(&run.legacy, &state);
        } else {
            NdisAcquireReadWriteLock(&run.legacy, (BOOLEAN)write, &state);
            critical_section(write, processor);
            NdisReleaseReadWriteLock(&run.legacy, &state);
        }
        break;
    }
    default: {
        NDIS_RWL_PUSH_LOCK_STATE state;
        if (write)
            NdisRwlAcquirePushLockWrite(run.push, &state, 0);
        else
            NdisRwlAcquirePushLockRead(run.push, &state, 0);
        critical_section(write, processor);
        NdisRwlReleasePushLock(run.push, &state);
        break;
    }
    }
    if (dispatch && run.kind != RWL_PUSH_LOCK) {
        if (KeGetCurrentIrql() != DISPATCH_LEVEL)
            fail("the release did not return to DISPATCH_LEVEL", processor);
        KeLowerIrql(old);
    }
    if (KeGetCurrentIrql() != PASSIVE_LEVEL)
        fail("the IRQL was not restored to PASSIVE_LEVEL", processor);
}

static void worker(PVOID context)
{
    ULONG processor = (ULONG)(ULONG_PTR)context;
    PROCESSOR_NUMBER number;
    GROUP_AFFINITY affinity = {0}, previous = {0};
    ULONG64 random = 0x9E3779B97F4A7C15ull * (processor + 1);

    if (KeGetProcessorNumberFromIndex(processor, &number) != STATUS_SUCCESS)
        fail("KeGetProcessorNumberFromIndex", processor);
    affinity.Mask = (ULONG_PTR)1 << number.Number;
    affinity.Group = number.Group;
    KeSetSystemGroupAffinityThread(&affinity, &previous);
    for (int i = 0; i < ITERATIONS; i++) {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        pair((random & 7) == 0, (random & 0x30) == 0, processor);
    }
    KeRevertToUserGroupAffinityThread(&previous);
    if (__sync_sub_and_fetch(&run.running, 1) == 0)
        KeSetEvent(&run.done, 0, 0);
    PsTerminateSystemThread(STATUS_SUCCESS);
}

static int run_kind(enum kind kind, ULONG processors)
{
    run.kind = kind;
    run.a = run.b = run.reads = run.writes = 0;
    run.running = (LONG)processors;
    KeInitializeEvent(&run.done, NOTIFICATION_EVENT, 0);
    for (ULONG processor = 0; processor < processors; processor++) {
        HANDLE thread;
        if (PsCreateSystemThread(&thread, THREAD_ALL_ACCESS, 0, 0, 0, worker,
                                 (PVOID)(ULONG_PTR)processor) != STATUS_SUCCESS) {
            fail("PsCreateSystemThread", processor);
            return 0;
        }
        ZwClose(thread);
    }
    KeWaitForSingleObject(&run.done, EXECUTIVE, KERNEL_MODE, 0, 0);
    if (run.a != run.writes || run.b != run.writes)
        fail("the counters do not match the writes", 0);
    DbgPrint("ndisrwtest: %s: %lu threads, %lld reads, %lld writes%s\n", kind_names[kind],
             (unsigned long)processors, (long long)run.reads, (long long)run.writes,
             run.failures ? "" : ", ok");
    return run.failures == 0;
}

NTSTATUS DriverEntry(PVOID driver, PVOID registry_path)
{
    ULONG processors = KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS);
    int ok;
    (void)driver, (void)registry_path;

    if (processors > 64)
        processors = 64;
    run.lock_ex = NdisAllocateRWLock(0);
    run.push = NdisRwlAllocatePushLock(0);
    NdisInitializeReadWriteLock(&run.legacy);
    ok = run.lock_ex && run.push;
    if (!ok)
        DbgPrint("ndisrwtest: FAILED: a lock allocation returned NULL\n");
    for (int kind = 0; ok && kind < KINDS; kind++)
        ok = run_kind((enum kind)kind, processors);
    if (run.lock_ex)
        NdisFreeRWLock(run.lock_ex);
    if (run.push)
        NdisRwlFreePushLock(run.push);
    if (NdisRwShimViolations() != 0) {
        DbgPrint("ndisrwtest: FAILED: %ld kernel rule violations\n", NdisRwShimViolations());
        ok = 0;
    }
    DbgPrint(ok ? "ndisrwtest: PASSED\n" : "ndisrwtest: FAILED\n");
    return ok ? STATUS_SUCCESS : STATUS_UNSUCCESSFUL;
}
