/*
 * C driver code against the simulated kernel: IRQL raise/lower and KSPIN_LOCKs from several
 * pthreads, processor numbers, pool, critical regions; and misuse modes that must stop the
 * process with the verifier's line.
 *
 *   sim_kernel stress <iterations>   threads increment a counter under a spin lock
 *   sim_kernel routines              single-thread checks of each routine
 *   sim_kernel misuse-<name>         a misuse; must not return
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ndis_rwlock.h"

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("check failed at line %d: %s\n", __LINE__, #cond);                     \
            exit(2);                                                                       \
        }                                                                                  \
    } while (0)

#define THREADS 12

static KSPIN_LOCK counter_lock;
static volatile unsigned long counter;
static volatile unsigned long inside;
static volatile unsigned long overlaps;
static volatile unsigned long irql_errors;
static unsigned long iterations;

static void *stress_thread(void *arg) {
    unsigned long i;
    (void)arg;
    for (i = 0; i < iterations; i++) {
        KIRQL old;
        ULONG before, after;
        if (KeGetCurrentIrql() != PASSIVE_LEVEL) irql_errors++;
        if (i % 2 == 0) {
            old = KeAcquireSpinLockRaiseToDpc(&counter_lock);
        } else {
            old = KfRaiseIrql(DISPATCH_LEVEL);
            KeAcquireSpinLockAtDpcLevel(&counter_lock);
        }
        if (old != PASSIVE_LEVEL || KeGetCurrentIrql() != DISPATCH_LEVEL) irql_errors++;
        before = KeGetCurrentProcessorNumberEx(NULL);
        if (++inside != 1) overlaps++;
        counter = counter + 1;
        inside--;
        after = KeGetCurrentProcessorNumberEx(NULL);
        if (before != after) irql_errors++; /* the processor must not change at DISPATCH */
        if (i % 2 == 0) {
            KeReleaseSpinLock(&counter_lock, old);
        } else {
            KeReleaseSpinLockFromDpcLevel(&counter_lock);
            KeLowerIrql(old);
        }
    }
    return NULL;
}

static int stress(unsigned long n) {
    pthread_t threads[THREADS];
    int t;
    iterations = n;
    KeInitializeSpinLock(&counter_lock);
    for (t = 0; t < THREADS; t++) CHECK(pthread_create(&threads[t], NULL, stress_thread, NULL) == 0);
    for (t = 0; t < THREADS; t++) CHECK(pthread_join(threads[t], NULL) == 0);
    printf("threads=%d processors=%u counter=%lu expected=%lu overlaps=%lu irql_errors=%lu\n",
           THREADS, KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS), counter,
           (unsigned long)THREADS * n, overlaps, irql_errors);
    return counter == (unsigned long)THREADS * n && overlaps == 0 && irql_errors == 0 ? 0 : 1;
}

static int routines(void) {
    KIRQL old;
    KSPIN_LOCK lock;
    PROCESSOR_NUMBER number;
    ULONG index, max;
    unsigned char *block;
    size_t i;

    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    old = KfRaiseIrql(APC_LEVEL);
    CHECK(old == PASSIVE_LEVEL && KeGetCurrentIrql() == APC_LEVEL);
    old = KfRaiseIrql(DISPATCH_LEVEL);
    CHECK(old == APC_LEVEL && KeGetCurrentIrql() == DISPATCH_LEVEL);
    old = KfRaiseIrql(HIGH_LEVEL);
    CHECK(old == DISPATCH_LEVEL && KeGetCurrentIrql() == HIGH_LEVEL);
    KeLowerIrql(DISPATCH_LEVEL);
    KeLowerIrql(APC_LEVEL);
    KeLowerIrql(PASSIVE_LEVEL);
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);

    KeInitializeSpinLock(&lock);
    CHECK(lock == 0);
    old = KeAcquireSpinLockRaiseToDpc(&lock);
    CHECK(old == PASSIVE_LEVEL && KeGetCurrentIrql() == DISPATCH_LEVEL && lock != 0);
    KeReleaseSpinLock(&lock, old);
    CHECK(lock == 0 && KeGetCurrentIrql() == PASSIVE_LEVEL);
    old = KfRaiseIrql(DISPATCH_LEVEL);
    CHECK(KeTryToAcquireSpinLockAtDpcLevel(&lock) == 1);
    KeReleaseSpinLockFromDpcLevel(&lock);
    KeLowerIrql(old);

    max = KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS);
    CHECK(max >= 2);
    CHECK(KeQueryMaximumProcessorCountEx(0) == (max < 64 ? max : 64));
    old = KfRaiseIrql(DISPATCH_LEVEL);
    memset(&number, 0xAA, sizeof number);
    index = KeGetCurrentProcessorNumberEx(&number);
    CHECK(index < max);
    CHECK(number.Group == index / 64 && number.Number == index % 64 && number.Reserved == 0);
    KeLowerIrql(old);

    block = ExAllocatePool2(POOL_FLAG_NON_PAGED, 100, 0x74736554 /* 'Test' */);
    CHECK(block != NULL);
    for (i = 0; i < 100; i++) CHECK(block[i] == 0);
    CHECK(((uintptr_t)block & 15) == 0);
    ExFreePoolWithTag(block, 0x74736554);
    CHECK(ExAllocatePool2(0, 16, 0x74736554) == NULL); /* no pool type */

    KeEnterCriticalRegion();
    KeEnterCriticalRegion();
    KeLeaveCriticalRegion();
    KeLeaveCriticalRegion();
    printf("ok routines\n");
    return 0;
}

static void *exit_at_dispatch(void *arg) {
    (void)arg;
    KfRaiseIrql(DISPATCH_LEVEL);
    return NULL; /* the thread ends while it owns its processor */
}

static int misuse(const char *name) {
    KSPIN_LOCK lock;
    KeInitializeSpinLock(&lock);
    if (strcmp(name, "lower-to-higher") == 0) {
        KIRQL old = KfRaiseIrql(APC_LEVEL);
        (void)old;
        KeLowerIrql(DISPATCH_LEVEL);
    } else if (strcmp(name, "raise-to-lower") == 0) {
        KfRaiseIrql(DISPATCH_LEVEL);
        KfRaiseIrql(APC_LEVEL);
    } else if (strcmp(name, "spin-lock-twice") == 0) {
        KeAcquireSpinLockRaiseToDpc(&lock);
        KeAcquireSpinLockAtDpcLevel(&lock);
    } else if (strcmp(name, "double-free") == 0) {
        void *p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, 0x74736554);
        ExFreePoolWithTag(p, 0x74736554);
        ExFreePoolWithTag(p, 0x74736554);
    } else if (strcmp(name, "leave-critical-region") == 0) {
        KeLeaveCriticalRegion();
    } else if (strcmp(name, "thread-exit-at-dispatch") == 0) {
        pthread_t thread;
        CHECK(pthread_create(&thread, NULL, exit_at_dispatch, NULL) == 0);
        CHECK(pthread_join(thread, NULL) == 0);
    } else if (strcmp(name, "bugcheck") == 0) {
        KeBugCheckEx(0xE2, 1, 2, 3, 4);
    } else {
        printf("unknown misuse %s\n", name);
        return 3;
    }
    printf("the misuse returned\n");
    return 4;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "stress") == 0) return stress(strtoul(argv[2], NULL, 10));
    if (argc >= 2 && strcmp(argv[1], "routines") == 0) return routines();
    if (argc >= 2 && strncmp(argv[1], "misuse-", 7) == 0) return misuse(argv[1] + 7);
    printf("usage: sim_kernel stress N | routines | misuse-NAME\n");
    return 3;
}
