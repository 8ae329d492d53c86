//! The checks: a list of small functions, each naming the config path it checks.
//!
//! [`problems`] runs every check and returns every problem (for a future `berth check`);
//! [`load`](super::load) stops at the first. [`build`] then turns a spec that passed into a
//! [`ValidSpec`]. The checks never touch the system: the rootfs stat lives in load.rs.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use oci_spec::runtime::{
    Capabilities, IOPriorityClass, LinuxCapabilities, LinuxDeviceType, LinuxIdMapping,
    LinuxNamespaceType, LinuxSchedulerFlag, LinuxSchedulerPolicy, LinuxSeccompAction,
    PosixRlimitType, Process, Scheduler, Spec,
};

use super::isolation;
use super::{
    bounds, CapabilitySets, ConsoleSize, Hook, Hooks, IdMap, Namespace, NamespaceKind, Rlimit,
    SpecError, TimeClock, ValidProcess, ValidSpec,
};

/// The collected problems of one config, in the order the checks found them.
#[derive(Default)]
pub(super) struct Problems(Vec<SpecError>);

impl Problems {
    /// Records that the field at config path `path` is wrong for `reason`.
    pub(super) fn push(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.0.push(invalid(path, reason));
    }
}

fn invalid(path: impl Into<String>, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid { path: path.into(), reason: reason.into() }
}

type Check = fn(&Spec, &mut Problems);

/// Every check, in config order so that the first problem is the first a reader meets.
const CHECKS: &[Check] = &[
    check_version,
    check_root,
    check_mounts,
    isolation::check_mount_idmaps,
    check_process,
    bounds::check_process_ids,
    check_env,
    check_rlimits,
    check_capabilities,
    isolation::check_exec_cpu_affinity,
    isolation::check_lsm_labels,
    check_uts,
    check_hooks,
    check_sysctl,
    check_scheduling,
    isolation::check_personality_flags,
    check_time_offsets,
    check_annotations,
    check_namespaces,
    check_id_mappings,
    check_devices,
    check_rootfs_propagation,
    check_masked_readonly_paths,
    check_seccomp,
    check_resources,
    isolation::check_memory_policy,
    isolation::check_net_devices,
    isolation::check_intel_rdt,
    check_other_platforms,
    bounds::check_root_stays_in_bundle,
    bounds::check_nul_bytes,
    bounds::check_cwd_not_in_proc,
    bounds::check_cgroups_path,
    bounds::check_resource_ranges,
    bounds::check_id_map_shape,
];

/// Every problem found in `spec`; empty when it is valid.
pub(super) fn problems(spec: &Spec) -> Vec<SpecError> {
    let mut problems = Problems::default();
    for check in CHECKS {
        check(spec, &mut problems);
    }
    problems.0
}

/// The checks that concern `process` alone, for `exec --process`.
const PROCESS_CHECKS: &[Check] = &[
    check_process,
    bounds::check_process_ids,
    check_env,
    check_rlimits,
    check_capabilities,
    check_scheduling,
    isolation::check_exec_cpu_affinity,
    isolation::check_lsm_labels,
    bounds::check_nul_bytes,
    bounds::check_cwd_not_in_proc,
];

/// Validates a lone `process` object (runc's process.json for `exec`); the first problem.
pub(super) fn process(process: Process) -> Result<ValidProcess, SpecError> {
    let mut spec = Spec::default();
    spec.set_process(Some(process));
    let mut problems = Problems::default();
    for check in PROCESS_CHECKS {
        check(&spec, &mut problems);
    }
    match problems.0.into_iter().next() {
        Some(first) => Err(first),
        None => build_process(spec.process().as_ref().expect("set above")),
    }
}

/// Turns a spec that [`problems`] found nothing wrong with into a [`ValidSpec`].
///
/// `bundle` and `root` are the absolute bundle and rootfs paths that load.rs resolved.
pub(super) fn build(spec: Spec, bundle: PathBuf, root: PathBuf) -> Result<ValidSpec, SpecError> {
    let root_readonly = spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false);
    let process = spec.process().as_ref().ok_or_else(|| invalid("process", "missing"))?;
    let linux = spec.linux().as_ref();
    let namespaces = linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .map(|ns| Namespace { kind: namespace_kind(ns.typ()), path: ns.path().clone() })
        .collect();
    Ok(ValidSpec {
        oci_version: spec.version().clone(),
        bundle,
        root,
        root_readonly,
        process: build_process(process)?,
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|d| !d.is_empty()),
        mounts: spec.mounts().clone().unwrap_or_default(),
        mount_idmaps: isolation::build_mount_idmaps(&spec),
        mount_label: linux.and_then(|l| l.mount_label().clone()).filter(|l| !l.is_empty()),
        memory_policy: linux
            .and_then(|l| l.memory_policy().as_ref())
            .map(isolation::build_memory_policy),
        net_devices: isolation::build_net_devices(&spec),
        intel_rdt: linux.and_then(|l| l.intel_rdt().clone()),
        namespaces,
        uid_mappings: id_maps(linux.and_then(|l| l.uid_mappings().as_ref())),
        gid_mappings: id_maps(linux.and_then(|l| l.gid_mappings().as_ref())),
        devices: linux.and_then(|l| l.devices().clone()).unwrap_or_default(),
        masked_paths: linux.and_then(|l| l.masked_paths().clone()).unwrap_or_default(),
        readonly_paths: linux.and_then(|l| l.readonly_paths().clone()).unwrap_or_default(),
        rootfs_propagation: linux
            .and_then(|l| l.rootfs_propagation().clone())
            .filter(|p| !p.is_empty()),
        seccomp: linux.and_then(|l| l.seccomp().clone()),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroups_path: linux
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| !p.is_empty()),
        resources: linux.and_then(|l| l.resources().clone()).unwrap_or_default(),
        hooks: build_hooks(&spec),
        sysctl: linux
            .and_then(|l| l.sysctl().as_ref())
            .map(|s| {
                let mut pairs: Vec<(String, String)> = s.clone().into_iter().collect();
                pairs.sort();
                pairs
            })
            .unwrap_or_default(),
        personality: linux.and_then(|l| l.personality().as_ref()).map(|persona| {
            let domain = crate::seccomp::arch::personality_domain(persona.domain());
            domain | isolation::personality_flag_bits(persona.flags().as_ref())
        }),
        time_offsets: linux
            .and_then(|l| l.time_offsets().as_ref())
            .into_iter()
            .flatten()
            .map(|(clock, offset)| {
                let clock =
                    if clock == "boottime" { TimeClock::Boottime } else { TimeClock::Monotonic };
                (clock, offset.secs().unwrap_or(0), offset.nanosecs().unwrap_or(0))
            })
            .collect(),
    })
}

fn build_process(p: &Process) -> Result<ValidProcess, SpecError> {
    // Without `capabilities` the process gets none, as with runc: keeping the runtime's own
    // (nearly all) would make an unconfigured container as strong as the host's root.
    let capabilities = match p.capabilities() {
        Some(c) => Some(capability_sets(c)?),
        None => Some(CapabilitySets::default()),
    };
    let console_size = p.console_size().map(|b| ConsoleSize {
        height: u16::try_from(b.height()).unwrap_or(u16::MAX),
        width: u16::try_from(b.width()).unwrap_or(u16::MAX),
    });
    Ok(ValidProcess {
        args: p.args().clone().unwrap_or_default(),
        env: p.env().clone().unwrap_or_default(),
        cwd: p.cwd().clone(),
        uid: p.user().uid(),
        gid: p.user().gid(),
        umask: p.user().umask(),
        additional_gids: p.user().additional_gids().clone().unwrap_or_default(),
        terminal: p.terminal().unwrap_or(false),
        console_size,
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        capabilities,
        rlimits: p
            .rlimits()
            .iter()
            .flatten()
            .map(|r| Rlimit { resource: rlimit_resource(r.typ()), soft: r.soft(), hard: r.hard() })
            .collect(),
        oom_score_adj: p.oom_score_adj(),
        scheduler: p.scheduler().as_ref().map(sched_attr),
        io_priority: p.io_priority().as_ref().map(|io| {
            let class: u16 = match io.class() {
                IOPriorityClass::IoprioClassRt => 1,
                IOPriorityClass::IoprioClassBe => 2,
                IOPriorityClass::IoprioClassIdle => 3,
            };
            class << 13 | io.priority().clamp(0, 7) as u16
        }),
        exec_cpu_affinity: isolation::build_exec_affinity(p),
        apparmor_profile: p.apparmor_profile().clone().filter(|l| !l.is_empty()),
        selinux_label: p.selinux_label().clone().filter(|l| !l.is_empty()),
    })
}

fn sched_attr(s: &Scheduler) -> crate::sys::process::SchedAttr {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let flags = s.flags().iter().flatten().fold(0u64, |bits, flag| {
        bits | match flag {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        }
    });
    crate::sys::process::SchedAttr {
        policy,
        flags,
        nice: (*s.nice()).unwrap_or(0),
        priority: (*s.priority()).unwrap_or(0).max(0) as u32,
        runtime: (*s.runtime()).unwrap_or(0),
        deadline: (*s.deadline()).unwrap_or(0),
        period: (*s.period()).unwrap_or(0),
    }
}

fn check_scheduling(spec: &Spec, p: &mut Problems) {
    let Some(process) = spec.process() else { return };
    if let Some(s) = process.scheduler() {
        let realtime =
            matches!(s.policy(), LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr);
        if let Some(nice) = *s.nice() {
            if !(-20..=19).contains(&nice) {
                p.push("process.scheduler.nice", format!("{nice} is outside -20..=19"));
            }
        }
        match *s.priority() {
            Some(prio) if realtime && !(1..=99).contains(&prio) => p.push(
                "process.scheduler.priority",
                format!("{prio} is outside 1..=99 for a real-time policy"),
            ),
            Some(prio) if !realtime && prio != 0 => p.push(
                "process.scheduler.priority",
                format!("{prio} must be 0 for a non-real-time policy"),
            ),
            None if realtime => {
                p.push("process.scheduler.priority", "a real-time policy needs a priority")
            }
            _ => {}
        }
    }
    if let Some(io) = process.io_priority() {
        if !(0..=7).contains(&io.priority()) {
            p.push("process.ioPriority.priority", format!("{} is outside 0..=7", io.priority()));
        }
    }
}

fn check_time_offsets(spec: &Spec, p: &mut Problems) {
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().as_ref()) else {
        return;
    };
    if offsets.is_empty() {
        return;
    }
    if namespace_entry(spec, LinuxNamespaceType::Time) != Some(None) {
        p.push("linux.timeOffsets", "needs a new time namespace in linux.namespaces");
    }
    for (clock, offset) in offsets {
        if clock != "monotonic" && clock != "boottime" {
            p.push(
                format!("linux.timeOffsets.{clock}"),
                "only monotonic and boottime can be offset",
            );
        }
        if offset.nanosecs().unwrap_or(0) >= 1_000_000_000 {
            p.push(format!("linux.timeOffsets.{clock}.nanosecs"), "must be below 1000000000");
        }
    }
}

fn capability_sets(c: &LinuxCapabilities) -> Result<CapabilitySets, SpecError> {
    let set = |name: &str,
               set: &Option<Capabilities>|
     -> Result<Vec<caps::Capability>, SpecError> {
        let mut out = Vec::new();
        for cap in set.iter().flatten() {
            out.push(
                capability(cap).map_err(|r| invalid(format!("process.capabilities.{name}"), r))?,
            );
        }
        // The set comes from a HashSet: sort so that the order is stable run to run.
        out.sort_by_key(|c| c.index());
        Ok(out)
    };
    let mut sets = CapabilitySets {
        bounding: set("bounding", c.bounding())?,
        effective: set("effective", c.effective())?,
        inheritable: set("inheritable", c.inheritable())?,
        permitted: set("permitted", c.permitted())?,
        ambient: set("ambient", c.ambient())?,
    };
    keep_raisable_ambient(&mut sets);
    Ok(sets)
}

/// The kernel raises an ambient capability only when it is both permitted and inheritable.
/// runc and crun skip the others instead of failing (`runc spec` itself writes ambient
/// capabilities that are not inheritable), and so does berth, with one warning naming them
/// all (not a line each: every start of such a config prints it).
fn keep_raisable_ambient(sets: &mut CapabilitySets) {
    let (inheritable, permitted) = (&sets.inheritable, &sets.permitted);
    let mut skipped = Vec::new();
    sets.ambient.retain(|cap| {
        let raisable = inheritable.contains(cap) && permitted.contains(cap);
        if !raisable {
            skipped.push(cap.to_string());
        }
        raisable
    });
    let verb = if skipped.len() == 1 { "is" } else { "are" };
    let pronoun = if skipped.len() == 1 { "it is" } else { "they are" };
    if !skipped.is_empty() {
        let msg = format!(
            "process.capabilities.ambient: {} {verb} not both permitted and inheritable; \
             {pronoun} not raised",
            skipped.join(", ")
        );
        crate::logging::log(crate::logging::Level::Warning, &msg);
    }
}

/// What is valid but will not do what it says: ambient capabilities that are not both
/// permitted and inheritable (skipped at create, see [`keep_raisable_ambient`]).
pub(super) fn warnings(spec: &Spec) -> Vec<SpecError> {
    let Some(c) = spec.process().as_ref().and_then(|p| p.capabilities().as_ref()) else {
        return Vec::new();
    };
    let listed = |set: &Option<Capabilities>, cap| set.as_ref().is_some_and(|s| s.contains(cap));
    let mut found = Vec::new();
    for cap in c.ambient().iter().flatten() {
        if !(listed(c.inheritable(), cap) && listed(c.permitted(), cap)) {
            let name = capability(cap).map(|c| c.to_string()).unwrap_or_default();
            found.push(invalid(
                "process.capabilities.ambient",
                format!("{name} is not both permitted and inheritable; it is not raised"),
            ));
        }
    }
    found
}

/// oci-spec's capability as the `caps` crate's, by its `CAP_*` name.
fn capability(cap: &oci_spec::runtime::Capability) -> Result<caps::Capability, String> {
    let name = serde_json::to_value(cap)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{cap:?}"));
    caps::Capability::from_str(&name)
        .map_err(|_| format!("capability {name} is not known to berth"))
}

/// The kernel's resource number for an rlimit type.
fn rlimit_resource(typ: PosixRlimitType) -> i32 {
    let resource = match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    };
    // The constants are small (< 16); the cast only reconciles glibc's unsigned type.
    resource as i32
}

fn namespace_kind(typ: LinuxNamespaceType) -> NamespaceKind {
    match typ {
        LinuxNamespaceType::User => NamespaceKind::User,
        LinuxNamespaceType::Mount => NamespaceKind::Mount,
        LinuxNamespaceType::Uts => NamespaceKind::Uts,
        LinuxNamespaceType::Ipc => NamespaceKind::Ipc,
        LinuxNamespaceType::Pid => NamespaceKind::Pid,
        LinuxNamespaceType::Network => NamespaceKind::Network,
        LinuxNamespaceType::Cgroup => NamespaceKind::Cgroup,
        LinuxNamespaceType::Time => NamespaceKind::Time,
    }
}

fn id_maps(maps: Option<&Vec<LinuxIdMapping>>) -> Vec<IdMap> {
    maps.into_iter()
        .flatten()
        .map(|m| IdMap { container_id: m.container_id(), host_id: m.host_id(), size: m.size() })
        .collect()
}

/// Whether `path` is absolute and has no `..` component.
fn is_clean_absolute(path: &Path) -> bool {
    path.is_absolute() && !path.components().any(|c| c == Component::ParentDir)
}

/// The namespace entry of `typ`: `None` when not listed, `Some(path)` when listed.
fn namespace_entry(spec: &Spec, typ: LinuxNamespaceType) -> Option<Option<&PathBuf>> {
    let linux = spec.linux().as_ref()?;
    let ns = linux.namespaces().as_ref()?.iter().find(|ns| ns.typ() == typ)?;
    Some(ns.path().as_ref())
}

fn check_version(spec: &Spec, p: &mut Problems) {
    let version = spec.version();
    if version.is_empty() {
        p.push("ociVersion", "missing");
        return;
    }
    match parse_semver(version) {
        None => p.push("ociVersion", format!("{version:?} is not a semantic version")),
        Some(1) => {}
        Some(major) => p.push(
            "ociVersion",
            format!("{version:?}: major version {major} is not supported (1.x)"),
        ),
    }
}

/// The major number of a SemVer 2.0 version `MAJOR.MINOR.PATCH[-pre][+build]`.
fn parse_semver(v: &str) -> Option<u64> {
    let (core, build) = match v.split_once('+') {
        Some((core, build)) => (core, Some(build)),
        None => (v, None),
    };
    let (core, pre) = match core.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (core, None),
    };
    let ident_ok =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    for extra in [pre, build].into_iter().flatten() {
        if !extra.split('.').all(ident_ok) {
            return None;
        }
    }
    let numbers: Vec<&str> = core.split('.').collect();
    if numbers.len() != 3 {
        return None;
    }
    let mut parsed = Vec::with_capacity(3);
    for n in numbers {
        let leading_zero = n.len() > 1 && n.starts_with('0');
        if n.is_empty() || leading_zero || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parsed.push(n.parse::<u64>().ok()?);
    }
    Some(parsed[0])
}

fn check_root(spec: &Spec, p: &mut Problems) {
    match spec.root() {
        None => p.push("root", "missing"),
        Some(root) if root.path().as_os_str().is_empty() => p.push("root.path", "missing"),
        Some(_) => {}
    }
}

fn check_mounts(spec: &Spec, p: &mut Problems) {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !is_clean_absolute(m.destination()) {
            p.push(
                format!("mounts[{i}].destination"),
                format!("{:?} must be an absolute path without \"..\"", m.destination()),
            );
        }
    }
}

fn check_process(spec: &Spec, p: &mut Problems) {
    let Some(process) = spec.process() else {
        p.push("process", "missing");
        return;
    };
    match process.args().as_deref() {
        None | Some([]) => p.push("process.args", "must name the program to run"),
        Some([first, ..]) if first.is_empty() => p.push("process.args[0]", "must not be empty"),
        Some(_) => {}
    }
    if !process.cwd().is_absolute() {
        p.push("process.cwd", format!("{:?} must be an absolute path", process.cwd()));
    }
    if process.command_line().is_some() {
        p.push("process.commandLine", "is for Windows; use process.args");
    }
    let user = process.user();
    if user.username().is_some() {
        p.push("process.user.username", "is for Windows; use process.user.uid");
    }
    if let Some(umask) = user.umask() {
        if umask > 0o777 {
            p.push("process.user.umask", format!("{umask:#o} is more than 0o777"));
        }
    }
    if let Some(adj) = process.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            p.push("process.oomScoreAdj", format!("{adj} is outside -1000..=1000"));
        }
    }
    if let Some(size) = process.console_size() {
        for (name, v) in [("height", size.height()), ("width", size.width())] {
            if v > u64::from(u16::MAX) {
                p.push(
                    format!("process.consoleSize.{name}"),
                    format!("{v} is more than {}", u16::MAX),
                );
            }
        }
    }
}

fn check_env(spec: &Spec, p: &mut Problems) {
    let Some(process) = spec.process() else { return };
    for (i, entry) in process.env().iter().flatten().enumerate() {
        match entry.find('=') {
            None => p.push(format!("process.env[{i}]"), format!("{entry:?} is not KEY=VALUE")),
            Some(0) => p.push(format!("process.env[{i}]"), format!("{entry:?} has an empty name")),
            Some(_) if entry.contains('\0') => {
                p.push(format!("process.env[{i}]"), "contains a NUL byte")
            }
            Some(_) => {}
        }
    }
}

fn check_rlimits(spec: &Spec, p: &mut Problems) {
    let Some(process) = spec.process() else { return };
    let mut seen = HashSet::new();
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        if !seen.insert(rlimit_resource(r.typ())) {
            p.push(format!("process.rlimits[{i}].type"), format!("{} is set twice", r.typ()));
        }
        if r.soft() > r.hard() {
            p.push(
                format!("process.rlimits[{i}].soft"),
                format!("soft limit {} is above the hard limit {}", r.soft(), r.hard()),
            );
        }
    }
}

fn check_capabilities(spec: &Spec, p: &mut Problems) {
    let Some(c) = spec.process().as_ref().and_then(|p| p.capabilities().as_ref()) else { return };
    let sets = [
        ("bounding", c.bounding()),
        ("effective", c.effective()),
        ("inheritable", c.inheritable()),
        ("permitted", c.permitted()),
        ("ambient", c.ambient()),
    ];
    for (name, set) in sets {
        for cap in set.iter().flatten() {
            if let Err(reason) = capability(cap) {
                p.push(format!("process.capabilities.{name}"), reason);
            }
        }
    }
}

/// Linux's `HOST_NAME_MAX` and the limit of `setdomainname`.
const UTS_NAME_MAX: usize = 64;

/// A hostname or domainname needs a UTS namespace of the container's own: a new one, or one
/// joined by path (set inside it, as runc and crun do), never the runtime's.
fn check_uts(spec: &Spec, p: &mut Problems) {
    let private_uts = namespace_entry(spec, LinuxNamespaceType::Uts).is_some();
    let names = [("hostname", spec.hostname()), ("domainname", spec.domainname())];
    for (field, value) in names {
        let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else { continue };
        if !private_uts {
            p.push(
                field,
                format!("unable to set {field} without a UTS namespace in linux.namespaces"),
            );
        }
        if value.len() > UTS_NAME_MAX || value.contains('\0') {
            p.push(field, format!("must be at most {UTS_NAME_MAX} bytes, without NUL"));
        }
    }
}

fn hook_lists(spec: &Spec) -> [(&'static str, Option<&Vec<oci_spec::runtime::Hook>>); 6] {
    let hooks = spec.hooks().as_ref();
    #[allow(deprecated)]
    [
        ("prestart", hooks.and_then(|h| h.prestart().as_ref())),
        ("createRuntime", hooks.and_then(|h| h.create_runtime().as_ref())),
        ("createContainer", hooks.and_then(|h| h.create_container().as_ref())),
        ("startContainer", hooks.and_then(|h| h.start_container().as_ref())),
        ("poststart", hooks.and_then(|h| h.poststart().as_ref())),
        ("poststop", hooks.and_then(|h| h.poststop().as_ref())),
    ]
}

fn check_hooks(spec: &Spec, p: &mut Problems) {
    for (name, list) in hook_lists(spec) {
        for (i, hook) in list.into_iter().flatten().enumerate() {
            let at = format!("hooks.{name}[{i}]");
            if !hook.path().is_absolute() {
                p.push(format!("{at}.path"), format!("{:?} must be an absolute path", hook.path()));
            }
            if let Some(timeout) = hook.timeout() {
                if timeout <= 0 || timeout > i64::from(u32::MAX) {
                    p.push(
                        format!("{at}.timeout"),
                        format!("{timeout} must be a positive number of seconds"),
                    );
                }
            }
            for (j, entry) in hook.env().iter().flatten().enumerate() {
                if !entry.contains('=') {
                    p.push(format!("{at}.env[{j}]"), format!("{entry:?} is not KEY=VALUE"));
                }
            }
        }
    }
}

fn build_hooks(spec: &Spec) -> Hooks {
    let [prestart, create_runtime, create_container, start_container, poststart, poststop] =
        hook_lists(spec).map(|(_, list)| {
            list.into_iter()
                .flatten()
                .map(|h| Hook {
                    path: h.path().clone(),
                    args: h.args().clone().unwrap_or_default(),
                    env: h.env().clone().unwrap_or_default(),
                    timeout: h.timeout().and_then(|t| u32::try_from(t).ok()),
                })
                .collect()
        });
    Hooks { prestart, create_runtime, create_container, start_container, poststart, poststop }
}

/// The namespace a sysctl key belongs to (as runc decides it), or `None` when it is not
/// namespaced at all and so would change the host.
fn sysctl_namespace(key: &str) -> Option<(LinuxNamespaceType, &'static str)> {
    const IPC_KEYS: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        Some((LinuxNamespaceType::Ipc, "ipc"))
    } else if key.starts_with("net.") {
        Some((LinuxNamespaceType::Network, "network"))
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some((LinuxNamespaceType::Uts, "uts"))
    } else {
        None
    }
}

/// Why a UTS sysctl conflicts with the config field made for it: `kernel.hostname` always
/// (the `hostname` field says it, as runc rules), `kernel.domainname` when `domainname`
/// gives another value (which one would win depends on the order of two steps).
fn uts_field_conflict(spec: &Spec, key: &str, value: &str) -> Option<&'static str> {
    match key {
        "kernel.hostname" => Some("conflicts with the `hostname` field; set that instead"),
        "kernel.domainname" => spec
            .domainname()
            .as_deref()
            .filter(|field| *field != value)
            .map(|_| "conflicts with the `domainname` field, which gives another value"),
        _ => None,
    }
}

fn check_sysctl(spec: &Spec, p: &mut Problems) {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else { return };
    for key in sysctl.keys() {
        let at = format!("linux.sysctl.{key}");
        if key.is_empty()
            || key.contains(['/', '\0'])
            || key.split('.').any(|part| part.is_empty() || part == "..")
        {
            p.push(at, "is not a sysctl name");
            continue;
        }
        let Some((typ, name)) = sysctl_namespace(key) else {
            p.push(at, "is not namespaced: setting it would change the host");
            continue;
        };
        if let Some(conflict) = uts_field_conflict(spec, key, &sysctl[key]) {
            p.push(at, conflict);
            continue;
        }
        let owned = match namespace_entry(spec, typ) {
            Some(None) => true,
            // A joined network namespace is the container's own (e.g. a pod's); runc allows it.
            Some(Some(_)) => typ == LinuxNamespaceType::Network,
            None => false,
        };
        if !owned {
            p.push(at, format!("needs the container's own {name} namespace"));
        }
    }
}

fn check_annotations(spec: &Spec, p: &mut Problems) {
    if spec.annotations().iter().flatten().any(|(key, _)| key.is_empty()) {
        p.push("annotations", "a key must not be empty");
    }
}

fn check_namespaces(spec: &Spec, p: &mut Problems) {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    let mut seen = HashSet::new();
    for (i, ns) in namespaces.into_iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            p.push(format!("linux.namespaces[{i}].type"), format!("{} is listed twice", ns.typ()));
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                p.push(format!("linux.namespaces[{i}].path"), format!("{path:?} must be absolute"));
            }
        }
    }
    if !seen.contains(&LinuxNamespaceType::Mount) {
        check_without_mount_namespace(spec, p);
    }
}

/// Without a mount namespace the container shares the runtime's, as the spec says of an
/// absent namespace, and its process is only chrooted into `root.path`. Every field that
/// would mount (and so change the host's mount table) needs a namespace of its own.
fn check_without_mount_namespace(spec: &Spec, p: &mut Problems) {
    let linux = spec.linux().as_ref();
    let non_empty = |v: Option<&Vec<_>>| v.is_some_and(|v: &Vec<String>| !v.is_empty());
    let asks = [
        ("mounts", spec.mounts().as_ref().is_some_and(|m| !m.is_empty())),
        ("linux.maskedPaths", non_empty(linux.and_then(|l| l.masked_paths().as_ref()))),
        ("linux.readonlyPaths", non_empty(linux.and_then(|l| l.readonly_paths().as_ref()))),
        ("linux.devices", linux.and_then(|l| l.devices().as_ref()).is_some_and(|d| !d.is_empty())),
        ("linux.rootfsPropagation", linux.and_then(|l| l.rootfs_propagation().as_ref()).is_some()),
        ("root.readonly", spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false)),
    ];
    for (field, asked) in asks {
        if asked {
            p.push(field, "needs a mount namespace in linux.namespaces (without one berth leaves the host's mounts alone and only chroots into root.path)");
        }
    }
}

fn check_id_mappings(spec: &Spec, p: &mut Problems) {
    let (uid, gid) = match spec.linux() {
        Some(l) => {
            (l.uid_mappings().as_deref().unwrap_or(&[]), l.gid_mappings().as_deref().unwrap_or(&[]))
        }
        None => (&[][..], &[][..]),
    };
    let maps = [("linux.uidMappings", uid), ("linux.gidMappings", gid)];
    match namespace_entry(spec, LinuxNamespaceType::User) {
        None => {
            for (field, list) in maps {
                if !list.is_empty() {
                    p.push(field, "mappings need a user namespace in linux.namespaces");
                }
            }
        }
        Some(Some(_)) => {
            for (field, list) in maps {
                if !list.is_empty() {
                    p.push(field, "mappings cannot be set when joining an existing user namespace");
                }
            }
        }
        Some(None) => {
            for (field, list) in maps {
                if list.is_empty() {
                    p.push(field, "a new user namespace needs mappings");
                }
            }
        }
    }
    for (field, list) in maps {
        for (i, m) in list.iter().enumerate() {
            if m.size() == 0 {
                p.push(format!("{field}[{i}].size"), "must be more than 0");
            }
        }
        bounds::check_id_map_ranges(field, list, p);
    }
}

fn check_devices(spec: &Spec, p: &mut Problems) {
    let devices = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for (i, d) in devices.into_iter().flatten().enumerate() {
        if !is_clean_absolute(d.path()) {
            p.push(
                format!("linux.devices[{i}].path"),
                format!("{:?} must be an absolute path without \"..\"", d.path()),
            );
        }
        if d.typ() == LinuxDeviceType::A {
            p.push(
                format!("linux.devices[{i}].type"),
                "\"a\" is not a device node type (b, c, u, p)",
            );
        }
        if let Some(reason) = d.file_mode().and_then(|mode| file_mode_problem(d.typ(), mode)) {
            p.push(format!("linux.devices[{i}].fileMode"), reason);
        }
    }
}

/// Bits above the permissions are allowed only when they are the node's own file type:
/// podman passes the host node's whole st_mode (0o20666 for a character device), as runc
/// accepts.
fn file_mode_problem(typ: LinuxDeviceType, mode: u32) -> Option<String> {
    let kind = mode & !0o7777;
    let own = match typ {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => return None,
    };
    (kind != 0 && kind != own)
        .then(|| format!("{mode:#o} has bits above 0o7777 that are not the node type's ({own:#o})"))
}

fn check_rootfs_propagation(spec: &Spec, p: &mut Problems) {
    let Some(mode) = spec.linux().as_ref().and_then(|l| l.rootfs_propagation().as_deref()) else {
        return;
    };
    const MODES: &[&str] = &[
        "shared",
        "rshared",
        "slave",
        "rslave",
        "private",
        "rprivate",
        "unbindable",
        "runbindable",
    ];
    if !mode.is_empty() && !MODES.contains(&mode) {
        p.push("linux.rootfsPropagation", format!("{mode:?} is not one of {}", MODES.join(", ")));
    }
}

fn check_masked_readonly_paths(spec: &Spec, p: &mut Problems) {
    let Some(linux) = spec.linux() else { return };
    for (field, list) in
        [("maskedPaths", linux.masked_paths()), ("readonlyPaths", linux.readonly_paths())]
    {
        for (i, path) in list.iter().flatten().enumerate() {
            if !is_clean_absolute(Path::new(path)) {
                p.push(
                    format!("linux.{field}[{i}]"),
                    format!("{path:?} must be an absolute path without \"..\""),
                );
            }
        }
    }
}

/// Actions that take an errno (ERRNO) or a message for the tracer (TRACE).
fn takes_errno(action: LinuxSeccompAction) -> bool {
    matches!(action, LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace)
}

/// The syscalls the init makes between installing a notifying filter and handing its
/// listener on; a notification there would wait for an agent that has no listener yet.
const INIT_SYSCALLS_BEFORE_LISTENER: &[&str] = &["sendmsg"];

fn check_seccomp(spec: &Spec, p: &mut Problems) {
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

fn check_resources(spec: &Spec, p: &mut Problems) {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else { return };
    for (i, d) in r.devices().iter().flatten().enumerate() {
        if let Some(access) = d.access() {
            if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
                p.push(
                    format!("linux.resources.devices[{i}].access"),
                    format!("{access:?} may only hold r, w and m"),
                );
            }
        }
        if matches!(d.typ(), Some(LinuxDeviceType::P)) {
            p.push(
                format!("linux.resources.devices[{i}].type"),
                "a device rule's type is a, b or c",
            );
        }
    }
    if let Some(swappiness) = r.memory().as_ref().and_then(|m| m.swappiness()) {
        // u64::MAX is -1 as the unsigned field holds it: runc's (and dockerd's) "unset".
        if swappiness > 100 && swappiness != u64::MAX {
            p.push("linux.resources.memory.swappiness", format!("{swappiness} is more than 100"));
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let size = h.page_size();
        let ok = size.len() > 2
            && size.ends_with('B')
            && size[..size.len() - 2].bytes().all(|b| b.is_ascii_digit());
        if !ok {
            p.push(
                format!("linux.resources.hugepageLimits[{i}].pageSize"),
                format!("{size:?} is not a page size such as 2MB"),
            );
        }
    }
    for key in r.unified().iter().flatten().map(|(k, _)| k) {
        if key.is_empty() || key.contains('/') || key.starts_with('.') {
            p.push(
                format!("linux.resources.unified.{key}"),
                "must name a file of the cgroup directory",
            );
        }
    }
}

fn check_other_platforms(spec: &Spec, p: &mut Problems) {
    #[allow(deprecated)]
    let other = [
        ("solaris", spec.solaris().is_some()),
        ("windows", spec.windows().is_some()),
        ("vm", spec.vm().is_some()),
        ("zos", spec.zos().is_some()),
        ("uidMappings", spec.uid_mappings().is_some()),
        ("gidMappings", spec.gid_mappings().is_some()),
    ];
    for (field, set) in other {
        if set {
            p.push(field, "is not a field berth applies on Linux");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn base() -> Value {
        json!({
            "ociVersion": "1.2.0",
            "root": { "path": "rootfs" },
            "process": { "args": ["sh"], "cwd": "/", "user": { "uid": 0, "gid": 0 } },
            "linux": { "namespaces": [{ "type": "mount" }] }
        })
    }

    fn spec_of(v: &Value) -> Spec {
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    fn paths_of(v: &Value) -> Vec<String> {
        problems(&spec_of(v))
            .into_iter()
            .map(|e| match e {
                SpecError::Invalid { path, .. } => path,
                other => panic!("not an Invalid error: {other}"),
            })
            .collect()
    }

    /// `base()` with the JSON pointer `at` set to `value` (objects created on the way).
    fn with(at: &str, value: Value) -> Value {
        let mut v = base();
        let mut cur = &mut v;
        for key in at.trim_start_matches('/').split('/') {
            cur = match key.parse::<usize>() {
                Ok(i) => &mut cur[i],
                Err(_) => &mut cur[key],
            };
        }
        *cur = value;
        v
    }

    #[test]
    fn good_configs_pass() {
        let good = [
            base(),
            with("/ociVersion", json!("1.0.2-dev+build.5")),
            with("/process/env", json!(["A=1", "B=", "C==x"])),
            // No mount namespace and nothing that mounts: the runtime's is shared.
            with("/linux/namespaces", json!([{ "type": "pid" }])),
            {
                // A hostname is set inside a UTS namespace joined by path.
                let mut v = with("/hostname", json!("h"));
                v["linux"]["namespaces"] =
                    json!([{ "type": "mount" }, { "type": "uts", "path": "/proc/1/ns/uts" }]);
                v
            },
            with(
                "/process/rlimits",
                json!([{ "type": "RLIMIT_NOFILE", "soft": 10, "hard": 10 },
                       { "type": "RLIMIT_CORE", "soft": 0, "hard": 5 }]),
            ),
            with("/process/capabilities", json!({ "bounding": ["CAP_SYS_ADMIN", "CAP_BPF"] })),
            with("/mounts", json!([{ "destination": "/proc", "type": "proc", "source": "proc" }])),
            with(
                "/linux",
                json!({
                    "namespaces": [{ "type": "mount" }, { "type": "uts" }, { "type": "user" },
                                   { "type": "time" }, { "type": "network", "path": "/run/netns/x" }],
                    "uidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }],
                    "gidMappings": [{ "containerID": 0, "hostID": 0, "size": 4294967295u32 }],
                    "rootfsPropagation": "rslave",
                    "maskedPaths": ["/proc/kcore"],
                    "resources": {},
                    "sysctl": {},
                    "devices": [{ "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229 }]
                }),
            ),
            with("/hooks", json!({ "prestart": [] })),
            with("/process/apparmorProfile", json!("")),
            // podman's --device: the host node's st_mode, S_IFCHR included.
            with(
                "/linux/devices",
                json!([{ "path": "/dev/x", "type": "c", "major": 1, "minor": 3, "fileMode": 0o20666 }]),
            ),
        ];
        for v in good {
            assert_eq!(paths_of(&v), Vec::<String>::new(), "{v}");
        }
    }

    #[test]
    fn bad_configs_name_their_path() {
        let userns = |extra: Value| {
            let mut v = base();
            v["linux"] = json!({ "namespaces": [{ "type": "mount" }, { "type": "user" }] });
            for (k, val) in extra.as_object().unwrap() {
                v["linux"][k] = val.clone();
            }
            v
        };
        let one_map = json!([{ "containerID": 0, "hostID": 1000, "size": 1 }]);
        let bad = [
            (with("/ociVersion", json!("")), "ociVersion"),
            (with("/ociVersion", json!("2.0.0")), "ociVersion"),
            (with("/ociVersion", json!("1.0")), "ociVersion"),
            (with("/ociVersion", json!("1.02.0")), "ociVersion"),
            (with("/root", Value::Null), "root"),
            (with("/root/path", json!("")), "root.path"),
            (with("/process", Value::Null), "process"),
            (with("/process/args", json!([])), "process.args"),
            (with("/process/args", Value::Null), "process.args"),
            (with("/process/args", json!(["", "x"])), "process.args[0]"),
            (with("/process/cwd", json!("home")), "process.cwd"),
            (with("/process/env", json!(["A=1", "NOEQUALS"])), "process.env[1]"),
            (with("/process/env", json!(["=x"])), "process.env[0]"),
            (
                with(
                    "/process/rlimits",
                    json!([{ "type": "RLIMIT_NOFILE", "soft": 2, "hard": 1 }]),
                ),
                "process.rlimits[0].soft",
            ),
            (
                with(
                    "/process/rlimits",
                    json!([{ "type": "RLIMIT_CPU", "soft": 1, "hard": 1 },
                           { "type": "RLIMIT_CPU", "soft": 1, "hard": 1 }]),
                ),
                "process.rlimits[1].type",
            ),
            (with("/process/oomScoreAdj", json!(1001)), "process.oomScoreAdj"),
            (with("/process/user/umask", json!(0o1777)), "process.user.umask"),
            (
                with("/process/consoleSize", json!({ "height": 70000, "width": 80 })),
                "process.consoleSize.height",
            ),
            (with("/process/commandLine", json!("cmd.exe")), "process.commandLine"),
            (
                with(
                    "/mounts",
                    json!([{ "destination": "/ok" }, { "destination": "/ok" }, { "destination": "/ok" }, { "destination": "rel" }]),
                ),
                "mounts[3].destination",
            ),
            (with("/mounts", json!([{ "destination": "/a/../etc" }])), "mounts[0].destination"),
            (
                with(
                    "/linux/namespaces",
                    json!([{ "type": "mount" }, { "type": "pid" }, { "type": "pid" }]),
                ),
                "linux.namespaces[2].type",
            ),
            (
                with("/linux/namespaces", json!([{ "type": "mount", "path": "ns/mnt" }])),
                "linux.namespaces[0].path",
            ),
            (
                with(
                    "/linux",
                    json!({ "namespaces": [{ "type": "pid" }], "maskedPaths": ["/proc/kcore"] }),
                ),
                "linux.maskedPaths",
            ),
            (
                {
                    let mut v =
                        with("/mounts", json!([{ "destination": "/proc", "type": "proc" }]));
                    v["linux"]["namespaces"] = json!([]);
                    v
                },
                "mounts",
            ),
            (
                {
                    let mut v = with("/root/readonly", json!(true));
                    v["linux"]["namespaces"] = json!([{ "type": "pid" }]);
                    v
                },
                "root.readonly",
            ),
            (with("/hostname", json!("h")), "hostname"),
            (with("/domainname", json!("d")), "domainname"),
            (with("/linux/uidMappings", one_map.clone()), "linux.uidMappings"),
            (userns(json!({ "gidMappings": one_map.clone() })), "linux.uidMappings"),
            (
                userns(
                    json!({ "uidMappings": [{ "containerID": 0, "hostID": 1, "size": 0 }], "gidMappings": one_map.clone() }),
                ),
                "linux.uidMappings[0].size",
            ),
            (
                userns(
                    json!({ "uidMappings": one_map.clone(), "gidMappings": [{ "containerID": 4294967295u32, "hostID": 1, "size": 2 }] }),
                ),
                "linux.gidMappings[0]",
            ),
            (
                {
                    let mut v = base();
                    v["linux"] = json!({
                        "namespaces": [{ "type": "mount" }, { "type": "user", "path": "/proc/1/ns/user" }],
                        "uidMappings": one_map.clone()
                    });
                    v
                },
                "linux.uidMappings",
            ),
            (with("/linux/rootfsPropagation", json!("rshared2")), "linux.rootfsPropagation"),
            (
                with(
                    "/linux/devices",
                    json!([{ "path": "dev/null", "type": "c", "major": 1, "minor": 3 }]),
                ),
                "linux.devices[0].path",
            ),
            (
                with("/linux/devices", json!([{ "path": "/dev/x", "type": "a" }])),
                "linux.devices[0].type",
            ),
            (
                with(
                    "/linux/devices",
                    json!([{ "path": "/dev/x", "type": "c", "major": 1, "minor": 3, "fileMode": 0o60666 }]),
                ),
                "linux.devices[0].fileMode",
            ),
            (with("/linux/maskedPaths", json!(["proc/kcore"])), "linux.maskedPaths[0]"),
            (with("/linux/readonlyPaths", json!(["/proc/../sys"])), "linux.readonlyPaths[0]"),
            (with("/annotations", json!({ "": "v" })), "annotations"),
            (
                with(
                    "/linux/resources",
                    json!({ "devices": [{ "allow": false, "access": "rwx" }] }),
                ),
                "linux.resources.devices[0].access",
            ),
            (
                with("/linux/resources", json!({ "memory": { "swappiness": 101 } })),
                "linux.resources.memory.swappiness",
            ),
            (
                with(
                    "/linux/resources",
                    json!({ "hugepageLimits": [{ "pageSize": "2M", "limit": 1 }] }),
                ),
                "linux.resources.hugepageLimits[0].pageSize",
            ),
            (
                with("/linux/resources", json!({ "unified": { "../x": "1" } })),
                "linux.resources.unified.../x",
            ),
        ];
        for (v, path) in bad {
            let paths = paths_of(&v);
            assert!(paths.iter().any(|p| p == path), "{v}: expected {path}, got {paths:?}");
        }
    }

    #[test]
    fn bad_isolation_values_are_refused() {
        let refused = [
            (with("/linux/intelRdt", json!({ "closID": "../x" })), "linux.intelRdt.closID"),
            (
                with("/linux/memoryPolicy", json!({ "mode": "MPOL_BIND", "nodes": "" })),
                "linux.memoryPolicy.nodes",
            ),
            (
                with("/linux/memoryPolicy", json!({ "mode": "MPOL_DEFAULT", "nodes": "0" })),
                "linux.memoryPolicy.nodes",
            ),
            (
                with("/linux/memoryPolicy", json!({ "mode": "MPOL_INTERLEAVE", "nodes": "1-0" })),
                "linux.memoryPolicy.nodes",
            ),
            (with("/linux/netDevices", json!({ "eth/0": {} })), "linux.netDevices.eth/0"),
            (
                with("/linux/netDevices", json!({ "a": { "name": "x" }, "b": { "name": "x" } })),
                "linux.netDevices.b.name",
            ),
            (
                with("/linux/personality", json!({ "domain": "LINUX", "flags": ["BOGUS"] })),
                "linux.personality.flags[0]",
            ),
            (with("/process/apparmorProfile", json!("a\nb")), "process.apparmorProfile"),
            (
                with(
                    "/mounts",
                    json!([{ "destination": "/m", "type": "tmpfs", "uidMappings": [] , "gidMappings": [] }]),
                ),
                "mounts[0].options",
            ),
            (
                with(
                    "/mounts",
                    json!([{ "destination": "/m", "type": "bind", "source": "/", "options": ["idmap"] }]),
                ),
                "mounts[0].uidMappings",
            ),
            (with("/windows", json!({ "layerFolders": [] })), "windows"),
        ];
        for (v, path) in refused {
            let errors = problems(&spec_of(&v));
            let hit =
                errors.iter().any(|e| matches!(e, SpecError::Invalid { path: p, .. } if p == path));
            assert!(hit, "{v}: {path} not refused: {errors:?}");
        }
    }

    #[test]
    fn hooks_are_checked_and_kept() {
        let hook =
            json!({ "path": "/bin/true", "args": ["true", "x"], "env": ["A=b"], "timeout": 5 });
        let v = with("/hooks", json!({ "poststart": [hook], "createRuntime": [{ "path": "/h" }] }));
        assert!(problems(&spec_of(&v)).is_empty());
        let hooks = build_hooks(&spec_of(&v));
        assert_eq!(hooks.poststart[0].args, ["true", "x"]);
        assert_eq!(hooks.poststart[0].timeout, Some(5));
        assert_eq!(hooks.create_runtime[0].path, PathBuf::from("/h"));
        let bad = [
            (with("/hooks", json!({ "poststop": [{ "path": "rel" }] })), "hooks.poststop[0].path"),
            (
                with("/hooks", json!({ "prestart": [{ "path": "/h", "timeout": 0 }] })),
                "hooks.prestart[0].timeout",
            ),
            (
                with("/hooks", json!({ "poststart": [{ "path": "/h", "env": ["NOEQ"] }] })),
                "hooks.poststart[0].env[0]",
            ),
        ];
        for (v, path) in bad {
            assert_eq!(paths_of(&v), [path], "{v}");
        }
    }

    #[test]
    fn sysctls_must_belong_to_an_own_namespace() {
        let with_ns = |sysctl: Value, ns: Value| {
            let mut v = with("/linux/sysctl", sysctl);
            v["linux"]["namespaces"] = ns;
            v
        };
        let own = json!([{ "type": "mount" }, { "type": "network" }, { "type": "ipc" }]);
        let good = with_ns(
            json!({ "net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "9" }),
            own.clone(),
        );
        assert!(paths_of(&good).is_empty(), "{:?}", paths_of(&good));
        let host = json!([{ "type": "mount" }]);
        assert_eq!(
            paths_of(&with_ns(json!({ "net.ipv4.ip_forward": "1" }), host)),
            ["linux.sysctl.net.ipv4.ip_forward"]
        );
        assert_eq!(
            paths_of(&with_ns(json!({ "kernel.panic": "1" }), own.clone())),
            ["linux.sysctl.kernel.panic"]
        );
        assert_eq!(paths_of(&with_ns(json!({ "net..x": "1" }), own)), ["linux.sysctl.net..x"]);
    }

    #[test]
    fn all_problems_are_collected() {
        let mut v = with("/process/cwd", json!("rel"));
        v["ociVersion"] = json!("");
        v["linux"]["intelRdt"] = json!({ "closID": "a/b" });
        assert_eq!(paths_of(&v), ["ociVersion", "process.cwd", "linux.intelRdt.closID"]);
    }

    #[test]
    fn seccomp_profiles_are_checked() {
        let seccomp = |profile: Value| with("/linux/seccomp", profile);
        let good = seccomp(json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath": "/run/agent.sock",
            "syscalls": [
                { "names": ["mkdir", "not_a_syscall_yet"], "action": "SCMP_ACT_NOTIFY" },
                { "names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 7 },
                { "names": ["clone"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }] }
            ]
        }));
        assert_eq!(paths_of(&good), Vec::<String>::new());
        let rule =
            |rule: Value| seccomp(json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule] }));
        let bad = [
            (
                seccomp(json!({ "defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1 })),
                "linux.seccomp.defaultErrnoRet",
            ),
            (
                seccomp(json!({ "defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a" })),
                "linux.seccomp.defaultAction",
            ),
            (
                rule(json!({ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000 })),
                "linux.seccomp.syscalls[0].errnoRet",
            ),
            (
                rule(json!({ "names": ["mkdir"], "action": "SCMP_ACT_LOG", "errnoRet": 1 })),
                "linux.seccomp.syscalls[0].errnoRet",
            ),
            (
                rule(json!({ "names": [], "action": "SCMP_ACT_LOG" })),
                "linux.seccomp.syscalls[0].names",
            ),
            (
                rule(
                    json!({ "names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{ "index": 6, "value": 1, "op": "SCMP_CMP_EQ" }] }),
                ),
                "linux.seccomp.syscalls[0].args[0].index",
            ),
            (
                rule(json!({ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" })),
                "linux.seccomp.listenerPath",
            ),
            (
                seccomp(json!({ "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a",
                                "syscalls": [{ "names": ["sendmsg"], "action": "SCMP_ACT_NOTIFY" }] })),
                "linux.seccomp.syscalls[0].names",
            ),
        ];
        for (v, path) in bad {
            let paths = paths_of(&v);
            assert!(paths.iter().any(|p| p == path), "{v}: expected {path}, got {paths:?}");
        }
    }

    #[test]
    fn build_resolves_values() {
        let mut v = base();
        v["process"]["rlimits"] = json!([{ "type": "RLIMIT_NOFILE", "soft": 5, "hard": 6 }]);
        v["process"]["capabilities"] = json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN"], "ambient": ["NET_RAW", "CAP_KILL"],
            "inheritable": ["CAP_NET_RAW"], "permitted": ["CAP_NET_RAW"]
        });
        v["process"]["terminal"] = json!(true);
        v["process"]["consoleSize"] = json!({ "height": 24, "width": 80 });
        v["linux"]["namespaces"] = json!([{ "type": "mount" }, { "type": "uts" }]);
        v["hostname"] = json!("box");
        let spec = build(spec_of(&v), "/b".into(), "/b/rootfs".into()).unwrap();
        let p = &spec.process;
        assert_eq!(p.rlimits, [Rlimit { resource: libc::RLIMIT_NOFILE as i32, soft: 5, hard: 6 }]);
        let caps = p.capabilities.as_ref().unwrap();
        assert_eq!(caps.bounding, [caps::Capability::CAP_CHOWN, caps::Capability::CAP_KILL]);
        assert_eq!(caps.ambient, [caps::Capability::CAP_NET_RAW]);
        assert!(caps.effective.is_empty());
        assert_eq!(p.console_size, Some(ConsoleSize { height: 24, width: 80 }));
        assert!(spec.creates_namespace(NamespaceKind::Uts));
        assert_eq!(spec.hostname.as_deref(), Some("box"));
        assert!(!spec.root_readonly);
    }
}
