//! One read (or, for the `write:` rows, write) acquire+release per call, through a
//! non-inlined wrapper per lock, for `scripts/callgrind.sh`, which runs this program under
//! `valgrind --tool=callgrind`, collects only inside the wrapper and subtracts a run of `N`
//! pairs from a run of `2N` to count the instructions (and the locked instructions and
//! fences) of one pair.
//!
//! Usage: `callgrind_pairs <lock> <pairs>`, `callgrind_pairs --list`, or
//! `callgrind_pairs --time [rounds] [pairs]`, which times every wrapper natively in
//! interleaved rounds and prints the median nanoseconds per pair. A run prints the wrapper's
//! name and address (`wrapper read_pair_<name> 0x...`): the script collects inside that
//! function. The two `RwLockEx` modes share their wrappers (the mode is read at run time).
//!
//! Every wrapper takes one shared acquisition of a lock that nobody else holds, reads the
//! protected `u64` and releases; the simulated thread is bound to processor 0
//! (`sim::dedicate`), as in the benchmarks, except in the `_plain` rows: there a plain thread
//! (attached on first use, never dedicated, as C driver code runs) calls the C ABI, so that a
//! raise from `PASSIVE_LEVEL` takes the simulated kernel's path for such threads.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ndis_rwlock::ffi::rwlock_ex::{
    NdisAcquireRWLockRead, NdisAllocateRWLock, NdisFreeRWLock, NdisReleaseRWLock,
};
use ndis_rwlock::kernel::{AtDispatch, DispatchGuard};
use ndis_rwlock::storage::ex::{LockStateEx, NDIS_RWL_AT_DISPATCH_LEVEL, NdisRwLockEx};
use ndis_rwlock::{CriticalRegion, LegacyRwLock, PushLock, RwLockEx, sim};

/// `RwLockEx::read_at_dispatch`: the caller is already at `DISPATCH_LEVEL`.
#[inline(never)]
#[unsafe(no_mangle)]
fn read_pair_rwlock_ex_dispatch(lock: &RwLockEx<u64>, token: &AtDispatch) -> u64 {
    *lock.read_at_dispatch(token)
}

/// `RwLockEx::read` from `PASSIVE_LEVEL`: simulated raise and lower included.
#[inline(never)]
#[unsafe(no_mangle)]
fn read_pair_rwlock_ex_passive(lock: &RwLockEx<u64>) -> u64 {
    *lock.read()
}

/// The C ABI with `NDIS_RWL_AT_DISPATCH_LEVEL`: `NdisAcquireRWLockRead` + `NdisReleaseRWLock`.
#[inline(never)]
#[unsafe(no_mangle)]
fn read_pair_ndis_c_dispatch(lock: *mut NdisRwLockEx, data: &u64) -> u64 {
    let mut state = LockStateEx::default();
    // SAFETY: `lock` came from NdisAllocateRWLock and is freed only after the runs; the
    // caller runs at DISPATCH_LEVEL, as the flag says.
    unsafe { NdisAcquireRWLockRead(lock, &mut state, NDIS_RWL_AT_DISPATCH_LEVEL) };
    let value = *data;
    // SAFETY: releases the acquisition `state` records, on the same processor.
    unsafe { NdisReleaseRWLock(lock, &mut state) };
    value
}

/// The C ABI from `PASSIVE_LEVEL` (flags 0).
#[inline(never)]
#[unsafe(no_mangle)]
fn read_pair_ndis_c_passive(lock: *mut NdisRwLockEx, data: &u64) -> u64 {
    let mut state = LockStateEx::default();
    // SAFETY: `lock` came from NdisAllocateRWLock and is freed only after the runs.
    unsafe { NdisAcquireRWLockRead(lock, &mut state, 0) };
    let value = *data;
    // SAFETY: releases the acquisition `state` records, on the same processor.
    unsafe { NdisReleaseRWLock(lock, &mut state) };
    value
}

/// `LegacyRwLock::read_at_dispatch` (`NdisDprAcquireReadWriteLock`).
#[inline(never)]
#[unsafe(no_mangle)]
fn read_pair_legacy_dispatch(lock: &LegacyRwLock<u64>, token: &AtDispatch) -> u64 {
    *lock.read_at_dispatch(token)
}

/// `LegacyRwLock::read` from `PASSIVE_LEVEL` (`NdisAcquireReadWriteLock`).
#[inline(never)]
#[unsafe(no_mangle)]
fn read_pair_legacy_passive(lock: &LegacyRwLock<u64>) -> u64 {
    *lock.read()
}

/// `PushLock::read` inside a critical region the caller holds.
#[inline(never)]
#[unsafe(no_mangle)]
fn read_pair_pushlock(lock: &PushLock<u64>, region: &CriticalRegion) -> u64 {
    *lock.read(region)
}

/// `std::sync::RwLock`.
#[inline(never)]
#[unsafe(no_mangle)]
fn read_pair_std(lock: &std::sync::RwLock<u64>) -> u64 {
    *lock.read().expect("not poisoned")
}

/// `parking_lot::RwLock`.
#[inline(never)]
#[unsafe(no_mangle)]
fn read_pair_parking_lot(lock: &parking_lot::RwLock<u64>) -> u64 {
    *lock.read()
}

/// `crossbeam_utils::sync::ShardedLock`.
#[inline(never)]
#[unsafe(no_mangle)]
fn read_pair_crossbeam_sharded(lock: &crossbeam_utils::sync::ShardedLock<u64>) -> u64 {
    *lock.read().expect("not poisoned")
}

/// `spin::RwLock`.
#[inline(never)]
#[unsafe(no_mangle)]
fn read_pair_spin(lock: &spin::RwLock<u64>) -> u64 {
    *lock.read()
}

/// `RwLockEx::write_at_dispatch`: one uncontended write acquire+release.
#[inline(never)]
#[unsafe(no_mangle)]
fn write_pair_rwlock_ex_dispatch(lock: &RwLockEx<u64>, token: &AtDispatch) -> u64 {
    let mut w = lock.write_at_dispatch(token);
    *w += 1;
    *w
}

/// `RwLockEx::write` from `PASSIVE_LEVEL`.
#[inline(never)]
#[unsafe(no_mangle)]
fn write_pair_rwlock_ex_passive(lock: &RwLockEx<u64>) -> u64 {
    let mut w = lock.write();
    *w += 1;
    *w
}

/// `PushLock::write` inside a critical region the caller holds.
#[inline(never)]
#[unsafe(no_mangle)]
fn write_pair_pushlock(lock: &PushLock<u64>, region: &CriticalRegion) -> u64 {
    let mut w = lock.write(region);
    *w += 1;
    *w
}

/// `parking_lot::RwLock::write`.
#[inline(never)]
#[unsafe(no_mangle)]
fn write_pair_parking_lot(lock: &parking_lot::RwLock<u64>) -> u64 {
    let mut w = lock.write();
    *w += 1;
    *w
}

/// `std::sync::RwLock::write`.
#[inline(never)]
#[unsafe(no_mangle)]
fn write_pair_std(lock: &std::sync::RwLock<u64>) -> u64 {
    let mut w = lock.write().expect("not poisoned");
    *w += 1;
    *w
}

/// The locks this program measures, in table order.
const LOCKS: &[&str] = &[
    "rwlock_ex_dispatch",
    "rwlock_ex_passive",
    "rwlock_ex_asym_dispatch",
    "rwlock_ex_asym_passive",
    "ndis_c_dispatch",
    "ndis_c_passive",
    "ndis_c_dispatch_plain",
    "ndis_c_passive_plain",
    "legacy_dispatch",
    "legacy_passive",
    "pushlock",
    "std",
    "parking_lot",
    "crossbeam_sharded",
    "spin",
    "write:rwlock_ex_dispatch",
    "write:rwlock_ex_passive",
    "write:rwlock_ex_asym_dispatch",
    "write:pushlock",
    "write:std",
    "write:parking_lot",
];

fn announce(show: bool, name: &str, address: *const ()) {
    if show {
        println!("wrapper read_pair_{name} {address:p}");
    }
}

fn announce_write(show: bool, name: &str, address: *const ()) {
    if show {
        println!("wrapper write_pair_{name} {address:p}");
    }
}

/// Calls `pair` `n` times through an opaque function pointer; returns the time taken.
fn repeat<A: Copy, B: Copy>(n: u64, pair: fn(A, B) -> u64, a: A, b: B) -> Duration {
    let pair = black_box(pair);
    let start = Instant::now();
    for _ in 0..n {
        black_box(pair(black_box(a), black_box(b)));
    }
    start.elapsed()
}

fn repeat1<A: Copy>(n: u64, pair: fn(A) -> u64, a: A) -> Duration {
    let pair = black_box(pair);
    let start = Instant::now();
    for _ in 0..n {
        black_box(pair(black_box(a)));
    }
    start.elapsed()
}

fn make_ex(name: &str) -> RwLockEx<u64> {
    // Write rows are named `write:<lock>`.
    let asymmetric = name.contains("asym");
    let lock = if asymmetric {
        RwLockEx::new_asymmetric(7u64)
    } else {
        RwLockEx::new(7u64)
    }
    .expect("the simulated pool has room");
    assert_eq!(
        lock.is_asymmetric(),
        asymmetric,
        "the mode this row measures"
    );
    lock
}

/// Runs `n` pairs of lock `name` on a fresh lock; returns the time the loop took.
fn run(name: &str, n: u64, show: bool) -> Duration {
    match name {
        "rwlock_ex_dispatch" | "rwlock_ex_asym_dispatch" => {
            let lock = make_ex(name);
            let raised: DispatchGuard = DispatchGuard::raise();
            // The mode is read at run time: both rows share one wrapper.
            let pair: fn(&RwLockEx<u64>, &AtDispatch) -> u64 = read_pair_rwlock_ex_dispatch;
            announce(show, "rwlock_ex_dispatch", pair as *const ());
            repeat(n, pair, &lock, raised.token())
        }
        "rwlock_ex_passive" | "rwlock_ex_asym_passive" => {
            let lock = make_ex(name);
            let pair: fn(&RwLockEx<u64>) -> u64 = read_pair_rwlock_ex_passive;
            announce(show, "rwlock_ex_passive", pair as *const ());
            repeat1(n, pair, &lock)
        }
        "ndis_c_dispatch" | "ndis_c_passive" => {
            let lock = NdisAllocateRWLock(std::ptr::null_mut());
            assert!(!lock.is_null(), "the simulated pool has room");
            let data = 7u64;
            let took = if name == "ndis_c_dispatch" {
                let _raised: DispatchGuard = DispatchGuard::raise();
                let pair: fn(*mut NdisRwLockEx, &u64) -> u64 = read_pair_ndis_c_dispatch;
                announce(show, name, pair as *const ());
                repeat(n, pair, lock, &data)
            } else {
                let pair: fn(*mut NdisRwLockEx, &u64) -> u64 = read_pair_ndis_c_passive;
                announce(show, name, pair as *const ());
                repeat(n, pair, lock, &data)
            };
            // SAFETY: allocated above, released by every pair, not used afterwards.
            unsafe { NdisFreeRWLock(lock) };
            took
        }
        "ndis_c_dispatch_plain" | "ndis_c_passive_plain" => {
            // A plain thread, as C driver code runs: attached on first use, not dedicated, so
            // every raise and lower from PASSIVE_LEVEL takes the simulated processor's
            // keep-and-retake path. The spawned thread's home is processor 1 (the main
            // thread is bound to processor 0), which nobody else wants.
            let base = name.trim_end_matches("_plain");
            std::thread::scope(|s| {
                s.spawn(|| sim::run_on(1, || run(base, n, show)))
                    .join()
                    .expect("the plain thread panicked")
            })
        }
        "legacy_dispatch" => {
            let lock = LegacyRwLock::new(7u64);
            let raised: DispatchGuard = DispatchGuard::raise();
            let pair: fn(&LegacyRwLock<u64>, &AtDispatch) -> u64 = read_pair_legacy_dispatch;
            announce(show, name, pair as *const ());
            repeat(n, pair, &lock, raised.token())
        }
        "legacy_passive" => {
            let lock = LegacyRwLock::new(7u64);
            let pair: fn(&LegacyRwLock<u64>) -> u64 = read_pair_legacy_passive;
            announce(show, name, pair as *const ());
            repeat1(n, pair, &lock)
        }
        "pushlock" => {
            let lock = PushLock::new(7u64);
            let region = CriticalRegion::enter();
            let pair: fn(&PushLock<u64>, &CriticalRegion) -> u64 = read_pair_pushlock;
            announce(show, name, pair as *const ());
            repeat(n, pair, &lock, &region)
        }
        "std" => {
            let lock = std::sync::RwLock::new(7u64);
            let pair: fn(&std::sync::RwLock<u64>) -> u64 = read_pair_std;
            announce(show, name, pair as *const ());
            repeat1(n, pair, &lock)
        }
        "parking_lot" => {
            let lock = parking_lot::RwLock::new(7u64);
            let pair: fn(&parking_lot::RwLock<u64>) -> u64 = read_pair_parking_lot;
            announce(show, name, pair as *const ());
            repeat1(n, pair, &lock)
        }
        "crossbeam_sharded" => {
            let lock = crossbeam_utils::sync::ShardedLock::new(7u64);
            let pair: fn(&crossbeam_utils::sync::ShardedLock<u64>) -> u64 =
                read_pair_crossbeam_sharded;
            announce(show, name, pair as *const ());
            repeat1(n, pair, &lock)
        }
        "spin" => {
            let lock = spin::RwLock::new(7u64);
            let pair: fn(&spin::RwLock<u64>) -> u64 = read_pair_spin;
            announce(show, name, pair as *const ());
            repeat1(n, pair, &lock)
        }
        "write:rwlock_ex_dispatch" | "write:rwlock_ex_asym_dispatch" => {
            let lock = make_ex(name);
            let raised: DispatchGuard = DispatchGuard::raise();
            let pair: fn(&RwLockEx<u64>, &AtDispatch) -> u64 = write_pair_rwlock_ex_dispatch;
            announce_write(show, "rwlock_ex_dispatch", pair as *const ());
            repeat(n, pair, &lock, raised.token())
        }
        "write:rwlock_ex_passive" => {
            let lock = make_ex(name);
            let pair: fn(&RwLockEx<u64>) -> u64 = write_pair_rwlock_ex_passive;
            announce_write(show, "rwlock_ex_passive", pair as *const ());
            repeat1(n, pair, &lock)
        }
        "write:pushlock" => {
            let lock = PushLock::new(7u64);
            let region = CriticalRegion::enter();
            let pair: fn(&PushLock<u64>, &CriticalRegion) -> u64 = write_pair_pushlock;
            announce_write(show, "pushlock", pair as *const ());
            repeat(n, pair, &lock, &region)
        }
        "write:std" => {
            let lock = std::sync::RwLock::new(7u64);
            let pair: fn(&std::sync::RwLock<u64>) -> u64 = write_pair_std;
            announce_write(show, "std", pair as *const ());
            repeat1(n, pair, &lock)
        }
        "write:parking_lot" => {
            let lock = parking_lot::RwLock::new(7u64);
            let pair: fn(&parking_lot::RwLock<u64>) -> u64 = write_pair_parking_lot;
            announce_write(show, "parking_lot", pair as *const ());
            repeat1(n, pair, &lock)
        }
        other => panic!("unknown lock {other}; `--list` lists them"),
    }
}

/// `--time`: every wrapper, natively, in interleaved rounds; the median ns per pair.
fn time_all(rounds: usize, pairs: u64) {
    let mut samples = vec![Vec::new(); LOCKS.len()];
    for round in 0..rounds {
        for offset in 0..LOCKS.len() {
            // Rotate the order from round to round.
            let index = (offset + round) % LOCKS.len();
            let took = run(LOCKS[index], pairs, false);
            samples[index].push(took.as_secs_f64() * 1e9 / pairs as f64);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let medians: Vec<f64> = samples.iter_mut().map(median).collect();
    let reference = |name: &str| {
        LOCKS
            .iter()
            .position(|&l| l == name)
            .map_or(f64::NAN, |i| medians[i])
    };
    println!(
        "{:<30} {:>10} {:>16}",
        "lock (acquire+release pair)", "ns/pair", "vs parking_lot"
    );
    for (lock, m) in LOCKS.iter().zip(&medians) {
        let parking_lot = if lock.starts_with("write:") {
            reference("write:parking_lot")
        } else {
            reference("parking_lot")
        };
        println!("{lock:<30} {m:>10.2} {:>15.2}x", m / parking_lot);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    if name == "--list" {
        for lock in LOCKS {
            println!("{lock}");
        }
        return;
    }
    let mut number = || args.next().and_then(|v| v.parse::<u64>().ok());
    let _bound = sim::dedicate(0);
    if name == "--time" {
        let rounds = number().unwrap_or(9);
        let pairs = number().unwrap_or(5_000_000);
        time_all(usize::try_from(rounds).unwrap_or(9).max(1), pairs.max(1));
        return;
    }
    let n = number()
        .unwrap_or_else(|| panic!("usage: callgrind_pairs <lock> <pairs> | --list | --time"));
    run(&name, n, true);
}
