/*
 * Misuse of the routines include/km declares, each of which must stop the machine with one
 * `*** STOP` line; compiled like filter_driver.c, with only `-std=gnu11 -Wall -Werror
 * -I include/km`. Before a misuse the program prints the addresses the stop line will name
 * (`name=0x...`) and the processor it runs on.
 *
 *   km_misuse <misuse>
 */
#include <ndis.h>

static NDIS_SPIN_LOCK SpinLock;
static KSPIN_LOCK QueuedLock;
static KEVENT Ready;
static volatile LONG Stop;

static VOID Announce(const char *name, const void *address) {
    DbgPrint("%s=0x%lx\n", name, (unsigned long)(ULONG_PTR)address);
    fflush(stdout);
}

static VOID AnnounceProcessor(const char *name) {
    DbgPrint("%s=%u\n", name, (unsigned)KeGetCurrentProcessorNumberEx(NULL));
    fflush(stdout);
}

static VOID Returned(VOID) {
    DbgPrint("the misuse returned\n");
}

/* Holds SpinLock (or QueuedLock) on its own processor until the process ends. */
static VOID HoldSpinLock(PVOID Context) {
    KLOCK_QUEUE_HANDLE handle;
    KLOCK_QUEUE_HANDLE *shared = (KLOCK_QUEUE_HANDLE *)Context;
    if (shared != NULL) {
        KeAcquireInStackQueuedSpinLock(&QueuedLock, &handle);
        *shared = handle;
    } else {
        NdisAcquireSpinLock(&SpinLock);
    }
    AnnounceProcessor("holder");
    KeSetEvent(&Ready, IO_NO_INCREMENT, FALSE);
    while (!Stop) NdisStallExecution(100);
    PsTerminateSystemThread(STATUS_SUCCESS);
}

static VOID StartHolder(PVOID Context) {
    HANDLE thread;
    KeInitializeEvent(&Ready, NotificationEvent, FALSE);
    NT_VERIFY(NT_SUCCESS(PsCreateSystemThread(&thread, THREAD_ALL_ACCESS, NULL, NULL, NULL,
                                              HoldSpinLock, Context)));
    KeWaitForSingleObject(&Ready, Executive, KernelMode, FALSE, NULL);
}

/* Stops from every thread at once: only one line may come out. */
static KEVENT Gate;
static VOID StopNow(PVOID Context) {
    KeWaitForSingleObject(&Gate, Executive, KernelMode, FALSE, NULL);
    KeBugCheckEx(0xE2, (ULONG_PTR)Context, 0, 0, 0);
}

static int ConcurrentStops(VOID) {
    ULONG_PTR i;
    KeInitializeEvent(&Gate, NotificationEvent, FALSE);
    for (i = 1; i <= 8; i++) {
        HANDLE thread;
        if (!NT_SUCCESS(PsCreateSystemThread(&thread, THREAD_ALL_ACCESS, NULL, NULL, NULL,
                                             StopNow, (PVOID)i)))
            return 2;
    }
    KeSetEvent(&Gate, IO_NO_INCREMENT, FALSE);
    StopNow((PVOID)(ULONG_PTR)9);
    return 0;
}

static int Misuse(const char *name) {
    KIRQL old;
    KLOCK_QUEUE_HANDLE handle;
    NdisAllocateSpinLock(&SpinLock);
    KeInitializeSpinLock(&QueuedLock);
    Announce("lock", &SpinLock);
    Announce("queued", &QueuedLock);
    Announce("handle", &handle);
    AnnounceProcessor("processor");

    if (strcmp(name, "spin-acquire-above-dispatch") == 0) {
        KeRaiseIrql(HIGH_LEVEL, &old);
        NdisAcquireSpinLock(&SpinLock);
    } else if (strcmp(name, "spin-dpr-acquire-at-passive") == 0) {
        NdisDprAcquireSpinLock(&SpinLock);
    } else if (strcmp(name, "spin-release-not-held") == 0) {
        KeRaiseIrql(DISPATCH_LEVEL, &old);
        AnnounceProcessor("releaser");
        NdisReleaseSpinLock(&SpinLock);
    } else if (strcmp(name, "spin-release-on-other-processor") == 0) {
        StartHolder(NULL);
        KeRaiseIrql(DISPATCH_LEVEL, &old);
        AnnounceProcessor("releaser");
        NdisReleaseSpinLock(&SpinLock);
    } else if (strcmp(name, "spin-release-at-passive") == 0) {
        NdisAcquireSpinLock(&SpinLock);
        KeLowerIrql(PASSIVE_LEVEL);
        NdisReleaseSpinLock(&SpinLock);
    } else if (strcmp(name, "spin-dpr-release-at-passive") == 0) {
        NdisDprReleaseSpinLock(&SpinLock);
    } else if (strcmp(name, "spin-acquire-twice") == 0) {
        NdisAcquireSpinLock(&SpinLock);
        AnnounceProcessor("holder");
        NdisDprAcquireSpinLock(&SpinLock);
    } else if (strcmp(name, "spin-null") == 0) {
        NdisAcquireSpinLock(NULL);
    } else if (strcmp(name, "queued-acquire-above-dispatch") == 0) {
        KeRaiseIrql(HIGH_LEVEL, &old);
        KeAcquireInStackQueuedSpinLock(&QueuedLock, &handle);
    } else if (strcmp(name, "queued-at-dpc-below-dispatch") == 0) {
        KeAcquireInStackQueuedSpinLockAtDpcLevel(&QueuedLock, &handle);
    } else if (strcmp(name, "queued-release-twice") == 0) {
        KeAcquireInStackQueuedSpinLock(&QueuedLock, &handle);
        KeReleaseInStackQueuedSpinLock(&handle);
        KeReleaseInStackQueuedSpinLock(&handle);
    } else if (strcmp(name, "queued-release-at-passive") == 0) {
        KeAcquireInStackQueuedSpinLock(&QueuedLock, &handle);
        KeLowerIrql(PASSIVE_LEVEL);
        KeReleaseInStackQueuedSpinLock(&handle);
    } else if (strcmp(name, "queued-release-from-dpc-at-passive") == 0) {
        KeAcquireInStackQueuedSpinLock(&QueuedLock, &handle);
        KeLowerIrql(PASSIVE_LEVEL);
        KeReleaseInStackQueuedSpinLockFromDpcLevel(&handle);
    } else if (strcmp(name, "queued-release-on-other-processor") == 0) {
        static KLOCK_QUEUE_HANDLE shared;
        StartHolder(&shared);
        KeRaiseIrql(DISPATCH_LEVEL, &old);
        AnnounceProcessor("releaser");
        KeReleaseInStackQueuedSpinLock(&shared);
    } else if (strcmp(name, "wait-at-dispatch") == 0) {
        static KEVENT event;
        KeInitializeEvent(&event, NotificationEvent, FALSE);
        Announce("event", &event);
        KeRaiseIrql(DISPATCH_LEVEL, &old);
        KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, NULL);
    } else if (strcmp(name, "wait-uninitialised-event") == 0) {
        static KEVENT event;
        Announce("event", &event);
        KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, NULL);
    } else if (strcmp(name, "sleep-at-dispatch") == 0) {
        KeRaiseIrql(DISPATCH_LEVEL, &old);
        NdisMSleep(10);
    } else if (strcmp(name, "close-bad-handle") == 0) {
        ZwClose((HANDLE)(ULONG_PTR)0x1230);
    } else if (strcmp(name, "assert") == 0) {
        LONG references = 0;
        ASSERT(references > 0);
    } else if (strcmp(name, "list-corrupt") == 0) {
        LIST_ENTRY head, a, b;
        InitializeListHead(&head);
        InsertTailList(&head, &a);
        InsertTailList(&head, &b);
        Announce("entry", &a);
        a.Blink = &b; /* a stray write */
        RemoveEntryList(&a);
    } else if (strcmp(name, "paged-allocation-at-dispatch") == 0) {
        KeRaiseIrql(DISPATCH_LEVEL, &old);
        (void)ExAllocatePoolWithTag(PagedPool, 64, 'tseT');
    } else if (strcmp(name, "double-free") == 0) {
        PVOID block = NdisAllocateMemoryWithTagPriority(NULL, 32, 'tseT', NormalPoolPriority);
        Announce("block", block);
        NdisFreeMemory(block, 32, 0);
        ExFreePool(block);
    } else if (strcmp(name, "leak-at-unload") == 0) {
        (void)NdisAllocateMemoryWithTagPriority(NULL, 48, 'kaeL', NormalPoolPriority);
        NdisRwlSimCheckUnload('kaeL');
    } else if (strcmp(name, "concurrent-stops") == 0) {
        return ConcurrentStops();
    } else {
        DbgPrint("unknown misuse %s\n", name);
        return 3;
    }
    Returned();
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2) return Misuse(argv[1]);
    DbgPrint("usage: km_misuse MISUSE\n");
    return 3;
}
