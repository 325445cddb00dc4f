/*
 * C driver code against the simulated kernel: IRQL raise/lower and KSPIN_LOCKs from several
 * pthreads, processor numbers, pool, critical regions; and misuse modes that must stop the
 * process with the verifier's line.
 *
 *   sim_kernel stress <iterations>   threads increment a counter under a spin lock and check
 *                                    that nobody else runs on their processor at DISPATCH
 *   sim_kernel routines              single-thread checks of each routine
 *   sim_kernel processors            prints the processor count
 *   sim_kernel groups                every processor, seen from a thread raised on it, reports
 *                                    its group and number (run with more than 64 processors)
 *   sim_kernel misuse-<name>         a misuse; must not return
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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
#define MAX_PROCESSORS 256
#define TAG 0x74736554u /* reads "Test" in memory: 'tseT' */

static KSPIN_LOCK counter_lock;
static volatile unsigned long counter; /* only touched under counter_lock */
static volatile unsigned long inside;  /* only touched under counter_lock */
static atomic_ulong overlaps;
static atomic_ulong irql_errors;
static atomic_ulong processor_overlaps;
static atomic_uint occupants[MAX_PROCESSORS];
static unsigned long iterations;

/* At DISPATCH_LEVEL: the caller must be alone on its processor, and stay on it. */
static void check_alone_on_processor(void) {
    ULONG before = KeGetCurrentProcessorNumberEx(NULL);
    ULONG after;
    if (before >= MAX_PROCESSORS) {
        atomic_fetch_add(&irql_errors, 1);
        return;
    }
    if (atomic_fetch_add(&occupants[before], 1) != 0) atomic_fetch_add(&processor_overlaps, 1);
    sched_yield(); /* let another thread of this processor run, if the rule were broken */
    after = KeGetCurrentProcessorNumberEx(NULL);
    if (before != after) atomic_fetch_add(&irql_errors, 1); /* moved while at DISPATCH */
    atomic_fetch_sub(&occupants[before], 1);
}

static void *stress_thread(void *arg) {
    unsigned long i;
    (void)arg;
    for (i = 0; i < iterations; i++) {
        KIRQL old;
        if (KeGetCurrentIrql() != PASSIVE_LEVEL) atomic_fetch_add(&irql_errors, 1);
        if (i % 4 == 3) {
            /* No lock: raise, check the processor rule, lower. */
            old = KfRaiseIrql(DISPATCH_LEVEL);
            if (old != PASSIVE_LEVEL || KeGetCurrentIrql() != DISPATCH_LEVEL)
                atomic_fetch_add(&irql_errors, 1);
            check_alone_on_processor();
            KeLowerIrql(old);
            continue;
        }
        if (i % 2 == 0) {
            old = KeAcquireSpinLockRaiseToDpc(&counter_lock);
        } else {
            old = KfRaiseIrql(DISPATCH_LEVEL);
            KeAcquireSpinLockAtDpcLevel(&counter_lock);
        }
        if (old != PASSIVE_LEVEL || KeGetCurrentIrql() != DISPATCH_LEVEL)
            atomic_fetch_add(&irql_errors, 1);
        if (++inside != 1) atomic_fetch_add(&overlaps, 1);
        counter = counter + 1;
        if (i % 64 == 0) check_alone_on_processor();
        inside--;
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
    unsigned long expected = 0, i;
    int t;
    iterations = n;
    for (i = 0; i < n; i++)
        if (i % 4 != 3) expected++;
    expected *= THREADS;
    KeInitializeSpinLock(&counter_lock);
    for (t = 0; t < THREADS; t++) CHECK(pthread_create(&threads[t], NULL, stress_thread, NULL) == 0);
    for (t = 0; t < THREADS; t++) CHECK(pthread_join(threads[t], NULL) == 0);
    printf("threads=%d processors=%u counter=%lu expected=%lu overlaps=%lu irql_errors=%lu "
           "processor_overlaps=%lu\n",
           THREADS, KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS), counter, expected,
           atomic_load(&overlaps), atomic_load(&irql_errors), atomic_load(&processor_overlaps));
    return counter == expected && atomic_load(&overlaps) == 0 && atomic_load(&irql_errors) == 0 &&
                   atomic_load(&processor_overlaps) == 0
               ? 0
               : 1;
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
    old = KfRaiseIrql(DISPATCH_LEVEL);
    CHECK(old == DISPATCH_LEVEL && KeGetCurrentIrql() == DISPATCH_LEVEL);
    old = KfRaiseIrql(HIGH_LEVEL);
    CHECK(old == DISPATCH_LEVEL && KeGetCurrentIrql() == HIGH_LEVEL);
    KeLowerIrql(DISPATCH_LEVEL);
    CHECK(KeGetCurrentIrql() == DISPATCH_LEVEL);
    KeLowerIrql(APC_LEVEL);
    CHECK(KeGetCurrentIrql() == APC_LEVEL);
    KeLowerIrql(PASSIVE_LEVEL);
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);

    memset(&lock, 0x5A, sizeof lock); /* garbage: KeInitializeSpinLock must clear it */
    KeInitializeSpinLock(&lock);
    CHECK(lock == 0);
    old = KeAcquireSpinLockRaiseToDpc(&lock);
    CHECK(old == PASSIVE_LEVEL && KeGetCurrentIrql() == DISPATCH_LEVEL && lock != 0);
    KeReleaseSpinLock(&lock, old);
    CHECK(lock == 0 && KeGetCurrentIrql() == PASSIVE_LEVEL);
    old = KfRaiseIrql(APC_LEVEL);
    CHECK(KeAcquireSpinLockRaiseToDpc(&lock) == APC_LEVEL);
    KeReleaseSpinLock(&lock, APC_LEVEL);
    CHECK(KeGetCurrentIrql() == APC_LEVEL);
    KeLowerIrql(old);
    old = KfRaiseIrql(DISPATCH_LEVEL);
    CHECK(KeTryToAcquireSpinLockAtDpcLevel(&lock) == 1);
    CHECK(lock != 0);
    KeReleaseSpinLockFromDpcLevel(&lock);
    CHECK(lock == 0);
    KeAcquireSpinLockAtDpcLevel(&lock);
    CHECK(lock != 0 && KeGetCurrentIrql() == DISPATCH_LEVEL);
    KeReleaseSpinLockFromDpcLevel(&lock);
    CHECK(lock == 0 && KeGetCurrentIrql() == DISPATCH_LEVEL);
    KeLowerIrql(old);

    max = KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS);
    CHECK(max >= 2);
    CHECK(KeQueryMaximumProcessorCountEx(0) == (max < 64 ? max : 64));
    old = KfRaiseIrql(DISPATCH_LEVEL);
    memset(&number, 0xAA, sizeof number);
    index = KeGetCurrentProcessorNumberEx(&number);
    CHECK(index < max);
    CHECK(KeGetCurrentProcessorNumberEx(NULL) == index);
    CHECK(number.Group == index / 64 && number.Number == index % 64 && number.Reserved == 0);
    KeLowerIrql(old);

    block = ExAllocatePool2(POOL_FLAG_NON_PAGED, 100, TAG);
    CHECK(block != NULL);
    for (i = 0; i < 100; i++) CHECK(block[i] == 0);
    CHECK(((uintptr_t)block & 15) == 0);
    memset(block, 0xFF, 100);
    ExFreePoolWithTag(block, TAG);
    block = ExAllocatePool2(POOL_FLAG_PAGED, 24, TAG); /* paged, at PASSIVE_LEVEL: fine */
    CHECK(block != NULL);
    ExFreePoolWithTag(block, TAG);
    old = KfRaiseIrql(DISPATCH_LEVEL); /* nonpaged at DISPATCH_LEVEL: fine */
    block = ExAllocatePool2(POOL_FLAG_NON_PAGED | POOL_FLAG_UNINITIALIZED, 8, TAG);
    CHECK(block != NULL);
    ExFreePoolWithTag(block, TAG);
    KeLowerIrql(old);
    CHECK(ExAllocatePool2(0, 16, TAG) == NULL); /* no pool type */

    KeEnterCriticalRegion();
    KeEnterCriticalRegion();
    KeLeaveCriticalRegion();
    KeLeaveCriticalRegion();
    printf("ok routines\n");
    return 0;
}

static int processors(void) {
    printf("processors=%u\n", KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS));
    return 0;
}

/* ---- groups: one thread per processor (homes are handed out round robin). ---------------- */
static atomic_uint seen[MAX_PROCESSORS];
static atomic_ulong group_errors;

static void *group_thread(void *arg) {
    PROCESSOR_NUMBER number;
    ULONG index;
    KIRQL old = KfRaiseIrql(DISPATCH_LEVEL);
    (void)arg;
    memset(&number, 0xAA, sizeof number);
    index = KeGetCurrentProcessorNumberEx(&number);
    if (index >= MAX_PROCESSORS || number.Group != index / 64 || number.Number != index % 64 ||
        number.Reserved != 0)
        atomic_fetch_add(&group_errors, 1);
    else
        atomic_fetch_add(&seen[index], 1);
    KeLowerIrql(old);
    return NULL;
}

static int groups(void) {
    ULONG max = KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS);
    ULONG g, p, sum = 0, missing = 0;
    pthread_t *threads;
    CHECK(max > 64 && max <= MAX_PROCESSORS);
    for (g = 0; g * 64 < max + 64; g++) {
        ULONG expected = max > g * 64 ? (max - g * 64 < 64 ? max - g * 64 : 64) : 0;
        CHECK(KeQueryMaximumProcessorCountEx((USHORT)g) == expected);
        sum += expected;
    }
    CHECK(sum == max);
    /* The main thread attached above; max more threads cover every processor once more. */
    threads = calloc(max, sizeof *threads);
    CHECK(threads != NULL);
    for (p = 0; p < max; p++) CHECK(pthread_create(&threads[p], NULL, group_thread, NULL) == 0);
    for (p = 0; p < max; p++) CHECK(pthread_join(threads[p], NULL) == 0);
    free(threads);
    for (p = 0; p < max; p++)
        if (atomic_load(&seen[p]) == 0) missing++;
    printf("groups processors=%u errors=%lu missing=%u\n", max, atomic_load(&group_errors),
           missing);
    return atomic_load(&group_errors) == 0 && missing == 0 ? 0 : 1;
}

/* ---- misuse ------------------------------------------------------------------------------ */
static void *exit_at_dispatch(void *arg) {
    (void)arg;
    KfRaiseIrql(DISPATCH_LEVEL);
    return NULL; /* the thread ends while it owns its processor */
}

/* Raises on the main thread's processor if that is its home, else ends at once. */
static ULONG blocked_processor;
static atomic_int raised_behind;

static void *raise_on_blocked_processor(void *arg) {
    (void)arg;
    if (KeGetCurrentProcessorNumberEx(NULL) != blocked_processor) return NULL;
    atomic_store(&raised_behind, 1);
    printf("waiting for processor %u\n", blocked_processor);
    fflush(stdout);
    KfRaiseIrql(DISPATCH_LEVEL); /* waits for the main thread, which never lowers */
    printf("the waiter got the processor\n");
    fflush(stdout);
    exit(4);
}

/* Prints an address the expected stop line contains. */
static void announce(const char *what, const void *address) {
    printf("%s=%p\n", what, address);
    fflush(stdout); /* abort() does not flush */
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
        announce("lock", &lock);
        KeAcquireSpinLockRaiseToDpc(&lock);
        KeAcquireSpinLockAtDpcLevel(&lock);
    } else if (strcmp(name, "release-not-owned") == 0) {
        announce("lock", &lock);
        KfRaiseIrql(DISPATCH_LEVEL);
        KeReleaseSpinLockFromDpcLevel(&lock);
    } else if (strcmp(name, "acquire-at-dpc-at-passive") == 0) {
        announce("lock", &lock);
        KeAcquireSpinLockAtDpcLevel(&lock);
    } else if (strcmp(name, "null-spin-lock") == 0) {
        KeAcquireSpinLockRaiseToDpc(NULL);
    } else if (strcmp(name, "misaligned-spin-lock") == 0) {
        static KSPIN_LOCK pair[2];
        PKSPIN_LOCK odd = (PKSPIN_LOCK)((unsigned char *)pair + 1);
        announce("lock", odd);
        KeAcquireSpinLockRaiseToDpc(odd);
    } else if (strcmp(name, "double-free") == 0) {
        void *p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, TAG);
        CHECK(p != NULL);
        announce("block", p);
        ExFreePoolWithTag(p, TAG);
        ExFreePoolWithTag(p, TAG);
    } else if (strcmp(name, "bad-free") == 0) {
        ExFreePoolWithTag((void *)(uintptr_t)0x1000, TAG);
    } else if (strcmp(name, "zero-byte-allocation") == 0) {
        ExAllocatePool2(POOL_FLAG_NON_PAGED, 0, TAG);
    } else if (strcmp(name, "paged-at-dispatch") == 0) {
        KfRaiseIrql(DISPATCH_LEVEL);
        ExAllocatePool2(POOL_FLAG_PAGED, 64, TAG);
    } else if (strcmp(name, "leave-critical-region") == 0) {
        KeLeaveCriticalRegion();
    } else if (strcmp(name, "thread-exit-at-dispatch") == 0) {
        pthread_t thread;
        CHECK(pthread_create(&thread, NULL, exit_at_dispatch, NULL) == 0);
        CHECK(pthread_join(thread, NULL) == 0);
    } else if (strcmp(name, "blocked-at-dispatch") == 0) {
        /* The main thread raises and then blocks (a join) instead of lowering; a thread of its
         * processor waits to raise. Nothing spins or lowers: the waiter must stop the machine
         * once the watchdog limit has passed. */
        KfRaiseIrql(DISPATCH_LEVEL);
        blocked_processor = KeGetCurrentProcessorNumberEx(NULL);
        while (!atomic_load(&raised_behind)) {
            pthread_t thread;
            CHECK(pthread_create(&thread, NULL, raise_on_blocked_processor, NULL) == 0);
            CHECK(pthread_join(thread, NULL) == 0);
        }
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
    if (argc >= 2 && strcmp(argv[1], "processors") == 0) return processors();
    if (argc >= 2 && strcmp(argv[1], "groups") == 0) return groups();
    if (argc >= 2 && strncmp(argv[1], "misuse-", 7) == 0) return misuse(argv[1] + 7);
    printf("usage: sim_kernel stress N | routines | processors | groups | misuse-NAME\n");
    return 3;
}
