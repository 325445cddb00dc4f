//! The one place atomics come from, so that loom can replace them (`--cfg loom`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU16, AtomicU32, AtomicUsize, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU16, AtomicU32, AtomicUsize, Ordering, fence};

/// A compiler-only fence: the reader of an asymmetric-mode lock keeps its store and load in
/// program order with it, and relies on the writer's process-wide barrier for the hardware
/// (see `rwcore`). loom cannot model that barrier, so asymmetric locks are not used under loom.
pub(crate) use core::sync::atomic::compiler_fence;
