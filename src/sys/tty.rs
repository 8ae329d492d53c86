//! Terminal calls: window size, controlling terminal, stdio redirection.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use nix::errno::Errno;

/// The window size of the terminal `fd` (ioctl TIOCGWINSZ).
pub fn window_size(fd: BorrowedFd) -> nix::Result<libc::winsize> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer, which is valid and
    // writable for the call; `fd` is open for the call's length.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    Errno::result(rc).map(|_| ws)
}

/// Sets the window size of the terminal `fd` (ioctl TIOCSWINSZ).
pub fn set_window_size(fd: BorrowedFd, ws: &libc::winsize) -> nix::Result<()> {
    // SAFETY: TIOCSWINSZ only reads one winsize through the pointer, valid for the call;
    // `fd` is open for the call's length.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws as *const libc::winsize) };
    Errno::result(rc).map(drop)
}

/// Makes the terminal `fd` the controlling terminal of the calling session leader
/// (ioctl TIOCSCTTY, without stealing it from another session).
pub fn set_controlling_terminal(fd: BorrowedFd) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes a plain int argument (0: do not steal) and no pointer.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    Errno::result(rc).map(drop)
}

/// Makes descriptor number `target` a copy of `fd` (dup2), closing what `target` was. The
/// caller owns `target` (a stdio number): whatever held it is replaced.
pub fn dup_onto(fd: BorrowedFd, target: RawFd) -> nix::Result<()> {
    // SAFETY: dup2 takes two descriptor numbers and no pointer; `fd` is open for the call.
    let rc = unsafe { libc::dup2(fd.as_raw_fd(), target) };
    Errno::result(rc).map(drop)
}

/// Descriptor 0, borrowed for the life of the process.
pub fn stdin() -> BorrowedFd<'static> {
    // SAFETY: berth never closes fd 0 (its stdio stays open for the life of the process),
    // so the descriptor number stays valid for any lifetime.
    unsafe { BorrowedFd::borrow_raw(libc::STDIN_FILENO) }
}
