//! The fuzz targets' reference model and drivers (tests/support/fuzz_model.rs), run over fixed
//! sequences and a seeded generator, so that they are checked without nightly or cargo-fuzz.
#![cfg(not(loom))]

#[path = "support/fuzz_model.rs"]
mod fuzz_model;

use fuzz_model::{Op, check_concurrent, check_sequence};

#[test]
fn hand_written_sequences_match_the_model() {
    use Op::*;
    let sequences: &[&[Op]] = &[
        &[Read { slot: 0, flags: 0 }, Release { slot: 0 }, Free],
        &[
            Write { slot: 0, flags: 0 },
            Write { slot: 1, flags: 1 },
            Read { slot: 2, flags: 1 },
            Release { slot: 2 },
            Release { slot: 1 },
            Release { slot: 0 },
            Free,
        ],
        &[Read { slot: 0, flags: 0 }, Write { slot: 1, flags: 1 }],
        &[Release { slot: 3 }],
        &[Read { slot: 0, flags: 1 }],
        &[Read { slot: 0, flags: 2 }],
        &[Read { slot: 0, flags: 0 }, Lower, Release { slot: 0 }],
        &[
            Read { slot: 0, flags: 0 },
            Release { slot: 0 },
            Release { slot: 0 },
        ],
        &[
            Write { slot: 0, flags: 0 },
            Write { slot: 1, flags: 1 },
            Release { slot: 0 },
        ],
        &[Read { slot: 0, flags: 0 }, Free],
        &[Free, Read { slot: 0, flags: 0 }],
        &[Free, Free],
        &[
            Raise,
            Read { slot: 0, flags: 1 },
            Garble { slot: 0 },
            Release { slot: 0 },
        ],
        &[
            Read { slot: 0, flags: 0 },
            Lower,
            Raise,
            Release { slot: 0 },
            Free,
        ],
    ];
    let mut total = 0;
    for ops in sequences {
        total += check_sequence(ops, 1);
    }
    assert!(total > 30);
}

#[test]
fn generated_sequences_match_the_model() {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..3_000u32 {
        let bytes: Vec<u8> = (0..(round % 40 + 2) * 2)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        check_sequence(&Op::decode(&bytes), round % 2);
    }
}

#[test]
fn generated_concurrent_runs_keep_the_data_intact() {
    sim_boot();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..40u32 {
        let bytes: Vec<u8> = (0..200 + round * 10)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        check_concurrent(&bytes);
    }
}

fn sim_boot() {
    ndis_rwlock::sim::boot(4);
}
