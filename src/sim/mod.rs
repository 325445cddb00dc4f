//! The simulated kernel: virtual processors, IRQL, spin locks, pool, critical regions, push
//! locks and a Driver-Verifier-style checker, so that every lock runs and is tested on Linux.
//!
//! # Machine model
//!
//! The machine has `N` virtual processors: `NDIS_SIM_PROCESSORS` if set, else the host's
//! available parallelism, and at least 2 (or whatever the first [`boot`] call asks for). Any
//! number of OS threads share them. A thread is attached on first use (no init call), gets a
//! unique identity and a home processor (round robin). The hardware rule holds exactly:
//!
//! - Below `DISPATCH_LEVEL` a thread owns no processor; [`Sim::current_processor`] reports
//!   its home processor, as a snapshot.
//! - Raising to `DISPATCH_LEVEL` or above takes its home processor exclusively: another
//!   thread of that processor that wants to raise waits (parks, as it would not be scheduled)
//!   until the owner drops below `DISPATCH_LEVEL`. Processors are handed over in FIFO order
//!   (a ticket lock), so a waiting thread gets the processor in bounded time even when the
//!   owner keeps lowering and re-raising.
//! - A thread that stays at `DISPATCH_LEVEL` past its watchdog limit ([`with_watchdog`])
//!   bug-checks 0x133 when it next spins ([`Sim::spin_hint`]) or lowers. One that blocks there
//!   instead is caught by the threads waiting for its processor: when it has been raised for
//!   twice its limit (and twice the machine's, [`set_watchdog`]), a waiter prints the 0x133
//!   line and the process aborts.
//! - [`run_on`] changes a thread's home processor for the duration of a closure (what
//!   `KeSetSystemAffinityThreadEx` does); [`dedicate`] binds the thread to a processor for as
//!   long as the returned guard lives, so that raising and lowering IRQL touch only
//!   thread-local state (no atomic read-modify-write): the mode benchmarks use.
//!
//! # Bug checks
//!
//! A bug check is a panic whose payload is a [`BugCheck`]; its line (`*** STOP: ...`) is also
//! printed to stderr. Rust tests catch it with [`catch_bug_check`]. Called through the C ABI,
//! the panic cannot unwind out of an `extern "system"` function, so the process aborts after
//! printing the line: the machine stops. Before unwinding, the bug-checking thread is reset
//! to `PASSIVE_LEVEL`, gives its processor back and leaves its critical regions, so that the
//! rest of the machine stays usable; the lock it misused is left as it was.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::bugcheck::{self, rw, verifier};
use crate::kernel::{DISPATCH_LEVEL, Irql, KSpinLock, Kernel, PASSIVE_LEVEL};

pub mod exports;
pub mod pool;
pub mod pushlock;

/// The simulated kernel, as a [`Kernel`] implementation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sim;

/// A stop of the simulated machine: the payload of the panic that [`Kernel::bug_check`]
/// raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BugCheck {
    /// The bug-check code (`KeBugCheckEx`'s first argument).
    pub code: u32,
    /// The four parameters.
    pub params: [usize; 4],
}

impl std::fmt::Display for BugCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [p1, p2, p3, p4] = self.params;
        write!(
            f,
            "*** STOP: 0x{:08X} (0x{:016X}, 0x{:016X}, 0x{:016X}, 0x{:016X}) {}",
            self.code,
            p1,
            p2,
            p3,
            p4,
            bugcheck::name(self.code)
        )
    }
}

impl std::error::Error for BugCheck {}

/// Runs `f` and returns the bug check it raised, or its value if it raised none.
///
/// A panic that is not a bug check is resumed.
pub fn catch_bug_check<R>(f: impl FnOnce() -> R) -> Result<R, BugCheck> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Ok(value),
        Err(payload) => match payload.downcast::<BugCheck>() {
            Ok(stop) => {
                THREAD.with(|t| t.stopping.set(false));
                Err(*stop)
            }
            Err(other) => std::panic::resume_unwind(other),
        },
    }
}

/// Runs `f`, which must bug-check, and returns the bug check.
///
/// # Panics
///
/// If `f` returns normally.
#[track_caller]
pub fn expect_bug_check<R>(f: impl FnOnce() -> R) -> BugCheck {
    match catch_bug_check(f) {
        Ok(_) => panic!("expected a bug check, but the call returned"),
        Err(stop) => stop,
    }
}

// ---------------------------------------------------------------------------------------------
// The machine.

/// Default limit for the time a thread may spend at `DISPATCH_LEVEL` or above before the
/// simulated DPC watchdog fires (0x133): generous, so a loaded 2-core host does not trip it.
pub const DEFAULT_WATCHDOG: Duration = Duration::from_secs(20);

struct Processor {
    /// Next ticket to hand out to a thread that wants this processor.
    next: AtomicU64,
    /// The ticket that owns the processor now.
    serving: AtomicU64,
    /// Identity of the owning thread, 0 when none (diagnostics only).
    owner: AtomicUsize,
    /// When the owner raised to `DISPATCH_LEVEL` (machine milliseconds), [`NO_WATCHDOG`] while
    /// the processor is free or dedicated: what a thread waiting for it checks.
    since_ms: AtomicU64,
    /// The owner's watchdog limit in milliseconds.
    limit_ms: AtomicU64,
}

/// `Processor::since_ms` when no watchdog runs on the processor.
const NO_WATCHDOG: u64 = u64::MAX;

struct Machine {
    processors: Box<[CachePadded<Processor>]>,
    next_home: AtomicU32,
    next_identity: AtomicUsize,
    watchdog_ms: AtomicU64,
    boot: Instant,
    /// Milliseconds since boot, advanced by the clock thread: a cheap clock for the watchdog.
    now_ms: AtomicU64,
    clock_started: AtomicBool,
}

static MACHINE: OnceLock<Machine> = OnceLock::new();

fn default_processor_count() -> u32 {
    std::env::var("NDIS_SIM_PROCESSORS")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
                .unwrap_or(2)
        })
        .clamp(2, 4096)
}

fn build(processors: u32) -> Machine {
    let watchdog = std::env::var("NDIS_SIM_WATCHDOG_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_WATCHDOG.as_millis() as u64);
    Machine {
        processors: (0..processors)
            .map(|_| {
                CachePadded::new(Processor {
                    next: AtomicU64::new(0),
                    serving: AtomicU64::new(0),
                    owner: AtomicUsize::new(0),
                    since_ms: AtomicU64::new(NO_WATCHDOG),
                    limit_ms: AtomicU64::new(0),
                })
            })
            .collect(),
        next_home: AtomicU32::new(0),
        next_identity: AtomicUsize::new(1),
        watchdog_ms: AtomicU64::new(watchdog),
        boot: Instant::now(),
        now_ms: AtomicU64::new(0),
        clock_started: AtomicBool::new(false),
    }
}

fn machine() -> &'static Machine {
    let m = MACHINE.get_or_init(|| build(default_processor_count()));
    if !m.clock_started.load(Ordering::Relaxed) && !m.clock_started.swap(true, Ordering::AcqRel) {
        std::thread::Builder::new()
            .name("ndis-sim-clock".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(1));
                    let now = u64::try_from(m.boot.elapsed().as_millis()).unwrap_or(u64::MAX);
                    m.now_ms.store(now, Ordering::Relaxed);
                }
            })
            .expect("the simulated kernel could not start its clock thread");
    }
    m
}

/// Boots the machine with `processors` virtual processors if it has not booted yet, and
/// returns the number it has.
///
/// The first use of the simulated kernel boots it with the default count (see the module
/// docs); a test binary that needs a given count calls `boot` first in every test.
pub fn boot(processors: u32) -> u32 {
    let _ = MACHINE.set(build(processors.clamp(2, 4096)));
    processor_count()
}

/// The number of virtual processors.
pub fn processor_count() -> u32 {
    u32::try_from(machine().processors.len()).unwrap_or(u32::MAX)
}

/// Sets the machine-wide DPC watchdog limit.
pub fn set_watchdog(limit: Duration) {
    machine().watchdog_ms.store(
        u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

/// Runs `f` with a DPC watchdog limit of `limit` for the current thread only.
pub fn with_watchdog<R>(limit: Duration, f: impl FnOnce() -> R) -> R {
    let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX).max(1);
    let old = THREAD.with(|t| t.watchdog_ms.replace(ms));
    struct Restore(u64);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD.with(|t| t.watchdog_ms.set(self.0));
        }
    }
    let _restore = Restore(old);
    f()
}

// ---------------------------------------------------------------------------------------------
// Threads.

const NO_PROCESSOR: u32 = u32::MAX;

struct ThreadState {
    identity: Cell<usize>,
    irql: Cell<Irql>,
    home: Cell<u32>,
    /// The processor owned while at DISPATCH_LEVEL or above, or NO_PROCESSOR.
    owned: Cell<u32>,
    dedicated: Cell<bool>,
    dispatch_since_ms: Cell<u64>,
    watchdog_ms: Cell<u64>,
    spins: Cell<u32>,
    apc_disable: Cell<u32>,
    /// Set by a bug check until `catch_bug_check` catches it: guards release nothing.
    stopping: Cell<bool>,
}

thread_local! {
    static THREAD: ThreadState = const {
        ThreadState {
            identity: Cell::new(0),
            irql: Cell::new(PASSIVE_LEVEL),
            home: Cell::new(0),
            owned: Cell::new(NO_PROCESSOR),
            dedicated: Cell::new(false),
            dispatch_since_ms: Cell::new(0),
            watchdog_ms: Cell::new(0),
            spins: Cell::new(0),
            apc_disable: Cell::new(0),
            stopping: Cell::new(false),
        }
    };
    static DETACH: Detach = const { Detach };
}

/// Checks, when a thread exits, that it did not leave its processor raised, and gives back
/// the processor of a thread that ends while dedicated (its binding was never dropped).
struct Detach;

impl Drop for Detach {
    fn drop(&mut self) {
        let irql = THREAD.try_with(|t| t.irql.get()).unwrap_or(PASSIVE_LEVEL);
        if irql >= DISPATCH_LEVEL {
            let stop = BugCheck {
                code: bugcheck::NDIS_RWLOCK_VIOLATION,
                params: [rw::THREAD_EXIT_AT_DISPATCH, usize::from(irql), 0, 0],
            };
            eprintln!("{stop}");
            std::process::abort();
        }
        let _ = THREAD.try_with(|t| {
            if t.dedicated.replace(false) {
                release_processor(t);
            }
        });
    }
}

#[inline]
fn with_thread<R>(f: impl FnOnce(&ThreadState) -> R) -> R {
    THREAD.with(|t| {
        if t.identity.get() == 0 {
            attach(t);
        }
        f(t)
    })
}

#[cold]
fn attach(t: &ThreadState) {
    let m = machine();
    t.identity
        .set(m.next_identity.fetch_add(1, Ordering::Relaxed));
    let n = u32::try_from(m.processors.len()).unwrap_or(u32::MAX);
    t.home.set(m.next_home.fetch_add(1, Ordering::Relaxed) % n);
    DETACH.with(|_| {});
}

/// The identity of the current thread: unique, never 0.
pub fn thread_identity() -> usize {
    with_thread(|t| t.identity.get())
}

/// The current thread's APC-disable count (critical-region depth).
pub fn critical_region_depth() -> u32 {
    with_thread(|t| t.apc_disable.get())
}

/// The thread that owns processor `index` (at `DISPATCH_LEVEL` or above), if any.
pub fn processor_owner(index: u32) -> Option<usize> {
    let p = machine().processors.get(index as usize)?;
    match p.owner.load(Ordering::Relaxed) {
        0 => None,
        id => Some(id),
    }
}

/// The number of threads waiting to take processor `index` (to raise to `DISPATCH_LEVEL`
/// there, or to dedicate themselves to it): a snapshot, for tests and diagnostics.
pub fn processor_waiters(index: u32) -> u64 {
    let Some(p) = machine().processors.get(index as usize) else {
        return 0;
    };
    let serving = p.serving.load(Ordering::SeqCst);
    // Tickets taken and not served yet, less the owner's (the one being served).
    p.next
        .load(Ordering::SeqCst)
        .saturating_sub(serving)
        .saturating_sub(1)
}

/// Bug-checks an affinity request the machine cannot honour: for a processor that does not
/// exist, at `DISPATCH_LEVEL` or above, or by a dedicated thread that would move
/// (`run_on` another processor) or bind itself twice (`dedicating`).
fn check_affinity(processor: u32, dedicating: bool) {
    let (irql, dedicated) =
        with_thread(|t| (t.irql.get(), t.dedicated.get().then(|| t.owned.get())));
    let rebinds = dedicated.is_some_and(|d| dedicating || d != processor);
    if processor >= processor_count() || irql >= DISPATCH_LEVEL || rebinds {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [
                rw::BAD_AFFINITY,
                processor as usize,
                usize::from(irql),
                dedicated.map_or(0, |d| d as usize + 1),
            ],
        );
    }
}

/// Runs `f` with the current thread's home processor set to `processor`: every raise to
/// `DISPATCH_LEVEL` inside `f` runs there. Call below `DISPATCH_LEVEL`; a dedicated thread may
/// only name the processor it is dedicated to.
pub fn run_on<R>(processor: u32, f: impl FnOnce() -> R) -> R {
    check_affinity(processor, false);
    let old = with_thread(|t| t.home.replace(processor));
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD.with(|t| t.home.set(self.0));
        }
    }
    let _restore = Restore(old);
    f()
}

/// The current thread's binding to one processor; see [`dedicate`].
#[must_use = "the binding ends when the guard is dropped"]
#[derive(Debug)]
pub struct Dedication {
    processor: u32,
    old_home: u32,
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Binds the current thread to `processor` until the returned guard drops: it takes the
/// processor once, and from then on raising and lowering IRQL only touch thread-local state.
/// Other threads that want the processor wait until the binding ends. Call below
/// `DISPATCH_LEVEL`, and not while the thread is dedicated already.
pub fn dedicate(processor: u32) -> Dedication {
    check_affinity(processor, true);
    let old_home = with_thread(|t| {
        let old = t.home.replace(processor);
        acquire_processor(t, false);
        t.dedicated.set(true);
        old
    });
    Dedication {
        processor,
        old_home,
        _not_send: std::marker::PhantomData,
    }
}

impl Dedication {
    /// The processor the thread is bound to.
    pub fn processor(&self) -> u32 {
        self.processor
    }
}

impl Drop for Dedication {
    fn drop(&mut self) {
        with_thread(|t| {
            if t.dedicated.replace(false) {
                if t.irql.get() < DISPATCH_LEVEL {
                    release_processor(t);
                } // else: the processor is released when the thread lowers.
                t.home.set(self.old_home);
            }
        });
    }
}

/// How often a thread parked for a processor looks at the owner's watchdog.
const WAITER_POLL: Duration = Duration::from_millis(100);

/// Takes the thread's home processor (a ticket lock: first come, first served). `raising`:
/// for a raise to `DISPATCH_LEVEL`, whose time there threads waiting for the processor watch;
/// else for [`dedicate`].
fn acquire_processor(t: &ThreadState, raising: bool) {
    let index = t.home.get();
    let p = &machine().processors[index as usize];
    let ticket = p.next.fetch_add(1, Ordering::SeqCst);
    let mut spins = 0u32;
    while p.serving.load(Ordering::SeqCst) != ticket {
        if spins < 64 {
            spins += 1;
            std::hint::spin_loop();
        } else if spins < 80 {
            spins += 1;
            std::thread::yield_now();
        } else {
            let key = std::ptr::from_ref(p) as usize;
            // SAFETY: the key is the processor's address, unique to it; the closures do not
            // call into parking_lot_core or panic.
            unsafe {
                parking_lot_core::park(
                    key,
                    || p.serving.load(Ordering::SeqCst) != ticket,
                    || {},
                    |_, _| {},
                    parking_lot_core::DEFAULT_PARK_TOKEN,
                    Some(Instant::now() + WAITER_POLL),
                );
            }
            check_owner_watchdog(p);
        }
    }
    p.owner.store(t.identity.get(), Ordering::Relaxed);
    if raising {
        p.limit_ms.store(watchdog_limit(t), Ordering::Relaxed);
        p.since_ms.store(now_ms(), Ordering::Release);
    }
    t.owned.set(index);
}

/// Stops the machine when a thread waits for a processor whose owner has stayed at
/// `DISPATCH_LEVEL` for twice its watchdog limit (and at least twice the machine's): the owner
/// neither spins nor lowers (it blocks), so its own checks never run; on Windows the DPC
/// watchdog's clock interrupt catches it. The margin leaves an owner that does spin or lower
/// the time to stop itself; the machine's limit as a floor keeps a short per-thread limit,
/// which a test sets to see its own thread stopped, from stopping the machine. The waiter
/// holds a ticket of the processor and cannot unwind, so the process stops, as through the
/// C ABI.
#[cold]
fn check_owner_watchdog(p: &Processor) {
    let since = p.since_ms.load(Ordering::Acquire);
    if since == NO_WATCHDOG {
        return;
    }
    let limit = p
        .limit_ms
        .load(Ordering::Relaxed)
        .max(machine().watchdog_ms.load(Ordering::Relaxed));
    let elapsed = now_ms().saturating_sub(since);
    if elapsed > limit.saturating_mul(2) {
        let stop = BugCheck {
            code: bugcheck::DPC_WATCHDOG_VIOLATION,
            params: [1, elapsed as usize, limit as usize, 0],
        };
        eprintln!("{stop}");
        std::process::abort();
    }
}

fn release_processor(t: &ThreadState) {
    let index = t.owned.replace(NO_PROCESSOR);
    if index == NO_PROCESSOR {
        return;
    }
    let p = &machine().processors[index as usize];
    p.owner.store(0, Ordering::Relaxed);
    p.since_ms.store(NO_WATCHDOG, Ordering::Relaxed);
    let serving = p.serving.fetch_add(1, Ordering::SeqCst) + 1;
    if p.next.load(Ordering::SeqCst) > serving {
        let key = std::ptr::from_ref(p) as usize;
        // SAFETY: same key as the parking side; no callbacks.
        unsafe {
            parking_lot_core::unpark_all(key, parking_lot_core::DEFAULT_UNPARK_TOKEN);
        }
    }
}

fn now_ms() -> u64 {
    machine().now_ms.load(Ordering::Relaxed)
}

fn watchdog_limit(t: &ThreadState) -> u64 {
    match t.watchdog_ms.get() {
        0 => machine().watchdog_ms.load(Ordering::Relaxed),
        ms => ms,
    }
}

fn check_watchdog(t: &ThreadState) {
    let elapsed = now_ms().saturating_sub(t.dispatch_since_ms.get());
    let limit = watchdog_limit(t);
    if elapsed > limit {
        Sim::bug_check(
            bugcheck::DPC_WATCHDOG_VIOLATION,
            [1, elapsed as usize, limit as usize, 0],
        );
    }
}

/// Puts the thread back to a clean state after a bug check, so the machine stays usable.
fn reset_after_stop(t: &ThreadState) {
    if t.irql.get() >= DISPATCH_LEVEL && !t.dedicated.get() {
        release_processor(t);
    }
    t.irql.set(PASSIVE_LEVEL);
    t.apc_disable.set(0);
    t.stopping.set(true);
    pushlock::forget_held();
}

// SAFETY: a thread at DISPATCH_LEVEL or above owns its processor (ticket lock) and keeps the
// index until it lowers; the spin lock is a compare-exchange lock with acquire/release
// ordering; bug_check panics and never returns.
unsafe impl Kernel for Sim {
    #[inline]
    fn current_irql() -> Irql {
        with_thread(|t| t.irql.get())
    }

    #[inline]
    unsafe fn raise_irql(new: Irql) -> Irql {
        with_thread(|t| {
            let old = t.irql.get();
            if new < old {
                Sim::bug_check(
                    bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
                    [
                        verifier::RAISE_TO_LOWER,
                        usize::from(old),
                        usize::from(new),
                        0,
                    ],
                );
            }
            if old < DISPATCH_LEVEL && new >= DISPATCH_LEVEL {
                if !t.dedicated.get() {
                    acquire_processor(t, true);
                }
                t.dispatch_since_ms.set(now_ms());
            }
            t.irql.set(new);
            old
        })
    }

    #[inline]
    unsafe fn lower_irql(new: Irql) {
        with_thread(|t| {
            let old = t.irql.get();
            if new > old {
                Sim::bug_check(
                    bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
                    [
                        verifier::LOWER_TO_HIGHER,
                        usize::from(old),
                        usize::from(new),
                        0,
                    ],
                );
            }
            if old >= DISPATCH_LEVEL && new < DISPATCH_LEVEL {
                check_watchdog(t);
                t.irql.set(new);
                if !t.dedicated.get() {
                    release_processor(t);
                }
            } else {
                t.irql.set(new);
            }
        });
    }

    #[inline]
    fn current_processor() -> u32 {
        with_thread(|t| match t.owned.get() {
            NO_PROCESSOR => t.home.get(),
            owned => owned,
        })
    }

    fn max_processors() -> u32 {
        processor_count()
    }

    fn initialize_spin_lock(lock: &KSpinLock) {
        lock.0.store(0, Ordering::Release);
    }

    fn acquire_spin_lock(lock: &KSpinLock) -> Irql {
        let irql = Sim::current_irql();
        if irql > DISPATCH_LEVEL {
            Sim::bug_check(
                bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [
                    verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH,
                    usize::from(irql),
                    lock.as_ptr() as usize,
                    0,
                ],
            );
        }
        // SAFETY: raising to DISPATCH_LEVEL from at most DISPATCH_LEVEL.
        let old = unsafe { Sim::raise_irql(DISPATCH_LEVEL) };
        Sim::acquire_spin_lock_at_dpc(lock);
        old
    }

    unsafe fn release_spin_lock(lock: &KSpinLock, old: Irql) {
        let irql = Sim::current_irql();
        if irql != DISPATCH_LEVEL {
            Sim::bug_check(
                bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [
                    verifier::RELEASE_SPIN_LOCK_BAD_IRQL,
                    usize::from(irql),
                    lock.as_ptr() as usize,
                    usize::from(old),
                ],
            );
        }
        // SAFETY: the caller owns the lock and we are at DISPATCH_LEVEL (checked above).
        unsafe { Sim::release_spin_lock_from_dpc(lock) };
        // SAFETY: `old` came from the matching acquire, so it is at most DISPATCH_LEVEL.
        unsafe { Sim::lower_irql(old) };
    }

    fn acquire_spin_lock_at_dpc(lock: &KSpinLock) {
        let (irql, me) = with_thread(|t| (t.irql.get(), t.identity.get()));
        if irql < DISPATCH_LEVEL {
            Sim::bug_check(
                bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [
                    verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH,
                    usize::from(irql),
                    lock.as_ptr() as usize,
                    0,
                ],
            );
        }
        loop {
            match lock
                .0
                .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(owner) if owner == me => Sim::bug_check(
                    bugcheck::SPIN_LOCK_ALREADY_OWNED,
                    [lock.as_ptr() as usize, me, 0, 0],
                ),
                Err(_) => {
                    while lock.0.load(Ordering::Relaxed) != 0 {
                        Sim::spin_hint();
                    }
                }
            }
        }
    }

    fn try_acquire_spin_lock_at_dpc(lock: &KSpinLock) -> bool {
        let (irql, me) = with_thread(|t| (t.irql.get(), t.identity.get()));
        if irql < DISPATCH_LEVEL {
            Sim::bug_check(
                bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [
                    verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH,
                    usize::from(irql),
                    lock.as_ptr() as usize,
                    0,
                ],
            );
        }
        match lock
            .0
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => true,
            Err(owner) if owner == me => Sim::bug_check(
                bugcheck::SPIN_LOCK_ALREADY_OWNED,
                [lock.as_ptr() as usize, me, 0, 0],
            ),
            Err(_) => false,
        }
    }

    unsafe fn release_spin_lock_from_dpc(lock: &KSpinLock) {
        let (irql, me) = with_thread(|t| (t.irql.get(), t.identity.get()));
        if irql < DISPATCH_LEVEL {
            Sim::bug_check(
                bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [
                    verifier::RELEASE_FROM_DPC_BELOW_DISPATCH,
                    usize::from(irql),
                    lock.as_ptr() as usize,
                    0,
                ],
            );
        }
        if let Err(owner) = lock
            .0
            .compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed)
        {
            Sim::bug_check(
                bugcheck::SPIN_LOCK_NOT_OWNED,
                [lock.as_ptr() as usize, owner, me, 0],
            );
        }
    }

    fn allocate_nonpaged(size: usize, tag: u32) -> *mut u8 {
        pool::allocate(size, tag)
    }

    unsafe fn free_pool(ptr: *mut u8, tag: u32) {
        pool::free(ptr, tag);
    }

    fn enter_critical_region() {
        with_thread(|t| t.apc_disable.set(t.apc_disable.get() + 1));
    }

    unsafe fn leave_critical_region() {
        let depth = with_thread(|t| t.apc_disable.get());
        if depth == 0 {
            Sim::bug_check(
                bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [verifier::LEAVE_CRITICAL_REGION_UNBALANCED, 0, 0, 0],
            );
        }
        with_thread(|t| t.apc_disable.set(depth - 1));
    }

    unsafe fn initialize_push_lock(lock: &crate::kernel::ExPushLock) {
        pushlock::initialize(lock);
    }

    fn acquire_push_lock_exclusive(lock: &crate::kernel::ExPushLock, flags: u32) {
        pushlock::acquire(lock, flags, true);
    }

    fn acquire_push_lock_shared(lock: &crate::kernel::ExPushLock, flags: u32) {
        pushlock::acquire(lock, flags, false);
    }

    unsafe fn release_push_lock_exclusive(lock: &crate::kernel::ExPushLock, flags: u32) {
        pushlock::release(lock, flags, true);
    }

    unsafe fn release_push_lock_shared(lock: &crate::kernel::ExPushLock, flags: u32) {
        pushlock::release(lock, flags, false);
    }

    #[inline]
    fn spin_hint() {
        std::hint::spin_loop();
        with_thread(|t| {
            let n = t.spins.get().wrapping_add(1);
            t.spins.set(n);
            if n % 64 == 0 {
                // More simulated processors than host cores: let the thread we wait for run.
                std::thread::yield_now();
                if t.irql.get() >= DISPATCH_LEVEL {
                    check_watchdog(t);
                }
            }
        });
    }

    #[inline]
    fn stopping() -> bool {
        THREAD.with(|t| t.stopping.get())
    }

    #[cold]
    fn bug_check(code: u32, params: [usize; 4]) -> ! {
        let stop = BugCheck { code, params };
        eprintln!("{stop}");
        THREAD.with(reset_after_stop);
        std::panic::panic_any(stop)
    }
}
