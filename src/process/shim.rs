//! The exec shim against CVE-2019-5736: the init (a clone of the runtime) does not execve
//! the container's program itself, because while the kernel resolves it (or a script's
//! `#!/proc/self/exe`), /proc/self/exe would still be the runtime's binary on the host. It
//! executes a tiny embedded program (shim/exec-shim.c) from a sealed memfd, and that program
//! executes the container's: /proc/self/exe is then the sealed memfd, nothing to overwrite.
//! Far cheaper than re-executing a sealed copy of the whole runtime (~2 KiB, not ~4 MiB).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::sys::exec;
use crate::sys::{SysError, SysResult};

/// The compiled shim (build.rs).
static SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/exec-shim"));

/// The shim, loaded into a sealed memfd ahead of the exec.
#[derive(Debug)]
pub struct Shim {
    memfd: OwnedFd,
}

/// Where the shim reports a failed execve of the program. Either descriptor stays open into
/// the shim, which makes it close-on-exec: its end of file then means the program runs.
#[derive(Debug, Clone, Copy)]
pub enum Report {
    /// The sync socket (`exec`): one packet, the runtime waits for it.
    Socket(RawFd),
    /// exec.fifo (`start`): the shim first writes [`EXECUTING`], then any failure.
    Fifo(RawFd),
}

/// The byte the shim writes into exec.fifo once only the program's execve is left.
pub const EXECUTING: u8 = b'+';

impl Shim {
    /// Writes the shim into a new close-on-exec memfd and seals it against any change.
    pub fn load() -> SysResult<Self> {
        let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
        let memfd = exec::memfd_create_exec(c"berth-exec-shim", flags)
            .map_err(|e| SysError::new(e.call, "exec shim", e.errno))?;
        let mut written = 0;
        while written < SHIM.len() {
            match nix::unistd::write(&memfd, &SHIM[written..]) {
                Ok(n) => written += n,
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(SysError::new("write", "exec shim memfd", errno)),
            }
        }
        let seals =
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        exec::add_seals(memfd.as_fd(), seals, "exec shim memfd")?;
        Ok(Shim { memfd })
    }

    /// The memfd's descriptor (close-on-exec; the init must not close it before the exec).
    pub fn as_raw_fd(&self) -> RawFd {
        self.memfd.as_raw_fd()
    }

    /// Executes `path` with `argv` and `envp` through the shim; returns only when the shim
    /// itself could not be executed. `report` stays open into the shim, which marks it
    /// close-on-exec before it executes the program: it then reports the program's execve
    /// failure, and its end of file its success. Where a seccomp profile refuses fcntl or
    /// execveat the shim still runs, with fewer witnesses (see [`keep_across_exec`]).
    pub fn exec(
        &self,
        report: Report,
        path: &CString,
        argv: &[CString],
        envp: &[CString],
    ) -> Errno {
        let fds = match report {
            Report::Socket(fd) => keep_across_exec(fd).map(|fd| fd.to_string()),
            Report::Fifo(fd) => keep_across_exec(fd).map(|fd| format!("+{fd}")),
        };
        let fds = CString::new(fds.unwrap_or_default()).expect("digits and a plus");
        let shim_argv: Vec<&CString> = [&fds, path].into_iter().chain(argv).collect();
        let shim_argv = exec::pointers(&shim_argv);
        let shim_envp = exec::pointers(&envp.iter().collect::<Vec<_>>());
        let errno = exec::execveat_fd(self.memfd.as_fd(), &shim_argv, &shim_envp);
        if !matches!(errno, Errno::ENOSYS | Errno::EPERM | Errno::EACCES) {
            return errno;
        }
        // A seccomp profile that refuses execveat allows execve, which the program needs.
        let by_path = CString::new(format!("/proc/self/fd/{}", self.memfd.as_raw_fd()))
            .expect("no NUL in a number");
        exec::execve(&by_path, &shim_argv, &shim_envp)
    }
}

/// `fd` itself with FD_CLOEXEC cleared, or where fcntl is refused a dup(2) of it (dup's
/// copy is never close-on-exec, and the original closes at the exec); None when both are
/// refused. The init's seccomp filter may be loaded already, and neither call need be in
/// the profile: without the descriptor the shim reports on stderr, and its close-on-exec
/// original ends at the shim's execve instead of the program's.
fn keep_across_exec(fd: RawFd) -> Option<RawFd> {
    match exec::clear_cloexec(fd) {
        Ok(()) => Some(fd),
        Err(_) => exec::dup_raw(fd).ok(),
    }
}

/// A failure the shim reported on the sync socket: errno (4 bytes, native order), the
/// call's name, NUL, its target. None when `packet` is not such a report.
pub fn parse_failure(packet: &[u8]) -> Option<SysError> {
    let (errno, rest) = packet.split_first_chunk::<4>()?;
    let nul = rest.iter().position(|b| *b == 0)?;
    let call = match &rest[..nul] {
        b"execve" => "execve",
        b"fcntl" => "fcntl",
        b"close" => "close",
        b"exec shim" => "exec shim",
        _ => return None,
    };
    let target = String::from_utf8_lossy(&rest[nul + 1..]).into_owned();
    Some(SysError::new(call, target, Errno::from_raw(i32::from_ne_bytes(*errno))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shim prints these itself when nobody listens: they must read like the runtime's.
    #[test]
    fn shim_errno_texts_match_the_runtime() {
        let source = include_str!("shim/exec-shim.c");
        let mut checked = 0;
        for line in source.lines().filter_map(|l| l.trim().strip_prefix("ERRNO(")) {
            let Some((num, text)) = line.split_once(", \"") else { continue };
            let text = text.trim_end_matches("\")");
            let errno = Errno::from_raw(num.parse().unwrap());
            let runc = crate::process::child::program::RuncErrno(errno).to_string();
            assert_eq!(text, runc, "errno {num} in the shim's table");
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} errno texts found in the shim");
    }

    #[test]
    fn failure_reports_parse() {
        let mut packet = 2i32.to_ne_bytes().to_vec();
        packet.extend_from_slice(b"execve\0/bin/nope");
        let err = parse_failure(&packet).unwrap();
        assert_eq!(
            (err.call, err.target.as_str(), err.errno),
            ("execve", "/bin/nope", Errno::ENOENT)
        );
        assert!(parse_failure(b"{\"Failed\":{}}").is_none());
        assert!(parse_failure(&13i32.to_ne_bytes()).is_none());
        let mut unknown = 13i32.to_ne_bytes().to_vec();
        unknown.extend_from_slice(b"open\0x");
        assert!(parse_failure(&unknown).is_none());
    }

    #[test]
    fn shim_is_small_and_static() {
        assert!(SHIM.starts_with(b"\x7fELF"));
        assert!(SHIM.len() < 8192, "the shim grew to {} bytes", SHIM.len());
        let memfd = Shim::load().unwrap();
        let seals = exec::seals(memfd.memfd.as_fd()).unwrap();
        assert_eq!(seals & libc::F_SEAL_WRITE, libc::F_SEAL_WRITE);
        assert!(nix::unistd::write(&memfd.memfd, b"x").is_err(), "the memfd is writable");
    }
}
