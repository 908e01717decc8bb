//! Ctrl-C and `kill`: a flag the router's event loop checks.
//!
//! Contract: [`stop_requested`] becomes true once the process gets SIGINT, SIGTERM or
//! SIGHUP after [`install`]. The handler only stores to an atomic (async-signal-safe); the
//! loop, which wakes at least every tick, notices and tears the lab down in order.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use thiserror::Error;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The error of this module.
#[derive(Debug, Error)]
#[error("cannot install the handler for {signal}: {source}")]
pub struct SignalError {
    /// The signal.
    pub signal: Signal,
    /// The errno.
    pub source: nix::errno::Errno,
}

/// Installs the handlers for SIGINT, SIGTERM and SIGHUP.
pub fn install() -> Result<(), SignalError> {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to a static atomic, which is async-signal-safe, and
        // it replaces no handler another part of this process relies on.
        unsafe { sigaction(signal, &action) }.map_err(|source| SignalError { signal, source })?;
    }
    Ok(())
}

/// Whether a stop signal arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Makes a write to a closed pipe end the process quietly (SIGPIPE's default action), as
/// Unix tools do: `vpclab describe … | head` stops without a panic message. Not for the
/// daemon, whose stdout may be a pipe its parent has closed: it keeps Rust's default
/// (ignored; writes fail with EPIPE, which it ignores).
pub fn die_on_broken_pipe() -> Result<(), SignalError> {
    let action = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: restoring the default disposition installs no handler code; nothing in the CLI
    // relies on SIGPIPE being ignored.
    unsafe { sigaction(Signal::SIGPIPE, &action) }
        .map(|_| ())
        .map_err(|source| SignalError {
            signal: Signal::SIGPIPE,
            source,
        })
}
