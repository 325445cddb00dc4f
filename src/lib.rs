//! NDIS reader/writer locks and push-lock wrappers for Windows kernel drivers.
//!
//! - [`RwLockEx`] and the C exports `NdisAllocateRWLock`, `NdisAcquireRWLockRead`,
//!   `NdisAcquireRWLockWrite`, `NdisReleaseRWLock`, `NdisFreeRWLock`: the NDIS 6.20 lock, with
//!   one reader count per processor and a `KSPIN_LOCK` for writers.
//! - [`LegacyRwLock`] and the C exports `NdisInitializeReadWriteLock`,
//!   `NdisAcquireReadWriteLock`, `NdisReleaseReadWriteLock` and the `Dpr` variants: the legacy
//!   NDIS 5 lock in caller-owned storage ([`rwlock_legacy`]), on the same algorithm.
//! - Everything is written once over the [`kernel::Kernel`] interface; on Windows it maps onto
//!   wdk-sys, elsewhere onto the simulated kernel in [`sim`], which also checks for misuse the
//!   way Driver Verifier does and bug-checks with the codes in [`bugcheck`].
#![cfg_attr(windows, no_std)]
#![warn(missing_docs)]

pub mod bugcheck;
pub mod kernel;
mod rwcore;
mod rwlock;
pub mod rwlock_ex;
pub mod rwlock_legacy;
#[cfg(not(windows))]
pub mod sim;
mod sync;

pub use rwcore::{Diagnostics, ProcessorList};
pub use rwlock::{AllocError, ReadGuard, RwLockEx, WriteGuard};
pub use rwlock_legacy::{LegacyReadGuard, LegacyRwLock, LegacyWriteGuard};
