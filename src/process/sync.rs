//! The parent↔init protocol over a SOCK_SEQPACKET socketpair: one JSON message a packet,
//! a file descriptor riding along as SCM_RIGHTS where a message carries one.
//!
//! The order is fixed; the parent enforces it with [`Channel::expect`]:
//! ```text
//!  parent                                  init
//!  clone ─────────────────────────────────▶ (fast path: the clone is the init)
//!                                           (slow path: the clone joins/creates, then forks the init)
//!        ◀──── UserNamespaceReady ───────── (slow path, new user namespace: unshared, waiting)
//!  write uid/gid maps (new user namespace) and oomScoreAdj, run the parent's hook (cgroup placement)
//!        ───── BindSource{index} + fd ────▶ (fast path, new user namespace: each bind source,
//!                                            opened in the init's mount namespace)
//!        ───── SetupDone ─────────────────▶ always; only then may the clone go on
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
//! ```

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
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
    #[error("sync protocol: expected {expected}, got {got:?}")]
    Unexpected {
        /// What the order called for.
        expected: &'static str,
        /// What arrived.
        got: FromInit,
    },
    /// The init reported a failed step.
    #[error("{}", chain.join(": "))]
    InitFailed {
        /// Outermost message first.
        chain: Vec<String>,
    },
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
        // CMSG_SPACE of one descriptor is 24 bytes on 64-bit, 16 on 32-bit; u64s align it.
        let mut control = [0u64; 4];
        // SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes.
        let (space, len) = unsafe {
            (libc::CMSG_SPACE(size_of::<RawFd>() as u32), libc::CMSG_LEN(size_of::<RawFd>() as u32))
        };
        assert!(space as usize <= size_of_val(&control), "room for one descriptor");
        let mut iov =
            libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() };
        // SAFETY: an all-zero msghdr is a valid empty one; the fields are set below.
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = control.as_mut_ptr().cast();
        hdr.msg_controllen = space as _;
        // SAFETY: `control` holds `space` bytes, so the first header and its data fit; the
        // kernel reads `bytes` and `control` only during the call, while both live.
        let ret = unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&hdr);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = len as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
            libc::sendmsg(self.fd.as_raw_fd(), &hdr, libc::MSG_NOSIGNAL)
        };
        if ret < 0 {
            let errno = nix::errno::Errno::last();
            return Err(SysError::new("sendmsg", "sync socket", errno).into());
        }
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
    /// init's report is the root cause.
    pub fn failure_left(&self) -> Option<Vec<String>> {
        match self.recv_flags(MsgFlags::MSG_DONTWAIT) {
            Ok((FromInit::Failed { chain }, _)) => Some(chain),
            _ => None,
        }
    }

    fn recv_flags<M: for<'de> Deserialize<'de>>(
        &self,
        flags: MsgFlags,
    ) -> Result<(M, Option<OwnedFd>), SyncError> {
        let (bytes, fd) = self.recv_bytes(flags)?;
        Ok((decode(&bytes)?, fd))
    }

    /// After `Ready` of an exec'd process: end of file once the exec shim executed the
    /// program (the socket is close-on-exec there), else the shim's or the init's report.
    pub fn expect_exec(&self) -> Result<(), SyncError> {
        let bytes = match self.recv_bytes(MsgFlags::empty()) {
            Err(SyncError::Closed) => return Ok(()),
            other => other?.0,
        };
        if let Some(err) = super::shim::parse_failure(&bytes) {
            let source = super::exec::in_runc_words(err);
            let err = super::init::StepError { step: "executing the process", source };
            return Err(SyncError::InitFailed { chain: crate::error::chain(&err) });
        }
        match decode::<FromInit>(&bytes)? {
            FromInit::Failed { chain } => Err(SyncError::InitFailed { chain }),
            got => Err(SyncError::Unexpected { expected: "end of file", got }),
        }
    }

    /// One packet's bytes and the descriptor that rode along; [`SyncError::Closed`] at end
    /// of file.
    fn recv_bytes(&self, flags: MsgFlags) -> Result<(Vec<u8>, Option<OwnedFd>), SyncError> {
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
    pub fn expect(
        &self,
        expected: &'static str,
        ok: fn(&FromInit) -> bool,
    ) -> Result<(FromInit, Option<OwnedFd>), SyncError> {
        let (msg, fd) = self.recv::<FromInit>()?;
        match msg {
            FromInit::Failed { chain } => Err(SyncError::InitFailed { chain }),
            got if ok(&got) => Ok((got, fd)),
            got => Err(SyncError::Unexpected { expected, got }),
        }
    }

    /// The raw descriptor (for inheritance checks in the init).
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// What the init left in exec.fifo once `start` released it: the fifo is its only witness
/// then (nobody listens on the sync socket any more), and `start` reads it after the init
/// let go of the fifo, by executing the program or by dying.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FifoReport {
    /// The exec shim wrote [`super::shim::EXECUTING`]: only the program's execve was left.
    pub executing: bool,
    /// Why the init or the shim gave up, outermost message first.
    pub failure: Option<Vec<String>>,
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

/// Reads what `bytes` (all of exec.fifo's content) says: the byte `start` wrote when the init
/// never read it, then the shim's [`super::shim::EXECUTING`], then a report: the init's JSON
/// `Failed` or the shim's raw one.
pub fn parse_fifo_report(bytes: &[u8]) -> FifoReport {
    let bytes = bytes.strip_prefix(b"0").unwrap_or(bytes);
    let (executing, bytes) = match bytes.strip_prefix(&[super::shim::EXECUTING]) {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let failure = if bytes.is_empty() {
        None
    } else if let Some(err) = super::shim::parse_failure(bytes) {
        let source = super::exec::in_runc_words(err);
        let err = super::init::StepError { step: "executing the process", source };
        Some(crate::error::chain(&err))
    } else {
        match decode::<FromInit>(bytes) {
            Ok(FromInit::Failed { chain }) => Some(chain),
            _ => Some(vec![format!("exec.fifo: a malformed report of {} bytes", bytes.len())]),
        }
    };
    FifoReport { executing, failure }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fds_cross() {
        let (parent, init) = channel_pair().unwrap();
        init.send(&FromInit::InitPid(42), None).unwrap();
        let (msg, fd) = parent.expect("InitPid", |m| matches!(m, FromInit::InitPid(_))).unwrap();
        assert_eq!(msg, FromInit::InitPid(42));
        assert!(fd.is_none());

        let file = std::fs::File::open("/dev/null").unwrap();
        init.send(&FromInit::ConsoleMaster, Some(file.as_raw_fd())).unwrap();
        let (_, fd) = parent.expect("ConsoleMaster", |m| *m == FromInit::ConsoleMaster).unwrap();
        assert!(fd.is_some());
    }

    #[test]
    fn a_prepared_message_crosses_with_its_fd() {
        let (parent, init) = channel_pair().unwrap();
        let bytes = Channel::prepare(&FromInit::SeccompListener).unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        init.send_prepared(&bytes, file.as_raw_fd()).unwrap();
        let (_, fd) =
            parent.expect("SeccompListener", |m| *m == FromInit::SeccompListener).unwrap();
        let fd = fd.expect("the descriptor rides along");
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert_eq!(link, std::path::Path::new("/dev/null"));
    }

    #[test]
    fn fifo_reports_parse() {
        assert_eq!(parse_fifo_report(b""), FifoReport::default());
        assert_eq!(parse_fifo_report(b"0"), FifoReport::default());
        let executing = parse_fifo_report(b"+");
        assert_eq!(executing, FifoReport { executing: true, failure: None });
        let json = serde_json::to_vec(&FromInit::Failed { chain: vec!["a".into(), "b".into()] });
        let failed = parse_fifo_report(&json.unwrap());
        assert_eq!(failed.failure, Some(vec!["a".to_string(), "b".to_string()]));
        let mut packet = b"+".to_vec();
        packet.extend_from_slice(&2i32.to_ne_bytes());
        packet.extend_from_slice(b"execve\0/bin/gone");
        let shim = parse_fifo_report(&packet);
        assert!(shim.executing);
        let chain = shim.failure.unwrap().join(": ");
        assert_eq!(chain, "executing the process: exec /bin/gone: no such file or directory");
    }

    #[test]
    fn a_message_of_300_kib_crosses_whole() {
        let (parent, init) = channel_pair().unwrap();
        let state = format!("{{\"annotations\":{{\"big\":\"{}\"}}}}", "x".repeat(300 << 10));
        let sent = FromParent::HooksDone { state };
        parent.send(&sent, None).unwrap();
        assert_eq!(init.recv::<FromParent>().unwrap().0, sent);
    }

    #[test]
    fn out_of_order_and_failures_are_errors() {
        let (parent, init) = channel_pair().unwrap();
        init.send(&FromInit::Ready { steps: Vec::new() }, None).unwrap();
        let err = parent.expect("InitPid", |m| matches!(m, FromInit::InitPid(_))).unwrap_err();
        assert!(matches!(err, SyncError::Unexpected { .. }), "{err}");

        init.send(&FromInit::Failed { chain: vec!["mounting /proc".into(), "EPERM".into()] }, None)
            .unwrap();
        let err = parent.expect("Ready", |m| matches!(m, FromInit::Ready { .. })).unwrap_err();
        assert_eq!(err.to_string(), "mounting /proc: EPERM");

        assert_eq!(parent.failure_left(), None, "nothing is waiting");
        init.send(&FromInit::Failed { chain: vec!["joining namespaces".into()] }, None).unwrap();
        drop(init);
        assert_eq!(parent.failure_left(), Some(vec!["joining namespaces".to_string()]));
        assert!(matches!(parent.recv::<FromInit>(), Err(SyncError::Closed)));
    }
}
