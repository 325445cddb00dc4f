//! A kernel for loom models (`--cfg loom`): every model thread plays one processor.
//!
//! The model sets each thread's processor with [`LoomKernel::set_processor`]; IRQL and the
//! APC-disable count are per model thread. Spin locks and push locks are loom atomics, and
//! every spin yields to loom's scheduler, so that loom explores the interleavings of the lock
//! algorithms written over the [`Kernel`] interface, unchanged. A bug check panics, which
//! fails the model.

use std::cell::Cell;

use super::{DISPATCH_LEVEL, ExPushLock, Irql, KSpinLock, Kernel, PASSIVE_LEVEL};
use crate::sync::Ordering;

/// Processors of the modelled machine.
pub const PROCESSORS: u32 = 3;

/// Push-lock word: the exclusive owner bit; shared owners count in the bits above it.
const PUSH_EXCLUSIVE: usize = 1;
const PUSH_SHARED_ONE: usize = 2;

struct ThreadState {
    irql: Cell<Irql>,
    processor: Cell<u32>,
    apc_disable: Cell<u32>,
    guard: Cell<usize>,
}

loom::thread_local! {
    static THREAD: ThreadState = ThreadState {
        irql: Cell::new(PASSIVE_LEVEL),
        processor: Cell::new(0),
        apc_disable: Cell::new(0),
        guard: Cell::new(0),
    };
}

/// The loom kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoomKernel;

impl LoomKernel {
    /// Makes the current model thread processor `index` (below `PROCESSORS`).
    pub fn set_processor(index: u32) {
        assert!(
            index < PROCESSORS,
            "the modelled machine has {PROCESSORS} processors"
        );
        THREAD.with(|t| t.processor.set(index));
    }
}

fn header(ptr: *mut u8) -> *mut u8 {
    ptr.wrapping_sub(16)
}

// SAFETY: each model thread is its own processor and keeps it; spin locks are
// compare-exchange locks with acquire/release ordering; bug_check panics.
unsafe impl Kernel for LoomKernel {
    fn current_irql() -> Irql {
        THREAD.with(|t| t.irql.get())
    }

    unsafe fn raise_irql(new: Irql) -> Irql {
        THREAD.with(|t| {
            let old = t.irql.replace(new);
            assert!(new >= old, "raise from {old} to {new}");
            old
        })
    }

    unsafe fn lower_irql(new: Irql) {
        THREAD.with(|t| {
            let old = t.irql.replace(new);
            assert!(new <= old, "lower from {old} to {new}");
        });
    }

    fn current_processor() -> u32 {
        THREAD.with(|t| t.processor.get())
    }

    fn guard_word(_processor: u32) -> usize {
        THREAD.with(|t| t.guard.get())
    }

    unsafe fn set_guard_word(_processor: u32, word: usize) {
        THREAD.with(|t| t.guard.set(word));
    }

    fn max_processors() -> u32 {
        PROCESSORS
    }

    fn initialize_spin_lock(lock: &KSpinLock) {
        lock.0.store(0, Ordering::Release);
    }

    fn acquire_spin_lock(lock: &KSpinLock) -> Irql {
        // SAFETY: raising to DISPATCH_LEVEL from at most DISPATCH_LEVEL.
        let old = unsafe { Self::raise_irql(DISPATCH_LEVEL) };
        Self::acquire_spin_lock_at_dpc(lock);
        old
    }

    unsafe fn release_spin_lock(lock: &KSpinLock, old: Irql) {
        // SAFETY: the caller owns the lock.
        unsafe { Self::release_spin_lock_from_dpc(lock) };
        // SAFETY: `old` came from the matching acquire.
        unsafe { Self::lower_irql(old) };
    }

    fn acquire_spin_lock_at_dpc(lock: &KSpinLock) {
        while !Self::try_acquire_spin_lock_at_dpc(lock) {
            loom::thread::yield_now();
        }
    }

    fn try_acquire_spin_lock_at_dpc(lock: &KSpinLock) -> bool {
        let me = Self::current_processor() as usize + 1;
        lock.0
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    unsafe fn release_spin_lock_from_dpc(lock: &KSpinLock) {
        lock.0.store(0, Ordering::Release);
    }

    fn allocate_nonpaged(size: usize, _tag: u32) -> *mut u8 {
        let layout = std::alloc::Layout::from_size_align(size + 16, 16).expect("a small block");
        // SAFETY: the layout has a non-zero size.
        let block = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!block.is_null(), "the host allocator has room");
        // SAFETY: the block holds 16 header bytes, 16-byte aligned.
        unsafe { block.cast::<usize>().write(size) };
        block.wrapping_add(16)
    }

    unsafe fn free_pool(ptr: *mut u8, _tag: u32) {
        let block = header(ptr);
        // SAFETY: `allocate_nonpaged` wrote the size 16 bytes before `ptr`.
        let size = unsafe { block.cast::<usize>().read() };
        let layout = std::alloc::Layout::from_size_align(size + 16, 16).expect("a small block");
        // SAFETY: the block came from `allocate_nonpaged` with this layout.
        unsafe { std::alloc::dealloc(block, layout) };
    }

    fn enter_critical_region() {
        THREAD.with(|t| t.apc_disable.set(t.apc_disable.get() + 1));
    }

    unsafe fn leave_critical_region() {
        THREAD.with(|t| {
            let depth = t.apc_disable.get();
            assert!(depth > 0, "leave without enter");
            t.apc_disable.set(depth - 1);
        });
    }

    unsafe fn initialize_push_lock(lock: &ExPushLock) {
        lock.0.store(0, Ordering::Release);
    }

    fn acquire_push_lock_exclusive(lock: &ExPushLock, _flags: u32) {
        while lock
            .0
            .compare_exchange(0, PUSH_EXCLUSIVE, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            loom::thread::yield_now();
        }
    }

    fn acquire_push_lock_shared(lock: &ExPushLock, _flags: u32) {
        loop {
            let word = lock.0.load(Ordering::Relaxed);
            if word & PUSH_EXCLUSIVE == 0
                && lock
                    .0
                    .compare_exchange(
                        word,
                        word + PUSH_SHARED_ONE,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                return;
            }
            loom::thread::yield_now();
        }
    }

    unsafe fn release_push_lock_exclusive(lock: &ExPushLock, _flags: u32) {
        lock.0.store(0, Ordering::Release);
    }

    unsafe fn release_push_lock_shared(lock: &ExPushLock, _flags: u32) {
        lock.0.fetch_sub(PUSH_SHARED_ONE, Ordering::Release);
    }

    fn spin_hint() {
        loom::thread::yield_now();
    }

    fn bug_check(code: u32, params: [usize; 4]) -> ! {
        panic!("bug check 0x{code:X} {params:X?}")
    }
}
