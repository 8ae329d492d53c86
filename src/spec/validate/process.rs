//! `process`: argv, cwd, env, user ids, rlimits, capabilities, scheduling, CPU affinity of
//! `exec`, LSM label text, and `linux.personality` (how the process runs).

use std::collections::HashSet;
use std::path::{Component, Path};
use std::str::FromStr;

use oci_spec::runtime::*;

use super::{invalid, Problems};
use crate::spec::{CapabilitySets, ConsoleSize, Rlimit, SpecError, ValidProcess};

pub(super) fn build_process(p: &Process) -> Result<ValidProcess, SpecError> {
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
        exec_cpu_affinity: build_exec_affinity(p),
        apparmor_profile: p.apparmor_profile().clone().filter(|l| !l.is_empty()),
        selinux_label: p.selinux_label().clone().filter(|l| !l.is_empty()),
    })
}

pub(super) fn sched_attr(s: &Scheduler) -> crate::sys::process::SchedAttr {
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

pub(super) fn check_scheduling(spec: &Spec, p: &mut Problems) {
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

pub(super) fn capability_sets(c: &LinuxCapabilities) -> Result<CapabilitySets, SpecError> {
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
pub(super) fn keep_raisable_ambient(sets: &mut CapabilitySets) {
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
pub(super) fn capability(cap: &oci_spec::runtime::Capability) -> Result<caps::Capability, String> {
    let name = serde_json::to_value(cap)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{cap:?}"));
    caps::Capability::from_str(&name)
        .map_err(|_| format!("capability {name} is not known to berth"))
}

/// The kernel's resource number for an rlimit type.
pub(super) fn rlimit_resource(typ: PosixRlimitType) -> i32 {
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

pub(super) fn check_process(spec: &Spec, p: &mut Problems) {
    let Some(process) = spec.process() else {
        p.push("process", "missing");
        return;
    };
    match process.args().as_deref() {
        None | Some([]) => p.push("process.args", "must name the program to run"),
        Some([first, ..]) if first.is_empty() => p.push("process.args[0]", "must not be empty"),
        Some(_) => {}
    }
    if let Some(reason) = cwd_problem(process.cwd()).filter(|_| !process.cwd().is_absolute()) {
        p.push("process.cwd", format!("{:?} {reason}", process.cwd()));
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

pub(super) fn check_env(spec: &Spec, p: &mut Problems) {
    let Some(process) = spec.process() else { return };
    for (i, entry) in process.env().iter().flatten().enumerate() {
        match env_problem(entry) {
            Some(EnvProblem::Nul) => p.push(format!("process.env[{i}]"), "contains a NUL byte"),
            Some(problem) => p.push(format!("process.env[{i}]"), format!("{entry:?} {problem}")),
            None => {}
        }
    }
}

/// What is wrong with an environment entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvProblem {
    /// No `=`.
    #[error("is not KEY=VALUE")]
    NotKeyValue,
    /// `=VALUE`.
    #[error("has an empty name")]
    EmptyName,
    /// A NUL byte (execve would cut the entry short).
    #[error("contains a NUL byte")]
    Nul,
}

/// Why `entry` cannot be an entry of a process's environment (the rule of `process.env` and
/// of `exec --env`); None when it can.
pub fn env_problem(entry: &str) -> Option<EnvProblem> {
    match entry.find('=') {
        None => Some(EnvProblem::NotKeyValue),
        Some(0) => Some(EnvProblem::EmptyName),
        Some(_) if entry.contains('\0') => Some(EnvProblem::Nul),
        Some(_) => None,
    }
}

/// Why `cwd` cannot be a process's working directory (the rule of `process.cwd` and of
/// `exec --cwd`); None when it can.
pub fn cwd_problem(cwd: &Path) -> Option<&'static str> {
    if !cwd.is_absolute() {
        return Some("must be an absolute path");
    }
    is_under_proc(cwd).then_some("is inside /proc, which can lead outside the container")
}

pub(super) fn check_rlimits(spec: &Spec, p: &mut Problems) {
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

pub(super) fn check_capabilities(spec: &Spec, p: &mut Problems) {
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

/// The largest CPU or NUMA node number accepted in a list (`CPU_SETSIZE` - 1).
pub(super) const MAX_LIST_ID: u32 = 1023;

/// `process.execCPUAffinity`: the CPUs of an `exec`ed process before and after it joins
/// the container's cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecAffinity {
    /// `initial`: the runtime runs on these CPUs while it sets the process up.
    pub initial: Option<Vec<u32>>,
    /// `final`: the process's CPUs right before execve.
    pub last: Option<Vec<u32>>,
}

/// Parses a list like `0-3,7` into sorted, distinct ids no larger than [`MAX_LIST_ID`].
pub(super) fn parse_id_list(list: &str) -> Result<Vec<u32>, String> {
    let mut ids = Vec::new();
    for part in list.split(',') {
        let part = part.trim();
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (parse_id(a, list)?, parse_id(b, list)?),
            None => {
                let id = parse_id(part, list)?;
                (id, id)
            }
        };
        if first > last {
            return Err(format!("{list:?}: range {part:?} runs backwards"));
        }
        ids.extend(first..=last);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

pub(super) fn parse_id(s: &str, list: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(id) if id <= MAX_LIST_ID => Ok(id),
        Ok(id) => Err(format!("{list:?}: {id} is more than {MAX_LIST_ID}")),
        Err(_) => Err(format!("{list:?} is not a list like \"0-3,7\"")),
    }
}

/// A list field that is present: `None` when it is empty (the spec's "not set").
pub(super) fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub(super) fn check_exec_cpu_affinity(spec: &Spec, p: &mut Problems) {
    let Some(affinity) = spec.process().as_ref().and_then(|p| p.exec_cpu_affinity().as_ref())
    else {
        return;
    };
    let fields = [("initial", affinity.initial()), ("final", affinity.cpu_affinity_final())];
    for (name, value) in fields {
        if let Some(list) = non_empty(value) {
            if let Err(reason) = parse_id_list(list) {
                p.push(format!("process.execCPUAffinity.{name}"), reason);
            }
        }
    }
}

pub(super) fn build_exec_affinity(process: &oci_spec::runtime::Process) -> Option<ExecAffinity> {
    let a = process.exec_cpu_affinity().as_ref()?;
    let list = |v: &Option<String>| non_empty(v).and_then(|l| parse_id_list(l).ok());
    let built = ExecAffinity { initial: list(a.initial()), last: list(a.cpu_affinity_final()) };
    (built != ExecAffinity::default()).then_some(built)
}

/// The personality(2) flags a config may name, by their kernel names.
pub(super) const PERSONALITY_FLAGS: &[(&str, u64)] = &[
    ("UNAME26", 0x0020000),
    ("ADDR_NO_RANDOMIZE", 0x0040000),
    ("FDPIC_FUNCPTRS", 0x0080000),
    ("MMAP_PAGE_ZERO", 0x0100000),
    ("ADDR_COMPAT_LAYOUT", 0x0200000),
    ("READ_IMPLIES_EXEC", 0x0400000),
    ("ADDR_LIMIT_32BIT", 0x0800000),
    ("SHORT_INODE", 0x1000000),
    ("WHOLE_SECONDS", 0x2000000),
    ("STICKY_TIMEOUTS", 0x4000000),
    ("ADDR_LIMIT_3GB", 0x8000000),
];

pub(super) fn personality_flag(name: &str) -> Option<u64> {
    PERSONALITY_FLAGS.iter().find(|(n, _)| *n == name).map(|(_, bits)| *bits)
}

pub(super) fn check_personality_flags(spec: &Spec, p: &mut Problems) {
    let Some(persona) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) else {
        return;
    };
    for (i, flag) in persona.flags().iter().flatten().enumerate() {
        if personality_flag(flag).is_none() {
            let known: Vec<&str> = PERSONALITY_FLAGS.iter().map(|(n, _)| *n).collect();
            p.push(
                format!("linux.personality.flags[{i}]"),
                format!("{flag:?} is not a personality flag (one of {})", known.join(", ")),
            );
        }
    }
}

/// The flag bits of `linux.personality.flags`, to be OR-ed into the persona.
pub(super) fn personality_flag_bits(flags: Option<&Vec<String>>) -> u64 {
    flags.into_iter().flatten().filter_map(|f| personality_flag(f)).fold(0, |acc, b| acc | b)
}

pub(super) fn check_lsm_labels(spec: &Spec, p: &mut Problems) {
    let process = spec.process().as_ref();
    let labels = [
        ("process.apparmorProfile", process.and_then(|p| p.apparmor_profile().as_deref())),
        ("process.selinuxLabel", process.and_then(|p| p.selinux_label().as_deref())),
        ("linux.mountLabel", spec.linux().as_ref().and_then(|l| l.mount_label().as_deref())),
    ];
    for (path, label) in labels {
        if label.is_some_and(|l| l.contains(['\0', '\n'])) {
            p.push(path, "must not contain NUL or newline");
        }
    }
}

/// The largest uid or gid a process may run as, as runc allows: (uid_t)-1 tells setresuid(2)
/// and setresgid(2) to leave the id unchanged, so a process given 4294967295 would keep
/// running as root with the container's capabilities, and ids above this are negative to
/// parts of the kernel and libc.
pub const MAX_ID: u32 = i32::MAX as u32;

/// NGROUPS_MAX: the most supplementary groups setgroups(2) takes.
pub(super) const MAX_GROUPS: usize = 65_536;

/// Why `id` cannot be a process's uid or gid, if it cannot.
pub fn id_out_of_range(id: u32) -> Option<String> {
    (id > MAX_ID).then(|| format!("{id} is outside 0..={MAX_ID}"))
}

/// `process.user` ids a process can really switch to (see [`MAX_ID`]), and no more
/// supplementary groups than the kernel takes.
pub(super) fn check_process_ids(spec: &Spec, p: &mut Problems) {
    let Some(user) = spec.process().as_ref().map(|p| p.user()) else { return };
    for (at, id) in [("process.user.uid", user.uid()), ("process.user.gid", user.gid())] {
        if let Some(reason) = id_out_of_range(id) {
            p.push(at, reason);
        }
    }
    let gids = user.additional_gids().as_deref().unwrap_or_default();
    if gids.len() > MAX_GROUPS {
        p.push(
            "process.user.additionalGids",
            format!("{} entries; the kernel takes at most {MAX_GROUPS}", gids.len()),
        );
        return;
    }
    if let Some((i, reason)) =
        gids.iter().enumerate().find_map(|(i, g)| Some((i, id_out_of_range(*g)?)))
    {
        p.push(format!("process.user.additionalGids[{i}]"), reason);
    }
}

/// A working directory under /proc/<pid>/ can be a magic link to a descriptor or directory
/// of another mount namespace (CVE-2024-21626); no real workload needs one.
pub(super) fn check_cwd_not_in_proc(spec: &Spec, p: &mut Problems) {
    let Some(process) = spec.process() else { return };
    // A relative cwd is check_process's.
    if let Some(reason) = cwd_problem(process.cwd()).filter(|_| process.cwd().is_absolute()) {
        p.push("process.cwd", format!("{:?} {reason}", process.cwd()));
    }
}

/// Whether `path` names something below /proc (where magic links lead out of the container).
pub fn is_under_proc(path: &Path) -> bool {
    let mut parts = path.components().filter(|c| *c != Component::CurDir);
    parts.next() == Some(Component::RootDir)
        && parts.next() == Some(Component::Normal("proc".as_ref()))
        && parts.next().is_some()
}
