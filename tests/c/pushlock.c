/*
 * Push locks from C: the Ex*PushLock* routines and the NdisRwl*PushLock* lock, used from
 * pthreads the way driver code uses them, against libndis_rwlock.a (the simulated kernel).
 *
 *   pushlock            run the behaviour checks; prints "ok" and exits 0
 *   pushlock <misuse>   commit one misuse; the simulated machine must stop (abort) with a
 *                       "*** STOP" line on stderr (tests/c_pushlock.rs checks which)
 */
#include "ndis_rwlock.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define THREADS 8
#define ROUNDS 3000

_Static_assert(sizeof(EX_PUSH_LOCK) == sizeof(void *), "EX_PUSH_LOCK is pointer-sized");
_Static_assert(sizeof(NDIS_RWL_PUSH_LOCK_STATE) == 2 * sizeof(void *), "state layout");
_Static_assert(offsetof(NDIS_RWL_PUSH_LOCK_STATE, Mode) == sizeof(void *), "state layout");

/* ---- Ex*PushLock* under contention ------------------------------------------------------- */

static EX_PUSH_LOCK ex_lock;
static unsigned long long ex_a, ex_b; /* protected by ex_lock: written together */
static int ex_torn;                   /* set if a reader saw a != b */

static void *ex_worker(void *arg) {
    unsigned long t = (unsigned long)(uintptr_t)arg;
    unsigned long long writes = 0;
    for (unsigned long i = 0; i < ROUNDS; i++) {
        KeEnterCriticalRegion();
        if ((i + t) % 3 == 0) {
            ExAcquirePushLockExclusive(&ex_lock);
            ex_a++;
            sched_yield();
            ex_b++;
            ExReleasePushLockExclusive(&ex_lock);
            writes++;
        } else {
            ExAcquirePushLockShared(&ex_lock);
            unsigned long long a = ex_a;
            sched_yield();
            if (a != ex_b) {
                __atomic_store_n(&ex_torn, 1, __ATOMIC_SEQ_CST);
            }
            ExReleasePushLockShared(&ex_lock);
        }
        KeLeaveCriticalRegion();
    }
    return (void *)(uintptr_t)writes;
}

static void ex_contention(void) {
    memset(&ex_lock, 0xA5, sizeof ex_lock); /* storage starts out as garbage */
    ExInitializePushLock(&ex_lock);
    CHECK(ex_lock == 0);

    pthread_t threads[THREADS];
    for (unsigned long t = 0; t < THREADS; t++) {
        CHECK(pthread_create(&threads[t], NULL, ex_worker, (void *)(uintptr_t)t) == 0);
    }
    unsigned long long writes = 0;
    for (int t = 0; t < THREADS; t++) {
        void *w;
        CHECK(pthread_join(threads[t], &w) == 0);
        writes += (uintptr_t)w;
    }
    CHECK(!ex_torn);
    CHECK(ex_a == writes && ex_b == writes);
    CHECK(ex_lock == 0);
    CHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
}

/* ---- shared holders coexist; the exclusive waiter gets in after them ------------------- */

static EX_PUSH_LOCK share_lock;
static pthread_barrier_t both_inside;
static int writer_done;

static void *share_reader(void *arg) {
    (void)arg;
    KeEnterCriticalRegion();
    ExAcquirePushLockShared(&share_lock);
    /* Both readers are inside at once, or this barrier never opens. */
    pthread_barrier_wait(&both_inside);
    CHECK(!__atomic_load_n(&writer_done, __ATOMIC_SEQ_CST));
    ExReleasePushLockShared(&share_lock);
    KeLeaveCriticalRegion();
    return NULL;
}

static void *share_writer(void *arg) {
    (void)arg;
    KeEnterCriticalRegion();
    ExAcquirePushLockExclusive(&share_lock);
    __atomic_store_n(&writer_done, 1, __ATOMIC_SEQ_CST);
    ExReleasePushLockExclusive(&share_lock);
    KeLeaveCriticalRegion();
    return NULL;
}

static void shared_holders(void) {
    ExInitializePushLock(&share_lock);
    CHECK(pthread_barrier_init(&both_inside, NULL, 3) == 0);
    pthread_t r1, r2, w;
    CHECK(pthread_create(&r1, NULL, share_reader, NULL) == 0);
    CHECK(pthread_create(&r2, NULL, share_reader, NULL) == 0);
    pthread_barrier_wait(&both_inside); /* both readers hold the lock now */
    CHECK(pthread_create(&w, NULL, share_writer, NULL) == 0);
    CHECK(pthread_join(r1, NULL) == 0);
    CHECK(pthread_join(r2, NULL) == 0);
    CHECK(pthread_join(w, NULL) == 0);
    CHECK(writer_done);
    CHECK(share_lock == 0);
    pthread_barrier_destroy(&both_inside);
}

/* ---- NdisRwl*PushLock* under contention ------------------------------------------------- */

static PNDIS_RWL_PUSH_LOCK rwl_lock;
static unsigned long long rwl_a, rwl_b;
static int rwl_torn;

static void *rwl_worker(void *arg) {
    unsigned long t = (unsigned long)(uintptr_t)arg;
    unsigned long long writes = 0;
    for (unsigned long i = 0; i < ROUNDS; i++) {
        NDIS_RWL_PUSH_LOCK_STATE state;
        memset(&state, 0xCC, sizeof state); /* stack garbage: the acquire fills it in */
        if ((i + t) % 4 == 0) {
            NdisRwlAcquirePushLockWrite(rwl_lock, &state, 0);
            CHECK(state.Lock == rwl_lock && state.Mode == NDIS_RWL_PUSH_LOCK_STATE_WRITE);
            rwl_a++;
            sched_yield();
            rwl_b++;
            writes++;
        } else {
            NdisRwlAcquirePushLockRead(rwl_lock, &state, 0);
            CHECK(state.Lock == rwl_lock && state.Mode == NDIS_RWL_PUSH_LOCK_STATE_READ);
            unsigned long long a = rwl_a;
            sched_yield();
            if (a != rwl_b) {
                __atomic_store_n(&rwl_torn, 1, __ATOMIC_SEQ_CST);
            }
        }
        NdisRwlReleasePushLock(rwl_lock, &state);
        CHECK(state.Lock == NULL && state.Mode == NDIS_RWL_PUSH_LOCK_STATE_NONE);
    }
    return (void *)(uintptr_t)writes;
}

static void rwl_contention(void) {
    rwl_lock = NdisRwlAllocatePushLock(NULL);
    CHECK(rwl_lock != NULL);
    pthread_t threads[THREADS];
    for (unsigned long t = 0; t < THREADS; t++) {
        CHECK(pthread_create(&threads[t], NULL, rwl_worker, (void *)(uintptr_t)t) == 0);
    }
    unsigned long long writes = 0;
    for (int t = 0; t < THREADS; t++) {
        void *w;
        CHECK(pthread_join(threads[t], &w) == 0);
        writes += (uintptr_t)w;
    }
    CHECK(!rwl_torn);
    CHECK(rwl_a == writes && rwl_b == writes);
    NdisRwlFreePushLock(rwl_lock);
}

/* ---- misuse: each must stop the machine ------------------------------------------------- */

static int misuse(const char *name) {
    static EX_PUSH_LOCK lock;
    ExInitializePushLock(&lock);
    if (strcmp(name, "flags") == 0) {
        KeEnterCriticalRegion();
        ExAcquirePushLockExclusiveEx(&lock, 1);
    } else if (strcmp(name, "null") == 0) {
        KeEnterCriticalRegion();
        ExAcquirePushLockSharedEx(NULL, EX_DEFAULT_PUSH_LOCK_FLAGS);
    } else if (strcmp(name, "misaligned") == 0) {
        static ULONG_PTR storage[2];
        ExInitializePushLock((PEX_PUSH_LOCK)((char *)storage + 1));
    } else if (strcmp(name, "apcs-enabled") == 0) {
        ExAcquirePushLockExclusive(&lock);
    } else if (strcmp(name, "dispatch") == 0) {
        KeEnterCriticalRegion();
        KfRaiseIrql(DISPATCH_LEVEL);
        ExAcquirePushLockShared(&lock);
    } else if (strcmp(name, "recursive") == 0) {
        KeEnterCriticalRegion();
        ExAcquirePushLockExclusive(&lock);
        ExAcquirePushLockExclusive(&lock);
    } else if (strcmp(name, "not-held") == 0) {
        KeEnterCriticalRegion();
        ExReleasePushLockShared(&lock);
    } else if (strcmp(name, "rwl-bad-state") == 0) {
        PNDIS_RWL_PUSH_LOCK l = NdisRwlAllocatePushLock(NULL);
        NDIS_RWL_PUSH_LOCK_STATE state = {0};
        NdisRwlReleasePushLock(l, &state);
    } else if (strcmp(name, "rwl-free-held") == 0) {
        PNDIS_RWL_PUSH_LOCK l = NdisRwlAllocatePushLock(NULL);
        NDIS_RWL_PUSH_LOCK_STATE state;
        NdisRwlAcquirePushLockRead(l, &state, 0);
        NdisRwlFreePushLock(l);
    } else {
        fprintf(stderr, "unknown misuse %s\n", name);
        return 2;
    }
    fprintf(stderr, "the misuse %s returned\n", name);
    return 1;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        return misuse(argv[1]);
    }
    ex_contention();
    shared_holders();
    rwl_contention();
    printf("ok\n");
    return 0;
}
