//! Signals: parsing names and numbers as runc does, blocking them around the clone, and the
//! foreground wait that forwards them to the container.

use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::sys::{SysContext, SysResult};

/// A signal given as `KILL`, `SIGKILL`, `kill` or `9`; real-time signals by number
/// or as `RTMIN+N`.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let bad = || format!("unknown signal {text:?}");
    if let Ok(number) = text.parse::<i32>() {
        let max = libc::SIGRTMAX();
        return if (1..=max).contains(&number) { Ok(number) } else { Err(bad()) };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(offset) = name.strip_prefix("RTMIN+") {
        let n: u8 = offset.parse().map_err(|_| bad())?;
        let sig = libc::SIGRTMIN() + i32::from(n);
        return if sig <= libc::SIGRTMAX() { Ok(sig) } else { Err(bad()) };
    }
    let full = format!("SIG{name}");
    full.parse::<Signal>().map(|s| s as i32).map_err(|_| bad())
}

/// Blocks every signal and returns the mask to restore; done before the clone so that a
/// fast container's SIGCHLD cannot be missed.
pub fn block_all() -> SysResult<SigSet> {
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), Some(&mut old))
        .sys("sigprocmask", "block all")?;
    Ok(old)
}

/// Makes this process the reaper of its orphaned descendants, so that a two-stage init (a
/// grandchild) can still be waited for in the foreground.
pub fn become_subreaper() -> SysResult<()> {
    prctl::set_child_subreaper(true).map_err(|errno| {
        crate::sys::SysError::new(
            "prctl(PR_SET_CHILD_SUBREAPER)",
            "",
            nix::errno::Errno::from_raw(errno),
        )
    })
}

/// Restores a mask saved by [`block_all`].
pub fn restore(mask: &SigSet) -> SysResult<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(mask), None)
        .sys("sigprocmask", "restore")
}

/// With every signal blocked: waits for `pid` to exit, forwarding other signals to it,
/// reaping other children, (with `console`) copying between our stdio and the container's
/// terminal and (with `notify`) passing the container's READY=1 on to the host's
/// NOTIFY_SOCKET. Returns the shell-style exit code (128+N when killed by N).
pub fn wait_forwarding(
    pid: Pid,
    mut console: Option<crate::tty::Proxy>,
    mut notify: Option<crate::notify::Relay>,
) -> SysResult<i32> {
    let signals =
        SignalFd::with_flags(&SigSet::all(), SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .sys("signalfd", "")?;
    loop {
        if let Some(code) = reap(pid)? {
            if let Some(proxy) = console.as_mut() {
                proxy.drain();
            }
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Some(proxy) = &console {
            fds.extend(proxy.poll_fds());
        }
        let relay_at = fds.len();
        if let Some(relay) = &notify {
            fds.push(PollFd::new(relay.fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => other.sys("poll", "signalfd")?,
        };
        let revents: Vec<PollFlags> =
            fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect();
        if let Some(proxy) = console.as_mut() {
            proxy.pump(&revents[1..relay_at]);
        }
        if revents.get(relay_at).is_some_and(|r| !r.is_empty()) {
            notify = notify.and_then(relay_ready);
        }
        if revents[0].contains(PollFlags::POLLIN) {
            while let Some(info) = signals.read_signal().sys("read", "signalfd")? {
                forward(pid, info.ssi_signo as i32, console.as_ref());
            }
        }
    }
}

/// Reads what the container sent to its notify socket; a READY=1 goes on with this process
/// as MAINPID (the foreground run is what the service manager started and should watch, as
/// with runc). The relay is kept until then; passed on or failed, it closes. A failure is
/// a warning: the container itself is fine and keeps being waited for.
fn relay_ready(relay: crate::notify::Relay) -> Option<crate::notify::Relay> {
    match relay.pump(std::process::id()) {
        Ok(false) => Some(relay),
        Ok(true) => None,
        Err(err) => {
            let msg = crate::error::one_line(&err);
            crate::logging::log(crate::logging::Level::Warning, &msg);
            None
        }
    }
}

fn forward(pid: Pid, signo: i32, console: Option<&crate::tty::Proxy>) {
    match signo {
        libc::SIGCHLD => {}
        libc::SIGWINCH => {
            if let Some(proxy) = console {
                proxy.resize();
            }
        }
        // A signal number the kernel just delivered to us; a gone container is no error here.
        other => {
            let _ = crate::sys::process::kill_raw(pid, other);
        }
    }
}

/// Reaps every exited child; the exit code of `pid` if it was among them.
fn reap(pid: Pid) -> SysResult<Option<i32>> {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Ok(Some(128 + sig as i32)),
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(crate::sys::SysError::new("waitpid", pid.to_string(), errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        for text in ["KILL", "SIGKILL", "kill", "9", "SigKill"] {
            assert_eq!(parse_signal(text), Ok(9), "{text}");
        }
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("SIGRTMIN+1"), Ok(libc::SIGRTMIN() + 1));
        assert_eq!(parse_signal("40"), Ok(40));
    }

    #[test]
    fn nonsense_is_refused() {
        // The RTMIN offsets were found by tests/fuzz.rs: the first overflowed an i32 add
        // (a panic in debug builds, a negative "signal" in release), the second was taken.
        for text in
            ["", "0", "-1", "65", "SIGFOO", "RTMIN+99", "9x", "RTMIN++2147483647", "RTMIN+-3"]
        {
            assert!(parse_signal(text).is_err(), "{text}");
        }
    }
}
