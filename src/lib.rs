//! NDIS reader/writer locks and push-lock wrappers for Windows kernel drivers.
//!
//! - [`RwLockEx`] and the C exports `NdisAllocateRWLock`, `NdisAcquireRWLockRead`,
//!   `NdisAcquireRWLockWrite`, `NdisReleaseRWLock`, `NdisFreeRWLock`: the NDIS 6.20 lock, with
//!   one reader count per processor and a `KSPIN_LOCK` for writers.
//! - [`PushLock`] and [`CriticalRegion`]: data behind an `EX_PUSH_LOCK`, whose waiters sleep;
//!   [`pushrw`]: an allocated push-lock reader/writer lock with the five calls of the NDIS lock
//!   (`NdisRwlAllocatePushLock` and friends).
//! - [`LegacyRwLock`] and the C exports `NdisInitializeReadWriteLock`,
//!   `NdisAcquireReadWriteLock`, `NdisReleaseReadWriteLock` and the `Dpr` variants: the legacy
//!   NDIS 5 lock in caller-owned storage ([`rwlock_legacy`]), on the same algorithm.
//! - [`NdisSpinLock`] and the C exports `NdisAllocateSpinLock`, `NdisAcquireSpinLock`,
//!   `NdisReleaseSpinLock`, the `Dpr` variants and `NdisFreeSpinLock`: the NDIS spin lock
//!   (`NDIS_SPIN_LOCK`, [`spinlock`]), whose releases check where they run.
//! - Everything is written once over the [`kernel::Kernel`] interface; on Windows it maps onto
//!   wdk-sys, elsewhere onto the simulated kernel in [`sim`], which also checks for misuse the
//!   way Driver Verifier does and bug-checks with the codes in [`bugcheck`].
#![cfg_attr(windows, no_std)]
#![warn(missing_docs)]

pub mod bugcheck;
pub mod kernel;
pub mod pushlock;
pub mod pushrw;
mod rwcore;
mod rwlock;
pub mod rwlock_ex;
pub mod rwlock_legacy;
pub mod selftest;
#[cfg(not(windows))]
pub mod sim;
pub mod spinlock;
mod sync;

pub use pushlock::{CriticalRegion, PushLock, PushLockReadGuard, PushLockWriteGuard};
pub use rwcore::{Diagnostics, ProcessorList};
pub use rwlock::{AllocError, ReadGuard, RwLockEx, WriteGuard};
pub use rwlock_legacy::{LegacyReadGuard, LegacyRwLock, LegacyWriteGuard};
pub use spinlock::{NdisSpinLock, NdisSpinLockGuard};

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
