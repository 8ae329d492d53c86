//! `process`: args, env, cwd, terminal and inherited fds, user, rlimits, oomScoreAdj,
//! noNewPrivileges, the five capability sets and ioPriority.

use std::collections::BTreeSet;
use std::fs;

use berth_oci_conformance::cap_mask;
use berth_oci_conformance::tap::Check;
use serde_json::Value;

use crate::facts::{read_trimmed, status_field, strings};

/// The checks of `process`.
pub fn checks(cfg: &Value) -> Vec<Check> {
    let p = &cfg["process"];
    let mut out = vec![
        Check::compare("process.args", std::env::args().collect::<Vec<_>>(), strings(&p["args"])),
        Check::compare(
            "process.cwd",
            std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
            p["cwd"].as_str().unwrap_or(""),
        ),
        Check::compare("process.terminal false: stdin is not a tty", unsafe { libc::isatty(0) }, 0),
        Check::compare("only stdin, stdout and stderr are open", open_fds(), vec![0, 1, 2]),
    ];
    for kv in strings(&p["env"]) {
        let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
        out.push(Check::compare(format!("process.env {k}"), std::env::var(k).ok(), Some(v)));
    }
    out.extend(user(&p["user"]));
    out.extend(rlimits(&p["rlimits"]));
    if let Some(adj) = p["oomScoreAdj"].as_i64() {
        out.push(Check::compare(
            "process.oomScoreAdj",
            read_trimmed("/proc/self/oom_score_adj"),
            adj.to_string(),
        ));
    }
    let nnp = p["noNewPrivileges"].as_bool().unwrap_or(false);
    out.push(Check::compare(
        "process.noNewPrivileges",
        status_field("NoNewPrivs"),
        Some(if nnp { "1" } else { "0" }.to_string()),
    ));
    if p["capabilities"].is_object() {
        out.extend(capabilities(&p["capabilities"], p["user"]["uid"].as_u64() == Some(0), nnp));
    }
    if p["ioPriority"].is_object() {
        out.push(io_priority(&p["ioPriority"]));
    }
    if p["scheduler"].is_object() {
        out.extend(scheduler(&p["scheduler"]));
    }
    if let Some(domain) = cfg["linux"]["personality"]["domain"].as_str() {
        // personality(0xffffffff) reads the persona without changing it.
        let got = unsafe { libc::personality(0xffff_ffff) } & 0xff;
        let want = if domain == "LINUX32" { 0x0008 } else { 0 };
        out.push(Check::compare("linux.personality.domain", got, want));
    }
    out
}

/// Scheduling policy names of the spec and their numbers (sched(7)).
const POLICIES: &[(&str, i32)] = &[
    ("SCHED_OTHER", libc::SCHED_OTHER),
    ("SCHED_FIFO", libc::SCHED_FIFO),
    ("SCHED_RR", libc::SCHED_RR),
    ("SCHED_BATCH", libc::SCHED_BATCH),
    ("SCHED_IDLE", libc::SCHED_IDLE),
];

fn scheduler(s: &Value) -> Vec<Check> {
    let want = POLICIES.iter().find(|(n, _)| s["policy"] == *n).map(|(_, v)| *v);
    let got = unsafe { libc::sched_getscheduler(0) };
    let mut out = vec![Check::compare("process.scheduler.policy", Some(got), want)];
    if let Some(nice) = s["nice"].as_i64() {
        // Field 19 of /proc/self/stat (after the command in parentheses it is the 17th).
        let stat = read_trimmed("/proc/self/stat");
        let got =
            stat.rsplit_once(") ").and_then(|(_, r)| r.split(' ').nth(16)).map(str::to_string);
        out.push(Check::compare("process.scheduler.nice", got, Some(nice.to_string())));
    }
    out
}

/// The fds open in this process, without the one read_dir itself holds.
fn open_fds() -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc/self/fd") else { return vec![-1] };
    let mut fds: Vec<i32> = rd
        .flatten()
        .filter(|e| {
            let target =
                fs::read_link(e.path()).map(|t| t.display().to_string()).unwrap_or_default();
            !(target.starts_with("/proc/") && target.ends_with("/fd"))
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort();
    fds
}

fn user(u: &Value) -> Vec<Check> {
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let want_uid = u["uid"].as_u64().unwrap_or(0) as u32;
    let want_gid = u["gid"].as_u64().unwrap_or(0) as u32;
    let mut out = vec![
        Check::compare("process.user.uid", (uid, euid), (want_uid, want_uid)),
        Check::compare("process.user.gid", (gid, egid), (want_gid, want_gid)),
    ];
    let groups: BTreeSet<u64> = status_field("Groups")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect();
    let extra: BTreeSet<u64> =
        u["additionalGids"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
    // The primary gid may or may not appear in the supplementary list; nothing else may.
    let mut without_primary = groups.clone();
    without_primary.remove(&(want_gid as u64));
    let mut want = extra.clone();
    want.remove(&(want_gid as u64));
    out.push(Check::compare("process.user.additionalGids", without_primary, want));
    if let Some(umask) = u["umask"].as_u64() {
        out.push(Check::compare(
            "process.user.umask",
            status_field("Umask"),
            Some(format!("{umask:04o}")),
        ));
    }
    out
}

/// RLIMIT_* names of the spec and their resource numbers.
const RLIMITS: &[(&str, libc::__rlimit_resource_t)] = &[
    ("RLIMIT_CPU", libc::RLIMIT_CPU),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
    ("RLIMIT_DATA", libc::RLIMIT_DATA),
    ("RLIMIT_STACK", libc::RLIMIT_STACK),
    ("RLIMIT_CORE", libc::RLIMIT_CORE),
    ("RLIMIT_RSS", libc::RLIMIT_RSS),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("RLIMIT_AS", libc::RLIMIT_AS),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", libc::RLIMIT_NICE),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
];

fn rlimits(list: &Value) -> Vec<Check> {
    let mut out = Vec::new();
    for r in list.as_array().into_iter().flatten() {
        let name = r["type"].as_str().unwrap_or("");
        let check = format!("process.rlimits {name}");
        let Some((_, res)) = RLIMITS.iter().find(|(n, _)| *n == name) else {
            out.push(Check::holds(check, false, "unknown rlimit type in the config"));
            continue;
        };
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        unsafe { libc::getrlimit(*res, &mut lim) };
        out.push(Check::compare(
            check,
            (lim.rlim_cur, lim.rlim_max),
            (r["soft"].as_u64().unwrap_or(0), r["hard"].as_u64().unwrap_or(0)),
        ));
    }
    out
}

/// The five capability sets the kernel gives after the runtime's execve of this probe (a file
/// without file capabilities), derived from the config's sets by the rules of capabilities(7):
/// for root, permitted = bounding | inheritable (cut to the old permitted set under
/// no_new_privs) | ambient, effective = permitted; for others, permitted = effective = ambient.
/// Bounding, inheritable and ambient are kept as set.
fn capabilities(c: &Value, root: bool, nnp: bool) -> Vec<Check> {
    let set =
        |name: &str| cap_mask(c[name].as_array().into_iter().flatten().filter_map(Value::as_str));
    let (bnd, inh, prm, amb) =
        match (set("bounding"), set("inheritable"), set("permitted"), set("ambient")) {
            (Ok(b), Ok(i), Ok(p), Ok(a)) => (b, i, p, a),
            _ => {
                return vec![Check::holds(
                    "process.capabilities",
                    false,
                    "unknown capability in the config",
                )]
            }
        };
    let (perm, eff) = if root {
        let mut perm = bnd | inh;
        if nnp && perm & !prm != 0 {
            perm &= prm;
        }
        perm |= amb;
        (perm, perm)
    } else {
        (amb, amb)
    };
    let got = |field: &str| status_field(field).and_then(|v| u64::from_str_radix(&v, 16).ok());
    [("bounding", "CapBnd", bnd), ("inheritable", "CapInh", inh), ("ambient", "CapAmb", amb)]
        .into_iter()
        .chain([
            ("permitted (after execve)", "CapPrm", perm),
            ("effective (after execve)", "CapEff", eff),
        ])
        .map(|(set, field, want)| {
            Check::compare(
                format!("process.capabilities.{set}"),
                got(field).map(|m| format!("{m:#x}")),
                Some(format!("{want:#x}")),
            )
        })
        .collect()
}

fn io_priority(io: &Value) -> Check {
    let class = match io["class"].as_str() {
        Some("IOPRIO_CLASS_RT") => 1,
        Some("IOPRIO_CLASS_BE") => 2,
        Some("IOPRIO_CLASS_IDLE") => 3,
        _ => 0,
    };
    let want = (class << 13) | io["priority"].as_i64().unwrap_or(0);
    // ioprio_get(IOPRIO_WHO_PROCESS, 0): this process.
    let got = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) };
    Check::compare("process.ioPriority", got, want)
}
