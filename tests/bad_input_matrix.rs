//! The bad-input matrix: every exported lock function against every kind of bad input, each
//! cell with a documented outcome (README, "Bad-input matrix") and executed here.
//!
//! The exports are `extern "system"`, so a bug check inside them aborts the process; the cells
//! run their Rust twins (the generic functions each export is a one-line call of), which can
//! unwind into `sim::expect_bug_check`. The `Ex*PushLock*Ex` routines take the push lock
//! through the kernel interface here; their NULL-pointer cell runs through the C export in
//! tests/c_pushlock.rs (misuse `null`).
#![cfg(not(loom))]

use std::sync::Barrier;

use ndis_rwlock::bugcheck::{
    DRIVER_VERIFIER_DETECTED_VIOLATION, INVALID_PUSH_LOCK_FLAGS, NDIS_RWLOCK_VIOLATION, rw,
    verifier,
};
use ndis_rwlock::kernel::{DISPATCH_LEVEL, DispatchGuard, ExPushLock, HIGH_LEVEL, Kernel};
use ndis_rwlock::sim::{self, Sim, expect_bug_check};
use ndis_rwlock::storage::ex::{self as rwlock_ex, LockStateEx, NdisRwLockEx};
use ndis_rwlock::storage::legacy::{self as rwlock_legacy, LockState, NdisRwLock};
use ndis_rwlock::storage::pushrw::{self, PushRwLockState};

const COLUMNS: [&str; 7] = [
    "NULL lock",
    "NULL state",
    "freed lock",
    "garbage LockState",
    "undefined flags",
    "wrong IRQL",
    "wrong processor",
];

/// A cell's outcome: the bug check (code, P1 for 0xC4 and the crate's code) or why the input
/// cannot be given to that function.
#[derive(Clone, Copy)]
enum Outcome {
    Stop(u32, usize),
    NotApplicable,
}

use Outcome::{NotApplicable as NA, Stop};

fn ndrl(subcode: usize) -> Outcome {
    Stop(NDIS_RWLOCK_VIOLATION, subcode)
}

fn c4(subcode: usize) -> Outcome {
    Stop(DRIVER_VERIFIER_DETECTED_VIOLATION, subcode)
}

impl Outcome {
    fn cell(self) -> String {
        match self {
            Stop(NDIS_RWLOCK_VIOLATION, p1) => format!("NDRL/0x{p1:02X}"),
            Stop(DRIVER_VERIFIER_DETECTED_VIOLATION, p1) => format!("0xC4/0x{p1:02X}"),
            Stop(code, _) => format!("0x{code:X}"),
            NA => "-".to_owned(),
        }
    }
}

fn raise(irql: u8) -> u8 {
    // SAFETY: the cells raise from PASSIVE_LEVEL.
    unsafe { Sim::raise_irql(irql) }
}

fn ex_lock() -> *mut NdisRwLockEx<Sim> {
    NdisRwLockEx::<Sim>::allocate()
        .expect("the pool has room")
        .as_ptr()
}

fn freed_ex_lock() -> *mut NdisRwLockEx<Sim> {
    let lock = ex_lock();
    // SAFETY: allocated just above, not held; the pool keeps it mapped (quarantine).
    unsafe { NdisRwLockEx::free(std::ptr::NonNull::new(lock).expect("non-null")) };
    lock
}

fn legacy_lock() -> Box<NdisRwLock<Sim>> {
    let mut lock = Box::new(NdisRwLock::<Sim>::new());
    // SAFETY: a writable lock nobody uses.
    unsafe { rwlock_legacy::initialize::<Sim>(&mut *lock) };
    lock
}

fn freed_push_lock() -> *mut pushrw::PushRwLock {
    let lock = pushrw::allocate::<Sim>();
    // SAFETY: allocated just above, unused; the pool keeps it mapped (quarantine).
    unsafe { pushrw::free::<Sim>(lock) };
    lock
}

/// Acquires on processor 0 with `acquire`, then releases that state from processor 1 with
/// `release` (which must bug-check), then releases properly on processor 0.
fn release_elsewhere<S: Copy + Send + Default>(
    acquire: impl Fn(*mut S) + Sync,
    release: impl Fn(*mut S) + Sync,
) -> sim::BugCheck {
    let acquired = Barrier::new(2);
    let tried = Barrier::new(2);
    let state = std::sync::Mutex::new(S::default());
    let mut stop = None;
    std::thread::scope(|s| {
        s.spawn(|| {
            sim::run_on(0, || {
                let mut mine = S::default();
                acquire(&mut mine);
                *state.lock().expect("not poisoned") = mine;
                acquired.wait();
                tried.wait();
                release(&mut mine);
                // A Dpr acquisition was taken at DISPATCH_LEVEL and its release stays there.
                // SAFETY: nothing is held any more.
                unsafe { Sim::lower_irql(ndis_rwlock::kernel::PASSIVE_LEVEL) };
            });
        });
        s.spawn(|| {
            acquired.wait();
            let mut copy = *state.lock().expect("not poisoned");
            stop = Some(sim::run_on(1, || {
                expect_bug_check(|| {
                    let _d = DispatchGuard::<Sim>::raise();
                    release(&mut copy);
                })
            }));
            tried.wait();
        });
    });
    stop.expect("the second thread ran")
}

type Run = Option<Box<dyn Fn() -> sim::BugCheck>>;
type Case = (&'static str, [(Outcome, Run); 7]);

fn run(f: impl Fn() -> sim::BugCheck + 'static) -> Run {
    Some(Box::new(f))
}

fn garbage_ex_state() -> LockStateEx {
    LockStateEx {
        old_irql: 0x5A,
        lock_state: 0x3C,
        flags: 0x7E,
    }
}

fn cases() -> Vec<Case> {
    vec![
        (
            "NdisAllocateRWLock",
            [
                (NA, None),
                (NA, None),
                (NA, None),
                (NA, None),
                (NA, None),
                (
                    c4(verifier::ALLOCATE_ABOVE_DISPATCH),
                    run(move || {
                        expect_bug_check(|| {
                            raise(HIGH_LEVEL);
                            NdisRwLockEx::<Sim>::allocate()
                        })
                    }),
                ),
                (NA, None),
            ],
        ),
        (
            "NdisFreeRWLock",
            [
                (
                    ndrl(rw::NULL_LOCK),
                    run(move || {
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { rwlock_ex::free::<Sim>(std::ptr::null_mut()) }
                        })
                    }),
                ),
                (NA, None),
                (
                    ndrl(rw::NOT_A_LOCK),
                    run(move || {
                        let lock = freed_ex_lock();
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe {
                                NdisRwLockEx::free(std::ptr::NonNull::new(lock).expect("non-null"))
                            }
                        })
                    }),
                ),
                (NA, None),
                (NA, None),
                (
                    c4(verifier::FREE_ABOVE_DISPATCH),
                    run(move || {
                        let lock = ex_lock();
                        expect_bug_check(|| {
                            raise(HIGH_LEVEL);
                            // SAFETY: the misuse under test; the pool checks the IRQL first.
                            unsafe {
                                NdisRwLockEx::free(std::ptr::NonNull::new(lock).expect("non-null"))
                            }
                        })
                    }),
                ),
                (NA, None),
            ],
        ),
        ex_acquire_case("NdisAcquireRWLockRead", |lock, state, flags| {
            // SAFETY: the misuse under test, checked before anything is touched.
            unsafe { rwlock_ex::acquire_read::<Sim>(lock, state, flags) }
        }),
        ex_acquire_case("NdisAcquireRWLockWrite", |lock, state, flags| {
            // SAFETY: as above.
            unsafe { rwlock_ex::acquire_write::<Sim>(lock, state, flags) }
        }),
        (
            "NdisReleaseRWLock",
            [
                (
                    ndrl(rw::NULL_LOCK),
                    run(move || {
                        let mut state = LockStateEx::default();
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { rwlock_ex::release::<Sim>(std::ptr::null_mut(), &mut state) }
                        })
                    }),
                ),
                (
                    ndrl(rw::NULL_LOCK_STATE),
                    run(move || {
                        let lock = ex_lock();
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { rwlock_ex::release::<Sim>(lock, std::ptr::null_mut()) }
                        })
                    }),
                ),
                (
                    ndrl(rw::NOT_A_LOCK),
                    run(move || {
                        let lock = freed_ex_lock();
                        let mut state = LockStateEx::default();
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { rwlock_ex::release::<Sim>(lock, &mut state) }
                        })
                    }),
                ),
                (
                    ndrl(rw::BAD_LOCK_STATE),
                    run(move || {
                        let lock = ex_lock();
                        let mut state = garbage_ex_state();
                        expect_bug_check(|| {
                            let _d = DispatchGuard::<Sim>::raise();
                            // SAFETY: the misuse under test.
                            unsafe { rwlock_ex::release::<Sim>(lock, &mut state) }
                        })
                    }),
                ),
                (NA, None),
                (
                    ndrl(rw::RELEASE_NOT_AT_DISPATCH),
                    run(move || {
                        let lock = ex_lock();
                        let mut state = LockStateEx::default();
                        let d = DispatchGuard::<Sim>::raise();
                        // SAFETY: a live lock and a valid state.
                        unsafe { rwlock_ex::acquire_read::<Sim>(lock, &mut state, 1) };
                        drop(d);
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { rwlock_ex::release::<Sim>(lock, &mut state) }
                        })
                    }),
                ),
                (
                    ndrl(rw::RELEASE_ON_OTHER_PROCESSOR),
                    run(move || {
                        let lock = ex_lock() as usize;
                        release_elsewhere::<LockStateEx>(
                            // SAFETY: a live lock and a valid state.
                            |s| unsafe { rwlock_ex::acquire_read::<Sim>(lock as *mut _, s, 0) },
                            // SAFETY: as above; the wrong processor is the misuse.
                            |s| unsafe { rwlock_ex::release::<Sim>(lock as *mut _, s) },
                        )
                    }),
                ),
            ],
        ),
        (
            "NdisInitializeReadWriteLock",
            [
                (
                    ndrl(rw::NULL_LOCK),
                    run(move || {
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { rwlock_legacy::initialize::<Sim>(std::ptr::null_mut()) }
                        })
                    }),
                ),
                (NA, None),
                (NA, None),
                (NA, None),
                (NA, None),
                (
                    ndrl(rw::LEGACY_INITIALIZE_ABOVE_DISPATCH),
                    run(move || {
                        let mut lock = legacy_lock();
                        expect_bug_check(|| {
                            raise(HIGH_LEVEL);
                            // SAFETY: the misuse under test.
                            unsafe { rwlock_legacy::initialize::<Sim>(&mut *lock) }
                        })
                    }),
                ),
                (NA, None),
            ],
        ),
        legacy_acquire_case("NdisAcquireReadWriteLock", false),
        legacy_acquire_case("NdisDprAcquireReadWriteLock", true),
        legacy_release_case("NdisReleaseReadWriteLock", false),
        legacy_release_case("NdisDprReleaseReadWriteLock", true),
        (
            "NdisRwlAllocatePushLock",
            [
                (NA, None),
                (NA, None),
                (NA, None),
                (NA, None),
                (NA, None),
                (
                    c4(verifier::ALLOCATE_ABOVE_DISPATCH),
                    run(move || {
                        expect_bug_check(|| {
                            raise(HIGH_LEVEL);
                            pushrw::allocate::<Sim>()
                        })
                    }),
                ),
                (NA, None),
            ],
        ),
        (
            "NdisRwlFreePushLock",
            [
                (
                    ndrl(rw::NULL_LOCK),
                    run(move || {
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { pushrw::free::<Sim>(std::ptr::null_mut()) }
                        })
                    }),
                ),
                (NA, None),
                (
                    ndrl(rw::NOT_A_LOCK),
                    run(move || {
                        let lock = freed_push_lock();
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { pushrw::free::<Sim>(lock) }
                        })
                    }),
                ),
                (NA, None),
                (NA, None),
                (
                    c4(verifier::FREE_ABOVE_DISPATCH),
                    run(move || {
                        let lock = pushrw::allocate::<Sim>();
                        expect_bug_check(|| {
                            raise(HIGH_LEVEL);
                            // SAFETY: the misuse under test.
                            unsafe { pushrw::free::<Sim>(lock) }
                        })
                    }),
                ),
                (NA, None),
            ],
        ),
        push_acquire_case("NdisRwlAcquirePushLockRead", |lock, state, flags| {
            // SAFETY: the misuse under test.
            unsafe { pushrw::acquire_read::<Sim>(lock, state, flags) }
        }),
        push_acquire_case("NdisRwlAcquirePushLockWrite", |lock, state, flags| {
            // SAFETY: the misuse under test.
            unsafe { pushrw::acquire_write::<Sim>(lock, state, flags) }
        }),
        (
            "NdisRwlReleasePushLock",
            [
                (
                    ndrl(rw::NULL_LOCK),
                    run(move || {
                        let mut state = PushRwLockState::default();
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { pushrw::release::<Sim>(std::ptr::null_mut(), &mut state) }
                        })
                    }),
                ),
                (
                    ndrl(rw::NULL_LOCK_STATE),
                    run(move || {
                        let lock = pushrw::allocate::<Sim>();
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { pushrw::release::<Sim>(lock, std::ptr::null_mut()) }
                        })
                    }),
                ),
                (
                    ndrl(rw::NOT_A_LOCK),
                    run(move || {
                        let lock = freed_push_lock();
                        let mut state = PushRwLockState::default();
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { pushrw::release::<Sim>(lock, &mut state) }
                        })
                    }),
                ),
                (
                    ndrl(rw::PUSH_LOCK_BAD_STATE),
                    run(move || {
                        let lock = pushrw::allocate::<Sim>();
                        let mut state = PushRwLockState::default();
                        expect_bug_check(|| {
                            // SAFETY: the misuse under test, checked before anything is touched.
                            unsafe { pushrw::release::<Sim>(lock, &mut state) }
                        })
                    }),
                ),
                (NA, None),
                (
                    ndrl(rw::PUSH_LOCK_RELEASE_ABOVE_APC),
                    run(move || {
                        let lock = pushrw::allocate::<Sim>();
                        let mut state = PushRwLockState::default();
                        // SAFETY: a live lock and a valid state.
                        unsafe { pushrw::acquire_read::<Sim>(lock, &mut state, 0) };
                        expect_bug_check(|| {
                            raise(DISPATCH_LEVEL);
                            // SAFETY: the misuse under test.
                            unsafe { pushrw::release::<Sim>(lock, &mut state) }
                        })
                    }),
                ),
                (NA, None),
            ],
        ),
        ex_push_case("ExAcquirePushLockExclusiveEx", |lock, flags| {
            Sim::acquire_push_lock_exclusive(lock, flags)
        }),
        ex_push_case("ExAcquirePushLockSharedEx", |lock, flags| {
            Sim::acquire_push_lock_shared(lock, flags)
        }),
    ]
}

type ExAcquire = fn(*mut NdisRwLockEx<Sim>, *mut LockStateEx, u8);

fn ex_acquire_case(name: &'static str, acquire: ExAcquire) -> Case {
    (
        name,
        [
            (
                ndrl(rw::NULL_LOCK),
                run(move || {
                    let mut state = LockStateEx::default();
                    expect_bug_check(|| acquire(std::ptr::null_mut(), &mut state, 0))
                }),
            ),
            (
                ndrl(rw::NULL_LOCK_STATE),
                run(move || {
                    let lock = ex_lock();
                    expect_bug_check(|| acquire(lock, std::ptr::null_mut(), 0))
                }),
            ),
            (
                ndrl(rw::NOT_A_LOCK),
                run(move || {
                    let lock = freed_ex_lock();
                    let mut state = LockStateEx::default();
                    expect_bug_check(|| acquire(lock, &mut state, 0))
                }),
            ),
            (NA, None),
            (
                ndrl(rw::UNDEFINED_FLAGS),
                run(move || {
                    let lock = ex_lock();
                    let mut state = LockStateEx::default();
                    expect_bug_check(|| acquire(lock, &mut state, 0x80))
                }),
            ),
            (
                ndrl(rw::ACQUIRE_ABOVE_DISPATCH),
                run(move || {
                    let lock = ex_lock();
                    let mut state = LockStateEx::default();
                    expect_bug_check(|| {
                        raise(HIGH_LEVEL);
                        acquire(lock, &mut state, 0)
                    })
                }),
            ),
            (NA, None),
        ],
    )
}

type LegacyCall = unsafe fn(*mut NdisRwLock<Sim>, bool, *mut LockState);
type LegacyRelease = unsafe fn(*mut NdisRwLock<Sim>, *mut LockState);

fn legacy_acquire_case(name: &'static str, dpr: bool) -> Case {
    let acquire: LegacyCall = if dpr {
        rwlock_legacy::dpr_acquire::<Sim>
    } else {
        rwlock_legacy::acquire::<Sim>
    };
    let wrong_irql = if dpr {
        // A Dpr acquire at PASSIVE_LEVEL.
        (
            ndrl(rw::AT_DISPATCH_FLAG_BELOW_DISPATCH),
            run(move || {
                let mut lock = legacy_lock();
                let mut state = LockState::default();
                expect_bug_check(|| {
                    // SAFETY: the misuse under test, checked before anything is touched.
                    unsafe { acquire(&mut *lock, false, &mut state) }
                })
            }),
        )
    } else {
        (
            ndrl(rw::ACQUIRE_ABOVE_DISPATCH),
            run(move || {
                let mut lock = legacy_lock();
                let mut state = LockState::default();
                expect_bug_check(|| {
                    raise(HIGH_LEVEL);
                    // SAFETY: the misuse under test.
                    unsafe { acquire(&mut *lock, false, &mut state) }
                })
            }),
        )
    };
    (
        name,
        [
            (
                ndrl(rw::NULL_LOCK),
                run(move || {
                    let mut state = LockState::default();
                    let _d = DispatchGuard::<Sim>::raise();
                    expect_bug_check(|| {
                        // SAFETY: the misuse under test, checked before anything is touched.
                        unsafe { acquire(std::ptr::null_mut(), false, &mut state) }
                    })
                }),
            ),
            (
                ndrl(rw::NULL_LOCK_STATE),
                run(move || {
                    let mut lock = legacy_lock();
                    let _d = DispatchGuard::<Sim>::raise();
                    expect_bug_check(|| {
                        // SAFETY: the misuse under test, checked before anything is touched.
                        unsafe { acquire(&mut *lock, true, std::ptr::null_mut()) }
                    })
                }),
            ),
            (NA, None),
            (NA, None),
            (NA, None),
            wrong_irql,
            (NA, None),
        ],
    )
}

fn legacy_release_case(name: &'static str, dpr: bool) -> Case {
    let (acquire, release): (LegacyCall, LegacyRelease) = if dpr {
        (
            rwlock_legacy::dpr_acquire::<Sim>,
            rwlock_legacy::dpr_release::<Sim>,
        )
    } else {
        (rwlock_legacy::acquire::<Sim>, rwlock_legacy::release::<Sim>)
    };
    (
        name,
        [
            (
                ndrl(rw::NULL_LOCK),
                run(move || {
                    let mut state = LockState::default();
                    let _d = DispatchGuard::<Sim>::raise();
                    expect_bug_check(|| {
                        // SAFETY: the misuse under test, checked before anything is touched.
                        unsafe { release(std::ptr::null_mut(), &mut state) }
                    })
                }),
            ),
            (
                ndrl(rw::NULL_LOCK_STATE),
                run(move || {
                    let mut lock = legacy_lock();
                    let _d = DispatchGuard::<Sim>::raise();
                    expect_bug_check(|| {
                        // SAFETY: the misuse under test, checked before anything is touched.
                        unsafe { release(&mut *lock, std::ptr::null_mut()) }
                    })
                }),
            ),
            (NA, None),
            (
                ndrl(rw::BAD_LOCK_STATE),
                run(move || {
                    let mut lock = legacy_lock();
                    let mut state = LockState {
                        lock_state: 0x5A5A,
                        old_irql: 9,
                    };
                    let _d = DispatchGuard::<Sim>::raise();
                    expect_bug_check(|| {
                        // SAFETY: the misuse under test, checked before anything is touched.
                        unsafe { release(&mut *lock, &mut state) }
                    })
                }),
            ),
            (NA, None),
            (
                ndrl(rw::RELEASE_NOT_AT_DISPATCH),
                run(move || {
                    let mut lock = legacy_lock();
                    let mut state = LockState::default();
                    let d = DispatchGuard::<Sim>::raise();
                    // SAFETY: a live lock and a valid state.
                    unsafe { acquire(&mut *lock, false, &mut state) };
                    drop(d);
                    expect_bug_check(|| {
                        // SAFETY: the misuse under test, checked before anything is touched.
                        unsafe { release(&mut *lock, &mut state) }
                    })
                }),
            ),
            (
                ndrl(rw::RELEASE_ON_OTHER_PROCESSOR),
                run(move || {
                    let lock = Box::into_raw(legacy_lock()) as usize;
                    release_elsewhere::<LockState>(
                        |s| {
                            raise(DISPATCH_LEVEL);
                            // SAFETY: a live lock and a valid state.
                            unsafe { acquire(lock as *mut _, false, s) };
                        },
                        |s| {
                            // SAFETY: the wrong processor is the misuse under test.
                            unsafe { release(lock as *mut _, s) };
                        },
                    )
                }),
            ),
        ],
    )
}

type PushAcquire = fn(*mut pushrw::PushRwLock, *mut PushRwLockState, u32);

fn push_acquire_case(name: &'static str, acquire: PushAcquire) -> Case {
    (
        name,
        [
            (
                ndrl(rw::NULL_LOCK),
                run(move || {
                    let mut state = PushRwLockState::default();
                    expect_bug_check(|| acquire(std::ptr::null_mut(), &mut state, 0))
                }),
            ),
            (
                ndrl(rw::NULL_LOCK_STATE),
                run(move || {
                    let lock = pushrw::allocate::<Sim>();
                    expect_bug_check(|| acquire(lock, std::ptr::null_mut(), 0))
                }),
            ),
            (
                ndrl(rw::NOT_A_LOCK),
                run(move || {
                    let lock = freed_push_lock();
                    let mut state = PushRwLockState::default();
                    expect_bug_check(|| acquire(lock, &mut state, 0))
                }),
            ),
            (NA, None),
            (
                ndrl(rw::UNDEFINED_FLAGS),
                run(move || {
                    let lock = pushrw::allocate::<Sim>();
                    let mut state = PushRwLockState::default();
                    expect_bug_check(|| acquire(lock, &mut state, 4))
                }),
            ),
            (
                c4(verifier::WAIT_AT_DISPATCH),
                run(move || {
                    let lock = pushrw::allocate::<Sim>();
                    let mut state = PushRwLockState::default();
                    expect_bug_check(|| {
                        raise(DISPATCH_LEVEL);
                        acquire(lock, &mut state, 0)
                    })
                }),
            ),
            (NA, None),
        ],
    )
}

type ExPush = fn(&ExPushLock, u32);

fn ex_push_case(name: &'static str, acquire: ExPush) -> Case {
    (
        name,
        [
            (ndrl(rw::NULL_LOCK), None),
            (NA, None),
            (NA, None),
            (NA, None),
            (
                Stop(INVALID_PUSH_LOCK_FLAGS, 1),
                run(move || {
                    let lock = ExPushLock::new();
                    Sim::enter_critical_region();
                    expect_bug_check(|| acquire(&lock, 1))
                }),
            ),
            (
                c4(verifier::WAIT_AT_DISPATCH),
                run(move || {
                    let lock = ExPushLock::new();
                    expect_bug_check(|| {
                        raise(DISPATCH_LEVEL);
                        acquire(&lock, 0)
                    })
                }),
            ),
            (NA, None),
        ],
    )
}

/// The README's matrix row for a case.
fn row(name: &str, cells: &[(Outcome, Run); 7]) -> String {
    let cells: Vec<String> = cells.iter().map(|(o, _)| o.cell()).collect();
    format!("| `{name}` | {} |", cells.join(" | "))
}

#[test]
fn every_cell_of_the_matrix_has_its_documented_outcome() {
    sim::boot(4);
    let mut failures = Vec::new();
    let mut executed = 0;
    for (name, cells) in cases() {
        for (column, (outcome, run)) in COLUMNS.iter().zip(cells.iter()) {
            let (Stop(code, p1), Some(run)) = (outcome, run) else {
                continue;
            };
            executed += 1;
            let stop = run();
            let matches = stop.code == *code
                && (!matches!(
                    *code,
                    NDIS_RWLOCK_VIOLATION | DRIVER_VERIFIER_DETECTED_VIOLATION
                ) || stop.params[0] == *p1);
            if !matches {
                failures.push(format!(
                    "{name} × {column}: expected {}, got {stop}",
                    outcome.cell()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(executed >= 60, "only {executed} cells ran");
}

#[test]
fn readme_documents_the_matrix() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let header = format!("| function | {} |", COLUMNS.join(" | "));
    assert!(
        readme.contains(&header),
        "README lacks the matrix header:\n{header}"
    );
    let missing: Vec<String> = cases()
        .iter()
        .map(|(name, cells)| row(name, cells))
        .filter(|r| !readme.contains(r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "README lacks the rows:\n{}",
        missing.join("\n")
    );
}
