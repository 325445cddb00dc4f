//! The fuzz targets' reference models and drivers (tests/support/fuzz_model.rs, fuzz_push.rs,
//! fuzz_legacy.rs), run over fixed sequences and a seeded generator, so that they are checked
//! without nightly or cargo-fuzz. The hand-written sequences also pin what the models predict,
//! so a model that drifted from the documented behaviour fails here.
#![cfg(not(loom))]

#[path = "support/fuzz_model.rs"]
mod fuzz_model;

use fuzz_model::{Op, check_concurrent, check_sequence, legacy, push};
use ndis_rwlock::bugcheck::{
    DRIVER_VERIFIER_DETECTED_VIOLATION as C4, INVALID_PUSH_LOCK_FLAGS,
    NDIS_RWLOCK_VIOLATION as NDRL, rw, verifier,
};
use ndis_rwlock::kernel::{APC_LEVEL, DISPATCH_LEVEL, PASSIVE_LEVEL};

#[test]
fn hand_written_sequences_match_the_model() {
    sim_boot();
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
    sim_boot();
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
    ndis_rwlock::sim::boot(fuzz_model::PROCESSORS);
}

/// A seeded byte generator (xorshift).
fn bytes(x: &mut u64, n: u32) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *x as u8
        })
        .collect()
}

/// Runs `ops` through the push model alone and returns the first stop it predicts, with the
/// index of its step.
fn push_model_stop(ops: &[push::Op]) -> Option<(usize, push::Stop)> {
    let mut model = push::Model::default();
    ops.iter()
        .enumerate()
        .find_map(|(i, &op)| model.step(op).err().map(|stop| (i, stop)))
}

fn legacy_model_stop(ops: &[legacy::Op], processor: u32) -> Option<(usize, legacy::Stop)> {
    let mut model = legacy::Model::new(processor, [0x1000, 0x1000 + 1040]);
    ops.iter()
        .enumerate()
        .find_map(|(i, &op)| model.step(op).err().map(|stop| (i, stop)))
}

#[test]
fn push_sequences_match_the_model_and_the_documented_stops() {
    sim_boot();
    use push::Op::*;
    let read = |lock, slot| Acquire {
        lock,
        slot,
        write: false,
        flags: 0,
    };
    let write = |lock, slot| Acquire {
        lock,
        slot,
        write: true,
        flags: 0,
    };
    type Case = (Vec<push::Op>, Option<(usize, push::Stop)>);
    let cases: Vec<Case> = vec![
        (
            vec![
                read(0, 0),
                read(1, 1),
                Release { lock: 1, slot: 1 },
                Release { lock: 0, slot: 0 },
                Free { lock: 0 },
            ],
            None,
        ),
        (
            // Nested shared acquisition on one thread, with no waiter in between: a stop all
            // the same (Windows deadlocks as soon as a writer queues between the two).
            vec![read(0, 0), read(0, 1)],
            Some((1, (NDRL, rw::PUSH_LOCK_RECURSIVE_SHARED))),
        ),
        (
            vec![
                write(0, 0),
                write(1, 1),
                Release { lock: 0, slot: 0 },
                Release { lock: 1, slot: 1 },
            ],
            None,
        ),
        (
            vec![
                SetIrql(APC_LEVEL),
                write(1, 0),
                Release { lock: 1, slot: 0 },
                SetIrql(PASSIVE_LEVEL),
            ],
            None,
        ),
        (
            vec![read(0, 0), write(0, 1)],
            Some((1, (NDRL, rw::PUSH_LOCK_SHARED_TO_EXCLUSIVE))),
        ),
        (
            vec![write(0, 0), write(0, 1)],
            Some((1, (NDRL, rw::PUSH_LOCK_RECURSIVE_EXCLUSIVE))),
        ),
        (
            vec![write(0, 0), read(0, 1)],
            Some((1, (NDRL, rw::PUSH_LOCK_SHARED_INSIDE_EXCLUSIVE))),
        ),
        (
            vec![read(0, 0), Free { lock: 0 }],
            Some((1, (NDRL, rw::PUSH_LOCK_FREE_IN_USE))),
        ),
        (
            vec![Free { lock: 1 }, read(1, 0)],
            Some((1, (NDRL, rw::NOT_A_LOCK))),
        ),
        (
            vec![Free { lock: 1 }, Free { lock: 1 }],
            Some((1, (NDRL, rw::NOT_A_LOCK))),
        ),
        (
            vec![read(0, 0), Release { lock: 1, slot: 0 }],
            Some((1, (NDRL, rw::PUSH_LOCK_BAD_STATE))),
        ),
        (
            vec![
                read(0, 0),
                Garble {
                    slot: 0,
                    lock: false,
                },
                Release { lock: 0, slot: 0 },
            ],
            Some((2, (NDRL, rw::PUSH_LOCK_BAD_STATE))),
        ),
        (
            vec![
                read(0, 0),
                Release { lock: 0, slot: 0 },
                Release { lock: 0, slot: 0 },
            ],
            Some((2, (NDRL, rw::PUSH_LOCK_BAD_STATE))),
        ),
        // A copied state passes the state check; the push lock then finds it is not held.
        (
            vec![
                read(0, 0),
                read(1, 1),
                Copy { from: 0, to: 2 },
                Release { lock: 0, slot: 0 },
                Release { lock: 0, slot: 2 },
            ],
            Some((4, (NDRL, rw::PUSH_LOCK_RELEASE_NOT_HELD))),
        ),
        // ... or, with no critical region left to be in, that APCs are enabled.
        (
            vec![
                read(0, 0),
                Copy { from: 0, to: 2 },
                Release { lock: 0, slot: 0 },
                Release { lock: 0, slot: 2 },
            ],
            Some((3, (C4, verifier::PUSH_LOCK_RELEASE_APCS_ENABLED))),
        ),
        (
            vec![
                read(0, 0),
                LeaveRegion,
                SetIrql(APC_LEVEL),
                Release { lock: 0, slot: 0 },
            ],
            Some((3, (C4, verifier::LEAVE_CRITICAL_REGION_UNBALANCED))),
        ),
        (
            vec![SetIrql(DISPATCH_LEVEL), read(0, 0)],
            Some((1, (C4, verifier::WAIT_AT_DISPATCH))),
        ),
        (
            vec![
                read(0, 0),
                SetIrql(DISPATCH_LEVEL),
                Release { lock: 0, slot: 0 },
            ],
            Some((2, (NDRL, rw::PUSH_LOCK_RELEASE_ABOVE_APC))),
        ),
        (
            vec![Acquire {
                lock: 0,
                slot: 0,
                write: false,
                flags: 0x11,
            }],
            Some((0, (NDRL, rw::UNDEFINED_FLAGS))),
        ),
        (
            vec![RawAcquire {
                exclusive: true,
                flags: 0,
            }],
            Some((0, (C4, verifier::PUSH_LOCK_ACQUIRE_APCS_ENABLED))),
        ),
        (
            vec![
                EnterRegion,
                RawAcquire {
                    exclusive: false,
                    flags: 0x13,
                },
            ],
            Some((1, (INVALID_PUSH_LOCK_FLAGS, 0x13))),
        ),
        (
            vec![
                EnterRegion,
                RawAcquire {
                    exclusive: false,
                    flags: 0,
                },
                RawRelease { exclusive: false },
                RawRelease { exclusive: false },
            ],
            Some((3, (NDRL, rw::PUSH_LOCK_RELEASE_NOT_HELD))),
        ),
        (
            vec![
                EnterRegion,
                RawAcquire {
                    exclusive: true,
                    flags: 0,
                },
                LeaveRegion,
                RawRelease { exclusive: true },
            ],
            Some((3, (C4, verifier::PUSH_LOCK_RELEASE_APCS_ENABLED))),
        ),
        (
            vec![LeaveRegion],
            Some((0, (C4, verifier::LEAVE_CRITICAL_REGION_UNBALANCED))),
        ),
        // Held at the end: unwound by the harness, which must succeed.
        (
            vec![
                read(0, 0),
                EnterRegion,
                RawAcquire {
                    exclusive: true,
                    flags: 0,
                },
                write(1, 3),
                LeaveRegion,
                LeaveRegion,
            ],
            None,
        ),
    ];
    for (ops, stop) in &cases {
        assert_eq!(push_model_stop(ops), *stop, "the model on {ops:?}");
        let steps = push::check_sequence(ops);
        assert_eq!(steps, stop.map_or(ops.len(), |(i, _)| i + 1), "{ops:?}");
    }
}

#[test]
fn legacy_sequences_match_the_model_and_the_documented_stops() {
    sim_boot();
    use legacy::Op::*;
    let acq = |lock, slot, write, dpr| Acquire {
        lock,
        slot,
        write,
        dpr,
    };
    let rel = |lock, slot, dpr| Release { lock, slot, dpr };
    let ndrl = |subcode, p4| Some((NDRL, subcode, p4));
    type Case = (Vec<legacy::Op>, Option<(usize, legacy::Stop)>);
    for processor in fuzz_model::legacy_processors() {
        let slotless = processor >= ndis_rwlock::storage::legacy::MAXIMUM_PROCESSORS;
        let cases: Vec<Case> = vec![
            (
                vec![
                    acq(0, 0, false, false),
                    acq(0, 1, false, true),
                    rel(0, 1, true),
                    rel(0, 0, false),
                ],
                None,
            ),
            (
                vec![
                    acq(0, 0, true, false),
                    acq(0, 1, true, true),
                    acq(0, 2, false, true),
                    rel(0, 2, true),
                    rel(0, 1, true),
                    rel(0, 0, false),
                ],
                None,
            ),
            (
                vec![
                    acq(0, 0, false, false),
                    acq(1, 1, true, true),
                    rel(1, 1, true),
                    rel(0, 0, false),
                ],
                None,
            ),
            (
                vec![acq(0, 0, false, false), acq(0, 1, true, true)],
                Some((1, ndrl(rw::READ_TO_WRITE_PROMOTION, None).unwrap())),
            ),
            (
                vec![acq(0, 0, false, true)],
                Some((0, ndrl(rw::AT_DISPATCH_FLAG_BELOW_DISPATCH, None).unwrap())),
            ),
            (
                vec![rel(0, 0, false)],
                Some((0, ndrl(rw::BAD_LOCK_STATE, Some(1)).unwrap())),
            ),
            (
                vec![acq(0, 0, false, false), rel(1, 0, false)],
                Some((1, ndrl(rw::BAD_LOCK_STATE, Some(3)).unwrap())),
            ),
            (
                vec![
                    acq(0, 0, false, false),
                    Flip { slot: 0, bit: 18 },
                    rel(0, 0, false),
                ],
                Some((2, ndrl(rw::BAD_LOCK_STATE, Some(4)).unwrap())),
            ),
            (
                vec![
                    acq(0, 0, false, false),
                    Flip { slot: 0, bit: 15 },
                    rel(0, 0, false),
                ],
                Some((2, ndrl(rw::BAD_LOCK_STATE, Some(2)).unwrap())),
            ),
            (
                vec![acq(0, 0, false, false), rel(0, 0, true)],
                Some((
                    1,
                    ndrl(rw::LEGACY_NON_DPR_STATE_RELEASED_BY_DPR, None).unwrap(),
                )),
            ),
            (
                vec![
                    SetIrql(DISPATCH_LEVEL),
                    acq(0, 0, true, true),
                    rel(0, 0, false),
                ],
                Some((
                    2,
                    ndrl(rw::LEGACY_DPR_STATE_RELEASED_BY_NON_DPR, None).unwrap(),
                )),
            ),
            (
                vec![
                    acq(0, 0, false, false),
                    SetIrql(APC_LEVEL),
                    rel(0, 0, false),
                ],
                Some((2, ndrl(rw::RELEASE_NOT_AT_DISPATCH, None).unwrap())),
            ),
            // A Dpr state whose OldIrql is no longer DISPATCH_LEVEL.
            (
                vec![
                    SetIrql(DISPATCH_LEVEL),
                    acq(1, 3, true, true),
                    Flip { slot: 3, bit: 17 },
                    rel(1, 3, true),
                ],
                Some((3, ndrl(rw::BAD_LOCK_STATE, Some(4)).unwrap())),
            ),
            // Another processor's bits.
            (
                vec![
                    acq(0, 0, false, false),
                    Flip { slot: 0, bit: 1 },
                    rel(0, 0, false),
                ],
                Some((2, ndrl(rw::RELEASE_ON_OTHER_PROCESSOR, None).unwrap())),
            ),
            // A copied state: the second release finds nothing held.
            (
                vec![
                    acq(0, 0, false, false),
                    Copy { from: 0, to: 1 },
                    rel(0, 0, false),
                    SetIrql(DISPATCH_LEVEL),
                    rel(0, 1, false),
                ],
                Some((4, ndrl(rw::RELEASE_ON_OTHER_PROCESSOR, None).unwrap())),
            ),
            (
                vec![
                    acq(0, 0, true, false),
                    acq(0, 1, true, true),
                    rel(0, 0, false),
                ],
                // The outer write released first: on a processor with a slot its depth says
                // it is not the outermost; without a slot, every level is alike and the
                // order is free.
                (!slotless).then(|| (2, ndrl(rw::BAD_LOCK_STATE, Some(0)).unwrap())),
            ),
        ];
        for (ops, stop) in &cases {
            assert_eq!(
                legacy_model_stop(ops, processor),
                *stop,
                "the model on {ops:?}, processor {processor}"
            );
            let steps = legacy::check_sequence(ops, processor);
            assert_eq!(steps, stop.map_or(ops.len(), |(i, _)| i + 1), "{ops:?}");
        }
    }
}

#[test]
fn generated_inputs_match_the_models_for_every_lock() {
    sim_boot();
    let mut x = 0xD1B5_4A32_D192_ED03u64;
    let mut seen = [0u32; 3];
    for round in 0..6_000u32 {
        let mut input = bytes(&mut x, (round % 60 + 2) * 2 + 1);
        input[0] = (round % 3) as u8 + 3 * (input[0] / 3 % 4);
        seen[usize::from(input[0] % 3)] += 1;
        fuzz_model::check_input(&input);
    }
    assert!(seen.iter().all(|&n| n == 2_000));
}

#[test]
fn generated_concurrent_inputs_keep_the_data_of_every_lock_intact() {
    sim_boot();
    let mut x = 0x3C6E_F372_FE94_F82Au64;
    for round in 0..60u32 {
        let mut input = bytes(&mut x, 200 + round * 5);
        input[0] = (round % 3) as u8 + 3 * (input[0] / 3);
        fuzz_model::check_concurrent_input(&input);
    }
}
