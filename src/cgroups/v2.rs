//! cgroup v2: one directory; v1-style values converted as runc documents them, device
//! rules as an eBPF program.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{read_trimmed, values, write_file, CgroupError, DeviceRule};

/// cpu.shares (2..=262144, default 1024) → cpu.weight (1..=10000, default 100), runc's
/// linear mapping; 0 means unset.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// blkio.weight (10..=1000) → io.weight (1..=10000), runc's linear mapping; 0 means unset.
pub fn blkio_weight_to_io(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    let weight = weight.clamp(10, 1000);
    1 + ((weight - 10) * 9999) / 990
}

/// The OCI swap limit is memory+swap; v2's memory.swap.max is swap alone. `None` leaves
/// memory.swap.max alone; `Some(-1)` is "max".
pub fn swap_to_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<i64>, String> {
    let limit = limit.unwrap_or(0);
    // Unlimited memory with swap unset (absent or 0, which runc does not tell apart): both
    // unlimited, as with v1.
    if limit == -1 && swap.unwrap_or(0) == 0 {
        return Ok(Some(-1));
    }
    let Some(swap) = swap else { return Ok(None) };
    if swap == -1 || swap == 0 {
        return Ok(if swap == 0 { None } else { Some(-1) });
    }
    if limit <= 0 {
        return Err("a swap limit needs a memory limit".into());
    }
    if swap < limit {
        return Err(format!("memory+swap {swap} is below the memory limit {limit}"));
    }
    Ok(Some(swap - limit))
}

/// `max` for -1 (or any negative), else the number.
fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// The cpu.max line for `quota` and `period`; `current` is the file's present text, whose
/// quota is kept when only the period changes.
pub fn cpu_max(quota: Option<i64>, period: Option<u64>, current: &str) -> Option<String> {
    let quota = match quota {
        Some(q) if q > 0 => q.to_string(),
        Some(_) => "max".into(),
        None if period.is_some() => current.split_whitespace().next().unwrap_or("max").to_owned(),
        None => return None,
    };
    Some(match period {
        Some(p) => format!("{quota} {p}"),
        None => quota,
    })
}

/// `rdma.max` lines: `<device> hca_handle=N hca_object=M`, sorted by device.
pub(super) fn rdma_lines(r: &LinuxResources) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = r
        .rdma()
        .iter()
        .flatten()
        .map(|(dev, l)| {
            let mut line = dev.clone();
            if let Some(h) = l.hca_handles() {
                line.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                line.push_str(&format!(" hca_object={o}"));
            }
            (dev.clone(), line)
        })
        .collect();
    out.sort();
    out
}

/// Creates `dir` and its parents, each parent enabling the controllers it has for its
/// children. A controller that cannot be enabled shows later as a missing file, named
/// with the value that needed it.
pub(super) fn create(dir: &Path, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    // Every parent up to the hierarchy's root: those still to be made, and existing cgroups.
    let mut ancestors: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|p| !p.exists() || p.join("cgroup.controllers").exists())
        .collect();
    ancestors.reverse();
    for parent in ancestors {
        super::make_dir(parent, created)?;
        let available = read_trimmed(&parent.join("cgroup.controllers"))?;
        let enabled = read_trimmed(&parent.join("cgroup.subtree_control"))?;
        for controller in
            available.split_whitespace().filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        {
            let _ = write_file(
                parent,
                "cgroup.subtree_control",
                &format!("+{controller}"),
                "linux.cgroupsPath",
            );
        }
    }
    super::make_dir(dir, created)
}

/// Applies every resource the config sets.
pub(super) fn apply(
    dir: &Path,
    r: &LinuxResources,
    rules: &[DeviceRule],
    update: bool,
) -> Result<(), CgroupError> {
    let set = |file: &str, value: &str, config: &str| write_file(dir, file, value, config);
    let invalid = |config: &str, reason: &str| CgroupError::Invalid {
        config: config.into(),
        reason: reason.into(),
    };
    if !rules.is_empty() {
        super::bpf::attach(dir, rules)?;
    }
    if let Some(m) = r.memory() {
        if update && m.check_before_update() == Some(true) {
            if let Some(limit) = m.limit().filter(|l| *l > 0) {
                let usage: i64 = read_trimmed(&dir.join("memory.current"))?.parse().unwrap_or(0);
                if limit < usage {
                    return Err(invalid(
                        "linux.resources.memory.limit",
                        &format!("{limit} is below the current usage {usage} (checkBeforeUpdate)"),
                    ));
                }
            }
        }
        let swap = swap_to_v2(m.swap(), m.limit())
            .map_err(|e| invalid("linux.resources.memory.swap", &e))?;
        // swap.max first: it is independent of memory.max, and a failing swap stays unapplied.
        if let Some(s) = swap {
            match set("memory.swap.max", &max_or(s), "linux.resources.memory.swap") {
                // Without swap accounting there is no file, and nothing to lift or disable
                // (runc ignores it for these two values too).
                Err(CgroupError::Unavailable { .. }) if s == -1 || s == 0 => {}
                other => other?,
            }
        }
        if let Some(l) = m.limit() {
            set("memory.max", &max_or(l), "linux.resources.memory.limit")?;
        }
        if let Some(v) = m.reservation() {
            set("memory.low", &max_or(v), "linux.resources.memory.reservation")?;
        }
        if m.swappiness().is_some() {
            return Err(invalid(
                "linux.resources.memory.swappiness",
                "cgroup v2 has no per-cgroup swappiness",
            ));
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(invalid(
                "linux.resources.memory.disableOOMKiller",
                "cgroup v2 cannot disable the OOM killer",
            ));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|s| *s > 0) {
            set("cpu.weight", &shares_to_weight(s).to_string(), "linux.resources.cpu.shares")?;
        }
        let current = std::fs::read_to_string(dir.join("cpu.max")).unwrap_or_default();
        if let Some(line) = cpu_max(c.quota(), c.period(), &current) {
            let config = if c.quota().is_some() {
                "linux.resources.cpu.quota"
            } else {
                "linux.resources.cpu.period"
            };
            set("cpu.max", &line, config)?;
        }
        if let Some(b) = c.burst() {
            set("cpu.max.burst", &b.to_string(), "linux.resources.cpu.burst")?;
        }
        if let Some(i) = c.idle() {
            set("cpu.idle", &i.to_string(), "linux.resources.cpu.idle")?;
        }
        if c.realtime_runtime().is_some() || c.realtime_period().is_some() {
            return Err(invalid(
                "linux.resources.cpu.realtimeRuntime",
                "cgroup v2 has no realtime CPU controller",
            ));
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            set("cpuset.cpus", cpus, "linux.resources.cpu.cpus")?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            set("cpuset.mems", mems, "linux.resources.cpu.mems")?;
        }
    }
    if let Some(p) = r.pids() {
        set(
            "pids.max",
            &if p.limit() > 0 { p.limit().to_string() } else { "max".into() },
            "linux.resources.pids.limit",
        )?;
    }
    io(dir, r)?;
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let config = format!("linux.resources.hugepageLimits[{i}]");
        let size = values::page_size(h.page_size()).map_err(|p| p.at(&config))?;
        set(&format!("hugetlb.{size}.max"), &h.limit().to_string(), &config)?;
    }
    if r.network().is_some() {
        return Err(invalid(
            "linux.resources.network",
            "cgroup v2 has no net_cls or net_prio controller",
        ));
    }
    for (device, line) in rdma_lines(r) {
        set("rdma.max", &line, &format!("linux.resources.rdma.{device}"))?;
    }
    let mut unified: Vec<_> = r.unified().iter().flatten().collect();
    unified.sort();
    for (key, value) in unified {
        let config = format!("linux.resources.unified.{key}");
        let file = values::unified_file(key).map_err(|p| p.at(&config))?;
        set(file, value, &config)?;
    }
    Ok(())
}

fn io(dir: &Path, r: &LinuxResources) -> Result<(), CgroupError> {
    let Some(b) = r.block_io() else { return Ok(()) };
    // BFQ takes blkio's scale as it is; io.weight needs the conversion.
    let bfq = dir.join("io.bfq.weight").exists();
    let weight = |w: u16| if bfq { u64::from(w) } else { blkio_weight_to_io(u64::from(w)) };
    let file = if bfq { "io.bfq.weight" } else { "io.weight" };
    if let Some(w) = b.weight() {
        write_file(dir, file, &weight(w).to_string(), "linux.resources.blockIO.weight")?;
    }
    if b.leaf_weight().is_some() {
        return Err(CgroupError::Invalid {
            config: "linux.resources.blockIO.leafWeight".into(),
            reason: "cgroup v2 has no leaf weight".into(),
        });
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let line = format!("{}:{} {}", d.major(), d.minor(), weight(w));
            write_file(dir, file, &line, &format!("linux.resources.blockIO.weightDevice[{i}]"))?;
        }
    }
    let throttles = [
        ("throttleReadBpsDevice", "rbps", b.throttle_read_bps_device()),
        ("throttleWriteBpsDevice", "wbps", b.throttle_write_bps_device()),
        ("throttleReadIOPSDevice", "riops", b.throttle_read_iops_device()),
        ("throttleWriteIOPSDevice", "wiops", b.throttle_write_iops_device()),
    ];
    for (field, key, list) in throttles {
        for (i, t) in list.iter().flatten().enumerate() {
            let rate = if t.rate() == 0 { "max".to_owned() } else { t.rate().to_string() };
            let line = format!("{}:{} {key}={rate}", t.major(), t.minor());
            write_file(dir, "io.max", &line, &format!("linux.resources.blockIO.{field}[{i}]"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_to_weight() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1_000_000), 10_000);
    }

    #[test]
    fn blkio_weight_converts_to_io_weight() {
        assert_eq!(blkio_weight_to_io(0), 0);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(500), 4950);
        assert_eq!(blkio_weight_to_io(1000), 10_000);
    }

    #[test]
    fn swap_converts_to_swap_alone() {
        assert_eq!(swap_to_v2(None, Some(100)), Ok(None));
        assert_eq!(swap_to_v2(None, Some(-1)), Ok(Some(-1)));
        assert_eq!(swap_to_v2(None, None), Ok(None));
        assert_eq!(swap_to_v2(Some(300), Some(100)), Ok(Some(200)));
        assert_eq!(swap_to_v2(Some(100), Some(100)), Ok(Some(0)));
        assert_eq!(swap_to_v2(Some(-1), Some(100)), Ok(Some(-1)));
        assert_eq!(swap_to_v2(Some(0), Some(-1)), Ok(Some(-1)));
        assert_eq!(swap_to_v2(Some(0), Some(100)), Ok(None));
        assert!(swap_to_v2(Some(50), Some(100)).is_err());
        assert!(swap_to_v2(Some(50), None).is_err());
    }

    #[test]
    fn cpu_max_lines() {
        assert_eq!(cpu_max(Some(50_000), Some(100_000), ""), Some("50000 100000".into()));
        assert_eq!(cpu_max(Some(-1), None, ""), Some("max".into()));
        assert_eq!(cpu_max(None, Some(20_000), "30000 100000\n"), Some("30000 20000".into()));
        assert_eq!(cpu_max(None, None, "max 100000"), None);
    }

    #[test]
    fn rdma_lines_name_what_is_set() {
        let r: LinuxResources = serde_json::from_value(serde_json::json!({
            "rdma": { "mlx5_1": { "hcaHandles": 3 }, "mlx4_0": { "hcaHandles": 1, "hcaObjects": 10 } }
        }))
        .unwrap();
        assert_eq!(
            rdma_lines(&r),
            [
                ("mlx4_0".to_owned(), "mlx4_0 hca_handle=1 hca_object=10".to_owned()),
                ("mlx5_1".to_owned(), "mlx5_1 hca_handle=3".to_owned())
            ]
        );
    }
}
