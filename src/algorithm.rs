//! The reader/writer algorithm shared by `NDIS_RW_LOCK_EX` and the legacy `NDIS_RW_LOCK`.
//!
//! # Algorithm
//!
//! The design the NDIS documentation describes ("read access does not require interlocked
//! operations or contention for spin locks"): a `KSPIN_LOCK` serialises writers, a writer
//! word names the owning processor (for recursion), and every processor has its own reader
//! count.
//!
//! - **Read** (at `DISPATCH_LEVEL`, so the thread owns its processor `p`): `count[p] += 1`
//!   with a plain load and store (only processor `p` writes `count[p]`, and it cannot be
//!   preempted at `DISPATCH_LEVEL`); then a full fence; then load the writer word. If no
//!   writer, or this processor already read (`count[p]` was > 0: recursion), or this
//!   processor is the writer (read inside own write): done. Otherwise back off: undo the
//!   increment, spin until the writer word clears, retry.
//! - **Write**: if this processor owns the writer word, count a recursive acquisition.
//!   Otherwise take the spin lock, publish `p` in the writer word, full fence, and wait until
//!   every *other* processor's count is zero.
//! - **Release**: a reader stores `count[p] - 1` with release ordering; a writer drops one
//!   recursion level, or clears the writer word (release ordering) and releases the spin lock.
//!
//! Not fair: a processor that already reads never waits, so a stream of recursive reads can
//! starve a writer, as documented for NDIS.
//!
//! # Why each fence is needed
//!
//! The reader does "store `count[p]`, load writer" and the writer does "store writer, load
//! `count[q]`": a store-buffer (Dekker) handshake. Without a StoreLoad barrier on *both*
//! sides, each could read the other's old value (the reader sees no writer, the writer sees
//! count 0) and both would enter. `fence(SeqCst)` after the reader's store and after the
//! writer's store forbids that outcome: at least one of them sees the other. The writer's
//! spin-lock acquisition is only an acquire operation in the Rust memory model, so it does not
//! replace the writer's fence. Release stores on exit and acquire loads on entry carry the
//! protected data from each critical section to the next.
//!
//! # Asymmetric mode
//!
//! A lock can be made asymmetric when it is allocated (never through the C ABI, whose locks
//! are all symmetric). The reader then executes no fence and no locked instruction: between
//! its count store and its writer load it has only a compiler fence, which keeps the two in
//! program order in the generated code. The writer, after publishing the writer word (and
//! its own fence), calls [`Kernel::flush_process_write_buffers`]: a full fence executed on
//! every processor, at an instruction boundary of whatever it runs, before the call returns
//! (`KeIpiGenericCall` with a fencing worker on Windows; `membarrier` in the simulation, whose
//! processors are threads of one process). Only then does it read the counts.
//!
//! Why the handshake still holds. Take a reader on processor `p` that stores `count[p]`
//! (S), then loads the writer word (L), and the barrier's fence F on `p`, which lands at
//! some point of `p`'s instruction stream while the writer is inside the call:
//! - F before S (or `p` not running the reader yet): L comes after F in program order, so
//!   on `p` it executes after F, which executes after the writer's store became visible (the
//!   writer stored and fenced before it asked for the barrier). L sees the writer and the
//!   reader backs off.
//! - F after S (whether before or after L): the fence drains S from `p`'s store buffer before
//!   F completes, F completes before the call returns, and the writer reads `count[p]` only
//!   after that. The writer sees the reader and waits.
//!
//! Either way at least one side sees the other, which is all the fences of the symmetric mode
//! guarantee. A processor that runs no thread of the process during the call (simulation)
//! passes a full barrier at its next context switch, before it can execute S or L. The data
//! path is unchanged: the reader's acquire load of the writer word and release store on
//! exit, the writer's acquire loads of the counts. The price moves to the writer: microseconds
//! per outermost write acquisition (an IPI round on every processor).
//!
//! loom has no model of a cross-processor barrier, so the loom models cover the symmetric
//! mode only; `tests/rwlock_ex_asymmetric.rs` stresses the asymmetric mode on eight simulated
//! processors and checks that no reader ever sees a writer's half-done update. A kernel
//! without the barrier ([`Kernel::flush_process_write_buffers`] returns `false` when the lock
//! is allocated) gets a symmetric lock instead; one whose barrier fails later bug-checks the
//! writer ([`rw::PROCESS_BARRIER_FAILED`]).
//!
//! The loom models in `tests/loom.rs` check the handshake through the real lock code
//! (read/read, read/write, write/write, read recursion while a writer waits, the back-off
//! path, a read after a finished write, the try variants, write recursion and reads inside
//! one's own write). `scripts/loom-mutations.sh` rebuilds them with
//! `--cfg ndis_rwlock_mutation="..."`, which removes one fence (`no_reader_fence`,
//! `no_writer_fence`) or weakens one ordering to `Relaxed` (`reader_acquire_relaxed`,
//! `reader_release_relaxed`, `writer_acquire_relaxed`, `writer_release_relaxed`), and checks
//! that every mutant makes some model fail.

use crate::bugcheck::{NDIS_RWLOCK_VIOLATION, rw};
use crate::kernel::{DISPATCH_LEVEL, Irql, KSpinLock, Kernel};
use crate::sync::{AtomicU32, AtomicUsize, Ordering, compiler_fence, fence};

// The orderings of the handshake, named so that the loom mutation runs
// (scripts/loom-mutations.sh, `--cfg ndis_rwlock_mutation="..."`) can weaken each in turn
// and show that a model fails. Unmutated builds use the orderings the module docs justify.

/// The reader's load of the writer word: pairs with the writer's release of it.
const READER_SEES_WRITER: Ordering = if cfg!(ndis_rwlock_mutation = "reader_acquire_relaxed") {
    Ordering::Relaxed
} else {
    Ordering::Acquire
};
/// The reader's store of its decremented count: pairs with the writer's drain loads.
const READER_LEAVES: Ordering = if cfg!(ndis_rwlock_mutation = "reader_release_relaxed") {
    Ordering::Relaxed
} else {
    Ordering::Release
};
/// The writer's loads of the other processors' counts while draining.
const WRITER_SEES_READERS: Ordering = if cfg!(ndis_rwlock_mutation = "writer_acquire_relaxed") {
    Ordering::Relaxed
} else {
    Ordering::Acquire
};
/// The writer's store that clears the writer word.
const WRITER_LEAVES: Ordering = if cfg!(ndis_rwlock_mutation = "writer_release_relaxed") {
    Ordering::Relaxed
} else {
    Ordering::Release
};

/// Shift of the recursion depth inside the writer word; the low half holds `processor + 1`.
const DEPTH_SHIFT: u32 = usize::BITS / 2;
/// Mask of the owner part of the writer word.
const OWNER_MASK: usize = (1 << DEPTH_SHIFT) - 1;
/// One level of write recursion in the writer word.
const DEPTH_ONE: usize = 1 << DEPTH_SHIFT;

/// The state a reader/writer lock keeps, wherever it is stored.
///
/// # Safety
///
/// The references returned must stay the same for the life of the storage, and `count(i)`
/// must return a distinct counter for every `i < processors()`.
pub(crate) unsafe trait RwStorage {
    /// The writers' spin lock.
    fn spin_lock(&self) -> &KSpinLock;
    /// The writer word: 0 when no writer, else `(depth << DEPTH_SHIFT) | (processor + 1)`.
    fn writer(&self) -> &AtomicUsize;
    /// The reader count of processor `index`, or `None` if the storage has no slot for it.
    fn count(&self, index: u32) -> Option<&AtomicU32>;
    /// The number of reader slots.
    fn processors(&self) -> u32;
    /// The lock's address, for bug-check parameters.
    fn address(&self) -> usize;
    /// Whether the lock is in asymmetric mode (module docs). Fixed when the storage is made.
    #[inline]
    fn asymmetric(&self) -> bool {
        false
    }
}

/// How the caller entered: raised by the lock, or already at `DISPATCH_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// The lock raised from this IRQL and lowers back to it on release.
    Raised(Irql),
    /// The caller was at `DISPATCH_LEVEL` (NDIS_RWL_AT_DISPATCH_LEVEL); nothing to restore.
    AtDispatch,
}

/// What kind of acquisition a release undoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The outermost write acquisition.
    Write,
    /// A recursive write acquisition by the owner.
    RecursiveWrite,
}

/// Reports a misuse of the lock at `storage`.
#[cold]
#[inline(never)]
pub(crate) fn violation<K: Kernel>(subcode: usize, p2: usize, p3: usize, p4: usize) -> ! {
    K::bug_check(NDIS_RWLOCK_VIOLATION, [subcode, p2, p3, p4])
}

/// Brings the caller to `DISPATCH_LEVEL` for an acquisition, checking its IRQL.
#[inline]
pub(crate) fn enter<K: Kernel>(at_dispatch: bool, address: usize) -> Entry {
    let irql = K::current_irql();
    if at_dispatch {
        if irql != DISPATCH_LEVEL {
            let subcode = if irql < DISPATCH_LEVEL {
                rw::AT_DISPATCH_FLAG_BELOW_DISPATCH
            } else {
                rw::ACQUIRE_ABOVE_DISPATCH
            };
            violation::<K>(subcode, usize::from(irql), address, 0);
        }
        Entry::AtDispatch
    } else {
        if irql > DISPATCH_LEVEL {
            violation::<K>(rw::ACQUIRE_ABOVE_DISPATCH, usize::from(irql), address, 0);
        }
        // SAFETY: raising to DISPATCH_LEVEL from at most DISPATCH_LEVEL.
        Entry::Raised(unsafe { K::raise_irql(DISPATCH_LEVEL) })
    }
}

/// Undoes [`enter`]: lowers to the saved IRQL when the lock raised.
///
/// # Safety
///
/// Pairs with the `enter` that returned `entry`, on the same thread, after the acquisition it
/// covered has been released.
#[inline]
pub(crate) unsafe fn leave<K: Kernel>(entry: Entry) {
    if let Entry::Raised(old) = entry {
        // SAFETY: `old` is the IRQL `enter` raised from (at most DISPATCH_LEVEL), and the
        // caller has released what it held at DISPATCH_LEVEL.
        unsafe { K::lower_irql(old) }
    }
}

/// Checks that a release runs at exactly `DISPATCH_LEVEL`.
#[inline]
pub(crate) fn check_release_irql<K: Kernel>(address: usize) {
    let irql = K::current_irql();
    if irql != DISPATCH_LEVEL {
        violation::<K>(rw::RELEASE_NOT_AT_DISPATCH, usize::from(irql), address, 0);
    }
}

/// Processor `processor`'s reader count; bug-checks if the storage has no slot for it.
#[inline]
pub(crate) fn counter<K: Kernel, S: RwStorage + ?Sized>(storage: &S, processor: u32) -> &AtomicU32 {
    match storage.count(processor) {
        Some(count) => count,
        None => violation::<K>(
            rw::PROCESSOR_OUT_OF_RANGE,
            processor as usize,
            storage.processors() as usize,
            storage.address(),
        ),
    }
}

#[inline]
fn owner_of(word: usize) -> usize {
    word & OWNER_MASK
}

#[inline]
fn owner_value(processor: u32) -> usize {
    processor as usize + 1
}

/// The outcome of [`acquire_read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// A shared acquisition.
    Shared,
    /// The first read of this processor, inside this processor's own write acquisition.
    InsideOwnWrite,
    /// A writer holds the lock and the caller asked not to wait; nothing is held.
    Busy,
}

/// Takes a read acquisition on processor `me`, the caller's, which it has raised to
/// `DISPATCH_LEVEL`. With `try_only`, returns [`Read::Busy`] instead of waiting for a writer.
///
/// # Safety
///
/// The caller runs at `DISPATCH_LEVEL` on processor `me` and stays there until the matching
/// [`release_read`].
#[inline]
pub(crate) unsafe fn acquire_read<K: Kernel, S: RwStorage + ?Sized>(
    storage: &S,
    me: u32,
    try_only: bool,
) -> Read {
    // SAFETY: the caller's contract.
    match unsafe { acquire_read_fast::<K, S>(storage, me) } {
        Ok(_) => Read::Shared,
        // SAFETY: the caller's contract; the fast path raised `me`'s count from `held`.
        Err((writer, held)) => unsafe {
            acquire_read_contended::<K, S>(storage, me, writer, held, try_only)
        },
    }
}

/// The fast path of [`acquire_read`]: `Ok` with this processor's count when the read
/// acquisition is taken (no writer); otherwise the writer word found and the count before
/// this read, and the caller must finish with [`acquire_read_contended`] (this processor's
/// count is one higher).
///
/// # Safety
///
/// As [`acquire_read`].
#[inline(always)]
pub(crate) unsafe fn acquire_read_fast<K: Kernel, S: RwStorage + ?Sized>(
    storage: &S,
    me: u32,
) -> Result<&AtomicU32, (usize, u32)> {
    let count = counter::<K, S>(storage, me);
    // Only this processor writes its count, and it cannot be preempted at DISPATCH_LEVEL: no
    // read-modify-write is needed.
    let held = count.load(Ordering::Relaxed);
    let Some(next) = held.checked_add(1) else {
        // 2^32 reads held on one processor: leaked guards or C code that never releases. A
        // wrapped count would let a writer in under the readers.
        violation::<K>(rw::COUNT_OVERFLOW, storage.address(), me as usize, 0);
    };
    count.store(next, Ordering::Relaxed);
    reader_fence(storage.asymmetric());
    let writer = storage.writer().load(READER_SEES_WRITER);
    if writer != 0 {
        // Rare: recursion (`held > 0`) is sorted out on the slow path too.
        return Err((writer, held));
    }
    Ok(count)
}

/// The reader's StoreLoad barrier between its count store and its writer load.
#[inline(always)]
fn reader_fence(asymmetric: bool) {
    if !asymmetric {
        // StoreLoad: our count must be visible before we look for a writer (module docs).
        #[cfg(not(ndis_rwlock_mutation = "no_reader_fence"))]
        fence(Ordering::SeqCst);
    } else {
        // The writer's process-wide barrier stands in for our StoreLoad fence; the compiler
        // must still keep the store before the load (module docs).
        compiler_fence(Ordering::SeqCst);
    }
}

/// [`acquire_read`] after [`acquire_read_fast`] of processor `me` saw writer word `writer`:
/// a recursive read, a read inside our own write, or step aside and retry until no writer
/// holds the lock.
///
/// # Safety
///
/// As [`acquire_read`]; `acquire_read_fast` raised `me`'s count from `held`.
#[cold]
#[inline(never)]
pub(crate) unsafe fn acquire_read_contended<K: Kernel, S: RwStorage + ?Sized>(
    storage: &S,
    me: u32,
    mut writer: usize,
    held: u32,
    try_only: bool,
) -> Read {
    let count = counter::<K, S>(storage, me);
    if held > 0 {
        // This processor already reads: recursion never waits (not fair, as documented).
        return Read::Shared;
    }
    loop {
        if owner_of(writer) == owner_value(me) {
            return Read::InsideOwnWrite;
        }
        // A writer on another processor has (or is taking) the lock and this is our first
        // read here: step aside so it can drain, then try again.
        count.store(0, Ordering::Release);
        if try_only {
            return Read::Busy;
        }
        backoff::<K, S>(storage);
        count.store(1, Ordering::Relaxed);
        reader_fence(storage.asymmetric());
        writer = storage.writer().load(READER_SEES_WRITER);
        if writer == 0 {
            return Read::Shared;
        }
    }
}

#[cold]
fn backoff<K: Kernel, S: RwStorage + ?Sized>(storage: &S) {
    while storage.writer().load(Ordering::Relaxed) != 0 {
        K::spin_hint();
    }
}

/// Releases a read acquisition of processor `me`, the caller's.
///
/// # Safety
///
/// The caller holds a read acquisition taken on processor `me` and runs there at
/// `DISPATCH_LEVEL`.
#[inline]
pub(crate) unsafe fn release_read<K: Kernel, S: RwStorage + ?Sized>(storage: &S, me: u32) {
    let count = counter::<K, S>(storage, me);
    // SAFETY: the caller's contract; `count` is processor `me`'s.
    unsafe { release_read_count::<K>(count, me, storage.address()) }
}

/// [`release_read`] for a caller that already holds processor `me`'s count of the lock at
/// `address` (a guard, whose processor was checked when it acquired).
///
/// # Safety
///
/// As [`release_read`].
#[inline]
pub(crate) unsafe fn release_read_count<K: Kernel>(count: &AtomicU32, me: u32, address: usize) {
    let held = count.load(Ordering::Relaxed);
    if held == 0 {
        violation::<K>(rw::RELEASE_ON_OTHER_PROCESSOR, me as usize, address, 0);
    }
    count.store(held - 1, READER_LEAVES);
}

/// Takes a write acquisition for processor `me`, the caller's (raised to `DISPATCH_LEVEL`).
/// With `try_only`, returns `None` instead of waiting for the spin lock or for readers.
///
/// # Safety
///
/// The caller runs at `DISPATCH_LEVEL` on processor `me` and stays there until the matching
/// [`release_write`].
#[inline]
pub(crate) unsafe fn acquire_write<K: Kernel, S: RwStorage + ?Sized>(
    storage: &S,
    me: u32,
    try_only: bool,
) -> Option<Kind> {
    let own = owner_value(me);
    let writer = storage.writer().load(Ordering::Relaxed);
    if owner_of(writer) == own {
        if writer >> DEPTH_SHIFT == usize::MAX >> DEPTH_SHIFT {
            // The depth would wrap into a depth of 0: the next release would free the lock.
            violation::<K>(rw::COUNT_OVERFLOW, storage.address(), me as usize, 1);
        }
        // Only the owner changes the depth of an owned lock.
        storage
            .writer()
            .store(writer + DEPTH_ONE, Ordering::Relaxed);
        return Some(Kind::RecursiveWrite);
    }
    // A processor without a reader slot (the legacy lock beyond MAXIMUM_PROCESSORS) never
    // holds a shared read, so it has nothing to promote; a writer needs no slot of its own.
    if storage
        .count(me)
        .is_some_and(|count| count.load(Ordering::Relaxed) != 0)
    {
        // Waiting for our own read to drain would never end: a self-deadlock on Windows.
        violation::<K>(
            rw::READ_TO_WRITE_PROMOTION,
            storage.address(),
            me as usize,
            0,
        );
    }
    if try_only {
        if !K::try_acquire_spin_lock_at_dpc(storage.spin_lock()) {
            return None;
        }
    } else {
        K::acquire_spin_lock_at_dpc(storage.spin_lock());
    }
    storage.writer().store(own, Ordering::Relaxed);
    // StoreLoad: the writer word must be visible before we read the counts (module docs).
    #[cfg(not(ndis_rwlock_mutation = "no_writer_fence"))]
    fence(Ordering::SeqCst);
    if storage.asymmetric() {
        // SAFETY: we hold the spin lock, taken above at DISPATCH_LEVEL, and published the
        // writer word.
        return unsafe { asymmetric_drain::<K, S>(storage, me, try_only) };
    }
    // The common case: no reader anywhere. The first count that is not zero hands over to
    // the out-of-line wait.
    for index in 0..storage.processors() {
        if index != me && counter::<K, S>(storage, index).load(WRITER_SEES_READERS) != 0 {
            // SAFETY: as above.
            return unsafe { drain_from::<K, S>(storage, me, index, try_only) };
        }
    }
    Some(Kind::Write)
}

/// The rest of [`acquire_write`] from processor `first` on: waits until every other
/// processor's count is zero. With `try_only`, gives the write acquisition back (writer word
/// and spin lock) and returns `None` at the first reader instead.
///
/// # Safety
///
/// The caller holds `storage`'s spin lock (taken at `DISPATCH_LEVEL` on processor `me`) and
/// has published its writer word.
#[cold]
#[inline(never)]
unsafe fn drain_from<K: Kernel, S: RwStorage + ?Sized>(
    storage: &S,
    me: u32,
    first: u32,
    try_only: bool,
) -> Option<Kind> {
    for index in first..storage.processors() {
        if index == me {
            continue;
        }
        let count = counter::<K, S>(storage, index);
        while count.load(WRITER_SEES_READERS) != 0 {
            if try_only {
                storage.writer().store(0, Ordering::Release);
                // SAFETY: the caller took the spin lock, at DISPATCH_LEVEL.
                unsafe { K::release_spin_lock_from_dpc(storage.spin_lock()) };
                return None;
            }
            K::spin_hint();
        }
    }
    Some(Kind::Write)
}

/// [`acquire_write`] of an asymmetric-mode lock after the writer word is published: the
/// barrier on every processor (microseconds, so out of line), then the wait for readers.
///
/// # Safety
///
/// As [`drain_from`].
#[inline(never)]
unsafe fn asymmetric_drain<K: Kernel, S: RwStorage + ?Sized>(
    storage: &S,
    me: u32,
    try_only: bool,
) -> Option<Kind> {
    // SAFETY: the caller's contract.
    unsafe { asymmetric_barrier::<K, S>(storage) };
    // SAFETY: the caller's contract.
    unsafe { drain_from::<K, S>(storage, me, 0, try_only) }
}

/// The writer's half of the asymmetric handshake (module docs): a barrier on every processor
/// after the writer word is published. Microseconds, so out of line.
///
/// # Safety
///
/// The caller holds `storage`'s spin lock (taken at `DISPATCH_LEVEL`) and has published its
/// writer word.
#[inline(never)]
unsafe fn asymmetric_barrier<K: Kernel, S: RwStorage + ?Sized>(storage: &S) {
    if !K::flush_process_write_buffers() {
        // Readers run without a fence; without the barrier we could miss one (module docs).
        // Give the lock back first, so that it stays usable where a stop can be caught.
        storage.writer().store(0, Ordering::Release);
        // SAFETY: the caller took the spin lock, at DISPATCH_LEVEL.
        unsafe { K::release_spin_lock_from_dpc(storage.spin_lock()) };
        violation::<K>(rw::PROCESS_BARRIER_FAILED, storage.address(), 0, 0);
    }
}

/// Releases a write acquisition of kind `kind` (`Write` or `RecursiveWrite`) by processor
/// `me`, the caller's.
///
/// # Safety
///
/// The caller runs at `DISPATCH_LEVEL` on processor `me`; it bug-checks unless `me` owns the
/// write lock at a depth that matches `kind`.
#[inline]
pub(crate) unsafe fn release_write<K: Kernel, S: RwStorage + ?Sized>(
    storage: &S,
    me: u32,
    kind: Kind,
) {
    let writer = storage.writer().load(Ordering::Relaxed);
    if owner_of(writer) != owner_value(me) {
        violation::<K>(
            rw::RELEASE_ON_OTHER_PROCESSOR,
            me as usize,
            storage.address(),
            writer,
        );
    }
    let depth = writer >> DEPTH_SHIFT;
    match (kind, depth) {
        (Kind::RecursiveWrite, 1..) => {
            storage
                .writer()
                .store(writer - DEPTH_ONE, Ordering::Relaxed);
        }
        (Kind::Write, 0) => {
            storage.writer().store(0, WRITER_LEAVES);
            // SAFETY: the outermost write acquisition took the spin lock on this processor.
            unsafe { K::release_spin_lock_from_dpc(storage.spin_lock()) };
        }
        _ => violation::<K>(rw::BAD_LOCK_STATE, depth, storage.address(), 0),
    }
}

/// Whether processor `me`, the caller's, holds what a release would undo: a read acquisition
/// (`write` is `None`), or the write lock at a depth that matches `write` (depth 0 for
/// [`Kind::Write`], deeper for [`Kind::RecursiveWrite`]). Lets a caller that knows what the
/// release is for (a `LOCK_STATE_EX`) reject a state that is no longer, or never was, live
/// before [`release_read`] or [`release_write`] would misreport it.
///
/// Stable without synchronisation: only processor `me` changes its count, and only the owner
/// changes the writer word while it owns it.
#[inline]
pub(crate) fn holds<K: Kernel, S: RwStorage + ?Sized>(
    storage: &S,
    me: u32,
    write: Option<Kind>,
) -> bool {
    match write {
        None => counter::<K, S>(storage, me).load(Ordering::Relaxed) != 0,
        Some(kind) => {
            let writer = storage.writer().load(Ordering::Relaxed);
            let depth = writer >> DEPTH_SHIFT;
            owner_of(writer) == owner_value(me)
                && match kind {
                    Kind::Write => depth == 0,
                    Kind::RecursiveWrite => depth > 0,
                }
        }
    }
}

/// A snapshot of a lock's state, in the spirit of `!ndiskd.ndisrwlock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    /// Read acquisitions held, summed over all processors.
    pub readers: u64,
    /// Processors that hold at least one read acquisition.
    pub reading_processors: ProcessorList,
    /// The processor that holds the write lock, if any.
    pub writer: Option<u32>,
    /// Write acquisitions held by the writer (1 + recursion depth), 0 when none.
    pub write_depth: u32,
    /// Reader slots (processors the lock was sized for).
    pub processors: u32,
}

/// Up to 64 processor indices, in increasing order, without an allocator (the crate is
/// `no_std` on Windows); `overflow` counts the processors that did not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorList {
    len: usize,
    items: [u32; 64],
    /// Processors that did not fit.
    pub overflow: u32,
}

impl Default for ProcessorList {
    fn default() -> Self {
        Self {
            len: 0,
            items: [0; 64],
            overflow: 0,
        }
    }
}

impl ProcessorList {
    fn push(&mut self, index: u32) {
        if let Some(item) = self.items.get_mut(self.len) {
            *item = index;
            self.len += 1;
        } else {
            self.overflow += 1;
        }
    }

    /// The processors listed.
    pub fn as_slice(&self) -> &[u32] {
        &self.items[..self.len]
    }
}

/// Reads the state of `storage` without taking it (racy by nature, like a debugger).
pub(crate) fn diagnostics<S: RwStorage + ?Sized>(storage: &S) -> Diagnostics {
    let mut readers = 0u64;
    let mut reading = ProcessorList::default();
    for index in 0..storage.processors() {
        if let Some(count) = storage.count(index) {
            let n = count.load(Ordering::Relaxed);
            if n != 0 {
                readers += u64::from(n);
                reading.push(index);
            }
        }
    }
    let writer = storage.writer().load(Ordering::Relaxed);
    let owner = owner_of(writer);
    Diagnostics {
        readers,
        reading_processors: reading,
        writer: (owner != 0).then(|| u32::try_from(owner - 1).unwrap_or(u32::MAX)),
        write_depth: if owner == 0 {
            0
        } else {
            u32::try_from((writer >> DEPTH_SHIFT) + 1).unwrap_or(u32::MAX)
        },
        processors: storage.processors(),
    }
}

/// Whether the lock is held at all (any reader or a writer).
pub(crate) fn is_held<S: RwStorage + ?Sized>(storage: &S) -> bool {
    storage.writer().load(Ordering::Acquire) != 0
        || (0..storage.processors())
            .filter_map(|i| storage.count(i))
            .any(|c| c.load(Ordering::Acquire) != 0)
}
