//! The simulated push lock: `EX_PUSH_LOCK` in one pointer-sized word, with waiters that sleep,
//! and the checks Driver Verifier makes, plus bug checks where Windows would hang.
//!
//! # The lock word
//!
//! The bits have the meaning ReactOS documents for the Windows push lock:
//!
//! | bits | name | meaning |
//! |---|---|---|
//! | 0 | [`LOCKED`] | held, shared or exclusive |
//! | 1 | [`WAITING`] | threads wait (or are about to) in the lock's wait queue |
//! | 2 | [`WAKING`] | one releaser is waking waiters; other releasers leave it to that one |
//! | 3 | [`MULTIPLE_SHARED`] | held shared by more than one thread while threads wait |
//! | 4.. | share count | shared owners; 0 when free or held exclusively |
//!
//! Windows keeps the waiters in wait blocks on their stacks and, while threads wait, replaces
//! the share count with a pointer to the newest block. The simulation keeps its waiters in
//! `parking_lot_core`'s queue for the word's address instead, so the share count stays in the
//! word; [`MULTIPLE_SHARED`] keeps its Windows meaning (derived from the other fields).
//!
//! Every state the word takes satisfies the invariants Windows' own lock keeps (Waking implies
//! Waiting; MultipleShared implies Locked and Waiting; neither Locked nor Waiting means the
//! word is 0) and two of the simulation's (a share count implies Locked; MultipleShared is set
//! exactly when threads wait and the count is at least 2). [`violation`] names the first one a
//! word breaks. Every operation checks the word it loads and bug-checks `PUSH_LOCK_CORRUPT`
//! on a broken one; [`set_word_audit`] also counts and checks every word an operation writes.
//!
//! # Acquiring, waiting and waking
//!
//! - Exclusive: take the lock if [`LOCKED`] is clear, whatever else is set (not fair: a
//!   newcomer may overtake woken waiters). Otherwise sleep.
//! - Shared: join the owners if the lock is free or held shared and no thread waits. Once a
//!   thread waits, newcomers queue behind it: a queued exclusive waiter is not overtaken by
//!   new readers (writers are preferred once queued).
//! - A waiter parks only after setting [`WAITING`] with the wait queue locked, and only if the
//!   reason to wait still holds then; a releaser that frees the lock while [`WAITING`] is set
//!   sets [`WAKING`] (unless another releaser already has) and wakes, again with the queue
//!   locked, the oldest waiter if it is exclusive, or the oldest run of shared waiters. It
//!   clears [`WAKING`], and [`WAITING`] if the queue is now empty, in the same critical
//!   section. A woken thread retries; a woken reader may join shared owners although
//!   [`WAITING`] is still set (it was queued before the waiters still queued). So no wake-up
//!   is lost: whenever threads are queued and the lock is free, a wake is in progress or a
//!   woken thread is on its way to take the lock.
//!
//! # What the simulated verifier checks
//!
//! In this order, for each call: flags other than `EX_DEFAULT_PUSH_LOCK_FLAGS` (0x152); an
//! acquire above `APC_LEVEL` (0xC4/0x3B: it would block at `DISPATCH_LEVEL`) or a release
//! above `DISPATCH_LEVEL`; an acquire or release below `APC_LEVEL` outside a critical region
//! (0xC4/0xEA, 0xC4/0xEB; at `APC_LEVEL` normal kernel APCs are already masked); then the
//! hangs and corruptions of `bugcheck::rw` 0x20-0x27. The simulation knows which push locks a
//! thread holds: a push lock is released by the thread that acquired it, in the mode it
//! acquired it in. A bug check forgets the thread's push locks (the locks stay as they were).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};

use crate::bugcheck::{self, rw, verifier};
use crate::kernel::{APC_LEVEL, DISPATCH_LEVEL, EX_DEFAULT_PUSH_LOCK_FLAGS, ExPushLock, Kernel};
use crate::sim::Sim;
use crate::sync::{AtomicUsize, Ordering};

/// Bit 0: the lock is held, shared or exclusive.
pub const LOCKED: usize = 1 << 0;
/// Bit 1: threads wait in the lock's queue (or are about to park there).
pub const WAITING: usize = 1 << 1;
/// Bit 2: a releaser is waking waiters. Implies [`WAITING`].
pub const WAKING: usize = 1 << 2;
/// Bit 3: more than one shared owner while threads wait. Implies [`LOCKED`] and [`WAITING`].
pub const MULTIPLE_SHARED: usize = 1 << 3;
/// The share count starts at this bit.
pub const SHARE_SHIFT: u32 = 4;
const SHARE_ONE: usize = 1 << SHARE_SHIFT;
const SHARE_MASK: usize = !(SHARE_ONE - 1);

// The orderings of the word's transitions, named so that the loom mutation runs
// (scripts/loom-mutations.sh, `--cfg ndis_rwlock_mutation="..."`) can weaken each in turn and
// show that a model of tests/loom_pushlock.rs fails. What each one synchronises:
// - an acquire (exclusive or shared, fast or slow path) must see everything the previous
//   owner did under the lock: Acquire, pairing with the releases below;
// - a release (exclusive or shared, fast or slow path) publishes what its owner did:
//   Release;
// - nothing else: a waiter that sets WAITING and the waker that clears WAKING exchange their
//   news through the queue's own lock, and every write to the word after a release is a
//   read-modify-write, so it continues that release's release sequence: the next owner's
//   Acquire synchronises with the last release however many such updates came between. Those
//   two updates are therefore Relaxed; the mutation runs showed no model that needs more.

/// Exclusive acquires: fast-path and slow-path compare-exchanges.
const EXCLUSIVE_ACQUIRE: Ordering = if cfg!(ndis_rwlock_mutation = "push_exclusive_acquire_relaxed")
{
    Ordering::Relaxed
} else {
    Ordering::Acquire
};
/// Shared acquires: fast-path and slow-path compare-exchanges.
const SHARED_ACQUIRE: Ordering = if cfg!(ndis_rwlock_mutation = "push_shared_acquire_relaxed") {
    Ordering::Relaxed
} else {
    Ordering::Acquire
};
/// Exclusive releases: fast-path and slow-path compare-exchanges.
const EXCLUSIVE_RELEASE: Ordering = if cfg!(ndis_rwlock_mutation = "push_exclusive_release_relaxed")
{
    Ordering::Relaxed
} else {
    Ordering::Release
};
/// Shared releases: fast-path and slow-path compare-exchanges.
const SHARED_RELEASE: Ordering = if cfg!(ndis_rwlock_mutation = "push_shared_release_relaxed") {
    Ordering::Relaxed
} else {
    Ordering::Release
};
/// The number of shared owners a lock word records.
#[inline]
pub const fn shared_count(word: usize) -> usize {
    word >> SHARE_SHIFT
}

/// The first invariant `word` breaks, or `None` for a valid push-lock state.
pub const fn violation(word: usize) -> Option<&'static str> {
    let locked = word & LOCKED != 0;
    let waiting = word & WAITING != 0;
    let shares = shared_count(word);
    if word & WAKING != 0 && !waiting {
        Some("Waking without Waiting")
    } else if word & MULTIPLE_SHARED != 0 && !(locked && waiting) {
        Some("MultipleShared without Locked and Waiting")
    } else if !locked && !waiting && word != 0 {
        Some("neither Locked nor Waiting, but the word is not 0")
    } else if shares != 0 && !locked {
        Some("shared owners without Locked")
    } else if (word & MULTIPLE_SHARED != 0) != (waiting && shares >= 2) {
        Some("MultipleShared disagrees with the waiters and the share count")
    } else {
        None
    }
}

/// `word` with [`MULTIPLE_SHARED`] set exactly when threads wait and it has two or more
/// shared owners.
#[inline]
const fn derive(word: usize) -> usize {
    let word = word & !MULTIPLE_SHARED;
    if word & WAITING != 0 && shared_count(word) >= 2 {
        word | MULTIPLE_SHARED
    } else {
        word
    }
}

// ---------------------------------------------------------------------------------------------
// Auditing every written word (a test mode).

static AUDIT: AtomicBool = AtomicBool::new(false);
static AUDITED: AtomicU64 = AtomicU64::new(0);
static VIOLATIONS: AtomicU64 = AtomicU64::new(0);

/// Turns the audit mode on or off for the whole machine: while it is on, every word a push-lock
/// operation writes is checked against the invariants and counted (see [`word_audit`]). Under
/// loom it is always on.
pub fn set_word_audit(on: bool) {
    AUDIT.store(on, std::sync::atomic::Ordering::SeqCst);
}

/// `(checked, violations)`: the number of written words the audit mode has checked, and how
/// many of them broke an invariant, since the process started.
pub fn word_audit() -> (u64, u64) {
    (
        AUDITED.load(std::sync::atomic::Ordering::SeqCst),
        VIOLATIONS.load(std::sync::atomic::Ordering::SeqCst),
    )
}

#[inline]
fn audit(written: usize) {
    if cfg!(loom) || AUDIT.load(std::sync::atomic::Ordering::Relaxed) {
        audit_slow(written);
    }
}

#[cold]
fn audit_slow(written: usize) {
    AUDITED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if violation(written).is_some() {
        VIOLATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Loads the word for an operation to act on; a word that breaks an invariant is a fault.
#[inline]
fn load(word: &AtomicUsize) -> Result<usize, Fault> {
    let value = word.load(Ordering::Relaxed);
    match violation(value) {
        None => Ok(value),
        Some(_) => Err(Fault::Corrupt(value)),
    }
}

/// One compare-exchange step of an operation; audits the word it wrote.
#[inline]
fn step(word: &AtomicUsize, current: usize, new: usize, success: Ordering) -> bool {
    let done = word
        .compare_exchange_weak(current, new, success, Ordering::Relaxed)
        .is_ok();
    if done {
        audit(new);
    }
    done
}

// ---------------------------------------------------------------------------------------------
// The word state machine, over any wait queue.

/// How a thread wants the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Exclusive,
    Shared,
}

/// What a waker does with the next waiter of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    Wake,
    Stop,
}

/// Why an operation could not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The word breaks an invariant.
    Corrupt(usize),
    /// A release found the lock not held in that mode.
    NotHeld(usize),
    /// A shared acquire would have to wait, and its caller said it must not.
    MustNotWait(usize),
}

/// Where threads sleep while they wait for a lock word: a FIFO queue per word.
///
/// # Safety
///
/// `park` runs `validate` with the queue locked and, if it returns true, enqueues the thread in
/// the same critical section; `unpark` runs `select` (oldest waiter first) and `done` in one
/// critical section of the same lock, removes the selected waiters before `done`, and wakes
/// them after it. A parked thread returns only after being selected.
pub(crate) unsafe trait WaitQueue {
    /// Sleeps in `key`'s queue unless `validate` returns false; true if the thread slept and
    /// was woken.
    fn park(&self, key: usize, mode: Mode, validate: impl FnOnce() -> bool) -> bool;

    /// Wakes the waiters `select` picks, oldest first, until it says stop. `done` learns
    /// whether waiters remain.
    fn unpark(&self, key: usize, select: impl FnMut(Mode) -> Pick, done: impl FnOnce(bool));
}

#[inline]
fn key_of(word: &AtomicUsize) -> usize {
    core::ptr::from_ref(word) as usize
}

/// Whether a shared acquirer must wait: the lock is held exclusively, or (unless it was just
/// woken) other threads wait.
#[inline]
const fn shared_must_wait(word: usize, woken: bool) -> bool {
    let exclusive = word & LOCKED != 0 && shared_count(word) == 0;
    exclusive || (!woken && word & WAITING != 0)
}

/// Sets [`WAITING`] for a thread about to park, with the queue locked, if `must_wait` still
/// holds. Runs inside [`WaitQueue::park`]: must not panic.
fn prepare_wait(
    word: &AtomicUsize,
    must_wait: impl Fn(usize) -> bool,
    fault: &Cell<Option<usize>>,
) -> bool {
    loop {
        let current = word.load(Ordering::Relaxed);
        if violation(current).is_some() {
            fault.set(Some(current));
            return false;
        }
        if !must_wait(current) {
            return false;
        }
        if current & WAITING != 0 {
            return true;
        }
        if step(word, current, derive(current | WAITING), Ordering::Relaxed) {
            return true;
        }
    }
}

/// `ExAcquirePushLockExclusiveEx` on a raw word.
#[inline]
pub(crate) fn acquire_exclusive<Q: WaitQueue>(queue: &Q, word: &AtomicUsize) -> Result<(), Fault> {
    if word
        .compare_exchange(0, LOCKED, EXCLUSIVE_ACQUIRE, Ordering::Relaxed)
        .is_ok()
    {
        audit(LOCKED);
        return Ok(());
    }
    acquire_exclusive_slow(queue, word)
}

#[cold]
fn acquire_exclusive_slow<Q: WaitQueue>(queue: &Q, word: &AtomicUsize) -> Result<(), Fault> {
    let fault = Cell::new(None);
    loop {
        let current = load(word)?;
        if current & LOCKED == 0 {
            if step(word, current, current | LOCKED, EXCLUSIVE_ACQUIRE) {
                return Ok(());
            }
            continue;
        }
        queue.park(key_of(word), Mode::Exclusive, || {
            prepare_wait(word, |w| w & LOCKED != 0, &fault)
        });
        if let Some(bad) = fault.get() {
            return Err(Fault::Corrupt(bad));
        }
    }
}

/// `ExAcquirePushLockSharedEx` on a raw word. Before each wait, `may_wait` sees the word that
/// makes the thread wait; if it returns false the acquire fails with [`Fault::MustNotWait`].
#[inline]
pub(crate) fn acquire_shared<Q: WaitQueue>(
    queue: &Q,
    word: &AtomicUsize,
    may_wait: impl FnMut(usize) -> bool,
) -> Result<(), Fault> {
    if word
        .compare_exchange(0, LOCKED | SHARE_ONE, SHARED_ACQUIRE, Ordering::Relaxed)
        .is_ok()
    {
        audit(LOCKED | SHARE_ONE);
        return Ok(());
    }
    acquire_shared_slow(queue, word, may_wait)
}

#[cold]
fn acquire_shared_slow<Q: WaitQueue>(
    queue: &Q,
    word: &AtomicUsize,
    mut may_wait: impl FnMut(usize) -> bool,
) -> Result<(), Fault> {
    let fault = Cell::new(None);
    let mut woken = false;
    loop {
        let current = load(word)?;
        if !shared_must_wait(current, woken) {
            let Some(new) = (current | LOCKED).checked_add(SHARE_ONE) else {
                return Err(Fault::Corrupt(current));
            };
            if step(word, current, derive(new), SHARED_ACQUIRE) {
                return Ok(());
            }
            continue;
        }
        if !may_wait(current) {
            return Err(Fault::MustNotWait(current));
        }
        let slept = queue.park(key_of(word), Mode::Shared, || {
            prepare_wait(word, |w| shared_must_wait(w, woken), &fault)
        });
        if let Some(bad) = fault.get() {
            return Err(Fault::Corrupt(bad));
        }
        woken |= slept;
    }
}

/// The word after its last owner leaves, and whether the leaving thread must wake waiters.
#[inline]
const fn unlocked(word: usize) -> (usize, bool) {
    let free = word & !(LOCKED | SHARE_MASK);
    if free & WAITING != 0 && free & WAKING == 0 {
        (derive(free | WAKING), true)
    } else {
        (derive(free), false)
    }
}

/// `ExReleasePushLockExclusiveEx` on a raw word.
#[inline]
pub(crate) fn release_exclusive<Q: WaitQueue>(queue: &Q, word: &AtomicUsize) -> Result<(), Fault> {
    if word
        .compare_exchange(LOCKED, 0, EXCLUSIVE_RELEASE, Ordering::Relaxed)
        .is_ok()
    {
        audit(0);
        return Ok(());
    }
    release_exclusive_slow(queue, word)
}

#[cold]
fn release_exclusive_slow<Q: WaitQueue>(queue: &Q, word: &AtomicUsize) -> Result<(), Fault> {
    loop {
        let current = load(word)?;
        if current & LOCKED == 0 || shared_count(current) != 0 {
            return Err(Fault::NotHeld(current));
        }
        let (new, wake) = unlocked(current);
        if step(word, current, new, EXCLUSIVE_RELEASE) {
            return if wake {
                wake_waiters(queue, word)
            } else {
                Ok(())
            };
        }
    }
}

/// `ExReleasePushLockSharedEx` on a raw word.
#[inline]
pub(crate) fn release_shared<Q: WaitQueue>(queue: &Q, word: &AtomicUsize) -> Result<(), Fault> {
    if word
        .compare_exchange(LOCKED | SHARE_ONE, 0, SHARED_RELEASE, Ordering::Relaxed)
        .is_ok()
    {
        audit(0);
        return Ok(());
    }
    release_shared_slow(queue, word)
}

#[cold]
fn release_shared_slow<Q: WaitQueue>(queue: &Q, word: &AtomicUsize) -> Result<(), Fault> {
    loop {
        let current = load(word)?;
        let shares = shared_count(current);
        if current & LOCKED == 0 || shares == 0 {
            return Err(Fault::NotHeld(current));
        }
        let (new, wake) = if shares > 1 {
            (derive(current - SHARE_ONE), false)
        } else {
            unlocked(current)
        };
        if step(word, current, new, SHARED_RELEASE) {
            return if wake {
                wake_waiters(queue, word)
            } else {
                Ok(())
            };
        }
    }
}

/// Wakes the oldest waiter if it is exclusive, else the oldest run of shared waiters; then
/// clears [`WAKING`], and [`WAITING`] if nobody is left. Called only by the releaser that set
/// [`WAKING`].
#[cold]
fn wake_waiters<Q: WaitQueue>(queue: &Q, word: &AtomicUsize) -> Result<(), Fault> {
    let fault = Cell::new(None);
    let mut first = None;
    queue.unpark(
        key_of(word),
        |mode| match (first, mode) {
            (None, _) => {
                first = Some(mode);
                Pick::Wake
            }
            (Some(Mode::Shared), Mode::Shared) => Pick::Wake,
            _ => Pick::Stop,
        },
        |more| loop {
            let current = word.load(Ordering::Relaxed);
            // Only this waker clears Waking: without it, the word was overwritten.
            if violation(current).is_some() || current & WAKING == 0 {
                fault.set(Some(current));
                return;
            }
            let mut new = current & !WAKING;
            if !more {
                new &= !WAITING;
            }
            if step(word, current, derive(new), Ordering::Relaxed) {
                return;
            }
        },
    );
    match fault.get() {
        Some(bad) => Err(Fault::Corrupt(bad)),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The simulated kernel's wait queue: parking_lot_core, keyed by the word's address.

/// Threads parked per lock word (for tests that must know a thread sleeps).
static PARKED: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

fn count_parked(key: usize, parked: bool) {
    let mut map = PARKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let n = map.entry(key).or_insert(0);
    if parked {
        *n += 1;
    } else {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&key);
        }
    }
}

thread_local! {
    static SLEEPS: Cell<u64> = const { Cell::new(0) };
}

/// How many times the current thread has slept on a push lock (woken each time).
pub fn thread_sleeps() -> u64 {
    SLEEPS.with(Cell::get)
}

/// The number of threads asleep in `lock`'s wait queue (counting a woken thread until it
/// returns from its sleep).
pub fn parked_threads(lock: &ExPushLock) -> usize {
    let key = key_of(&lock.0);
    PARKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
        .copied()
        .unwrap_or(0)
}

/// The current value of `lock`'s word, for tests and diagnostics.
pub fn word(lock: &ExPushLock) -> usize {
    lock.0.load(Ordering::SeqCst)
}

struct ParkingLot;

const EXCLUSIVE_TOKEN: usize = 1;
const SHARED_TOKEN: usize = 2;

// SAFETY: parking_lot_core runs `validate` and enqueues under the bucket lock; `unpark_filter`
// runs the filter and the callback under that lock, removes the unparked threads before the
// callback and wakes them after it; parked threads return only when unparked (no timeout).
unsafe impl WaitQueue for ParkingLot {
    fn park(&self, key: usize, mode: Mode, validate: impl FnOnce() -> bool) -> bool {
        let token = match mode {
            Mode::Exclusive => EXCLUSIVE_TOKEN,
            Mode::Shared => SHARED_TOKEN,
        };
        // SAFETY: the key is the address of a push-lock word, which only this module parks on;
        // the callbacks touch only the word and the parked-thread table, neither of which
        // panics or calls into parking_lot_core.
        let result = unsafe {
            parking_lot_core::park(
                key,
                || {
                    let park = validate();
                    if park {
                        count_parked(key, true);
                    }
                    park
                },
                || {},
                |_, _| {},
                parking_lot_core::ParkToken(token),
                None,
            )
        };
        let slept = result.is_unparked();
        if slept {
            count_parked(key, false);
            SLEEPS.with(|n| n.set(n.get() + 1));
        }
        slept
    }

    fn unpark(&self, key: usize, mut select: impl FnMut(Mode) -> Pick, done: impl FnOnce(bool)) {
        // SAFETY: same key as the parking side; the filter and the callback only compute and
        // update the word, without panicking or calling into parking_lot_core.
        unsafe {
            parking_lot_core::unpark_filter(
                key,
                |token| {
                    let mode = if token.0 == EXCLUSIVE_TOKEN {
                        Mode::Exclusive
                    } else {
                        Mode::Shared
                    };
                    match select(mode) {
                        Pick::Wake => parking_lot_core::FilterOp::Unpark,
                        Pick::Stop => parking_lot_core::FilterOp::Stop,
                    }
                },
                |result| {
                    done(result.have_more_threads);
                    parking_lot_core::DEFAULT_UNPARK_TOKEN
                },
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The push locks each thread holds.

#[derive(Debug, Clone, Copy)]
struct Held {
    lock: usize,
    exclusive: bool,
    count: usize,
}

thread_local! {
    static HELD: RefCell<Vec<Held>> = const { RefCell::new(Vec::new()) };
}

/// How the current thread holds `lock`: `Some((exclusive, acquisitions))`.
fn held(lock: usize) -> Option<(bool, usize)> {
    HELD.with_borrow(|held| {
        held.iter()
            .find(|h| h.lock == lock)
            .map(|h| (h.exclusive, h.count))
    })
}

fn note_acquired(lock: usize, exclusive: bool) {
    HELD.with_borrow_mut(|held| match held.iter_mut().find(|h| h.lock == lock) {
        Some(h) => h.count += 1,
        None => held.push(Held {
            lock,
            exclusive,
            count: 1,
        }),
    });
}

/// Records a release; false if the thread does not hold `lock` in that mode.
fn note_released(lock: usize, exclusive: bool) -> bool {
    HELD.with_borrow_mut(|held| {
        let Some(i) = held
            .iter()
            .position(|h| h.lock == lock && h.exclusive == exclusive)
        else {
            return false;
        };
        held[i].count -= 1;
        if held[i].count == 0 {
            held.swap_remove(i);
        }
        true
    })
}

/// Forgets the push locks the current thread holds: part of putting a thread back to a clean
/// state after a bug check (the locks themselves stay as they were).
pub(crate) fn forget_held() {
    let _ = HELD.try_with(|held| held.borrow_mut().clear());
}

// ---------------------------------------------------------------------------------------------
// The routines of the simulated kernel.

fn check_flags(flags: u32, lock: usize) {
    if flags != EX_DEFAULT_PUSH_LOCK_FLAGS {
        Sim::bug_check(
            bugcheck::INVALID_PUSH_LOCK_FLAGS,
            [flags as usize, lock, 0, 0],
        );
    }
}

fn fault_stop(fault: Fault, lock: usize, exclusive: bool) -> ! {
    match fault {
        Fault::Corrupt(word) => Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [rw::PUSH_LOCK_CORRUPT, lock, word, 0],
        ),
        Fault::NotHeld(word) => Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [
                rw::PUSH_LOCK_RELEASE_NOT_HELD,
                lock,
                word,
                if exclusive { 1 } else { 2 },
            ],
        ),
        Fault::MustNotWait(word) => Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [
                rw::PUSH_LOCK_RECURSIVE_SHARED,
                lock,
                word,
                held(lock).map_or(0, |(_, n)| n),
            ],
        ),
    }
}

/// `ExInitializePushLock`.
pub(crate) fn initialize(lock: &ExPushLock) {
    lock.0.store(0, Ordering::Release);
    audit(0);
}

/// `ExAcquirePushLockExclusiveEx` (`exclusive`) or `ExAcquirePushLockSharedEx`.
pub(crate) fn acquire(lock: &ExPushLock, flags: u32, exclusive: bool) {
    let addr = lock.as_ptr() as usize;
    check_flags(flags, addr);
    let irql = Sim::current_irql();
    if irql > APC_LEVEL {
        Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::WAIT_AT_DISPATCH, usize::from(irql), addr, 0],
        );
    }
    let depth = crate::sim::critical_region_depth();
    if irql < APC_LEVEL && depth == 0 {
        Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::PUSH_LOCK_ACQUIRE_APCS_ENABLED,
                usize::from(irql),
                depth as usize,
                addr,
            ],
        );
    }
    let holding = held(addr);
    let misuse = match holding {
        Some((true, _)) if exclusive => Some(rw::PUSH_LOCK_RECURSIVE_EXCLUSIVE),
        Some((true, _)) => Some(rw::PUSH_LOCK_SHARED_INSIDE_EXCLUSIVE),
        Some((false, _)) if exclusive => Some(rw::PUSH_LOCK_SHARED_TO_EXCLUSIVE),
        // Windows deadlocks here as soon as an exclusive waiter queues between the two
        // acquisitions; whether one does is timing, so the stop does not wait for it.
        Some((false, _)) => Some(rw::PUSH_LOCK_RECURSIVE_SHARED),
        None => None,
    };
    if let Some(subcode) = misuse {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [subcode, addr, word(lock), holding.map_or(0, |(_, n)| n)],
        );
    }
    let result = if exclusive {
        acquire_exclusive(&ParkingLot, &lock.0)
    } else {
        // A thread that holds the lock shared must not queue behind a waiter that waits for it.
        acquire_shared(&ParkingLot, &lock.0, |_| holding.is_none())
    };
    match result {
        Ok(()) => note_acquired(addr, exclusive),
        Err(fault) => fault_stop(fault, addr, exclusive),
    }
}

/// `ExReleasePushLockExclusiveEx` (`exclusive`) or `ExReleasePushLockSharedEx`.
pub(crate) fn release(lock: &ExPushLock, flags: u32, exclusive: bool) {
    let addr = lock.as_ptr() as usize;
    check_flags(flags, addr);
    let irql = Sim::current_irql();
    if irql > DISPATCH_LEVEL {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [
                rw::PUSH_LOCK_RELEASE_ABOVE_DISPATCH,
                usize::from(irql),
                addr,
                0,
            ],
        );
    }
    let depth = crate::sim::critical_region_depth();
    if irql < APC_LEVEL && depth == 0 {
        Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::PUSH_LOCK_RELEASE_APCS_ENABLED,
                usize::from(irql),
                depth as usize,
                addr,
            ],
        );
    }
    if !note_released(addr, exclusive) {
        fault_stop(Fault::NotHeld(word(lock)), addr, exclusive);
    }
    let result = if exclusive {
        release_exclusive(&ParkingLot, &lock.0)
    } else {
        release_shared(&ParkingLot, &lock.0)
    };
    if let Err(fault) = result {
        fault_stop(fault, addr, exclusive);
    }
}

// ---------------------------------------------------------------------------------------------
// C exports.

/// Turns a C `PEX_PUSH_LOCK` into a reference, bug-checking on NULL or misalignment.
///
/// # Safety
///
/// A non-null, aligned `lock` points to a live `EX_PUSH_LOCK` for `'a`.
#[cfg(not(loom))]
unsafe fn push_lock<'a>(lock: *mut usize) -> &'a ExPushLock {
    if lock.is_null() {
        Sim::bug_check(bugcheck::NDIS_RWLOCK_VIOLATION, [rw::NULL_LOCK, 0, 0, 0]);
    }
    if !lock.is_aligned() {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [rw::PUSH_LOCK_MISALIGNED, lock as usize, 0, 0],
        );
    }
    // SAFETY: ExPushLock is a transparent AtomicUsize, which has the layout of usize; the
    // pointer is non-null and aligned (checked) and live (the caller's contract).
    unsafe { &*lock.cast::<ExPushLock>() }
}

/// `ExInitializePushLock`: stores a free push lock.
///
/// # Safety
///
/// `lock` is NULL or misaligned (a bug check), or points to writable, pointer-sized
/// storage that no thread holds or waits for.
#[cfg(not(loom))]
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ExInitializePushLock(lock: *mut usize) {
    // SAFETY: the caller's contract.
    initialize(unsafe { push_lock(lock) });
}

/// `ExAcquirePushLockExclusiveEx`.
///
/// # Safety
///
/// `lock` is NULL or misaligned (a bug check), or points to an initialised push lock.
#[cfg(not(loom))]
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ExAcquirePushLockExclusiveEx(lock: *mut usize, flags: u32) {
    // SAFETY: the caller's contract.
    acquire(unsafe { push_lock(lock) }, flags, true);
}

/// `ExAcquirePushLockSharedEx`.
///
/// # Safety
///
/// `lock` is NULL or misaligned (a bug check), or points to an initialised push lock.
#[cfg(not(loom))]
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ExAcquirePushLockSharedEx(lock: *mut usize, flags: u32) {
    // SAFETY: the caller's contract.
    acquire(unsafe { push_lock(lock) }, flags, false);
}

/// `ExReleasePushLockExclusiveEx`: a release by a thread that does not hold the lock
/// exclusively bug-checks.
///
/// # Safety
///
/// `lock` is NULL or misaligned (a bug check), or points to an initialised push lock.
#[cfg(not(loom))]
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ExReleasePushLockExclusiveEx(lock: *mut usize, flags: u32) {
    // SAFETY: the caller's contract.
    release(unsafe { push_lock(lock) }, flags, true);
}

/// `ExReleasePushLockSharedEx`: a release by a thread that does not hold the lock shared
/// bug-checks.
///
/// # Safety
///
/// `lock` is NULL or misaligned (a bug check), or points to an initialised push lock.
#[cfg(not(loom))]
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ExReleasePushLockSharedEx(lock: *mut usize, flags: u32) {
    // SAFETY: the caller's contract.
    release(unsafe { push_lock(lock) }, flags, false);
}

// ---------------------------------------------------------------------------------------------
// The same state machine under loom.

/// The push-lock word state machine of the simulated kernel, driven by loom: the same code,
/// with a wait queue made of loom primitives in place of `parking_lot_core`, so that loom can
/// explore every interleaving of acquire, wait, release and wake.
#[cfg(loom)]
pub mod model {
    use std::collections::VecDeque;

    use loom::sync::atomic::AtomicBool;
    use loom::sync::{Arc, Mutex};

    use super::{Mode, Pick, WaitQueue};
    use crate::kernel::ExPushLock;
    use crate::sync::Ordering;

    struct Waiter {
        mode: Mode,
        woken: AtomicBool,
        thread: loom::thread::Thread,
    }

    /// A FIFO wait queue for one push lock, made of a loom mutex and loom park/unpark.
    pub struct Queue {
        waiters: Mutex<VecDeque<Arc<Waiter>>>,
    }

    impl Queue {
        /// An empty queue.
        pub fn new() -> Self {
            Self {
                waiters: Mutex::new(VecDeque::new()),
            }
        }
    }

    impl Default for Queue {
        fn default() -> Self {
            Self::new()
        }
    }

    // SAFETY: `validate` runs and the waiter is enqueued under the queue mutex; `select` and
    // `done` run under it too, after the selected waiters are removed; they are woken after
    // the mutex is released, and a parked thread returns only once its `woken` flag is set.
    unsafe impl WaitQueue for Queue {
        fn park(&self, _key: usize, mode: Mode, validate: impl FnOnce() -> bool) -> bool {
            let me = {
                let mut waiters = self.waiters.lock().unwrap();
                if !validate() {
                    return false;
                }
                let me = Arc::new(Waiter {
                    mode,
                    woken: AtomicBool::new(false),
                    thread: loom::thread::current(),
                });
                waiters.push_back(me.clone());
                me
            };
            while !me.woken.load(Ordering::Acquire) {
                loom::thread::park();
            }
            true
        }

        fn unpark(
            &self,
            _key: usize,
            mut select: impl FnMut(Mode) -> Pick,
            done: impl FnOnce(bool),
        ) {
            let mut woken = Vec::new();
            {
                let mut waiters = self.waiters.lock().unwrap();
                while let Some(next) = waiters.front() {
                    match select(next.mode) {
                        Pick::Wake => woken.extend(waiters.pop_front()),
                        Pick::Stop => break,
                    }
                }
                done(!waiters.is_empty());
            }
            for waiter in woken {
                waiter.woken.store(true, Ordering::Release);
                waiter.thread.unpark();
            }
        }
    }

    /// Acquires `lock` exclusively, waiting in `queue`.
    ///
    /// # Panics
    ///
    /// If the word breaks an invariant.
    pub fn acquire_exclusive(queue: &Queue, lock: &ExPushLock) {
        super::acquire_exclusive(queue, &lock.0).expect("push-lock word corrupt");
    }

    /// Acquires `lock` shared, waiting in `queue`.
    ///
    /// # Panics
    ///
    /// If the word breaks an invariant.
    pub fn acquire_shared(queue: &Queue, lock: &ExPushLock) {
        super::acquire_shared(queue, &lock.0, |_| true).expect("push-lock word corrupt");
    }

    /// Releases an exclusive hold of `lock`, waking waiters in `queue`.
    ///
    /// # Panics
    ///
    /// If the lock is not held exclusively or the word breaks an invariant.
    pub fn release_exclusive(queue: &Queue, lock: &ExPushLock) {
        super::release_exclusive(queue, &lock.0).expect("exclusive release failed");
    }

    /// Releases a shared hold of `lock`, waking waiters in `queue`.
    ///
    /// # Panics
    ///
    /// If the lock is not held shared or the word breaks an invariant.
    pub fn release_shared(queue: &Queue, lock: &ExPushLock) {
        super::release_shared(queue, &lock.0).expect("shared release failed");
    }
}
