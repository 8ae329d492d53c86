//! Process syscalls nix does not wrap: clone3 (fork-like, into new namespaces), pidfds,
//! close_range.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

use super::{SysError, SysResult};

/// `struct clone_args` of clone3(2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Which side of a fork-like clone the caller is on.
pub enum Forked {
    /// In the parent; the child's pid.
    Parent(Pid),
    /// In the child.
    Child,
}

/// Forks into new namespaces (`flags` are `CLONE_NEW*`), with SIGCHLD as the exit signal.
///
/// Uses clone3(2) without a stack, which behaves like fork(2); falls back to clone(2) where
/// clone3 is unavailable. The caller must be single-threaded.
/// See <https://man7.org/linux/man-pages/man2/clone3.2.html>.
pub fn clone_fork(flags: u64) -> SysResult<Forked> {
    let mut ret = clone3(flags, None);
    if ret < 0 && Errno::last() == Errno::ENOSYS {
        // SAFETY: as above; clone(2) with a null stack also behaves like fork.
        ret = unsafe { libc::syscall(libc::SYS_clone, flags | libc::SIGCHLD as u64, 0, 0, 0, 0) };
    }
    match ret {
        -1 => Err(SysError::new("clone3", format!("flags {flags:#x}"), Errno::last())),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Like [`clone_fork`], with the child born in the cgroup2 directory `cgroup`
/// (CLONE_INTO_CGROUP, Linux 5.7): no migration afterwards. Where that fails (an older kernel,
/// or the cgroup refuses the process), the child is cloned where the caller is and must join
/// by itself; the flag returned says which happened, in both processes.
pub fn clone_fork_into(flags: u64, cgroup: BorrowedFd<'_>) -> SysResult<(Forked, bool)> {
    match clone3(flags, Some(cgroup.as_raw_fd())) {
        -1 => clone_fork(flags).map(|forked| (forked, false)),
        0 => Ok((Forked::Child, true)),
        pid => Ok((Forked::Parent(Pid::from_raw(pid as i32)), true)),
    }
}

/// clone3(2) without a stack (fork-like) with `flags`, into `cgroup` when given; its raw result.
fn clone3(flags: u64, cgroup: Option<RawFd>) -> libc::c_long {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args = CloneArgs {
        flags: flags | cgroup.map_or(0, |_| CLONE_INTO_CGROUP),
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.map_or(0, |fd| fd as u64),
        ..Default::default()
    };
    // SAFETY: clone3 with a null stack duplicates the (single-threaded) caller like fork.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    }
}

/// pidfd_open(2): a file descriptor that refers to process `pid`.
pub fn pidfd_open(pid: Pid) -> SysResult<OwnedFd> {
    // SAFETY: plain syscall; on success the result is a new fd we own.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(SysError::new("pidfd_open", format!("pid {pid}"), Errno::last()));
    }
    // SAFETY: the kernel returned a fresh, owned descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// pidfd_send_signal(2): signals the process `pidfd` refers to (never a reused pid).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> SysResult<()> {
    // SAFETY: plain syscall on a borrowed, valid fd.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<u8>(),
            0,
        )
    };
    if ret < 0 {
        return Err(SysError::new("pidfd_send_signal", format!("signal {signal}"), Errno::last()));
    }
    Ok(())
}

/// kill(2) with a raw signal number: real-time signals (SIGRTMIN..SIGRTMAX), which nix's
/// `Signal` type cannot hold, and 0 (only check that the process exists) included.
pub fn kill_raw(pid: Pid, signal: i32) -> SysResult<()> {
    // SAFETY: kill(2) takes any pid and signal number; a bad one is an errno, not UB.
    if unsafe { libc::kill(pid.as_raw(), signal) } < 0 {
        return Err(SysError::new("kill", format!("pid {pid} signal {signal}"), Errno::last()));
    }
    Ok(())
}

/// Marks every fd from `first` up close-on-exec: close_range(2) with CLOSE_RANGE_CLOEXEC,
/// or where that is refused (an older kernel, or a seccomp profile that predates the call)
/// fcntl(F_SETFD) on each fd /proc/self/fd lists; a descriptor fcntl cannot mark either is
/// closed, unless it is one of `own` (which the caller opened close-on-exec itself).
pub fn cloexec_from(first: u32, own: &[RawFd]) -> SysResult<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: only sets flags on descriptors; nothing is closed.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if ret == 0 {
        return Ok(());
    }
    let refused = SysError::new("close_range", format!("{first}.."), Errno::last());
    let fds = match open_fds() {
        Ok(fds) => fds,
        // Without /proc/self/fd the descriptors cannot be known: the first error stands.
        Err(_) => return Err(refused),
    };
    for fd in fds.into_iter().filter(|fd| *fd >= first as RawFd) {
        // SAFETY: sets the flags of a descriptor; it may have been closed meanwhile (EBADF).
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == 0
            || Errno::last() == Errno::EBADF
            || own.contains(&fd)
        {
            continue;
        }
        // SAFETY: the caller declared every descriptor from `first` up but `own` unneeded.
        if unsafe { libc::close(fd) } < 0 && Errno::last() != Errno::EBADF {
            return Err(SysError::new("close", fd.to_string(), Errno::last()));
        }
    }
    Ok(())
}

/// The descriptors open in this process, from /proc/self/fd (the directory's own is gone
/// again by the time this returns).
fn open_fds() -> std::io::Result<Vec<RawFd>> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if let Some(fd) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
            fds.push(fd);
        }
    }
    Ok(fds)
}

/// close_range(2): closes every descriptor from `first` up except those in `keep`.
pub fn close_all_except(first: u32, keep: &[RawFd]) -> SysResult<()> {
    let mut keep: Vec<u32> =
        keep.iter().filter_map(|fd| u32::try_from(*fd).ok()).filter(|fd| *fd >= first).collect();
    keep.sort_unstable();
    let mut from = first;
    for kept in keep.into_iter().chain(std::iter::once(u32::MAX)) {
        if kept > from {
            // SAFETY: closes descriptors the caller declared it does not need.
            let ret = unsafe { libc::syscall(libc::SYS_close_range, from, kept - 1, 0) };
            if ret < 0 {
                return Err(SysError::new(
                    "close_range",
                    format!("{from}..{}", kept - 1),
                    Errno::last(),
                ));
            }
        }
        from = kept.saturating_add(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_all_except_keeps_only_the_listed() {
        // In a forked child so the test harness's own descriptors are left alone.
        let files: Vec<_> = (0..4).map(|_| std::fs::File::open("/dev/null").unwrap()).collect();
        let fds: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
        // SAFETY: the child only makes syscalls and leaves with _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let ok = close_all_except(fds[0] as u32, &[fds[1], fds[3]]).is_ok();
                let open = |fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
                let code = if ok && !open(fds[0]) && open(fds[1]) && !open(fds[2]) && open(fds[3]) {
                    0
                } else {
                    1
                };
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}

/// sched_setattr(2) for the calling thread.
pub fn sched_setattr(attr: &SchedAttr) -> SysResult<()> {
    #[repr(C)]
    struct RawSchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    let raw = RawSchedAttr {
        size: std::mem::size_of::<RawSchedAttr>() as u32,
        policy: attr.policy,
        flags: attr.flags,
        nice: attr.nice,
        priority: attr.priority,
        runtime: attr.runtime,
        deadline: attr.deadline,
        period: attr.period,
    };
    // SAFETY: the kernel reads `size` bytes of a correctly laid out sched_attr.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw as *const RawSchedAttr, 0) };
    if ret < 0 {
        return Err(SysError::new(
            "sched_setattr",
            format!("policy {}", attr.policy),
            Errno::last(),
        ));
    }
    Ok(())
}

/// The fields of `struct sched_attr` that [`sched_setattr`] sets (`process.scheduler`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedAttr {
    /// `SCHED_*`.
    pub policy: u32,
    /// `SCHED_FLAG_*`.
    pub flags: u64,
    /// Nice value.
    pub nice: i32,
    /// Static priority.
    pub priority: u32,
    /// Deadline runtime (ns).
    pub runtime: u64,
    /// Deadline deadline (ns).
    pub deadline: u64,
    /// Deadline period (ns).
    pub period: u64,
}

/// ioprio_set(2) for the calling process; `ioprio` is class << 13 | level.
pub fn ioprio_set(ioprio: u16) -> SysResult<()> {
    const IOPRIO_WHO_PROCESS: i32 = 1;
    // SAFETY: plain syscall with integer arguments.
    let ret =
        unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, i32::from(ioprio)) };
    if ret < 0 {
        return Err(SysError::new("ioprio_set", format!("{ioprio:#x}"), Errno::last()));
    }
    Ok(())
}

/// personality(2).
pub fn personality(persona: u64) -> SysResult<()> {
    // SAFETY: plain syscall; the old persona it returns is not needed.
    if unsafe { libc::personality(persona as libc::c_ulong) } < 0 {
        return Err(SysError::new("personality", format!("{persona:#x}"), Errno::last()));
    }
    Ok(())
}

/// Opens /dev/null on every closed descriptor in `first..first + count`, so that descriptors
/// the runtime opens later are allocated above a range passed on to the container. The
/// placeholders are close-on-exec: they vanish at the container's execve, which so finds
/// closed what the caller left closed.
pub fn fill_fd_gaps(first: i32, count: u32) -> SysResult<()> {
    for fd in first..first.saturating_add(count as i32) {
        // SAFETY: F_GETFD only queries the descriptor.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
            continue;
        }
        // SAFETY: the path is NUL-terminated; the result is checked.
        let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if null < 0 {
            return Err(SysError::new("open", "/dev/null", Errno::last()));
        }
        if null != fd {
            // SAFETY: dup3 onto a closed descriptor, then close the temporary one we own.
            let ret = unsafe { libc::dup3(null, fd, libc::O_CLOEXEC) };
            unsafe { libc::close(null) };
            if ret < 0 {
                return Err(SysError::new("dup3", format!("/dev/null to {fd}"), Errno::last()));
            }
        }
    }
    Ok(())
}

/// The part of Rust's runtime start-up berth keeps when it starts without it (`main.rs`,
/// `#![no_main]`): stdin, stdout and stderr are made open (each closed one on /dev/null,
/// inherited by children as before), so that no file berth opens later lands on them; and
/// SIGPIPE is ignored, so a closed pipe is a write error (the container's init restores
/// the default before its execve). What is left out is the stack-overflow handler's set-up
/// (reading /proc/self/maps, an alternate signal stack): about fifteen system calls paid by
/// every command, `state` and `kill` included.
pub fn start_up() -> SysResult<()> {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
    loop {
        // SAFETY: `fds` is a valid array of three pollfd for the call; timeout 0.
        if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } >= 0 {
            break;
        }
        match Errno::last() {
            Errno::EINTR => continue,
            errno => return Err(SysError::new("poll", "stdin, stdout and stderr", errno)),
        }
    }
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: the path is NUL-terminated; open returns the lowest free descriptor, which
        // is this closed one (the lower ones are open or were just opened).
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd != pfd.fd {
            return Err(SysError::new(
                "open",
                format!("/dev/null as fd {}", pfd.fd),
                Errno::last(),
            ));
        }
    }
    // SAFETY: setting a standard signal's disposition to SIG_IGN.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(SysError::new("sigaction", "SIGPIPE", Errno::last()));
    }
    Ok(())
}

/// Whether the working directory lies under the process's root: getcwd(2) (the raw call,
/// not glibc's) marks a directory outside it with "(unreachable)" or fails with ENOENT.
/// Any other failure is getcwd's own (e.g. refused by a seccomp profile): an error.
pub fn cwd_is_reachable() -> SysResult<bool> {
    let mut buf = [0u8; 4096];
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let ret = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    match ret {
        ret if ret > 0 => Ok(buf[0] == b'/'),
        0 => Ok(false),
        _ if Errno::last() == Errno::ENOENT => Ok(false),
        _ => Err(SysError::new("getcwd", "", Errno::last())),
    }
}
