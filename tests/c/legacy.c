/*
 * The legacy NDIS 5 reader/writer lock used from C exactly as a driver uses it: NDIS_RW_LOCK and
 * LOCK_STATE declared by this file (from ndis_rwlock.h), the ndis.h routine names, the kernel's
 * IRQL routines. Linked against libndis_rwlock.a, run by tests/c_legacy.rs.
 *
 *   legacy semantics      single-threaded behaviour; prints "ok semantics"
 *   legacy threads        pthreads stress over the simulated processors; prints "ok threads N"
 *   legacy <misuse>       must stop the machine (STOP line on stderr, abort); see misuse()
 */
#include "ndis_rwlock.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#define KIND(state) ((state).LockState >> 12)
#define KIND_READ 0xA
#define KIND_WRITE 0xB
#define KIND_RECURSIVE_WRITE 0xC
#define DPR_BIT 0x0800
#define LOCK_BITS(state) (((state).LockState >> 6) & 0x1F)

/* A global lock, zero-initialised by the loader, then initialised as the docs require. */
static NDIS_RW_LOCK g_lock;

/* A lock inside a driver structure. */
struct adapter {
    int id;
    NDIS_RW_LOCK lock;
    unsigned long routes[4];
};

static void layout(void)
{
    CHECK(sizeof(NDIS_RW_LOCK) == 16 + 16 * MAXIMUM_PROCESSORS);
    CHECK(sizeof(void *) != 8 || sizeof(NDIS_RW_LOCK) == 1040);
    CHECK(offsetof(NDIS_RW_LOCK, SpinLock) == 0);
    CHECK(offsetof(NDIS_RW_LOCK, Context) == sizeof(void *));
    CHECK(offsetof(NDIS_RW_LOCK, RefCount) == 16);
    CHECK(sizeof(LOCK_STATE) == 4);
    CHECK(offsetof(LOCK_STATE, OldIrql) == 2);
}

static void initialize_over_garbage(void)
{
    NDIS_RW_LOCK *lock = malloc(sizeof *lock);
    const unsigned char *bytes = (const unsigned char *)lock;
    CHECK(lock != NULL);
    memset(lock, 0xCD, sizeof *lock);
    NdisInitializeReadWriteLock(lock);
    for (size_t i = 0; i < sizeof *lock; i++) {
        CHECK(bytes[i] == 0);
    }
    free(lock);
}

static void irql_round_trip(PNDIS_RW_LOCK lock)
{
    static const KIRQL starts[] = { PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL };
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        for (BOOLEAN write = 0; write <= 1; write++) {
            LOCK_STATE state;
            KIRQL old = KfRaiseIrql(starts[i]);
            NdisAcquireReadWriteLock(lock, write, &state);
            CHECK(KeGetCurrentIrql() == DISPATCH_LEVEL);
            CHECK(state.OldIrql == starts[i]);
            CHECK(KIND(state) == (write ? KIND_WRITE : KIND_READ));
            CHECK((state.LockState & DPR_BIT) == 0);
            NdisReleaseReadWriteLock(lock, &state);
            CHECK(KeGetCurrentIrql() == starts[i]);
            CHECK(KIND(state) == 0);
            KeLowerIrql(old);
        }
    }
}

static void dpr_variants(PNDIS_RW_LOCK lock)
{
    LOCK_STATE write, read, nested;
    KIRQL old = KfRaiseIrql(DISPATCH_LEVEL);
    NdisDprAcquireReadWriteLock(lock, TRUE, &write);
    NdisDprAcquireReadWriteLock(lock, FALSE, &read); /* read inside our own write */
    NdisAcquireReadWriteLock(lock, 2, &nested);      /* any nonzero fWrite is TRUE */
    CHECK(KIND(write) == KIND_WRITE && (write.LockState & DPR_BIT) != 0);
    CHECK(write.OldIrql == DISPATCH_LEVEL);
    CHECK(KIND(read) == KIND_READ);
    CHECK(KIND(nested) == KIND_RECURSIVE_WRITE && (nested.LockState & DPR_BIT) == 0);
    NdisReleaseReadWriteLock(lock, &nested);
    NdisDprReleaseReadWriteLock(lock, &write);
    NdisDprReleaseReadWriteLock(lock, &read); /* the read outlives the write */
    CHECK(KeGetCurrentIrql() == DISPATCH_LEVEL);
    KeLowerIrql(old);
}

static void recursion(PNDIS_RW_LOCK lock)
{
    LOCK_STATE outer, a, b;
    NdisAcquireReadWriteLock(lock, FALSE, &outer);
    NdisAcquireReadWriteLock(lock, FALSE, &a);
    NdisAcquireReadWriteLock(lock, FALSE, &b);
    NdisReleaseReadWriteLock(lock, &a); /* reads taken at DISPATCH_LEVEL: any order */
    NdisReleaseReadWriteLock(lock, &b);
    NdisReleaseReadWriteLock(lock, &outer);
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);

    NdisAcquireReadWriteLock(lock, TRUE, &outer);
    NdisAcquireReadWriteLock(lock, TRUE, &a);
    CHECK(KIND(a) == KIND_RECURSIVE_WRITE);
    NdisReleaseReadWriteLock(lock, &a);
    NdisReleaseReadWriteLock(lock, &outer);
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
}

static void byte_three_untouched(PNDIS_RW_LOCK lock)
{
    union {
        LOCK_STATE state;
        unsigned char bytes[4];
    } u;
    memset(&u, 0x5A, sizeof u);
    NdisAcquireReadWriteLock(lock, TRUE, &u.state);
    CHECK(u.bytes[3] == 0x5A);
    NdisReleaseReadWriteLock(lock, &u.state);
    CHECK(u.bytes[3] == 0x5A);
}

static void array_and_struct(void)
{
    NDIS_RW_LOCK locks[3];
    LOCK_STATE states[3];
    struct adapter *adapter = calloc(1, sizeof *adapter);
    LOCK_STATE state;
    CHECK(adapter != NULL);
    for (int i = 0; i < 3; i++) {
        NdisInitializeReadWriteLock(&locks[i]);
    }
    for (int i = 0; i < 3; i++) {
        NdisAcquireReadWriteLock(&locks[i], i != 1, &states[i]);
    }
    CHECK(LOCK_BITS(states[0]) != LOCK_BITS(states[1]));
    CHECK(LOCK_BITS(states[1]) != LOCK_BITS(states[2]));
    for (int i = 2; i >= 0; i--) {
        NdisReleaseReadWriteLock(&locks[i], &states[i]);
    }

    NdisInitializeReadWriteLock(&adapter->lock);
    NdisAcquireReadWriteLock(&adapter->lock, TRUE, &state);
    adapter->routes[2] = 7;
    NdisReleaseReadWriteLock(&adapter->lock, &state);
    NdisAcquireReadWriteLock(&adapter->lock, FALSE, &state);
    CHECK(adapter->routes[2] == 7);
    NdisReleaseReadWriteLock(&adapter->lock, &state);
    free(adapter);
}

static int semantics(void)
{
    layout();
    initialize_over_garbage();
    NdisInitializeReadWriteLock(&g_lock);
    irql_round_trip(&g_lock);
    dpr_variants(&g_lock);
    recursion(&g_lock);
    byte_three_untouched(&g_lock);
    array_and_struct();
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    printf("ok semantics\n");
    return 0;
}

/* ---- threads ------------------------------------------------------------------------------ */

#define THREADS 8
#define ITERATIONS 3000

static NDIS_RW_LOCK t_lock;
static unsigned long t_a, t_b;       /* protected by t_lock; relaxed atomics, see below */
static unsigned long t_torn, t_writes;

static unsigned long load(const unsigned long *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static void store(unsigned long *p, unsigned long v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

static void *worker(void *arg)
{
    unsigned x = 0x9E3779B9u ^ (unsigned)(size_t)arg * 0x85EBCA6Bu;
    unsigned long writes = 0, torn = 0;
    for (int i = 0; i < ITERATIONS; i++) {
        LOCK_STATE state;
        KIRQL old = PASSIVE_LEVEL;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        BOOLEAN write = (x % 8) == 0;
        int dpr = (x >> 8) & 1;
        if (dpr) {
            old = KfRaiseIrql(DISPATCH_LEVEL);
            NdisDprAcquireReadWriteLock(&t_lock, write, &state);
        } else {
            NdisAcquireReadWriteLock(&t_lock, write, &state);
        }
        if (write) {
            unsigned long a = load(&t_a);
            sched_yield();
            store(&t_a, a + 1);
            store(&t_b, a + 1);
            writes++;
        } else {
            unsigned long a = load(&t_a);
            sched_yield();
            if (load(&t_b) != a) {
                torn++;
            }
        }
        if (dpr) {
            NdisDprReleaseReadWriteLock(&t_lock, &state);
            KeLowerIrql(old);
        } else {
            NdisReleaseReadWriteLock(&t_lock, &state);
        }
    }
    __atomic_fetch_add(&t_writes, writes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&t_torn, torn, __ATOMIC_RELAXED);
    return NULL;
}

static int threads(void)
{
    pthread_t tids[THREADS];
    NdisInitializeReadWriteLock(&t_lock);
    for (size_t i = 0; i < THREADS; i++) {
        CHECK(pthread_create(&tids[i], NULL, worker, (void *)(i + 1)) == 0);
    }
    for (size_t i = 0; i < THREADS; i++) {
        CHECK(pthread_join(tids[i], NULL) == 0);
    }
    CHECK(t_torn == 0);
    CHECK(t_writes > 0);
    CHECK(t_a == t_writes && t_b == t_writes);
    printf("ok threads %lu\n", t_writes);
    return 0;
}

/* ---- misuse: each must stop the machine ---------------------------------------------------- */

static int misuse(const char *mode)
{
    static NDIS_RW_LOCK locks[2];
    LOCK_STATE state;
    NdisInitializeReadWriteLock(&locks[0]);
    NdisInitializeReadWriteLock(&locks[1]);
    if (strcmp(mode, "dpr-state-released-by-non-dpr") == 0) {
        KfRaiseIrql(DISPATCH_LEVEL);
        NdisDprAcquireReadWriteLock(&locks[0], FALSE, &state);
        NdisReleaseReadWriteLock(&locks[0], &state);
    } else if (strcmp(mode, "non-dpr-state-released-by-dpr") == 0) {
        NdisAcquireReadWriteLock(&locks[0], TRUE, &state);
        NdisDprReleaseReadWriteLock(&locks[0], &state);
    } else if (strcmp(mode, "double-release") == 0) {
        NdisAcquireReadWriteLock(&locks[0], FALSE, &state);
        NdisReleaseReadWriteLock(&locks[0], &state);
        KfRaiseIrql(DISPATCH_LEVEL);
        NdisReleaseReadWriteLock(&locks[0], &state);
    } else if (strcmp(mode, "state-of-another-lock") == 0) {
        NdisAcquireReadWriteLock(&locks[0], TRUE, &state);
        NdisReleaseReadWriteLock(&locks[1], &state);
    } else if (strcmp(mode, "dpr-acquire-at-passive") == 0) {
        NdisDprAcquireReadWriteLock(&locks[0], FALSE, &state);
    } else if (strcmp(mode, "null-lock-state") == 0) {
        NdisAcquireReadWriteLock(&locks[0], FALSE, NULL);
    } else if (strcmp(mode, "promotion") == 0) {
        LOCK_STATE write;
        NdisAcquireReadWriteLock(&locks[0], FALSE, &state);
        NdisAcquireReadWriteLock(&locks[0], TRUE, &write);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    printf("not stopped\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s semantics|threads|<misuse>\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "semantics") == 0) {
        return semantics();
    }
    if (strcmp(argv[1], "threads") == 0) {
        return threads();
    }
    return misuse(argv[1]);
}
