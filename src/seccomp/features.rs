//! What berth's seccomp support covers: the actions, operators and filter flags it applies
//! (`berth features`, validation), and what the running kernel and linked libseccomp know.

use libseccomp::ScmpSyscall;
use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

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
