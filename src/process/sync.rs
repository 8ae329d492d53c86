//! The parent↔init protocol over a SOCK_SEQPACKET socketpair: one JSON message a packet,
//! a file descriptor riding along as SCM_RIGHTS where a message carries one.
//!
//! The order is fixed and written only here: each message has one typed helper on
//! [`Channel`] (`expect_init_pid`, `expect_fd`, `expect_ready` on the parent's end;
//! `expect_setup_done`, `expect_init_pid_seen`, `expect_hooks_done` on the init's), which
//! refuses anything else with [`SyncError::Unexpected`]; the parent walks them in this order
//! (`parent::follow`), the init in its steps (`child::init`):
//! ```text
//!  parent                                  init
//!  decide Setup (parent::setup): Awaited only when something below must precede the clone's
//!  next step; the clone inherits the decision, so no message says it
//!  clone ─────────────────────────────────▶ (fast path: the clone is the init)
//!                                           (slow path: the clone joins/creates, then forks the init)
//!        ◀──── UserNamespaceReady ───────── (slow path, new user namespace: unshared, waiting)
//!  write uid/gid maps (new user namespace) and oomScoreAdj, place the clone (systemd unit,
//!  resctrl group)
//!        ───── BindSource{index} + fd ────▶ (fast path, new user namespace: each bind source,
//!                                            opened in the init's mount namespace)
//!        ───── SetupDone ─────────────────▶ Setup::Awaited only; only then may the clone go on.
//!                                           Setup::Skipped: neither sent nor awaited, the
//!                                           clone goes on at once
//!        ◀──── InitPid(pid) ─────────────── (slow path: the forked init's pid)
//!        ───── InitPidSeen ───────────────▶ (slow path: only now may the forked init speak)
//!        ◀──── RunHooks ─────────────────── (hooks during create: mounts are done)
//!  run prestart + createRuntime hooks
//!        ───── HooksDone{state} ──────────▶ the state JSON for createContainer/startContainer
//!        ◀──── ConsoleMaster + fd ───────── (terminal: pty master)
//!        ◀──── SeccompListener + fd ─────── (a seccomp rule notifies: the listener)
//!        ◀──── Ready{steps} ─────────────── set up; about to block on exec.fifo (step times when tracing)
//!  any time: ◀── Failed{chain} ──────────── a step failed; the init exits
//!  (exec)  ◀──── end of file ─────────────── the exec shim executed the program, or
//!          ◀──── errno, call NUL target ──── its execve failed (raw, not JSON: see shim.rs)
//!  (create, after `start`) exec.fifo carries the init's last word instead: see
//!  [`report_into_fifo`] and `parent::report`.
//! ```

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::sys::{SysContext, SysError, SysResult};

/// Messages from the init (or its first stage) to the parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromInit {
    /// The first stage unshared a new user namespace and waits for its id maps.
    UserNamespaceReady,
    /// The first stage forked the container init; its pid in the parent's pid namespace.
    InitPid(i32),
    /// The rootfs is mounted; the runtime's create hooks may run now.
    RunHooks,
    /// The pty master of a `terminal: true` container rides along.
    ConsoleMaster,
    /// The seccomp notify listener rides along.
    SeccompListener,
    /// Setup is complete; the init now blocks on exec.fifo.
    Ready {
        /// Each step's name and duration in microseconds, when tracing (else empty).
        #[serde(default)]
        steps: Vec<(String, u64)>,
    },
    /// A step failed: its message and then each cause.
    Failed {
        /// Outermost message first.
        chain: Vec<String>,
    },
}

/// Messages from the parent to the init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromParent {
    /// The source of `mounts[index]`, opened O_PATH in the init's mount namespace, rides
    /// along (see `bind_sources.rs`).
    BindSource {
        /// The mount entry's index.
        index: usize,
    },
    /// The parent has written the id maps (if any) and placed the clone (e.g. in its cgroup).
    SetupDone,
    /// The parent has the forked init's pid; the init may go on.
    InitPidSeen,
    /// prestart and createRuntime hooks ran; the state JSON for the init's own hooks.
    HooksDone {
        /// The container's state as hooks receive it on stdin.
        state: String,
    },
}

/// Whether the clone waits for [`FromParent::SetupDone`]. The parent decides it before the
/// clone and the clone inherits the decision, so both sides agree without a message: the
/// parent sends `SetupDone` ([`Channel::send_setup_done`]) and the clone waits for it
/// ([`Channel::expect_setup_done`]) only when it is [`Setup::Awaited`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// The parent has work that must be done before the clone's next step (id maps, a
    /// placement, ...): it ends that work with `SetupDone`, which the clone waits for.
    Awaited,
    /// Nothing must precede the clone's next step: no `SetupDone`, and the clone goes on at
    /// once (one round trip and one context switch less).
    Skipped,
}

/// Why the protocol broke.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The socket failed.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// The other side closed the socket (it exited).
    #[error("the other side closed the sync socket")]
    Closed,
    /// A packet that does not decode.
    #[error("malformed sync message: {0}")]
    Malformed(String),
    /// A message out of the documented order.
    #[error("sync protocol: expected {expected}, got {got}")]
    Unexpected {
        /// What the order called for.
        expected: &'static str,
        /// What arrived (its debug form).
        got: String,
    },
    /// The init reported a failed step.
    #[error("{}", chain.join(": "))]
    InitFailed {
        /// Outermost message first.
        chain: Vec<String>,
    },
}

fn unexpected_from_parent(expected: &'static str, got: &FromParent) -> SyncError {
    SyncError::Unexpected { expected, got: format!("{got:?}") }
}

/// A descriptor the init sends the parent, each with its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdKind {
    /// [`FromInit::ConsoleMaster`].
    ConsoleMaster,
    /// [`FromInit::SeccompListener`].
    SeccompListener,
}

/// One end of the sync socket.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (parent end, init end). Both are close-on-exec.
pub fn channel_pair() -> SysResult<(Channel, Channel)> {
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .sys("socketpair", "sync")?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

/// The largest message accepted; hook state carries the annotations, which Kubernetes
/// allows up to 256 KiB of.
const MAX_PACKET: usize = 4 << 20;

/// Decodes one message's bytes.
pub fn decode<M: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<M, SyncError> {
    serde_json::from_slice(bytes).map_err(|e| SyncError::Malformed(e.to_string()))
}

impl Channel {
    /// Sends `msg`, with `fd` as SCM_RIGHTS when given.
    pub fn send<M: Serialize>(&self, msg: &M, fd: Option<RawFd>) -> Result<(), SyncError> {
        let bytes = serde_json::to_vec(msg).map_err(|e| SyncError::Malformed(e.to_string()))?;
        let iov = [IoSlice::new(&bytes)];
        let fds: Vec<RawFd> = fd.into_iter().collect();
        let cmsg: Vec<ControlMessage> =
            if fds.is_empty() { Vec::new() } else { vec![ControlMessage::ScmRights(&fds)] };
        if bytes.len() > MAX_PACKET {
            return Err(SyncError::Malformed(format!("a message of {} bytes", bytes.len())));
        }
        let send = || sendmsg::<()>(self.fd.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None);
        match send() {
            // A packet must fit the send buffer whole; only big hook state needs more.
            Err(nix::errno::Errno::EMSGSIZE) => {
                self.grow_send_buffer(bytes.len())?;
                send().sys("sendmsg", "sync socket")?;
            }
            other => {
                other.sys("sendmsg", "sync socket")?;
            }
        }
        Ok(())
    }

    /// `msg` encoded ahead of time, for [`Channel::send_prepared`].
    pub fn prepare<M: Serialize>(msg: &M) -> Result<Vec<u8>, SyncError> {
        serde_json::to_vec(msg).map_err(|e| SyncError::Malformed(e.to_string()))
    }

    /// Sends `bytes` (from [`Channel::prepare`]) with `fd` as SCM_RIGHTS in one sendmsg(2)
    /// and no other syscall: no allocation, no retry. For the init right after it loaded a
    /// notifying filter, when any other call could be stopped with nobody yet to answer it.
    pub fn send_prepared(&self, bytes: &[u8], fd: RawFd) -> Result<(), SyncError> {
        crate::sys::socket::send_with_fd(self.fd.as_fd(), bytes, fd)
            .map_err(|errno| SysError::new("sendmsg", "sync socket", errno))?;
        Ok(())
    }

    /// Makes room for a packet of `len` bytes (the kernel counts overhead too, so twice);
    /// as root past net.core.wmem_max.
    fn grow_send_buffer(&self, len: usize) -> Result<(), SyncError> {
        use nix::sys::socket::{setsockopt, sockopt};
        let size = 2 * len;
        setsockopt(&self.fd, sockopt::SndBufForce, &size)
            .or_else(|_| setsockopt(&self.fd, sockopt::SndBuf, &size))
            .sys("setsockopt(SO_SNDBUF)", "sync socket")?;
        Ok(())
    }

    /// Receives one message and the descriptor that rode along, if any.
    pub fn recv<M: for<'de> Deserialize<'de>>(&self) -> Result<(M, Option<OwnedFd>), SyncError> {
        self.recv_flags(MsgFlags::empty())
    }

    /// The cause chain of a `Failed` report already waiting in the socket, without blocking:
    /// when the parent's own step fails because the init is gone (e.g. EPIPE on send), the
    /// init's report is the root cause. It is the init's last message, and a clone that did
    /// not wait for the parent's setup ([`Setup::Skipped`]) may have sent others before it
    /// while the parent was still at that setup: those are passed over.
    pub fn failure_left(&self) -> Option<Vec<String>> {
        loop {
            match self.recv_flags(MsgFlags::MSG_DONTWAIT) {
                Ok((FromInit::Failed { chain }, _)) => return Some(chain),
                Ok(_) | Err(SyncError::Malformed(_)) => continue,
                Err(_) => return None,
            }
        }
    }

    fn recv_flags<M: for<'de> Deserialize<'de>>(
        &self,
        flags: MsgFlags,
    ) -> Result<(M, Option<OwnedFd>), SyncError> {
        let (bytes, fd) = self.recv_bytes(flags)?;
        Ok((decode(&bytes)?, fd))
    }

    /// One packet's bytes and the descriptor that rode along; [`SyncError::Closed`] at end
    /// of file.
    pub(super) fn recv_bytes(
        &self,
        flags: MsgFlags,
    ) -> Result<(Vec<u8>, Option<OwnedFd>), SyncError> {
        let size = self.next_size(flags)?;
        if size > MAX_PACKET {
            return Err(SyncError::Malformed(format!("a message of {size} bytes")));
        }
        let mut buf = vec![0u8; size.max(1)];
        let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = loop {
                match recvmsg::<()>(
                    self.fd.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg_space),
                    MsgFlags::MSG_CMSG_CLOEXEC | flags,
                ) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    other => break other.sys("recvmsg", "sync socket")?,
                }
            };
            let fd =
                msg.cmsgs().sys("recvmsg", "sync socket control data")?.find_map(|c| match c {
                    ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                    _ => None,
                });
            (msg.bytes, fd)
        };
        // SAFETY: SCM_RIGHTS installed this descriptor in our table just now; we own it.
        let fd = fd.map(|raw| unsafe { OwnedFd::from_raw_fd(raw) });
        if len == 0 {
            return Err(SyncError::Closed);
        }
        buf.truncate(len);
        Ok((buf, fd))
    }

    /// The size of the next message, without taking it (0 when the other side closed):
    /// MSG_TRUNC makes a SOCK_SEQPACKET recv return a packet's real length (Linux 3.4+).
    fn next_size(&self, flags: MsgFlags) -> Result<usize, SyncError> {
        let peek = MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC | flags;
        loop {
            match nix::sys::socket::recv(self.fd.as_raw_fd(), &mut [], peek) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => return Ok(other.sys("recv", "sync socket")?),
            }
        }
    }

    /// Receives the next message from the init and checks it is the one the order calls
    /// for; a `Failed` report becomes [`SyncError::InitFailed`].
    fn expect(
        &self,
        expected: &'static str,
        ok: fn(&FromInit) -> bool,
    ) -> Result<(FromInit, Option<OwnedFd>), SyncError> {
        let (msg, fd) = self.recv::<FromInit>()?;
        match msg {
            FromInit::Failed { chain } => Err(SyncError::InitFailed { chain }),
            got if ok(&got) => Ok((got, fd)),
            got => Err(SyncError::Unexpected { expected, got: format!("{got:?}") }),
        }
    }

    /// Parent: the first stage made the new user namespace and waits for its maps.
    pub fn expect_user_namespace_ready(&self) -> Result<(), SyncError> {
        self.expect("UserNamespaceReady", |m| *m == FromInit::UserNamespaceReady)?;
        Ok(())
    }

    /// Parent: the pid of the init the first stage forked.
    pub fn expect_init_pid(&self) -> Result<Pid, SyncError> {
        match self.expect("InitPid", |m| matches!(m, FromInit::InitPid(_)))? {
            (FromInit::InitPid(raw), _) => Ok(Pid::from_raw(raw)),
            (got, _) => Err(SyncError::Unexpected { expected: "InitPid", got: format!("{got:?}") }),
        }
    }

    /// Parent: the init's mounts are done and it waits for the create hooks.
    pub fn expect_run_hooks(&self) -> Result<(), SyncError> {
        self.expect("RunHooks", |m| *m == FromInit::RunHooks)?;
        Ok(())
    }

    /// Parent: the descriptor of `kind`, which must ride along with its message.
    pub fn expect_fd(&self, kind: FdKind) -> Result<OwnedFd, SyncError> {
        let (_, fd) = match kind {
            FdKind::ConsoleMaster => {
                self.expect("ConsoleMaster", |m| *m == FromInit::ConsoleMaster)?
            }
            FdKind::SeccompListener => {
                self.expect("SeccompListener", |m| *m == FromInit::SeccompListener)?
            }
        };
        fd.ok_or_else(|| SyncError::Malformed(format!("{kind:?} without a descriptor")))
    }

    /// Parent: the init is set up; its step timings (empty unless tracing).
    pub fn expect_ready(&self) -> Result<Vec<(String, u64)>, SyncError> {
        match self.expect("Ready", |m| matches!(m, FromInit::Ready { .. }))? {
            (FromInit::Ready { steps }, _) => Ok(steps),
            (got, _) => Err(SyncError::Unexpected { expected: "Ready", got: format!("{got:?}") }),
        }
    }

    /// Parent: ends its setup of the clone with [`FromParent::SetupDone`] when `setup` says
    /// the clone waits for it; sends nothing otherwise.
    pub fn send_setup_done(&self, setup: Setup) -> Result<(), SyncError> {
        match setup {
            Setup::Awaited => self.send(&FromParent::SetupDone, None),
            Setup::Skipped => Ok(()),
        }
    }

    /// Init: when `setup` says so, waits for [`FromParent::SetupDone`], collecting the bind
    /// sources sent before it (only the fast path of a new user namespace gets any); goes on
    /// at once, reading nothing, when the parent has no setup to do.
    pub fn expect_setup_done(&self, setup: Setup) -> Result<Vec<(usize, OwnedFd)>, SyncError> {
        if setup == Setup::Skipped {
            return Ok(Vec::new());
        }
        let mut sources = Vec::new();
        loop {
            match self.recv::<FromParent>()? {
                (FromParent::BindSource { index }, Some(fd)) => sources.push((index, fd)),
                (FromParent::SetupDone, _) => return Ok(sources),
                (got, _) => return Err(unexpected_from_parent("SetupDone", &got)),
            }
        }
    }

    /// Init (second stage): waits until the parent has its pid.
    pub fn expect_init_pid_seen(&self) -> Result<(), SyncError> {
        match self.recv::<FromParent>()? {
            (FromParent::InitPidSeen, _) => Ok(()),
            (got, _) => Err(unexpected_from_parent("InitPidSeen", &got)),
        }
    }

    /// Init: the create hooks ran; the state JSON for the init's own hooks.
    pub fn expect_hooks_done(&self) -> Result<String, SyncError> {
        match self.recv::<FromParent>()? {
            (FromParent::HooksDone { state }, _) => Ok(state),
            (got, _) => Err(unexpected_from_parent("HooksDone", &got)),
        }
    }

    /// The raw descriptor (for inheritance checks in the init).
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Writes `msg` (a `Failed` report) into exec.fifo, in one write: a report is far below
/// PIPE_BUF, so it lands whole.
pub fn report_into_fifo(fifo: &OwnedFd, msg: &FromInit) -> Result<(), SyncError> {
    let bytes = serde_json::to_vec(msg).map_err(|e| SyncError::Malformed(e.to_string()))?;
    loop {
        match nix::unistd::write(fifo, &bytes) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(n) if n == bytes.len() => return Ok(()),
            Ok(n) => {
                return Err(SyncError::Malformed(format!("wrote {n} of {} bytes", bytes.len())))
            }
            Err(errno) => return Err(SysError::new("write", "exec.fifo", errno).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fds_cross() {
        let (parent, init) = channel_pair().unwrap();
        init.send(&FromInit::InitPid(42), None).unwrap();
        assert_eq!(parent.expect_init_pid().unwrap(), Pid::from_raw(42));

        let file = std::fs::File::open("/dev/null").unwrap();
        init.send(&FromInit::ConsoleMaster, Some(file.as_raw_fd())).unwrap();
        let fd = parent.expect_fd(FdKind::ConsoleMaster).unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert_eq!(link, std::path::Path::new("/dev/null"));
    }

    #[test]
    fn a_descriptor_message_without_its_descriptor_is_malformed() {
        let (parent, init) = channel_pair().unwrap();
        init.send(&FromInit::ConsoleMaster, None).unwrap();
        let err = parent.expect_fd(FdKind::ConsoleMaster).unwrap_err();
        assert_eq!(err.to_string(), "malformed sync message: ConsoleMaster without a descriptor");
        init.send(&FromInit::ConsoleMaster, None).unwrap();
        let err = parent.expect_fd(FdKind::SeccompListener).unwrap_err();
        assert_eq!(err.to_string(), "sync protocol: expected SeccompListener, got ConsoleMaster");
    }

    #[test]
    fn a_prepared_message_crosses_with_its_fd() {
        let (parent, init) = channel_pair().unwrap();
        let bytes = Channel::prepare(&FromInit::SeccompListener).unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        init.send_prepared(&bytes, file.as_raw_fd()).unwrap();
        let fd = parent.expect_fd(FdKind::SeccompListener).unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert_eq!(link, std::path::Path::new("/dev/null"));
    }

    #[test]
    fn a_message_of_300_kib_crosses_whole() {
        let (parent, init) = channel_pair().unwrap();
        let state = format!("{{\"annotations\":{{\"big\":\"{}\"}}}}", "x".repeat(300 << 10));
        parent.send(&FromParent::HooksDone { state: state.clone() }, None).unwrap();
        assert_eq!(init.expect_hooks_done().unwrap(), state);
    }

    #[test]
    fn out_of_order_and_failures_are_errors() {
        let (parent, init) = channel_pair().unwrap();
        init.send(&FromInit::Ready { steps: Vec::new() }, None).unwrap();
        let err = parent.expect_init_pid().unwrap_err();
        assert!(matches!(err, SyncError::Unexpected { .. }), "{err}");
        assert_eq!(err.to_string(), "sync protocol: expected InitPid, got Ready { steps: [] }");

        init.send(&FromInit::Failed { chain: vec!["mounting /proc".into(), "EPERM".into()] }, None)
            .unwrap();
        let err = parent.expect_ready().unwrap_err();
        assert_eq!(err.to_string(), "mounting /proc: EPERM");

        assert_eq!(parent.failure_left(), None, "nothing is waiting");
        init.send(&FromInit::Failed { chain: vec!["joining namespaces".into()] }, None).unwrap();
        drop(init);
        assert_eq!(parent.failure_left(), Some(vec!["joining namespaces".to_string()]));
        assert!(matches!(parent.recv::<FromInit>(), Err(SyncError::Closed)));
    }

    /// An init that spoke before it failed: its report is still found.
    #[test]
    fn the_failure_left_is_found_behind_earlier_messages() {
        let (parent, init) = channel_pair().unwrap();
        init.send(&FromInit::RunHooks, None).unwrap();
        assert_eq!(parent.failure_left(), None, "no report among what is waiting");
        let pty = std::fs::File::open("/dev/null").unwrap();
        init.send(&FromInit::ConsoleMaster, Some(pty.as_raw_fd())).unwrap();
        init.send(&FromInit::Failed { chain: vec!["setting sysctls".into()] }, None).unwrap();
        drop(init);
        assert_eq!(parent.failure_left(), Some(vec!["setting sysctls".to_string()]));
    }

    /// Both ends take the decision made before the clone: `Awaited` is one message sent and
    /// waited for, `Skipped` none on either side, and a `SetupDone` the clone did not wait
    /// for is refused by the next step of the order instead of being passed over.
    #[test]
    fn setup_done_crosses_only_when_awaited() {
        let (parent, init) = channel_pair().unwrap();
        parent.send_setup_done(Setup::Awaited).unwrap();
        assert!(init.expect_setup_done(Setup::Awaited).unwrap().is_empty());

        parent.send_setup_done(Setup::Skipped).unwrap();
        assert!(init.expect_setup_done(Setup::Skipped).unwrap().is_empty());
        parent.send(&FromParent::HooksDone { state: "{}".into() }, None).unwrap();
        assert_eq!(init.expect_hooks_done().unwrap(), "{}", "nothing crossed before it");

        parent.send_setup_done(Setup::Awaited).unwrap();
        assert!(init.expect_setup_done(Setup::Skipped).unwrap().is_empty());
        let err = init.expect_hooks_done().unwrap_err();
        assert_eq!(err.to_string(), "sync protocol: expected HooksDone, got SetupDone");

        // A skipped wait reads nothing, not even the end of the parent's side.
        drop(parent);
        assert!(init.expect_setup_done(Setup::Skipped).unwrap().is_empty());
        assert!(matches!(init.expect_setup_done(Setup::Awaited), Err(SyncError::Closed)));
    }

    /// The init's side: bind sources collect until SetupDone; anything else out of order
    /// names what was expected, in the words the init reports.
    #[test]
    fn the_inits_side_takes_only_its_next_message() {
        let (parent, init) = channel_pair().unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        for index in [0, 3] {
            parent.send(&FromParent::BindSource { index }, Some(file.as_raw_fd())).unwrap();
        }
        parent.send(&FromParent::SetupDone, None).unwrap();
        let sources = init.expect_setup_done(Setup::Awaited).unwrap();
        assert_eq!(sources.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 3]);

        parent.send(&FromParent::SetupDone, None).unwrap();
        let err = init.expect_init_pid_seen().unwrap_err();
        assert_eq!(err.to_string(), "sync protocol: expected InitPidSeen, got SetupDone");
        parent.send(&FromParent::InitPidSeen, None).unwrap();
        let err = init.expect_hooks_done().unwrap_err();
        assert_eq!(err.to_string(), "sync protocol: expected HooksDone, got InitPidSeen");
        parent.send(&FromParent::InitPidSeen, None).unwrap();
        let err = init.expect_setup_done(Setup::Awaited).unwrap_err();
        assert_eq!(err.to_string(), "sync protocol: expected SetupDone, got InitPidSeen");
        drop(parent);
        assert!(matches!(init.expect_setup_done(Setup::Awaited), Err(SyncError::Closed)));
    }

    #[test]
    fn a_failed_report_lands_whole_in_the_fifo() {
        let (read, write) = nix::unistd::pipe().unwrap();
        let failed = FromInit::Failed { chain: vec!["waiting for start".into(), "x".into()] };
        report_into_fifo(&write, &failed).unwrap();
        drop(write);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(read), &mut bytes).unwrap();
        assert_eq!(decode::<FromInit>(&bytes).unwrap(), failed);
    }
}
