//! `linux.sysctl`, `linux.seccomp` (filter mode and the errno of denied calls) and
//! `linux.resources` as the container's own cgroup files show them.

use berth_oci_conformance::tap::Check;
use serde_json::Value;

use crate::facts::{mountinfo, read_trimmed, status_field, strings, Mount};

/// The checks of sysctl, seccomp and cgroup resources.
pub fn checks(cfg: &Value) -> Vec<Check> {
    let linux = &cfg["linux"];
    let mut out = Vec::new();
    for (key, value) in linux["sysctl"].as_object().into_iter().flatten() {
        out.push(Check::compare(
            format!("linux.sysctl {key}"),
            read_trimmed(&format!("/proc/sys/{}", key.replace('.', "/"))),
            value.as_str().unwrap_or(""),
        ));
    }
    if linux["seccomp"].is_object() {
        out.extend(seccomp(&linux["seccomp"]));
    }
    if linux["resources"].is_object() {
        out.extend(resources(&linux["resources"]));
    }
    out
}

/// Syscalls the probe can call harmlessly to see a seccomp rule act: name, number, arguments.
const TESTABLE: &[(&str, libc::c_long, [libc::c_long; 3])] = &[
    // kcmp(self, self, KCMP_FILE, 0, 0): 0 when allowed.
    ("kcmp", libc::SYS_kcmp, [0, 0, 0]),
    // getpriority(PRIO_PROCESS, self): 20 - nice when allowed.
    ("getpriority", libc::SYS_getpriority, [0, 0, 0]),
];

fn seccomp(s: &Value) -> Vec<Check> {
    let mut out = vec![Check::compare(
        "linux.seccomp: filter mode",
        status_field("Seccomp"),
        Some("2".to_string()),
    )];
    for rule in s["syscalls"].as_array().into_iter().flatten() {
        if rule["action"] != "SCMP_ACT_ERRNO" || rule["args"].is_array() {
            continue;
        }
        let want = rule["errnoRet"].as_i64().unwrap_or(libc::EPERM as i64);
        for name in strings(&rule["names"]) {
            let Some((_, nr, args)) = TESTABLE.iter().find(|(n, _, _)| *n == name) else {
                continue;
            };
            let pid = unsafe { libc::getpid() } as libc::c_long;
            let (a, b) = if name == "kcmp" { (pid, pid) } else { (args[0], 0) };
            let ret = unsafe { libc::syscall(*nr, a, b, args[2], 0, 0) };
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64;
            out.push(Check::compare(
                format!("linux.seccomp: {name} fails with errno {want}"),
                if ret == -1 { format!("errno {errno}") } else { format!("returned {ret}") },
                format!("errno {want}"),
            ));
        }
    }
    out
}

fn resources(r: &Value) -> Vec<Check> {
    let mounts = mountinfo();
    let groups = read_trimmed("/proc/self/cgroup");
    let mut out = Vec::new();
    let mut check = |name: &str, controller: &str, v1: &str, v2: &str, want: Option<String>| {
        let Some(want) = want else { return };
        let name = format!("linux.resources.{name}");
        out.push(match cgroup_file(&mounts, &groups, controller, v1, v2) {
            Some(path) => Check::compare(name, read_trimmed(&path), want),
            None => Check::skip(name, "the container's cgroup is not visible inside it"),
        });
    };
    let memory = r["memory"]["limit"].as_i64().map(|v| v.to_string());
    check("memory.limit", "memory", "memory.limit_in_bytes", "memory.max", memory);
    let pids = r["pids"]["limit"].as_i64().map(|v| v.to_string());
    check("pids.limit", "pids", "pids.max", "pids.max", pids);
    let shares = r["cpu"]["shares"].as_u64();
    let v2 = cgroup_file(&mounts, &groups, "cpu", "cpu.shares", "cpu.weight")
        .is_some_and(|p| p.ends_with("cpu.weight"));
    // On cgroup v2 the runtime converts shares [2, 262144] to a weight [1, 10000].
    let want =
        shares.map(|s| if v2 { (1 + (s - 2) * 9999 / 262142).to_string() } else { s.to_string() });
    check("cpu.shares", "cpu", "cpu.shares", "cpu.weight", want);
    let (quota, period) = (r["cpu"]["quota"].as_i64(), r["cpu"]["period"].as_u64());
    let v2 = cgroup_file(&mounts, &groups, "cpu", "cpu.cfs_quota_us", "cpu.max")
        .is_some_and(|p| p.ends_with("cpu.max"));
    if v2 {
        let want = quota.zip(period).map(|(q, p)| format!("{q} {p}"));
        check("cpu.quota and cpu.period", "cpu", "", "cpu.max", want);
    } else {
        check("cpu.quota", "cpu", "cpu.cfs_quota_us", "", quota.map(|q| q.to_string()));
        check("cpu.period", "cpu", "cpu.cfs_period_us", "", period.map(|p| p.to_string()));
    }
    let cpus = r["cpu"]["cpus"].as_str().map(str::to_string);
    check("cpu.cpus", "cpuset", "cpuset.cpus", "cpuset.cpus", cpus);
    let reservation = r["memory"]["reservation"].as_i64().map(|v| v.to_string());
    check("memory.reservation", "memory", "memory.soft_limit_in_bytes", "memory.low", reservation);
    out
}

/// Whether the rules of `linux.resources.devices` let the container read the device with type
/// `kind`, `major` and `minor`: the last matching rule decides, and nothing matching denies.
pub fn device_allowed(rules: &Value, kind: char, major: u64, minor: u64) -> bool {
    let mut allowed = false;
    for r in rules.as_array().into_iter().flatten() {
        let type_ok = matches!(r["type"].as_str(), None | Some("a"))
            || r["type"].as_str() == Some(&kind.to_string());
        let num_ok = |k: &str, v: u64| r[k].as_i64().is_none_or(|n| n < 0 || n as u64 == v);
        let access = r["access"].as_str().unwrap_or("rwm");
        if type_ok && num_ok("major", major) && num_ok("minor", minor) && access.contains('r') {
            allowed = r["allow"].as_bool().unwrap_or(false);
        }
    }
    allowed
}

/// The path of `v1_file` (or `v2_file` on the unified hierarchy) in the container's cgroup for
/// `controller`, found through /proc/self/cgroup and the cgroup mounts the container sees.
fn cgroup_file(
    mounts: &[Mount],
    groups: &str,
    controller: &str,
    v1_file: &str,
    v2_file: &str,
) -> Option<String> {
    let lines: Vec<(&str, &str)> = groups
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _id = f.next()?;
            Some((f.next()?, f.next()?))
        })
        .collect();
    let v1 = lines.iter().find(|(c, _)| c.split(',').any(|c| c == controller));
    let (path, file, mount) = match v1 {
        Some((_, path)) => {
            let m = mounts
                .iter()
                .rev()
                .find(|m| m.fstype == "cgroup" && m.super_opts.iter().any(|o| o == controller))?;
            (*path, v1_file, m)
        }
        None => {
            let (_, path) = lines.iter().find(|(c, _)| c.is_empty())?;
            (*path, v2_file, mounts.iter().rev().find(|m| m.fstype == "cgroup2")?)
        }
    };
    let rel = path.strip_prefix(mount.root.as_str()).unwrap_or(path).trim_start_matches('/');
    let full = if rel.is_empty() {
        format!("{}/{file}", mount.point)
    } else {
        format!("{}/{rel}/{file}", mount.point)
    };
    std::path::Path::new(&full).exists().then_some(full)
}
