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
//! - **Keeping a processor.** A plain thread that drops below `DISPATCH_LEVEL` keeps its
//!   processor (its ticket stays served) while no other thread is in line for it, so that a
//!   thread that raises and lowers again and again, as C code around every
//!   `NdisAcquireRWLockRead`, pays no atomic read-modify-write and no fence for it. The next
//!   thread in line takes a kept processor: it revokes the keeper's lease (one compare-exchange
//!   on the processor), runs the process-wide barrier, waits until the keeper is below
//!   `DISPATCH_LEVEL`, and serves its own ticket; a keeper that rises again finds its lease
//!   revoked and queues like anyone else. The keeper's side of that handshake is a store and
//!   a load with no fence between (an asymmetric Dekker handshake, as the asymmetric-mode lock
//!   in `src/algorithm.rs`; on a host without the barrier both sides fence). A keeper that
//!   lowers while a thread is in line hands the processor over at once.
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
//! Inside [`catch_bug_check`], a bug check unwinds to it with a [`BugCheck`] as payload,
//! without the panic hook (nothing is printed): that is how Rust tests see stops. Before
//! unwinding, the bug-checking thread is reset to `PASSIVE_LEVEL`, gives its processor back and
//! leaves its critical regions, so that the rest of the machine stays usable; the lock it
//! misused is left as it was. Anywhere else (C code, any thread outside `catch_bug_check`) the
//! machine stops: the first stop of the process prints one line, `*** STOP: ...` and the
//! code's name, to stderr and aborts the process (`SIGABRT`); a concurrent stop prints nothing
//! and never returns. Nothing else is printed, whatever `RUST_BACKTRACE` says.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::bugcheck::{self, rw, verifier};
use crate::kernel::{DISPATCH_LEVEL, Irql, KSpinLock, Kernel, PASSIVE_LEVEL, Place};

pub mod dispatcher;
pub mod exports;
pub mod memory;
pub mod pool;
pub mod pushlock;
pub mod queued;
mod stop;
pub mod time;

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
/// Inside `f`, a bug check of this thread unwinds to here without the panic hook (no panic
/// message or backtrace) and is not printed; outside every `catch_bug_check`, a bug check
/// stops the process (see [`Kernel::bug_check`] on [`Sim`]). A panic that is not a bug check
/// is resumed.
pub fn catch_bug_check<R>(f: impl FnOnce() -> R) -> Result<R, BugCheck> {
    let catching = stop::catching();
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    drop(catching);
    match result {
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
    /// Identity of the thread whose ticket is served, 0 when none (diagnostics only; a plain
    /// thread that keeps the processor below `DISPATCH_LEVEL` stays here, see
    /// [`processor_owner`]).
    owner: AtomicUsize,
    /// Threads about to park, or parked, waiting for this processor: a release wakes them only
    /// when this is not zero (see `release_processor`).
    sleepers: AtomicU32,
    /// The lease of the plain thread that owns the processor's ticket and may keep it while
    /// it runs below `DISPATCH_LEVEL` (see "Keeping a processor"), or null.
    holder: AtomicPtr<Lease>,
}

/// Whether, and since when, a plain thread runs at `DISPATCH_LEVEL` on the processor it holds
/// or keeps: written only by that thread, read by a thread that takes the processor from it
/// and by threads that wait for it (the owner's watchdog). One per live thread; never freed,
/// because a taker may still read it after the thread is gone: an exited thread's lease goes
/// back to [`LEASES`] for the next thread that attaches (a taker that reads it then at worst
/// waits until that thread is below `DISPATCH_LEVEL`).
#[derive(Debug)]
struct Lease {
    /// The machine millisecond at which the thread rose to `DISPATCH_LEVEL`, or
    /// [`NO_WATCHDOG`] while it is below (the thread runs on the processor exactly while this
    /// is not `NO_WATCHDOG`).
    since_ms: AtomicU64,
    /// The thread's own watchdog limit in milliseconds ([`with_watchdog`]), 0 for the
    /// machine's.
    limit_ms: AtomicU64,
}

impl Lease {
    /// Whether the thread runs on the processor now.
    #[inline]
    fn active(&self) -> bool {
        self.since_ms.load(Ordering::Acquire) != NO_WATCHDOG
    }
}

impl Default for Lease {
    fn default() -> Self {
        Self {
            since_ms: AtomicU64::new(NO_WATCHDOG),
            limit_ms: AtomicU64::new(0),
        }
    }
}

/// Leases of exited threads, for reuse.
static LEASES: std::sync::Mutex<Vec<&'static CachePadded<Lease>>> =
    std::sync::Mutex::new(Vec::new());

/// A lease for a thread that attaches: a reused one, or a new one that is never freed.
fn new_lease() -> &'static CachePadded<Lease> {
    let reused = LEASES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop();
    reused.unwrap_or_else(|| Box::leak(Box::new(CachePadded::default())))
}

/// `Lease::since_ms` while the thread is below `DISPATCH_LEVEL`.
const NO_WATCHDOG: u64 = u64::MAX;

struct Machine {
    processors: Box<[CachePadded<Processor>]>,
    next_home: AtomicU32,
    next_identity: AtomicUsize,
    watchdog_ms: AtomicU64,
    boot: Instant,
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
                    sleepers: AtomicU32::new(0),
                    holder: AtomicPtr::new(std::ptr::null_mut()),
                })
            })
            .collect(),
        next_home: AtomicU32::new(0),
        next_identity: AtomicUsize::new(1),
        watchdog_ms: AtomicU64::new(watchdog),
        boot: Instant::now(),
        clock_started: AtomicBool::new(false),
    }
}

/// The machine, on the paths of a thread that is attached (so the machine has booted and its
/// clock runs): no start-up check.
#[inline]
fn booted() -> &'static Machine {
    match MACHINE.get() {
        Some(m) => m,
        None => machine(),
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
                    NOW_MS.store(now, Ordering::Relaxed);
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
    let old = THREAD.with(|t| {
        let old = t.watchdog_ms.replace(ms);
        publish_limit(t);
        old
    });
    struct Restore(u64);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD.with(|t| {
                t.watchdog_ms.set(self.0);
                publish_limit(t);
            });
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
    /// The IRQL. Raising and lowering store it whole, never derived from what they load, so
    /// that a raise/lower/raise sequence is not one chain of store-to-load forwards.
    irql: Cell<Irql>,
    /// The processor `current_processor` reports: the owned one, else the home one, or
    /// NO_PROCESSOR until the thread is attached.
    processor: Cell<u32>,
    home: Cell<u32>,
    /// The processor owned while at DISPATCH_LEVEL or above, or NO_PROCESSOR.
    owned: Cell<u32>,
    /// The processor a plain thread keeps below DISPATCH_LEVEL (its ticket still served), or
    /// NO_PROCESSOR; see "Keeping a processor".
    kept: Cell<u32>,
    /// The thread's lease, made when it attaches.
    lease: Cell<*const CachePadded<Lease>>,
    /// Whether the processor the thread owns or keeps has its lease as `holder`.
    leased: Cell<bool>,
    dedicated: Cell<bool>,
    /// `now_ms()` when the thread last rose to DISPATCH_LEVEL (for the DPC watchdog), with
    /// `SLOW_LOWER` set when the next lower below DISPATCH_LEVEL must give the processor back.
    dispatch_since_ms: Cell<u64>,
    watchdog_ms: Cell<u64>,
    spins: Cell<u32>,
    apc_disable: Cell<u32>,
    /// The guard word of the safe guard layer (`Kernel::guard_word`): kept per thread, which
    /// for its callers is the same as per processor (a thread with live guards owns its
    /// processor at DISPATCH_LEVEL, and only the last guard lets it go).
    guard: Cell<usize>,
    /// Set by a bug check while its unwinding runs: guards release nothing. Caught by
    /// `catch_bug_check`, or found stale by `stopping` once the unwinding is over.
    stopping: Cell<bool>,
    /// Process-wide barriers still to fail ([`fail_next_process_barriers`]).
    failing_barriers: Cell<u32>,
    /// The processor `home` names (`None` before the thread attaches): what the fast paths
    /// of a plain thread that keeps its processor use, instead of indexing the machine.
    home_at: Cell<Option<&'static Processor>>,
}

thread_local! {
    static THREAD: ThreadState = const {
        ThreadState {
            identity: Cell::new(0),
            irql: Cell::new(PASSIVE_LEVEL),
            processor: Cell::new(NO_PROCESSOR),
            home: Cell::new(0),
            owned: Cell::new(NO_PROCESSOR),
            kept: Cell::new(NO_PROCESSOR),
            lease: Cell::new(std::ptr::null()),
            leased: Cell::new(false),
            dedicated: Cell::new(false),
            dispatch_since_ms: Cell::new(0),
            watchdog_ms: Cell::new(0),
            spins: Cell::new(0),
            apc_disable: Cell::new(0),
            guard: Cell::new(0),
            stopping: Cell::new(false),
            failing_barriers: Cell::new(0),
            home_at: Cell::new(None),
        }
    };
    static DETACH: Detach = const { Detach };
}

impl ThreadState {
    #[inline]
    fn place(&self) -> Place {
        Place::new(self.irql.get(), self.processor.get())
    }

    #[inline]
    fn irql(&self) -> Irql {
        self.irql.get()
    }

    #[inline]
    fn set_irql(&self, irql: Irql) {
        self.irql.set(irql);
    }

    /// Makes `processor` the thread's home (a processor of the machine, which has booted).
    fn set_home(&self, processor: u32) {
        self.home.set(processor);
        self.home_at
            .set(booted().processors.get(processor as usize).map(|p| &**p));
        self.refresh_processor();
    }

    /// Recomputes `processor` after `home` or `owned` changed.
    fn refresh_processor(&self) {
        let processor = match self.owned.get() {
            NO_PROCESSOR => self.home.get(),
            owned => owned,
        };
        self.processor.set(processor);
    }
}

/// Checks, when a thread exits, that it did not leave its processor raised, and gives back
/// the processor of a thread that ends while dedicated (its binding was never dropped).
struct Detach;

impl Drop for Detach {
    fn drop(&mut self) {
        let irql = THREAD.try_with(ThreadState::irql).unwrap_or(PASSIVE_LEVEL);
        if irql >= DISPATCH_LEVEL {
            stop::halt(BugCheck {
                code: bugcheck::NDIS_RWLOCK_VIOLATION,
                params: [rw::THREAD_EXIT_AT_DISPATCH, usize::from(irql), 0, 0],
            });
        }
        let _ = THREAD.try_with(|t| {
            if t.dedicated.replace(false) {
                release_processor(t);
            }
            give_back_kept(t);
            let lease = t.lease.replace(std::ptr::null());
            if !lease.is_null() {
                // SAFETY: the lease came from `new_lease`, and is never freed.
                let padded = unsafe { &*lease };
                LEASES
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(padded);
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
    t.set_home(m.next_home.fetch_add(1, Ordering::Relaxed) % n);
    t.lease.set(new_lease());
    publish_limit(t);
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
    let owner = p.owner.load(Ordering::Relaxed);
    let holder = p.holder.load(Ordering::Acquire);
    // SAFETY: leases are never freed.
    if owner == 0 || unsafe { holder.as_ref() }.is_some_and(|lease| !lease.active()) {
        // Free, or kept by a plain thread that runs below DISPATCH_LEVEL.
        return None;
    }
    Some(owner)
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
    let old = with_thread(|t| {
        let old = t.home.get();
        t.set_home(processor);
        old
    });
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD.with(|t| t.set_home(self.0));
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
        let old = t.home.get();
        t.set_home(processor);
        give_back_kept(t);
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
                if t.irql() < DISPATCH_LEVEL {
                    release_processor(t);
                } else {
                    // The processor is released when the thread lowers.
                    t.dispatch_since_ms
                        .set(t.dispatch_since_ms.get() | SLOW_LOWER);
                }
                t.set_home(self.old_home);
            }
        });
    }
}

/// How often a thread parked for a processor looks at the owner's watchdog.
const WAITER_POLL: Duration = Duration::from_millis(100);

/// The barrier half of the asymmetric handshakes below: a barrier on every CPU of the
/// process if the host has one, else a full fence here (and the other side fences too; see
/// [`light_fence`]).
fn heavy_barrier() {
    if !host_barrier::run() {
        std::sync::atomic::fence(Ordering::SeqCst);
    }
}

/// The other half, on the fast paths: only the compiler's ordering when the host has the
/// process-wide barrier (the heavy side runs it), else a full fence.
#[inline]
fn light_fence() {
    if host_barrier::available() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        std::sync::atomic::fence(Ordering::SeqCst);
    }
}

/// Copies the thread's watchdog limit to its lease, for the threads that wait for its
/// processor.
fn publish_limit(t: &ThreadState) {
    // SAFETY: a lease from `new_lease`, never freed, or null (a thread not attached yet,
    // which publishes when it attaches).
    if let Some(lease) = unsafe { t.lease.get().as_ref() } {
        lease.limit_ms.store(t.watchdog_ms.get(), Ordering::Relaxed);
    }
}

/// The thread's lease.
#[inline]
fn lease_of(t: &ThreadState) -> &'static Lease {
    if t.lease.get().is_null() {
        // Given back by the thread's exit, yet the thread raises again (from another
        // thread-local's destructor): a lease of its own again.
        t.lease.set(new_lease());
        publish_limit(t);
    }
    // SAFETY: a lease from `new_lease` (just above, or when the thread attached), never freed.
    let padded: &'static CachePadded<Lease> = unsafe { &*t.lease.get() };
    padded
}

/// Takes the thread's home processor (a ticket lock: first come, first served). `raising`:
/// for a raise to `DISPATCH_LEVEL`, whose time there threads waiting for the processor watch,
/// by a plain thread that may keep the processor afterwards; else for [`dedicate`].
fn acquire_processor(t: &ThreadState, raising: bool) {
    let index = t.home.get();
    let p = &booted().processors[index as usize];
    let ticket = p.next.fetch_add(1, Ordering::SeqCst);
    let mut spins = 0u32;
    while p.serving.load(Ordering::SeqCst) != ticket {
        if try_take_kept(p, ticket) {
            break;
        }
        if spins < 64 {
            spins += 1;
            std::hint::spin_loop();
        } else if spins < 80 {
            spins += 1;
            std::thread::yield_now();
        } else {
            p.sleepers.fetch_add(1, Ordering::SeqCst);
            // The releaser stores `serving` and then loads `sleepers` with no fence between,
            // and a thread that keeps the processor stores its lease's `active` and then loads
            // `next`: this barrier is the other half of both handshakes. Either they see us,
            // or we see their store (and do not sleep).
            heavy_barrier();
            let key = std::ptr::from_ref(p) as usize;
            // SAFETY: the key is the processor's address, unique to it; the closures do not
            // call into parking_lot_core or panic.
            unsafe {
                parking_lot_core::park(
                    key,
                    || p.serving.load(Ordering::SeqCst) != ticket && !kept_idle(p, ticket),
                    || {},
                    |_, _| {},
                    parking_lot_core::DEFAULT_PARK_TOKEN,
                    Some(Instant::now() + WAITER_POLL),
                );
            }
            p.sleepers.fetch_sub(1, Ordering::Relaxed);
            check_owner_watchdog(p);
        }
    }
    p.owner.store(t.identity.get(), Ordering::Relaxed);
    if raising {
        let lease = lease_of(t);
        lease.since_ms.store(now_ms(), Ordering::Relaxed);
        p.holder
            .store(std::ptr::from_ref(lease).cast_mut(), Ordering::Release);
        t.leased.set(true);
    }
    t.owned.set(index);
    t.refresh_processor();
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
    let holder = p.holder.load(Ordering::Acquire);
    // SAFETY: leases are never freed. No holder: free, or dedicated (no watchdog).
    if let Some(lease) = unsafe { holder.as_ref() } {
        check_lease_watchdog(lease);
    }
}

/// [`check_owner_watchdog`] for the owner with lease `lease`.
#[cold]
fn check_lease_watchdog(lease: &Lease) {
    let since = lease.since_ms.load(Ordering::Acquire);
    if since == NO_WATCHDOG {
        return;
    }
    let limit = lease
        .limit_ms
        .load(Ordering::Relaxed)
        .max(machine().watchdog_ms.load(Ordering::Relaxed));
    let elapsed = now_ms().saturating_sub(since);
    if elapsed > limit.saturating_mul(2) {
        stop::halt(BugCheck {
            code: bugcheck::DPC_WATCHDOG_VIOLATION,
            params: [1, elapsed as usize, limit as usize, 0],
        });
    }
}

/// Whether the thread with `ticket`, next in line, could take the processor from a thread
/// that keeps it and does not run on it.
fn kept_idle(p: &Processor, ticket: u64) -> bool {
    if p.serving.load(Ordering::SeqCst).wrapping_add(1) != ticket {
        return false;
    }
    let holder = p.holder.load(Ordering::Acquire);
    // SAFETY: leases are never freed.
    !holder.is_null() && !unsafe { &*holder }.active()
}

/// For the thread with `ticket`: if it is next in line and the ticket being served belongs to
/// a plain thread that keeps the processor, revoke that thread's lease, wait until it no longer
/// runs on the processor, and serve `ticket`. Returns whether it did.
///
/// Why the kept thread cannot be running on the processor afterwards: its raise stores
/// its lease's `since_ms` and then loads `holder` (compiler fence only, [`light_fence`]); here
/// `holder` is cleared (a locked instruction), then the barrier runs on every CPU, then
/// `since_ms` is read. Either the barrier reached the kept thread before its store, and its
/// load (after the barrier) sees `holder` cleared and it backs off, or its store was drained
/// by the barrier and this wait sees it active until it lowers. The same argument, with `next`, covers a kept
/// thread that lowers and looks for waiters.
fn try_take_kept(p: &Processor, ticket: u64) -> bool {
    let serving = p.serving.load(Ordering::SeqCst);
    if serving.wrapping_add(1) != ticket {
        return false;
    }
    let holder = p.holder.load(Ordering::Acquire);
    if holder.is_null()
        || p.holder
            .compare_exchange(
                holder,
                std::ptr::null_mut(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
    {
        return false;
    }
    heavy_barrier();
    // SAFETY: leases are never freed.
    let lease = unsafe { &*holder };
    let mut spins = 0u32;
    while lease.active() {
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) {
            std::thread::sleep(Duration::from_micros(50));
            check_lease_watchdog(lease);
        } else {
            std::hint::spin_loop();
        }
    }
    // The lease was ours to revoke, so the kept thread will not touch `serving`.
    p.owner.store(0, Ordering::Relaxed);
    p.serving.store(ticket, Ordering::SeqCst);
    true
}

/// Gives processor `index`, whose ticket the thread holds, to the next thread in line: a plain
/// release store (only the ticket's holder moves `serving`), unless a thread in line took it
/// first (see [`try_take_kept`]).
fn give_back(t: &ThreadState, index: u32) {
    let p = &booted().processors[index as usize];
    if t.leased.replace(false) {
        let lease = std::ptr::from_ref(lease_of(t)).cast_mut();
        if p.holder
            .compare_exchange(
                lease,
                std::ptr::null_mut(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            // Taken by the next thread in line, which serves its own ticket.
            return;
        }
    }
    p.owner.store(0, Ordering::Relaxed);
    // A waiter that is going to sleep runs the barrier after it counts itself in `sleepers`
    // (see `acquire_processor`), so this load, kept after the store in program order, either
    // sees it or the waiter sees the new `serving`.
    let serving = p.serving.load(Ordering::Relaxed) + 1;
    p.serving.store(serving, Ordering::Release);
    light_fence();
    if p.sleepers.load(Ordering::Relaxed) != 0 {
        let key = std::ptr::from_ref(p) as usize;
        // SAFETY: same key as the parking side; no callbacks.
        unsafe {
            parking_lot_core::unpark_all(key, parking_lot_core::DEFAULT_UNPARK_TOKEN);
        }
    }
}

/// Gives back the processor the thread owns at `DISPATCH_LEVEL` (or is dedicated to).
#[inline(never)]
fn release_processor(t: &ThreadState) {
    let index = t.owned.replace(NO_PROCESSOR);
    if index == NO_PROCESSOR {
        return;
    }
    t.refresh_processor();
    lease_of(t).since_ms.store(NO_WATCHDOG, Ordering::Release);
    give_back(t, index);
}

/// Gives back the processor the thread keeps, if any.
fn give_back_kept(t: &ThreadState) {
    let index = t.kept.replace(NO_PROCESSOR);
    if index != NO_PROCESSOR {
        give_back(t, index);
    }
}

/// A plain thread dropping below `DISPATCH_LEVEL`: keeps its processor (no atomic
/// read-modify-write, no fence) unless another thread waits for it.
#[inline]
fn keep_processor(t: &ThreadState) {
    let index = t.owned.replace(NO_PROCESSOR);
    if index == NO_PROCESSOR {
        return;
    }
    let p = match t.home_at.get() {
        // The usual case: `processor` is `home` again, which it was.
        Some(home) if index == t.home.get() => home,
        _ => {
            t.refresh_processor();
            &booted().processors[index as usize]
        }
    };
    // `owner` stays: the thread's ticket is still served.
    lease_of(t).since_ms.store(NO_WATCHDOG, Ordering::Release);
    light_fence();
    if !t.leased.get()
        || p.next.load(Ordering::Relaxed) != p.serving.load(Ordering::Relaxed).wrapping_add(1)
    {
        // Someone is in line: hand over now rather than make it take the processor.
        hand_over(t, index);
    } else {
        t.kept.set(index);
    }
}

/// [`give_back`] from [`keep_processor`], out of its line: the rare case.
#[cold]
#[inline(never)]
fn hand_over(t: &ThreadState, index: u32) {
    give_back(t, index);
}

/// A plain thread rising to `DISPATCH_LEVEL` on the processor it kept: `true` if it still
/// holds it (nobody revoked the lease), with no atomic read-modify-write and no fence.
/// `false` (the caller then takes a processor the slow way) if it keeps none, keeps another
/// than its home (given back here), or lost it.
#[inline]
fn retake_kept(t: &ThreadState) -> bool {
    let index = t.kept.get();
    if index != t.home.get() {
        // Keeps nothing (or is not attached: `home` is always a processor), or moved home.
        if index != NO_PROCESSOR {
            give_back_kept(t);
        }
        return false;
    }
    let Some(p) = t.home_at.get() else {
        return false;
    };
    let lease = lease_of(t);
    // One store says both that the thread runs on the processor and since when (for the
    // owner's watchdog); `owner` still names the thread.
    lease.since_ms.store(now_ms(), Ordering::Relaxed);
    light_fence();
    if p.holder.load(Ordering::Acquire) != std::ptr::from_ref(lease).cast_mut() {
        lost_kept(t, lease);
        return false;
    }
    t.kept.set(NO_PROCESSOR);
    // `processor` is `home` already, which is `index`.
    t.owned.set(index);
    true
}

/// The kept processor was taken by the next thread in line while this one was below
/// `DISPATCH_LEVEL`.
#[cold]
#[inline(never)]
fn lost_kept(t: &ThreadState, lease: &Lease) {
    lease.since_ms.store(NO_WATCHDOG, Ordering::Release);
    t.kept.set(NO_PROCESSOR);
    t.leased.set(false);
}

/// Milliseconds since boot, as the clock thread last stored them (it starts with the machine,
/// which every thread attaches to before it can raise).
#[inline]
fn now_ms() -> u64 {
    NOW_MS.load(Ordering::Relaxed)
}

static NOW_MS: AtomicU64 = AtomicU64::new(0);

fn watchdog_limit(t: &ThreadState) -> u64 {
    match t.watchdog_ms.get() {
        0 => booted().watchdog_ms.load(Ordering::Relaxed),
        ms => ms,
    }
}

#[inline]
fn check_watchdog(t: &ThreadState) {
    let elapsed = now_ms().saturating_sub(t.dispatch_since_ms.get() & !SLOW_LOWER);
    // Within the millisecond it rose in (the common case) no limit can have passed.
    if elapsed == 0 {
        return;
    }
    let limit = watchdog_limit(t);
    if elapsed > limit {
        watchdog_expired(elapsed, limit);
    }
}

#[cold]
#[inline(never)]
fn watchdog_expired(elapsed: u64, limit: u64) -> ! {
    Sim::bug_check(
        bugcheck::DPC_WATCHDOG_VIOLATION,
        [1, elapsed as usize, limit as usize, 0],
    )
}

/// Whether the thread's stopping flag still stands: only while the bug check's unwinding
/// runs. A stop caught by something other than [`catch_bug_check`] (a plain `catch_unwind`)
/// leaves the flag set; once the thread no longer unwinds it is stale, and is cleared, so that
/// the thread's guards release what they hold again.
#[cold]
fn still_stopping(t: &ThreadState) -> bool {
    if std::thread::panicking() {
        return true;
    }
    t.stopping.set(false);
    false
}

/// Puts the thread back to a clean state after a bug check, so the machine stays usable.
fn reset_after_stop(t: &ThreadState) {
    if t.irql() >= DISPATCH_LEVEL && !t.dedicated.get() {
        release_processor(t);
    }
    t.set_irql(PASSIVE_LEVEL);
    t.apc_disable.set(0);
    t.guard.set(0);
    t.stopping.set(true);
    pushlock::forget_held();
}

// ---------------------------------------------------------------------------------------------
// The process-wide barrier (`Kernel::flush_process_write_buffers`).

/// Makes the calling thread's next `n` process-wide barriers fail, as on a host without
/// `membarrier`: an asymmetric-mode lock allocated then falls back to symmetric mode, and the
/// writer of an asymmetric-mode lock bug-checks.
pub fn fail_next_process_barriers(n: u32) {
    with_thread(|t| t.failing_barriers.set(n));
}

/// What the host offers for a barrier on every thread of the process.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod host_barrier {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU8, Ordering};

    use rustix::thread::{MembarrierCommand, membarrier, membarrier_query};

    static COMMAND: OnceLock<Option<MembarrierCommand>> = OnceLock::new();

    /// The first call registers for `MEMBARRIER_CMD_PRIVATE_EXPEDITED` (an IPI to the CPUs
    /// that run this process's threads, microseconds); if the host refuses, it falls back to
    /// `MEMBARRIER_CMD_GLOBAL` (an RCU grace period, milliseconds but always correct).
    fn command() -> Option<MembarrierCommand> {
        *COMMAND.get_or_init(|| {
            let supported = membarrier_query();
            if supported.contains_command(MembarrierCommand::PrivateExpedited)
                && membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok()
            {
                Some(MembarrierCommand::PrivateExpedited)
            } else if supported.contains_command(MembarrierCommand::Global) {
                Some(MembarrierCommand::Global)
            } else {
                None
            }
        })
    }

    /// Runs the barrier; `false` if the host has none.
    pub(super) fn run() -> bool {
        command().is_some_and(|cmd| membarrier(cmd).is_ok())
    }

    /// What [`available`] found: 0 not asked yet, 1 the barrier is there, 2 it is not. One
    /// byte, so that the fast paths that ask test one load.
    static AVAILABLE: AtomicU8 = AtomicU8::new(0);

    /// Whether the host has the barrier.
    #[inline]
    pub(super) fn available() -> bool {
        match AVAILABLE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => learn(),
        }
    }

    #[cold]
    fn learn() -> bool {
        let available = command().is_some();
        AVAILABLE.store(if available { 1 } else { 2 }, Ordering::Relaxed);
        available
    }
}

/// No process-wide barrier on this host: asymmetric-mode locks stay symmetric.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod host_barrier {
    pub(super) fn run() -> bool {
        false
    }

    pub(super) fn available() -> bool {
        false
    }
}

#[cold]
#[inline(never)]
fn raise_to_lower(old: Irql, new: Irql) -> ! {
    Sim::bug_check(
        bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::RAISE_TO_LOWER,
            usize::from(old),
            usize::from(new),
            0,
        ],
    )
}

#[cold]
#[inline(never)]
fn lower_to_higher(old: Irql, new: Irql) -> ! {
    Sim::bug_check(
        bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [
            verifier::LOWER_TO_HIGHER,
            usize::from(old),
            usize::from(new),
            0,
        ],
    )
}

#[cold]
#[inline(never)]
fn spin_lock_below_dispatch(subcode: usize, irql: Irql, lock: &KSpinLock) -> ! {
    Sim::bug_check(
        bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [subcode, usize::from(irql), lock.as_ptr() as usize, 0],
    )
}

#[cold]
#[inline(never)]
fn spin_lock_not_owned(lock: &KSpinLock, owner: usize, me: usize) -> ! {
    Sim::bug_check(
        bugcheck::SPIN_LOCK_NOT_OWNED,
        [lock.as_ptr() as usize, owner, me, 0],
    )
}

/// `KeAcquireSpinLockAtDpcLevel` when the lock was not free: spin until it is, or stop if
/// the caller already owns it (a hang on Windows).
#[cold]
#[inline(never)]
fn spin_lock_contended(lock: &KSpinLock, me: usize) {
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

/// `current_processor` of a thread not attached yet: attaches it.
#[cold]
#[inline(never)]
fn attached_processor() -> u32 {
    with_thread(|t| t.processor.get())
}

/// A raise to `new` (DISPATCH_LEVEL or above) from below by a thread that is not dedicated,
/// out of the dedicated threads' line: the processor it kept, else [`raise_undedicated`].
#[inline(never)]
fn raise_plain(t: &ThreadState, new: Irql) -> Irql {
    if retake_kept(t) {
        let old = t.irql();
        t.dispatch_since_ms.set(now_ms() | SLOW_LOWER);
        t.set_irql(new);
        return old;
    }
    raise_undedicated(t, new)
}

/// A raise to `new` (DISPATCH_LEVEL or above) from below by a thread that is not dedicated:
/// attach if needed, wait for the home processor. Returns the old IRQL.
#[inline(never)]
fn raise_undedicated(t: &ThreadState, new: Irql) -> Irql {
    if t.identity.get() == 0 {
        attach(t);
    }
    let old = t.irql();
    if !retake_kept(t) {
        acquire_processor(t, true);
    }
    t.dispatch_since_ms.set(now_ms() | SLOW_LOWER);
    t.set_irql(new);
    old
}

/// Set in `ThreadState::dispatch_since_ms` when the next lower below DISPATCH_LEVEL has more
/// to do than restore the IRQL: the thread is not dedicated, so it gives its processor back.
const SLOW_LOWER: u64 = 1 << 63;

/// A lower from DISPATCH_LEVEL or above to `new` below it, when the thread is not dedicated
/// or the clock moved since it rose: check the watchdog, keep or give the processor back.
#[inline(never)]
fn lower_below_dispatch(t: &ThreadState, new: Irql) {
    check_watchdog(t);
    t.set_irql(new);
    if !t.dedicated.get() {
        keep_processor(t);
    }
}

// SAFETY: a thread at DISPATCH_LEVEL or above owns its processor (ticket lock) and keeps the
// index until it lowers; the spin lock is a compare-exchange lock with acquire/release
// ordering; bug_check panics and never returns.
unsafe impl Kernel for Sim {
    #[inline]
    fn current_irql() -> Irql {
        // A thread not attached yet runs at PASSIVE_LEVEL: no need to attach it.
        THREAD.with(ThreadState::irql)
    }

    #[inline]
    unsafe fn raise_irql(new: Irql) -> Irql {
        THREAD.with(|t| {
            let old = t.irql();
            if new < old {
                raise_to_lower(old, new);
            }
            if old < DISPATCH_LEVEL && new >= DISPATCH_LEVEL {
                if !t.dedicated.get() {
                    return raise_plain(t, new);
                }
                t.dispatch_since_ms.set(now_ms());
            }
            t.set_irql(new);
            old
        })
    }

    #[inline]
    unsafe fn lower_irql(new: Irql) {
        THREAD.with(|t| {
            let old = t.irql();
            if new > old {
                lower_to_higher(old, new);
            }
            // A dedicated thread lowering within the clock's millisecond has nothing else to
            // do (the watchdog cannot have expired); `SLOW_LOWER` makes the others differ.
            if old >= DISPATCH_LEVEL
                && new < DISPATCH_LEVEL
                && now_ms() != t.dispatch_since_ms.get()
            {
                return lower_below_dispatch(t, new);
            }
            t.set_irql(new);
        });
    }

    #[inline]
    fn current_processor() -> u32 {
        let processor = THREAD.with(|t| t.processor.get());
        if processor == NO_PROCESSOR {
            return attached_processor();
        }
        processor
    }

    #[inline]
    fn current_place() -> Place {
        // For a thread not attached yet the processor is NO_PROCESSOR; it is below
        // DISPATCH_LEVEL, where the trait allows a placeholder.
        THREAD.with(ThreadState::place)
    }

    #[inline]
    fn guard_word(_processor: u32) -> usize {
        THREAD.with(|t| t.guard.get())
    }

    #[inline]
    unsafe fn set_guard_word(_processor: u32, word: usize) {
        THREAD.with(|t| t.guard.set(word));
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

    #[inline]
    fn acquire_spin_lock_at_dpc(lock: &KSpinLock) {
        // At DISPATCH_LEVEL a thread is always attached (raising attaches it): no need to
        // check before reading its identity.
        let (irql, me) = THREAD.with(|t| (t.irql(), t.identity.get()));
        if irql < DISPATCH_LEVEL {
            spin_lock_below_dispatch(verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH, irql, lock);
        }
        if lock
            .0
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spin_lock_contended(lock, me);
        }
    }

    fn try_acquire_spin_lock_at_dpc(lock: &KSpinLock) -> bool {
        let (irql, me) = THREAD.with(|t| (t.irql(), t.identity.get()));
        if irql < DISPATCH_LEVEL {
            spin_lock_below_dispatch(verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH, irql, lock);
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

    #[inline]
    unsafe fn release_spin_lock_from_dpc(lock: &KSpinLock) {
        let (irql, me) = THREAD.with(|t| (t.irql(), t.identity.get()));
        if irql < DISPATCH_LEVEL {
            spin_lock_below_dispatch(verifier::RELEASE_FROM_DPC_BELOW_DISPATCH, irql, lock);
        }
        // Only the owner clears the word (the others only swap 0 for their identity), so a
        // word that holds our identity is ours to clear with a plain store; another value is
        // a release of a lock we do not hold (our own earlier clear is never read back stale).
        let owner = lock.0.load(Ordering::Relaxed);
        if owner != me {
            spin_lock_not_owned(lock, owner, me);
        }
        lock.0.store(0, Ordering::Release);
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
                if t.irql() >= DISPATCH_LEVEL {
                    check_watchdog(t);
                }
            }
        });
    }

    #[inline]
    fn stopping() -> bool {
        THREAD.with(|t| t.stopping.get() && still_stopping(t))
    }

    fn flush_process_write_buffers() -> bool {
        let fail = with_thread(|t| {
            let n = t.failing_barriers.get();
            t.failing_barriers.set(n.saturating_sub(1));
            n > 0
        });
        // A simulated processor is a host thread of this process: a barrier on every CPU that
        // runs one of them (and the context-switch barrier of those that do not run) is a
        // barrier on every simulated processor.
        !fail && host_barrier::run()
    }

    /// Inside [`catch_bug_check`] on this thread: puts the thread back to a clean state and
    /// unwinds to it (no panic hook, nothing printed). Elsewhere: the first stop of the
    /// process prints its `*** STOP` line to stderr and aborts (`SIGABRT`); a concurrent or
    /// later stop prints nothing and never returns.
    #[cold]
    fn bug_check(code: u32, params: [usize; 4]) -> ! {
        let stop = BugCheck { code, params };
        if !stop::is_caught() || std::thread::panicking() {
            // Outside catch_bug_check the machine stops. So it does for a stop inside a
            // destructor that runs while the thread unwinds (a lock dropped during a panic,
            // say): a second unwind would abort the process with Rust's message.
            stop::halt(stop);
        }
        THREAD.with(reset_after_stop);
        stop::raise(stop)
    }
}
