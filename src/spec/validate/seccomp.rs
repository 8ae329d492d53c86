//! `linux.seccomp`: actions, errno values, argument indexes, the listener.

use oci_spec::runtime::*;

use super::Problems;

/// Actions that take an errno (ERRNO) or a message for the tracer (TRACE).
pub(super) fn takes_errno(action: LinuxSeccompAction) -> bool {
    matches!(action, LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace)
}

/// The syscalls the init makes between installing a notifying filter and handing its
/// listener on; a notification there would wait for an agent that has no listener yet.
pub(super) const INIT_SYSCALLS_BEFORE_LISTENER: &[&str] = &["sendmsg"];

pub(super) fn check_seccomp(spec: &Spec, p: &mut Problems) {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else { return };
    let errno_fits = |path: String, action, ret: Option<u32>, p: &mut Problems| match ret {
        Some(_) if !takes_errno(action) => p.push(path, format!("{action} does not take an errno")),
        Some(ret) if ret > u32::from(u16::MAX) => {
            p.push(path, format!("{ret} is larger than 65535"))
        }
        _ => {}
    };
    let default = seccomp.default_action();
    errno_fits("linux.seccomp.defaultErrnoRet".into(), default, seccomp.default_errno_ret(), p);
    if default == LinuxSeccompAction::ScmpActNotify {
        p.push(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY as the default would stop the init before it can pass the listener on",
        );
    }
    let mut notifies = false;
    for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
        let path = format!("linux.seccomp.syscalls[{i}]");
        errno_fits(format!("{path}.errnoRet"), rule.action(), rule.errno_ret(), p);
        if rule.names().is_empty() || rule.names().iter().any(String::is_empty) {
            p.push(format!("{path}.names"), "must list syscall names, none empty");
        }
        for (j, arg) in rule.args().iter().flatten().enumerate() {
            if arg.index() >= 6 {
                p.push(
                    format!("{path}.args[{j}].index"),
                    format!("{} is not below 6", arg.index()),
                );
            }
        }
        if rule.action() == LinuxSeccompAction::ScmpActNotify {
            notifies = true;
            if let Some(name) =
                rule.names().iter().find(|n| INIT_SYSCALLS_BEFORE_LISTENER.contains(&n.as_str()))
            {
                p.push(
                    format!("{path}.names"),
                    format!("SCMP_ACT_NOTIFY on {name} would stop the init before it can pass the listener on"),
                );
            }
        }
    }
    match seccomp.listener_path() {
        None if notifies => {
            p.push("linux.seccomp.listenerPath", "required when an action is SCMP_ACT_NOTIFY")
        }
        Some(path) if notifies && !path.is_absolute() => {
            p.push("linux.seccomp.listenerPath", format!("{path:?} must be an absolute path"))
        }
        _ => {}
    }
}
