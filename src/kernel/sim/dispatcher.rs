//! Events, waits and system threads for C code compiled against include/km: `KEVENT` with
//! `KeInitializeEvent`, `KeSetEvent`, `KeResetEvent`, `KeClearEvent`, `KeReadStateEvent`,
//! `KeWaitForSingleObject`; `PsCreateSystemThread`, `PsTerminateSystemThread`,
//! `ObReferenceObjectByHandle`, `ObfDereferenceObject`, `ZwClose` and `PsThreadType`.
//!
//! A `KEVENT` keeps the size of Windows's (a 24-byte `DISPATCHER_HEADER` on 64-bit): its first
//! word holds the object type (byte 0) and the size in `LONG`s (byte 2) as Windows does, its
//! second the signal state. Waiters park (`parking_lot_core`, keyed by the object's address),
//! so a set never loses a wake-up. A thread object is a notification object of type 6 that is
//! signalled when the thread ends; a handle is its address, valid until `ZwClose`.
//!
//! Checks: a wait that may block at `DISPATCH_LEVEL` or above stops with 0xC4/0x3B (a zero
//! timeout polls, allowed up to `DISPATCH_LEVEL`); a wait on anything but an initialised event
//! or a live thread object stops with `NDIS_RWLOCK_VIOLATION` / `NOT_A_DISPATCHER_OBJECT`;
//! `ZwClose` of a handle that is not open stops with 0x93 `INVALID_KERNEL_HANDLE`.

use core::ffi::c_void;
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Instant;

use crate::bugcheck::{self, rw};
use crate::kernel::{DISPATCH_LEVEL, Kernel};
use crate::sim::Sim;
use crate::sim::time::{check_may_wait, interval};

/// `NotificationEvent` (also `EventNotificationObject`, the header type).
const NOTIFICATION: u8 = 0;
/// `SynchronizationEvent` (also `EventSynchronizationObject`).
const SYNCHRONIZATION: u8 = 1;
/// `ThreadObject`.
const THREAD: u8 = 6;
/// The header's size byte: `sizeof(KEVENT) / sizeof(LONG)`.
const HEADER_SIZE: u8 = 6;

const STATUS_SUCCESS: i32 = 0;
const STATUS_TIMEOUT: i32 = 0x102;
const STATUS_INVALID_HANDLE: i32 = 0xC000_0008_u32 as i32;
const STATUS_INVALID_PARAMETER: i32 = 0xC000_000D_u32 as i32;
const STATUS_OBJECT_TYPE_MISMATCH: i32 = 0xC000_0024_u32 as i32;
const STATUS_INSUFFICIENT_RESOURCES: i32 = 0xC000_009A_u32 as i32;

/// `KEVENT` (`DISPATCHER_HEADER`): what the simulation keeps in it.
#[repr(C)]
#[derive(Debug)]
pub struct KEvent {
    /// `Lock`: type in byte 0, size in byte 2.
    header: AtomicI32,
    /// `SignalState`.
    state: AtomicI32,
    /// `WaitListHead`: unused.
    _wait_list: [usize; 2],
}

const _: () = assert!(core::mem::size_of::<KEvent>() == 8 + 2 * core::mem::size_of::<usize>());

fn header_word(kind: u8) -> i32 {
    i32::from_le_bytes([kind, 0, HEADER_SIZE, 0])
}

impl KEvent {
    fn kind(&self) -> Option<u8> {
        let [kind, _, size, _] = self.header.load(Ordering::Acquire).to_le_bytes();
        (size == HEADER_SIZE && matches!(kind, NOTIFICATION | SYNCHRONIZATION | THREAD))
            .then_some(kind)
    }

    fn key(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }

    /// Sets the state; wakes every waiter (a synchronization event's first taker resets it).
    fn set(&self) -> i32 {
        let previous = self.state.swap(1, Ordering::SeqCst);
        // SAFETY: the key is the object's address; no callbacks.
        unsafe {
            parking_lot_core::unpark_all(self.key(), parking_lot_core::DEFAULT_UNPARK_TOKEN);
        }
        previous
    }

    /// Takes the signal if there is one: a synchronization event resets as it is taken.
    fn try_take(&self, kind: u8) -> bool {
        if kind == SYNCHRONIZATION {
            self.state
                .compare_exchange(1, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        } else {
            self.state.load(Ordering::SeqCst) != 0
        }
    }

    /// Waits until signalled or `deadline`; `true` if signalled.
    fn wait(&self, kind: u8, deadline: Option<Instant>) -> bool {
        loop {
            if self.try_take(kind) {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            // SAFETY: the key is the object's address; the validate closure only loads an
            // atomic, the others do nothing.
            unsafe {
                parking_lot_core::park(
                    self.key(),
                    || self.state.load(Ordering::SeqCst) == 0,
                    || {},
                    |_, _| {},
                    parking_lot_core::DEFAULT_PARK_TOKEN,
                    deadline,
                );
            }
        }
    }
}

/// Turns a C pointer into the event it must be, stopping on NULL or misalignment.
///
/// # Safety
///
/// A non-null, aligned `event` points to `sizeof(KEVENT)` bytes live for `'a`.
unsafe fn event<'a>(event: *mut KEvent) -> &'a KEvent {
    if event.is_null() || !event.is_aligned() {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [rw::NOT_A_DISPATCHER_OBJECT, event as usize, 0, 0],
        );
    }
    // SAFETY: non-null and aligned (checked); live by the caller's contract.
    unsafe { &*event }
}

/// The event's kind, stopping if it is not an initialised dispatcher object.
fn kind_of(event: &KEvent) -> u8 {
    match event.kind() {
        Some(kind) => kind,
        None => Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [
                rw::NOT_A_DISPATCHER_OBJECT,
                event.key(),
                event.header.load(Ordering::Relaxed) as u32 as usize,
                0,
            ],
        ),
    }
}

/// `KeInitializeEvent`: type 0 notification, 1 synchronization; `state` nonzero: signalled.
///
/// # Safety
///
/// `event` is NULL or misaligned (a bug check) or points to a writable `KEVENT` nobody waits
/// for.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeInitializeEvent(event_ptr: *mut KEvent, kind: u32, state: u8) {
    // SAFETY: the caller's contract.
    let event = unsafe { event(event_ptr) };
    let kind = if kind == u32::from(SYNCHRONIZATION) {
        SYNCHRONIZATION
    } else {
        NOTIFICATION
    };
    event.state.store(i32::from(state != 0), Ordering::SeqCst);
    event.header.store(header_word(kind), Ordering::Release);
}

/// `KeSetEvent`: signals; returns the previous state.
///
/// # Safety
///
/// `event` points to an initialised `KEVENT` (else a bug check, where it can be told).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeSetEvent(
    event_ptr: *mut KEvent,
    _increment: i32,
    _wait: u8,
) -> i32 {
    // SAFETY: the caller's contract.
    let event = unsafe { event(event_ptr) };
    kind_of(event);
    event.set()
}

/// `KeResetEvent`: clears; returns the previous state.
///
/// # Safety
///
/// As [`KeSetEvent`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeResetEvent(event_ptr: *mut KEvent) -> i32 {
    // SAFETY: the caller's contract.
    let event = unsafe { event(event_ptr) };
    kind_of(event);
    event.state.swap(0, Ordering::SeqCst)
}

/// `KeClearEvent`.
///
/// # Safety
///
/// As [`KeSetEvent`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeClearEvent(event_ptr: *mut KEvent) {
    // SAFETY: the caller's contract.
    unsafe { KeResetEvent(event_ptr) };
}

/// `KeReadStateEvent`.
///
/// # Safety
///
/// As [`KeSetEvent`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeReadStateEvent(event_ptr: *mut KEvent) -> i32 {
    // SAFETY: the caller's contract.
    let event = unsafe { event(event_ptr) };
    kind_of(event);
    event.state.load(Ordering::SeqCst)
}

/// `KeWaitForSingleObject` on an event or a thread object: `STATUS_SUCCESS` once signalled,
/// `STATUS_TIMEOUT` if `timeout` (NULL: none; negative: relative; positive: absolute) passes
/// first.
///
/// # Safety
///
/// `object` points to an initialised `KEVENT` or a thread object from
/// `ObReferenceObjectByHandle` (else a bug check, where it can be told); `timeout` is NULL or
/// points to a readable `LARGE_INTEGER`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeWaitForSingleObject(
    object: *mut c_void,
    _wait_reason: u32,
    _wait_mode: i8,
    _alertable: u8,
    timeout: *const i64,
) -> i32 {
    // SAFETY: non-null timeout pointers are readable (the caller's contract).
    let timeout = (!timeout.is_null()).then(|| unsafe { timeout.read_unaligned() });
    if timeout == Some(0) {
        let irql = Sim::current_irql();
        if irql > DISPATCH_LEVEL {
            check_may_wait(object as usize);
        }
    } else {
        check_may_wait(object as usize);
    }
    // SAFETY: the caller's contract.
    let event = unsafe { event(object.cast()) };
    let kind = kind_of(event);
    let deadline = timeout.map(|t| Instant::now() + interval(t));
    if event.wait(kind, deadline) {
        STATUS_SUCCESS
    } else {
        STATUS_TIMEOUT
    }
}

// ---------------------------------------------------------------------------------------------
// System threads.

/// A thread object: a notification object signalled when the thread ends, with a reference
/// count (the handle, the running thread, each `ObReferenceObjectByHandle`).
#[repr(C)]
struct ThreadObject {
    done: KEvent,
    references: AtomicUsize,
}

/// The thread objects alive, by address: what makes a handle valid.
static OBJECTS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

fn with_objects<R>(f: impl FnOnce(&mut HashSet<usize>) -> R) -> R {
    let mut guard = OBJECTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(guard.get_or_insert_with(HashSet::new))
}

thread_local! {
    /// The thread object of the current thread, if `PsCreateSystemThread` started it.
    static CURRENT: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// Drops one reference to the live thread object at `address`; frees it at zero.
fn release_object(address: usize) {
    let last = with_objects(|objects| {
        // SAFETY: `address` is in the set, so the object is live; it is freed only under the
        // set's lock, below.
        let object = unsafe { &*(address as *const ThreadObject) };
        let last = object.references.fetch_sub(1, Ordering::AcqRel) == 1;
        if last {
            objects.remove(&address);
        }
        last
    });
    if last {
        // SAFETY: the last reference is gone and the object left the set: nobody can reach it.
        drop(unsafe { Box::from_raw(address as *mut ThreadObject) });
    }
}

/// Signals the current system thread's object and drops the thread's reference.
fn finish_current() {
    let address = CURRENT.with(|c| c.replace(0));
    if address != 0 {
        // SAFETY: the running thread holds a reference, so the object is live.
        let object = unsafe { &*(address as *const ThreadObject) };
        object.done.set();
        release_object(address);
    }
}

/// A C start routine and its context, moved to the new thread.
struct Start {
    routine: unsafe extern "system" fn(*mut c_void),
    context: usize,
    object: usize,
}

/// `PsCreateSystemThread`: starts `routine(context)` on a new thread of the simulated machine
/// and stores its handle in `handle` (close it with `ZwClose`).
///
/// # Safety
///
/// `handle` points to a writable `HANDLE`; `routine` is a valid `KSTART_ROUTINE` that may be
/// called with `context` on another thread.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PsCreateSystemThread(
    handle: *mut *mut c_void,
    _desired_access: u32,
    _object_attributes: *mut c_void,
    _process: *mut c_void,
    _client_id: *mut c_void,
    routine: Option<unsafe extern "system" fn(*mut c_void)>,
    context: *mut c_void,
) -> i32 {
    let Some(routine) = routine else {
        return STATUS_INVALID_PARAMETER;
    };
    if handle.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let object = Box::into_raw(Box::new(ThreadObject {
        done: KEvent {
            header: AtomicI32::new(header_word(THREAD)),
            state: AtomicI32::new(0),
            _wait_list: [0; 2],
        },
        references: AtomicUsize::new(2),
    })) as usize;
    with_objects(|objects| objects.insert(object));
    let start = Start {
        routine,
        context: context as usize,
        object,
    };
    let spawned = std::thread::Builder::new()
        .name("ndis-sim-system-thread".into())
        .spawn(move || {
            let start = start;
            CURRENT.with(|c| c.set(start.object));
            // SAFETY: the caller of PsCreateSystemThread vouched for the routine and context.
            unsafe { (start.routine)(start.context as *mut c_void) };
            finish_current();
        });
    if spawned.is_err() {
        release_object(object);
        release_object(object);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    // SAFETY: non-null (checked), writable by the caller's contract.
    unsafe { handle.write(object as *mut c_void) };
    STATUS_SUCCESS
}

/// `PsTerminateSystemThread`: ends the calling system thread (its object is signalled and it
/// never runs again; leaving at `DISPATCH_LEVEL` or above stops the machine). From a thread
/// `PsCreateSystemThread` did not start: `STATUS_INVALID_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "system" fn PsTerminateSystemThread(_exit_status: i32) -> i32 {
    if CURRENT.with(core::cell::Cell::get) == 0 {
        return STATUS_INVALID_PARAMETER;
    }
    let irql = Sim::current_irql();
    if irql >= DISPATCH_LEVEL {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [rw::THREAD_EXIT_AT_DISPATCH, usize::from(irql), 0, 0],
        );
    }
    finish_current();
    loop {
        std::thread::park();
    }
}

/// `ObReferenceObjectByHandle` for thread handles: the object, with a reference the caller
/// drops with `ObDereferenceObject`.
///
/// # Safety
///
/// `object` points to a writable `PVOID`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ObReferenceObjectByHandle(
    handle: *mut c_void,
    _desired_access: u32,
    object_type: *mut c_void,
    _access_mode: i8,
    object: *mut *mut c_void,
    _handle_information: *mut c_void,
) -> i32 {
    if !object_type.is_null() && object_type != thread_type() {
        return STATUS_OBJECT_TYPE_MISMATCH;
    }
    let address = handle as usize;
    let found = with_objects(|objects| {
        let live = objects.contains(&address);
        if live {
            // SAFETY: in the set, so live; the count cannot reach zero while we hold the lock
            // of the set and add to it.
            let thread = unsafe { &*(address as *const ThreadObject) };
            thread.references.fetch_add(1, Ordering::AcqRel);
        }
        live
    });
    if !found {
        return STATUS_INVALID_HANDLE;
    }
    if !object.is_null() {
        // SAFETY: the caller's contract.
        unsafe { object.write(handle) };
    }
    STATUS_SUCCESS
}

/// `ObfDereferenceObject` (what `ObDereferenceObject` calls): drops a reference taken by
/// `ObReferenceObjectByHandle`. Returns 0.
#[unsafe(no_mangle)]
pub extern "system" fn ObfDereferenceObject(object: *mut c_void) -> isize {
    let address = object as usize;
    if !with_objects(|objects| objects.contains(&address)) {
        Sim::bug_check(
            bugcheck::NDIS_RWLOCK_VIOLATION,
            [rw::NOT_A_DISPATCHER_OBJECT, address, 0, 0],
        );
    }
    release_object(address);
    0
}

/// `ZwClose` of a thread handle; a handle that is not open stops with 0x93.
#[unsafe(no_mangle)]
pub extern "system" fn ZwClose(handle: *mut c_void) -> i32 {
    let address = handle as usize;
    if !with_objects(|objects| objects.contains(&address)) {
        Sim::bug_check(bugcheck::INVALID_KERNEL_HANDLE, [address, 1, 0, 0]);
    }
    release_object(address);
    STATUS_SUCCESS
}

/// A pointer that may live in a `static`.
#[repr(transparent)]
#[derive(Debug)]
pub struct StaticPointer(*const c_void);

// SAFETY: the pointer is to immutable static data.
unsafe impl Sync for StaticPointer {}

/// The thread type object: only its address matters.
static THREAD_TYPE_OBJECT: u8 = THREAD;
/// `POBJECT_TYPE` of threads.
static THREAD_TYPE: StaticPointer = StaticPointer(core::ptr::from_ref(&THREAD_TYPE_OBJECT).cast());

fn thread_type() -> *mut c_void {
    THREAD_TYPE.0.cast_mut()
}

/// `PsThreadType` (`POBJECT_TYPE *`): `*PsThreadType` is what `ObReferenceObjectByHandle`
/// accepts for thread handles.
#[unsafe(no_mangle)]
pub static PsThreadType: StaticPointer = StaticPointer(core::ptr::from_ref(&THREAD_TYPE).cast());
