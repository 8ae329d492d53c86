//! Checks and values of the isolation fields that act on the host's resources: CPU affinity
//! of `exec`, the memory policy, personality flags, network devices, Intel RDT, LSM labels and
//! id-mapped mounts. Like the other checks they never touch the system; whether the host can
//! honour a field (an LSM, resctrl) is decided where it is applied.

use oci_spec::runtime::{
    LinuxIdMapping, LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Mount, Spec,
};

use super::validate::Problems;
use super::IdMap;

/// The largest CPU or NUMA node number accepted in a list (`CPU_SETSIZE` - 1).
const MAX_LIST_ID: u32 = 1023;

/// `process.execCPUAffinity`: the CPUs of an `exec`ed process before and after it joins
/// the container's cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecAffinity {
    /// `initial`: the runtime runs on these CPUs while it sets the process up.
    pub initial: Option<Vec<u32>>,
    /// `final`: the process's CPUs right before execve.
    pub last: Option<Vec<u32>>,
}

/// `linux.memoryPolicy`, as set_mempolicy(2) takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPolicy {
    /// `MPOL_*` mode.
    pub mode: i32,
    /// `MPOL_F_*` mode flags.
    pub flags: i32,
    /// The node numbers of the nodemask.
    pub nodes: Vec<u32>,
}

/// One `linux.netDevices` entry: a host interface and its name inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevice {
    /// The interface's name in the runtime's network namespace.
    pub host_name: String,
    /// Its name in the container (the host name when the entry gives none).
    pub name: String,
}

/// Parses a list like `0-3,7` into sorted, distinct ids no larger than [`MAX_LIST_ID`].
fn parse_id_list(list: &str) -> Result<Vec<u32>, String> {
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

fn parse_id(s: &str, list: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(id) if id <= MAX_LIST_ID => Ok(id),
        Ok(id) => Err(format!("{list:?}: {id} is more than {MAX_LIST_ID}")),
        Err(_) => Err(format!("{list:?} is not a list like \"0-3,7\"")),
    }
}

/// A list field that is present: `None` when it is empty (the spec's "not set").
fn non_empty(s: &Option<String>) -> Option<&str> {
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

fn mode_number(mode: MemoryPolicyModeType) -> i32 {
    match mode {
        MemoryPolicyModeType::MpolDefault => 0,
        MemoryPolicyModeType::MpolPreferred => 1,
        MemoryPolicyModeType::MpolBind => 2,
        MemoryPolicyModeType::MpolInterleave => 3,
        MemoryPolicyModeType::MpolLocal => 4,
        MemoryPolicyModeType::MpolPreferredMany => 5,
        MemoryPolicyModeType::MpolWeightedInterleave => 6,
    }
}

fn flag_number(flag: MemoryPolicyFlagType) -> i32 {
    match flag {
        MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
        MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
        MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
    }
}

pub(super) fn check_memory_policy(spec: &Spec, p: &mut Problems) {
    let Some(policy) = spec.linux().as_ref().and_then(|l| l.memory_policy().as_ref()) else {
        return;
    };
    let nodes = match non_empty(policy.nodes()).map(parse_id_list) {
        Some(Err(reason)) => return p.push("linux.memoryPolicy.nodes", reason),
        Some(Ok(nodes)) => nodes,
        None => Vec::new(),
    };
    let mode = policy.mode();
    let takes_no_nodes =
        matches!(mode, MemoryPolicyModeType::MpolDefault | MemoryPolicyModeType::MpolLocal);
    let needs_nodes = !takes_no_nodes && mode != MemoryPolicyModeType::MpolPreferred;
    if takes_no_nodes && !nodes.is_empty() {
        p.push("linux.memoryPolicy.nodes", format!("{mode} takes no nodes"));
    } else if needs_nodes && nodes.is_empty() {
        p.push("linux.memoryPolicy.nodes", format!("{mode} needs at least one node"));
    }
    let flags = policy.flags().as_deref().unwrap_or_default();
    let static_and_relative = flags.contains(&MemoryPolicyFlagType::MpolFStaticNodes)
        && flags.contains(&MemoryPolicyFlagType::MpolFRelativeNodes);
    if static_and_relative {
        p.push(
            "linux.memoryPolicy.flags",
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
        );
    }
    if takes_no_nodes && !flags.is_empty() {
        p.push("linux.memoryPolicy.flags", format!("{mode} takes no flags"));
    }
}

pub(super) fn build_memory_policy(policy: &LinuxMemoryPolicy) -> MemoryPolicy {
    MemoryPolicy {
        mode: mode_number(policy.mode()),
        flags: policy.flags().iter().flatten().fold(0, |acc, f| acc | flag_number(*f)),
        nodes: non_empty(policy.nodes()).and_then(|l| parse_id_list(l).ok()).unwrap_or_default(),
    }
}

/// The personality(2) flags a config may name, by their kernel names.
const PERSONALITY_FLAGS: &[(&str, u64)] = &[
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

fn personality_flag(name: &str) -> Option<u64> {
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

/// Linux's `IFNAMSIZ` less the terminating NUL.
const IFNAME_MAX: usize = 15;

fn interface_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > IFNAME_MAX {
        return Some(format!("{name:?} must be 1 to {IFNAME_MAX} bytes"));
    }
    let bad = |c: char| c == '/' || c == ':' || c.is_whitespace() || c.is_control();
    if name == "." || name == ".." || name.contains(bad) {
        return Some(format!("{name:?} is not a valid interface name"));
    }
    None
}

pub(super) fn check_net_devices(spec: &Spec, p: &mut Problems) {
    let Some(linux) = spec.linux() else { return };
    let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else { return };
    let has_net_ns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|ns| ns.typ() == oci_spec::runtime::LinuxNamespaceType::Network);
    if !has_net_ns {
        p.push("linux.netDevices", "needs a network namespace (linux.namespaces has none)");
    }
    let mut names = std::collections::HashSet::new();
    let mut sorted: Vec<_> = devices.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (host, device) in sorted {
        if let Some(reason) = interface_name_problem(host) {
            p.push(format!("linux.netDevices.{host}"), reason);
        }
        let name = device.name().as_deref().filter(|n| !n.is_empty()).unwrap_or(host);
        if let Some(reason) = interface_name_problem(name) {
            p.push(format!("linux.netDevices.{host}.name"), reason);
        } else if !names.insert(name) {
            p.push(format!("linux.netDevices.{host}.name"), format!("{name:?} is used twice"));
        }
    }
}

pub(super) fn build_net_devices(spec: &Spec) -> Vec<NetDevice> {
    let Some(devices) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Vec::new();
    };
    let mut out: Vec<NetDevice> = devices
        .iter()
        .map(|(host, d)| NetDevice {
            host_name: host.clone(),
            name: d.name().clone().filter(|n| !n.is_empty()).unwrap_or_else(|| host.clone()),
        })
        .collect();
    out.sort_by(|a, b| a.host_name.cmp(&b.host_name));
    out
}

pub(super) fn check_intel_rdt(spec: &Spec, p: &mut Problems) {
    let Some(rdt) = spec.linux().as_ref().and_then(|l| l.intel_rdt().as_ref()) else { return };
    if let Some(clos) = rdt.clos_id() {
        if clos.is_empty() || clos == "." || clos == ".." || clos.contains('/') {
            p.push("linux.intelRdt.closID", format!("{clos:?} is not a resctrl group name"));
        }
    }
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

/// What an id-mapped mount maps: the mount's own maps, or the container's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountIdMaps {
    /// uid maps.
    pub uids: Vec<IdMap>,
    /// gid maps.
    pub gids: Vec<IdMap>,
    /// `ridmap`: submounts are id-mapped too.
    pub recursive: bool,
}

fn maps(list: &[LinuxIdMapping]) -> Vec<IdMap> {
    list.iter()
        .map(|m| IdMap { container_id: m.container_id(), host_id: m.host_id(), size: m.size() })
        .collect()
}

fn wants_idmap(m: &Mount) -> Option<bool> {
    let options = m.options().as_deref().unwrap_or_default();
    let recursive = options.iter().any(|o| o == "ridmap");
    let asked = recursive || options.iter().any(|o| o == "idmap");
    let mapped = m.uid_mappings().is_some() || m.gid_mappings().is_some();
    (asked || mapped).then_some(recursive)
}

pub(super) fn check_mount_idmaps(spec: &Spec, p: &mut Problems) {
    let linux = spec.linux().as_ref();
    let container_maps = linux.is_some_and(|l| l.uid_mappings().is_some());
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if wants_idmap(m).is_none() {
            continue;
        }
        let is_bind = m.typ().as_deref() == Some("bind")
            || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind");
        if !is_bind {
            p.push(format!("mounts[{i}].options"), "id-mapped mounts must be bind mounts");
        }
        match (m.uid_mappings(), m.gid_mappings()) {
            (Some(u), Some(g)) => {
                for (field, list) in [("uidMappings", u), ("gidMappings", g)] {
                    if list.is_empty() || list.iter().any(|m| m.size() == 0) {
                        p.push(format!("mounts[{i}].{field}"), "needs entries of non-zero size");
                    }
                    super::bounds::check_id_map_ranges(&format!("mounts[{i}].{field}"), list, p);
                }
            }
            (None, None) if container_maps => {}
            (None, None) => p.push(
                format!("mounts[{i}].uidMappings"),
                "idmap needs uidMappings and gidMappings (here or in a user namespace's linux.uidMappings)",
            ),
            (None, Some(_)) => p.push(format!("mounts[{i}].uidMappings"), "missing: gidMappings is set"),
            (Some(_), None) => p.push(format!("mounts[{i}].gidMappings"), "missing: uidMappings is set"),
        }
    }
}

/// The id maps of `mounts[i]`, when it is id-mapped (a spec that passed the checks).
pub(super) fn build_mount_idmaps(spec: &Spec) -> Vec<Option<MountIdMaps>> {
    let linux = spec.linux().as_ref();
    let container = |get: fn(&oci_spec::runtime::Linux) -> &Option<Vec<LinuxIdMapping>>| {
        linux.and_then(|l| get(l).as_deref()).map(maps).unwrap_or_default()
    };
    spec.mounts()
        .iter()
        .flatten()
        .map(|m| {
            let recursive = wants_idmap(m)?;
            let (uids, gids) = match (m.uid_mappings(), m.gid_mappings()) {
                (Some(u), Some(g)) => (maps(u), maps(g)),
                _ => (container(|l| l.uid_mappings()), container(|l| l.gid_mappings())),
            };
            Some(MountIdMaps { uids, gids, recursive })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists() {
        assert_eq!(parse_id_list("0-3,7").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_id_list("1,1, 0").unwrap(), vec![0, 1]);
        assert!(parse_id_list("3-1").unwrap_err().contains("backwards"));
        assert!(parse_id_list("x").is_err());
        assert!(parse_id_list("0,").is_err());
        assert!(parse_id_list("1024").unwrap_err().contains("1023"));
    }

    #[test]
    fn personality_flags_by_name() {
        let flags = vec!["ADDR_NO_RANDOMIZE".to_string(), "UNAME26".to_string()];
        assert_eq!(personality_flag_bits(Some(&flags)), 0x0060000);
        assert_eq!(personality_flag("BOGUS"), None);
    }

    #[test]
    fn interface_names() {
        assert!(interface_name_problem("eth0").is_none());
        assert!(interface_name_problem("").is_some());
        assert!(interface_name_problem("a/b").is_some());
        assert!(interface_name_problem("0123456789abcdef").is_some());
    }
}
