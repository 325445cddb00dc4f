//! The self-test: conformance and stress checks of the NDIS 6.20 lock, written once over the
//! kernel interface.
//!
//! The host tests run it on the simulated kernel (`tests/selftest.rs`), which is the proof
//! that this code works; the driver runs it at load time on Windows when the registry asks for
//! it, [`conformance`] on the loading thread and [`stress_worker`] on one system thread per
//! processor (see `src/driver.rs`). It needs no allocator beyond the lock's own pool block and
//! reports through a [`Log`] so that the driver can `DbgPrint` and the host can print.

use crate::kernel::{APC_LEVEL, DISPATCH_LEVEL, DispatchGuard, Irql, Kernel, PASSIVE_LEVEL};
use crate::storage::ex::{self, LockStateEx, NDIS_RWL_AT_DISPATCH_LEVEL, NdisRwLockEx};
use crate::{AllocError, RwLockEx};

/// `STATUS_DATA_ERROR`: a check found the lock or its data in a wrong state.
pub const STATUS_DATA_ERROR: i32 = 0xC000_003E_u32 as i32;
/// `STATUS_INSUFFICIENT_RESOURCES`: the lock could not be allocated.
pub const STATUS_INSUFFICIENT_RESOURCES: i32 = 0xC000_009A_u32 as i32;

/// A failed check: what was checked and the two values that disagreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The check, as a sentence.
    pub check: &'static str,
    /// What was found.
    pub found: u64,
    /// What was expected.
    pub expected: u64,
}

impl Failure {
    /// The NTSTATUS the driver fails its load with.
    pub fn ntstatus(&self) -> i32 {
        if self.check == ALLOCATION {
            STATUS_INSUFFICIENT_RESOURCES
        } else {
            STATUS_DATA_ERROR
        }
    }
}

const ALLOCATION: &str = "the lock can be allocated";

impl From<AllocError> for Failure {
    fn from(_: AllocError) -> Self {
        Failure {
            check: ALLOCATION,
            found: 0,
            expected: 1,
        }
    }
}

/// Where the self-test reports progress.
pub trait Log {
    /// One line.
    fn line(&mut self, text: &str);
}

fn expect(check: &'static str, found: u64, expected: u64) -> Result<(), Failure> {
    if found == expected {
        Ok(())
    } else {
        Err(Failure {
            check,
            found,
            expected,
        })
    }
}

/// The conformance checks, on the calling thread (at `PASSIVE_LEVEL`): IRQL saved and restored
/// from PASSIVE, APC and DISPATCH level with both flag values; read and write recursion and a
/// read inside one's own write; the three bytes of `LOCK_STATE_EX`; the try variants and the
/// diagnostics. Returns the number of checks made.
///
/// # Errors
///
/// The first [`Failure`].
pub fn conformance<K: Kernel>(log: &mut dyn Log) -> Result<u32, Failure> {
    let mut checks = 0;
    let lock = NdisRwLockEx::<K>::allocate().ok_or(AllocError)?;
    let raw = lock.as_ptr();
    let result = (|| {
        for start in [PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL] {
            checks += irql_round_trip::<K>(raw, start)?;
        }
        log.line("ndis_rwlock: self-test: IRQL saved and restored");
        checks += recursion::<K>(raw)?;
        log.line("ndis_rwlock: self-test: recursion and reads inside own write");
        checks += state_bytes::<K>(raw)?;
        log.line("ndis_rwlock: self-test: LOCK_STATE_EX writes 3 bytes");
        checks += safe_api::<K>()?;
        log.line("ndis_rwlock: self-test: RwLockEx guards, try variants, diagnostics");
        Ok(())
    })();
    // SAFETY: every acquisition above was released (or the check failed before taking it).
    unsafe { NdisRwLockEx::free(lock) };
    result.map(|()| checks)
}

fn raise_to<K: Kernel>(irql: Irql) -> Irql {
    // SAFETY: the self-test raises from PASSIVE_LEVEL to at most DISPATCH_LEVEL.
    unsafe { K::raise_irql(irql) }
}

fn lower_to<K: Kernel>(irql: Irql) {
    // SAFETY: every acquisition taken since the matching raise has been released.
    unsafe { K::lower_irql(irql) }
}

fn irql_round_trip<K: Kernel>(raw: *mut NdisRwLockEx<K>, start: Irql) -> Result<u32, Failure> {
    let old = raise_to::<K>(start);
    let mut checks = 0;
    let flag_values: &[u8] = if start == DISPATCH_LEVEL {
        &[0, NDIS_RWL_AT_DISPATCH_LEVEL]
    } else {
        &[0]
    };
    let result = (|| {
        for &flags in flag_values {
            for write in [false, true] {
                let mut state = LockStateEx::default();
                if write {
                    // SAFETY: a live lock and a valid state, released just below.
                    unsafe { ex::acquire_write::<K>(raw, &mut state, flags) };
                } else {
                    // SAFETY: as above.
                    unsafe { ex::acquire_read::<K>(raw, &mut state, flags) };
                }
                let held = K::current_irql();
                // SAFETY: the acquisition above.
                unsafe { ex::release::<K>(raw, &mut state) };
                expect(
                    "an acquire runs at DISPATCH_LEVEL",
                    u64::from(held),
                    u64::from(DISPATCH_LEVEL),
                )?;
                expect(
                    "a release restores the IRQL of the acquire",
                    u64::from(K::current_irql()),
                    u64::from(start),
                )?;
                checks += 2;
            }
        }
        Ok(checks)
    })();
    lower_to::<K>(old);
    result
}

fn recursion<K: Kernel>(raw: *mut NdisRwLockEx<K>) -> Result<u32, Failure> {
    // SAFETY: `raw` is live for the self-test.
    let lock = unsafe { &*raw };
    let mut states = [LockStateEx::default(); 4];
    let [a, b, c, d] = &mut states;
    // SAFETY: a live lock; each acquisition is released below, in reverse order.
    unsafe {
        ex::acquire_write::<K>(raw, a, 0);
    }
    // SAFETY: as above, at DISPATCH_LEVEL now.
    unsafe {
        ex::acquire_write::<K>(raw, b, NDIS_RWL_AT_DISPATCH_LEVEL);
    }
    // SAFETY: as above.
    unsafe {
        ex::acquire_read::<K>(raw, c, NDIS_RWL_AT_DISPATCH_LEVEL);
    }
    // SAFETY: as above.
    unsafe {
        ex::acquire_read::<K>(raw, d, NDIS_RWL_AT_DISPATCH_LEVEL);
    }
    let inside = lock.diagnostics();
    // SAFETY: releases in reverse order.
    unsafe { ex::release::<K>(raw, d) };
    // SAFETY: as above.
    unsafe { ex::release::<K>(raw, c) };
    // SAFETY: as above.
    unsafe { ex::release::<K>(raw, b) };
    // SAFETY: as above.
    unsafe { ex::release::<K>(raw, a) };
    let after = lock.diagnostics();
    expect("two reads inside two writes", inside.readers, 2)?;
    expect("write depth 2", u64::from(inside.write_depth), 2)?;
    expect(
        "the writer is this processor",
        u64::from(inside.writer.is_some()),
        1,
    )?;
    expect("released: no reader", after.readers, 0)?;
    expect("released: no writer", u64::from(after.writer.is_some()), 0)?;
    expect(
        "released: PASSIVE_LEVEL again",
        u64::from(K::current_irql()),
        u64::from(PASSIVE_LEVEL),
    )?;
    Ok(6)
}

fn state_bytes<K: Kernel>(raw: *mut NdisRwLockEx<K>) -> Result<u32, Failure> {
    const CANARY: u8 = 0xA5;
    let mut bytes = [CANARY; 11];
    // An odd offset: LOCK_STATE_EX has alignment 1.
    let state = bytes.as_mut_ptr().wrapping_add(3).cast::<LockStateEx>();
    // SAFETY: `state` points to three writable bytes inside `bytes`; released just below.
    unsafe { ex::acquire_read::<K>(raw, state, 0) };
    // SAFETY: the acquisition above.
    unsafe { ex::release::<K>(raw, state) };
    let untouched = bytes[..3].iter().chain(&bytes[6..]).all(|&b| b == CANARY);
    expect(
        "LOCK_STATE_EX writes only its 3 bytes",
        u64::from(untouched),
        1,
    )?;
    Ok(1)
}

fn safe_api<K: Kernel>() -> Result<u32, Failure> {
    let lock = RwLockEx::<[u64; 2], K>::with_kernel([0; 2])?;
    {
        let mut w = lock.write();
        w[0] += 1;
        w[1] += 1;
    }
    let tried = lock.try_write().map(|mut w| w[0] += 1).is_some();
    expect("try_write on a free lock", u64::from(tried), 1)?;
    {
        let r1 = lock.read();
        let r2 = lock.try_read();
        expect(
            "read recursion through try_read",
            u64::from(r2.is_some()),
            1,
        )?;
        expect("the data", r1[0] + r1[1], 3)?;
        drop(r2);
    }
    let dispatch = DispatchGuard::<K>::raise();
    let value = lock.read_at_dispatch(dispatch.token())[1];
    drop(dispatch);
    expect("read at dispatch", value, 1)?;
    expect(
        "guards restore PASSIVE_LEVEL",
        u64::from(K::current_irql()),
        u64::from(PASSIVE_LEVEL),
    )?;
    Ok(4)
}

/// Words that writers bump together and readers check.
#[derive(Debug, Default)]
pub struct Record {
    words: [u64; 4],
}

impl Record {
    /// A record with these words (a consistent one has them all equal).
    pub fn from_words(words: [u64; 4]) -> Self {
        Self { words }
    }
}

/// The state the stress workers share: one lock around one [`Record`].
pub struct Shared<K: Kernel> {
    lock: RwLockEx<Record, K>,
}

impl<K: Kernel> Shared<K> {
    /// Allocates the lock.
    ///
    /// # Errors
    ///
    /// [`Failure`] with `STATUS_INSUFFICIENT_RESOURCES` if the pool has no room.
    pub fn new() -> Result<Self, Failure> {
        Ok(Self {
            lock: RwLockEx::with_kernel(Record::default())?,
        })
    }
}

/// What one worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Read acquisitions (nested ones included).
    pub reads: u64,
    /// Write acquisitions.
    pub writes: u64,
}

/// Checks that a record's words agree.
///
/// # Errors
///
/// A [`Failure`] naming the torn record.
pub fn check_record(record: &Record) -> Result<(), Failure> {
    let first = record.words[0];
    match record.words.iter().find(|&&w| w != first) {
        None => Ok(()),
        Some(&other) => Err(Failure {
            check: "a reader saw every word of the record equal",
            found: other,
            expected: first,
        }),
    }
}

/// One stress worker: `iterations` operations (about 1 in 16 a write, some reads nested, some
/// through the try variants), each read checking the record. Run one per processor at once.
///
/// # Errors
///
/// The first [`Failure`].
pub fn stress_worker<K: Kernel>(
    shared: &Shared<K>,
    seed: u64,
    iterations: u32,
) -> Result<Stats, Failure> {
    let mut stats = Stats::default();
    let mut x = seed | 1;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 16 {
            0 => {
                let mut w = shared.lock.write();
                for word in &mut w.words {
                    *word += 1;
                }
                stats.writes += 1;
            }
            1 => {
                let outer = shared.lock.read();
                let inner = shared.lock.read();
                check_record(&inner)?;
                expect(
                    "nested reads see one record",
                    inner.words[0],
                    outer.words[0],
                )?;
                stats.reads += 2;
            }
            2 => {
                if let Some(r) = shared.lock.try_read() {
                    check_record(&r)?;
                    stats.reads += 1;
                }
            }
            _ => {
                check_record(&shared.lock.read())?;
                stats.reads += 1;
            }
        }
    }
    Ok(stats)
}

/// After every worker ended: the record counts every write, and nobody holds the lock.
///
/// # Errors
///
/// A [`Failure`] for a lost write or a lock left held.
pub fn check_final<K: Kernel>(shared: &Shared<K>, writes: u64) -> Result<(), Failure> {
    let diag = shared.lock.diagnostics();
    expect("no reader left", diag.readers, 0)?;
    expect("no writer left", u64::from(diag.writer.is_some()), 0)?;
    let record = shared.lock.read();
    check_record(&record)?;
    expect("every write counted", record.words[0], writes)
}
