//! cgroups: placement under linux.cgroupsPath, every resource read back from its cgroup
//! file, limits that bite (pids, memory, devices), pause/resume, update, events, ps,
//! kill --all and delete. Every cgroup lives under /berth-test/<unique>.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{cgroup_dirs, wait_for, Config, TestEnv};

/// Whether the host has v1 controllers (this is false on a pure cgroup v2 kernel).
fn v1() -> bool {
    Path::new("/sys/fs/cgroup/memory/tasks").exists()
        || Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

/// A unique leaf name under /berth-test.
fn leaf(env: &TestEnv, tag: &str) -> String {
    env.id(&format!("cg-{tag}"))
}

/// `cfg` placed at /berth-test/`cg` with `resources`.
fn placed(cfg: Config, cg: &str, resources: Value) -> Config {
    cfg.set("/linux/cgroupsPath", json!(format!("/berth-test/{cg}")))
        .set("/linux/resources", resources)
}

/// The directory of `controller` for leaf `cg` (the one v2 directory on a v2 host).
fn dir(cg: &str, controller: &str) -> PathBuf {
    if v1() {
        PathBuf::from(format!("/sys/fs/cgroup/{controller}/berth-test/{cg}"))
    } else {
        PathBuf::from(format!("/sys/fs/cgroup/berth-test/{cg}"))
    }
}

fn read(cg: &str, controller: &str, file: &str) -> String {
    let path = dir(cg, controller).join(file);
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// A busy container `id` from `cfg`, created and started.
fn started(env: &TestEnv, cfg: &Config, id: &str) {
    let bundle = env.bundle(cfg);
    env.create(id, &bundle);
    env.start(id);
}

fn first_block_device() -> (u64, u64) {
    for name in ["vda", "sda", "nvme0n1", "xvda", "loop0"] {
        if let Ok(dev) = fs::read_to_string(format!("/sys/block/{name}/dev")) {
            let (a, b) = dev.trim().split_once(':').unwrap();
            return (a.parse().unwrap(), b.parse().unwrap());
        }
    }
    panic!("no block device in /sys/block");
}

#[test]
fn resources_are_written_to_their_files() {
    let env = TestEnv::new("cgres");
    let cg = leaf(&env, "res");
    let (major, minor) = first_block_device();
    let mut resources = json!({
        "memory": { "limit": 67108864, "reservation": 33554432, "swap": 134217728 },
        "cpu": { "shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "cpus": "0", "mems": "0" },
        "pids": { "limit": 50 },
        "blockIO": { "throttleReadBpsDevice": [{ "major": major, "minor": minor, "rate": 1048576 }],
                     "throttleWriteIOPSDevice": [{ "major": major, "minor": minor, "rate": 300 }] }
    });
    if v1() {
        resources["memory"]["swappiness"] = json!(10);
        resources["memory"]["disableOOMKiller"] = json!(true);
        resources["cpu"]["realtimePeriod"] = json!(900000);
        resources["devices"] = json!([{ "allow": false, "access": "rwm" }]);
    }
    let cfg = placed(Config::sh("sleep 100"), &cg, resources);
    started(&env, &cfg, &env.id("c"));
    let dev = format!("{major}:{minor}");
    let expected: Vec<(&str, &str, String)> = if v1() {
        vec![
            ("memory", "memory.limit_in_bytes", "67108864".into()),
            ("memory", "memory.soft_limit_in_bytes", "33554432".into()),
            ("memory", "memory.memsw.limit_in_bytes", "134217728".into()),
            ("memory", "memory.swappiness", "10".into()),
            ("cpu", "cpu.shares", "512".into()),
            ("cpu", "cpu.cfs_quota_us", "50000".into()),
            ("cpu", "cpu.cfs_period_us", "100000".into()),
            ("cpu", "cpu.cfs_burst_us", "1000".into()),
            ("cpu", "cpu.rt_period_us", "900000".into()),
            ("cpuset", "cpuset.cpus", "0".into()),
            ("cpuset", "cpuset.mems", "0".into()),
            ("pids", "pids.max", "50".into()),
            ("blkio", "blkio.throttle.read_bps_device", format!("{dev} 1048576")),
            ("blkio", "blkio.throttle.write_iops_device", format!("{dev} 300")),
        ]
    } else {
        vec![
            ("", "memory.max", "67108864".into()),
            ("", "memory.low", "33554432".into()),
            ("", "memory.swap.max", "67108864".into()),
            ("", "cpu.weight", "20".into()),
            ("", "cpu.max", "50000 100000".into()),
            ("", "cpu.max.burst", "1000".into()),
            ("", "cpuset.cpus", "0".into()),
            ("", "cpuset.mems", "0".into()),
            ("", "pids.max", "50".into()),
        ]
    };
    for (controller, file, value) in expected {
        assert_eq!(read(&cg, controller, file), value, "{file}");
    }
    if v1() {
        assert!(read(&cg, "memory", "memory.oom_control").contains("oom_kill_disable 1"));
        let list = read(&cg, "devices", "devices.list");
        assert!(!list.contains("a *:* rwm"), "deny-all not applied: {list}");
        assert!(list.contains("c 1:3 rwm") && list.contains("c 136:* rwm"), "{list}");
    } else {
        let io = read(&cg, "", "io.max");
        assert!(io.contains(&format!("{dev} rbps=1048576")) && io.contains("wiops=300"), "{io}");
    }
}

#[test]
fn processes_join_the_cgroup_and_the_cgroup_namespace_is_rooted_there() {
    let env = TestEnv::new("cgjoin");
    let probe = env.probe_dir();
    let cg = leaf(&env, "join");
    let mut cfg =
        placed(Config::sh("cat /proc/self/cgroup > /probe/cg; sleep 100"), &cg, json!({}))
            .probe(&probe);
    cfg.0["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "cgroup" }));
    let id = env.id("c");
    started(&env, &cfg, &id);
    let written = || fs::read_to_string(probe.join("cg")).is_ok_and(|t| t.ends_with('\n'));
    assert!(wait_for(Duration::from_secs(10), written));
    let inside = fs::read_to_string(probe.join("cg")).unwrap();
    let pid = env.pid_of(&id);
    let host = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let controller = if v1() { ":memory:" } else { "0::" };
    let line = |text: &str| {
        text.lines().find(|l| l.contains(controller)).map(str::to_owned).unwrap_or_default()
    };
    assert!(line(&host).ends_with(&format!("/berth-test/{cg}")), "host view: {host}");
    assert!(
        line(&inside).ends_with(":/"),
        "namespace not rooted at the container's cgroup: {inside}"
    );
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let env = TestEnv::new("cgpids");
    let cg = leaf(&env, "pids");
    let bomb = "i=0; while [ $i -lt 40 ]; do sleep 100 & i=$((i+1)); done; sleep 100";
    let cfg = placed(Config::sh(bomb), &cg, json!({ "pids": { "limit": 8 } }));
    started(&env, &cfg, &env.id("c"));
    let refused =
        || read(&cg, "pids", "pids.events").split_whitespace().nth(1).is_some_and(|n| n != "0");
    assert!(
        wait_for(Duration::from_secs(10), refused),
        "no fork was refused: {}",
        read(&cg, "pids", "pids.events")
    );
    let current: u32 = read(&cg, "pids", "pids.current").parse().unwrap();
    assert!(current <= 8, "{current} processes under a limit of 8");
}

#[test]
fn memory_limit_oom_kills_and_events_reports_it() {
    let env = TestEnv::new("cgoom");
    let cg = leaf(&env, "oom");
    // The string doubles until the OOM killer ends the shell.
    let cfg = placed(
        Config::sh("x=a; while true; do x=$x$x; done"),
        &cg,
        json!({
            "memory": { "limit": 16777216, "swap": 16777216 }
        }),
    );
    let id = env.id("c");
    env.create(&id, &env.bundle(&cfg));
    let events = env.spawn(&["events", "--interval", "100ms", &id]);
    assert!(
        wait_for(Duration::from_secs(10), || events.stdout_so_far().contains("\"type\":\"stats\"")),
        "events printed no stats record"
    );
    env.start(&id);
    let out = events.wait();
    out.ok();
    let records: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?} in {out:#?}")))
        .collect();
    assert!(
        records.iter().any(|r| r["type"] == "oom" && r["id"] == id.as_str()),
        "no oom record: {}",
        out.stdout
    );
    env.wait_status(&id, "stopped");
}

/// A device node of the host that is not among the defaults every container may open.
fn uncommon_device() -> Option<(&'static str, u64, u64)> {
    [("/dev/loop-control", 10, 237), ("/dev/kmsg", 1, 11)]
        .into_iter()
        .find(|(p, _, _)| Path::new(p).exists())
}

#[test]
fn device_rule_denies_opening_a_device() {
    let Some((node, major, minor)) = uncommon_device() else { return };
    let env = TestEnv::new("cgdev");
    let script = "if true < /dev/probed 2>/dev/null; then echo open; else echo denied; fi > /probe/r; sleep 100";
    let mut results = Vec::new();
    for rules in [
        json!([{ "allow": true, "access": "rwm" }]),
        json!([{ "allow": false, "type": "c", "major": major, "minor": minor, "access": "rwm" }]),
    ] {
        let probe = env.probe_dir();
        let cg = leaf(&env, "dev");
        let cfg = placed(Config::sh(script), &cg, json!({ "devices": rules })).probe(&probe).bind(
            Path::new(node),
            "/dev/probed",
            false,
        );
        started(&env, &cfg, &env.id("c"));
        let written = || fs::read_to_string(probe.join("r")).is_ok_and(|r| r.ends_with('\n'));
        assert!(wait_for(Duration::from_secs(10), written));
        results.push(fs::read_to_string(probe.join("r")).unwrap().trim().to_string());
    }
    assert_eq!(results, ["open", "denied"], "{node} with an allow-all and with a deny rule");
}

/// How far the counting loop got: it appends a line per step.
fn count(probe: &Path) -> u64 {
    fs::metadata(probe.join("n")).map_or(0, |m| m.len())
}

#[test]
fn freezer_pauses_a_counting_loop() {
    let env = TestEnv::new("cgfreeze");
    let probe = env.probe_dir();
    let cg = leaf(&env, "frz");
    let cfg =
        placed(Config::sh("while true; do echo x >> /probe/n; done"), &cg, json!({})).probe(&probe);
    let id = env.id("c");
    started(&env, &cfg, &id);
    assert!(wait_for(Duration::from_secs(10), || probe.join("n").exists()));
    env.berth(&["pause", &id]).ok();
    assert_eq!(env.status(&id), "paused");
    let list = env.berth(&["list", "--format", "json"]);
    let list: Value = serde_json::from_str(&list.ok().stdout).unwrap();
    assert_eq!(list[0]["status"], "paused");
    let frozen_at = count(&probe);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&probe), frozen_at, "the loop counted while paused");
    env.berth(&["pause", &id]).fails_with_one_line();
    env.berth(&["resume", &id]).ok();
    assert_eq!(env.status(&id), "running");
    assert!(
        wait_for(Duration::from_secs(5), || count(&probe) > frozen_at),
        "the loop did not resume"
    );
    env.berth(&["resume", &id]).fails_with_one_line();
}

#[test]
fn ps_lists_the_containers_processes() {
    let env = TestEnv::new("cgps");
    let cg = leaf(&env, "ps");
    let cfg = placed(Config::sh("sleep 100 & sleep 101 & wait"), &cg, json!({}));
    let id = env.id("c");
    started(&env, &cfg, &id);
    let pids = || -> Vec<i64> {
        let out = env.berth(&["ps", "--format", "json", &id]);
        serde_json::from_str::<Vec<i64>>(&out.ok().stdout).unwrap()
    };
    assert!(wait_for(Duration::from_secs(10), || pids().len() == 3), "ps: {:?}", pids());
    let procs = read(&cg, "pids", "cgroup.procs");
    let mut listed: Vec<i64> = procs.lines().map(|l| l.parse().unwrap()).collect();
    listed.sort();
    assert_eq!(pids(), listed);
    let table = env.berth(&["ps", &id]);
    let text = &table.ok().stdout;
    assert!(text.lines().next().unwrap().contains("PID"), "{text}");
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.contains("sleep 101"), "{text}");
}

#[test]
fn kill_all_signals_every_process_and_delete_removes_the_cgroup() {
    let env = TestEnv::new("cgkill");
    let cg = leaf(&env, "kill");
    // Without a pid namespace the children would outlive a killed init.
    let cfg =
        placed(Config::sh("sleep 100 & sleep 100 & wait").without_namespace("pid"), &cg, json!({}));
    let id = env.id("c");
    started(&env, &cfg, &id);
    let procs = || read(&cg, "pids", "cgroup.procs").lines().count();
    assert!(wait_for(Duration::from_secs(10), || procs() == 3));
    env.berth(&["kill", "--all", &id, "KILL"]).ok();
    assert!(wait_for(Duration::from_secs(10), || procs() == 0), "processes left: {}", procs());
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
    for d in cgroup_dirs(&cg) {
        assert!(!d.exists(), "{} left", d.display());
    }
}

#[test]
fn delete_after_the_init_died_removes_the_cgroup_and_leftovers() {
    let env = TestEnv::new("cgdel");
    let cg = leaf(&env, "del");
    let cfg = placed(Config::sh("sleep 100 & exit 0").without_namespace("pid"), &cg, json!({}));
    let id = env.id("c");
    started(&env, &cfg, &id);
    env.wait_status(&id, "stopped");
    assert_eq!(read(&cg, "pids", "cgroup.procs").lines().count(), 1, "the orphan sleep");
    env.delete(&id, false);
    for d in cgroup_dirs(&cg) {
        assert!(!d.exists(), "{} left", d.display());
    }
}

#[test]
fn update_changes_the_limits() {
    let env = TestEnv::new("cgupd");
    let cg = leaf(&env, "upd");
    let cfg = placed(
        Config::sh("sleep 100"),
        &cg,
        json!({ "memory": { "limit": 67108864 }, "pids": { "limit": 20 } }),
    );
    let id = env.id("c");
    started(&env, &cfg, &id);
    env.berth(&[
        "update",
        "--memory",
        "32m",
        "--pids-limit",
        "7",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        &id,
    ])
    .ok();
    let file = env.dir.join("resources.json");
    fs::write(&file, r#"{ "pids": { "limit": 9 }, "cpu": { "shares": 256 } }"#).unwrap();
    env.berth(&["update", "--resources", file.to_str().unwrap(), &id]).ok();
    if v1() {
        assert_eq!(read(&cg, "memory", "memory.limit_in_bytes"), "33554432");
        assert_eq!(read(&cg, "cpu", "cpu.cfs_quota_us"), "20000");
        assert_eq!(read(&cg, "cpu", "cpu.shares"), "256");
    } else {
        assert_eq!(read(&cg, "", "memory.max"), "33554432");
        assert_eq!(read(&cg, "", "cpu.max"), "20000 100000");
    }
    assert_eq!(read(&cg, "pids", "pids.max"), "9");
    let out = env.berth(&["update", "--memory", "lots", &id]);
    assert!(!out.status.success());
    // checkBeforeUpdate refuses a limit below what the container already uses.
    fs::write(&file, r#"{ "memory": { "limit": 4096, "checkBeforeUpdate": true } }"#).unwrap();
    let out = env.berth(&["update", "--resources", file.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    assert!(
        out.stderr.contains("linux.resources.memory.limit") && out.stderr.contains("usage"),
        "{}",
        out.stderr
    );
}

#[test]
fn events_stats_prints_one_record_in_runcs_schema() {
    let env = TestEnv::new("cgstats");
    let cg = leaf(&env, "stats");
    let cfg = placed(
        Config::sh("sleep 100"),
        &cg,
        json!({ "memory": { "limit": 67108864 }, "pids": { "limit": 20 } }),
    );
    let id = env.id("c");
    started(&env, &cfg, &id);
    let out = env.berth(&["events", "--stats", &id]);
    let v: Value = serde_json::from_str(&out.ok().stdout).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    let data = &v["data"];
    assert_eq!(data["memory"]["usage"]["limit"], 67108864);
    assert!(data["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{data}");
    assert_eq!(data["pids"]["limit"], 20);
    assert!(data["pids"]["current"].as_u64().unwrap() >= 1);
    assert!(data["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{data}");
    for key in ["blkio", "hugetlb", "cpuset"] {
        assert!(data.get(key).is_some(), "{key} missing");
    }
}

#[test]
fn a_bad_value_names_the_config_path_and_the_file_and_leaves_nothing() {
    let env = TestEnv::new("cgbad");
    let mut cases =
        vec![(json!({ "cpu": { "cpus": "99" } }), "linux.resources.cpu.cpus", "cpuset.cpus")];
    if v1() && !Path::new("/sys/fs/cgroup/hugetlb").exists() {
        cases.push((
            json!({ "hugepageLimits": [{ "pageSize": "2MB", "limit": 4194304 }] }),
            "linux.resources.hugepageLimits[0]",
            "hugetlb.2MB.limit_in_bytes",
        ));
    }
    if !v1() {
        cases.push((
            json!({ "unified": { "no.such.file": "1" } }),
            "linux.resources.unified.no.such.file",
            "no.such.file",
        ));
    }
    for (resources, config, file) in cases {
        let cg = leaf(&env, "bad");
        let cfg = placed(Config::sh("sleep 100"), &cg, resources);
        let bundle = env.bundle(&cfg);
        let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &env.id("c")]);
        out.fails_with_one_line();
        assert!(out.stderr.contains(config) && out.stderr.contains(file), "{}", out.stderr);
        for d in cgroup_dirs(&cg) {
            assert!(!d.exists(), "{} left after a failed create", d.display());
        }
    }
    assert!(env.root_entries().is_empty(), "state left: {:?}", env.root_entries());
}

#[test]
fn systemd_cgroup_is_refused_with_a_clear_error() {
    let env = TestEnv::new("cgsysd");
    let cg = leaf(&env, "sysd");
    let bundle = env.bundle(&placed(Config::sh("true"), &cg, json!({})));
    let out = env.berth(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        &env.id("c"),
    ]);
    out.fails_with_one_line();
    assert!(
        out.stderr.contains("--systemd-cgroup") && out.stderr.contains("systemd"),
        "{}",
        out.stderr
    );
    if !Path::new("/run/systemd/system").exists() {
        assert!(out.stderr.contains("not running"), "{}", out.stderr);
    }
    assert!(env.root_entries().is_empty());
}

#[test]
fn exec_joins_the_containers_cgroup() {
    let env = TestEnv::new("cgexec");
    let cg = leaf(&env, "exec");
    let id = env.id("c");
    started(&env, &placed(Config::sh("sleep 100"), &cg, json!({ "pids": { "limit": 20 } })), &id);
    let out = env.berth(&["exec", &id, "cat", "/proc/self/cgroup"]);
    let controller = if v1() { ":pids:" } else { "0::" };
    let line =
        out.ok().stdout.lines().find(|l| l.contains(controller)).unwrap_or_default().to_owned();
    assert!(line.ends_with(&format!("/berth-test/{cg}")), "{}", out.stdout);
}
