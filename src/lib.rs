//! NDIS reader/writer locks and push-lock wrappers for Windows kernel drivers.
//!
//! - [`RwLockEx`] and the C exports `NdisAllocateRWLock`, `NdisAcquireRWLockRead`,
//!   `NdisAcquireRWLockWrite`, `NdisReleaseRWLock`, `NdisFreeRWLock`: the NDIS 6.20 lock, with
//!   one reader count per processor and a `KSPIN_LOCK` for writers.
//! - [`LegacyRwLock`] and the C exports `NdisInitializeReadWriteLock`,
//!   `NdisAcquireReadWriteLock`, `NdisReleaseReadWriteLock` and the `Dpr` variants: the legacy
//!   NDIS 5 lock in caller-owned storage, on the same algorithm. Both are [`RwLock`] over
//!   their raw lock: one guard layer for every reader/writer lock.
//! - [`NdisSpinLock`] and the C exports `NdisAllocateSpinLock`, `NdisAcquireSpinLock`,
//!   `NdisReleaseSpinLock`, the `Dpr` variants and `NdisFreeSpinLock`: the NDIS spin lock
//!   (`NDIS_SPIN_LOCK`, [`storage::spinlock`]), whose releases check where they run.
//! - [`PushLock`] and [`CriticalRegion`]: data behind an `EX_PUSH_LOCK`, whose waiters sleep;
//!   [`storage::pushrw`]: an allocated push-lock reader/writer lock with the five calls of the
//!   NDIS lock (`NdisRwlAllocatePushLock` and friends).
//!
//! # Layers
//!
//! - [`kernel`]: the interface every lock is written against, its Windows mapping (wdk-sys)
//!   and the simulated kernel ([`sim`]), which checks for misuse the way Driver Verifier does
//!   and bug-checks with the codes in [`bugcheck`]; and the safe IRQL guard every guard uses.
//! - `algorithm`: the reader/writer algorithm, written once over the kernel and the storage.
//! - [`storage`]: each lock's memory layout and per-acquisition state encoding.
//! - [`safe`]: the safe Rust types.
//! - [`ffi`]: the C exports, which only translate.
#![cfg_attr(windows, no_std)]
#![warn(missing_docs)]

// The layers, bottom up: the kernel interface and its kernels; the algorithm, written once
// over it; each lock's storage and state encoding; the safe types; the C ABI.
mod algorithm;
pub mod bugcheck;
pub mod ffi;
pub mod kernel;
pub mod safe;
pub mod selftest;
pub mod storage;
mod sync;

#[cfg(not(windows))]
pub use kernel::sim;

pub use algorithm::{Diagnostics, ProcessorList};
pub use kernel::{AtDispatch, DispatchGuard};
pub use safe::legacy::{LegacyReadGuard, LegacyRwLock, LegacyWriteGuard};
pub use safe::pushlock::{CriticalRegion, PushLock, PushLockReadGuard, PushLockWriteGuard};
pub use safe::rwlock::{RawRwLock, ReadGuard, RwLock, WriteGuard};
pub use safe::rwlock_ex::{AllocError, ReadGuardEx, RwLockEx, WriteGuardEx};
pub use safe::spinlock::{NdisSpinLock, NdisSpinLockGuard};

// Windows build pieces; README.md ("Windows") explains the choice.
// - The panic handler (wdk-panic: KeBugCheckEx 'RPNC') is linked in every Windows build, not
//   only the driver's: cargo links the staticlib and cdylib crate types of this package even
//   when it is only a dependency, and a no_std staticlib/cdylib needs a panic handler. A crate
//   is linked once per build, so a consumer driver that also uses wdk-panic shares this one; a
//   consumer with its own `#[panic_handler]` cannot depend on this crate.
// - The global allocator, DriverEntry and DllInitialize/DllUnload come only with the `driver`
//   feature (the .sys build). Nothing else in the crate allocates, so builds without them need
//   no allocator and leave the consumer free to choose its own.
#[cfg(all(windows, not(test)))]
extern crate wdk_panic;
#[cfg(all(windows, feature = "driver"))]
mod driver;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
