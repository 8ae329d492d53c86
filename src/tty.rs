//! The container's terminal (`process.terminal`): the init allocates a pty inside the
//! container's devpts, makes it its controlling terminal and stdio, and hands the master
//! to the parent, which passes it to the caller's `--console-socket` (runc's contract).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;

use crate::sys::{tty, SysContext, SysResult};

/// In the init, after pivot: opens a new pty, sets its size, bind-mounts the slave on
/// /dev/console when `console` (a container's init, not an exec), makes it the controlling
/// terminal and fds 0–2, and returns the master.
pub fn setup_console(size: Option<(u16, u16)>, console: bool) -> SysResult<OwnedFd> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .sys("open", "/dev/ptmx")?;
    grantpt(&master).sys("grantpt", "/dev/ptmx")?;
    unlockpt(&master).sys("unlockpt", "/dev/ptmx")?;
    let slave_path = ptsname_r(&master).sys("ptsname", "/dev/ptmx")?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        tty::set_window_size(master.as_fd(), &ws).sys("ioctl(TIOCSWINSZ)", &slave_path)?;
    }
    let slave =
        nix::fcntl::open(slave_path.as_str(), OFlag::O_RDWR | OFlag::O_NOCTTY, Mode::empty())
            .sys("open", &slave_path)?;
    if console {
        bind_console(&slave_path)?;
    }
    for target in 0..=2 {
        tty::dup_onto(slave.as_fd(), target).sys("dup2", &slave_path)?;
    }
    // fd 0 is the slave now, and the init leads its own session.
    tty::set_controlling_terminal(tty::stdin()).sys("ioctl(TIOCSCTTY)", &slave_path)?;
    Ok(OwnedFd::from(master))
}

/// /dev/console is the terminal too, as the spec asks for `terminal: true`.
fn bind_console(slave_path: &str) -> SysResult<()> {
    let console = Path::new("/dev/console");
    if std::fs::symlink_metadata(console).is_err() {
        std::fs::File::create(console)
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
            .sys("create", console.display())?;
    }
    nix::mount::mount(
        Some(slave_path),
        console,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .sys("mount", format!("{slave_path} on /dev/console"))
}

/// In the parent: sends `master` to the unix socket at `socket` as SCM_RIGHTS.
pub fn send_to_console_socket(socket: &Path, master: RawFd) -> SysResult<()> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
        .sys("connect", socket.display())?;
    let name = b"/dev/ptmx";
    let fds = [master];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .sys("sendmsg", socket.display())?;
    Ok(())
}

/// A foreground `run` of a `terminal: true` container without `--console-socket`: our
/// stdin goes to the pty master, the master's output to our stdout (runc does the same).
pub struct Proxy {
    master: OwnedFd,
    saved: Option<nix::sys::termios::Termios>,
    master_open: bool,
    stdin_open: bool,
}

impl Proxy {
    /// Takes the master and puts our stdin, when it is a terminal, in raw mode.
    pub fn new(master: OwnedFd) -> Self {
        let stdin = std::io::stdin();
        let saved = nix::sys::termios::tcgetattr(&stdin).ok();
        if let Some(saved) = &saved {
            let mut raw = saved.clone();
            nix::sys::termios::cfmakeraw(&mut raw);
            let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw);
        }
        let proxy = Proxy { master, saved, master_open: true, stdin_open: true };
        proxy.resize();
        proxy
    }

    /// Descriptors to poll for input: the master, then stdin, each while it is open (a
    /// closed one is polled with no events so that positions stay fixed).
    pub fn poll_fds(&self) -> Vec<nix::poll::PollFd<'_>> {
        use nix::poll::{PollFd, PollFlags};
        let events = |open: bool| if open { PollFlags::POLLIN } else { PollFlags::empty() };
        let stdin = tty::stdin();
        vec![
            PollFd::new(self.master.as_fd(), events(self.master_open)),
            PollFd::new(stdin, events(self.stdin_open)),
        ]
    }

    /// Copies whatever `poll` reported ready, in the order of [`Proxy::poll_fds`].
    pub fn pump(&mut self, revents: &[nix::poll::PollFlags]) {
        use nix::poll::PollFlags;
        let ready = |i: usize| {
            revents.get(i).is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP))
        };
        if self.master_open
            && ready(0)
            && !copy_once(self.master.as_fd(), std::io::stdout().as_fd())
        {
            self.master_open = false;
        }
        if self.stdin_open && ready(1) && !copy_once(std::io::stdin().as_fd(), self.master.as_fd())
        {
            self.stdin_open = false;
        }
    }

    /// After the container exited: copies what is still buffered in the master.
    pub fn drain(&mut self) {
        let _ = nix::fcntl::fcntl(&self.master, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        while copy_once(self.master.as_fd(), std::io::stdout().as_fd()) {}
    }

    /// Gives the container's terminal the size of ours.
    pub fn resize(&self) {
        if let Ok(ws) = tty::window_size(tty::stdin()) {
            let _ = tty::set_window_size(self.master.as_fd(), &ws);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}

/// One read and a full write; false at end of input or on error.
fn copy_once(from: std::os::fd::BorrowedFd<'_>, to: std::os::fd::BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut out = &buf[..n];
            while !out.is_empty() {
                match nix::unistd::write(to, out) {
                    Ok(written) => out = &out[written..],
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => return false,
                }
            }
            true
        }
    }
}
