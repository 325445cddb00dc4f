//! The safe Rust types: data behind a lock, reached through guards that release on drop.
//!
//! - [`rwlock`]: [`RwLock`](rwlock::RwLock), generic over the raw lock, and its guards;
//!   [`RwLockEx`](crate::RwLockEx) and [`LegacyRwLock`](crate::LegacyRwLock) are that type
//!   over the two NDIS locks.
//! - [`pushlock`]: [`PushLock`](crate::PushLock) and [`CriticalRegion`](crate::CriticalRegion).
//! - [`spinlock`]: [`NdisSpinLock`](crate::NdisSpinLock), the NDIS spin lock.
//!
//! The rules these types keep for safe code are in the crate's README ("Soundness").

pub mod legacy;
pub mod pushlock;
pub mod rwlock;
pub mod rwlock_ex;
pub mod spinlock;
