//! seccomp: `linux.seccomp` compiled by libseccomp into a classic-BPF program, installed in
//! the container's process, and the notify listener handed to the agent at `listenerPath`.
//!
//! Compiling happens in the runtime before the clone, so a profile libseccomp refuses fails
//! `create` (or `exec`) before anything exists. Installing is one seccomp(2) call with the
//! flags berth chooses itself (libseccomp's own load would also set no_new_privs), so the
//! init can install it as late as its privileges allow.

use std::io::{IoSlice, Read, Seek};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde::Serialize;

use crate::sys::SysError;

mod enosys;

/// Why a profile cannot be compiled or its listener not handed over.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// libseccomp refused part of the profile.
    #[error("{path}: {what}")]
    Libseccomp {
        /// The config path, e.g. `linux.seccomp.syscalls[3]`.
        path: String,
        /// What berth asked of libseccomp.
        what: String,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// The kernel does not know a filter flag the profile asks for.
    #[error("linux.seccomp.flags: {0} is not supported by this kernel")]
    UnsupportedFlag(&'static str),
    /// The program is longer than the kernel accepts (BPF_MAXINSNS).
    #[error(
        "linux.seccomp: the compiled filter has {0} instructions, more than the kernel's 4096"
    )]
    TooLong(usize),
    /// Exporting the program from libseccomp failed.
    #[error("reading the compiled seccomp program")]
    Export(#[source] std::io::Error),
    /// A syscall failed.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// Nothing accepts connections at `listenerPath`.
    #[error("failed to connect with the seccomp agent at linux.seccomp.listenerPath {path}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Sending to the agent at `listenerPath` failed.
    #[error("sending the listener to the seccomp agent at linux.seccomp.listenerPath {path}")]
    Listener {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Every action berth applies.
pub const ACTIONS: &[LinuxSeccompAction] = &[
    LinuxSeccompAction::ScmpActAllow,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActNotify,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActTrap,
];

/// Every argument operator berth applies.
pub const OPERATORS: &[LinuxSeccompOperator] = &[
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
    LinuxSeccompOperator::ScmpCmpNe,
];

/// Every filter flag berth knows: its spec name and the kernel's bit.
pub const FLAGS: &[(LinuxSeccompFilterFlag, &str, u64)] = &[
    (
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
        "SECCOMP_FILTER_FLAG_TSYNC",
        libc::SECCOMP_FILTER_FLAG_TSYNC,
    ),
    (
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        "SECCOMP_FILTER_FLAG_LOG",
        libc::SECCOMP_FILTER_FLAG_LOG,
    ),
    (
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    ),
    (
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    ),
];

/// The spec's architectures and libseccomp's tokens for them.
const ARCHS: &[(Arch, ScmpArch)] = &[
    (Arch::ScmpArchNative, ScmpArch::Native),
    (Arch::ScmpArchX86, ScmpArch::X86),
    (Arch::ScmpArchX86_64, ScmpArch::X8664),
    (Arch::ScmpArchX32, ScmpArch::X32),
    (Arch::ScmpArchArm, ScmpArch::Arm),
    (Arch::ScmpArchAarch64, ScmpArch::Aarch64),
    (Arch::ScmpArchMips, ScmpArch::Mips),
    (Arch::ScmpArchMips64, ScmpArch::Mips64),
    (Arch::ScmpArchMips64n32, ScmpArch::Mips64N32),
    (Arch::ScmpArchMipsel, ScmpArch::Mipsel),
    (Arch::ScmpArchMipsel64, ScmpArch::Mipsel64),
    (Arch::ScmpArchMipsel64n32, ScmpArch::Mipsel64N32),
    (Arch::ScmpArchPpc, ScmpArch::Ppc),
    (Arch::ScmpArchPpc64, ScmpArch::Ppc64),
    (Arch::ScmpArchPpc64le, ScmpArch::Ppc64Le),
    (Arch::ScmpArchS390, ScmpArch::S390),
    (Arch::ScmpArchS390x, ScmpArch::S390X),
    (Arch::ScmpArchParisc, ScmpArch::Parisc),
    (Arch::ScmpArchParisc64, ScmpArch::Parisc64),
    (Arch::ScmpArchRiscv64, ScmpArch::Riscv64),
    (Arch::ScmpArchLoongarch64, ScmpArch::Loongarch64),
    (Arch::ScmpArchM68k, ScmpArch::M68k),
    (Arch::ScmpArchSh, ScmpArch::Sh),
    (Arch::ScmpArchSheb, ScmpArch::Sheb),
];

/// The errno of ERRNO and the message of TRACE when the profile gives none (runc's choice).
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// The kernel's limit on a classic-BPF program (BPF_MAXINSNS).
const MAX_INSTRUCTIONS: usize = 4096;

/// A compiled profile, ready to be installed with one syscall.
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: u64,
    listener_path: Option<PathBuf>,
    metadata: String,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &self.flags)
            .field("listener_path", &self.listener_path)
            .finish()
    }
}

impl Filter {
    /// Whether installing returns a notify listener (some rule uses SCMP_ACT_NOTIFY).
    pub fn notifies(&self) -> bool {
        self.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
    }

    /// `listenerPath`, when some rule notifies.
    pub fn listener_path(&self) -> Option<&Path> {
        self.listener_path.as_deref()
    }

    /// Installs the filter on the calling thread; the listener when [`Filter::notifies`].
    ///
    /// Needs no_new_privs or CAP_SYS_ADMIN. Every later syscall of the caller passes it.
    pub fn install(&self) -> Result<Option<OwnedFd>, SysError> {
        crate::sys::seccomp::set_mode_filter(&self.program, self.flags)
    }

    /// A function that installs this filter on the process that calls it, for a child of a
    /// fork to call before its execve (a startContainer hook). It copies the program now, so
    /// the child allocates nothing. Not for a notifying filter: the listener would be lost.
    pub fn installer(&self) -> std::sync::Arc<dyn Fn() -> std::io::Result<()> + Send + Sync> {
        let (program, flags) = (self.program.clone(), self.flags);
        std::sync::Arc::new(move || {
            crate::sys::seccomp::set_mode_filter(&program, flags)
                .map(drop)
                .map_err(|_| std::io::Error::last_os_error())
        })
    }

    /// Sends the listener and the container process state to the agent at `listenerPath`,
    /// as the runtime spec describes: one connection, one message, the fd as SCM_RIGHTS.
    ///
    /// `state` is the container's state (status `creating`); `pid` the process whose
    /// listener it is.
    pub fn send_listener(
        &self,
        listener: BorrowedFd,
        pid: i32,
        state: &impl Serialize,
    ) -> Result<(), SeccompError> {
        let Some(path) = &self.listener_path else { return Ok(()) };
        let message = ProcessState {
            oci_version: crate::OCI_VERSION,
            fds: ["seccompFd"],
            pid,
            metadata: &self.metadata,
            state,
        };
        let bytes = serde_json::to_vec(&message).expect("the state always serializes");
        let io = |source| SeccompError::Listener { path: path.clone(), source };
        let stream = UnixStream::connect(path)
            .map_err(|source| SeccompError::Connect { path: path.clone(), source })?;
        let fds = [listener.as_raw_fd()];
        sendmsg::<()>(
            stream.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|errno| io(errno.into()))?;
        Ok(())
    }
}

/// The "container process state" the runtime spec sends to a seccomp agent.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProcessState<'a, S: Serialize> {
    oci_version: &'a str,
    fds: [&'a str; 1],
    pid: i32,
    #[serde(skip_serializing_if = "str::is_empty")]
    metadata: &'a str,
    state: &'a S,
}

/// Compiles `linux.seccomp` into a program and the flags to install it with.
///
/// Syscall names libseccomp does not know are skipped, as runc does, so one profile serves
/// kernels old and new. Rules whose action is the default action are skipped too: they
/// change nothing, and libseccomp refuses them. A syscall numbered above every syscall
/// the profile names fails with ENOSYS rather than the default action (see `enosys`).
pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let program = program(profile)?;
    finish(profile, program)
}

/// The cache's directory under the state root: `@` is not allowed in a container id, so no
/// container can claim the name and `list` skips it.
pub const CACHE_DIR: &str = "@seccomp-cache";

/// [`compile`], reusing the program built earlier for an identical profile.
///
/// Building podman's default profile (three x86 architectures) takes libseccomp about 11 ms,
/// half of a whole `run` without seccomp; reading it back takes well under one. Each file in
/// `cache_dir` holds the whole key (profile, libseccomp version, berth version) next to the
/// program, and a hit needs the key to match byte for byte: the hash only names the file.
/// Failing to write the cache never fails the caller.
pub fn compile_cached(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Filter, SeccompError> {
    let key = cache_key(profile);
    let path = cache_dir.join(format!("{:016x}", fnv1a(&key)));
    if let Some(program) = read_cached(&path, &key) {
        return finish(profile, program);
    }
    let program = program(profile)?;
    let _ = write_cached(cache_dir, &path, &key, &program);
    finish(profile, program)
}

/// What makes two compiled programs identical.
fn cache_key(profile: &LinuxSeccomp) -> Vec<u8> {
    let version = libseccomp::ScmpVersion::current().map(|v| (v.major, v.minor, v.micro)).ok();
    let mut key =
        format!("berth {} libseccomp {version:?} enosys\n", env!("CARGO_PKG_VERSION")).into_bytes();
    key.extend(serde_json::to_vec(profile).expect("a profile always serializes"));
    key
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

const INSN: usize = std::mem::size_of::<libc::sock_filter>();

/// The cached program at `path` if the file's key is `key`: `[key length: u64 LE][key][program]`.
fn read_cached(path: &Path, key: &[u8]) -> Option<Vec<libc::sock_filter>> {
    let bytes = std::fs::read(path).ok()?;
    let len = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let rest = bytes.get(8..)?;
    if len != key.len() || rest.get(..len)? != key {
        return None;
    }
    let program = &rest[len..];
    if program.is_empty() || program.len() % INSN != 0 || program.len() / INSN > MAX_INSTRUCTIONS {
        return None;
    }
    Some(decode(program))
}

/// Writes the cache file whole (temp file + rename), so a reader never sees half of it.
fn write_cached(
    dir: &Path,
    path: &Path,
    key: &[u8],
    program: &[libc::sock_filter],
) -> std::io::Result<()> {
    // The cache may be the first thing under a new state root: every directory made here is
    // 0700 as the state store makes the root, or container ids would be listable by all users.
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mut bytes = (key.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(key);
    for insn in program {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.extend_from_slice(&[insn.jt, insn.jf]);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The program and flags for `profile`, checked against the kernel's limits.
fn finish(profile: &LinuxSeccomp, program: Vec<libc::sock_filter>) -> Result<Filter, SeccompError> {
    if program.len() > MAX_INSTRUCTIONS {
        return Err(SeccompError::TooLong(program.len()));
    }
    let default = action(profile.default_action(), profile.default_errno_ret());
    let notifies = profile.syscalls().iter().flatten().any(|rule| {
        let act = action(rule.action(), rule.errno_ret());
        act != default && act == ScmpAction::Notify
    });
    let flags = filter_flags(profile.flags().as_deref().unwrap_or_default(), notifies)?;
    Ok(Filter {
        program,
        flags,
        listener_path: profile.listener_path().clone().filter(|_| notifies),
        metadata: profile.listener_metadata().clone().unwrap_or_default(),
    })
}

/// libseccomp's program for `profile`.
fn program(profile: &LinuxSeccomp) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let lib =
        |path: String, what: String| move |source| SeccompError::Libseccomp { path, what, source };
    let default = action(profile.default_action(), profile.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default)
        .map_err(lib("linux.seccomp.defaultAction".into(), "creating the filter".into()))?;
    for (i, arch) in profile.architectures().iter().flatten().enumerate() {
        let path = format!("linux.seccomp.architectures[{i}]");
        ctx.add_arch(scmp_arch(*arch)).map_err(lib(path, format!("adding {arch}")))?;
    }
    for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
        let act = action(rule.action(), rule.errno_ret());
        if act == default {
            continue;
        }
        let args = rule.args().as_deref().unwrap_or_default();
        let conditions: Vec<ScmpArgCompare> = args.iter().map(condition).collect();
        // runc's documented behaviour, which profiles rely on: several conditions on one
        // argument mean any of them (one rule each), not all of them.
        let mut indexes: Vec<usize> = args.iter().map(|a| a.index()).collect();
        indexes.sort_unstable();
        let any_of = indexes.windows(2).any(|w| w[0] == w[1]);
        for name in rule.names() {
            let Ok(syscall) = ScmpSyscall::from_name(name) else { continue };
            let what = format!("adding a rule for {name}");
            let path = format!("linux.seccomp.syscalls[{i}]");
            if any_of {
                for cond in &conditions {
                    ctx.add_rule_conditional(act, syscall, std::slice::from_ref(cond))
                        .map_err(lib(path.clone(), what.clone()))?;
                }
            } else {
                ctx.add_rule_conditional(act, syscall, &conditions).map_err(lib(path, what))?;
            }
        }
    }
    let mut program = export(&ctx)?;
    if enosys::wanted(default) {
        let mut archs = vec![ScmpArch::native()];
        archs.extend(profile.architectures().iter().flatten().map(|a| scmp_arch(*a)));
        let names = profile.syscalls().iter().flatten().flat_map(|r| r.names()).map(String::as_str);
        let mut prologue = enosys::prologue(&archs, names);
        prologue.append(&mut program);
        program = prologue;
    }
    Ok(program)
}

/// The kernel flags for the profile's `flags`, checked against the running kernel.
fn filter_flags(requested: &[LinuxSeccompFilterFlag], notifies: bool) -> Result<u64, SeccompError> {
    let listener = if notifies { libc::SECCOMP_FILTER_FLAG_NEW_LISTENER } else { 0 };
    let mut flags = listener;
    for flag in requested {
        let (_, name, bit) =
            FLAGS.iter().find(|(f, _, _)| f == flag).expect("FLAGS covers every flag");
        // Waiting killably concerns only a listener; the kernel refuses it without one.
        if *bit == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV && !notifies {
            continue;
        }
        if !flag_supported(*bit) {
            return Err(SeccompError::UnsupportedFlag(name));
        }
        flags |= bit;
    }
    // TSYNC with a listener needs TSYNC_ESRCH (the init is single-threaded: nothing to sync).
    if flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 && notifies {
        flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
    }
    Ok(flags)
}

/// Whether the running kernel accepts filter flag `bit` (with the listener it needs).
pub fn flag_supported(bit: u64) -> bool {
    let probe = if bit == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
        bit | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
    } else {
        bit
    };
    crate::sys::seccomp::flag_supported(probe)
}

/// The version of the libseccomp berth is linked with (`2.5.4`), if it says.
pub fn library_version() -> Option<String> {
    let v = libseccomp::ScmpVersion::current().ok()?;
    Some(format!("{}.{}.{}", v.major, v.minor, v.micro))
}

/// Whether the linked libseccomp knows the syscall `name` (unknown ones are skipped).
pub fn syscall_known(name: &str) -> bool {
    ScmpSyscall::from_name(name).is_ok()
}

/// Whether a profile naming `arch` can be compiled here (see [`known_archs`]).
pub fn arch_usable(arch: Arch) -> bool {
    arch == Arch::ScmpArchNative
        || ScmpFilterContext::new(ScmpAction::Allow)
            .is_ok_and(|mut ctx| ctx.add_arch(scmp_arch(arch)).is_ok())
}

/// The architectures a profile can name on this build: the linked libseccomp knows them
/// and they share the native architecture's byte order (a filter cannot mix byte orders,
/// and the native one is always in it).
pub fn known_archs() -> Vec<Arch> {
    let adds = |scmp: ScmpArch| {
        ScmpFilterContext::new(ScmpAction::Allow).is_ok_and(|mut ctx| ctx.add_arch(scmp).is_ok())
    };
    ARCHS
        .iter()
        .filter(|(arch, scmp)| *arch != Arch::ScmpArchNative && adds(*scmp))
        .map(|(arch, _)| *arch)
        .collect()
}

/// The program libseccomp generated, read back through a memfd.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let memfd = crate::sys::seccomp::memfd(c"berth-seccomp")?;
    ctx.export_bpf(&memfd).map_err(|source| SeccompError::Libseccomp {
        path: "linux.seccomp".into(),
        what: "exporting the program".into(),
        source,
    })?;
    let mut file = std::fs::File::from(memfd);
    let mut bytes = Vec::new();
    file.rewind().and_then(|_| file.read_to_end(&mut bytes)).map_err(SeccompError::Export)?;
    Ok(decode(&bytes))
}

/// Classic-BPF instructions from their in-memory bytes.
fn decode(bytes: &[u8]) -> Vec<libc::sock_filter> {
    bytes
        .chunks_exact(INSN)
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect()
}

/// libseccomp's action for a spec action; ERRNO and TRACE carry `errno_ret` (EPERM if none).
fn action(action: LinuxSeccompAction, errno_ret: Option<u32>) -> ScmpAction {
    let ret = errno_ret.unwrap_or(DEFAULT_ERRNO);
    match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        // Validation keeps errnoRet within 16 bits.
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(ret as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret as u16),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    }
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    ARCHS.iter().find(|(a, _)| *a == arch).map(|(_, s)| *s).expect("ARCHS covers every arch")
}

/// One argument condition. For MASKED_EQ `value` is the mask and `valueTwo` the datum.
fn condition(arg: &oci_spec::runtime::LinuxSeccompArg) -> ScmpArgCompare {
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return ScmpArgCompare::new(
                arg.index() as u32,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            )
        }
    };
    // Validation keeps the index below 6.
    ScmpArgCompare::new(arg.index() as u32, op, arg.value())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn compiles_every_action_and_operator() {
        let mut rules: Vec<serde_json::Value> = ACTIONS
            .iter()
            .filter(|a| **a != LinuxSeccompAction::ScmpActAllow)
            .zip(["getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "gettid", "sync"])
            .map(|(a, name)| serde_json::json!({ "names": [name], "action": a }))
            .collect();
        for (i, op) in OPERATORS.iter().enumerate() {
            rules.push(serde_json::json!({
                "names": ["personality"], "action": "SCMP_ACT_ERRNO",
                "args": [{ "index": i % 6, "value": 7, "valueTwo": 3, "op": op }]
            }));
        }
        rules.push(serde_json::json!({ "names": ["no_such_syscall_anywhere"], "action": "SCMP_ACT_ERRNO" }));
        let filter = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "listenerPath": "/run/agent.sock",
            "syscalls": rules
        })))
        .unwrap();
        assert!(filter.notifies());
        assert!(filter.program.len() > 20);
        assert_eq!(filter.listener_path(), Some(Path::new("/run/agent.sock")));
    }

    #[test]
    fn no_listener_without_notify() {
        let filter = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "listenerPath": "/run/agent.sock",
            "syscalls": [{ "names": ["read"], "action": "SCMP_ACT_ALLOW" },
                         { "names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }]
        })))
        .unwrap();
        assert!(!filter.notifies());
        assert_eq!(filter.flags, libc::SECCOMP_FILTER_FLAG_LOG);
        assert_eq!(filter.listener_path(), None);
    }

    #[test]
    fn the_cache_returns_the_same_program_and_only_for_the_same_profile() {
        let base = std::env::temp_dir().join(format!("berth-seccomp-cache-{}", std::process::id()));
        // A state root that does not exist yet: the cache makes it, private as the store would.
        let dir = base.join("root").join(CACHE_DIR);
        let a = profile(serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }] }));
        let b = profile(serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["rmdir"], "action": "SCMP_ACT_ERRNO" }] }));
        let fresh = compile(&a).unwrap().program;
        let first = compile_cached(&a, &dir).unwrap().program;
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1);
        for made in [base.join("root"), dir.clone()] {
            let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&made).unwrap());
            assert_eq!(mode & 0o777, 0o700, "{}", made.display());
        }
        let second = compile_cached(&a, &dir).unwrap().program;
        let words = |p: &[libc::sock_filter]| -> Vec<(u16, u8, u8, u32)> {
            p.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
        };
        assert_eq!(words(&first), words(&fresh));
        assert_eq!(words(&second), words(&fresh));
        // A file whose key differs (a hash collision, or tampering) is not used.
        let path = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
        let key_b = cache_key(&b);
        write_cached(&dir, &path, &key_b, &first).unwrap();
        assert!(read_cached(&path, &cache_key(&a)).is_none());
        assert_eq!(
            words(&compile_cached(&b, &dir).unwrap().program),
            words(&compile(&b).unwrap().program)
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn listed_archs_are_accepted() {
        let archs = known_archs();
        assert!(archs.contains(&Arch::ScmpArchX86_64) || archs.contains(&Arch::ScmpArchAarch64));
        for arch in archs {
            let json =
                serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch] });
            compile(&profile(json)).unwrap_or_else(|e| panic!("{arch}: {e}"));
        }
    }
}
