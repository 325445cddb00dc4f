//! The per-processor arena that holds the reader counts of every `NDIS_RW_LOCK_EX`.
//!
//! # Layout
//!
//! In the manner of a per-CPU allocator (Linux's `percpu` chunks and units): the arena is a
//! list of *sets*, each one nonpaged allocation tagged [`ARENA_TAG`] that holds, after a
//! 64-byte set header, one *chunk* per processor slot. A chunk is [`CHUNK`] bytes, a whole
//! number of cache lines, and holds the reader count of [`LOCKS_PER_SET`] locks for that
//! processor. A lock owns one index in its set, the same in every chunk; its header keeps the
//! index, the set and a pointer to its count in chunk 0. Processor `p`'s count of the lock is
//! then `first + p * CHUNK`: the reader's fast path is one load of that pointer from the lock
//! header and index arithmetic, as with one cache line per processor before.
//!
//! - **Memory.** 4 bytes per processor slot per lock (an `AtomicU32`), plus the lock's own
//!   112-byte header allocation and its share of the set header (under 2 bytes). 10,000 locks
//!   at 640 slots take 157 sets of 164,000 bytes: 26 MB with the headers (the lab prints it).
//! - **Cache lines.** Chunks start on a line and are whole lines, so no two processors'
//!   counts share a line, in any lock. Counts of different locks on one processor do share
//!   lines: only that processor writes them, and a writer's scan of one lock may pull a line
//!   that processor is using for another, as with any per-CPU allocator.
//! - **One allocation per set**, not one per processor: the per-processor chunks sit at a
//!   fixed stride, which is what keeps the reader at one load. Separate chunk allocations
//!   would put a chunk-table load (a second, dependent load) on every read. The price is a
//!   set of `64 + 48 + processors * 256` bytes in one block (164 KB at 640 slots).
//!
//! # Growth
//!
//! `allocate` takes the lowest free index of the first set (in creation order) that has one
//! and is sized for the current processor count. When none has, it allocates a new set,
//! outside the arena's spin lock, and links it at the tail; if another allocation freed or
//! added an index meanwhile, it uses that and frees its new set. A failed set allocation
//! makes `NdisAllocateRWLock` return NULL (the lock's header is given back). All of it runs
//! at `IRQL <= DISPATCH_LEVEL` (nonpaged pool, a spin lock).
//!
//! # Reuse and fragmentation
//!
//! A freed index goes back to its set at once and is the first candidate for the next
//! allocation in that set (lowest free index first, earliest set first). A set whose last
//! lock is freed is freed to the pool at once; there is no compaction (C code holds pointers
//! to the lock headers, and readers run without synchronisation, so counts never move).
//! Bounds: sets never outnumber the live locks (an empty set is freed), and, since a new set
//! is only added when every set is full, never exceed `ceil(peak live locks / 64)` (plus one
//! per allocation racing another). The worst case, one live lock in every set, is a whole
//! set per lock; first-fit keeps new locks in the oldest sets so that late sets empty out.
//!
//! # Hot-added processors
//!
//! A set has a chunk for every slot that `KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS)`
//! reports when the set is made, which counts processors that may be hot-added later. That
//! count does not change while the system runs; should it grow, sets sized for fewer
//! processors are skipped by new allocations, and each lock keeps the count of its own set.
//!
//! # Unload
//!
//! Freeing the last lock frees the last set: when every lock a driver allocated is freed, the
//! arena holds no pool at all, so the verifier's unload check (`sim::pool::check_unload` with
//! [`ARENA_TAG`] in the simulation) finds nothing.
//!
//! # Synchronisation
//!
//! The list and the sets' free masks are changed only under the arena's spin lock (raised to
//! `DISPATCH_LEVEL`, then `KeAcquireSpinLockAtDpcLevel`); allocation and free are not hot
//! paths. The counts are
//! never touched under it: each is constructed when its index is handed out and dropped when
//! the index comes back, by the one thread that allocates or frees the lock.
//!
//! There is one arena per process, shared by every kernel type: a process runs one kernel.

use core::cell::UnsafeCell;
use core::ptr::NonNull;

use crate::kernel::{DISPATCH_LEVEL, Irql, KSpinLock, Kernel};
use crate::sync::AtomicU32;

/// Pool tag of the arena's sets: `NRwA` in a pool dump.
pub const ARENA_TAG: u32 = u32::from_le_bytes(*b"NRwA");
/// Locks whose counts one set holds: indices in every chunk.
pub const LOCKS_PER_SET: u32 = 64;
/// Size of a cache line, of the set header, and the unit of a chunk.
const LINE: usize = 64;
/// Bytes of one processor's chunk: a count per lock, rounded up to whole lines.
pub const CHUNK: usize =
    (LOCKS_PER_SET as usize * core::mem::size_of::<AtomicU32>()).div_ceil(LINE) * LINE;
/// Every index free.
const ALL_FREE: u64 = u64::MAX >> (64 - LOCKS_PER_SET);

const _: () = assert!(LOCKS_PER_SET <= 64, "one u64 holds a set's free mask");
const _: () = assert!(CHUNK.is_multiple_of(LINE));

/// Bytes of pool one set takes on a machine with `processors` slots (pool blocks are 16-byte
/// aligned: up to `LINE - 16` bytes go to aligning the set header).
pub const fn set_size(processors: u32) -> usize {
    (LINE - 16) + LINE + processors as usize * CHUNK
}

/// The header of a set, in its first line. Changed only under the arena's spin lock.
#[repr(C, align(64))]
struct Set {
    /// The next set, in creation order.
    next: *mut Set,
    /// What the pool returned.
    base: *mut u8,
    /// Bit `i` set: index `i` is free.
    free: u64,
    /// Chunks in this set (processor slots of its locks).
    processors: u32,
}

const _: () = assert!(core::mem::size_of::<Set>() == LINE);

/// The list of sets and the spin lock that guards it.
pub(crate) struct Arena {
    spin: KSpinLock,
    /// The first set; changed only under `spin`.
    head: UnsafeCell<*mut Set>,
}

// SAFETY: `head` and every set's header are read and written only while `spin` is held, so
// they are never accessed from two threads at once.
unsafe impl Sync for Arena {}

impl Arena {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Self {
            spin: KSpinLock::new(),
            head: UnsafeCell::new(core::ptr::null_mut()),
        }
    }

    #[cfg(loom)]
    fn new() -> Self {
        Self {
            spin: KSpinLock::new(),
            head: UnsafeCell::new(core::ptr::null_mut()),
        }
    }
}

#[cfg(not(loom))]
static ARENA: Arena = Arena::new();

#[cfg(loom)]
loom::lazy_static! {
    // A loom atomic lives inside one model execution: a fresh arena for each.
    static ref ARENA: Arena = Arena::new();
}

fn arena() -> &'static Arena {
    &ARENA
}

/// A set of the arena, as a lock's header names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SetRef(NonNull<Set>);

/// One lock's index in the arena: where its counts are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slots {
    set: SetRef,
    index: u32,
    /// The count of processor 0, derived from the set's allocation pointer.
    first: *mut AtomicU32,
    processors: u32,
}

impl Slots {
    /// Processor slots: chunks in the set.
    #[inline]
    pub(crate) fn processors(&self) -> u32 {
        self.processors
    }

    /// The count of processor 0, from which processor `p`'s is `CHUNK * p` bytes on.
    #[inline]
    pub(crate) fn first(&self) -> *mut AtomicU32 {
        self.first
    }

    /// The set and the index in it, what [`free`] takes back.
    #[inline]
    pub(crate) fn place(&self) -> (SetRef, u32) {
        (self.set, self.index)
    }
}

/// Takes the arena's spin lock: `KeAcquireSpinLockRaiseToDpc`, spelt as the raise and the
/// at-DPC acquire that the rest of the crate already imports. Returns the IRQL to restore.
fn lock<K: Kernel>(arena: &Arena) -> Irql {
    // SAFETY: the arena is used at IRQL <= DISPATCH_LEVEL (`allocate` and `free` run after a
    // pool call that bug-checks above it; `stats` documents it), so this never lowers.
    let old = unsafe { K::raise_irql(DISPATCH_LEVEL) };
    K::acquire_spin_lock_at_dpc(&arena.spin);
    old
}

/// Releases the arena's spin lock and returns to `old`.
///
/// # Safety
///
/// Pairs with the [`lock`] that returned `old`, on the same thread.
unsafe fn unlock<K: Kernel>(arena: &Arena, old: Irql) {
    // SAFETY: the caller took the spin lock with `lock`, at DISPATCH_LEVEL.
    unsafe { K::release_spin_lock_from_dpc(&arena.spin) };
    // SAFETY: `old` is what `lock` raised from, at most DISPATCH_LEVEL; nothing is held.
    unsafe { K::lower_irql(old) };
}

/// What the arena holds now: sets, and locks (indices in use) in them. A snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArenaStats {
    /// Sets allocated.
    pub sets: usize,
    /// Indices in use: live locks.
    pub locks: usize,
    /// Pool bytes the sets take.
    pub bytes: usize,
}

/// The arena's contents now. `IRQL <= DISPATCH_LEVEL`.
pub fn stats<K: Kernel>() -> ArenaStats {
    let arena = arena();
    let old = lock::<K>(arena);
    let mut stats = ArenaStats::default();
    // SAFETY: under the arena's spin lock.
    let mut set = unsafe { *arena.head.get() };
    while !set.is_null() {
        // SAFETY: a linked set is live, and its header is ours under the spin lock.
        let header = unsafe { &*set };
        stats.sets += 1;
        stats.locks += (LOCKS_PER_SET - header.free.count_ones()) as usize;
        stats.bytes += set_size(header.processors);
        set = header.next;
    }
    // SAFETY: acquired just above, with `old`.
    unsafe { unlock::<K>(arena, old) };
    stats
}

/// Takes a free index of a set sized for `processors` slots, if a set has one.
///
/// # Safety
///
/// The caller holds the arena's spin lock.
unsafe fn take_free(arena: &Arena, processors: u32) -> Option<Slots> {
    // SAFETY: under the spin lock (the caller's contract).
    let mut set = unsafe { *arena.head.get() };
    while !set.is_null() {
        // SAFETY: a linked set is live; its header is only touched under the spin lock.
        let header = unsafe { &mut *set };
        if header.free != 0 && header.processors >= processors {
            let index = header.free.trailing_zeros();
            header.free &= !(1 << index);
            // SAFETY: a linked set is live.
            return Some(unsafe { slots_of(set, index) });
        }
        set = header.next;
    }
    None
}

/// The slots of index `index` in `set`.
///
/// # Safety
///
/// `set` is a live set, `index < LOCKS_PER_SET`.
unsafe fn slots_of(set: *mut Set, index: u32) -> Slots {
    // SAFETY: the set is live (the caller's contract); its `processors` never changes.
    let processors = unsafe { (*set).processors };
    // The chunks start right after the set header. Derived from `set`, which was derived
    // from the pool's pointer: the counts carry the whole allocation's provenance.
    let first = set
        .wrapping_add(1)
        .cast::<u8>()
        .wrapping_add(index as usize * core::mem::size_of::<AtomicU32>())
        .cast::<AtomicU32>();
    Slots {
        // SAFETY: a live set is not null.
        set: SetRef(unsafe { NonNull::new_unchecked(set) }),
        index,
        first,
        processors,
    }
}

/// A new, empty set with a chunk for each of `processors` slots, not linked yet; `None` when
/// the pool has no room.
fn new_set<K: Kernel>(processors: u32) -> Option<*mut Set> {
    let base = K::allocate_nonpaged(set_size(processors), ARENA_TAG);
    if base.is_null() {
        return None;
    }
    let set = base.wrapping_add(base.align_offset(LINE)).cast::<Set>();
    // SAFETY: the block holds the aligned header and the chunks (see `set_size`), and nothing
    // else refers to it yet.
    unsafe {
        set.write(Set {
            next: core::ptr::null_mut(),
            base,
            free: ALL_FREE,
            processors,
        });
    }
    Some(set)
}

/// Links `set` at the tail of the list.
///
/// # Safety
///
/// The caller holds the arena's spin lock; `set` is live and not linked.
unsafe fn link(arena: &Arena, set: *mut Set) {
    let mut at = arena.head.get();
    // SAFETY: under the spin lock; every linked set is live.
    while let Some(next) = NonNull::new(unsafe { *at }) {
        // SAFETY: as above; `next` is a live set's header.
        at = unsafe { &raw mut (*next.as_ptr()).next };
    }
    // SAFETY: `at` is the head or the last set's `next`, ours under the spin lock.
    unsafe { *at = set };
}

/// Unlinks `set` from the list.
///
/// # Safety
///
/// The caller holds the arena's spin lock; `set` is linked.
unsafe fn unlink(arena: &Arena, set: *mut Set) {
    let mut at = arena.head.get();
    // SAFETY: under the spin lock; `set` is linked, so the walk reaches it.
    loop {
        // SAFETY: under the spin lock; `at` is the head or a linked set's `next`.
        let current = unsafe { *at };
        if current == set {
            break;
        }
        // SAFETY: `set` is linked, so the walk reaches it: `current` is a linked set before.
        at = unsafe { &raw mut (*current).next };
    }
    // SAFETY: `set` is live until its caller frees it; its header is ours under the lock.
    let next = unsafe { (*set).next };
    // SAFETY: as above: the `next` that pointed to `set`.
    unsafe { *at = next };
}

/// An index for a new lock, with its count on every one of `processors` slots constructed
/// (zero); `None` when a new set was needed and the pool had no room. `IRQL <=
/// DISPATCH_LEVEL`.
pub(crate) fn allocate<K: Kernel>(processors: u32) -> Option<Slots> {
    let arena = arena();
    let old = lock::<K>(arena);
    // SAFETY: under the spin lock.
    let found = unsafe { take_free(arena, processors) };
    // SAFETY: acquired just above, with `old`.
    unsafe { unlock::<K>(arena, old) };
    let slots = match found {
        Some(slots) => slots,
        None => grow::<K>(arena, processors)?,
    };
    for p in 0..slots.processors as usize {
        let count = slots.first.wrapping_byte_add(p * CHUNK);
        // SAFETY: chunk `p` of a live set holds the index's count (see `set_size`), aligned
        // for it; nobody else uses a free index, so the count is constructed here.
        unsafe { count.write(AtomicU32::new(0)) };
    }
    Some(slots)
}

/// [`allocate`] when no set had a free index: a new set, unless one freed up meanwhile.
#[cold]
fn grow<K: Kernel>(arena: &Arena, processors: u32) -> Option<Slots> {
    let set = new_set::<K>(processors)?;
    let old = lock::<K>(arena);
    // SAFETY: under the spin lock.
    let raced = unsafe { take_free(arena, processors) };
    if raced.is_none() {
        // SAFETY: under the spin lock; the new set is live and not linked.
        unsafe { link(arena, set) };
    }
    // SAFETY: under the spin lock; linked or not, the set is live and its header ours.
    let slots = raced.or_else(|| unsafe { take_free(arena, processors) });
    // SAFETY: acquired just above, with `old`.
    unsafe { unlock::<K>(arena, old) };
    if raced.is_some() {
        // SAFETY: the set was never linked nor handed out: ours alone.
        let base = unsafe { (*set).base };
        // SAFETY: `base` is what the pool returned for the set, freed once.
        unsafe { K::free_pool(base, ARENA_TAG) };
    }
    slots
}

/// Gives back index `index` of `set`, a freed lock's, whose counts are all zero; frees the set
/// when it was the set's last lock. `IRQL <= DISPATCH_LEVEL`.
///
/// # Safety
///
/// `set` and `index` are the [`Slots::place`] of slots from [`allocate`], given back once,
/// after the last use of their counts.
pub(crate) unsafe fn free<K: Kernel>(set: SetRef, index: u32) {
    let set = set.0.as_ptr();
    // SAFETY: the set is live while this index is in use (the caller's contract).
    let slots = unsafe { slots_of(set, index) };
    for p in 0..slots.processors as usize {
        let count = slots.first.wrapping_byte_add(p * CHUNK);
        // SAFETY: the count was constructed by `allocate` and is dropped once, here.
        unsafe { core::ptr::drop_in_place(count) };
    }
    let arena = arena();
    let old = lock::<K>(arena);
    // SAFETY: under the spin lock; the set is live while it has an index in use (this one).
    let header = unsafe { &mut *set };
    header.free |= 1 << index;
    let empty = header.free == ALL_FREE;
    let base = header.base;
    if empty {
        // SAFETY: under the spin lock; a set with an index in use is linked.
        unsafe { unlink(arena, set) };
    }
    // SAFETY: acquired just above, with `old`.
    unsafe { unlock::<K>(arena, old) };
    if empty {
        // SAFETY: the set is unlinked and has no index in use: nothing refers to it any more.
        unsafe { K::free_pool(base, ARENA_TAG) };
    }
}
