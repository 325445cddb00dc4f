//! NDIS reader/writer locks and push-lock wrappers for Windows kernel drivers.
//!
//! - [`RwLockEx`] and the C exports `NdisAllocateRWLock`, `NdisAcquireRWLockRead`,
//!   `NdisAcquireRWLockWrite`, `NdisReleaseRWLock`, `NdisFreeRWLock`: the NDIS 6.20 lock, with
//!   one reader count per processor and a `KSPIN_LOCK` for writers.
//! - [`PushLock`] and [`CriticalRegion`]: data behind an `EX_PUSH_LOCK`, whose waiters sleep;
//!   [`pushrw`]: an allocated push-lock reader/writer lock with the five calls of the NDIS lock
//!   (`NdisRwlAllocatePushLock` and friends).
//! - Everything is written once over the [`kernel::Kernel`] interface; on Windows it maps onto
//!   wdk-sys, elsewhere onto the simulated kernel in [`sim`], which also checks for misuse the
//!   way Driver Verifier does and bug-checks with the codes in [`bugcheck`].
#![cfg_attr(windows, no_std)]
#![warn(missing_docs)]

pub mod bugcheck;
pub mod kernel;
pub mod pushlock;
pub mod pushrw;
#[cfg(not(windows))]
pub mod sim;
mod sync;

pub use pushlock::{CriticalRegion, PushLock, PushLockReadGuard, PushLockWriteGuard};
