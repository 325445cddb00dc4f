"""Runs the exports of ndis_rwlock.sys in speakeasy (scripts/windows-check.sh, step `emulate`).

    emulate.py IMAGE --def windows/ndis_rwlock.def --imports windows/check/ntoskrnl.def [--verbose]

speakeasy (Mandiant's Windows emulator) loads the image, calls DllInitialize as the kernel does
for an export driver, and executes its x64 code; every kernel
routine the image imports (windows/check/ntoskrnl.def) is answered by a hook of the `Kernel`
model below: IRQL with the transition rules of KfRaiseIrql/KeLowerIrql, pool with tags, spin
locks, push locks and critical regions, each call recorded. The scenarios, one or more per
export of windows/ndis_rwlock.def (table `SCENARIOS`), call the exports as a driver would and
check the record: each acquire/release pair restores the IRQL; writers take and release the
spin lock; every pool block is freed with its tag; only the lock-state bytes the caller passes
(and the lock's own storage) are written, canary bytes around them untouched; a NULL lock and a
garbage LOCK_STATE_EX end in KeBugCheckEx with the documented code and subcode; DllInitialize
and DllUnload return STATUS_SUCCESS. An export without a scenario, or an imported routine
without a model, fails the run.
"""

import argparse
import logging
import sys

import pefile
import speakeasy

from deffile import def_exports

PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL = 0, 1, 2
POOL_FLAG_NON_PAGED = 0x40
STATUS_SUCCESS = 0
PROCESSORS = 4
# Bug check codes and subcodes of src/bugcheck.rs.
NDIS_RWLOCK_VIOLATION = 0x4E44524C
RW_NULL_LOCK = 0x01
RW_BAD_LOCK_STATE = 0x06
SPIN_LOCK_NOT_OWNED = 0x10
# Flags of NdisAcquireRWLockRead/Write (include/ndis_rwlock.h).
NDIS_RWL_AT_DISPATCH_LEVEL = 0x1
# Sizes of the caller-owned structures (include/ndis_rwlock.h): LOCK_STATE_EX is three bytes,
# LOCK_STATE a USHORT and a KIRQL (four with padding), NDIS_RWL_PUSH_LOCK_STATE a pointer and
# two ULONGs, NDIS_RW_LOCK 16 + 16 * MAXIMUM_PROCESSORS (64 on x64) bytes.
LOCK_STATE_EX_SIZE = 3
LOCK_STATE_SIZE = 4
PUSH_LOCK_STATE_SIZE = 16
NDIS_RW_LOCK_SIZE = 16 + 16 * 64
NDIS_SPIN_LOCK_SIZE = 16  # KSPIN_LOCK, KIRQL, padding (the crate keeps the holder there)
CANARY = b"\xa5" * 32
# The upper bits of a KIRQL argument are undefined in the x64 calling convention: garbage that
# the image must not rely on (the hooks mask to 8 bits, as the kernel does).
KIRQL_GARBAGE = 0x5A5A5A5A5A5A5A00


class Violation(Exception):
    """A kernel rule broken by the image, or a check of a scenario that failed."""


class BugCheck(Exception):
    """KeBugCheckEx was called: its code and four parameters."""

    def __init__(self, code, params):
        super().__init__(f"KeBugCheckEx({code:#x}, {', '.join(hex(p) for p in params)})")
        self.code = code
        self.params = params


class Kernel:
    """The kernel state the hooks keep, and the record of calls."""

    def __init__(self):
        self.irql = PASSIVE_LEVEL
        self.processor = 0
        self.pool = {}  # address -> (size, tag)
        self.freed = []  # (address, tag)
        self.spin_locks = set()  # held KSPIN_LOCK addresses
        self.push_locks = {}  # address -> "free" | "exclusive" | number of sharers
        self.critical_region = 0
        self.calls = []
        self.bug_check = None
        self.violations = []
        self.messages = []

    def violate(self, text):
        self.violations.append(text)


def kirql(value):
    return value & 0xFF


def routine_models(se, k):
    """name -> (argument count, function(argv) -> return value) for each kernel routine."""

    def raise_irql(argv):
        new = kirql(argv[0])
        if new < k.irql:
            k.violate(f"KfRaiseIrql({new}) at IRQL {k.irql}: raising to a lower IRQL")
        old, k.irql = k.irql, new
        return old

    def lower_irql(argv):
        new = kirql(argv[0])
        if new > k.irql:
            k.violate(f"KeLowerIrql({new}) at IRQL {k.irql}: lowering to a higher IRQL")
        k.irql = new

    def processor_number(argv):
        if argv[0]:
            se.mem_write(argv[0], (0).to_bytes(2, "little") + bytes([k.processor, 0]))
        return k.processor

    def acquire_at_dpc(argv):
        if k.irql < DISPATCH_LEVEL:
            k.violate(f"KeAcquireSpinLockAtDpcLevel at IRQL {k.irql}")
        if argv[0] in k.spin_locks:
            k.violate(f"spin lock {argv[0]:#x} acquired while held: a deadlock")
        k.spin_locks.add(argv[0])

    def try_acquire_at_dpc(argv):
        if k.irql < DISPATCH_LEVEL:
            k.violate(f"KeTryToAcquireSpinLockAtDpcLevel at IRQL {k.irql}")
        if argv[0] in k.spin_locks:
            return 0
        k.spin_locks.add(argv[0])
        return 1

    def release_from_dpc(argv):
        if k.irql < DISPATCH_LEVEL:
            k.violate(f"KeReleaseSpinLockFromDpcLevel at IRQL {k.irql}")
        if argv[0] not in k.spin_locks:
            k.violate(f"spin lock {argv[0]:#x} released while not held")
        k.spin_locks.discard(argv[0])

    def acquire_raise_to_dpc(argv):
        if k.irql > DISPATCH_LEVEL:
            k.violate(f"KeAcquireSpinLockRaiseToDpc at IRQL {k.irql}")
        old = k.irql
        k.irql = DISPATCH_LEVEL
        acquire_at_dpc(argv)
        return old

    def release_spin_lock(argv):
        release_from_dpc(argv)
        lower_irql([argv[1]])

    def allocate(argv):
        flags, size, tag = argv[0], argv[1], argv[2] & 0xFFFFFFFF
        if k.irql > DISPATCH_LEVEL:
            k.violate(f"ExAllocatePool2 at IRQL {k.irql}")
        if not flags & POOL_FLAG_NON_PAGED:
            k.violate(f"ExAllocatePool2 flags {flags:#x} without POOL_FLAG_NON_PAGED")
        if size == 0:
            k.violate("ExAllocatePool2 of zero bytes")
        address = se.mem_alloc(size + 16, tag="pool")
        se.mem_write(address, bytes(size))  # ExAllocatePool2 zeroes the block
        k.pool[address] = (size, tag)
        return address

    def free(argv, with_tag=True):
        address = argv[0]
        tag = argv[1] & 0xFFFFFFFF if with_tag else None
        if address not in k.pool:
            k.violate(f"free of {address:#x}, which is not a live pool block")
            return
        size, allocated_tag = k.pool.pop(address)
        if with_tag and tag != allocated_tag:
            k.violate(f"ExFreePoolWithTag({address:#x}, {tag:#x}) of a block tagged {allocated_tag:#x}")
        k.freed.append((address, tag))

    def enter_critical_region(argv):
        if k.irql > APC_LEVEL:
            k.violate(f"KeEnterCriticalRegion at IRQL {k.irql}")
        k.critical_region += 1

    def leave_critical_region(argv):
        if k.critical_region == 0:
            k.violate("KeLeaveCriticalRegion without KeEnterCriticalRegion")
        k.critical_region = max(0, k.critical_region - 1)

    def push_lock_rules(name, address):
        if k.irql > APC_LEVEL:
            k.violate(f"{name} at IRQL {k.irql}")
        if k.critical_region == 0:
            k.violate(f"{name} outside a critical region")
        if address not in k.push_locks:
            k.violate(f"{name} on {address:#x}, never initialised")

    def push_lock_init(argv):
        k.push_locks[argv[0]] = "free"

    def push_acquire_exclusive(argv):
        push_lock_rules("ExAcquirePushLockExclusiveEx", argv[0])
        if k.push_locks.get(argv[0]) not in (None, "free"):
            k.violate(f"push lock {argv[0]:#x} acquired exclusive while held: a deadlock")
        k.push_locks[argv[0]] = "exclusive"

    def push_acquire_shared(argv):
        push_lock_rules("ExAcquirePushLockSharedEx", argv[0])
        state = k.push_locks.get(argv[0], "free")
        if state == "exclusive":
            k.violate(f"push lock {argv[0]:#x} acquired shared while held exclusive: a deadlock")
            return
        k.push_locks[argv[0]] = (0 if state == "free" else state) + 1

    def push_release_exclusive(argv):
        push_lock_rules("ExReleasePushLockExclusiveEx", argv[0])
        if k.push_locks.get(argv[0]) != "exclusive":
            k.violate(f"push lock {argv[0]:#x} released exclusive while not held exclusive")
        k.push_locks[argv[0]] = "free"

    def push_release_shared(argv):
        push_lock_rules("ExReleasePushLockSharedEx", argv[0])
        state = k.push_locks.get(argv[0])
        if not isinstance(state, int):
            k.violate(f"push lock {argv[0]:#x} released shared while not held shared")
            return
        k.push_locks[argv[0]] = "free" if state == 1 else state - 1

    def bug_check(argv):
        k.bug_check = BugCheck(argv[0] & 0xFFFFFFFF, list(argv[1:5]))
        se.stop()

    def dbg_print(argv):
        # wdk::println! passes "%s" and the text.
        k.messages.append(se.read_mem_string(argv[1]) if argv[1] else "")
        return STATUS_SUCCESS

    def unreached(name):
        def model(argv):
            k.violate(f"{name} is called only by DriverEntry's self-test, not by the exports")
            return 0

        return model

    models = {
        "KeGetCurrentIrql": (0, lambda argv: k.irql),
        "KfRaiseIrql": (1, raise_irql),
        "KeLowerIrql": (1, lower_irql),
        "KeGetCurrentProcessorNumberEx": (1, processor_number),
        "KeQueryMaximumProcessorCountEx": (1, lambda argv: PROCESSORS),
        "KeAcquireSpinLockAtDpcLevel": (1, acquire_at_dpc),
        "KeTryToAcquireSpinLockAtDpcLevel": (1, try_acquire_at_dpc),
        "KeReleaseSpinLockFromDpcLevel": (1, release_from_dpc),
        "KeAcquireSpinLockRaiseToDpc": (1, acquire_raise_to_dpc),
        "KeReleaseSpinLock": (2, release_spin_lock),
        "ExAllocatePool2": (3, allocate),
        "ExFreePoolWithTag": (2, free),
        "ExFreePool": (1, lambda argv: free(argv, with_tag=False)),
        "KeEnterCriticalRegion": (0, enter_critical_region),
        "KeLeaveCriticalRegion": (0, leave_critical_region),
        "ExInitializePushLock": (1, push_lock_init),
        "ExAcquirePushLockExclusiveEx": (2, push_acquire_exclusive),
        "ExAcquirePushLockSharedEx": (2, push_acquire_shared),
        "ExReleasePushLockExclusiveEx": (2, push_release_exclusive),
        "ExReleasePushLockSharedEx": (2, push_release_shared),
        "KeBugCheckEx": (5, bug_check),
        "DbgPrint": (2, dbg_print),
    }
    for name in (
        "KeGetProcessorNumberFromIndex",
        "KeSetSystemGroupAffinityThread",
        "KeRevertToUserGroupAffinityThread",
        "KeIpiGenericCall",
        "RtlQueryRegistryValues",
        "KeInitializeEvent",
        "KeSetEvent",
        "KeWaitForSingleObject",
        "PsCreateSystemThread",
        "PsTerminateSystemThread",
        "ZwClose",
    ):
        models[name] = (8, unreached(name))
    return models


class Image:
    """The image loaded in a fresh emulator, with the kernel model hooked in."""

    def __init__(self, path, imports, verbose):
        logging.getLogger("speakeasy").setLevel(logging.INFO if verbose else logging.ERROR)
        self.se = speakeasy.Speakeasy()
        module = self.se.load_module(path)
        pe = pefile.PE(path, fast_load=False)
        self.exports = {
            symbol.name.decode(): module.get_base() + symbol.address
            for symbol in pe.DIRECTORY_ENTRY_EXPORT.symbols
            if symbol.name
        }
        self.kernel = Kernel()
        models = routine_models(self.se, self.kernel)
        unmodelled = sorted(set(imports) - set(models) - {"memcpy", "memset"})
        if unmodelled:
            raise SystemExit(f"emulate: no kernel model for imported {unmodelled}: add one to emulate.py")
        for name, (argc, model) in models.items():
            self.se.add_api_hook(self._recorded(name, model), "ntoskrnl", name, argc=argc)
        self.writes = []
        self.guards = []
        # The kernel calls DllInitialize when it loads the image for another driver's imports.
        status = self.call("DllInitialize", 0) & 0xFFFFFFFF
        if status != STATUS_SUCCESS:
            raise Violation(f"DllInitialize returned {status:#x}")

    def _recorded(self, name, model):
        def hook(emu, api_name, orig, argv):
            self.kernel.calls.append((name, list(argv)))
            result = model(list(argv))
            return 0 if result is None else result

        return hook

    def call(self, export, *args):
        """Calls an export with integer arguments; returns RAX, or raises BugCheck."""
        if export not in self.exports:
            raise Violation(f"{export} is not exported")
        self.kernel.bug_check = None
        self.se.call(self.exports[export], list(args))
        if self.kernel.bug_check:
            raise self.kernel.bug_check
        if self.kernel.violations:
            raise Violation("; ".join(self.kernel.violations))
        return self.se.reg_read("rax")

    def guarded(self, size):
        """Caller-owned storage of `size` bytes between canaries, writes to it recorded:
        returns the address of the storage."""
        base = self.se.mem_alloc(size + 2 * len(CANARY), tag="caller")
        self.se.mem_write(base, CANARY + bytes(size) + CANARY)
        start = base + len(CANARY)

        def on_write(emu, access, address, write_size, value, ctx):
            self.writes.append((address, write_size))
            return True

        self.se.add_mem_write_hook(on_write, begin=base, end=base + size + 2 * len(CANARY) - 1)
        self.guards.append((start, size))
        return start

    def check_writes(self, allowed):
        """Every recorded write falls in `allowed` (start, size) ranges; canaries are intact."""
        for address, size in self.writes:
            if not any(start <= address and address + size <= start + length for start, length in allowed):
                raise Violation(f"{size}-byte write at {address:#x}, outside the lock-state bytes")
        for start, size in self.guards:
            before = self.se.mem_read(start - len(CANARY), len(CANARY))
            after = self.se.mem_read(start + size, len(CANARY))
            if before != CANARY or after != CANARY:
                raise Violation(f"canary bytes around {start:#x} overwritten")
        self.writes.clear()

    def read(self, address, size):
        return self.se.mem_read(address, size)


# ---- Checks -------------------------------------------------------------------------------


def expect(condition, text):
    if not condition:
        raise Violation(text)


def expect_quiet(image, irql, what):
    """After a balanced sequence: the IRQL is back, no spin lock held, no critical region."""
    k = image.kernel
    expect(k.irql == irql, f"{what}: IRQL {k.irql} afterwards, the caller's was {irql}")
    expect(not k.spin_locks, f"{what}: spin locks still held: {sorted(hex(a) for a in k.spin_locks)}")
    expect(k.critical_region == 0, f"{what}: critical region entered {k.critical_region} more times than left")


def calls_of(image, name, since):
    return [argv for routine, argv in image.kernel.calls[since:] if routine == name]


def expect_bug_check(image, subcode, export, *args):
    try:
        image.call(export, *args)
    except BugCheck as bug_check:
        expect(
            bug_check.code == NDIS_RWLOCK_VIOLATION and bug_check.params[0] == subcode,
            f"{export}: {bug_check}, expected code {NDIS_RWLOCK_VIOLATION:#x} subcode {subcode:#x}",
        )
        return
    raise Violation(f"{export}({', '.join(hex(a) for a in args)}) returned; expected a bug check")


def expect_pool_returned(image, what):
    k = image.kernel
    expect(not k.pool, f"{what}: pool blocks not freed: {[(hex(a), hex(t)) for a, (s, t) in k.pool.items()]}")


# ---- Scenarios ------------------------------------------------------------------------------
# Each takes a fresh Image and raises Violation (or BugCheck) on failure. SCENARIOS maps every
# export of windows/ndis_rwlock.def to its scenarios: a new export needs a line there.


def dll_initialize(image):
    # Image() has called it once already; it keeps no state, so a second call succeeds too.
    status = image.call("DllInitialize", 0) & 0xFFFFFFFF
    expect(status == STATUS_SUCCESS, f"DllInitialize returned {status:#x}")
    expect(image.kernel.messages, "DllInitialize printed nothing")
    expect_pool_returned(image, "DllInitialize")


def dll_unload(image):
    status = image.call("DllUnload") & 0xFFFFFFFF
    expect(status == STATUS_SUCCESS, f"DllUnload returned {status:#x}")


def rw_ex_pair(image, acquire, flags, irql, processor=0):
    """One NDIS 6.20 acquire/release pair at `irql` on `processor`, lock state between
    canaries; returns the spin-lock calls it made."""
    k = image.kernel
    lock = image.call("NdisAllocateRWLock", 0)
    expect(lock != 0, "NdisAllocateRWLock returned NULL")
    state = image.guarded(LOCK_STATE_EX_SIZE)
    k.irql, k.processor = irql, processor
    since = len(k.calls)
    image.call(acquire, lock, state, flags | (KIRQL_GARBAGE & ~0xFF))
    expect(k.irql == DISPATCH_LEVEL, f"{acquire}: IRQL {k.irql} while held, expected DISPATCH_LEVEL")
    expect(image.writes, f"{acquire}: no write to the LOCK_STATE_EX seen")
    image.call("NdisReleaseRWLock", lock, state)
    expect_quiet(image, irql, f"{acquire} + NdisReleaseRWLock at IRQL {irql}")
    image.check_writes([(state, LOCK_STATE_EX_SIZE)])
    spin = calls_of(image, "KeAcquireSpinLockAtDpcLevel", since) + calls_of(image, "KeAcquireSpinLockRaiseToDpc", since)
    released = calls_of(image, "KeReleaseSpinLockFromDpcLevel", since) + calls_of(image, "KeReleaseSpinLock", since)
    k.irql, k.processor = PASSIVE_LEVEL, 0
    image.call("NdisFreeRWLock", lock)
    return spin, released


def pool_block(image, address):
    """The live pool block (address, tag) that holds `address`, or None."""
    for start, (size, tag) in image.kernel.pool.items():
        if start <= address < start + size:
            return start, tag
    return None


def rw_ex_allocate_free(image):
    k = image.kernel
    lock = image.call("NdisAllocateRWLock", 0)
    block = pool_block(image, lock)
    expect(lock != 0 and block is not None, "NdisAllocateRWLock did not return nonpaged pool")
    image.call("NdisFreeRWLock", lock)
    expect(block in k.freed, "NdisFreeRWLock did not free the lock's block with its tag")
    expect_pool_returned(image, "NdisAllocateRWLock + NdisFreeRWLock")


def rw_ex_read(image):
    for irql, flags in ((PASSIVE_LEVEL, 0), (APC_LEVEL, 0), (DISPATCH_LEVEL, NDIS_RWL_AT_DISPATCH_LEVEL)):
        for processor in (0, PROCESSORS - 1):
            spin, _ = rw_ex_pair(image, "NdisAcquireRWLockRead", flags, irql, processor)
            expect(not spin, "NdisAcquireRWLockRead took the writers' spin lock on the fast path")
    expect_pool_returned(image, "NdisAcquireRWLockRead")


def rw_ex_write(image):
    for irql, flags in ((PASSIVE_LEVEL, 0), (DISPATCH_LEVEL, NDIS_RWL_AT_DISPATCH_LEVEL)):
        spin, released = rw_ex_pair(image, "NdisAcquireRWLockWrite", flags, irql)
        expect(spin, "NdisAcquireRWLockWrite did not take the spin lock")
        expect(
            sorted(a[0] for a in spin) == sorted(a[0] for a in released),
            "NdisReleaseRWLock did not release the spin lock the write acquire took",
        )
    expect_pool_returned(image, "NdisAcquireRWLockWrite")


def rw_ex_release_garbage(image):
    lock = image.call("NdisAllocateRWLock", 0)
    state = image.guarded(LOCK_STATE_EX_SIZE)
    image.se.mem_write(state, b"\x7e\x9d\x42")
    image.kernel.irql = DISPATCH_LEVEL
    expect_bug_check(image, RW_BAD_LOCK_STATE, "NdisReleaseRWLock", lock, state)


def rw_ex_null(image):
    state = image.guarded(LOCK_STATE_EX_SIZE)
    expect_bug_check(image, RW_NULL_LOCK, "NdisAcquireRWLockRead", 0, state, 0)


def rw_ex_free_null(image):
    expect_bug_check(image, RW_NULL_LOCK, "NdisFreeRWLock", 0)


def legacy_pairs(image, acquire, release, irql):
    k = image.kernel
    lock = image.guarded(NDIS_RW_LOCK_SIZE)
    image.call("NdisInitializeReadWriteLock", lock)
    image.check_writes([(lock, NDIS_RW_LOCK_SIZE)])
    state = image.guarded(LOCK_STATE_SIZE)
    for write in (0, 1):
        k.irql = irql
        since = len(k.calls)
        image.call(acquire, lock, write | 0xABCDEF00, state)
        expect(k.irql == DISPATCH_LEVEL, f"{acquire}: IRQL {k.irql} while held, expected DISPATCH_LEVEL")
        image.call(release, lock, state)
        expect_quiet(image, irql, f"{acquire}(fWrite={write}) + {release} at IRQL {irql}")
        if write:
            expect(calls_of(image, "KeAcquireSpinLockAtDpcLevel", since), f"{acquire}(fWrite=1) took no spin lock")
        image.check_writes([(lock, NDIS_RW_LOCK_SIZE), (state, LOCK_STATE_SIZE)])
    expect_pool_returned(image, acquire)


def legacy_initialize(image):
    lock = image.guarded(NDIS_RW_LOCK_SIZE)
    image.call("NdisInitializeReadWriteLock", lock)
    image.check_writes([(lock, NDIS_RW_LOCK_SIZE)])
    expect_bug_check(image, RW_NULL_LOCK, "NdisInitializeReadWriteLock", 0)


def legacy_acquire(image):
    for irql in (PASSIVE_LEVEL, DISPATCH_LEVEL):
        legacy_pairs(image, "NdisAcquireReadWriteLock", "NdisReleaseReadWriteLock", irql)


def legacy_dpr(image):
    legacy_pairs(image, "NdisDprAcquireReadWriteLock", "NdisDprReleaseReadWriteLock", DISPATCH_LEVEL)


def legacy_null(image):
    state = image.guarded(LOCK_STATE_SIZE)
    expect_bug_check(image, RW_NULL_LOCK, "NdisReleaseReadWriteLock", 0, state)


def push_pairs(image):
    k = image.kernel
    lock = image.call("NdisRwlAllocatePushLock", 0)
    block = pool_block(image, lock)
    expect(lock != 0 and block is not None, "NdisRwlAllocatePushLock did not return nonpaged pool")
    state = image.guarded(PUSH_LOCK_STATE_SIZE)
    for acquire, held in (("NdisRwlAcquirePushLockRead", 1), ("NdisRwlAcquirePushLockWrite", "exclusive")):
        for irql in (PASSIVE_LEVEL, APC_LEVEL):
            k.irql = irql
            image.call(acquire, lock, state, 0)
            expect(
                held in k.push_locks.values(),
                f"{acquire}: the push lock is not held {'shared' if held == 1 else 'exclusive'}",
            )
            expect(k.critical_region > 0 or irql == APC_LEVEL, f"{acquire}: returned outside a critical region")
            image.call("NdisRwlReleasePushLock", lock, state)
            expect_quiet(image, irql, f"{acquire} + NdisRwlReleasePushLock at IRQL {irql}")
            expect(all(v == "free" for v in k.push_locks.values()), f"{acquire}: push lock still held after release")
            image.check_writes([(state, PUSH_LOCK_STATE_SIZE)])
    image.call("NdisRwlFreePushLock", lock)
    expect(block in k.freed, "NdisRwlFreePushLock did not free the lock's block with its tag")
    expect_pool_returned(image, "NdisRwlAllocatePushLock + NdisRwlFreePushLock")


def push_null(image):
    state = image.guarded(PUSH_LOCK_STATE_SIZE)
    expect_bug_check(image, RW_NULL_LOCK, "NdisRwlAcquirePushLockWrite", 0, state, 0)


def spin_pairs(image):
    """NDIS_SPIN_LOCK: NdisAcquireSpinLock/NdisReleaseSpinLock from every IRQL up to
    DISPATCH_LEVEL and on two processors, the Dpr pair at DISPATCH_LEVEL; nothing written
    outside the structure."""
    k = image.kernel
    lock = image.guarded(NDIS_SPIN_LOCK_SIZE)
    image.call("NdisAllocateSpinLock", lock)
    for irql in (PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL):
        for processor in (0, PROCESSORS - 1):
            k.irql, k.processor = irql, processor
            since = len(k.calls)
            image.call("NdisAcquireSpinLock", lock)
            expect(k.irql == DISPATCH_LEVEL, f"NdisAcquireSpinLock: IRQL {k.irql} while held")
            expect(k.spin_locks, "NdisAcquireSpinLock took no spin lock")
            image.call("NdisReleaseSpinLock", lock)
            expect_quiet(image, irql, f"NdisAcquireSpinLock + NdisReleaseSpinLock at IRQL {irql}")
            expect(calls_of(image, "KeAcquireSpinLockAtDpcLevel", since), "no KSPIN_LOCK acquire seen")
    k.irql, k.processor = DISPATCH_LEVEL, 0
    image.call("NdisDprAcquireSpinLock", lock)
    expect(k.spin_locks and k.irql == DISPATCH_LEVEL, "NdisDprAcquireSpinLock took no spin lock")
    image.call("NdisDprReleaseSpinLock", lock)
    expect_quiet(image, DISPATCH_LEVEL, "NdisDprAcquireSpinLock + NdisDprReleaseSpinLock")
    k.irql = PASSIVE_LEVEL
    image.call("NdisFreeSpinLock", lock)
    image.check_writes([(lock, NDIS_SPIN_LOCK_SIZE)])
    expect_pool_returned(image, "NDIS_SPIN_LOCK")


def spin_checks(image):
    """A NULL lock, and a release of a lock nobody holds (0x10), stop before anything."""
    expect_bug_check(image, RW_NULL_LOCK, "NdisAcquireSpinLock", 0)
    lock = image.guarded(NDIS_SPIN_LOCK_SIZE)
    image.call("NdisAllocateSpinLock", lock)
    image.kernel.irql = DISPATCH_LEVEL
    try:
        image.call("NdisDprReleaseSpinLock", lock)
    except BugCheck as bug_check:
        expect(bug_check.code == SPIN_LOCK_NOT_OWNED, f"NdisDprReleaseSpinLock: {bug_check}, expected 0x10")
        expect(not image.kernel.spin_locks, "a spin lock was touched")
        return
    raise Violation("NdisDprReleaseSpinLock of a free lock returned; expected a bug check")


SCENARIOS = {
    "DllInitialize": [dll_initialize],
    "DllUnload": [dll_unload],
    "NdisAllocateRWLock": [rw_ex_allocate_free],
    "NdisFreeRWLock": [rw_ex_allocate_free, rw_ex_free_null],
    "NdisAcquireRWLockRead": [rw_ex_read, rw_ex_null],
    "NdisAcquireRWLockWrite": [rw_ex_write],
    "NdisReleaseRWLock": [rw_ex_read, rw_ex_release_garbage],
    "NdisInitializeReadWriteLock": [legacy_initialize],
    "NdisAcquireReadWriteLock": [legacy_acquire],
    "NdisReleaseReadWriteLock": [legacy_acquire, legacy_null],
    "NdisDprAcquireReadWriteLock": [legacy_dpr],
    "NdisDprReleaseReadWriteLock": [legacy_dpr],
    "NdisRwlAllocatePushLock": [push_pairs],
    "NdisRwlFreePushLock": [push_pairs],
    "NdisRwlAcquirePushLockRead": [push_pairs, push_null],
    "NdisRwlAcquirePushLockWrite": [push_pairs],
    "NdisRwlReleasePushLock": [push_pairs],
    "NdisAllocateSpinLock": [spin_pairs],
    "NdisFreeSpinLock": [spin_pairs],
    "NdisAcquireSpinLock": [spin_pairs, spin_checks],
    "NdisReleaseSpinLock": [spin_pairs],
    "NdisDprAcquireSpinLock": [spin_pairs],
    "NdisDprReleaseSpinLock": [spin_pairs, spin_checks],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--def", dest="def_path", required=True)
    parser.add_argument("--imports", required=True)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    exports = def_exports(args.def_path)
    imports = def_exports(args.imports)
    missing = [name for name in exports if name not in SCENARIOS]
    if missing:
        print(f"emulate: FAILED: no scenario for the exports {missing}: add them to SCENARIOS")
        sys.exit(1)
    failures = 0
    done = set()
    for export in exports:
        for scenario in SCENARIOS[export]:
            if scenario in done:
                continue
            done.add(scenario)
            try:
                scenario(Image(args.image, imports, args.verbose))
                result = "ok"
            except (Violation, BugCheck) as error:
                failures += 1
                result = f"FAILED: {error}"
            print(f"emulate: {scenario.__name__}: {result}")
    print(f"emulate: {len(done)} scenarios over {len(exports)} exports, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
