//! Statistics in the schema of runc's `events` (`types.Stats`), so tools written against
//! `runc events --stats` read berth's unchanged. Counters a host does not provide stay 0.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// `data` of a `stats` event.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// CPU usage and throttling.
    pub cpu: Cpu,
    /// cpuset settings.
    pub cpuset: CpuSet,
    /// Memory usage.
    pub memory: Memory,
    /// Process counts.
    pub pids: Pids,
    /// Block I/O counters.
    pub blkio: Blkio,
    /// Per page size hugetlb usage.
    pub hugetlb: HashMap<String, Hugetlb>,
    /// Intel RDT (not managed by berth; always empty).
    pub intel_rdt: serde_json::Map<String, serde_json::Value>,
    /// Network interfaces (runc leaves this null for cgroup stats).
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

/// CPU stats.
#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    /// Usage in nanoseconds.
    pub usage: CpuUsage,
    /// CFS throttling.
    pub throttling: Throttling,
}

/// CPU usage in nanoseconds.
#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    /// Total.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per CPU.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU, kernel mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU, user mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Kernel mode.
    pub kernel: u64,
    /// User mode.
    pub user: u64,
}

/// CFS throttling counters.
#[derive(Debug, Default, Serialize)]
pub struct Throttling {
    /// Periods elapsed.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods throttled.
    #[serde(rename = "throttled_periods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Time throttled, ns.
    #[serde(rename = "throttled_time", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// cpuset settings.
#[derive(Debug, Default, Serialize)]
pub struct CpuSet {
    /// CPUs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    /// Memory nodes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
}

/// One memory counter set.
#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    /// Limit in bytes.
    pub limit: u64,
    /// Usage in bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Memory stats.
#[derive(Debug, Default, Serialize)]
pub struct Memory {
    /// Page cache.
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory+swap (v1) or swap (v2).
    pub swap: MemoryEntry,
    /// Kernel memory.
    pub kernel: MemoryEntry,
    /// Kernel TCP memory.
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as it is.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Process counts.
#[derive(Debug, Default, Serialize)]
pub struct Pids {
    /// Processes now.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// pids.max (0 when unlimited).
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// One block I/O counter.
#[derive(Debug, Default, Serialize)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor.
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// Read, Write, Sync, Async, Discard, Total.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Block I/O counters.
#[derive(Debug, Default, Serialize)]
pub struct Blkio {
    /// Bytes per device and operation.
    #[serde(rename = "ioServiceBytesRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations per device and operation.
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// hugetlb usage of one page size.
#[derive(Debug, Default, Serialize)]
pub struct Hugetlb {
    /// Bytes in use.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// `key value` lines (memory.stat, cpu.stat, memory.events) as a map.
pub fn keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_owned(), it.next()?.parse().ok()?))
        })
        .collect()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

fn num(dir: &Path, file: &str) -> u64 {
    read(dir, file).trim().parse().unwrap_or(0)
}

/// A v1 limit, with the kernel's "unlimited" (a page-rounded i64::MAX) kept as it is.
fn numbers(text: &str) -> Vec<u64> {
    text.split_whitespace().filter_map(|v| v.parse().ok()).collect()
}

/// A cpuset list such as `0-3,5` as its members.
pub fn cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

/// blkio `MAJ:MIN Op value` lines (the `Total` line without a device is skipped).
fn blkio_entries(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = f[..] else { return None };
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_owned(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// Stats of a v1 cgroup.
pub fn v1(paths: &BTreeMap<String, PathBuf>) -> Stats {
    let mut s = Stats::default();
    if let Some(d) = paths.get("cpuacct") {
        let usage = &mut s.cpu.usage;
        usage.total = num(d, "cpuacct.usage");
        usage.percpu = numbers(&read(d, "cpuacct.usage_percpu"));
        usage.percpu_kernel = numbers(&read(d, "cpuacct.usage_percpu_sys"));
        usage.percpu_user = numbers(&read(d, "cpuacct.usage_percpu_user"));
        usage.kernel = num(d, "cpuacct.usage_sys");
        usage.user = num(d, "cpuacct.usage_user");
    }
    if let Some(d) = paths.get("cpu") {
        let stat = keyed(&read(d, "cpu.stat"));
        s.cpu.throttling = Throttling {
            periods: stat.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: stat.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: stat.get("throttled_time").copied().unwrap_or(0),
        };
    }
    if let Some(d) = paths.get("cpuset") {
        s.cpuset.cpus = cpu_list(&read(d, "cpuset.cpus"));
        s.cpuset.mems = cpu_list(&read(d, "cpuset.mems"));
    }
    if let Some(d) = paths.get("memory") {
        let entry = |prefix: &str| MemoryEntry {
            limit: num(d, &format!("{prefix}.limit_in_bytes")),
            usage: num(d, &format!("{prefix}.usage_in_bytes")),
            max: num(d, &format!("{prefix}.max_usage_in_bytes")),
            failcnt: num(d, &format!("{prefix}.failcnt")),
        };
        s.memory.usage = entry("memory");
        s.memory.swap = entry("memory.memsw");
        s.memory.kernel = entry("memory.kmem");
        s.memory.kernel_tcp = entry("memory.kmem.tcp");
        s.memory.raw = keyed(&read(d, "memory.stat"));
        s.memory.cache =
            s.memory.raw.get("total_cache").or(s.memory.raw.get("cache")).copied().unwrap_or(0);
    }
    if let Some(d) = paths.get("pids") {
        s.pids = Pids { current: num(d, "pids.current"), limit: num(d, "pids.max") };
    }
    if let Some(d) = paths.get("blkio") {
        let pick = |a: &str, b: &str| {
            let text = read(d, a);
            let text = if text.trim().is_empty() { read(d, b) } else { text };
            blkio_entries(&text)
        };
        s.blkio.io_service_bytes_recursive =
            pick("blkio.io_service_bytes_recursive", "blkio.throttle.io_service_bytes_recursive");
        s.blkio.io_serviced_recursive =
            pick("blkio.io_serviced_recursive", "blkio.throttle.io_serviced_recursive");
    }
    if let Some(d) = paths.get("hugetlb") {
        for size in hugetlb_sizes(d, ".limit_in_bytes") {
            let f = |suffix: &str| num(d, &format!("hugetlb.{size}.{suffix}"));
            s.hugetlb.insert(
                size.clone(),
                Hugetlb {
                    usage: f("usage_in_bytes"),
                    max: f("max_usage_in_bytes"),
                    failcnt: f("failcnt"),
                },
            );
        }
    }
    s
}

/// The page sizes of `hugetlb.<size><suffix>` files in `dir`.
fn hugetlb_sizes(dir: &Path, suffix: &str) -> Vec<String> {
    let mut sizes: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let size = name.strip_prefix("hugetlb.")?.strip_suffix(suffix)?;
            (!size.contains('.')).then(|| size.to_owned())
        })
        .collect();
    sizes.sort();
    sizes
}

/// Stats of a v2 cgroup.
pub fn v2(dir: &Path) -> Stats {
    let mut s = Stats::default();
    let cpu = keyed(&read(dir, "cpu.stat"));
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    s.cpu.usage.total = get(&cpu, "usage_usec") * 1000;
    s.cpu.usage.user = get(&cpu, "user_usec") * 1000;
    s.cpu.usage.kernel = get(&cpu, "system_usec") * 1000;
    s.cpu.throttling = Throttling {
        periods: get(&cpu, "nr_periods"),
        throttled_periods: get(&cpu, "nr_throttled"),
        throttled_time: get(&cpu, "throttled_usec") * 1000,
    };
    s.cpuset.cpus = cpu_list(&read(dir, "cpuset.cpus.effective"));
    s.cpuset.mems = cpu_list(&read(dir, "cpuset.mems.effective"));
    let limit = |file: &str| {
        let v = read(dir, file);
        if v.trim() == "max" {
            u64::MAX
        } else {
            v.trim().parse().unwrap_or(0)
        }
    };
    let events = keyed(&read(dir, "memory.events"));
    s.memory.raw = keyed(&read(dir, "memory.stat"));
    s.memory.cache = get(&s.memory.raw, "file");
    s.memory.usage = MemoryEntry {
        limit: limit("memory.max"),
        usage: num(dir, "memory.current"),
        max: num(dir, "memory.peak"),
        failcnt: get(&events, "max"),
    };
    s.memory.swap = MemoryEntry {
        limit: limit("memory.swap.max"),
        usage: num(dir, "memory.swap.current"),
        max: 0,
        failcnt: 0,
    };
    s.pids = Pids {
        current: num(dir, "pids.current"),
        limit: if read(dir, "pids.max").trim() == "max" { 0 } else { num(dir, "pids.max") },
    };
    for line in read(dir, "io.stat").lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else { continue };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else { continue };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else { continue };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry { major, minor, op: op.into(), value });
        }
    }
    for size in hugetlb_sizes(dir, ".max") {
        let ev = keyed(&read(dir, &format!("hugetlb.{size}.events")));
        s.hugetlb.insert(
            size.clone(),
            Hugetlb {
                usage: num(dir, &format!("hugetlb.{size}.current")),
                max: 0,
                failcnt: get(&ev, "max"),
            },
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_keyed_files() {
        assert_eq!(cpu_list("0-2,5\n"), [0, 1, 2, 5]);
        assert_eq!(cpu_list(""), Vec::<u16>::new());
        let k = keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
        assert_eq!(k["oom_kill"], 3);
        let e = blkio_entries("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].major, e[0].minor, e[0].op.as_str(), e[0].value), (8, 0, "Read", 4096));
    }

    #[test]
    fn schema_uses_runc_names() {
        let v = serde_json::to_value(Stats::default()).unwrap();
        for key in [
            "cpu",
            "cpuset",
            "memory",
            "pids",
            "blkio",
            "hugetlb",
            "intel_rdt",
            "network_interfaces",
        ] {
            assert!(v.get(key).is_some(), "{key} missing: {v}");
        }
        assert!(v["memory"].get("kernelTCP").is_some());
        assert_eq!(v["cpu"]["usage"]["kernel"], 0);
    }
}
