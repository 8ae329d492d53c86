//! cgroup v1: each resource written to its controller's file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::devices::DeviceState;
use super::values;
use super::{open_for_write, read_trimmed, write_file, write_value, CgroupError, DeviceRule};

/// The directory of `controller`, or why a value for it cannot be applied.
fn dir<'a>(
    paths: &'a BTreeMap<String, PathBuf>,
    controller: &str,
    file: &str,
    config: &str,
) -> Result<&'a Path, CgroupError> {
    paths.get(controller).map(PathBuf::as_path).ok_or_else(|| CgroupError::Unavailable {
        config: config.to_owned(),
        file: file.into(),
        reason: format!("the {controller} controller is not mounted on this host"),
    })
}

/// Writes `value` to `controller`'s `file`.
fn set(
    paths: &BTreeMap<String, PathBuf>,
    controller: &str,
    file: &str,
    value: &str,
    config: &str,
) -> Result<(), CgroupError> {
    write_file(dir(paths, controller, file, config)?, file, value, config)
}

/// A new cpuset starts with no cpus and no mems; copy each empty one from the parent
/// (filling the parent first when it was just created too).
pub(super) fn inherit_cpuset(dir: &Path) -> Result<(), CgroupError> {
    let Some(parent) = dir.parent() else { return Ok(()) };
    if !parent.join("cpuset.cpus").exists() {
        return Ok(());
    }
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read_trimmed(&dir.join(file))?.is_empty() {
            let mut value = read_trimmed(&parent.join(file))?;
            if value.is_empty() {
                inherit_cpuset(parent)?;
                value = read_trimmed(&parent.join(file))?;
            }
            write_file(dir, file, &value, "linux.cgroupsPath")?;
        }
    }
    Ok(())
}

/// Applies every resource the config sets.
pub(super) fn apply(
    paths: &BTreeMap<String, PathBuf>,
    r: &LinuxResources,
    rules: &[DeviceRule],
    update: bool,
) -> Result<(), CgroupError> {
    match update.then(|| minimal_changes(paths, rules)).flatten() {
        Some(changes) => devices(paths, &changes)?,
        None => devices(paths, rules)?,
    }
    memory(paths, r, update)?;
    cpu(paths, r)?;
    if let Some(pids) = r.pids() {
        let v = if pids.limit() > 0 { pids.limit().to_string() } else { "max".into() };
        set(paths, "pids", "pids.max", &v, "linux.resources.pids.limit")?;
    }
    blkio(paths, r)?;
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let config = format!("linux.resources.hugepageLimits[{i}]");
        let size = values::page_size(h.page_size()).map_err(|p| p.at(&config))?;
        let file = format!("hugetlb.{size}.limit_in_bytes");
        set(paths, "hugetlb", &file, &h.limit().to_string(), &config)?;
    }
    if let Some(net) = r.network() {
        if let Some(id) = net.class_id() {
            set(
                paths,
                "net_cls",
                "net_cls.classid",
                &id.to_string(),
                "linux.resources.network.classID",
            )?;
        }
        for (i, p) in net.priorities().iter().flatten().enumerate() {
            let line = format!("{} {}", p.name(), p.priority());
            set(
                paths,
                "net_prio",
                "net_prio.ifpriomap",
                &line,
                &format!("linux.resources.network.priorities[{i}]"),
            )?;
        }
    }
    for (device, line) in super::v2::rdma_lines(r) {
        set(paths, "rdma", "rdma.max", &line, &format!("linux.resources.rdma.{device}"))?;
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(CgroupError::Invalid {
            config: "linux.resources.unified".into(),
            reason: "needs cgroup v2, and this host uses cgroup v1".into(),
        });
    }
    Ok(())
}

/// For a running container: the writes that take its devices cgroup to `rules` by their
/// difference, when the current and the wanted state both deny by default (the usual
/// case). Writing the list again from its deny-everything rule would deny, for a moment,
/// devices the container is using and keeps (/dev/null among them). None otherwise.
fn minimal_changes(
    paths: &BTreeMap<String, PathBuf>,
    rules: &[DeviceRule],
) -> Option<Vec<DeviceRule>> {
    let target = DeviceState::from_rules(rules)?;
    let list = read_trimmed(&paths.get("devices")?.join("devices.list")).ok()?;
    DeviceState::from_list(&list)?.changes_to(&target)
}

/// Each rule in one write of its own (the kernel takes one a write), through one open file
/// each of devices.allow and devices.deny.
fn devices(paths: &BTreeMap<String, PathBuf>, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let mut open: [Option<(PathBuf, std::fs::File)>; 2] = [None, None];
    for rule in rules {
        let file = if rule.allow { "devices.allow" } else { "devices.deny" };
        let line = rule.v1_line();
        let slot = &mut open[usize::from(rule.allow)];
        let (path, f) = match slot {
            Some(entry) => entry,
            None => {
                let path = dir(paths, "devices", file, &rule.config)?.join(file);
                let f = open_for_write(&path, &line, &rule.config)?;
                slot.insert((path, f))
            }
        };
        write_value(f, path, &line, &rule.config)?;
    }
    Ok(())
}

fn memory(
    paths: &BTreeMap<String, PathBuf>,
    r: &LinuxResources,
    update: bool,
) -> Result<(), CgroupError> {
    let Some(m) = r.memory() else { return Ok(()) };
    const LIMIT: &str = "memory.limit_in_bytes";
    const MEMSW: &str = "memory.memsw.limit_in_bytes";
    if update && m.check_before_update() == Some(true) {
        if let Some(limit) = m.limit().filter(|l| *l > 0) {
            let d = dir(paths, "memory", LIMIT, "linux.resources.memory.limit")?;
            let usage: i64 = read_trimmed(&d.join("memory.usage_in_bytes"))?.parse().unwrap_or(0);
            if limit < usage {
                return Err(CgroupError::Invalid {
                    config: "linux.resources.memory.limit".into(),
                    reason: format!(
                        "{limit} is below the current usage {usage} (checkBeforeUpdate)"
                    ),
                });
            }
        }
    }
    // As runc: unlimited memory with swap unset makes memory+swap unlimited too.
    let memsw_exists = paths.get("memory").is_some_and(|d| d.join(MEMSW).exists());
    let swap = match (m.limit(), m.swap()) {
        (Some(-1), None) if memsw_exists => Some(-1),
        (_, swap) => swap,
    };
    let limit = m.limit().map(|v| (LIMIT, v.to_string(), "linux.resources.memory.limit"));
    let swap_entry = swap.map(|v| (MEMSW, v.to_string(), "linux.resources.memory.swap"));
    // memory+swap may never be below memory: raise memsw first when it grows.
    let swap_first = match (m.limit(), swap) {
        (Some(_), Some(s)) => {
            let d = dir(paths, "memory", MEMSW, "linux.resources.memory.swap")?;
            let current: u64 =
                read_trimmed(&d.join(MEMSW)).ok().and_then(|v| v.parse().ok()).unwrap_or(u64::MAX);
            s == -1 || u64::try_from(s).is_ok_and(|s| s > current)
        }
        _ => false,
    };
    let ordered = if swap_first { [swap_entry, limit] } else { [limit, swap_entry] };
    for (file, value, config) in ordered.into_iter().flatten() {
        set(paths, "memory", file, &value, config)?;
    }
    if let Some(v) = m.reservation() {
        set(
            paths,
            "memory",
            "memory.soft_limit_in_bytes",
            &v.to_string(),
            "linux.resources.memory.reservation",
        )?;
    }
    if let Some(v) = m.swappiness() {
        set(
            paths,
            "memory",
            "memory.swappiness",
            &v.to_string(),
            "linux.resources.memory.swappiness",
        )?;
    }
    if let Some(v) = m.disable_oom_killer() {
        set(
            paths,
            "memory",
            "memory.oom_control",
            if v { "1" } else { "0" },
            "linux.resources.memory.disableOOMKiller",
        )?;
    }
    Ok(())
}

fn cpu(paths: &BTreeMap<String, PathBuf>, r: &LinuxResources) -> Result<(), CgroupError> {
    let Some(c) = r.cpu() else { return Ok(()) };
    let period = ("cpu", "cpu.cfs_period_us", c.period().map(|v| v.to_string()), "period");
    let quota = ("cpu", "cpu.cfs_quota_us", c.quota().map(|v| v.to_string()), "quota");
    let [first, second] =
        if period_shrinks(paths, c.period()) { [quota, period] } else { [period, quota] };
    let values = [
        ("cpu", "cpu.shares", c.shares().map(|v| v.to_string()), "shares"),
        first,
        second,
        ("cpu", "cpu.cfs_burst_us", c.burst().map(|v| v.to_string()), "burst"),
        ("cpu", "cpu.rt_period_us", c.realtime_period().map(|v| v.to_string()), "realtimePeriod"),
        (
            "cpu",
            "cpu.rt_runtime_us",
            c.realtime_runtime().map(|v| v.to_string()),
            "realtimeRuntime",
        ),
        ("cpu", "cpu.idle", c.idle().map(|v| v.to_string()), "idle"),
        ("cpuset", "cpuset.cpus", c.cpus().clone().filter(|s| !s.is_empty()), "cpus"),
        ("cpuset", "cpuset.mems", c.mems().clone().filter(|s| !s.is_empty()), "mems"),
    ];
    for (controller, file, value, field) in values {
        if let Some(value) = value {
            set(paths, controller, file, &value, &format!("linux.resources.cpu.{field}"))?;
        }
    }
    Ok(())
}

/// Whether the new CFS period is smaller than the current one. The kernel checks a quota (and
/// the parent's limit) against the period in force at the time of the write, so a shrinking
/// period must follow its new quota and a growing one precede it: either way the intermediate
/// quota/period ratio stays below the final one.
fn period_shrinks(paths: &BTreeMap<String, PathBuf>, new: Option<u64>) -> bool {
    let (Some(new), Some(dir)) = (new, paths.get("cpu")) else { return false };
    read_trimmed(&dir.join("cpu.cfs_period_us"))
        .ok()
        .and_then(|cur| cur.parse::<u64>().ok())
        .is_some_and(|cur| new < cur)
}

fn blkio(paths: &BTreeMap<String, PathBuf>, r: &LinuxResources) -> Result<(), CgroupError> {
    let Some(b) = r.block_io() else { return Ok(()) };
    // The CFQ files are gone from kernels with only BFQ; BFQ's take the same values.
    let weight_file = |plain: &'static str, bfq: &'static str| -> &'static str {
        match paths.get("blkio") {
            Some(d) if !d.join(plain).exists() && d.join(bfq).exists() => bfq,
            _ => plain,
        }
    };
    if let Some(w) = b.weight() {
        let file = weight_file("blkio.weight", "blkio.bfq.weight");
        set(paths, "blkio", file, &w.to_string(), "linux.resources.blockIO.weight")?;
    }
    if let Some(w) = b.leaf_weight() {
        set(
            paths,
            "blkio",
            "blkio.leaf_weight",
            &w.to_string(),
            "linux.resources.blockIO.leafWeight",
        )?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let config = format!("linux.resources.blockIO.weightDevice[{i}]");
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let file = weight_file("blkio.weight_device", "blkio.bfq.weight_device");
            set(paths, "blkio", file, &format!("{}:{} {w}", d.major(), d.minor()), &config)?;
        }
        if let Some(w) = d.leaf_weight().filter(|w| *w != 0) {
            set(
                paths,
                "blkio",
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", d.major(), d.minor()),
                &config,
            )?;
        }
    }
    let throttles = [
        ("throttleReadBpsDevice", "blkio.throttle.read_bps_device", b.throttle_read_bps_device()),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (field, file, list) in throttles {
        for (i, t) in list.iter().flatten().enumerate() {
            let line = format!("{}:{} {}", t.major(), t.minor(), t.rate());
            set(paths, "blkio", file, &line, &format!("linux.resources.blockIO.{field}[{i}]"))?;
        }
    }
    Ok(())
}
