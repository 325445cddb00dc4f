//! The lab's measurements that need a machine of a given size: the lab runs itself once per
//! processor count, with `NDIS_SIM_PROCESSORS` set (a simulated machine boots once per
//! process), and the child prints one line of figures that the parent tabulates.
//!
//! - `--probe memory N`: pool bytes of one `NDIS_RW_LOCK_EX` and of `N` of them (headers and
//!   arena sets), then the unload check once all are freed.
//! - `--probe scale R`: the writer's cost as the processor slots grow, next to parking_lot:
//!   an uncontended write lock+unlock, and a write right after every other processor read
//!   the lock (its count lines are then in another core's cache), in `R` interleaved rounds;
//!   then read-only throughput per host CPU with one and two threads.

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::{CDispatch, ExSymDispatch, Lock, ParkingLot, median, on_processor, pin, round};
use ndis_rwlock::ffi::rwlock_ex::{NdisAllocateRWLock, NdisFreeRWLock};
use ndis_rwlock::sim::{self, pool};
use ndis_rwlock::storage::ex::RWLOCK_EX_TAG;
use ndis_rwlock::storage::ex::arena::ARENA_TAG;

/// Runs the child side of the lab for `args` (after `--probe`).
pub fn run(args: &[String]) {
    let number = |i: usize| -> usize {
        args.get(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("--probe {} needs a number", args[0]))
    };
    match args.first().map(String::as_str) {
        Some("memory") => memory(number(1)),
        Some("scale") => scale(number(1)),
        other => panic!("unknown probe {other:?}"),
    }
}

/// Runs the lab again on a machine with `processors` processors, for probe `probe`; returns
/// the figures it printed.
pub fn child(processors: u32, probe: &[&str]) -> Vec<f64> {
    let exe = std::env::current_exe().expect("the lab knows its own path");
    let output = std::process::Command::new(exe)
        .arg("--probe")
        .args(probe)
        .env("NDIS_SIM_PROCESSORS", processors.to_string())
        .output()
        .expect("the lab can run itself");
    assert!(
        output.status.success(),
        "probe {probe:?} on {processors} processors failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(|v| v.parse().expect("the probe prints numbers"))
        .collect()
}

fn pool_bytes() -> usize {
    pool::outstanding(ARENA_TAG)
        .iter()
        .chain(&pool::outstanding(RWLOCK_EX_TAG))
        .map(|a| a.size)
        .sum()
}

fn memory(count: usize) {
    let before = pool_bytes();
    let one = NdisAllocateRWLock(std::ptr::null_mut());
    assert!(!one.is_null(), "the pool has room");
    let bytes_one = pool_bytes() - before;
    // SAFETY: allocated just above, not held.
    unsafe { NdisFreeRWLock(one) };
    let locks: Vec<_> = (0..count)
        .map(|_| NdisAllocateRWLock(std::ptr::null_mut()))
        .collect();
    assert!(locks.iter().all(|l| !l.is_null()), "the pool has room");
    let bytes_all = pool_bytes() - before;
    for lock in locks {
        // SAFETY: allocated above, not held, freed once.
        unsafe { NdisFreeRWLock(lock) };
    }
    // Every chunk went back with the last lock: the verifier's unload check passes.
    pool::check_unload(ARENA_TAG);
    pool::check_unload(RWLOCK_EX_TAG);
    println!("{bytes_one} {bytes_all}");
}

/// Nanoseconds per uncontended write lock+unlock of `lock`, on a dedicated thread.
fn uncontended_write<L: Lock>(lock: &L, cx: &L::Cx) -> f64 {
    const OPS: u32 = 20_000;
    let t0 = Instant::now();
    for _ in 0..OPS {
        black_box(lock).write_bump(cx);
    }
    t0.elapsed().as_secs_f64() * 1e9 / f64::from(OPS)
}

/// The cost of Instant::now() twice, to take off single timed operations.
fn clock_overhead() -> f64 {
    let samples: Vec<f64> = (0..1000)
        .map(|_| {
            let t0 = Instant::now();
            black_box(Instant::now() - t0).as_secs_f64() * 1e9
        })
        .collect();
    median(&samples)
}

/// Nanoseconds of a write (`write`, on this thread, which runs on processor 0 and host CPU 0)
/// right after `visit` (on a helper thread pinned to host CPU 1) read the lock from every other
/// processor: median of `samples`, clock overhead taken off.
fn write_after_reads(visit: &(dyn Fn() + Sync), write: &dyn Fn(), samples: usize) -> f64 {
    // 0: the helper's turn, 1: the writer's, 2: done.
    let turn = AtomicU32::new(0);
    let overhead = clock_overhead();
    std::thread::scope(|s| {
        s.spawn(|| {
            pin(1);
            loop {
                match turn.load(Ordering::Acquire) {
                    0 => {
                        visit();
                        turn.store(1, Ordering::Release);
                    }
                    2 => return,
                    _ => wait_a_little(),
                }
            }
        });
        let mut times = Vec::with_capacity(samples);
        while times.len() < samples {
            if turn.load(Ordering::Acquire) != 1 {
                wait_a_little();
                continue;
            }
            let t0 = Instant::now();
            write();
            times.push(t0.elapsed().as_secs_f64() * 1e9 - overhead);
            turn.store(0, Ordering::Release);
        }
        while turn.load(Ordering::Acquire) != 1 {
            wait_a_little();
        }
        turn.store(2, Ordering::Release);
        median(&times)
    })
}

/// A spin-wait step that lets other work on the shared host run.
fn wait_a_little() {
    for _ in 0..64 {
        std::hint::spin_loop();
    }
    std::thread::yield_now();
}

fn scale(rounds: usize) {
    let processors = sim::processor_count();
    let ex = ExSymDispatch::make();
    let pl = ParkingLot::make();
    let samples = 64;
    let mut figures = vec![Vec::new(); 4];
    pin(0);
    on_processor::<ExSymDispatch, _>(0, || {
        let cx = ExSymDispatch::enter();
        for _ in 0..rounds {
            figures[0].push(uncontended_write(&ex, &cx));
            figures[1].push(uncontended_write(&pl, &()));
            let visit_ex = || {
                for q in 1..processors {
                    sim::run_on(q, || black_box(ex.0.read().a));
                }
            };
            let write_ex = || ex.write_bump(&cx);
            figures[2].push(write_after_reads(&visit_ex, &write_ex, samples));
            let visit_pl = || {
                black_box(pl.0.read().a);
            };
            let write_pl = || pl.write_bump(&());
            figures[3].push(write_after_reads(&visit_pl, &write_pl, samples));
        }
    });
    // Read-only throughput per host CPU (Mops/s per thread), one and two threads.
    let c = CDispatch::make();
    let mut reads = vec![Vec::new(); 6];
    let length = Duration::from_millis(100);
    let two = processors.min(2);
    for _ in 0..rounds {
        reads[0].push(round(&ex, 1, 0, length).ops_per_sec / 1e6);
        reads[1].push(round(&ex, two, 0, length).ops_per_sec / 1e6 / f64::from(two));
        reads[2].push(round(&c, 1, 0, length).ops_per_sec / 1e6);
        reads[3].push(round(&c, two, 0, length).ops_per_sec / 1e6 / f64::from(two));
        reads[4].push(round(&pl, 1, 0, length).ops_per_sec / 1e6);
        reads[5].push(round(&pl, two, 0, length).ops_per_sec / 1e6 / f64::from(two));
    }
    let line: Vec<String> = figures
        .iter()
        .chain(&reads)
        .map(|v| format!("{:.2}", median(v)))
        .collect();
    println!("{}", line.join(" "));
}
