//! `linux.resources` and the other fields that act on the host's resources: `cgroupsPath`,
//! the memory policy, network devices and Intel RDT (`linux.devices` is [`super::devices`]).

use oci_spec::runtime::*;

use super::process::{non_empty, parse_id_list};
use super::root::has_parent_component;
use super::Problems;
use crate::cgroups::values;
use crate::spec::SpecError;

pub(super) fn check_resources(spec: &Spec, p: &mut Problems) {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else { return };
    // The cgroup code's own parse of these values, which it applies.
    for (i, d) in r.devices().iter().flatten().enumerate() {
        let entry = format!("linux.resources.devices[{i}]");
        for problem in values::device_rule(entry.clone(), d).err().into_iter().flatten() {
            let problem = problem.at(&entry);
            p.push(problem.config, problem.reason);
        }
    }
    if let Some(swappiness) = r.memory().as_ref().and_then(|m| m.swappiness()) {
        // u64::MAX is -1 as the unsigned field holds it: runc's (and dockerd's) "unset".
        if swappiness > 100 && swappiness != u64::MAX {
            p.push("linux.resources.memory.swappiness", format!("{swappiness} is more than 100"));
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        if let Err(problem) = values::page_size(h.page_size()) {
            let problem = problem.at(&format!("linux.resources.hugepageLimits[{i}]"));
            p.push(problem.config, problem.reason);
        }
    }
    for key in r.unified().iter().flatten().map(|(k, _)| k) {
        if let Err(problem) = values::unified_file(key) {
            let problem = problem.at(&format!("linux.resources.unified.{key}"));
            p.push(problem.config, problem.reason);
        }
    }
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

pub(super) fn mode_number(mode: MemoryPolicyModeType) -> i32 {
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

pub(super) fn flag_number(flag: MemoryPolicyFlagType) -> i32 {
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

/// Linux's `IFNAMSIZ` less the terminating NUL.
pub(super) const IFNAME_MAX: usize = 15;

pub(super) fn interface_name_problem(name: &str) -> Option<String> {
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

/// The largest `cpu.shares` cgroup v1 accepts (it clamps larger values silently).
pub(super) const MAX_CPU_SHARES: u64 = 262_144;

/// `cpu.cfs_period_us` bounds in microseconds (1 ms ..= 1 s).
pub(super) const CPU_PERIOD_RANGE: std::ops::RangeInclusive<u64> = 1_000..=1_000_000;

/// `blkio.weight` bounds (0 leaves the value unset).
pub(super) const BLKIO_WEIGHT_RANGE: std::ops::RangeInclusive<u16> = 10..=1000;

/// `..` in `linux.cgroupsPath` would place the container beside or above the cgroup it
/// names; runc cleans it away silently, berth refuses it.
pub(super) fn check_cgroups_path(spec: &Spec, p: &mut Problems) {
    let Some(path) = spec.linux().as_ref().and_then(|l| l.cgroups_path().as_ref()) else {
        return;
    };
    if has_parent_component(path) {
        p.push("linux.cgroupsPath", format!("{path:?} must not contain \"..\""));
    }
}

/// The host cgroups a service manager owns: their processes are the host's, and limits
/// written there apply to all of them.
pub(super) const HOST_CGROUPS: &[&str] = &["/", "/system.slice", "/init.scope", "/user.slice"];

/// A warning when `linux.cgroupsPath` names a cgroup the host's service manager owns (its
/// root slices, or any `*.slice`, `*.scope` or `*.service` unit): berth places the container
/// among the host's processes there, and leaves them and the cgroup alone on delete.
pub(super) fn cgroups_path_warning(spec: &Spec) -> Option<SpecError> {
    let path = spec.linux().as_ref().and_then(|l| l.cgroups_path().as_ref())?;
    let text = path.to_str()?;
    let trimmed = text.trim_end_matches('/');
    let unit = |c: &str| [".slice", ".scope", ".service"].iter().any(|s| c.ends_with(s));
    let host = HOST_CGROUPS.contains(&if trimmed.is_empty() { "/" } else { trimmed })
        || trimmed.split('/').any(unit);
    host.then(|| SpecError::Invalid {
        path: "linux.cgroupsPath".into(),
        reason: format!(
            "{text:?} is a cgroup the host's service manager owns: the container shares it \
             with host processes and its limits apply to them too"
        ),
    })
}

/// Numbers of `linux.resources` outside what the kernel takes.
pub(super) fn check_resource_ranges(spec: &Spec, p: &mut Problems) {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else { return };
    check_memory(r, p);
    check_cpu(r, p);
    if let Some(limit) = r.pids().as_ref().map(|pids| pids.limit()) {
        if limit < -1 {
            p.push("linux.resources.pids.limit", format!("{limit} is below -1 (unlimited)"));
        }
    }
    check_block_io(r, p);
}

pub(super) fn check_memory(r: &LinuxResources, p: &mut Problems) {
    let Some(m) = r.memory() else { return };
    #[allow(deprecated)]
    let values = [
        ("limit", m.limit()),
        ("reservation", m.reservation()),
        ("swap", m.swap()),
        ("kernel", m.kernel()),
        ("kernelTCP", m.kernel_tcp()),
    ];
    for (name, value) in values {
        if let Some(v) = value.filter(|v| *v < -1) {
            p.push(
                format!("linux.resources.memory.{name}"),
                format!("{v} is below -1 (unlimited)"),
            );
        }
    }
}

pub(super) fn check_cpu(r: &LinuxResources, p: &mut Problems) {
    let Some(cpu) = r.cpu() else { return };
    if let Some(shares) = cpu.shares().filter(|s| *s > MAX_CPU_SHARES) {
        p.push("linux.resources.cpu.shares", format!("{shares} is more than {MAX_CPU_SHARES}"));
    }
    if let Some(quota) = cpu.quota().filter(|q| *q < -1) {
        p.push("linux.resources.cpu.quota", format!("{quota} is below -1 (unlimited)"));
    }
    if let Some(period) = cpu.period().filter(|v| *v != 0 && !CPU_PERIOD_RANGE.contains(v)) {
        p.push(
            "linux.resources.cpu.period",
            format!("{period} is outside {}..={} microseconds", CPU_PERIOD_RANGE.start(), {
                CPU_PERIOD_RANGE.end()
            }),
        );
    }
}

pub(super) fn check_block_io(r: &LinuxResources, p: &mut Problems) {
    let Some(io) = r.block_io() else { return };
    let mut weights = vec![
        ("linux.resources.blockIO.weight".to_owned(), io.weight()),
        ("linux.resources.blockIO.leafWeight".to_owned(), io.leaf_weight()),
    ];
    for (i, d) in io.weight_device().iter().flatten().enumerate() {
        weights.push((format!("linux.resources.blockIO.weightDevice[{i}].weight"), d.weight()));
        let leaf = d.leaf_weight();
        weights.push((format!("linux.resources.blockIO.weightDevice[{i}].leafWeight"), leaf));
    }
    for (at, weight) in weights {
        if let Some(w) = weight.filter(|w| *w != 0 && !BLKIO_WEIGHT_RANGE.contains(w)) {
            let (lo, hi) = (BLKIO_WEIGHT_RANGE.start(), BLKIO_WEIGHT_RANGE.end());
            p.push(at, format!("{w} is outside {lo}..={hi}"));
        }
    }
}
