// The include/km headers compiled as C++ (extern "C" linkage, C++ typing rules) and linked
// with libndis_rwlock.a: every header on its own, then a little of everything they declare.
#include <ntdef.h>
#include <ntddk.h>
#include <wdm.h>
#include <ndis.h>

static_assert(sizeof(NDIS_SPIN_LOCK) == 2 * sizeof(void *), "NDIS_SPIN_LOCK layout");
static_assert(sizeof(LOCK_STATE_EX) == 3, "LOCK_STATE_EX layout");
static_assert(sizeof(KEVENT) == 8 + 2 * sizeof(void *), "KEVENT size");
static_assert(sizeof(LONG) == 4 && sizeof(ULONG) == 4, "LLP64");
C_ASSERT(NDIS_SUPPORT_NDIS620);

namespace {

struct Table {
    EX_PUSH_LOCK Lock;  // a push lock declared in a structure
    PEX_PUSH_LOCK Self; // and through its pointer type
    LIST_ENTRY Entries;
    NDIS_SPIN_LOCK StatsLock;
    volatile LONG Count;
};

EX_PUSH_LOCK GlobalPushLock; // a global push lock

int Run() {
    Table table = {};
    int errors = 0;
    ExInitializePushLock(&table.Lock);
    table.Self = &table.Lock;
    InitializeListHead(&table.Entries);
    NdisAllocateSpinLock(&table.StatsLock);

    KeEnterCriticalRegion();
    ExAcquirePushLockExclusive(table.Self);
    ExReleasePushLockExclusive(table.Self);
    ExInitializePushLock(&GlobalPushLock);
    ExAcquirePushLockShared(&GlobalPushLock);
    ExReleasePushLockShared(&GlobalPushLock);
    KeLeaveCriticalRegion();

    NdisAcquireSpinLock(&table.StatsLock);
    if (NDIS_CURRENT_IRQL() != DISPATCH_LEVEL) errors++;
    InterlockedIncrement(&table.Count);
    NdisReleaseSpinLock(&table.StatsLock);

    PNDIS_RW_LOCK_EX lock = NdisAllocateRWLock(nullptr);
    LOCK_STATE_EX state;
    NdisAcquireRWLockRead(lock, &state, 0);
    NdisReleaseRWLock(lock, &state);
    NdisFreeRWLock(lock);

    KSPIN_LOCK spin;
    KLOCK_QUEUE_HANDLE handle;
    KeInitializeSpinLock(&spin);
    KeAcquireInStackQueuedSpinLock(&spin, &handle);
    KeReleaseInStackQueuedSpinLock(&handle);
    KIRQL old;
    KeAcquireSpinLock(&spin, &old);
    KeReleaseSpinLock(&spin, old);

    auto *entry = static_cast<PLIST_ENTRY>(
        NdisAllocateMemoryWithTagPriority(nullptr, sizeof(LIST_ENTRY), 0x2B2B434E, NormalPoolPriority));
    if (entry == nullptr) return 2;
    InsertTailList(&table.Entries, entry);
    if (RemoveHeadList(&table.Entries) != entry || !IsListEmpty(&table.Entries)) errors++;
    NdisFreeMemoryWithTagPriority(nullptr, entry, 0x2B2B434E);

    KEVENT event;
    KeInitializeEvent(&event, SynchronizationEvent, TRUE);
    LARGE_INTEGER zero;
    zero.QuadPart = 0;
    if (KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, &zero) != STATUS_SUCCESS) errors++;
    if (KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, &zero) != STATUS_TIMEOUT) errors++;

    LARGE_INTEGER now;
    NdisGetCurrentSystemTime(&now);
    if (now.QuadPart < 0x01DC000000000000LL) errors++; // later than 2025
    NdisRwlSimCheckUnload(0x2B2B434E);
    NdisFreeSpinLock(&table.StatsLock);
    DbgPrint("c++ errors=%d count=%d\n", errors, static_cast<int>(table.Count));
    return errors == 0 && table.Count == 1 ? 0 : 1;
}

} // namespace

int main() {
    return Run();
}
