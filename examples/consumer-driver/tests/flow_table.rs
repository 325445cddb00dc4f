//! The flow table's logic on ndis-rwlock's simulated kernel: classification at DISPATCH_LEVEL
//! on several processors while configuration changes at PASSIVE_LEVEL.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use flow_table_driver::{AddError, CAPACITY, Config, Flow, FlowTable};
use ndis_rwlock::kernel::{DispatchGuard, Kernel, PASSIVE_LEVEL};
use ndis_rwlock::sim::{self, Sim};

fn classify(table: &FlowTable, key: u64) -> Option<u16> {
    let dispatch = DispatchGuard::<Sim>::raise();
    table.classify(key, dispatch.token())
}

#[test]
fn flows_are_added_found_updated_and_removed() {
    let table = FlowTable::new(Config {
        default_queue: 9,
        drop_unknown: false,
    })
    .expect("pool");
    assert!(table.is_empty());
    table.add(Flow { key: 7, queue: 1 }).expect("room");
    table.add(Flow { key: 8, queue: 2 }).expect("room");
    table.add(Flow { key: 7, queue: 5 }).expect("an update");
    assert_eq!(table.len(), 2);
    assert_eq!(classify(&table, 7), Some(5));
    assert_eq!(classify(&table, 8), Some(2));
    assert_eq!(
        classify(&table, 99),
        Some(9),
        "unknown flows go to the default queue"
    );
    assert!(table.remove(7));
    assert!(!table.remove(7));
    assert_eq!(classify(&table, 7), Some(9));
    assert_eq!(
        table.add(Flow { key: 0, queue: 1 }),
        Err(AddError::ReservedKey)
    );
    assert_eq!(
        table.add(Flow {
            key: u64::MAX,
            queue: 1
        }),
        Err(AddError::ReservedKey)
    );
    assert_eq!(Sim::current_irql(), PASSIVE_LEVEL);
}

#[test]
fn a_full_table_refuses_new_flows_and_configuration_reaches_the_receive_path() {
    let table = FlowTable::new(Config::default()).expect("pool");
    for key in 1..CAPACITY as u64 {
        table.add(Flow { key, queue: 0 }).expect("room");
    }
    assert_eq!(
        table.add(Flow {
            key: 1000,
            queue: 0
        }),
        Err(AddError::Full)
    );
    table.set_config(Config {
        default_queue: 4,
        drop_unknown: true,
    });
    assert_eq!(
        table.config(),
        Config {
            default_queue: 4,
            drop_unknown: true
        }
    );
    assert_eq!(classify(&table, 1000), None, "unknown flows are dropped");
    table.set_config(Config {
        default_queue: 4,
        drop_unknown: false,
    });
    assert_eq!(classify(&table, 1000), Some(4));
}

#[test]
fn receive_paths_on_every_processor_see_consistent_flows_while_config_changes() {
    let table = FlowTable::new(Config::default()).expect("pool");
    for key in 1..=16u64 {
        table
            .add(Flow {
                key,
                queue: (key % 4) as u16,
            })
            .expect("room");
    }
    let stop = AtomicBool::new(false);
    let classified = AtomicU64::new(0);
    std::thread::scope(|s| {
        for p in 0..sim::processor_count() {
            let (table, stop, classified) = (&table, &stop, &classified);
            s.spawn(move || {
                sim::run_on(p, || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for key in 1..=16u64 {
                            // Flows 1..=16 are never removed: their queue never changes.
                            assert_eq!(classify(table, key), Some((key % 4) as u16));
                        }
                        n += 16;
                    }
                    classified.fetch_add(n, Ordering::Relaxed);
                });
            });
        }
        for round in 0..2_000u64 {
            table
                .add(Flow {
                    key: 100 + round % 8,
                    queue: 7,
                })
                .expect("room");
            table.remove(100 + (round + 4) % 8);
            table.set_config(Config {
                default_queue: (round % 3) as u16,
                drop_unknown: round % 2 == 0,
            });
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(classified.load(Ordering::Relaxed) > 0);
}
