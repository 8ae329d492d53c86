//! Signals: parsing names and numbers as runc does, blocking them around the clone, and the
//! foreground wait that forwards them to the container.

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
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
        let n: i32 = offset.parse().map_err(|_| bad())?;
        let sig = libc::SIGRTMIN() + n;
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

/// Restores a mask saved by [`block_all`].
pub fn restore(mask: &SigSet) -> SysResult<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(mask), None).sys("sigprocmask", "restore")
}

/// With every signal blocked: waits for `pid` to exit, forwarding any other signal to it and
/// reaping other children. Returns the shell-style exit code (128+N when killed by N).
pub fn wait_forwarding(pid: Pid) -> SysResult<i32> {
    let all = SigSet::all();
    loop {
        if let Some(code) = reap(pid)? {
            return Ok(code);
        }
        let signal = all.wait().sys("sigwait", "")?;
        match signal {
            Signal::SIGCHLD => continue,
            // Our own window changes mean nothing to a container without our terminal.
            Signal::SIGWINCH => continue,
            other => {
                let _ = kill(pid, other);
            }
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
        for text in ["", "0", "-1", "65", "SIGFOO", "RTMIN+99", "9x"] {
            assert!(parse_signal(text).is_err(), "{text}");
        }
    }
}
