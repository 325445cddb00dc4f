//! Each lock's storage and its per-acquisition state encoding: what the lock keeps in memory,
//! how a caller's `LOCK_STATE`-style record is filled and checked, and the acquire and release
//! calls over raw pointers that the C exports ([`crate::ffi`]) translate to.
//!
//! - [`ex`]: the allocated `NDIS_RW_LOCK_EX` (one cache line per processor) and `LOCK_STATE_EX`.
//! - [`legacy`]: the caller-owned NDIS 5 `NDIS_RW_LOCK` and `LOCK_STATE`.
//! - [`pushrw`]: the allocated push-lock reader/writer lock and its state.
//! - [`spinlock`]: the caller-owned `NDIS_SPIN_LOCK`.
//!
//! The reader/writer algorithm itself is written once, over the `RwStorage` trait,
//! in `src/algorithm.rs`; the safe Rust types over these storages are in [`crate::safe`].

pub mod ex;
pub mod legacy;
pub mod pushrw;
pub mod spinlock;
