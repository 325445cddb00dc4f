//! How the simulated machine stops: once, with one line, and nothing after it.
//!
//! A bug check raised inside [`catch_bug_check`](super::catch_bug_check) on the same thread
//! unwinds to it with the [`BugCheck`] as payload, without running the panic hook (no panic
//! message, no backtrace): the test gets the stop as a value. Anywhere else (C code, a thread
//! a test did not wrap, the DPC watchdog of a waiter) the machine stops: the first stop of the
//! process writes its `*** STOP: ...` line to stderr and the process aborts (`SIGABRT`, exit
//! status 134 in a shell); a stop that comes while another is under way prints nothing and
//! never returns, as a processor frozen by the first bug check's IPI.

use std::cell::Cell;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use super::BugCheck;

thread_local! {
    /// How many [`catch_bug_check`](super::catch_bug_check) calls the thread is inside.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
}

/// Set by the first stop of the machine.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Marks the current thread as inside a `catch_bug_check` until the returned value drops.
pub(super) fn catching() -> Catching {
    CATCHING.with(|c| c.set(c.get() + 1));
    Catching(())
}

/// While alive, the current thread's bug checks unwind instead of stopping the machine.
pub(super) struct Catching(());

impl Drop for Catching {
    fn drop(&mut self) {
        let _ = CATCHING.try_with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Whether a bug check of the current thread unwinds to a `catch_bug_check`.
pub(super) fn is_caught() -> bool {
    CATCHING.try_with(Cell::get).unwrap_or(0) > 0
}

/// Raises `stop`: unwinds to the innermost `catch_bug_check` of the thread, without the
/// panic hook, or stops the machine.
pub(super) fn raise(stop: BugCheck) -> ! {
    if is_caught() {
        std::panic::resume_unwind(Box::new(stop))
    }
    halt(stop)
}

/// Stops the machine: the first caller prints `stop` as one line and aborts the process;
/// any later caller prints nothing and waits for the end.
pub(crate) fn halt(stop: BugCheck) -> ! {
    if !STOPPED.swap(true, Ordering::SeqCst) {
        let line = format!("{stop}\n");
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(line.as_bytes());
        let _ = stderr.flush();
        std::process::abort();
    }
    loop {
        std::thread::park();
    }
}
