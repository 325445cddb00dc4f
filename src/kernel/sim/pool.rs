//! Simulated nonpaged pool: tagged, zeroed allocations, a report of what is still allocated,
//! double-free detection and fault injection.
//!
//! Freed blocks are quarantined, as Driver Verifier's special pool keeps freed memory from
//! being reused at once: the last [`QUARANTINE`] freed blocks stay mapped, filled with
//! [`FREED_POISON`], so that a use after free reads poison (and a lock's signature check
//! fires) instead of touching memory the host allocator reused. Older blocks go back to the
//! host allocator.

use std::alloc::Layout;
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::bugcheck::{self, verifier};
use crate::kernel::{DISPATCH_LEVEL, Kernel};
use crate::sim::Sim;

/// Alignment of every allocation smaller than a page, as `ExAllocatePool2` gives on 64-bit
/// Windows.
pub const POOL_ALIGNMENT: usize = 16;
/// `PAGE_SIZE`: blocks of a page or more come whole pages from the pool and are page-aligned,
/// as on Windows (so that code which derives anything from a large block's address meets the
/// same low zero bits here).
pub const PAGE_SIZE: usize = 4096;

/// The host layout of a block of `size` bytes.
fn layout(size: usize) -> Option<Layout> {
    let align = if size >= PAGE_SIZE {
        PAGE_SIZE
    } else {
        POOL_ALIGNMENT
    };
    Layout::from_size_align(size, align).ok()
}
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

/// How many freed blocks stay mapped (and detectable as freed).
pub const QUARANTINE: usize = 1024;
/// What freed memory is filled with.
pub const FREED_POISON: u8 = 0xDD;

#[derive(Default)]
struct Pool {
    live: HashMap<usize, Allocation>,
    /// Freed blocks still mapped, by address, and their order of freeing.
    freed: HashMap<usize, Allocation>,
    quarantine: VecDeque<usize>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);
thread_local! {
    static FAIL_NEXT: Cell<usize> = const { Cell::new(0) };
    static FAIL_TAGGED: Cell<(u32, usize)> = const { Cell::new((0, 0)) };
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

/// Makes the current thread's next `n` allocations tagged `tag` fail (return null), whatever
/// it allocates with other tags in between.
pub fn fail_next_allocations_tagged(tag: u32, n: usize) {
    FAIL_TAGGED.with(|f| f.set((tag, n)));
}

/// Whether an injected failure (any tag, or this one) takes this allocation.
fn injected_failure(tag: u32) -> bool {
    let any = FAIL_NEXT.with(|f| f.get().checked_sub(1).map(|left| f.set(left)));
    any.is_some()
        || FAIL_TAGGED.with(|f| match f.get() {
            (wanted, left @ 1..) if wanted == tag => {
                f.set((wanted, left - 1));
                true
            }
            _ => false,
        })
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
    if injected_failure(tag) {
        return std::ptr::null_mut();
    }
    let Some(layout) = layout(size) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout has a non-zero size (checked above).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if !ptr.is_null() {
        let address = ptr as usize;
        with_pool(|p| {
            p.live.insert(address, Allocation { address, size, tag });
        });
    }
    ptr
}

/// The tag of the live allocation at `address`, if there is one (`ExFreePool` frees without a
/// tag).
pub(crate) fn tag_of(address: usize) -> Option<u32> {
    with_pool(|p| p.live.get(&address).map(|a| a.tag))
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
    let outcome = with_pool(|p| match p.live.get(&address).copied() {
        Some(block) if block.tag == tag => {
            p.live.remove(&address);
            Free::Ok(block)
        }
        Some(block) => Free::WrongTag(block),
        None if p.freed.contains_key(&address) => Free::AlreadyFreed,
        None => Free::Unknown,
    });
    match outcome {
        Free::Ok(block) => quarantine(ptr, block),
        // ExFreePoolWithTag with another tag: the verifier reports a bad free.
        Free::WrongTag(block) => Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::FREE_BAD_ADDRESS,
                address,
                tag as usize,
                block.tag as usize,
            ],
        ),
        Free::AlreadyFreed => Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::DOUBLE_FREE, 0, address, tag as usize],
        ),
        Free::Unknown => Sim::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::FREE_BAD_ADDRESS, address, 0, 0],
        ),
    }
}

enum Free {
    Ok(Allocation),
    WrongTag(Allocation),
    AlreadyFreed,
    Unknown,
}

/// Poisons a freed block and keeps it mapped; hands the oldest quarantined block back to the
/// host allocator once more than [`QUARANTINE`] are kept.
fn quarantine(ptr: *mut u8, block: Allocation) {
    // SAFETY: the block is `block.size` bytes, live until now and no longer handed out.
    unsafe { std::ptr::write_bytes(ptr, FREED_POISON, block.size) };
    let released = with_pool(|p| {
        p.freed.insert(block.address, block);
        p.quarantine.push_back(block.address);
        if p.quarantine.len() > QUARANTINE {
            p.quarantine
                .pop_front()
                .and_then(|old| p.freed.remove(&old))
        } else {
            None
        }
    });
    if let Some(old) = released {
        let layout = layout(old.size).expect("the layout was valid when the block was allocated");
        // SAFETY: the block was allocated by `allocate` with this layout, freed by the driver
        // and has just left the quarantine: it is deallocated once.
        unsafe { std::alloc::dealloc(old.address as *mut u8, layout) };
    }
}
