//! Host support: the checks of a config against this host — what the kernel, the cgroup
//! mounts, libseccomp, the LSMs, the network and resctrl offer, and the files the config
//! names. `create` stops at the first problem, `berth check` prints them all.
//!
//! What the host offers comes in through [`HostFacts`] (berth's is `crate::host::Probe`;
//! the unit tests pass a fake), so spec imports none of the modules that apply a field. The
//! files the config names (bind sources, hook programs, namespace files) are looked at
//! directly. Nothing here changes the system.

use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use oci_spec::runtime::{Arch, LinuxNamespaceType, LinuxResources, Spec};

use super::{invalid as problem, namespaces::namespace_kind};
use crate::spec::{IdMap, SpecError};

/// What this host offers, as far as a config can ask for it. Every method is asked only when
/// the config needs its answer.
pub trait HostFacts {
    /// The names under /proc/self/ns: the namespace types this kernel has.
    fn namespace_names(&self) -> BTreeSet<String>;
    /// Whether AppArmor runs.
    fn apparmor_enabled(&self) -> bool;
    /// Whether SELinux runs.
    fn selinux_enabled(&self) -> bool;
    /// Whether the kernel has mount_setattr(2), which id-mapped mounts need.
    fn mount_setattr(&self) -> bool;
    /// Whether this libseccomp and host can filter for `arch`.
    fn seccomp_arch_usable(&self, arch: Arch) -> bool;
    /// Whether libseccomp knows the syscall `name`.
    fn syscall_known(&self, name: &str) -> bool;
    /// Whether the host's cgroups are v2 (unified).
    fn cgroup_v2(&self) -> bool;
    /// The cgroup controllers the host offers (`v2` as [`HostFacts::cgroup_v2`] said).
    fn cgroup_controllers(&self, v2: bool) -> BTreeSet<String>;
    /// Whether the runtime's network namespace has an interface `name`.
    fn net_device_exists(&self, name: &str) -> bool;
    /// Whether resctrl is mounted, for `linux.intelRdt`.
    fn resctrl_mounted(&self) -> bool;
    /// Whether the caller may map these ids in a new user namespace (`new_user_ns`): an
    /// unprivileged caller only its own ids and its /etc/subuid and /etc/subgid ranges.
    fn subordinate_ids(
        &self,
        new_user_ns: bool,
        uids: &[IdMap],
        gids: &[IdMap],
    ) -> Result<(), SpecError>;
}

/// What the config is checked for: a new container takes things from the host that an
/// `exec` into a running one finds already taken (its network devices have moved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `create`, `run` and `check`: every host check.
    Create,
    /// `exec`: the container exists; what create moved into it is no longer on the host.
    Exec,
}

/// Where the kernel's resctrl filesystem is mounted, for `linux.intelRdt`.
pub const RESCTRL: &str = "/sys/fs/resctrl";

/// A check of the config against the host.
type HostCheck = fn(&Spec, &dyn HostFacts, &mut Vec<SpecError>);

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
    check_intel_rdt,
];

/// The checks of what `create` takes from the host (not run for `exec`).
const CREATE_CHECKS: &[HostCheck] = &[check_net_devices];

/// Every problem of `spec` (of the bundle `bundle`) on `host` for `scope`; empty when the
/// host offers what it asks for.
pub(super) fn problems(
    spec: &Spec,
    bundle: &Path,
    host: &dyn HostFacts,
    scope: Scope,
) -> Vec<SpecError> {
    let mut found = Vec::new();
    check_bind_sources(spec, bundle, &mut found);
    let create_only = if scope == Scope::Create { CREATE_CHECKS } else { &[] };
    for check in HOST_CHECKS.iter().chain(create_only) {
        check(spec, host, &mut found);
    }
    found
}

/// The host problems of a lone process (its LSM labels), for `exec`.
pub(super) fn process_problems(spec: &Spec, host: &dyn HostFacts) -> Vec<SpecError> {
    let mut found = Vec::new();
    check_lsms(spec, host, &mut found);
    found
}

/// What works but may not do what the author meant: syscall names this libseccomp does not
/// know (skipped, as runc skips them), and poststart/poststop programs that will fail.
pub(super) fn warnings(spec: &Spec, host: &dyn HostFacts) -> Vec<SpecError> {
    let mut found = Vec::new();
    warn_hook_programs(spec, &mut found);
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return found;
    };
    for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
        for (j, name) in rule.names().iter().enumerate() {
            if !host.syscall_known(name) {
                found.push(problem(
                    format!("linux.seccomp.syscalls[{i}].names[{j}]"),
                    format!("{name:?} is not a syscall libseccomp knows; the rule skips it"),
                ));
            }
        }
    }
    found
}

/// A kernel built without a namespace type has no /proc/self/ns entry for it.
fn check_namespace_kinds(spec: &Spec, host: &dyn HostFacts, found: &mut Vec<SpecError>) {
    let Some(namespaces) = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()) else {
        return;
    };
    let kernel_has = host.namespace_names();
    for (i, ns) in namespaces.iter().enumerate() {
        let name = namespace_kind(ns.typ()).proc_name();
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
fn check_namespace_paths(spec: &Spec, _: &dyn HostFacts, found: &mut Vec<SpecError>) {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for (i, ns) in namespaces.into_iter().flatten().enumerate() {
        let Some(path) = ns.path().as_ref().filter(|p| p.is_absolute()) else { continue };
        if let Some(reason) = namespace_path_problem(path, ns.typ()) {
            found.push(problem(format!("linux.namespaces[{i}].path"), reason));
        }
    }
}

/// Why `path` is not a namespace file of type `typ`; None when it is one.
fn namespace_path_problem(path: &Path, typ: LinuxNamespaceType) -> Option<String> {
    let not_one = || format!("{} is not a namespace file", path.display());
    // statfs first: opening a FIFO or a device the config names could block or act.
    match crate::sys::nsfs::is_nsfs(path) {
        Err(e) => return Some(format!("{}: {e}", path.display())),
        Ok(false) => return Some(not_one()),
        Ok(true) => {}
    }
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    match crate::sys::nsfs::namespace_type(file.as_fd()) {
        Err(_) => Some(not_one()),
        Ok(kind) if kind != namespace_kind(typ).clone_flag() => {
            Some(format!("{} is not a {typ} namespace", path.display()))
        }
        Ok(_) => None,
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

/// A label for an LSM the kernel does not run would silently not apply.
fn check_lsms(spec: &Spec, host: &dyn HostFacts, found: &mut Vec<SpecError>) {
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
            "AppArmor" => host.apparmor_enabled(),
            _ => host.selinux_enabled(),
        };
        if !enabled {
            found.push(problem(at, format!("{lsm} is not enabled on this host")));
        }
    }
}

/// Hooks that abort create when they fail (prestart, createRuntime, createContainer, which
/// berth runs before pivot_root) must name an executable file on the host.
fn check_hook_programs(spec: &Spec, _: &dyn HostFacts, found: &mut Vec<SpecError>) {
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
                continue; // hooks.rs names that one
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
fn check_idmapped_mounts(spec: &Spec, host: &dyn HostFacts, found: &mut Vec<SpecError>) {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if m.uid_mappings().is_none() && m.gid_mappings().is_none() {
            continue;
        }
        if !host.mount_setattr() {
            found.push(problem(
                format!("mounts[{i}]"),
                "id-mapped mounts need mount_setattr(2), which this kernel lacks (Linux 5.12+)",
            ));
        }
    }
}

fn check_seccomp_architectures(spec: &Spec, host: &dyn HostFacts, found: &mut Vec<SpecError>) {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else { return };
    for (i, arch) in seccomp.architectures().iter().flatten().enumerate() {
        if !host.seccomp_arch_usable(*arch) {
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
fn check_cgroup_controllers(spec: &Spec, host: &dyn HostFacts, found: &mut Vec<SpecError>) {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else { return };
    let hugepages = r.hugepage_limits().as_deref().unwrap_or_default();
    let no_controller = wanted_controllers(r, false).is_empty() && hugepages.is_empty();
    if no_controller {
        return;
    }
    let v2 = host.cgroup_v2();
    let wanted = wanted_controllers(r, v2);
    let available = host.cgroup_controllers(v2);
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

/// An unprivileged caller's maps of more than its own ids: within its ranges in /etc/subuid
/// and /etc/subgid (as `create` checks before making anything).
fn check_subordinate_ids(spec: &Spec, host: &dyn HostFacts, found: &mut Vec<SpecError>) {
    let Some(linux) = spec.linux().as_ref() else { return };
    let new_user_ns = linux.namespaces().iter().flatten().any(|ns| {
        ns.typ() == LinuxNamespaceType::User
            && ns.path().as_deref().is_none_or(|p| p.as_os_str().is_empty())
    });
    let maps = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<IdMap> {
        m.iter()
            .flatten()
            .map(|m| IdMap { container_id: m.container_id(), host_id: m.host_id(), size: m.size() })
            .collect()
    };
    let (uids, gids) = (maps(linux.uid_mappings()), maps(linux.gid_mappings()));
    found.extend(host.subordinate_ids(new_user_ns, &uids, &gids).err());
}

/// `linux.intelRdt` needs resctrl mounted.
fn check_intel_rdt(spec: &Spec, host: &dyn HostFacts, found: &mut Vec<SpecError>) {
    let asked = spec.linux().as_ref().is_some_and(|l| l.intel_rdt().is_some());
    if asked && !host.resctrl_mounted() {
        found.push(problem(
            "linux.intelRdt",
            format!(
                "resctrl is not mounted at {} (no Intel RDT or AMD QoS on this host, or not \
                 mounted)",
                RESCTRL
            ),
        ));
    }
}

/// Every `linux.netDevices` entry must name an interface of the runtime's network namespace.
fn check_net_devices(spec: &Spec, host: &dyn HostFacts, found: &mut Vec<SpecError>) {
    let devices = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref());
    let mut names: Vec<&String> = devices.into_iter().flat_map(|d| d.keys()).collect();
    // In the order create moves them (sorted by host name).
    names.sort();
    for name in names {
        if !host.net_device_exists(name) {
            found.push(problem(
                format!("linux.netDevices.{name}"),
                "no such network interface on the host",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A host that offers what its fields say and nothing else.
    #[derive(Default)]
    struct Fake {
        namespaces: &'static [&'static str],
        apparmor: bool,
        controllers: &'static [&'static str],
        net_devices: &'static [&'static str],
        resctrl: bool,
    }

    impl HostFacts for Fake {
        fn namespace_names(&self) -> BTreeSet<String> {
            self.namespaces.iter().map(|n| n.to_string()).collect()
        }
        fn apparmor_enabled(&self) -> bool {
            self.apparmor
        }
        fn selinux_enabled(&self) -> bool {
            false
        }
        fn mount_setattr(&self) -> bool {
            true
        }
        fn seccomp_arch_usable(&self, arch: Arch) -> bool {
            arch == Arch::ScmpArchX86_64
        }
        fn syscall_known(&self, name: &str) -> bool {
            name == "getpid"
        }
        fn cgroup_v2(&self) -> bool {
            true
        }
        fn cgroup_controllers(&self, _: bool) -> BTreeSet<String> {
            self.controllers.iter().map(|c| c.to_string()).collect()
        }
        fn net_device_exists(&self, name: &str) -> bool {
            self.net_devices.contains(&name)
        }
        fn resctrl_mounted(&self) -> bool {
            self.resctrl
        }
        fn subordinate_ids(&self, _: bool, _: &[IdMap], _: &[IdMap]) -> Result<(), SpecError> {
            Ok(())
        }
    }

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    /// The config paths of the host problems of `v` on `host`, for `scope`.
    fn paths(v: serde_json::Value, host: &Fake, scope: Scope) -> Vec<String> {
        problems(&spec(v), Path::new("/nonexistent-bundle"), host, scope)
            .into_iter()
            .map(|e| match e {
                SpecError::Invalid { path, .. } => path,
                other => other.to_string(),
            })
            .collect()
    }

    fn messages(v: serde_json::Value, host: &Fake) -> Vec<String> {
        let found = problems(&spec(v), Path::new("/nonexistent-bundle"), host, Scope::Create);
        found.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn missing_net_devices_and_resctrl_are_named_as_create_names_them() {
        let v = json!({ "ociVersion": "1.2.0", "linux": {
            "netDevices": { "eth9": {}, "dummy0": { "name": "ctr0" } },
            "intelRdt": { "closID": "g" }
        } });
        let host = Fake { net_devices: &["dummy0"], ..Fake::default() };
        assert_eq!(
            messages(v.clone(), &host),
            [
                "linux.intelRdt: resctrl is not mounted at /sys/fs/resctrl (no Intel RDT or AMD \
                 QoS on this host, or not mounted)",
                "linux.netDevices.eth9: no such network interface on the host",
            ]
        );
        let host = Fake { net_devices: &["dummy0", "eth9"], resctrl: true, ..Fake::default() };
        assert!(paths(v, &host, Scope::Create).is_empty());
    }

    #[test]
    fn exec_does_not_look_for_net_devices_create_moved() {
        let v = json!({ "ociVersion": "1.2.0", "linux": { "netDevices": { "eth9": {} } } });
        assert!(paths(v.clone(), &Fake::default(), Scope::Exec).is_empty());
        assert_eq!(paths(v, &Fake::default(), Scope::Create), ["linux.netDevices.eth9"]);
    }

    #[test]
    fn labels_of_lsms_the_host_lacks_are_refused() {
        let v = json!({ "ociVersion": "1.2.0",
            "process": { "cwd": "/", "user": { "uid": 0, "gid": 0 },
                         "apparmorProfile": "p", "selinuxLabel": "" },
            "linux": { "mountLabel": "m" } });
        assert_eq!(
            paths(v.clone(), &Fake::default(), Scope::Create),
            ["process.apparmorProfile", "linux.mountLabel"]
        );
        let host = Fake { apparmor: true, ..Fake::default() };
        assert_eq!(paths(v.clone(), &host, Scope::Create), ["linux.mountLabel"]);
        assert_eq!(process_problems(&spec(v), &host).len(), 1);
    }

    #[test]
    fn kernel_namespaces_controllers_and_seccomp_arches_come_from_the_host() {
        let v = json!({ "ociVersion": "1.2.0", "linux": {
            "namespaces": [{ "type": "mount" }, { "type": "time" }],
            "resources": { "pids": { "limit": 5 }, "memory": { "limit": 1048576 } },
            "seccomp": { "defaultAction": "SCMP_ACT_ALLOW",
                         "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"] }
        } });
        let host = Fake { namespaces: &["mnt"], controllers: &["memory"], ..Fake::default() };
        assert_eq!(
            paths(v, &host, Scope::Create),
            ["linux.namespaces[1].type", "linux.seccomp.architectures[1]", "linux.resources.pids",]
        );
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
        let host = Fake { namespaces: &["pid", "net", "ipc", "uts", "mnt"], ..Fake::default() };
        assert_eq!(
            paths(v, &host, Scope::Create),
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
        let warned: Vec<String> =
            warnings(&spec(v.clone()), &Fake::default()).iter().map(|e| e.to_string()).collect();
        assert!(warned.len() == 1 && warned[0].starts_with("hooks.poststop[0].path"), "{warned:?}");
        assert_eq!(
            paths(v, &Fake::default(), Scope::Create),
            ["hooks.prestart[1].path", "hooks.createContainer[0].path"]
        );
    }

    #[test]
    fn unknown_syscall_names_are_warnings_only() {
        let v = json!({ "ociVersion": "1.2.0", "linux": { "seccomp": {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["getpid", "no_such_syscall"], "action": "SCMP_ACT_ERRNO" }]
        } } });
        let warned: Vec<String> =
            warnings(&spec(v.clone()), &Fake::default()).iter().map(|e| e.to_string()).collect();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].starts_with("linux.seccomp.syscalls[0].names[1]: "), "{warned:?}");
        assert!(paths(v, &Fake::default(), Scope::Create).is_empty());
    }
}
