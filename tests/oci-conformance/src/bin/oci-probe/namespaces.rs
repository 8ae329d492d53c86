//! `linux.namespaces` (new, joined by path, or shared with the host), hostname, domainname and
//! the user namespace's id mappings.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use berth_oci_conformance::tap::Check;
use serde_json::Value;

use crate::facts::read_trimmed;

/// Namespace types of config-linux.md and their names under /proc/self/ns.
const KINDS: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("network", "net"),
    ("mount", "mnt"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("user", "user"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];

/// The checks of `linux.namespaces`, `hostname`, `domainname` and the id mappings.
pub fn checks(cfg: &Value) -> Vec<Check> {
    let host = inode_env("OCI_HOST_NS");
    let joined = inode_env("OCI_PATH_NS");
    let listed = cfg["linux"]["namespaces"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (kind, proc_name) in KINDS {
        let Some(host_ino) = host.get(*proc_name) else { continue };
        let own = std::fs::metadata(format!("/proc/self/ns/{proc_name}")).map(|m| m.ino()).ok();
        let entry = listed.iter().find(|n| n["type"] == *kind);
        let (name, want) = match entry {
            None => (format!("namespace {kind} shared with the runtime"), Some(*host_ino)),
            Some(n) if n["path"].is_string() => {
                (format!("namespace {kind} joined by path"), joined.get(*proc_name).copied())
            }
            Some(_) => {
                out.push(Check::holds(
                    format!("namespace {kind} is new"),
                    own.is_some() && own != Some(*host_ino),
                    format!("got inode {own:?}, the runtime's is {host_ino}"),
                ));
                continue;
            }
        };
        out.push(Check::compare(name, own, want));
    }
    if let Some(h) = cfg["hostname"].as_str() {
        out.push(Check::compare("hostname", read_trimmed("/proc/sys/kernel/hostname"), h));
    }
    if let Some(d) = cfg["domainname"].as_str() {
        out.push(Check::compare("domainname", read_trimmed("/proc/sys/kernel/domainname"), d));
    }
    if let Some(offsets) = cfg["linux"]["timeOffsets"].as_object() {
        let got = read_trimmed("/proc/self/timens_offsets");
        for (clock, o) in offsets {
            let want = format!(
                "{clock} {} {}",
                o["secs"].as_i64().unwrap_or(0),
                o["nanosecs"].as_u64().unwrap_or(0)
            );
            let line = got.lines().find(|l| l.split_whitespace().next() == Some(clock.as_str()));
            let line = line.map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
            out.push(Check::compare(format!("linux.timeOffsets.{clock}"), line, Some(want)));
        }
    }
    for (field, file) in [("uidMappings", "uid_map"), ("gidMappings", "gid_map")] {
        if let Some(maps) = cfg["linux"][field].as_array() {
            out.push(Check::compare(
                format!("linux.{field}"),
                id_map(&read_trimmed(&format!("/proc/self/{file}"))),
                maps.iter()
                    .map(|m| {
                        let n = |k: &str| m[k].as_u64().unwrap_or(u64::MAX);
                        (n("containerID"), n("hostID"), n("size"))
                    })
                    .collect::<Vec<_>>(),
            ));
        }
    }
    out
}

/// `name=inode,…` from the environment variable `var` (set by the runner).
fn inode_env(var: &str) -> BTreeMap<String, u64> {
    std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The lines of a uid_map/gid_map as (inside, outside, count).
fn id_map(text: &str) -> Vec<(u64, u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let n: Vec<u64> = l.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            (n.len() == 3).then(|| (n[0], n[1], n[2]))
        })
        .collect()
}
