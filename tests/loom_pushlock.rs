//! Loom models of the simulated push lock's wait and wake protocol.
//!
//! They drive the simulated kernel's own word state machine (`sim::pushlock`), with a loom wait
//! queue in place of `parking_lot_core`. Loom reports a lost wake-up as a deadlock (every
//! thread parked), a broken exclusion as a data race on the protected cell, and every word
//! the lock writes is checked against the push-lock invariants.
//!
//! `scripts/loom-mutations.sh` weakens each acquire and release ordering of the word in turn
//! (`--cfg ndis_rwlock_mutation="push_..."`, src/kernel/sim/pushlock.rs) and checks that one of these
//! models fails for every mutant.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --test loom_pushlock`
//! (`LOOM_MAX_PREEMPTIONS` defaults to 2 here; raise it for a deeper search).
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use ndis_rwlock::kernel::ExPushLock;
use ndis_rwlock::sim::pushlock::{self, model};

struct Shared {
    lock: ExPushLock,
    queue: model::Queue,
    value: UnsafeCell<usize>,
}

// SAFETY: `value` is only touched while `lock` is held (written under the exclusive hold,
// read under a shared one); whether that excludes every race is what loom checks.
unsafe impl Sync for Shared {}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            lock: ExPushLock::new(),
            queue: model::Queue::new(),
            value: UnsafeCell::new(0),
        })
    }

    fn write(&self) {
        model::acquire_exclusive(&self.queue, &self.lock);
        // SAFETY: the exclusive hold excludes every other access.
        self.value.with_mut(|v| unsafe { *v += 1 });
        model::release_exclusive(&self.queue, &self.lock);
    }

    fn read(&self) -> usize {
        model::acquire_shared(&self.queue, &self.lock);
        // SAFETY: the shared hold excludes writers.
        let v = self.value.with(|v| unsafe { *v });
        model::release_shared(&self.queue, &self.lock);
        v
    }

    fn finish(&self, writes: usize) {
        assert_eq!(
            pushlock::word(&self.lock),
            0,
            "the lock is not free at the end"
        );
        // SAFETY: every other thread has been joined.
        assert_eq!(self.value.with(|v| unsafe { *v }), writes);
    }
}

fn check(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
    let (checked, violations) = pushlock::word_audit();
    assert!(checked > 0, "no lock word was audited");
    assert_eq!(violations, 0, "a written lock word broke an invariant");
}

#[test]
fn two_writers_exclude_and_wake() {
    check(|| {
        let s = Shared::new();
        let t = {
            let s = s.clone();
            thread::spawn(move || s.write())
        };
        s.write();
        t.join().unwrap();
        s.finish(2);
    });
}

#[test]
fn three_writers_chain_wake_ups() {
    check(|| {
        let s = Shared::new();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.write())
            })
            .collect();
        s.write();
        for t in threads {
            t.join().unwrap();
        }
        s.finish(3);
    });
}

#[test]
fn readers_and_a_writer() {
    check(|| {
        let s = Shared::new();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || {
                    let v = s.read();
                    assert!(v <= 1);
                })
            })
            .collect();
        s.write();
        for t in readers {
            t.join().unwrap();
        }
        s.finish(1);
    });
}

#[test]
fn writer_queued_behind_a_reader_then_a_new_reader() {
    check(|| {
        let s = Shared::new();
        // The main thread holds the lock shared while a writer and a second reader arrive.
        model::acquire_shared(&s.queue, &s.lock);
        let writer = {
            let s = s.clone();
            thread::spawn(move || s.write())
        };
        let reader = {
            let s = s.clone();
            thread::spawn(move || {
                let v = s.read();
                assert!(v <= 1);
            })
        };
        // SAFETY: the shared hold excludes the writer.
        assert_eq!(s.value.with(|v| unsafe { *v }), 0);
        model::release_shared(&s.queue, &s.lock);
        writer.join().unwrap();
        reader.join().unwrap();
        s.finish(1);
    });
}

#[test]
fn writer_and_reader_wait_for_a_writer() {
    check(|| {
        let s = Shared::new();
        model::acquire_exclusive(&s.queue, &s.lock);
        let writer = {
            let s = s.clone();
            thread::spawn(move || s.write())
        };
        let reader = {
            let s = s.clone();
            thread::spawn(move || {
                let v = s.read();
                assert!(v == 1 || v == 2);
            })
        };
        // SAFETY: the exclusive hold excludes every other access.
        s.value.with_mut(|v| unsafe { *v += 1 });
        model::release_exclusive(&s.queue, &s.lock);
        writer.join().unwrap();
        reader.join().unwrap();
        s.finish(2);
    });
}
