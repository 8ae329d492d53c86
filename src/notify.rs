//! The sd_notify relay (`NOTIFY_SOCKET`, sd_notify(3)), with runc 1.1's paths and messages.
//!
//! The container cannot reach the socket of the service manager that started the runtime,
//! so the runtime stands in between. `create` (when its own environment has NOTIFY_SOCKET)
//! makes `<state dir>/notify`, bind-mounts it read-only at [`CONTAINER_DIR`] and sets the
//! process's NOTIFY_SOCKET to [`CONTAINER_SOCKET`] (replacing one in `process.env`).
//! `start` (and `run`), again only with NOTIFY_SOCKET in its own environment, binds the
//! datagram socket there before it lets the init go, waits for a datagram with a
//! `READY=1` line, and sends `READY=1` and `MAINPID=<pid>` (two datagrams) to the host's
//! socket. Other messages are dropped: a container's `MAINPID=` names a pid of its own
//! namespace, which the host must never act on.
//!
//! Without NOTIFY_SOCKET none of this runs: reading the variable is the whole cost, and it
//! makes no syscall.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use nix::sys::stat::Mode;

use crate::spec::ValidSpec;
use crate::sys::{SysContext, SysError, SysResult};

/// The directory in a container's state directory that holds its notify socket (runc's).
pub const STATE_SUBDIR: &str = "notify";
/// The socket's name in [`STATE_SUBDIR`].
pub const SOCKET_NAME: &str = "notify.sock";
/// Where the container sees [`STATE_SUBDIR`]: runc's path, whatever the host's socket is.
pub const CONTAINER_DIR: &str = "/run/notify";
/// The container process's NOTIFY_SOCKET.
pub const CONTAINER_SOCKET: &str = "/run/notify/notify.sock";
/// The mount options of [`CONTAINER_DIR`] (runc's): the socket only, nothing to run.
const MOUNT_OPTIONS: [&str; 5] = ["bind", "nosuid", "noexec", "nodev", "ro"];
/// The largest notification read; systemd itself takes no more in one datagram.
const MAX_DATAGRAM: usize = 4096;

/// A failure of the relay; each names the syscall that failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The container's side: its directory (at create) or its socket (at start).
    #[error("the container's sd_notify socket")]
    Container(#[source] SysError),
    /// The host's side: connecting or sending to the runtime's own NOTIFY_SOCKET.
    #[error("relaying sd_notify to NOTIFY_SOCKET")]
    Host(#[source] SysError),
}

/// How waiting for the container's `READY=1` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It came and was passed on.
    Ready,
    /// The init exited without sending it; nothing was passed on.
    InitExited,
}

/// The host's socket: the runtime's own NOTIFY_SOCKET, when set and not empty.
pub fn host_socket() -> Option<OsString> {
    std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty())
}

/// At create: makes `<state_dir>/notify` (mode 0755, so any user of the container reaches
/// the socket) and adds to `spec` its mount at [`CONTAINER_DIR`], last so that it lands on
/// top of a tmpfs the config mounts on /run, and the process's NOTIFY_SOCKET.
pub fn prepare(state_dir: &Path, spec: &mut ValidSpec) -> Result<(), NotifyError> {
    let dir = state_dir.join(STATE_SUBDIR);
    make_dir(&dir).map_err(NotifyError::Container)?;
    let mount = oci_spec::runtime::MountBuilder::default()
        .destination(CONTAINER_DIR)
        .typ("bind")
        .source(&dir)
        .options(MOUNT_OPTIONS.map(String::from).to_vec())
        .build()
        .expect("every field of the mount is set");
    spec.mounts.push(mount);
    spec.mount_options.push(crate::rootfs::options::parse(&MOUNT_OPTIONS));
    spec.mount_idmaps.push(None);
    set_env(&mut spec.process.env);
    Ok(())
}

/// mkdir, then chmod: the mode must not depend on the caller's umask.
fn make_dir(dir: &Path) -> SysResult<()> {
    let mode = Mode::from_bits_truncate(0o755);
    nix::unistd::mkdir(dir, mode).sys("mkdir", dir.display())?;
    chmod(dir, 0o755)
}

/// chmod(2) of `path` to `mode`.
fn chmod(path: &Path, mode: u32) -> SysResult<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        SysError::new("chmod", path.display().to_string(), errno)
    })
}

/// Points the process's NOTIFY_SOCKET at [`CONTAINER_SOCKET`], replacing the config's own:
/// only the relay's socket leads anywhere from inside.
fn set_env(env: &mut Vec<String>) {
    env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
    env.push(format!("NOTIFY_SOCKET={CONTAINER_SOCKET}"));
}

/// The two ends of the relay: the container's bound socket and a socket connected to the
/// host's. Dropping it closes both, so a later notification from the container is refused
/// (ECONNREFUSED) rather than queued where nobody reads.
#[derive(Debug)]
pub struct Relay {
    container: OwnedFd,
    host: OwnedFd,
}

impl Relay {
    /// At start, before the init is let go: binds `<state_dir>/notify/notify.sock` (a stale
    /// one from an earlier start is replaced) and connects to `host`, the runtime's
    /// NOTIFY_SOCKET (`@name` is an abstract address). None when the container was created
    /// without NOTIFY_SOCKET: it has no directory, and no way to send.
    pub fn open(state_dir: &Path, host: &OsStr) -> Result<Option<Relay>, NotifyError> {
        let path = state_dir.join(STATE_SUBDIR).join(SOCKET_NAME);
        let Some(container) = bind_container(&path).map_err(NotifyError::Container)? else {
            return Ok(None);
        };
        let host = connect_host(host).map_err(NotifyError::Host)?;
        Ok(Some(Relay { container, host }))
    }

    /// The container's socket, for a caller that polls it beside other descriptors.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.container.as_fd()
    }

    /// Reads every datagram the container has sent so far; when one had a `READY=1` line,
    /// passes it on with `MAINPID=main_pid` and returns true.
    pub fn pump(&self, main_pid: u32) -> Result<bool, NotifyError> {
        let mut ready = false;
        let mut buf = [0u8; MAX_DATAGRAM];
        loop {
            let fd = self.container.as_raw_fd();
            match nix::sys::socket::recv(fd, &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => ready |= says_ready(&buf[..n]),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => break,
                Err(errno) => {
                    let err = SysError::new("recv", "the container's notify socket", errno);
                    return Err(NotifyError::Container(err));
                }
            }
        }
        if ready {
            self.forward(main_pid)?;
        }
        Ok(ready)
    }

    /// Sends `READY=1`, then `MAINPID=main_pid`, to the host: runc's two datagrams, without
    /// its newlines, so a reader that wants the container's own `READY=1` datagram (crun's
    /// proxy test) gets exactly that. systemd reads its notify socket before it handles a
    /// child's exit, so the runtime exiting right after cannot come between the two.
    fn forward(&self, main_pid: u32) -> Result<(), NotifyError> {
        self.send(b"READY=1")?;
        self.send(format!("MAINPID={main_pid}").as_bytes())
    }

    fn send(&self, message: &[u8]) -> Result<(), NotifyError> {
        let fd = self.host.as_raw_fd();
        let sent = loop {
            match nix::sys::socket::send(fd, message, MsgFlags::MSG_NOSIGNAL) {
                Err(Errno::EINTR) => continue,
                other => break other,
            }
        };
        sent.map(drop).sys("send", "NOTIFY_SOCKET").map_err(NotifyError::Host)
    }

    /// Blocks until the container's `READY=1` was passed on (with `MAINPID=main_pid`) or
    /// `init`, a pidfd of the container's init, says it exited: the container then never
    /// will, and waiting on would hang the caller for good. A READY=1 sent just before the
    /// exit still counts.
    pub fn wait(self, init: BorrowedFd<'_>, main_pid: u32) -> Result<Outcome, NotifyError> {
        loop {
            let mut fds =
                [PollFd::new(self.fd(), PollFlags::POLLIN), PollFd::new(init, PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::NONE) {
                Err(Errno::EINTR) => continue,
                other => other
                    .sys("poll", "the container's notify socket and init")
                    .map_err(NotifyError::Container)?,
            };
            let exited = fds[1].revents().is_some_and(|r| !r.is_empty());
            if self.pump(main_pid)? {
                return Ok(Outcome::Ready);
            }
            if exited {
                return Ok(Outcome::InitExited);
            }
        }
    }
}

/// Whether a notification has a line `READY=1` (sd_notify(3): newline-separated
/// assignments, in any order).
fn says_ready(datagram: &[u8]) -> bool {
    datagram.split(|&b| b == b'\n').any(|line| line == b"READY=1")
}

/// Binds a datagram socket at `path` (mode 0777: the container's processes may run as any
/// user), replacing a stale one; None when its directory does not exist. The mode comes
/// from a zero umask around bind(2), not from a chmod by path afterwards, which would follow
/// whatever stood at `path` by then (the directory is the container's to see).
fn bind_container(path: &Path) -> SysResult<Option<OwnedFd>> {
    let socket = datagram_socket()?;
    match nix::unistd::unlink(path) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(errno) => return Err(SysError::new("unlink", path.display().to_string(), errno)),
    }
    let addr = UnixAddr::new(path).sys("bind", path.display())?;
    // berth is single-threaded: no other thread creates a file under this umask.
    let umask = nix::sys::stat::umask(Mode::empty());
    let bound = nix::sys::socket::bind(socket.as_raw_fd(), &addr);
    nix::sys::stat::umask(umask);
    match bound {
        Err(Errno::ENOENT) => return Ok(None),
        other => other.sys("bind", path.display())?,
    }
    Ok(Some(socket))
}

/// A datagram socket connected to the host's NOTIFY_SOCKET `host`.
fn connect_host(host: &OsStr) -> SysResult<OwnedFd> {
    let shown = PathBuf::from(host).display().to_string();
    let addr = match host.as_bytes().strip_prefix(b"@") {
        Some(name) => UnixAddr::new_abstract(name),
        None => UnixAddr::new(Path::new(host)),
    }
    .sys("connect", &shown)?;
    let socket = datagram_socket()?;
    nix::sys::socket::connect(socket.as_raw_fd(), &addr).sys("connect", &shown)?;
    Ok(socket)
}

fn datagram_socket() -> SysResult<OwnedFd> {
    nix::sys::socket::socket(AddressFamily::Unix, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
        .sys("socket", "AF_UNIX, SOCK_DGRAM")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn ready_is_a_whole_line_anywhere() {
        assert!(says_ready(b"READY=1"));
        assert!(says_ready(b"STATUS=up\nREADY=1\n"));
        assert!(!says_ready(b"READY=10"));
        assert!(!says_ready(b"STATUS=READY=1"));
        assert!(!says_ready(b"WATCHDOG=1\n"));
    }

    #[test]
    fn the_process_env_points_inside_whatever_the_config_said() {
        let mut env = vec!["A=1".to_string(), "NOTIFY_SOCKET=/elsewhere".into()];
        set_env(&mut env);
        assert_eq!(env, ["A=1", "NOTIFY_SOCKET=/run/notify/notify.sock"]);
    }

    #[test]
    fn ready_goes_on_with_mainpid_and_other_messages_do_not() {
        let tmp = crate::state::tempdir::TempDir::new("notify");
        std::fs::create_dir(tmp.path().join(STATE_SUBDIR)).unwrap();
        let host_path = tmp.path().join("host.sock");
        let host = UnixDatagram::bind(&host_path).unwrap();
        host.set_nonblocking(true).unwrap();
        let relay = Relay::open(tmp.path(), host_path.as_os_str()).unwrap().unwrap();
        let container = UnixDatagram::unbound().unwrap();
        let socket = tmp.path().join(STATE_SUBDIR).join(SOCKET_NAME);
        container.send_to(b"STATUS=starting\nMAINPID=1\n", &socket).unwrap();
        assert!(!relay.pump(42).unwrap());
        container.send_to(b"STATUS=up\nREADY=1\n", &socket).unwrap();
        assert!(relay.pump(42).unwrap());
        let mut buf = [0u8; 64];
        let n = host.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let n = host.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"MAINPID=42");
        assert!(host.recv(&mut buf).is_err(), "nothing else");
    }

    #[test]
    fn no_directory_means_no_relay() {
        let tmp = crate::state::tempdir::TempDir::new("notify");
        assert!(Relay::open(tmp.path(), OsStr::new("/nonexistent/host.sock")).unwrap().is_none());
    }
}
