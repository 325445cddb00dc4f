/*
 * NDIS_RW_LOCK_EX from C, through the ndis.h names declared in include/ndis_rwlock.h and
 * implemented by libndis_rwlock.a over the simulated kernel.
 *
 *   ndis_rwlock_ex stress [OPERATIONS_PER_THREAD]
 *       LOCK_STATE_EX layout and IRQL checks, then reader and writer threads that check an
 *       invariant over a multi-word record; prints a summary and exits 0 when all held.
 *   ndis_rwlock_ex misuse-<name>
 *       performs one misuse, which must stop the machine: the process prints the
 *       "*** STOP: ..." line and aborts. The values the runner needs to predict the line
 *       (lock address, processor, state bytes) are printed to stdout first. Exits 3 if the
 *       misuse returned.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ndis_rwlock.h"

#define THREADS 12
#define WORDS 8

_Static_assert(sizeof(LOCK_STATE_EX) == 3, "LOCK_STATE_EX is 3 bytes");
_Static_assert(_Alignof(LOCK_STATE_EX) == 1, "LOCK_STATE_EX has alignment 1");

static int failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

/* ---- The protected record: words that must all be equal outside a write. ------------------ */

static PNDIS_RW_LOCK_EX g_lock;
static ULONG64 g_words[WORDS];
static ULONG64 g_writes;           /* counted under the write lock */
static unsigned long g_operations; /* per thread */

static ULONG64 load(int i) { return __atomic_load_n(&g_words[i], __ATOMIC_RELAXED); }
static void store(int i, ULONG64 v) { __atomic_store_n(&g_words[i], v, __ATOMIC_RELAXED); }

static int consistent(void)
{
    ULONG64 first = load(0);
    for (int i = 1; i < WORDS; i++) {
        if (load(i) != first) {
            return 0;
        }
    }
    return 1;
}

static void bump(void)
{
    for (int i = 0; i < WORDS; i++) {
        store(i, load(i) + 1);
    }
    g_writes++;
}

struct worker {
    pthread_t thread;
    unsigned seed;
    unsigned long reads, writes, violations;
};

static unsigned next_random(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 16) & 0x7fff;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    for (unsigned long n = 0; n < g_operations; n++) {
        LOCK_STATE_EX outer, inner, innermost;
        unsigned pick = next_random(&w->seed) % 100;
        if (pick < 70) {
            /* A read, with a nested read now and then. */
            NdisAcquireRWLockRead(g_lock, &outer, 0);
            if (!consistent()) {
                w->violations++;
            }
            if (pick < 15) {
                ULONG64 seen = load(0);
                NdisAcquireRWLockRead(g_lock, &inner, NDIS_RWL_AT_DISPATCH_LEVEL);
                if (!consistent() || load(0) != seen) {
                    w->violations++;
                }
                NdisReleaseRWLock(g_lock, &inner);
            }
            NdisReleaseRWLock(g_lock, &outer);
            w->reads++;
        } else if (pick < 80) {
            /* A caller already at DISPATCH_LEVEL. */
            KIRQL old = KfRaiseIrql(DISPATCH_LEVEL);
            NdisAcquireRWLockWrite(g_lock, &outer, NDIS_RWL_AT_DISPATCH_LEVEL);
            if (!consistent()) {
                w->violations++;
            }
            bump();
            NdisReleaseRWLock(g_lock, &outer);
            if (KeGetCurrentIrql() != DISPATCH_LEVEL) {
                w->violations++;
            }
            KeLowerIrql(old);
            w->writes++;
        } else {
            /* A write with a recursive write and a read inside. */
            NdisAcquireRWLockWrite(g_lock, &outer, 0);
            if (!consistent()) {
                w->violations++;
            }
            bump();
            if (pick >= 90) {
                NdisAcquireRWLockWrite(g_lock, &inner, 0);
                bump();
                NdisAcquireRWLockRead(g_lock, &innermost, 0);
                if (!consistent()) {
                    w->violations++;
                }
                NdisReleaseRWLock(g_lock, &innermost);
                NdisReleaseRWLock(g_lock, &inner);
                w->writes++;
            }
            NdisReleaseRWLock(g_lock, &outer);
            w->writes++;
        }
        if (KeGetCurrentIrql() != PASSIVE_LEVEL) {
            w->violations++;
        }
    }
    return NULL;
}

/* A LOCK_STATE_EX between canary bytes: acquire and release write only its three bytes. */
static void check_layout(PNDIS_RW_LOCK_EX lock)
{
    struct {
        UCHAR before;
        LOCK_STATE_EX state;
        UCHAR after;
        LOCK_STATE_EX odd;
        UCHAR last;
    } frame;
    CHECK(sizeof frame == 9);
    memset(&frame, 0xA5, sizeof frame);
    NdisAcquireRWLockWrite(lock, &frame.state, 0);
    NdisAcquireRWLockRead(lock, &frame.odd, 0);
    CHECK(frame.before == 0xA5 && frame.after == 0xA5 && frame.last == 0xA5);
    CHECK(frame.state.OldIrql == PASSIVE_LEVEL);
    CHECK(frame.odd.OldIrql == DISPATCH_LEVEL);
    NdisReleaseRWLock(lock, &frame.odd);
    NdisReleaseRWLock(lock, &frame.state);
    CHECK(frame.before == 0xA5 && frame.after == 0xA5 && frame.last == 0xA5);
}

/* IRQL is raised to DISPATCH_LEVEL and restored, from PASSIVE, APC and DISPATCH. */
static void check_irql(PNDIS_RW_LOCK_EX lock)
{
    static const KIRQL levels[] = {PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        KIRQL old = KfRaiseIrql(levels[i]);
        LOCK_STATE_EX a, b;
        NdisAcquireRWLockRead(lock, &a, 0);
        CHECK(KeGetCurrentIrql() == DISPATCH_LEVEL);
        NdisAcquireRWLockRead(lock, &b, 0);
        NdisReleaseRWLock(lock, &b);
        CHECK(KeGetCurrentIrql() == DISPATCH_LEVEL);
        NdisReleaseRWLock(lock, &a);
        CHECK(KeGetCurrentIrql() == levels[i]);
        NdisAcquireRWLockWrite(lock, &a, 0);
        CHECK(KeGetCurrentIrql() == DISPATCH_LEVEL);
        NdisAcquireRWLockWrite(lock, &b, NDIS_RWL_AT_DISPATCH_LEVEL);
        NdisReleaseRWLock(lock, &b);
        NdisReleaseRWLock(lock, &a);
        CHECK(KeGetCurrentIrql() == levels[i]);
        KeLowerIrql(old);
    }
}

static int stress(unsigned long operations)
{
    PNDIS_RW_LOCK_EX lock = NdisAllocateRWLock(NULL);
    CHECK(lock != NULL);
    if (lock == NULL) {
        return 1;
    }
    check_layout(lock);
    check_irql(lock);

    g_lock = lock;
    g_operations = operations;
    struct worker workers[THREADS];
    memset(workers, 0, sizeof workers);
    for (int t = 0; t < THREADS; t++) {
        workers[t].seed = 0x2545F491u * (unsigned)(t + 1);
        CHECK(pthread_create(&workers[t].thread, NULL, work, &workers[t]) == 0);
    }
    unsigned long reads = 0, writes = 0, violations = 0;
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(workers[t].thread, NULL) == 0);
        reads += workers[t].reads;
        writes += workers[t].writes;
        violations += workers[t].violations;
    }
    CHECK(violations == 0);
    CHECK(consistent());
    CHECK(load(0) == g_writes && g_writes == writes);
    CHECK(reads > 0 && writes > 0);
    NdisFreeRWLock(lock);
    printf("threads=%d processors=%lu reads=%lu writes=%lu violations=%lu failures=%d\n", THREADS,
           (unsigned long)KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS), reads, writes,
           violations, failures);
    return failures == 0 ? 0 : 1;
}

/* ---- Misuse: each must stop the machine. -------------------------------------------------- */

static void show_lock(PNDIS_RW_LOCK_EX lock)
{
    printf("lock=%llu\n", (unsigned long long)(uintptr_t)lock);
}

static void show_processor(void)
{
    printf("processor=%lu\n", (unsigned long)KeGetCurrentProcessorNumberEx(NULL));
}

static void show_state(const LOCK_STATE_EX *state)
{
    printf("state=%lu\n", (unsigned long)state->OldIrql | (unsigned long)state->LockState << 8 |
                              (unsigned long)state->Flags << 16);
}

static int misuse(const char *name)
{
    PNDIS_RW_LOCK_EX lock = NdisAllocateRWLock(NULL);
    LOCK_STATE_EX a, b;
    if (lock == NULL) {
        return 2;
    }
    show_lock(lock);
    if (strcmp(name, "free-null") == 0) {
        fflush(stdout);
        NdisFreeRWLock(NULL);
    } else if (strcmp(name, "null-state") == 0) {
        fflush(stdout);
        NdisAcquireRWLockWrite(lock, NULL, 0);
    } else if (strcmp(name, "bad-flags") == 0) {
        fflush(stdout);
        NdisAcquireRWLockRead(lock, &a, 0x02);
    } else if (strcmp(name, "promotion") == 0) {
        NdisAcquireRWLockRead(lock, &a, 0);
        show_processor();
        fflush(stdout);
        NdisAcquireRWLockWrite(lock, &b, 0);
    } else if (strcmp(name, "release-twice") == 0) {
        NdisAcquireRWLockWrite(lock, &a, 0);
        NdisReleaseRWLock(lock, &a);
        show_state(&a);
        fflush(stdout);
        NdisReleaseRWLock(lock, &a);
    } else if (strcmp(name, "free-held") == 0) {
        NdisAcquireRWLockRead(lock, &a, 0);
        fflush(stdout);
        NdisFreeRWLock(lock);
    } else {
        fprintf(stderr, "unknown misuse %s\n", name);
        return 2;
    }
    printf("the misuse returned\n");
    return 3;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "stress") == 0) {
        unsigned long operations = argc >= 3 ? strtoul(argv[2], NULL, 10) : 100000;
        return stress(operations);
    }
    if (argc >= 2 && strncmp(argv[1], "misuse-", 7) == 0) {
        return misuse(argv[1] + 7);
    }
    fprintf(stderr, "usage: %s stress [OPERATIONS] | misuse-NAME\n", argv[0]);
    return 2;
}
