//! The lab: a read-mostly workload on the simulated multi-processor machine.
//!
//! Every worker thread is bound to its own virtual processor (`sim::dedicate`), as a DPC or a
//! receive path would run pinned on a real machine, and repeatedly reads (or, for a small share
//! of operations, writes) a two-word record that must always read back consistent. The same
//! workload runs over `RwLockEx` (which raises to DISPATCH_LEVEL in the simulated kernel on
//! every acquisition), `parking_lot::RwLock` and `std::sync::RwLock`, in interleaved rounds;
//! the table shows the median throughput of each and its ratio to parking_lot.
//!
//! Usage: `cargo run --release --example lab -- [--threads N] [--rounds R] [--round-ms M]`

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ndis_rwlock::RwLockEx;
use ndis_rwlock::sim;

#[derive(Default)]
struct Record {
    a: u64,
    b: u64,
}

/// What the workload needs from a lock.
trait Lock: Sync {
    const NAME: &'static str;
    fn make() -> Self;
    fn read_check(&self) -> bool;
    fn write_bump(&self);
}

impl Lock for RwLockEx<Record> {
    const NAME: &'static str = "RwLockEx (NDIS_RW_LOCK_EX)";
    fn make() -> Self {
        RwLockEx::new(Record::default()).expect("the simulated pool has room")
    }
    #[inline]
    fn read_check(&self) -> bool {
        let r = self.read();
        r.a == r.b
    }
    #[inline]
    fn write_bump(&self) {
        let mut w = self.write();
        w.a += 1;
        w.b += 1;
    }
}

impl Lock for parking_lot::RwLock<Record> {
    const NAME: &'static str = "parking_lot::RwLock";
    fn make() -> Self {
        parking_lot::RwLock::new(Record::default())
    }
    #[inline]
    fn read_check(&self) -> bool {
        let r = self.read();
        r.a == r.b
    }
    #[inline]
    fn write_bump(&self) {
        let mut w = self.write();
        w.a += 1;
        w.b += 1;
    }
}

impl Lock for std::sync::RwLock<Record> {
    const NAME: &'static str = "std::sync::RwLock";
    fn make() -> Self {
        std::sync::RwLock::new(Record::default())
    }
    #[inline]
    fn read_check(&self) -> bool {
        let r = self.read().expect("not poisoned");
        r.a == r.b
    }
    #[inline]
    fn write_bump(&self) {
        let mut w = self.write().expect("not poisoned");
        w.a += 1;
        w.b += 1;
    }
}

struct Config {
    threads: u32,
    rounds: usize,
    round: Duration,
}

/// One timed round: returns operations per second.
fn round<L: Lock>(lock: &L, threads: u32, write_per_mille: u32, length: Duration) -> f64 {
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let violations = AtomicU64::new(0);
    let start = Barrier::new(threads as usize + 1);
    let elapsed = std::thread::scope(|s| {
        for processor in 0..threads {
            let (stop, total, violations, start) = (&stop, &total, &violations, &start);
            s.spawn(move || {
                let _bound = sim::dedicate(processor);
                // A cheap per-thread generator decides which operations write.
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(processor);
                let mut ops = 0u64;
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if (x % 1000) < u64::from(write_per_mille) {
                            lock.write_bump();
                        } else if !lock.read_check() {
                            violations.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    ops += 256;
                }
                total.fetch_add(ops, Ordering::Relaxed);
            });
        }
        start.wait();
        let t0 = Instant::now();
        std::thread::sleep(length);
        stop.store(true, Ordering::Relaxed);
        t0.elapsed()
    });
    assert_eq!(
        violations.load(Ordering::Relaxed),
        0,
        "{} let a reader see a torn record",
        L::NAME
    );
    total.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn parse_args() -> Config {
    let mut config = Config {
        threads: sim::processor_count(),
        rounds: 5,
        round: Duration::from_millis(300),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{arg} needs a number"))
        };
        match arg.as_str() {
            "--threads" => config.threads = u32::try_from(value()).expect("a small number"),
            "--rounds" => config.rounds = usize::try_from(value()).expect("a small number"),
            "--round-ms" => config.round = Duration::from_millis(value()),
            other => panic!("unknown argument {other}; see the example's docs"),
        }
    }
    config.threads = config.threads.clamp(1, sim::processor_count());
    config.rounds = config.rounds.max(1);
    config
}

fn main() {
    let config = parse_args();
    println!(
        "ndis-rwlock lab: {} virtual processors, {} worker threads (one per processor), \
         {} interleaved rounds of {} ms, median shown",
        sim::processor_count(),
        config.threads,
        config.rounds,
        config.round.as_millis()
    );
    let ex = <RwLockEx<Record> as Lock>::make();
    let pl = <parking_lot::RwLock<Record> as Lock>::make();
    let st = <std::sync::RwLock<Record> as Lock>::make();

    for (label, per_mille) in [
        ("100% reads", 0),
        ("99/1 read/write", 10),
        ("90/10 read/write", 100),
    ] {
        let mut results = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..config.rounds {
            results[0].push(round(&ex, config.threads, per_mille, config.round));
            results[1].push(round(&pl, config.threads, per_mille, config.round));
            results[2].push(round(&st, config.threads, per_mille, config.round));
        }
        let medians = results.map(median);
        println!("\n{label}:");
        println!("  {:<28} {:>12} {:>14}", "lock", "Mops/s", "vs parking_lot");
        for (name, m) in [
            (<RwLockEx<Record> as Lock>::NAME, medians[0]),
            (<parking_lot::RwLock<Record> as Lock>::NAME, medians[1]),
            (<std::sync::RwLock<Record> as Lock>::NAME, medians[2]),
        ] {
            println!("  {:<28} {:>12.1} {:>13.2}x", name, m / 1e6, m / medians[1]);
        }
    }
    let diag = ex.diagnostics();
    assert_eq!(diag.readers, 0);
    assert_eq!(diag.writer, None);
    println!(
        "\nno torn reads; RwLockEx left unheld ({} reader slots)",
        diag.processors
    );
}
