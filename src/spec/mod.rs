//! config.json: load it, validate it once into a [`ValidSpec`] whose required fields are
//! not `Option`, and produce the default spec for `berth spec`.
//!
//! Validation (validate/, one file per config section) has one entry point that `create`,
//! `exec` and `check` share; its host checks read what the host offers through a
//! [`HostFacts`] and change nothing. Every error names the config path it is about.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod checked;
mod defaults;
mod hints;
mod load;
mod locate;
mod validate;

pub use defaults::default_spec;
pub use hints::hint;
pub use load::{check, load, load_existing, load_process, warnings};
pub use validate::{
    cwd_problem, env_problem, id_out_of_range, is_under_proc, Device, DeviceKind, EnvProblem,
    ExecAffinity, HostFacts, MemoryPolicy, MountIdMaps, NetDevice, MAX_ID, RESCTRL,
};

/// A config.json problem, located by its path in the config (e.g. `mounts[3].destination`).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The bundle directory is missing or not a directory.
    #[error("bundle {path}")]
    Bundle {
        /// The bundle path as given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bundle has no config.json.
    #[error("bundle {bundle} has no config.json")]
    NoConfig {
        /// The bundle directory.
        bundle: PathBuf,
    },
    /// config.json is larger than berth is willing to parse.
    #[error("{path} is {size} bytes, more than the {limit} bytes berth reads")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// config.json could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// config.json is not valid JSON or does not match the spec's types.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// serde's message (names the field, line and column).
        message: String,
        /// The config path of the field of the wrong type, when one could be named.
        field: Option<String>,
    },
    /// A field is present but wrong or unsupported.
    #[error("{path}: {reason}")]
    Invalid {
        /// The config path, e.g. `linux.namespaces[2].type`.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl SpecError {
    /// The RFC 6901 JSON pointer of the field a problem is about (`linux.namespaces[2].type`
    /// is `/linux/namespaces/2/type`), for `berth check`; None for whole-file problems.
    pub fn json_pointer(&self) -> Option<String> {
        match self {
            SpecError::Invalid { path, .. } => Some(json_pointer(path)),
            SpecError::Parse { field: Some(field), .. } => Some(json_pointer(field)),
            _ => None,
        }
    }
}

/// Objects whose keys hold dots themselves (sysctl names, cgroup file names, annotations).
const MAP_FIELDS: &[&str] =
    &["linux.sysctl.", "linux.resources.unified.", "linux.netDevices.", "annotations."];

/// Converts berth's dotted config path to a JSON pointer.
fn json_pointer(path: &str) -> String {
    let escape = |s: &str| s.replace('~', "~0").replace('/', "~1");
    if let Some(prefix) = MAP_FIELDS.iter().find(|p| path.starts_with(**p)) {
        let parent = json_pointer(prefix.trim_end_matches('.'));
        return format!("{parent}/{}", escape(&path[prefix.len()..]));
    }
    let mut out = String::new();
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let mut parts = segment.split('[');
        out.push('/');
        out.push_str(&escape(parts.next().unwrap_or_default()));
        for index in parts {
            out.push('/');
            out.push_str(index.trim_end_matches(']'));
        }
    }
    out
}

/// A namespace kind, in the order berth joins and creates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamespaceKind {
    /// User namespace.
    User,
    /// Mount namespace.
    Mount,
    /// UTS (hostname) namespace.
    Uts,
    /// IPC namespace.
    Ipc,
    /// PID namespace.
    Pid,
    /// Network namespace.
    Network,
    /// Cgroup namespace.
    Cgroup,
    /// Time namespace.
    Time,
}

/// What berth knows of one namespace kind: its name in the config, its `CLONE_NEW*` flag
/// and its file under `/proc/<pid>/ns/` (whose presence in /proc/self/ns is how the host
/// says its kernel has the kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// The kind.
    pub kind: NamespaceKind,
    /// Its `linux.namespaces[].type`.
    pub oci: oci_spec::runtime::LinuxNamespaceType,
    /// `CLONE_NEW*`.
    pub clone_flag: libc::c_int,
    /// Its name under `/proc/<pid>/ns/`.
    pub proc_name: &'static str,
}

/// Every namespace kind, in [`NamespaceKind`]'s order (berth's joining and creating order).
pub const NAMESPACES: [NamespaceInfo; 8] = {
    use oci_spec::runtime::LinuxNamespaceType as T;
    const fn info(
        kind: NamespaceKind,
        oci: T,
        clone_flag: libc::c_int,
        proc_name: &'static str,
    ) -> NamespaceInfo {
        NamespaceInfo { kind, oci, clone_flag, proc_name }
    }
    [
        info(NamespaceKind::User, T::User, libc::CLONE_NEWUSER, "user"),
        info(NamespaceKind::Mount, T::Mount, libc::CLONE_NEWNS, "mnt"),
        info(NamespaceKind::Uts, T::Uts, libc::CLONE_NEWUTS, "uts"),
        info(NamespaceKind::Ipc, T::Ipc, libc::CLONE_NEWIPC, "ipc"),
        info(NamespaceKind::Pid, T::Pid, libc::CLONE_NEWPID, "pid"),
        info(NamespaceKind::Network, T::Network, libc::CLONE_NEWNET, "net"),
        info(NamespaceKind::Cgroup, T::Cgroup, libc::CLONE_NEWCGROUP, "cgroup"),
        info(NamespaceKind::Time, T::Time, libc::CLONE_NEWTIME, "time"),
    ]
};

impl NamespaceKind {
    /// The table entry of this kind.
    pub fn info(self) -> &'static NamespaceInfo {
        &NAMESPACES[self as usize]
    }

    /// The kind of a `linux.namespaces[].type`.
    pub fn of(oci: oci_spec::runtime::LinuxNamespaceType) -> NamespaceKind {
        use oci_spec::runtime::LinuxNamespaceType as T;
        match oci {
            T::User => NamespaceKind::User,
            T::Mount => NamespaceKind::Mount,
            T::Uts => NamespaceKind::Uts,
            T::Ipc => NamespaceKind::Ipc,
            T::Pid => NamespaceKind::Pid,
            T::Network => NamespaceKind::Network,
            T::Cgroup => NamespaceKind::Cgroup,
            T::Time => NamespaceKind::Time,
        }
    }

    /// Its `CLONE_NEW*` flag.
    pub fn clone_flag(self) -> libc::c_int {
        self.info().clone_flag
    }

    /// Its name under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        self.info().proc_name
    }
}

/// One entry of `linux.namespaces`: a new namespace, or one joined by `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Which namespace.
    pub kind: NamespaceKind,
    /// Join this existing namespace instead of creating one.
    pub path: Option<PathBuf>,
}

/// One line of `linux.uidMappings` / `linux.gidMappings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    /// First id inside the container.
    pub container_id: u32,
    /// First id on the host.
    pub host_id: u32,
    /// How many ids.
    pub size: u32,
}

/// One `process.rlimits` entry, its type resolved to the kernel's resource number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// `libc::RLIMIT_*`.
    pub resource: i32,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// `process.capabilities`, each set as the capabilities it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilitySets {
    /// Bounding set.
    pub bounding: Vec<caps::Capability>,
    /// Effective set.
    pub effective: Vec<caps::Capability>,
    /// Inheritable set.
    pub inheritable: Vec<caps::Capability>,
    /// Permitted set.
    pub permitted: Vec<caps::Capability>,
    /// Ambient set.
    pub ambient: Vec<caps::Capability>,
}

/// `process.consoleSize`, within the range of `struct winsize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleSize {
    /// Rows.
    pub height: u16,
    /// Columns.
    pub width: u16,
}

/// `process`, validated.
#[derive(Debug, Clone)]
pub struct ValidProcess {
    /// argv; never empty.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// Absolute working directory inside the container.
    pub cwd: PathBuf,
    /// `user.uid`.
    pub uid: u32,
    /// `user.gid`.
    pub gid: u32,
    /// `user.umask`, if set.
    pub umask: Option<u32>,
    /// `user.additionalGids`.
    pub additional_gids: Vec<u32>,
    /// Whether a pseudo-terminal is requested.
    pub terminal: bool,
    /// `consoleSize`, for the pseudo-terminal.
    pub console_size: Option<ConsoleSize>,
    /// `noNewPrivileges`.
    pub no_new_privileges: bool,
    /// `capabilities`; `None` leaves the runtime's own sets (all for root).
    pub capabilities: Option<CapabilitySets>,
    /// `rlimits`, in config order.
    pub rlimits: Vec<Rlimit>,
    /// `oomScoreAdj`.
    pub oom_score_adj: Option<i32>,
    /// `scheduler`, as sched_setattr(2) takes it.
    pub scheduler: Option<crate::sys::process::SchedAttr>,
    /// `ioPriority`, as ioprio_set(2) takes it: class << 13 | level.
    pub io_priority: Option<u16>,
    /// `execCPUAffinity` (applies to `exec` only, as the spec says).
    pub exec_cpu_affinity: Option<ExecAffinity>,
    /// `apparmorProfile`, when not empty.
    pub apparmor_profile: Option<String>,
    /// `selinuxLabel`, when not empty.
    pub selinux_label: Option<String>,
}

/// A config.json that passed validation. Built only by [`load`].
#[derive(Debug, Clone)]
pub struct ValidSpec {
    /// `ociVersion`.
    pub oci_version: String,
    /// Absolute path of the bundle directory.
    pub bundle: PathBuf,
    /// Absolute path of the root filesystem (`root.path` resolved against the bundle).
    pub root: PathBuf,
    /// `root.readonly`.
    pub root_readonly: bool,
    /// `process`.
    pub process: ValidProcess,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `domainname`.
    pub domainname: Option<String>,
    /// `mounts`, in order; every destination is absolute and free of `..`.
    pub mounts: Vec<oci_spec::runtime::Mount>,
    /// For each of `mounts`, its options parsed into flags, propagation and data.
    pub mount_options: Vec<crate::rootfs::options::MountOptions>,
    /// For each of `mounts`, its id maps when it is an id-mapped bind mount.
    pub mount_idmaps: Vec<Option<MountIdMaps>>,
    /// `linux.mountLabel`, when not empty.
    pub mount_label: Option<String>,
    /// `linux.memoryPolicy`.
    pub memory_policy: Option<MemoryPolicy>,
    /// `linux.netDevices`, sorted by host name.
    pub net_devices: Vec<NetDevice>,
    /// `linux.intelRdt`.
    pub intel_rdt: Option<oci_spec::runtime::LinuxIntelRdt>,
    /// `linux.namespaces`, without duplicates.
    pub namespaces: Vec<Namespace>,
    /// `linux.uidMappings`.
    pub uid_mappings: Vec<IdMap>,
    /// `linux.gidMappings`.
    pub gid_mappings: Vec<IdMap>,
    /// `linux.devices`, as the nodes to make (paths split, numbers and modes checked).
    pub devices: Vec<Device>,
    /// `linux.maskedPaths`.
    pub masked_paths: Vec<String>,
    /// `linux.readonlyPaths`.
    pub readonly_paths: Vec<String>,
    /// `linux.rootfsPropagation`, as the (recursive) propagation flags applied to `/`.
    pub rootfs_propagation: Option<nix::mount::MsFlags>,
    /// `linux.seccomp`: errno values fit, argument indexes are below 6, a notifying profile
    /// has an absolute `listenerPath`. Syscall names are not checked (unknown ones are skipped).
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// `annotations`.
    pub annotations: HashMap<String, String>,
    /// `linux.cgroupsPath`, when set and not empty.
    pub cgroups_path: Option<String>,
    /// `linux.resources` (empty when absent).
    pub resources: oci_spec::runtime::LinuxResources,
    /// `hooks`.
    pub hooks: Hooks,
    /// `linux.sysctl`, each key namespaced in a namespace the container owns.
    pub sysctl: Vec<(String, String)>,
    /// `linux.personality` as the persona number of personality(2): domain | flags.
    pub personality: Option<u64>,
    /// `linux.timeOffsets`: (clock, seconds, nanoseconds) for a new time namespace.
    pub time_offsets: Vec<(TimeClock, i64, u32)>,
}

/// A clock a time namespace can offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeClock {
    /// CLOCK_MONOTONIC.
    Monotonic,
    /// CLOCK_BOOTTIME.
    Boottime,
}

/// One hook of the config: a program run at a point of the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hook {
    /// Absolute path of the program.
    pub path: PathBuf,
    /// argv, including argv[0]; empty means just the path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The whole environment of the hook.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Seconds before the hook is killed and counted as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
}

impl Hooks {
    /// Whether `create` has hooks to run (prestart, createRuntime, createContainer or
    /// startContainer), which needs the init to stop and wait for the runtime once.
    pub fn run_during_create(&self) -> bool {
        [&self.prestart, &self.create_runtime, &self.create_container, &self.start_container]
            .iter()
            .any(|list| !list.is_empty())
    }
}

/// `hooks`, by lifecycle point.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hooks {
    /// `prestart` (deprecated; run with createRuntime), in the runtime namespace.
    pub prestart: Vec<Hook>,
    /// `createRuntime`, in the runtime namespace, before pivot_root.
    pub create_runtime: Vec<Hook>,
    /// `createContainer`, in the container namespace, before pivot_root.
    pub create_container: Vec<Hook>,
    /// `startContainer`, in the container, just before the program runs.
    pub start_container: Vec<Hook>,
    /// `poststart`, in the runtime namespace, after `start`.
    pub poststart: Vec<Hook>,
    /// `poststop`, in the runtime namespace, when the container is deleted.
    pub poststop: Vec<Hook>,
}

impl ValidSpec {
    /// The entry for namespace `kind`, if the config lists it.
    pub fn namespace(&self, kind: NamespaceKind) -> Option<&Namespace> {
        self.namespaces.iter().find(|ns| ns.kind == kind)
    }

    /// Whether the config asks for a new namespace of `kind` (listed without a path).
    pub fn creates_namespace(&self, kind: NamespaceKind) -> bool {
        self.namespace(kind).is_some_and(|ns| ns.path.is_none())
    }

    /// The bundle's config.json path.
    pub fn config_path(&self) -> PathBuf {
        config_path(&self.bundle)
    }
}

/// Where config.json lives in `bundle`.
pub fn config_path(bundle: &Path) -> PathBuf {
    bundle.join("config.json")
}

#[cfg(test)]
mod namespace_table_tests {
    use super::*;

    #[test]
    fn the_table_is_in_kind_order_and_each_kind_is_listed_once() {
        for (i, info) in NAMESPACES.iter().enumerate() {
            assert_eq!(info.kind as usize, i, "{info:?}");
            assert_eq!(NamespaceKind::of(info.oci), info.kind);
        }
        let flags: std::collections::HashSet<_> = NAMESPACES.iter().map(|n| n.clone_flag).collect();
        assert_eq!(flags.len(), NAMESPACES.len());
    }
}

#[cfg(test)]
mod pointer_tests {
    use super::json_pointer;

    #[test]
    fn dotted_paths_become_json_pointers() {
        assert_eq!(json_pointer("linux.namespaces[2].type"), "/linux/namespaces/2/type");
        assert_eq!(json_pointer("process.args"), "/process/args");
        assert_eq!(json_pointer("mounts[3]"), "/mounts/3");
        assert_eq!(
            json_pointer("linux.sysctl.net.ipv4.ip_forward"),
            "/linux/sysctl/net.ipv4.ip_forward"
        );
        assert_eq!(json_pointer("annotations.a/b~c"), "/annotations/a~1b~0c");
        assert_eq!(json_pointer("linux.uidMappings[0][1]"), "/linux/uidMappings/0/1");
    }
}
