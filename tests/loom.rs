//! loom models of the reader/writer handshake of `src/algorithm.rs`, through the crate's real
//! `RwLockEx` and `NDIS_RW_LOCK_EX` code, on `kernel::loom::LoomKernel` (each model thread is
//! one processor).
//!
//! Run: `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release --test loom`.
//! The protected data lives in a `loom::cell::UnsafeCell`, so loom reports any access that is
//! not ordered after the previous conflicting one: a missing fence or a weakened ordering in the
//! lock shows up as a data race or a torn value. `scripts/loom-mutations.sh` weakens each fence
//! and ordering in turn and checks that some model fails.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use ndis_rwlock::RwLockEx;
use ndis_rwlock::kernel::loom::LoomKernel;
use ndis_rwlock::kernel::{DISPATCH_LEVEL, DispatchGuard, Kernel, PASSIVE_LEVEL};
use ndis_rwlock::storage::ex::{
    self as rwlock_ex, LockStateEx, NDIS_RWL_AT_DISPATCH_LEVEL, NdisRwLockEx,
};

/// Two words that every writer bumps together and every reader checks.
struct Pair(UnsafeCell<(u32, u32)>);

// SAFETY: the words are only touched under the lock that protects the `Pair`, and loom checks
// that every access is ordered after the previous conflicting one.
unsafe impl Sync for Pair {}
// SAFETY: as above; the cell holds plain integers.
unsafe impl Send for Pair {}

impl Pair {
    fn new() -> Self {
        Self(UnsafeCell::new((0, 0)))
    }

    /// Reads both words under a read acquisition; they must agree.
    fn check(&self) -> u32 {
        // SAFETY: called under a read acquisition, which excludes writers.
        let (a, b) = self.0.with(|p| unsafe { *p });
        assert_eq!(a, b, "a reader saw a half-done write");
        a
    }

    /// Bumps both words under a write acquisition.
    fn bump(&self) {
        self.0.with_mut(|p| {
            // SAFETY: called under a write acquisition, which excludes everyone else.
            let pair = unsafe { &mut *p };
            pair.0 += 1;
            thread::yield_now();
            pair.1 += 1;
        });
    }
}

type Lock = RwLockEx<Pair, LoomKernel>;

fn new_lock() -> Arc<Lock> {
    Arc::new(Lock::with_kernel(Pair::new()).expect("the loom pool has room"))
}

fn on(processor: u32, f: impl FnOnce() + 'static) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        LoomKernel::set_processor(processor);
        f();
    })
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    // Spinning waiters (writers draining, readers backing off) make long paths.
    builder.max_branches = builder.max_branches.max(100_000);
    builder.check(f);
}

#[test]
fn read_read_both_enter() {
    model(|| {
        let lock = new_lock();
        let inside = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|p| {
                let (lock, inside) = (lock.clone(), inside.clone());
                on(p, move || {
                    let guard = lock.read();
                    inside.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(guard.check(), 0);
                    drop(guard);
                    assert_eq!(LoomKernel::current_irql(), PASSIVE_LEVEL);
                })
            })
            .collect();
        for h in handles {
            h.join().expect("reader");
        }
        assert_eq!(inside.load(Ordering::SeqCst), 2);
        assert_eq!(lock.diagnostics().readers, 0);
    });
}

#[test]
fn read_write_exclude_each_other() {
    model(|| {
        let lock = new_lock();
        let reader = {
            let lock = lock.clone();
            on(0, move || {
                let seen = lock.read().check();
                assert!(seen <= 1);
            })
        };
        let writer = {
            let lock = lock.clone();
            on(1, move || lock.write().bump())
        };
        reader.join().expect("reader");
        writer.join().expect("writer");
        assert_eq!(lock.read().check(), 1);
    });
}

#[test]
fn write_write_exclude_each_other() {
    model(|| {
        let lock = new_lock();
        let handles: Vec<_> = (0..2)
            .map(|p| {
                let lock = lock.clone();
                on(p, move || lock.write().bump())
            })
            .collect();
        for h in handles {
            h.join().expect("writer");
        }
        assert_eq!(lock.read().check(), 2);
    });
}

#[test]
fn read_recursion_while_a_writer_waits() {
    model(|| {
        let lock = new_lock();
        let reader = {
            let lock = lock.clone();
            on(0, move || {
                let outer = lock.read();
                // The nested read never backs off, even with a writer waiting: that is
                // recursion, and the writer waits for both to leave.
                let inner = lock.read();
                assert_eq!(outer.check(), inner.check());
                drop(inner);
                drop(outer);
            })
        };
        let writer = {
            let lock = lock.clone();
            on(1, move || lock.write().bump())
        };
        reader.join().expect("reader");
        writer.join().expect("writer");
        assert_eq!(lock.read().check(), 1);
    });
}

#[test]
fn a_first_read_backs_off_from_a_held_write_and_retries() {
    model(|| {
        let lock = new_lock();
        LoomKernel::set_processor(1);
        // The write is held before the reader starts: its first read must back off, wait for
        // the writer word to clear, and retry.
        let guard = lock.write();
        let reader = {
            let lock = lock.clone();
            on(0, move || assert_eq!(lock.read().check(), 1))
        };
        guard.bump();
        drop(guard);
        reader.join().expect("reader");
    });
}

/// A reader that arrives after a write has finished, without any other synchronisation with
/// the writer, must still see the write: the acquire on the writer word is what orders it.
#[test]
fn a_read_after_a_finished_write_sees_the_write() {
    model(|| {
        let lock = new_lock();
        let finished = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (lock, finished) = (lock.clone(), finished.clone());
            on(1, move || {
                lock.write().bump();
                // Relaxed: tells the reader when to go, orders nothing.
                finished.store(1, Ordering::Relaxed);
            })
        };
        let reader = {
            let (lock, finished) = (lock.clone(), finished.clone());
            on(0, move || {
                while finished.load(Ordering::Relaxed) == 0 {
                    thread::yield_now();
                }
                assert!(lock.read().check() <= 1);
            })
        };
        writer.join().expect("writer");
        reader.join().expect("reader");
    });
}

#[test]
fn try_variants_never_wait_and_never_overlap() {
    model(|| {
        let lock = new_lock();
        let done = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (lock, done) = (lock.clone(), done.clone());
            on(0, move || {
                if let Some(guard) = lock.try_write() {
                    guard.bump();
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let reader = {
            let lock = lock.clone();
            on(1, move || {
                if let Some(guard) = lock.try_read() {
                    assert!(guard.check() <= 1);
                }
                assert_eq!(LoomKernel::current_irql(), PASSIVE_LEVEL);
            })
        };
        writer.join().expect("writer");
        reader.join().expect("reader");
        assert_eq!(lock.read().check() as usize, done.load(Ordering::SeqCst));
    });
}

/// Write recursion and a read inside one's own write, through the C-ABI-level functions,
/// against a reader on another processor.
#[test]
fn write_recursion_and_read_inside_own_write_exclude_others() {
    model(|| {
        let raw = NdisRwLockEx::<LoomKernel>::allocate().expect("the loom pool has room");
        let address = raw.as_ptr() as usize;
        let data = Arc::new(Pair::new());
        let writer = {
            let data = data.clone();
            on(0, move || {
                let lock = address as *mut NdisRwLockEx<LoomKernel>;
                let (mut outer, mut inner, mut read) = (
                    LockStateEx::default(),
                    LockStateEx::default(),
                    LockStateEx::default(),
                );
                // SAFETY: a live lock and valid states; every acquire is released below, in
                // reverse order.
                unsafe {
                    rwlock_ex::acquire_write::<LoomKernel>(lock, &mut outer, 0);
                }
                // SAFETY: as above; at DISPATCH_LEVEL now.
                unsafe {
                    rwlock_ex::acquire_write::<LoomKernel>(
                        lock,
                        &mut inner,
                        NDIS_RWL_AT_DISPATCH_LEVEL,
                    );
                }
                data.bump();
                // SAFETY: as above.
                unsafe {
                    rwlock_ex::acquire_read::<LoomKernel>(
                        lock,
                        &mut read,
                        NDIS_RWL_AT_DISPATCH_LEVEL,
                    );
                }
                data.check();
                // SAFETY: releases in reverse order of acquisition.
                unsafe { rwlock_ex::release::<LoomKernel>(lock, &mut read) };
                // SAFETY: as above.
                unsafe { rwlock_ex::release::<LoomKernel>(lock, &mut inner) };
                assert_eq!(LoomKernel::current_irql(), DISPATCH_LEVEL);
                // SAFETY: as above.
                unsafe { rwlock_ex::release::<LoomKernel>(lock, &mut outer) };
                assert_eq!(LoomKernel::current_irql(), PASSIVE_LEVEL);
            })
        };
        let reader = {
            let data = data.clone();
            on(1, move || {
                let lock = address as *mut NdisRwLockEx<LoomKernel>;
                let mut state = LockStateEx::default();
                let dispatch = DispatchGuard::<LoomKernel>::raise();
                // SAFETY: a live lock and a valid state, released below.
                unsafe {
                    rwlock_ex::acquire_read::<LoomKernel>(
                        lock,
                        &mut state,
                        NDIS_RWL_AT_DISPATCH_LEVEL,
                    );
                }
                assert!(data.check() <= 1);
                // SAFETY: the acquisition above.
                unsafe { rwlock_ex::release::<LoomKernel>(lock, &mut state) };
                drop(dispatch);
            })
        };
        writer.join().expect("writer");
        reader.join().expect("reader");
        // SAFETY: nobody holds the lock any more.
        unsafe { NdisRwLockEx::free(raw) };
    });
}
