/*
 * Compiled (not run) for 32-bit x86 with the Windows target macro: the IRQL and spin-lock
 * routines must have wdm.h's x86 calling convention, FASTCALL, and the documented names must
 * reach the exported Kf/Kef routines. A declaration with any other convention makes one of
 * these initialisations an incompatible-pointer error under -Werror.
 */
#include "ndis_rwlock.h"

#define FAST __attribute__((fastcall))

static KIRQL(FAST *const raise)(KIRQL) = KfRaiseIrql;
static VOID(FAST *const lower)(KIRQL) = KfLowerIrql;
static KIRQL(FAST *const acquire)(PKSPIN_LOCK) = KfAcquireSpinLock;
static VOID(FAST *const release)(PKSPIN_LOCK, KIRQL) = KfReleaseSpinLock;
static VOID(FAST *const acquire_at_dpc)(PKSPIN_LOCK) = KefAcquireSpinLockAtDpcLevel;
static VOID(FAST *const release_from_dpc)(PKSPIN_LOCK) = KefReleaseSpinLockFromDpcLevel;
static BOOLEAN(FAST *const try_at_dpc)(PKSPIN_LOCK) = KeTryToAcquireSpinLockAtDpcLevel;

/* The wdm.h spellings expand to the routines above. */
void uses_the_documented_names(PKSPIN_LOCK lock)
{
    KIRQL old = KeAcquireSpinLockRaiseToDpc(lock);
    KeReleaseSpinLock(lock, old);
    old = KfRaiseIrql(DISPATCH_LEVEL);
    KeAcquireSpinLockAtDpcLevel(lock);
    KeReleaseSpinLockFromDpcLevel(lock);
    KeLowerIrql(old);
    (void)raise;
    (void)lower;
    (void)acquire;
    (void)release;
    (void)acquire_at_dpc;
    (void)release_from_dpc;
    (void)try_at_dpc;
}
