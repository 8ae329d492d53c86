//! The checks of a config against this host: what the kernel, the cgroup mounts, libseccomp
//! and the LSMs offer, and the files the config names. `create` stops at the first problem,
//! `berth check` prints them all; both call [`problems`], so they say the same thing.
//!
//! Unlike validate.rs these read the system (a few stats and small /proc and /sys files, and
//! only for what the config asks for), but they never change it.

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, Spec};

use super::SpecError;

/// The filesystem of namespace files (`NSFS_MAGIC` of linux/magic.h).
const NSFS_MAGIC: nix::sys::statfs::FsType = nix::sys::statfs::FsType(0x6e73_6673);

/// NS_GET_NSTYPE, `_IO(0xb7, 0x3)`: the CLONE_NEW* type of a namespace file.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

fn problem(path: impl Into<String>, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid { path: path.into(), reason: reason.into() }
}

type HostCheck = fn(&Spec, &mut Vec<SpecError>);

/// Every host check but the bundle's own files, in config order.
const HOST_CHECKS: &[HostCheck] = &[
    check_lsms,
    check_hook_programs,
    check_namespace_kinds,
    check_namespace_paths,
    check_idmapped_mounts,
    check_seccomp_architectures,
    check_cgroup_controllers,
    check_subordinate_ids,
];

/// Every problem of `spec` (of the bundle `bundle`) on this host; empty when the host offers
/// what it asks for.
pub(super) fn problems(spec: &Spec, bundle: &Path) -> Vec<SpecError> {
    let mut found = Vec::new();
    check_bind_sources(spec, bundle, &mut found);
    for check in HOST_CHECKS {
        check(spec, &mut found);
    }
    found
}

/// What works but may not do what the author meant: syscall names this libseccomp does not
/// know (skipped, as runc skips them), and poststart/poststop programs that will fail.
pub(super) fn warnings(spec: &Spec) -> Vec<SpecError> {
    let mut found = Vec::new();
    warn_hook_programs(spec, &mut found);
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return found;
    };
    for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
        for (j, name) in rule.names().iter().enumerate() {
            if !crate::seccomp::syscall_known(name) {
                found.push(problem(
                    format!("linux.seccomp.syscalls[{i}].names[{j}]"),
                    format!("{name:?} is not a syscall libseccomp knows; the rule skips it"),
                ));
            }
        }
    }
    found
}

fn namespace_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

fn namespace_flag(typ: LinuxNamespaceType) -> libc::c_int {
    match typ {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// A kernel built without a namespace type has no /proc/self/ns entry for it.
fn check_namespace_kinds(spec: &Spec, found: &mut Vec<SpecError>) {
    let Some(namespaces) = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()) else {
        return;
    };
    // One getdents: a lookup per namespace costs more (measured on this host).
    let kernel_has: BTreeSet<String> = std::fs::read_dir("/proc/self/ns")
        .map(|dir| dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    for (i, ns) in namespaces.iter().enumerate() {
        let name = namespace_name(ns.typ());
        if !kernel_has.contains(name) {
            found.push(problem(
                format!("linux.namespaces[{i}].type"),
                format!("this kernel has no {} namespace (no /proc/self/ns/{name})", ns.typ()),
            ));
        }
    }
}

/// A namespace joined by path must be a namespace file of the listed type: anything else
/// only fails deep inside the clone, at setns.
fn check_namespace_paths(spec: &Spec, found: &mut Vec<SpecError>) {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for (i, ns) in namespaces.into_iter().flatten().enumerate() {
        let Some(path) = ns.path().as_ref().filter(|p| p.is_absolute()) else { continue };
        let at = format!("linux.namespaces[{i}].path");
        // statfs first: opening a FIFO or a device the config names could block or act.
        match nix::sys::statfs::statfs(path) {
            Err(e) => {
                found.push(problem(at, format!("{}: {e}", path.display())));
                continue;
            }
            Ok(fs) if fs.filesystem_type() != NSFS_MAGIC => {
                found.push(problem(at, format!("{} is not a namespace file", path.display())));
                continue;
            }
            Ok(_) => {}
        }
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) => {
                found.push(problem(at, format!("{}: {e}", path.display())));
                continue;
            }
        };
        // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor.
        let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE) };
        if kind < 0 {
            found.push(problem(at, format!("{} is not a namespace file", path.display())));
        } else if kind != namespace_flag(ns.typ()) {
            let reason = format!("{} is not a {} namespace", path.display(), ns.typ());
            found.push(problem(at, reason));
        }
    }
}

/// A bind mount of a source that does not exist fails inside the clone; name it here.
fn check_bind_sources(spec: &Spec, bundle: &Path, found: &mut Vec<SpecError>) {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let binds = m.typ().as_deref() == Some("bind")
            || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind");
        let Some(source) = m.source().as_ref().filter(|_| binds) else { continue };
        // Relative sources are the bundle's, as the mount code reads them.
        let path = bundle.join(source);
        // A source inside the rootfs may be made by an earlier mount (a bind of a directory
        // of a tmpfs mounted before it); only the mount itself can tell.
        let rootfs = spec.root().as_ref().map(|r| bundle.join(r.path()));
        if rootfs.is_some_and(|r| path.starts_with(r)) {
            continue;
        }
        if let Err(e) = std::fs::metadata(&path) {
            found.push(problem(format!("mounts[{i}].source"), format!("{}: {e}", path.display())));
        }
    }
}

/// A label for an LSM the kernel does not run would silently not apply. The same detection
/// as the init's (crate::lsm), so `check` and `create` say the same thing.
fn check_lsms(spec: &Spec, found: &mut Vec<SpecError>) {
    let process = spec.process().as_ref();
    let linux = spec.linux().as_ref();
    let requests = [
        ("process.apparmorProfile", "AppArmor", process.and_then(|p| p.apparmor_profile().clone())),
        ("process.selinuxLabel", "SELinux", process.and_then(|p| p.selinux_label().clone())),
        ("linux.mountLabel", "SELinux", linux.and_then(|l| l.mount_label().clone())),
    ];
    for (at, lsm, label) in requests {
        if label.is_none_or(|l| l.is_empty()) {
            continue;
        }
        let enabled = match lsm {
            "AppArmor" => crate::lsm::apparmor_enabled(),
            _ => crate::lsm::selinux_enabled(),
        };
        if !enabled {
            found.push(problem(at, format!("{lsm} is not enabled on this host")));
        }
    }
}

/// Hooks that abort create when they fail (prestart, createRuntime, createContainer, which
/// berth runs before pivot_root) must name an executable file on the host.
fn check_hook_programs(spec: &Spec, found: &mut Vec<SpecError>) {
    let Some(hooks) = spec.hooks() else { return };
    #[allow(deprecated)]
    let lists = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
    ];
    hook_program_problems(&lists, found);
}

/// A failing poststart or poststop hook only earns a warning (runtime spec), so a missing
/// program there is a warning too.
fn warn_hook_programs(spec: &Spec, found: &mut Vec<SpecError>) {
    let Some(hooks) = spec.hooks() else { return };
    let lists = [("poststart", hooks.poststart()), ("poststop", hooks.poststop())];
    hook_program_problems(&lists, found);
}

type HookList<'a> = (&'a str, &'a Option<Vec<oci_spec::runtime::Hook>>);

fn hook_program_problems(lists: &[HookList], found: &mut Vec<SpecError>) {
    for (name, list) in lists {
        for (i, hook) in list.iter().flatten().enumerate() {
            let path = hook.path();
            if !path.is_absolute() {
                continue; // validate.rs names that one
            }
            let reason = match std::fs::metadata(path) {
                Err(e) => format!("{}: {e}", path.display()),
                Ok(m) if !m.is_file() => format!("{} is not a file", path.display()),
                Ok(m) if m.permissions().mode() & 0o111 == 0 => {
                    format!("{} is not executable", path.display())
                }
                Ok(_) => continue,
            };
            found.push(problem(format!("hooks.{name}[{i}].path"), reason));
        }
    }
}

/// Id-mapped mounts need mount_setattr(2) (Linux 5.12).
fn check_idmapped_mounts(spec: &Spec, found: &mut Vec<SpecError>) {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if m.uid_mappings().is_none() && m.gid_mappings().is_none() {
            continue;
        }
        if !crate::sys::mount::mount_setattr_available() {
            found.push(problem(
                format!("mounts[{i}]"),
                "id-mapped mounts need mount_setattr(2), which this kernel lacks (Linux 5.12+)",
            ));
        }
    }
}

fn check_seccomp_architectures(spec: &Spec, found: &mut Vec<SpecError>) {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else { return };
    for (i, arch) in seccomp.architectures().iter().flatten().enumerate() {
        if !crate::seccomp::arch_usable(*arch) {
            found.push(problem(
                format!("linux.seccomp.architectures[{i}]"),
                format!("{arch:?} is not an architecture this libseccomp and host can filter"),
            ));
        }
    }
}

/// The controllers each field of `linux.resources` needs, with its config path.
fn wanted_controllers(r: &LinuxResources, v2: bool) -> Vec<(&'static str, &'static str)> {
    let mut wanted = Vec::new();
    let mut want = |set: bool, at, controller| {
        if set {
            wanted.push((at, controller));
        }
    };
    want(r.memory().is_some(), "linux.resources.memory", "memory");
    let cpu = r.cpu().as_ref();
    let cpu_time = cpu.is_some_and(|c| {
        c.shares().is_some() || c.quota().is_some() || c.period().is_some() || c.idle().is_some()
    });
    want(cpu_time, "linux.resources.cpu", "cpu");
    let cpuset = cpu.is_some_and(|c| c.cpus().is_some() || c.mems().is_some());
    want(cpuset, "linux.resources.cpu", "cpuset");
    want(r.pids().is_some(), "linux.resources.pids", "pids");
    want(r.block_io().is_some(), "linux.resources.blockIO", if v2 { "io" } else { "blkio" });
    let rdma = r.rdma().as_ref().is_some_and(|h| !h.is_empty());
    want(rdma, "linux.resources.rdma", "rdma");
    wanted
}

/// Resources for a controller the host does not offer cannot be applied.
fn check_cgroup_controllers(spec: &Spec, found: &mut Vec<SpecError>) {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else { return };
    let v2 = crate::cgroups::is_unified();
    let wanted = wanted_controllers(r, v2);
    let hugepages = r.hugepage_limits().as_deref().unwrap_or_default();
    if wanted.is_empty() && hugepages.is_empty() {
        return;
    }
    let available = available_controllers(v2);
    let version = if v2 { "cgroup v2" } else { "cgroup v1" };
    let lacks =
        |controller| format!("the {controller} controller, which this host's {version} lacks");
    let mut named = BTreeSet::new();
    for (at, controller) in wanted {
        if !available.contains(controller) && named.insert((at, controller)) {
            found.push(problem(at, format!("needs {}", lacks(controller))));
        }
    }
    if available.contains("hugetlb") {
        return;
    }
    for (i, limit) in hugepages.iter().enumerate() {
        let suffix = if v2 { "max" } else { "limit_in_bytes" };
        let file = format!("hugetlb.{}.{suffix}", limit.page_size());
        found.push(problem(
            format!("linux.resources.hugepageLimits[{i}]"),
            format!("{file} needs {}", lacks("hugetlb")),
        ));
    }
}

/// The controllers of the host: cgroup.controllers of the v2 root, or the v1 controllers
/// /proc/cgroups lists as enabled and mounted (hierarchy id not 0); one small file either way.
fn available_controllers(v2: bool) -> BTreeSet<String> {
    if v2 {
        let list = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
        return list.split_whitespace().map(str::to_owned).collect();
    }
    let table = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [name, hierarchy, _, "1"] if hierarchy != "0" => Some(name.to_owned()),
            _ => None,
        })
        .collect()
}

/// An unprivileged caller's maps of more than its own ids: within its ranges in /etc/subuid
/// and /etc/subgid (as `create` checks before making anything).
fn check_subordinate_ids(spec: &Spec, found: &mut Vec<SpecError>) {
    let Some(linux) = spec.linux().as_ref() else { return };
    let new_user_ns = linux.namespaces().iter().flatten().any(|ns| {
        ns.typ() == LinuxNamespaceType::User
            && ns.path().as_deref().is_none_or(|p| p.as_os_str().is_empty())
    });
    let maps = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<super::IdMap> {
        m.iter()
            .flatten()
            .map(|m| super::IdMap {
                container_id: m.container_id(),
                host_id: m.host_id(),
                size: m.size(),
            })
            .collect()
    };
    let (uids, gids) = (maps(linux.uid_mappings()), maps(linux.gid_mappings()));
    found.extend(crate::subid::check_maps(new_user_ns, &uids, &gids).err());
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn host_paths(v: serde_json::Value) -> Vec<String> {
        let spec = serde_json::from_value(v).unwrap();
        super::problems(&spec, std::path::Path::new("/nonexistent-bundle"))
            .into_iter()
            .map(|e| match e {
                crate::spec::SpecError::Invalid { path, .. } => path,
                other => other.to_string(),
            })
            .collect()
    }

    #[test]
    fn namespace_paths_must_be_namespaces_of_their_type() {
        let v = json!({ "ociVersion": "1.2.0", "linux": { "namespaces": [
            { "type": "pid", "path": "/proc/self/ns/pid" },
            { "type": "network", "path": "/proc/self/ns/uts" },
            { "type": "ipc", "path": "/etc/hostname" },
            { "type": "uts", "path": "/nonexistent/ns" },
            { "type": "mount" }
        ] } });
        assert_eq!(
            host_paths(v),
            ["linux.namespaces[1].path", "linux.namespaces[2].path", "linux.namespaces[3].path"]
        );
    }

    #[test]
    fn hook_programs_must_exist_and_be_executable() {
        let dir = crate::state::tempdir::TempDir::new("hooks");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        let v = json!({ "ociVersion": "1.2.0", "hooks": {
            "prestart": [{ "path": "/bin/true" }, { "path": plain }],
            "createContainer": [{ "path": "/nonexistent/hook" }],
            "poststop": [{ "path": "/nonexistent/hook" }]
        } });
        let spec = serde_json::from_value(v.clone()).unwrap();
        let warned: Vec<String> = super::warnings(&spec).iter().map(|e| e.to_string()).collect();
        assert!(warned.len() == 1 && warned[0].starts_with("hooks.poststop[0].path"), "{warned:?}");
        assert_eq!(host_paths(v), ["hooks.prestart[1].path", "hooks.createContainer[0].path"]);
    }

    #[test]
    fn unknown_syscall_names_are_warnings_only() {
        let v = json!({ "ociVersion": "1.2.0", "linux": { "seccomp": {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["getpid", "no_such_syscall"], "action": "SCMP_ACT_ERRNO" }]
        } } });
        let spec = serde_json::from_value(v.clone()).unwrap();
        let warned: Vec<String> = super::warnings(&spec).iter().map(|e| e.to_string()).collect();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].starts_with("linux.seccomp.syscalls[0].names[1]: "), "{warned:?}");
        assert!(host_paths(v).is_empty());
    }
}
