/*
 * ndis_rwlock.h: C declarations for the ndis-rwlock crate.
 *
 * On Windows these are the routines of ndis.h / wdm.h, exported by ndis_rwlock.sys (or by the
 * kernel itself for the Ke and Ex routines). On Linux, libndis_rwlock.a implements all of them
 * over the simulated kernel, so that driver code written against ndis.h compiles and runs
 * unchanged in unit tests. A misuse stops the process with a line like
 *   *** STOP: 0x000000C4 (0x0000000000000031, ...) DRIVER_VERIFIER_DETECTED_VIOLATION
 * and abort(), as a machine bug-checks.
 */
#ifndef NDIS_RWLOCK_H
#define NDIS_RWLOCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && !defined(_WIN64)
/* 32-bit x86: NTAPI routines are __stdcall, FASTCALL ones __fastcall (GCC spells both as
 * attributes, which a header that defines the keywords away cannot touch). */
#if defined(__GNUC__)
#define NDIS_RWLOCK_API __attribute__((stdcall))
#define NDIS_RWLOCK_FASTCALL __attribute__((fastcall))
#else
#define NDIS_RWLOCK_API __stdcall
#define NDIS_RWLOCK_FASTCALL __fastcall
#endif
#else
#define NDIS_RWLOCK_API
#define NDIS_RWLOCK_FASTCALL
#endif

/* ---- Basic types (as in the WDK headers) ------------------------------------------------- */
#ifndef _NTDEF_
typedef void VOID;
typedef void *PVOID;
typedef unsigned char UCHAR;
typedef unsigned char BOOLEAN;
typedef unsigned short USHORT;
typedef uint32_t ULONG;
typedef int32_t LONG;
typedef uintptr_t ULONG_PTR, *PULONG_PTR;
typedef size_t SIZE_T;
typedef uint64_t ULONG64;
typedef UCHAR KIRQL, *PKIRQL;
typedef ULONG_PTR KSPIN_LOCK, *PKSPIN_LOCK;
typedef ULONG64 POOL_FLAGS;
typedef PVOID NDIS_HANDLE;
#endif

#define PASSIVE_LEVEL 0
#define APC_LEVEL 1
#define DISPATCH_LEVEL 2
#define HIGH_LEVEL 15

/* ---- Kernel routines (simulated on Linux) ------------------------------------------------ */
typedef struct _PROCESSOR_NUMBER {
    USHORT Group;
    UCHAR Number;
    UCHAR Reserved;
} PROCESSOR_NUMBER, *PPROCESSOR_NUMBER;

#define ALL_PROCESSOR_GROUPS 0xffff
#define POOL_FLAG_UNINITIALIZED 0x0000000000000002ULL
#define POOL_FLAG_NON_PAGED 0x0000000000000040ULL
#define POOL_FLAG_PAGED 0x0000000000000100ULL

KIRQL NDIS_RWLOCK_API KeGetCurrentIrql(void);
VOID NDIS_RWLOCK_API KeInitializeSpinLock(PKSPIN_LOCK SpinLock);
#if defined(_WIN32) && !defined(_WIN64)
/*
 * 32-bit x86, as wdm.h declares them there: the IRQL and spin-lock routines are FASTCALL, and
 * most of the documented names are macros over the exported Kf/Kef routines.
 */
KIRQL NDIS_RWLOCK_FASTCALL KfRaiseIrql(KIRQL NewIrql);
VOID NDIS_RWLOCK_FASTCALL KfLowerIrql(KIRQL NewIrql);
#define KeLowerIrql(NewIrql) KfLowerIrql(NewIrql)
KIRQL NDIS_RWLOCK_FASTCALL KfAcquireSpinLock(PKSPIN_LOCK SpinLock);
VOID NDIS_RWLOCK_FASTCALL KfReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql);
#define KeAcquireSpinLockRaiseToDpc(SpinLock) KfAcquireSpinLock(SpinLock)
#define KeReleaseSpinLock(SpinLock, NewIrql) KfReleaseSpinLock((SpinLock), (NewIrql))
VOID NDIS_RWLOCK_FASTCALL KefAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock);
VOID NDIS_RWLOCK_FASTCALL KefReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock);
#define KeAcquireSpinLockAtDpcLevel(SpinLock) KefAcquireSpinLockAtDpcLevel(SpinLock)
#define KeReleaseSpinLockFromDpcLevel(SpinLock) KefReleaseSpinLockFromDpcLevel(SpinLock)
BOOLEAN NDIS_RWLOCK_FASTCALL KeTryToAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock);
#else
KIRQL NDIS_RWLOCK_API KfRaiseIrql(KIRQL NewIrql);
VOID NDIS_RWLOCK_API KeLowerIrql(KIRQL NewIrql);
KIRQL NDIS_RWLOCK_API KeAcquireSpinLockRaiseToDpc(PKSPIN_LOCK SpinLock);
VOID NDIS_RWLOCK_API KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql);
VOID NDIS_RWLOCK_API KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock);
BOOLEAN NDIS_RWLOCK_API KeTryToAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock);
VOID NDIS_RWLOCK_API KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock);
#endif
ULONG NDIS_RWLOCK_API KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber);
ULONG NDIS_RWLOCK_API KeQueryMaximumProcessorCountEx(USHORT GroupNumber);
VOID NDIS_RWLOCK_API KeEnterCriticalRegion(void);
VOID NDIS_RWLOCK_API KeLeaveCriticalRegion(void);
PVOID NDIS_RWLOCK_API ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag);
VOID NDIS_RWLOCK_API ExFreePoolWithTag(PVOID P, ULONG Tag);
VOID NDIS_RWLOCK_API KeBugCheckEx(ULONG BugCheckCode, ULONG_PTR P1, ULONG_PTR P2, ULONG_PTR P3,
                                  ULONG_PTR P4);

/* ---- Push locks (section: push locks) ---------------------------------------------------- */
/*
 * EX_PUSH_LOCK (wdm.h): a pointer-sized reader/writer lock in caller storage (paged or
 * nonpaged, pointer-aligned). Waiters sleep. Acquire at IRQL <= APC_LEVEL, release at
 * IRQL <= DISPATCH_LEVEL, both with normal kernel APCs disabled (KeEnterCriticalRegion, or
 * APC_LEVEL). Not recursive, not fair; once a thread waits, new shared acquirers queue behind
 * it. Flags must be EX_DEFAULT_PUSH_LOCK_FLAGS (else bug check 0x152).
 */
#ifndef EX_PUSH_LOCK
#define EX_PUSH_LOCK ULONG_PTR
#define PEX_PUSH_LOCK PULONG_PTR
#endif
#define EX_DEFAULT_PUSH_LOCK_FLAGS 0

VOID NDIS_RWLOCK_API ExInitializePushLock(PEX_PUSH_LOCK PushLock);
VOID NDIS_RWLOCK_FASTCALL ExAcquirePushLockExclusiveEx(PEX_PUSH_LOCK PushLock, ULONG Flags);
VOID NDIS_RWLOCK_FASTCALL ExAcquirePushLockSharedEx(PEX_PUSH_LOCK PushLock, ULONG Flags);
VOID NDIS_RWLOCK_FASTCALL ExReleasePushLockExclusiveEx(PEX_PUSH_LOCK PushLock, ULONG Flags);
VOID NDIS_RWLOCK_FASTCALL ExReleasePushLockSharedEx(PEX_PUSH_LOCK PushLock, ULONG Flags);

#define ExAcquirePushLockExclusive(Lock) \
    ExAcquirePushLockExclusiveEx((Lock), EX_DEFAULT_PUSH_LOCK_FLAGS)
#define ExAcquirePushLockShared(Lock) ExAcquirePushLockSharedEx((Lock), EX_DEFAULT_PUSH_LOCK_FLAGS)
#define ExReleasePushLockExclusive(Lock) \
    ExReleasePushLockExclusiveEx((Lock), EX_DEFAULT_PUSH_LOCK_FLAGS)
#define ExReleasePushLockShared(Lock) ExReleasePushLockSharedEx((Lock), EX_DEFAULT_PUSH_LOCK_FLAGS)

/*
 * NDIS_RWL_PUSH_LOCK (this crate, exported by ndis_rwlock.sys): an allocated reader/writer lock
 * with the five calls of NDIS_RW_LOCK_EX, backed by a push lock, for code at PASSIVE_LEVEL or
 * APC_LEVEL that would rather sleep than spin. The acquire enters a critical region and the
 * release leaves it, so callers need no KeEnterCriticalRegion. Acquire and release at
 * IRQL <= APC_LEVEL, on the same thread; not recursive in either mode; Flags must be 0; free
 * only when no thread holds or waits for the lock.
 *
 * NDIS_RWL_PUSH_LOCK_STATE lives in caller storage (the stack, like LOCK_STATE_EX). The acquire
 * fills it in; the release checks that it records a live acquisition of this lock (else a bug
 * check) and clears it. Its contents before an acquire do not matter.
 */
typedef struct _NDIS_RWL_PUSH_LOCK NDIS_RWL_PUSH_LOCK, *PNDIS_RWL_PUSH_LOCK; /* opaque */

#define NDIS_RWL_PUSH_LOCK_STATE_NONE 0  /* records no acquisition */
#define NDIS_RWL_PUSH_LOCK_STATE_READ 1  /* after NdisRwlAcquirePushLockRead */
#define NDIS_RWL_PUSH_LOCK_STATE_WRITE 2 /* after NdisRwlAcquirePushLockWrite */

typedef struct _NDIS_RWL_PUSH_LOCK_STATE {
    PNDIS_RWL_PUSH_LOCK Lock; /* offset 0: the lock held, NULL when none */
    ULONG Mode;               /* offset sizeof(PVOID): NDIS_RWL_PUSH_LOCK_STATE_* */
    ULONG Reserved;           /* zero */
} NDIS_RWL_PUSH_LOCK_STATE, *PNDIS_RWL_PUSH_LOCK_STATE; /* 16 bytes on 64-bit, 12 on 32-bit */

PNDIS_RWL_PUSH_LOCK NDIS_RWLOCK_API NdisRwlAllocatePushLock(NDIS_HANDLE NdisHandle); /* <= DISPATCH */
VOID NDIS_RWLOCK_API NdisRwlAcquirePushLockRead(PNDIS_RWL_PUSH_LOCK Lock,
                                                PNDIS_RWL_PUSH_LOCK_STATE LockState, ULONG Flags);
VOID NDIS_RWLOCK_API NdisRwlAcquirePushLockWrite(PNDIS_RWL_PUSH_LOCK Lock,
                                                 PNDIS_RWL_PUSH_LOCK_STATE LockState, ULONG Flags);
VOID NDIS_RWLOCK_API NdisRwlReleasePushLock(PNDIS_RWL_PUSH_LOCK Lock,
                                            PNDIS_RWL_PUSH_LOCK_STATE LockState);
VOID NDIS_RWLOCK_API NdisRwlFreePushLock(PNDIS_RWL_PUSH_LOCK Lock); /* <= DISPATCH */

/* ---- NDIS spin lock (section: NDIS_SPIN_LOCK) -------------------------------------------- */
/*
 * ndis.h's layout: the KSPIN_LOCK and the IRQL NdisAcquireSpinLock raised from, kept in the
 * structure. Caller storage; NdisAllocateSpinLock initialises it, NdisFreeSpinLock frees
 * nothing. NdisAcquireSpinLock at IRQL <= DISPATCH_LEVEL raises to DISPATCH_LEVEL;
 * NdisDprAcquireSpinLock needs the caller at DISPATCH_LEVEL already. Every release checks that
 * it runs at DISPATCH_LEVEL on the processor that holds the lock (the crate records it in the
 * structure's tail padding) before it releases or lowers anything; else the machine stops.
 */
#ifndef _NDIS_
typedef struct _NDIS_SPIN_LOCK {
    KSPIN_LOCK SpinLock;
    KIRQL OldIrql;
} NDIS_SPIN_LOCK, *PNDIS_SPIN_LOCK;
#endif

/* Each is skipped where a header included before this one made it a macro. */
#ifndef NdisAllocateSpinLock
VOID NDIS_RWLOCK_API NdisAllocateSpinLock(PNDIS_SPIN_LOCK SpinLock);
#endif
#ifndef NdisFreeSpinLock
VOID NDIS_RWLOCK_API NdisFreeSpinLock(PNDIS_SPIN_LOCK SpinLock);
#endif
#ifndef NdisAcquireSpinLock
VOID NDIS_RWLOCK_API NdisAcquireSpinLock(PNDIS_SPIN_LOCK SpinLock);
#endif
#ifndef NdisReleaseSpinLock
VOID NDIS_RWLOCK_API NdisReleaseSpinLock(PNDIS_SPIN_LOCK SpinLock);
#endif
#ifndef NdisDprAcquireSpinLock
VOID NDIS_RWLOCK_API NdisDprAcquireSpinLock(PNDIS_SPIN_LOCK SpinLock);
#endif
#ifndef NdisDprReleaseSpinLock
VOID NDIS_RWLOCK_API NdisDprReleaseSpinLock(PNDIS_SPIN_LOCK SpinLock);
#endif

/* ---- NDIS 6.20 reader/writer lock (section: NDIS_RW_LOCK_EX) ----------------------------- */
/* Opaque: allocated by NdisAllocateRWLock, only ever handled through a pointer. */
typedef struct _NDIS_RW_LOCK_EX NDIS_RW_LOCK_EX, *PNDIS_RW_LOCK_EX;

/* Per-acquisition state on the caller's stack: exactly 3 bytes, alignment 1. */
typedef struct _LOCK_STATE_EX {
    KIRQL OldIrql;
    UCHAR LockState;
    UCHAR Flags;
} LOCK_STATE_EX, *PLOCK_STATE_EX;

#if defined(__cplusplus)
static_assert(sizeof(LOCK_STATE_EX) == 3, "LOCK_STATE_EX is 3 bytes");
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(LOCK_STATE_EX) == 3, "LOCK_STATE_EX is 3 bytes");
#endif

/* The caller already runs at DISPATCH_LEVEL: the lock skips its IRQL test and raise. */
#define NDIS_RWL_AT_DISPATCH_LEVEL 1

PNDIS_RW_LOCK_EX NDIS_RWLOCK_API NdisAllocateRWLock(NDIS_HANDLE NdisHandle);
VOID NDIS_RWLOCK_API NdisFreeRWLock(PNDIS_RW_LOCK_EX Lock);
VOID NDIS_RWLOCK_API NdisAcquireRWLockRead(PNDIS_RW_LOCK_EX Lock, PLOCK_STATE_EX LockState,
                                           UCHAR Flags);
VOID NDIS_RWLOCK_API NdisAcquireRWLockWrite(PNDIS_RW_LOCK_EX Lock, PLOCK_STATE_EX LockState,
                                            UCHAR Flags);
VOID NDIS_RWLOCK_API NdisReleaseRWLock(PNDIS_RW_LOCK_EX Lock, PLOCK_STATE_EX LockState);

/* ---- Legacy NDIS 5 reader/writer lock (section: NDIS_RW_LOCK) ---------------------------- */
/*
 * The caller owns the storage: declare an NDIS_RW_LOCK (static, global, inside a structure, in
 * nonpaged memory on Windows), initialise it with NdisInitializeReadWriteLock, and give every
 * acquisition its own LOCK_STATE. An acquisition taken with NdisAcquireReadWriteLock is released
 * with NdisReleaseReadWriteLock, one taken with NdisDprAcquireReadWriteLock with
 * NdisDprReleaseReadWriteLock. Processors beyond MAXIMUM_PROCESSORS have no reader slot: there
 * every acquisition is exclusive (docs/legacy.md).
 */
#ifndef MAXIMUM_PROCESSORS
#if defined(_WIN64) || (defined(UINTPTR_MAX) && UINTPTR_MAX > 0xFFFFFFFFu)
#define MAXIMUM_PROCESSORS 64
#else
#define MAXIMUM_PROCESSORS 32
#endif
#endif

#ifndef _NDIS_
typedef union _NDIS_RW_LOCK_REFCOUNT {
    ULONG RefCount;
    UCHAR cacheLine[16];
} NDIS_RW_LOCK_REFCOUNT;

typedef struct _NDIS_RW_LOCK {
    union {
        struct {
            KSPIN_LOCK SpinLock;
            PVOID Context;
        };
        UCHAR Reserved[16];
    };
    union {
        NDIS_RW_LOCK_REFCOUNT RefCount[MAXIMUM_PROCESSORS];
        ULONG RefCountEx[sizeof(NDIS_RW_LOCK_REFCOUNT) / sizeof(ULONG) * MAXIMUM_PROCESSORS];
        struct {
            KSPIN_LOCK RefCountLock;
            volatile ULONG SharedRefCount;
            volatile BOOLEAN WriterWaiting;
        };
    };
} NDIS_RW_LOCK, *PNDIS_RW_LOCK;

typedef struct _LOCK_STATE {
    USHORT LockState;
    KIRQL OldIrql;
} LOCK_STATE, *PLOCK_STATE;
#endif /* _NDIS_ */

#ifndef NDIS_RWLOCK_STATIC_ASSERT
#ifdef __cplusplus
#define NDIS_RWLOCK_STATIC_ASSERT(e, m) static_assert(e, m)
#else
#define NDIS_RWLOCK_STATIC_ASSERT(e, m) _Static_assert(e, m)
#endif
#endif

#if defined(_WIN64) || (defined(UINTPTR_MAX) && UINTPTR_MAX > 0xFFFFFFFFu)
NDIS_RWLOCK_STATIC_ASSERT(MAXIMUM_PROCESSORS == 64, "MAXIMUM_PROCESSORS is 64 on 64-bit targets");
NDIS_RWLOCK_STATIC_ASSERT(sizeof(NDIS_RW_LOCK) == 1040, "sizeof(NDIS_RW_LOCK) is 1040 on 64-bit");
NDIS_RWLOCK_STATIC_ASSERT(offsetof(NDIS_RW_LOCK, Context) == 8, "Context is at offset 8 on 64-bit");
#else
NDIS_RWLOCK_STATIC_ASSERT(MAXIMUM_PROCESSORS == 32, "MAXIMUM_PROCESSORS is 32 on 32-bit targets");
NDIS_RWLOCK_STATIC_ASSERT(sizeof(NDIS_RW_LOCK) == 528, "sizeof(NDIS_RW_LOCK) is 528 on 32-bit");
NDIS_RWLOCK_STATIC_ASSERT(offsetof(NDIS_RW_LOCK, Context) == 4, "Context is at offset 4 on 32-bit");
#endif
NDIS_RWLOCK_STATIC_ASSERT(sizeof(NDIS_RW_LOCK_REFCOUNT) == 16, "NDIS_RW_LOCK_REFCOUNT is 16 bytes");
NDIS_RWLOCK_STATIC_ASSERT(offsetof(NDIS_RW_LOCK, SpinLock) == 0, "SpinLock is at offset 0");
NDIS_RWLOCK_STATIC_ASSERT(offsetof(NDIS_RW_LOCK, RefCount) == 16, "RefCount is at offset 16");
NDIS_RWLOCK_STATIC_ASSERT(sizeof(NDIS_RW_LOCK) == 16 + 16 * MAXIMUM_PROCESSORS,
                          "NDIS_RW_LOCK is a 16-byte header and 16 bytes per processor");
NDIS_RWLOCK_STATIC_ASSERT(sizeof(LOCK_STATE) == 4, "LOCK_STATE is 4 bytes");
NDIS_RWLOCK_STATIC_ASSERT(offsetof(LOCK_STATE, LockState) == 0, "LockState is at offset 0");
NDIS_RWLOCK_STATIC_ASSERT(offsetof(LOCK_STATE, OldIrql) == 2, "OldIrql is at offset 2");

VOID NDIS_RWLOCK_API NdisInitializeReadWriteLock(PNDIS_RW_LOCK Lock);
VOID NDIS_RWLOCK_API NdisAcquireReadWriteLock(PNDIS_RW_LOCK Lock, BOOLEAN fWrite,
                                              PLOCK_STATE LockState);
VOID NDIS_RWLOCK_API NdisReleaseReadWriteLock(PNDIS_RW_LOCK Lock, PLOCK_STATE LockState);
VOID NDIS_RWLOCK_API NdisDprAcquireReadWriteLock(PNDIS_RW_LOCK Lock, BOOLEAN fWrite,
                                                 PLOCK_STATE LockState);
VOID NDIS_RWLOCK_API NdisDprReleaseReadWriteLock(PNDIS_RW_LOCK Lock, PLOCK_STATE LockState);

NDIS_RWLOCK_STATIC_ASSERT(sizeof(NDIS_SPIN_LOCK) == 2 * sizeof(void *),
                          "NDIS_SPIN_LOCK is two pointers in size");
NDIS_RWLOCK_STATIC_ASSERT(offsetof(NDIS_SPIN_LOCK, OldIrql) == sizeof(void *),
                          "OldIrql follows the KSPIN_LOCK");

/* ---- The simulated machine (libndis_rwlock.a on Linux only) ------------------------------ */
/* How many allocations tagged Tag are live in the simulated pool (their bytes in *Bytes when
 * Bytes is not NULL): the leak report. */
ULONG NDIS_RWLOCK_API NdisRwlSimPoolOutstanding(ULONG Tag, SIZE_T *Bytes);
/* What Driver Verifier checks at driver unload: stops with 0xC4/0x62 (P2 tag, P3 allocations,
 * P4 bytes) if anything tagged Tag is still allocated. */
VOID NDIS_RWLOCK_API NdisRwlSimCheckUnload(ULONG Tag);

#ifdef __cplusplus
}
#endif

#endif /* NDIS_RWLOCK_H */
