//! The lab: a read-mostly workload on the simulated multi-processor machine, over every lock of
//! this crate and its peers, in the same run.
//!
//! Every worker thread is bound to its own virtual processor (`sim::dedicate`) and pinned to the
//! host CPU of the same index, as a DPC or a receive path would run pinned on a real machine,
//! and repeatedly reads (or, for a share of operations, writes) a two-word record that must
//! always read back consistent. Locks: `RwLockEx` in both fence modes, through `read()` from
//! `PASSIVE_LEVEL` (a simulated raise and lower per acquisition) and through
//! `read_at_dispatch()` (`NDIS_RWL_AT_DISPATCH_LEVEL`); the legacy NDIS 5 lock; `PushLock`;
//! `std::sync::RwLock`, `parking_lot::RwLock`, crossbeam's `ShardedLock`, `spin::RwLock`; and a
//! no-lock control. Scenarios: read and write lock+unlock on one thread, read-only throughput
//! with one and with `--threads` threads, 99/1 and 90/10 read/write mixes. Each figure is the
//! median of interleaved rounds; a round counts only the 1 ms windows in which every thread
//! ran at full speed (the host pauses virtual CPUs for milliseconds, and other work shares
//! the cores), and the table says how many it kept.
//! `--sweep` adds the write share at which `RwLockEx` stops beating parking_lot.
//!
//! Usage: `cargo run --release --example lab -- [--threads N] [--rounds R] [--round-ms M]
//! [--sweep]`

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{
    ExAsymDispatch, ExAsymPassive, ExSymDispatch, ExSymPassive, LegacyDispatch, LegacyPassive,
    Lock, NoLock, ParkingLot, Push, RoundResult, Sharded, Spin, StdRwLock, median, round,
};
use ndis_rwlock::sim;
use ndis_rwlock::storage::ex::NdisRwLockEx;

/// One lock of the table, type-erased.
struct Row {
    name: &'static str,
    writes: bool,
    run: Box<dyn Fn(u32, u32, Duration) -> RoundResult>,
}

fn row<L: Lock + 'static>() -> Row {
    let lock = L::make();
    Row {
        name: L::NAME,
        writes: L::WRITES,
        run: Box::new(move |threads, write_bp, length| round(&lock, threads, write_bp, length)),
    }
}

fn rows() -> Vec<Row> {
    vec![
        row::<ExSymDispatch>(),
        row::<ExSymPassive>(),
        row::<ExAsymDispatch>(),
        row::<ExAsymPassive>(),
        row::<LegacyDispatch>(),
        row::<LegacyPassive>(),
        row::<Push>(),
        row::<ParkingLot>(),
        row::<StdRwLock>(),
        row::<Sharded>(),
        row::<Spin>(),
        row::<NoLock>(),
    ]
}

struct Config {
    threads: u32,
    rounds: usize,
    round: Duration,
    sweep: bool,
}

fn parse_args() -> Config {
    let mut config = Config {
        threads: sim::processor_count().min(2),
        rounds: 5,
        round: Duration::from_millis(200),
        sweep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--sweep" {
            config.sweep = true;
            continue;
        }
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

/// A scenario: threads and write share (in 1/10 000).
#[derive(Clone, Copy)]
struct Scenario {
    threads: u32,
    write_bp: u32,
}

/// Median operations per second of every row in `scenario` (None where the row cannot run
/// it), and the median share of windows kept, over interleaved rounds.
fn measure(rows: &[Row], scenario: Scenario, config: &Config) -> Vec<Option<(f64, f64)>> {
    let eligible = |r: &Row| scenario.write_bp == 0 || r.writes;
    let mut samples: Vec<Vec<RoundResult>> = rows.iter().map(|_| Vec::new()).collect();
    for r in 0..config.rounds {
        for offset in 0..rows.len() {
            // Rotate the order from round to round so that no lock always runs first.
            let i = (offset + r) % rows.len();
            if eligible(&rows[i]) {
                let result = (rows[i].run)(scenario.threads, scenario.write_bp, config.round);
                samples[i].push(result);
            }
        }
    }
    samples
        .iter()
        .map(|s| {
            (!s.is_empty()).then(|| {
                let ops: Vec<f64> = s.iter().map(|r| r.ops_per_sec).collect();
                let kept: Vec<f64> = s.iter().map(|r| r.kept).collect();
                (median(&ops), median(&kept))
            })
        })
        .collect()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let config = parse_args();
    let host = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "ndis-rwlock lab: {} virtual processors on {host} host CPUs (load average {}); \
         {} interleaved rounds of {} ms per figure, median shown",
        sim::processor_count(),
        load_average(),
        config.rounds,
        config.round.as_millis()
    );
    let rows = rows();
    let t = config.threads;
    let scenarios = [
        Scenario {
            threads: 1,
            write_bp: 0,
        },
        Scenario {
            threads: t,
            write_bp: 0,
        },
        Scenario {
            threads: t,
            write_bp: 100,
        },
        Scenario {
            threads: t,
            write_bp: 1000,
        },
        Scenario {
            threads: 1,
            write_bp: 10_000,
        },
    ];
    let results: Vec<Vec<Option<(f64, f64)>>> = scenarios
        .iter()
        .map(|&s| measure(&rows, s, &config))
        .collect();
    let pl = rows
        .iter()
        .position(|r| r.name == "parking_lot::RwLock")
        .expect("parking_lot is a row");

    println!(
        "\nPer operation on one thread (ns, lower is better; the loop and the record check \
         are included, see the control), then throughput with {t} threads (Mops/s, higher is \
         better); (x) = ratio to parking_lot, [%] = windows kept"
    );
    println!(
        "{:<30} {:>14} {:>14} {:>20} {:>7} {:>20} {:>20}",
        "lock",
        "read 1T ns",
        "write 1T ns",
        format!("read-only {t}T"),
        "2T/1T",
        format!("99/1 {t}T"),
        format!("90/10 {t}T")
    );
    let ns = |v: Option<(f64, f64)>| v.map(|(ops, _)| 1e9 / ops);
    for (i, r) in rows.iter().enumerate() {
        let cell_ns = |s: usize| match (ns(results[s][i]), ns(results[s][pl])) {
            (Some(v), Some(p)) => format!("{v:.2} ({:.2}x)", v / p),
            _ => "-".into(),
        };
        let cell_mops = |s: usize| match (results[s][i], results[s][pl]) {
            (Some((v, kept)), Some((p, _))) => {
                format!("{:.0} ({:.2}x) [{:.0}%]", v / 1e6, v / p, kept * 100.0)
            }
            _ => "-".into(),
        };
        let scaling = match (results[1][i], results[0][i]) {
            (Some((two, _)), Some((one, _))) => format!("{:.2}", two / one),
            _ => "-".into(),
        };
        println!(
            "{:<30} {:>14} {:>14} {:>20} {:>7} {:>20} {:>20}",
            r.name,
            cell_ns(0),
            cell_ns(4),
            cell_mops(1),
            scaling,
            cell_mops(2),
            cell_mops(3)
        );
    }

    println!("\nMemory of one NDIS_RW_LOCK_EX (one 64-byte line per processor slot):");
    for processors in [2u32, 64, 640] {
        let bytes = NdisRwLockEx::<sim::Sim>::allocation_size(processors);
        println!(
            "  {processors:>4} processors: {bytes:>6} bytes, {:.1} bytes per processor",
            bytes as f64 / f64::from(processors)
        );
    }

    if config.sweep {
        sweep(&rows, &config);
    }
    println!("\nno reader saw a torn record");
}

/// Throughput of `RwLockEx` against parking_lot and std as the write share grows; names the
/// first share at which each `RwLockEx` row falls behind parking_lot.
fn sweep(rows: &[Row], config: &Config) {
    let t = config.threads;
    let names = [
        "RwLockEx symmetric",
        "RwLockEx symmetric @DISPATCH",
        "RwLockEx asymmetric",
        "parking_lot::RwLock",
        "std::sync::RwLock",
    ];
    let indices: Vec<usize> = names
        .iter()
        .map(|n| rows.iter().position(|r| r.name == *n).expect("a row"))
        .collect();
    let shares = [0u32, 10, 50, 100, 200, 300, 500, 1000, 2000, 5000];
    println!("\nWrite-share sweep, {t} threads (Mops/s):");
    print!("{:<30}", "lock \\ writes");
    for s in shares {
        print!(" {:>7}", format!("{}%", f64::from(s) / 100.0));
    }
    println!();
    let mut table = vec![vec![0f64; shares.len()]; indices.len()];
    for (j, &share) in shares.iter().enumerate() {
        let mut samples = vec![Vec::new(); indices.len()];
        for round in 0..config.rounds {
            for offset in 0..indices.len() {
                let k = (offset + round) % indices.len();
                let result = (rows[indices[k]].run)(t, share, config.round);
                samples[k].push(result.ops_per_sec);
            }
        }
        for (k, v) in samples.iter().enumerate() {
            table[k][j] = median(v);
        }
    }
    for (k, name) in names.iter().enumerate() {
        print!("{name:<30}");
        for value in &table[k] {
            print!(" {:>7.0}", value / 1e6);
        }
        println!();
    }
    let pl = names
        .iter()
        .position(|n| *n == "parking_lot::RwLock")
        .expect("parking_lot is swept");
    for (k, name) in names
        .iter()
        .enumerate()
        .filter(|(_, n)| n.starts_with("RwLockEx"))
    {
        match shares
            .iter()
            .zip(&table[k])
            .zip(&table[pl])
            .find(|((_, ours), theirs)| ours < theirs)
        {
            Some(((share, _), _)) => println!(
                "{name}: behind parking_lot from {}% writes",
                f64::from(*share) / 100.0
            ),
            None => println!("{name}: ahead of parking_lot at every share swept"),
        }
    }
}
