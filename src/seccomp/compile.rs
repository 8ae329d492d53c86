//! Compiling a profile: libseccomp builds the program from `linux.seccomp`, berth reads it
//! back (with the ENOSYS prologue in front) and checks it against the kernel's limits.

use std::io::{Read, Seek};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use super::arch::scmp_arch;
use super::features::FLAGS;
use super::{enosys, flag_supported, Filter, SeccompError};

/// The errno of ERRNO and the message of TRACE when the profile gives none (runc's choice).
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// The kernel's limit on a classic-BPF program (BPF_MAXINSNS).
pub(super) const MAX_INSTRUCTIONS: usize = 4096;

pub(super) const INSN: usize = std::mem::size_of::<libc::sock_filter>();

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

/// The program and flags for `profile`, checked against the kernel's limits.
pub(super) fn finish(
    profile: &LinuxSeccomp,
    program: Vec<libc::sock_filter>,
) -> Result<Filter, SeccompError> {
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
pub(super) fn program(profile: &LinuxSeccomp) -> Result<Vec<libc::sock_filter>, SeccompError> {
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

/// The program libseccomp generated, read back through a memfd.
pub(super) fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
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
pub(super) fn decode(bytes: &[u8]) -> Vec<libc::sock_filter> {
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
    use std::path::Path;

    use super::super::features::{ACTIONS, OPERATORS};
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
}
