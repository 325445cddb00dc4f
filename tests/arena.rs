//! The per-processor arena of `NDIS_RW_LOCK_EX` reader counts (`src/storage/ex/arena.rs`) on a
//! machine with 640 processor slots: index reuse, growth by sets, allocation failure, the
//! unload check, cache-line separation and the pool a large number of locks takes.
//!
//! One machine per test binary, and the arena is process-wide: the tests run one at a time.

use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ndis_rwlock::RwLockEx;
use ndis_rwlock::ffi::rwlock_ex::{NdisAllocateRWLock, NdisFreeRWLock};
use ndis_rwlock::sim::{self, Sim, pool};
use ndis_rwlock::storage::ex::arena::{self, ARENA_TAG, CHUNK, LOCKS_PER_SET};
use ndis_rwlock::storage::ex::{NdisRwLockEx, RWLOCK_EX_TAG};

const PROCESSORS: u32 = 640;

static ALONE: Mutex<()> = Mutex::new(());

fn machine_alone() -> MutexGuard<'static, ()> {
    assert_eq!(sim::boot(PROCESSORS), PROCESSORS);
    let guard = ALONE.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(
        arena::stats::<Sim>(),
        arena::ArenaStats::default(),
        "a test leaked"
    );
    guard
}

fn allocate() -> NonNull<NdisRwLockEx> {
    NonNull::new(NdisAllocateRWLock(std::ptr::null_mut())).expect("the pool has room")
}

fn free(lock: NonNull<NdisRwLockEx>) {
    // SAFETY: allocated by `allocate`, not held, not used again.
    unsafe { NdisFreeRWLock(lock.as_ptr()) };
}

fn index(lock: NonNull<NdisRwLockEx>) -> u32 {
    // SAFETY: a live lock.
    unsafe { lock.as_ref() }.arena_index()
}

fn unload_is_clean() {
    assert_eq!(arena::stats::<Sim>(), arena::ArenaStats::default());
    pool::check_unload(ARENA_TAG);
    pool::check_unload(RWLOCK_EX_TAG);
}

#[test]
fn a_freed_index_is_the_next_one_handed_out() {
    let _m = machine_alone();
    let locks: Vec<_> = (0..5).map(|_| allocate()).collect();
    let indices: Vec<u32> = locks.iter().map(|&l| index(l)).collect();
    assert_eq!(indices, [0, 1, 2, 3, 4], "lowest free index first");
    free(locks[3]);
    free(locks[1]);
    let again = allocate();
    assert_eq!(index(again), 1, "the lowest freed index is reused");
    let next = allocate();
    assert_eq!(index(next), 3);
    assert_eq!(arena::stats::<Sim>().sets, 1, "reuse needs no new set");
    for lock in [locks[0], locks[2], locks[4], again, next] {
        free(lock);
    }
    unload_is_clean();
}

#[test]
fn a_full_set_grows_the_arena_and_an_empty_one_is_freed() {
    let _m = machine_alone();
    let first: Vec<_> = (0..LOCKS_PER_SET).map(|_| allocate()).collect();
    let stats = arena::stats::<Sim>();
    assert_eq!((stats.sets, stats.locks), (1, LOCKS_PER_SET as usize));
    assert_eq!(stats.bytes, arena::set_size(PROCESSORS));
    let extra = allocate();
    assert_eq!(
        arena::stats::<Sim>().sets,
        2,
        "a new set when indices run out"
    );
    assert_eq!(index(extra), 0);
    // An index freed in the first set is taken before the second set's next one.
    free(first[10]);
    let refill = allocate();
    assert_eq!(index(refill), 10);
    free(extra);
    assert_eq!(
        arena::stats::<Sim>().sets,
        1,
        "the empty set went back to the pool"
    );
    assert_eq!(pool::outstanding(ARENA_TAG).len(), 1);
    for (i, lock) in first.into_iter().enumerate() {
        if i != 10 {
            free(lock);
        }
    }
    free(refill);
    unload_is_clean();
}

#[test]
fn a_failed_set_allocation_returns_null_and_leaks_nothing() {
    let _m = machine_alone();
    // No set yet: the first lock needs one.
    pool::fail_next_allocations_tagged(ARENA_TAG, 1);
    assert!(NdisAllocateRWLock(std::ptr::null_mut()).is_null());
    unload_is_clean();
    // A full set: the next lock needs another.
    let full: Vec<_> = (0..LOCKS_PER_SET).map(|_| allocate()).collect();
    pool::fail_next_allocations_tagged(ARENA_TAG, 1);
    assert!(NdisAllocateRWLock(std::ptr::null_mut()).is_null());
    assert_eq!(arena::stats::<Sim>().sets, 1);
    assert_eq!(
        pool::outstanding(RWLOCK_EX_TAG).len(),
        LOCKS_PER_SET as usize
    );
    // The header's own allocation failing gives nothing to the arena either.
    pool::fail_next_allocations_tagged(RWLOCK_EX_TAG, 1);
    assert!(RwLockEx::<u32>::new(1).is_err());
    assert_eq!(arena::stats::<Sim>().locks, LOCKS_PER_SET as usize);
    // Only the injected failures failed.
    let extra = allocate();
    for lock in full.into_iter().chain([extra]) {
        free(lock);
    }
    unload_is_clean();
}

#[test]
fn no_two_processors_share_a_line_and_every_processor_reads_and_writes() {
    let _m = machine_alone();
    let a = RwLockEx::new(0u64).expect("the pool has room");
    let b = RwLockEx::new(0u64).expect("the pool has room");
    let mut lines = std::collections::HashSet::new();
    for lock in [&a, &b] {
        // SAFETY: the lock is live while `a` and `b` are.
        let raw = unsafe { &*lock.as_raw() };
        assert_eq!(
            raw.diagnostics().processors,
            PROCESSORS,
            "a slot per processor"
        );
        for p in 0..PROCESSORS {
            let address = raw.count_address(p).expect("a slot");
            assert_eq!(address % 4, 0);
            if p > 0 {
                assert_eq!(address - raw.count_address(p - 1).expect("a slot"), CHUNK);
            }
            lines.insert((address / 64, p));
        }
        assert_eq!(raw.count_address(PROCESSORS), None);
    }
    // Each line holds the counts of one processor only.
    let mut owner = std::collections::HashMap::new();
    for (line, p) in lines {
        assert_eq!(
            *owner.entry(line).or_insert(p),
            p,
            "line {line:#x} is shared"
        );
    }
    for p in [0, 1, 63, 64, 320, PROCESSORS - 1] {
        sim::run_on(p, || {
            let read = a.read();
            // SAFETY: live while `a` is.
            let diag = unsafe { &*a.as_raw() }.diagnostics();
            assert_eq!(diag.reading_processors.as_slice(), [p]);
            drop(read);
            *b.write() += 1;
        });
    }
    assert_eq!(*b.read(), 6);
    drop((a, b));
    unload_is_clean();
}

#[test]
fn ten_thousand_locks_at_640_slots_take_at_most_60_mb() {
    let _m = machine_alone();
    let locks: Vec<_> = (0..10_000).map(|_| allocate()).collect();
    let bytes: usize = pool::outstanding(ARENA_TAG)
        .iter()
        .chain(&pool::outstanding(RWLOCK_EX_TAG))
        .map(|a| a.size)
        .sum();
    assert!(bytes <= 60_000_000, "{bytes} bytes of pool");
    assert_eq!(
        bytes,
        10_000 * NdisRwLockEx::<Sim>::HEADER_ALLOCATION
            + 10_000usize.div_ceil(LOCKS_PER_SET as usize) * arena::set_size(PROCESSORS)
    );
    for lock in locks {
        free(lock);
    }
    unload_is_clean();
}
