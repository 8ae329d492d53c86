//! Process and kernel knobs read back from inside: scheduler, I/O priority, personality,
//! time namespace offsets, oomScoreAdj and rlimits.

use std::fs;

use serde_json::json;

use crate::harness::{chown_tree, Config, TestEnv};

fn run_lines(env: &TestEnv, cfg: Config) -> Vec<String> {
    let bundle = env.bundle(&cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("k")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    out.stdout.lines().map(str::to_string).collect()
}

/// The host's boot-time clock in seconds (first field of /proc/uptime).
fn host_uptime() -> f64 {
    let text = fs::read_to_string("/proc/uptime").unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// Fields of /proc/self/stat after the comm field (field 3 is index 0).
const STAT_FIELDS: &str = "cut -d')' -f2 /proc/self/stat";

#[test]
fn scheduler_policy_and_nice_apply() {
    let env = TestEnv::new("sched");
    let cfg = Config::sh(STAT_FIELDS)
        .set("/process/scheduler", json!({ "policy": "SCHED_BATCH", "nice": 7 }));
    let out = run_lines(&env, cfg);
    let fields: Vec<&str> = out[0].split_whitespace().collect();
    // stat field 19 is nice, field 41 is policy (SCHED_BATCH = 3).
    assert_eq!(fields[19 - 3], "7", "{out:?}");
    assert_eq!(fields[41 - 3], "3", "{out:?}");
}

#[test]
fn bad_scheduler_values_name_their_path() {
    let env = TestEnv::new("schedbad");
    let cfg = Config::sh("true")
        .set("/process/scheduler", json!({ "policy": "SCHED_FIFO", "priority": 100 }));
    let out = env.berth(&["run", "--bundle", env.bundle(&cfg).to_str().unwrap(), &env.id("k")]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("process.scheduler.priority"), "{out:#?}");
}

#[test]
fn io_priority_applies() {
    let env = TestEnv::new("ioprio");
    let cfg = Config::sh("ionice -p $$")
        .set("/process/ioPriority", json!({ "class": "IOPRIO_CLASS_IDLE", "priority": 0 }));
    assert_eq!(run_lines(&env, cfg), ["idle"]);
    let cfg = Config::sh("ionice -p $$")
        .set("/process/ioPriority", json!({ "class": "IOPRIO_CLASS_BE", "priority": 6 }));
    assert_eq!(run_lines(&env, cfg), ["best-effort: prio 6"]);
}

#[test]
fn personality_linux32_changes_uname() {
    let env = TestEnv::new("persona");
    let host =
        String::from_utf8(std::process::Command::new("uname").arg("-m").output().unwrap().stdout)
            .unwrap();
    if host.trim() != "x86_64" {
        eprintln!("skipped: LINUX32 on {} is not x86_64's i686", host.trim());
        return;
    }
    let cfg = Config::sh("uname -m").set("/linux/personality", json!({ "domain": "LINUX32" }));
    assert_eq!(run_lines(&env, cfg), ["i686"]);
}

#[test]
fn time_namespace_offsets_shift_boottime() {
    let env = TestEnv::new("timens");
    let mut cfg = Config::sh("cat /proc/uptime");
    cfg.0["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "time" }));
    let cfg =
        cfg.set("/linux/timeOffsets", json!({ "boottime": { "secs": 1000000, "nanosecs": 0 } }));
    let host = host_uptime();
    let out = run_lines(&env, cfg);
    let inside: f64 = out[0].split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        inside >= host + 1_000_000.0 && inside < host + 1_000_100.0,
        "host {host}, inside {inside}"
    );
}

#[test]
fn oom_score_adj_and_rlimits_apply() {
    let env = TestEnv::new("oomrlimit");
    let cfg = Config::sh("cat /proc/self/oom_score_adj; ulimit -n; ulimit -Hn")
        .set("/process/oomScoreAdj", json!(345))
        .set("/process/rlimits", json!([{ "type": "RLIMIT_NOFILE", "soft": 123, "hard": 456 }]));
    assert_eq!(run_lines(&env, cfg), ["345", "123", "456"]);
}

#[test]
fn oom_score_adj_applies_in_a_user_namespace() {
    let env = TestEnv::new("oomuserns");
    // The init cannot write its own (non-dumpable, host-root owned) /proc file from a user
    // namespace: the runtime sets it. (Positive: this host denies CAP_SYS_RESOURCE to root.)
    let cfg = Config::sh("cat /proc/self/oom_score_adj")
        .user_namespace(100000, 65536)
        .set("/process/oomScoreAdj", json!(234));
    let bundle = env.bundle(&cfg);
    chown_tree(&bundle.join("rootfs"), 100000, 100000);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("k")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout.trim(), "234", "{out:#?}");
}

#[test]
fn time_namespace_offsets_apply_in_a_new_user_namespace() {
    let env = TestEnv::new("timensuser");
    let mut cfg = Config::sh("cat /proc/uptime").user_namespace(100000, 65536);
    cfg.0["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "time" }));
    let cfg =
        cfg.set("/linux/timeOffsets", json!({ "boottime": { "secs": 1000000, "nanosecs": 0 } }));
    let bundle = env.bundle(&cfg);
    crate::harness::chown_tree(&bundle.join("rootfs"), 100000, 100000);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("k")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    let inside: f64 = out.stdout.split_whitespace().next().unwrap().parse().unwrap();
    let host = host_uptime();
    assert!(inside >= 1_000_000.0 && inside <= host + 1_000_000.0, "host {host}, inside {inside}");
}

#[test]
fn no_capabilities_in_the_config_means_none_in_the_container() {
    let env = TestEnv::new("nocaps");
    let mut cfg = Config::sh("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status");
    cfg.0["process"].as_object_mut().unwrap().remove("capabilities");
    let lines = run_lines(&env, cfg);
    assert_eq!(lines.len(), 5, "{lines:?}");
    for line in &lines {
        // runc gives a process without `capabilities` empty sets, as the spec's absent field reads.
        assert!(line.ends_with("0000000000000000"), "{lines:?}");
    }
}

#[test]
fn ambient_capabilities_that_cannot_be_raised_are_skipped_with_a_warning() {
    // `runc spec` writes ambient capabilities that are not inheritable; runc and crun run it.
    let env = TestEnv::new("ambient");
    let mut cfg = Config::sh("grep -E '^Cap(Inh|Amb)' /proc/self/status");
    let held = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    cfg.0["process"]["capabilities"] = json!({
        "bounding": held, "effective": held, "permitted": held,
        "inheritable": ["CAP_KILL"], "ambient": held
    });
    let bundle = env.bundle(&cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("k")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    // CAP_KILL is capability 5: raised; CAP_NET_BIND_SERVICE (10) is not inheritable: skipped.
    assert_eq!(out.stdout, "CapInh:\t0000000000000020\nCapAmb:\t0000000000000020\n");
    let warning = "process.capabilities.ambient: CAP_NET_BIND_SERVICE is not both permitted and inheritable; it is not raised";
    assert!(out.stderr.contains(warning), "{out:#?}");
    let check = env.berth(&["check", "--bundle", bundle.to_str().unwrap()]);
    assert_eq!(check.code(), 0, "{check:#?}");
    assert!(check.stdout.starts_with("/process/capabilities/ambient: "), "{check:#?}");
    assert!(check.stdout.contains("CAP_NET_BIND_SERVICE is not both permitted"), "{check:#?}");
}
