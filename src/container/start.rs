//! `start`: release the init blocked on exec.fifo.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::notify::{Outcome, Relay};
use crate::process::{parse_fifo_report, FifoReport, ProcessError};
use crate::state::{ContainerDir, ContainerId, Op, State, StateStore, Status};
use crate::sys::SysContext;
use crate::Error;

/// `berth start`: the container's program runs. With NOTIFY_SOCKET in the environment (and
/// a container created with it), returns only once the container sent `READY=1`, passed on
/// with the init's pid as MAINPID, or its init exited without.
pub fn start(store: &StateStore, id: &str) -> Result<(), Error> {
    let dir = store.open(&ContainerId::parse(id)?)?;
    let state = dir.load()?;
    let host = crate::notify::host_socket();
    let released = release(&dir, &state, host.as_deref())?;
    // `state`, `kill` and `delete --force` get in while the container works towards ready.
    drop(dir);
    match released.relay {
        Some(relay) => await_ready(relay, released.init.as_fd(), state.pid),
        None => Ok(()),
    }
}

/// A container whose program runs: a pidfd of its init, and the sd_notify relay when the
/// caller's NOTIFY_SOCKET asked for one.
#[derive(Debug)]
pub(super) struct Released {
    /// The init, to learn of its exit without its pid being reused meanwhile.
    pub(super) init: OwnedFd,
    /// Bound before the init was let go.
    pub(super) relay: Option<Relay>,
}

/// Waits for the container's READY=1 and passes it on with MAINPID `pid` (the init's: the
/// caller exits now and the service manager should watch the container). An init that
/// exits first ends the wait with a warning and no error, as runc's start exits 0 then
/// (runc notices only once the init is reaped; the pidfd tells at its exit).
pub(super) fn await_ready(relay: Relay, init: BorrowedFd<'_>, pid: i32) -> Result<(), Error> {
    let outcome = relay.wait(init, pid.unsigned_abs())?;
    crate::trace::mark("waiting for READY=1");
    if outcome == Outcome::InitExited {
        let msg = "the container's init exited before it sent READY=1 to NOTIFY_SOCKET";
        crate::logging::log(crate::logging::Level::Warning, msg);
    }
    Ok(())
}

/// Writes the byte the init waits for into exec.fifo and removes the fifo (the container is
/// running from then on), then runs the poststart hooks. Checks the status first, under the
/// directory's lock. Succeeds only when the program was executed and every poststart hook
/// succeeded; otherwise the init is killed (and waited for), so the state says stopped.
/// With `notify` (the host's NOTIFY_SOCKET), the relay is bound before the init is let go;
/// failing that leaves the container created.
pub(super) fn release(
    dir: &ContainerDir,
    state: &State,
    notify: Option<&OsStr>,
) -> Result<Released, Error> {
    let fifo_path = dir.fifo_path();
    // Opened before the status check, which compares the start time: a pidfd open then
    // names the init itself, to wait for its end and never signal a reused pid.
    let init = open_init(state)?;
    let status = super::current_status(state, &fifo_path);
    super::require(state, status, Op::Start)?;
    let Some(init) = init else { return Err(init_gone(state)) };
    // Bound before the program runs, so that its first notification has a reader.
    let relay = match notify {
        Some(host) => Relay::open(dir.path(), host)?,
        None => None,
    };
    let result = execute(state, &fifo_path).and_then(|()| {
        std::fs::remove_file(&fifo_path).map_err(|source| Error::Io {
            what: "removing",
            path: fifo_path.clone(),
            source,
        })?;
        // runtime.md, lifecycle step 9: a failing poststart hook is an error, and the
        // runtime stops the container.
        if state.poststart.is_empty() {
            return Ok(());
        }
        let json = super::query::hook_state_json(state, Status::Running);
        Ok(crate::hooks::run_all("poststart", &state.poststart, json.as_bytes())?)
    });
    if let Err(err) = result {
        stop(&init);
        return Err(err);
    }
    Ok(Released { init, relay })
}

/// Lets the init go and waits until it executed the program; its own report, or how it
/// died, when it did not.
fn execute(state: &State, fifo_path: &Path) -> Result<(), Error> {
    // The init holds the fifo open read-write and blocks reading it. Non-blocking, the
    // open fails with ENXIO instead of waiting when there is no init left to read.
    let fd = match nix::fcntl::open(
        fifo_path,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Err(nix::errno::Errno::ENXIO) => return Err(init_gone(state)),
        other => other.sys("open", fifo_path.display())?,
    };
    nix::unistd::write(&fd, b"0").sys("write", fifo_path.display())?;
    wait_for_exec(&fd, fifo_path)?;
    // Our write end keeps what the init or the shim wrote in the fifo until we read it.
    let report = parse_fifo_report(&read_fifo(fifo_path)?);
    drop(fd);
    if let Some(chain) = report.failure {
        return Err(ProcessError::Init { chain }.into());
    }
    check_executed(state, &report)
}

/// The init let go of the fifo without a report: it executed the program, or it died
/// silently (killed by a signal or a seccomp rule) before. Only the shim's byte or the
/// process itself tells which: PF_FORKNOEXEC, still readable on a zombie.
fn check_executed(state: &State, report: &FifoReport) -> Result<(), Error> {
    if report.executing {
        return Ok(());
    }
    let stat = crate::state::exec_stat(state.pid).filter(|s| s.start_time == state.pid_start_time);
    let status = match stat {
        Some(stat) if stat.executed => return Ok(()),
        Some(stat) if stat.state == 'Z' => describe_wait_status(stat.exit_code),
        _ => "gone".to_string(),
    };
    Err(ProcessError::InitExited { status: format!("{status}, before it executed the program") }
        .into())
}

/// A wait status as words: `exit status N` or `killed by SIGNAME`.
fn describe_wait_status(status: i32) -> String {
    let signal = status & 0x7f;
    if signal == 0 {
        return format!("exit status {}", (status >> 8) & 0xff);
    }
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(sig) => format!("killed by {sig}"),
        Err(_) => format!("killed by signal {signal}"),
    }
}

/// All that is in the fifo now, without blocking (start's own write end keeps it open).
fn read_fifo(path: &Path) -> Result<Vec<u8>, Error> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys("open", path.display())?;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(&fd, &mut buf) {
            Ok(0) | Err(nix::errno::Errno::EAGAIN) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => {
                return Err(
                    crate::sys::SysError::new("read", path.display().to_string(), errno).into()
                )
            }
        }
    }
}

/// A pidfd of the process with the init's pid (the caller checks its start time after);
/// None when there is none.
fn open_init(state: &State) -> Result<Option<OwnedFd>, Error> {
    match crate::sys::process::pidfd_open(Pid::from_raw(state.pid)) {
        Err(err) if matches!(err.errno, nix::errno::Errno::ESRCH | nix::errno::Errno::EINVAL) => {
            Ok(None)
        }
        other => Ok(Some(other?)),
    }
}

/// Kills the init and waits until it has exited (a pidfd polls readable then), so that
/// `state` says stopped as soon as `start` fails. Best effort: the error that led here is
/// the one to report.
fn stop(init: &OwnedFd) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let _ = crate::sys::process::pidfd_send_signal(init.as_fd(), libc::SIGKILL);
    loop {
        let mut fds = [PollFd::new(init.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// Blocks until the init no longer holds the fifo: its descriptor is close-on-exec, so
/// that happens when it has run its startContainer hooks and executed the program (or
/// died). poststart hooks and `start`'s return come after, as the spec orders.
fn wait_for_exec(fifo: &OwnedFd, path: &Path) -> Result<(), Error> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        // No events asked for: a writer's POLLERR (no reader left) is always reported.
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => {
                return Err(
                    crate::sys::SysError::new("poll", path.display().to_string(), errno).into()
                )
            }
            Ok(_)
                if fds[0]
                    .revents()
                    .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP)) =>
            {
                return Ok(())
            }
            Ok(_) => continue,
        }
    }
}

fn init_gone(state: &State) -> Error {
    Error::WrongStatus {
        id: state.id.clone(),
        status: Status::Stopped.to_string(),
        reason: "the container init exited before it could start",
    }
}
