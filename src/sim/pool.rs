//! Simulated nonpaged pool: tagged, zeroed allocations, a report of what is still allocated,
//! double-free detection and fault injection.

use std::alloc::Layout;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::bugcheck::{self, verifier};
use crate::kernel::{DISPATCH_LEVEL, Kernel};
use crate::sim::Sim;

/// Alignment of every allocation, as `ExAllocatePool2` gives on 64-bit Windows.
pub const POOL_ALIGNMENT: usize = 16;
/// `NonPagedPoolNx`, the pool type reported in bug-check parameters.
const NON_PAGED_POOL_NX: usize = 512;

/// One live allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// Its address.
    pub address: usize,
    /// Its size in bytes.
    pub size: usize,
    /// Its pool tag.
    pub tag: u32,
}

#[derive(Default)]
struct Pool {
    live: HashMap<usize, Allocation>,
    freed: HashSet<usize>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);
thread_local! {
    static FAIL_NEXT: Cell<usize> = const { Cell::new(0) };
}

fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let mut guard = POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(guard.get_or_insert_with(Pool::default))
}

/// Packs four ASCII characters so that the tag reads `abcd` in a memory dump (and in the
/// debugger's pool listings): the value of the C constant `'dcba'`, drivers' reversed spelling.
pub const fn tag(name: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*name)
}

/// Makes the current thread's next `n` allocations fail (return null). Per thread, so that
/// tests running in parallel do not take each other's failures.
pub fn fail_next_allocations(n: usize) {
    FAIL_NEXT.with(|f| f.set(n));
}

/// Live allocations with pool tag `tag`.
pub fn outstanding(tag: u32) -> Vec<Allocation> {
    let mut list: Vec<Allocation> =
        with_pool(|p| p.live.values().filter(|a| a.tag == tag).copied().collect());
    list.sort_by_key(|a| a.address);
    list
}

/// Every live allocation.
pub fn outstanding_all() -> Vec<Allocation> {
    let mut list: Vec<Allocation> = with_pool(|p| p.live.values().copied().collect());
    list.sort_by_key(|a| a.address);
    list
}

/// What Driver Verifier checks when a driver unloads: bug-checks 0xC4/0x62 (P2 tag,
/// P3 allocations, P4 bytes) if anything tagged `tag` is still allocated.
pub fn check_unload(tag: u32) {
    let left = outstanding(tag);
    if !left.is_empty() {
        let bytes = left.iter().map(|a| a.size).sum();
        Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::POOL_LEAKED_AT_UNLOAD,
                tag as usize,
                left.len(),
                bytes,
            ],
        );
    }
}

pub(crate) fn allocate(size: usize, tag: u32) -> *mut u8 {
    let irql = Sim::current_irql();
    if irql > DISPATCH_LEVEL {
        Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::ALLOCATE_ABOVE_DISPATCH,
                usize::from(irql),
                NON_PAGED_POOL_NX,
                size,
            ],
        );
    }
    if size == 0 {
        Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::ZERO_BYTE_ALLOCATION,
                usize::from(irql),
                NON_PAGED_POOL_NX,
                0,
            ],
        );
    }
    let fail = FAIL_NEXT.with(|f| f.get().checked_sub(1).map(|left| f.set(left)));
    if fail.is_some() {
        return std::ptr::null_mut();
    }
    let Ok(layout) = Layout::from_size_align(size, POOL_ALIGNMENT) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout has a non-zero size (checked above).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if !ptr.is_null() {
        let address = ptr as usize;
        with_pool(|p| {
            p.freed.remove(&address);
            p.live.insert(address, Allocation { address, size, tag });
        });
    }
    ptr
}

pub(crate) fn free(ptr: *mut u8, tag: u32) {
    let irql = Sim::current_irql();
    let address = ptr as usize;
    if irql > DISPATCH_LEVEL {
        Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::FREE_ABOVE_DISPATCH,
                usize::from(irql),
                NON_PAGED_POOL_NX,
                address,
            ],
        );
    }
    let found = with_pool(|p| match p.live.remove(&address) {
        Some(a) => {
            p.freed.insert(address);
            Ok(a)
        }
        None => Err(p.freed.contains(&address)),
    });
    match found {
        Ok(a) => {
            // ExFreePoolWithTag with another tag is caught too: the verifier reports a bad
            // free, and so do we, after putting the block back.
            if a.tag != tag {
                with_pool(|p| {
                    p.freed.remove(&address);
                    p.live.insert(address, a);
                });
                Sim::bug_check(
                    bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
                    [
                        verifier::FREE_BAD_ADDRESS,
                        address,
                        tag as usize,
                        a.tag as usize,
                    ],
                );
            }
            let layout = Layout::from_size_align(a.size, POOL_ALIGNMENT)
                .expect("the layout was valid when the block was allocated");
            // SAFETY: the block was allocated by `allocate` with this layout and is removed
            // from the live set, so it is freed once.
            unsafe { std::alloc::dealloc(ptr, layout) };
        }
        Err(true) => Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::DOUBLE_FREE, 0, address, tag as usize],
        ),
        Err(false) => Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::FREE_BAD_ADDRESS, address, 0, 0],
        ),
    }
}
