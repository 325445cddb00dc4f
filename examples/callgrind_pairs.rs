//! One read acquire+release per call, through a non-inlined wrapper per lock, for
//! `scripts/callgrind.sh`, which runs this program under `valgrind --tool=callgrind`, collects
//! only inside `read_pair_<lock>` and subtracts a run of `N` pairs from a run of `2N` to count
//! the instructions (and the locked instructions and fences) of one pair.
//!
//! Usage: `callgrind_pairs <lock> <pairs>`, or `callgrind_pairs --list`. Prints the wrapper's
//! name and runtime address (`wrapper read_pair_<name> 0x...`): the script collects inside
//! that function and relocates the disassembly of this (position-independent) executable
//! with the address. The two `RwLockEx` modes share their wrappers (the mode is read at run
//! time).
//!
//! Every wrapper takes one shared acquisition of a lock that nobody else holds, reads the
//! protected `u64` and releases; the simulated thread is bound to processor 0
//! (`sim::dedicate`), as in the benchmarks.

use std::hint::black_box;

use ndis_rwlock::kernel::{AtDispatch, DispatchGuard};
use ndis_rwlock::rwlock_ex::{
    LockStateEx, NDIS_RWL_AT_DISPATCH_LEVEL, NdisAcquireRWLockRead, NdisAllocateRWLock,
    NdisFreeRWLock, NdisReleaseRWLock, NdisRwLockEx,
};
use ndis_rwlock::{RwLockEx, sim};

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

/// The locks this program measures, in table order.
const LOCKS: &[&str] = &[
    "rwlock_ex_dispatch",
    "rwlock_ex_passive",
    "rwlock_ex_asym_dispatch",
    "rwlock_ex_asym_passive",
    "ndis_c_dispatch",
    "ndis_c_passive",
    "std",
    "parking_lot",
    "crossbeam_sharded",
    "spin",
];

fn announce(name: &str, address: *const ()) {
    println!("wrapper read_pair_{name} {address:p}");
}

/// Calls `pair` `n` times through an opaque function pointer.
fn repeat<A: Copy, B: Copy>(n: u64, pair: fn(A, B) -> u64, a: A, b: B) {
    let pair = black_box(pair);
    for _ in 0..n {
        black_box(pair(black_box(a), black_box(b)));
    }
}

fn repeat1<A: Copy>(n: u64, pair: fn(A) -> u64, a: A) {
    let pair = black_box(pair);
    for _ in 0..n {
        black_box(pair(black_box(a)));
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
    let n: u64 = args
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("usage: callgrind_pairs <lock> <pairs> | --list"));
    let _bound = sim::dedicate(0);
    match name.as_str() {
        "rwlock_ex_dispatch" | "rwlock_ex_asym_dispatch" => {
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
            let raised: DispatchGuard = DispatchGuard::raise();
            // The mode is read at run time: both rows share one wrapper.
            let pair: fn(&RwLockEx<u64>, &AtDispatch) -> u64 = read_pair_rwlock_ex_dispatch;
            announce("rwlock_ex_dispatch", pair as *const ());
            repeat(n, pair, &lock, raised.token());
        }
        "rwlock_ex_passive" | "rwlock_ex_asym_passive" => {
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
            let pair: fn(&RwLockEx<u64>) -> u64 = read_pair_rwlock_ex_passive;
            announce("rwlock_ex_passive", pair as *const ());
            repeat1(n, pair, &lock);
        }
        "ndis_c_dispatch" | "ndis_c_passive" => {
            let lock = NdisAllocateRWLock(std::ptr::null_mut());
            assert!(!lock.is_null(), "the simulated pool has room");
            let data = 7u64;
            if name == "ndis_c_dispatch" {
                let _raised: DispatchGuard = DispatchGuard::raise();
                announce(&name, read_pair_ndis_c_dispatch as *const ());
                repeat(n, read_pair_ndis_c_dispatch, lock, &data);
            } else {
                announce(&name, read_pair_ndis_c_passive as *const ());
                repeat(n, read_pair_ndis_c_passive, lock, &data);
            }
            // SAFETY: allocated above, released by every pair, not used afterwards.
            unsafe { NdisFreeRWLock(lock) };
        }
        "std" => {
            let lock = std::sync::RwLock::new(7u64);
            announce(&name, read_pair_std as *const ());
            repeat1(n, read_pair_std, &lock);
        }
        "parking_lot" => {
            let lock = parking_lot::RwLock::new(7u64);
            announce(&name, read_pair_parking_lot as *const ());
            repeat1(n, read_pair_parking_lot, &lock);
        }
        "crossbeam_sharded" => {
            let lock = crossbeam_utils::sync::ShardedLock::new(7u64);
            announce(&name, read_pair_crossbeam_sharded as *const ());
            repeat1(n, read_pair_crossbeam_sharded, &lock);
        }
        "spin" => {
            let lock = spin::RwLock::new(7u64);
            announce(&name, read_pair_spin as *const ());
            repeat1(n, read_pair_spin, &lock);
        }
        other => panic!("unknown lock {other}; `--list` lists them"),
    }
}
