//! The NDIS spin lock's storage: `NDIS_SPIN_LOCK` with ndis.h's layout and the semantics of
//! its routines (`NdisAllocateSpinLock`, `NdisAcquireSpinLock`, `NdisReleaseSpinLock`, the
//! `Dpr` variants), which the C exports ([`crate::ffi::spinlock`]) translate to and the safe
//! [`NdisSpinLock`](crate::NdisSpinLock) builds on.
//!
//! ndis.h declares `typedef struct _NDIS_SPIN_LOCK { KSPIN_LOCK SpinLock; KIRQL OldIrql; }`:
//! the IRQL that `NdisAcquireSpinLock` raised from is kept in the structure (the holder owns
//! it) and `NdisReleaseSpinLock` lowers back to it. The structure's tail padding (7 bytes on
//! 64-bit targets, 3 on 32-bit) is the crate's: it records the acquiring processor, so that
//! every release can check, over any kernel and without Driver Verifier, that it runs at
//! exactly `DISPATCH_LEVEL` on the processor that holds the lock, before it lowers anything.
//!
//! Checks (README "Bug checks"): an acquire above `DISPATCH_LEVEL` stops with 0xC4/0x42; a Dpr
//! acquire below it with 0xC4/0x40; a release at another IRQL with 0xC4/0x32 (a Dpr release
//! below `DISPATCH_LEVEL`: 0xC4/0x41); a release of a lock nobody holds with 0x10
//! `SPIN_LOCK_NOT_OWNED`; a release on a processor that does not hold it with
//! `NDIS_RWLOCK_VIOLATION` / `RELEASE_ON_OTHER_PROCESSOR`; an acquire by the processor that
//! holds the lock (a deadlock on Windows) with 0x0F `SPIN_LOCK_ALREADY_OWNED`.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;

use crate::algorithm::violation;
use crate::bugcheck::{self, rw, verifier};
use crate::kernel::{DISPATCH_LEVEL, DefaultKernel, Irql, KSpinLock, Kernel};
use crate::sync::{AtomicU16, Ordering};

/// `NDIS_SPIN_LOCK`: a `KSPIN_LOCK` and the IRQL its holder raised from, in caller storage.
///
/// `#[repr(C)]`, two pointers in size, with `SpinLock` at offset 0 and `OldIrql` at the
/// pointer size, as in ndis.h. Initialise it with [`initialize`](Self::initialize)
/// (`NdisAllocateSpinLock`) or create it released with [`new`](Self::new).
#[repr(C)]
pub struct RawNdisSpinLock<K: Kernel = DefaultKernel> {
    /// `SpinLock`.
    spin_lock: KSpinLock,
    /// `OldIrql`: written and read by the holder only.
    old_irql: UnsafeCell<Irql>,
    /// Padding in ndis.h; zero.
    reserved: u8,
    /// Padding in ndis.h: the holder's processor + 1, or 0 while nobody holds the lock.
    holder: AtomicU16,
    _kernel: PhantomData<fn() -> K>,
}

// ndis.h's layout (loom's atomics are larger, and loom builds never meet C code).
#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<RawNdisSpinLock>() == 2 * core::mem::size_of::<usize>());
    assert!(core::mem::offset_of!(RawNdisSpinLock, old_irql) == core::mem::size_of::<usize>());
};

// SAFETY: `old_irql` is only touched by the thread that holds the spin lock (checked before
// every access); everything else is atomic.
unsafe impl<K: Kernel> Sync for RawNdisSpinLock<K> {}

impl<K: Kernel> Default for RawNdisSpinLock<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Kernel> fmt::Debug for RawNdisSpinLock<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawNdisSpinLock")
            .field("holder", &self.holder())
            .finish_non_exhaustive()
    }
}

/// Which release: how it leaves the IRQL, and its name in the checks' bug checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// `NdisReleaseSpinLock`: lowers to the saved IRQL.
    Lowering,
    /// `NdisDprReleaseSpinLock`: stays at `DISPATCH_LEVEL`.
    Dpr,
}

impl<K: Kernel> RawNdisSpinLock<K> {
    /// A released lock (what `NdisAllocateSpinLock` leaves).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            spin_lock: KSpinLock::new(),
            old_irql: UnsafeCell::new(0),
            reserved: 0,
            holder: AtomicU16::new(0),
            _kernel: PhantomData,
        }
    }

    /// A released lock (what `NdisAllocateSpinLock` leaves).
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            spin_lock: KSpinLock::new(),
            old_irql: UnsafeCell::new(0),
            reserved: 0,
            holder: AtomicU16::new(0),
            _kernel: PhantomData,
        }
    }

    /// The address C code knows the lock by (`PNDIS_SPIN_LOCK`).
    pub fn as_ptr(&self) -> *mut Self {
        core::ptr::from_ref(self).cast_mut()
    }

    pub(crate) fn address(&self) -> usize {
        self.as_ptr() as usize
    }

    /// The processor that holds the lock, if any (a snapshot).
    pub fn holder(&self) -> Option<u32> {
        match self.holder.load(Ordering::Relaxed) {
            0 => None,
            p => Some(u32::from(p) - 1),
        }
    }

    /// `NdisAllocateSpinLock`: (re)initialises the lock, released. Any IRQL.
    pub fn initialize(&self) {
        K::initialize_spin_lock(&self.spin_lock);
        self.holder.store(0, Ordering::Release);
    }

    /// `NdisAcquireSpinLock`: raises to `DISPATCH_LEVEL`, spins until it owns the lock and
    /// saves the previous IRQL in it. `IRQL <= DISPATCH_LEVEL`, else 0xC4/0x42.
    #[inline]
    pub fn acquire(&self) {
        let irql = K::current_irql();
        if irql > DISPATCH_LEVEL {
            self.stop(verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH, irql);
        }
        // SAFETY: raising to DISPATCH_LEVEL from at most DISPATCH_LEVEL.
        let old = unsafe { K::raise_irql(DISPATCH_LEVEL) };
        self.take();
        // SAFETY: this thread holds the lock now; only the holder touches `old_irql`.
        unsafe { self.old_irql.get().write(old) };
    }

    /// `NdisDprAcquireSpinLock`: the caller already runs at `DISPATCH_LEVEL` (checked with one
    /// IRQL read: below it 0xC4/0x40, above it 0xC4/0x42); `OldIrql` becomes
    /// `DISPATCH_LEVEL`.
    #[inline]
    pub fn dpr_acquire(&self) {
        let irql = K::current_irql();
        if irql != DISPATCH_LEVEL {
            let subcode = if irql < DISPATCH_LEVEL {
                verifier::ACQUIRE_AT_DPC_BELOW_DISPATCH
            } else {
                verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH
            };
            self.stop(subcode, irql);
        }
        self.take();
        // SAFETY: this thread holds the lock now; only the holder touches `old_irql`.
        unsafe { self.old_irql.get().write(DISPATCH_LEVEL) };
    }

    /// Takes the spin lock at `DISPATCH_LEVEL` and records this processor as the holder; a
    /// re-acquire by the holding processor stops with 0x0F. The caller runs at
    /// `DISPATCH_LEVEL` (the safe guards: counted by the kernel's IRQL layer) and owns
    /// `OldIrql` afterwards.
    #[inline]
    pub(crate) fn take(&self) {
        let me = K::current_processor();
        let tag = holder_tag(me);
        if self.holder.load(Ordering::Relaxed) == tag {
            // Only a thread at DISPATCH_LEVEL on this processor can have stored our tag, and
            // that is the caller: a re-acquire, which spins for ever on Windows.
            K::bug_check(
                bugcheck::SPIN_LOCK_ALREADY_OWNED,
                [self.address(), me as usize, 0, 0],
            );
        }
        K::acquire_spin_lock_at_dpc(&self.spin_lock);
        self.holder.store(tag, Ordering::Relaxed);
    }

    /// `NdisReleaseSpinLock`: releases and lowers to the saved IRQL.
    ///
    /// Checks first that the caller runs at exactly `DISPATCH_LEVEL` (else 0xC4/0x32) on the
    /// processor that holds the lock (else 0x10 if nobody holds it, `NDIS_RWLOCK_VIOLATION` /
    /// `RELEASE_ON_OTHER_PROCESSOR` if another does); nothing is released or lowered then.
    ///
    /// # Safety
    ///
    /// The calling thread took the lock with [`acquire`](Self::acquire) (or
    /// [`dpr_acquire`](Self::dpr_acquire), when the release stays at `DISPATCH_LEVEL`) and has
    /// not released it since.
    #[inline]
    pub unsafe fn release(&self) {
        self.check_release(Release::Lowering);
        // SAFETY: the caller holds the lock (checked above, and its contract).
        let old = unsafe { self.old_irql.get().read() };
        if old > DISPATCH_LEVEL {
            // C code overwrote OldIrql: lowering there would raise. The verifier's stop for a
            // lower to a higher IRQL, before anything is released.
            K::bug_check(
                bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [
                    verifier::LOWER_TO_HIGHER,
                    usize::from(DISPATCH_LEVEL),
                    usize::from(old),
                    0,
                ],
            );
        }
        self.holder.store(0, Ordering::Relaxed);
        // SAFETY: the caller holds the spin lock, at DISPATCH_LEVEL (checked).
        unsafe { K::release_spin_lock_from_dpc(&self.spin_lock) };
        // SAFETY: the lock is released; `old` is at most DISPATCH_LEVEL (checked).
        unsafe { K::lower_irql(old) };
    }

    /// `NdisDprReleaseSpinLock`: releases and stays at `DISPATCH_LEVEL`.
    ///
    /// Same checks as [`release`](Self::release), except that a caller below
    /// `DISPATCH_LEVEL` stops with 0xC4/0x41.
    ///
    /// # Safety
    ///
    /// As [`release`](Self::release).
    #[inline]
    pub unsafe fn dpr_release(&self) {
        self.check_release(Release::Dpr);
        self.holder.store(0, Ordering::Relaxed);
        // SAFETY: the caller holds the spin lock and runs at DISPATCH_LEVEL (checked).
        unsafe { K::release_spin_lock_from_dpc(&self.spin_lock) };
    }

    /// Releases what [`take`](Self::take) took, for a safe guard that has checked its place.
    ///
    /// # Safety
    ///
    /// The caller runs at `DISPATCH_LEVEL` on processor `me`, which took the lock with `take`.
    #[inline]
    pub(crate) unsafe fn release_taken(&self, me: u32) {
        debug_assert_eq!(self.holder.load(Ordering::Relaxed), holder_tag(me));
        self.holder.store(0, Ordering::Relaxed);
        // SAFETY: the caller's contract: this processor holds the spin lock, at DISPATCH_LEVEL.
        unsafe { K::release_spin_lock_from_dpc(&self.spin_lock) };
    }

    /// Stops unless the caller runs at exactly `DISPATCH_LEVEL` on the holding processor.
    #[inline]
    fn check_release(&self, kind: Release) {
        let place = K::current_place();
        let irql = place.irql();
        if irql != DISPATCH_LEVEL {
            let subcode = if kind == Release::Dpr && irql < DISPATCH_LEVEL {
                verifier::RELEASE_FROM_DPC_BELOW_DISPATCH
            } else {
                verifier::RELEASE_SPIN_LOCK_BAD_IRQL
            };
            self.stop(subcode, irql);
        }
        let me = place.processor();
        let holder = self.holder.load(Ordering::Relaxed);
        if holder != holder_tag(me) {
            self.not_held_here(holder, me);
        }
    }

    #[cold]
    #[inline(never)]
    fn not_held_here(&self, holder: u16, me: u32) -> ! {
        if holder == 0 {
            K::bug_check(
                bugcheck::SPIN_LOCK_NOT_OWNED,
                [self.address(), 0, me as usize, 0],
            );
        }
        violation::<K>(
            rw::RELEASE_ON_OTHER_PROCESSOR,
            me as usize,
            self.address(),
            usize::from(holder - 1),
        )
    }

    #[cold]
    #[inline(never)]
    fn stop(&self, subcode: usize, irql: Irql) -> ! {
        K::bug_check(
            bugcheck::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [subcode, usize::from(irql), self.address(), 0],
        )
    }
}

/// What `holder` stores for processor `p`: `p + 1`, saturated (processor indexes stay far
/// below 65535 on Windows and in the simulation).
#[inline]
fn holder_tag(p: u32) -> u16 {
    u16::try_from(p.saturating_add(1)).unwrap_or(u16::MAX)
}
