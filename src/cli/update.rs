//! `berth update`: runc's flags, or a `linux.resources` JSON document from a file or stdin.

use std::io::Read;
use std::path::PathBuf;

use berth::state::StateStore;
use berth::Error;
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

/// Flags of `update`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A JSON file of linux.resources to apply; `-` reads stdin. Flags given as well win.
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Block I/O weight (10-1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds per period.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS burst in microseconds.
    #[arg(long)]
    pub cpu_burst: Option<u64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_share: Option<u64>,
    /// Realtime period in microseconds.
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to use (e.g. 0-2,4).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// SCHED_IDLE for the cgroup (0 or 1).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_idle: Option<i64>,
    /// Memory limit in bytes (suffixes k, m, g, t; -1 for none).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bytes)]
    pub memory: Option<i64>,
    /// Memory soft limit in bytes.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bytes)]
    pub memory_reservation: Option<i64>,
    /// Memory plus swap limit in bytes; -1 for unlimited swap.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bytes)]
    pub memory_swap: Option<i64>,
    /// Kernel memory limit (deprecated by the kernel; refused).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bytes)]
    pub kernel_memory: Option<i64>,
    /// Kernel TCP memory limit (deprecated by the kernel; refused).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bytes)]
    pub kernel_memory_tcp: Option<i64>,
    /// Maximum number of processes; 0 or less for no limit.
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    /// Container id.
    pub id: String,
}

/// A byte count with an optional binary suffix (k, m, g, t, p; b optional), or -1.
fn parse_bytes(text: &str) -> Result<i64, String> {
    let lower = text.trim().to_ascii_lowercase();
    if lower == "-1" {
        return Ok(-1);
    }
    let body = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, shift) = match body.char_indices().last() {
        Some((i, 'k')) => (&body[..i], 10),
        Some((i, 'm')) => (&body[..i], 20),
        Some((i, 'g')) => (&body[..i], 30),
        Some((i, 't')) => (&body[..i], 40),
        Some((i, 'p')) => (&body[..i], 50),
        _ => (body, 0),
    };
    let n: i64 = digits.parse().map_err(|_| format!("{text:?} is not a size such as 512m"))?;
    n.checked_mul(1 << shift).filter(|v| *v >= 0).ok_or_else(|| format!("{text:?} is out of range"))
}

impl Args {
    /// The resources to apply: the file's, with the flags laid over them.
    fn resources(&self) -> Result<LinuxResources, Error> {
        if self.kernel_memory.is_some() || self.kernel_memory_tcp.is_some() {
            return Err(Error::Usage("--kernel-memory and --kernel-memory-tcp: kernel memory limits are deprecated by the kernel and not applied".into()));
        }
        if self.l3_cache_schema.is_some() || self.mem_bw_schema.is_some() {
            return Err(Error::Unsupported("--l3-cache-schema / --mem-bw-schema (Intel RDT)"));
        }
        let mut v = match &self.resources {
            Some(path) => read_document(path)?,
            None => json!({}),
        };
        let mut put = |section: &str, key: &str, value: Value| {
            if !value.is_null() {
                if !v[section].is_object() {
                    v[section] = json!({});
                }
                v[section][key] = value;
            }
        };
        put("blockIO", "weight", json!(self.blkio_weight));
        put("cpu", "period", json!(self.cpu_period));
        put("cpu", "quota", json!(self.cpu_quota));
        put("cpu", "burst", json!(self.cpu_burst));
        put("cpu", "shares", json!(self.cpu_share));
        put("cpu", "realtimePeriod", json!(self.cpu_rt_period));
        put("cpu", "realtimeRuntime", json!(self.cpu_rt_runtime));
        put("cpu", "cpus", json!(self.cpuset_cpus));
        put("cpu", "mems", json!(self.cpuset_mems));
        put("cpu", "idle", json!(self.cpu_idle));
        put("memory", "limit", json!(self.memory));
        put("memory", "reservation", json!(self.memory_reservation));
        put("memory", "swap", json!(self.memory_swap));
        put("pids", "limit", json!(self.pids_limit));
        let source = self.resources.as_ref().map_or("flags".into(), |p| p.display().to_string());
        serde_json::from_value(v).map_err(|e| Error::Usage(format!("--resources {source}: {e}")))
    }
}

fn read_document(path: &PathBuf) -> Result<Value, Error> {
    let io = |source| Error::Io { what: "reading", path: path.clone(), source };
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map_err(io)?;
    } else {
        text = std::fs::read_to_string(path).map_err(io)?;
    }
    serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("--resources {}: {e}", path.display())))
}

pub fn execute(store: &StateStore, args: Args) -> Result<i32, Error> {
    let resources = args.resources()?;
    berth::container::update(store, &args.id, &resources)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512m"), Ok(512 << 20));
        assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("-5").is_err());
    }
}
