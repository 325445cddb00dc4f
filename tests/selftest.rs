//! The self-test the driver runs at load, run here on the simulated kernel: conformance on
//! one thread, then one stress worker per virtual processor.
#![cfg(not(loom))]

use ndis_rwlock::selftest::{self, Failure, Log, Shared, Stats};
use ndis_rwlock::sim::{self, Sim};

const PROCESSORS: u32 = 8;

struct Lines(Vec<String>);

impl Log for Lines {
    fn line(&mut self, text: &str) {
        self.0.push(text.to_owned());
    }
}

#[test]
fn conformance_passes_on_the_simulated_kernel() {
    sim::boot(PROCESSORS);
    let mut log = Lines(Vec::new());
    let checks = selftest::conformance::<Sim>(&mut log).expect("the lock conforms");
    assert!(checks >= 20, "{checks} checks");
    assert_eq!(log.0.len(), 4);
    assert!(
        log.0
            .iter()
            .all(|l| l.starts_with("ndis_rwlock: self-test: "))
    );
}

#[test]
fn one_stress_worker_per_processor_keeps_the_record_intact() {
    sim::boot(PROCESSORS);
    let shared = Shared::<Sim>::new().expect("the pool has room");
    let results: Vec<Result<Stats, Failure>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..PROCESSORS)
            .map(|p| {
                let shared = &shared;
                s.spawn(move || {
                    sim::run_on(p, || {
                        selftest::stress_worker(shared, u64::from(p) + 1, 20_000)
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let stats: Vec<Stats> = results
        .into_iter()
        .map(|r| r.expect("no violation"))
        .collect();
    let writes: u64 = stats.iter().map(|s| s.writes).sum();
    assert!(writes > 0 && stats.iter().all(|s| s.reads > 0));
    selftest::check_final(&shared, writes).expect("every write counted, nothing held");
}

#[test]
fn the_self_test_reports_torn_data_and_lost_writes() {
    sim::boot(PROCESSORS);
    let shared = Shared::<Sim>::new().expect("the pool has room");
    selftest::stress_worker(&shared, 7, 1_000).expect("no violation");
    // A count that disagrees with the record is a lost (or invented) write.
    let failure = selftest::check_final(&shared, u64::MAX).expect_err("a wrong write count");
    assert_eq!(failure.check, "every write counted");
    assert_eq!(failure.ntstatus(), selftest::STATUS_DATA_ERROR);
    let torn = selftest::check_record(&selftest::Record::from_words([1, 2, 1, 1]))
        .expect_err("a torn record");
    assert_eq!((torn.found, torn.expected), (2, 1));
}
