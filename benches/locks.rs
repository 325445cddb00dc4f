//! Criterion benchmarks: `RwLockEx` (symmetric and asymmetric, from `PASSIVE_LEVEL` and at
//! `DISPATCH_LEVEL`), the C ABI (`NdisAcquireRWLockRead` and the rest, from plain attached
//! threads), the legacy NDIS 5 lock and `PushLock` against `std::sync::RwLock`,
//! `parking_lot::RwLock`, crossbeam's `ShardedLock` and `spin::RwLock`.
//!
//! `cargo bench --bench locks` (add a filter such as `-- read_uncontended` to run one group).
//! Groups: uncontended read and write lock+unlock on one thread; read-only throughput with 1
//! and 2 threads; 99/1 and 90/10 read/write mixes with 2 threads. Threads are bound to
//! virtual processors and pinned to host CPUs. `examples/lab.rs` runs the same workloads in
//! interleaved rounds and prints the comparison table.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{
    CDispatch, CPassive, ExAsymDispatch, ExAsymPassive, ExSymDispatch, ExSymPassive,
    LegacyDispatch, LegacyPassive, Lock, NoLock, ParkingLot, Push, Sharded, Spin, StdRwLock,
    on_processor, pin, timed_ops,
};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use ndis_rwlock::sim;

fn uncontended<L: Lock>(group: &mut BenchmarkGroup<'_, WallTime>, write: bool) {
    if write && !L::WRITES {
        return;
    }
    let lock = L::make();
    // Pinned for this benchmark only: threads spawned later inherit the main thread's CPUs.
    #[cfg(target_os = "linux")]
    let cpus = rustix::thread::sched_getaffinity(None).ok();
    pin(0);
    on_processor::<L, _>(0, || {
        let cx = L::enter();
        group.bench_function(L::NAME, |b| {
            if write {
                b.iter(|| black_box(&lock).write_bump(&cx));
            } else {
                b.iter(|| black_box(black_box(&lock).read_check(&cx)));
            }
        });
    });
    #[cfg(target_os = "linux")]
    if let Some(cpus) = cpus {
        // Not restored is only a worse-placed benchmark, never a wrong one.
        let _ = rustix::thread::sched_setaffinity(None, &cpus);
    }
}

fn threaded<L: Lock>(group: &mut BenchmarkGroup<'_, WallTime>, threads: u32, write_bp: u32) {
    if write_bp != 0 && !L::WRITES {
        return;
    }
    let lock = L::make();
    group.bench_function(L::NAME, |b| {
        b.iter_custom(|iters| timed_ops(&lock, threads, write_bp, iters));
    });
}

macro_rules! each_lock {
    ($f:ident, $group:expr $(, $arg:expr)*) => {{
        $f::<ExSymDispatch>($group $(, $arg)*);
        $f::<ExSymPassive>($group $(, $arg)*);
        $f::<CDispatch>($group $(, $arg)*);
        $f::<CPassive>($group $(, $arg)*);
        $f::<ExAsymDispatch>($group $(, $arg)*);
        $f::<ExAsymPassive>($group $(, $arg)*);
        $f::<LegacyDispatch>($group $(, $arg)*);
        $f::<LegacyPassive>($group $(, $arg)*);
        $f::<Push>($group $(, $arg)*);
        $f::<ParkingLot>($group $(, $arg)*);
        $f::<StdRwLock>($group $(, $arg)*);
        $f::<Sharded>($group $(, $arg)*);
        $f::<Spin>($group $(, $arg)*);
        $f::<NoLock>($group $(, $arg)*);
    }};
}

fn configure<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    group
}

fn benches(c: &mut Criterion) {
    let two = sim::processor_count().min(2);

    let mut group = configure(c, "read_uncontended");
    group.throughput(Throughput::Elements(1));
    each_lock!(uncontended, &mut group, false);
    group.finish();

    let mut group = configure(c, "write_uncontended");
    group.throughput(Throughput::Elements(1));
    each_lock!(uncontended, &mut group, true);
    group.finish();

    for (name, threads, write_bp) in [
        ("read_only_1t", 1, 0),
        ("read_only_2t", two, 0),
        ("mix_99_1_2t", two, 100),
        ("mix_90_10_2t", two, 1000),
    ] {
        let mut group = configure(c, name);
        group.throughput(Throughput::Elements(u64::from(threads)));
        each_lock!(threaded, &mut group, threads, write_bp);
        group.finish();
    }
}

criterion_group!(locks, benches);
criterion_main!(locks);
