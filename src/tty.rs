//! The container's terminal (`process.terminal`): the init allocates a pty inside the
//! container's devpts, makes it its controlling terminal and stdio, and hands the master
//! to the parent, which passes it to the caller's `--console-socket` (runc's contract).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;

use crate::sys::{SysContext, SysError, SysResult};

nix::ioctl_write_ptr_bad!(set_winsize, libc::TIOCSWINSZ, libc::winsize);

/// In the init, after pivot: opens a new pty, sets its size, bind-mounts the slave on
/// /dev/console, makes it the controlling terminal and fds 0–2, and returns the master.
pub fn setup_console(size: Option<(u16, u16)>) -> SysResult<OwnedFd> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).sys("open", "/dev/ptmx")?;
    grantpt(&master).sys("grantpt", "/dev/ptmx")?;
    unlockpt(&master).sys("unlockpt", "/dev/ptmx")?;
    let slave_path = ptsname_r(&master).sys("ptsname", "/dev/ptmx")?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
        unsafe { set_winsize(master.as_raw_fd(), &ws) }.sys("ioctl(TIOCSWINSZ)", &slave_path)?;
    }
    let slave = nix::fcntl::open(slave_path.as_str(), OFlag::O_RDWR | OFlag::O_NOCTTY, Mode::empty())
        .sys("open", &slave_path)?;
    bind_console(&slave_path)?;
    for target in 0..=2 {
        // SAFETY: dup2 onto the stdio numbers; both descriptors are valid.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(SysError::new("dup2", &slave_path, nix::errno::Errno::last()));
        }
    }
    // SAFETY: TIOCSCTTY takes an int argument; fd 0 is the slave, we lead our session.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(SysError::new("ioctl(TIOCSCTTY)", slave_path, nix::errno::Errno::last()));
    }
    // SAFETY: PtyMaster owns a valid descriptor; we take it over.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(master.into_raw_fd()) })
}

/// /dev/console is the terminal too, as the spec asks for `terminal: true`.
fn bind_console(slave_path: &str) -> SysResult<()> {
    let console = Path::new("/dev/console");
    if std::fs::symlink_metadata(console).is_err() {
        std::fs::File::create(console)
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
            .sys("create", console.display())?;
    }
    nix::mount::mount(Some(slave_path), console, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
        .sys("mount", format!("{slave_path} on /dev/console"))
}

/// In the parent: sends `master` to the unix socket at `socket` as SCM_RIGHTS.
pub fn send_to_console_socket(socket: &Path, master: RawFd) -> SysResult<()> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
        .sys("connect", socket.display())?;
    let name = b"/dev/ptmx";
    let fds = [master];
    sendmsg::<()>(stream.as_raw_fd(), &[IoSlice::new(name)], &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .sys("sendmsg", socket.display())?;
    Ok(())
}
