//! cgroup behaviour found by running runc's own bats suite (v1.1.5) against berth on a hybrid
//! host (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified), each checked here in our own
//! terms: device nodes and device rules, the hierarchies an init and an exec'd process join,
//! the warning for a cgroup that already holds processes, and the default `spec`.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::harness::{reference_runc, Config, TestEnv};

/// Runs `cfg` in the foreground and returns what it printed.
fn output_of(env: &TestEnv, cfg: &Config, tag: &str) -> String {
    let bundle = env.bundle(cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id(tag)]);
    out.ok();
    out.stdout.trim().to_string()
}

/// Opens each of `nodes` for writing (without writing) and prints `open` or `denied`.
fn open_script(nodes: &[&str]) -> String {
    nodes
        .iter()
        .map(|n| format!("if (true > {n}) 2>/dev/null; then echo open; else echo denied; fi"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A node listed in `linux.devices` is made, but only `linux.resources.devices` decides
/// whether it may be opened: a deny-everything rule keeps it closed (the default nodes such
/// as /dev/null stay usable), and an allow rule for it opens it. berth used to allow every
/// listed node after the rules, which undid the config's deny.
#[test]
fn listed_device_node_obeys_the_device_rules() {
    let env = TestEnv::new("sdevrule");
    // /dev/kmsg: opening it for writing needs no capability, and it is no default node.
    let node = json!([{ "path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11 }]);
    let script = open_script(&["/dev/kmsg", "/dev/null"]);
    let deny_all = json!({ "allow": false, "access": "rwm" });
    let allow_kmsg = json!({ "allow": true, "type": "c", "major": 1, "minor": 11, "access": "w" });
    let mut seen = Vec::new();
    for rules in [json!([deny_all]), json!([deny_all, allow_kmsg])] {
        let cfg = Config::sh(&script)
            .set("/linux/devices", node.clone())
            .set("/linux/resources", json!({ "devices": rules }));
        seen.push(output_of(&env, &cfg, "c").replace('\n', " "));
    }
    assert_eq!(
        seen,
        ["denied open", "open open"],
        "/dev/kmsg and /dev/null, without and with an allow rule"
    );
}

/// A config without `linux.resources.devices` gets runc's reading: every device denied but
/// the default nodes. A process with CAP_MKNOD can make a node for any device; berth used to
/// leave the host's access in place, so the node for /dev/kmsg (or a host disk) opened.
#[test]
fn no_device_rules_deny_every_device_but_the_default_nodes() {
    let env = TestEnv::new("snorules");
    let mknod = "mknod /tmp/kmsg c 1 11 && echo made; ";
    let script = format!("{mknod}{}", open_script(&["/tmp/kmsg", "/dev/null", "/dev/zero"]));
    let caps = json!(["CAP_MKNOD", "CAP_DAC_OVERRIDE"]);
    let cfg = Config::sh(&script).set(
        "/process/capabilities",
        json!({ "bounding": caps, "effective": caps, "permitted": caps }),
    );
    assert_eq!(output_of(&env, &cfg, "c").replace('\n', " "), "made denied open open");
}

/// Whether this host is hybrid: v1 controllers, and cgroup2 mounted at /sys/fs/cgroup/unified.
fn hybrid() -> bool {
    Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists()
        && Path::new("/sys/fs/cgroup/devices/tasks").exists()
}

/// The cgroup2 (`0::`) line of a /proc/PID/cgroup text.
fn unified_line(text: &str) -> Option<String> {
    text.lines().find(|l| l.starts_with("0::")).map(str::to_owned)
}

/// On a hybrid host the init and an exec'd process are placed in the cgroup2 hierarchy too
/// (`0::/berth-test/<leaf>`), at the same path as in the v1 controllers, and `delete` removes
/// that directory as well (the guard checks every hierarchy). berth used to leave both in
/// the runtime's own cgroup2 cgroup.
#[test]
fn hybrid_host_places_init_and_exec_in_the_unified_cgroup() {
    if !hybrid() {
        eprintln!("skipped: not a hybrid cgroup host");
        return;
    }
    let env = TestEnv::new("shybrid");
    let leaf = env.id("cg");
    let cfg = Config::new(&["sleep", "100"])
        .set("/linux/cgroupsPath", json!(format!("/berth-test/{leaf}")));
    let id = env.id("c");
    env.create(&id, &env.bundle(&cfg));
    env.start(&id);
    let pid = env.pid_of(&id);
    let init = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("0::/berth-test/{leaf}");
    assert_eq!(unified_line(&init).as_deref(), Some(want.as_str()), "init: {init}");
    let memory = init.lines().find(|l| l.contains(":memory:")).unwrap_or_default();
    assert!(memory.ends_with(&format!("/berth-test/{leaf}")), "init: {init}");
    let out = env.berth(&["exec", &id, "cat", "/proc/self/cgroup"]);
    out.ok();
    assert_eq!(unified_line(&out.stdout).as_deref(), Some(want.as_str()), "exec: {}", out.stdout);
    env.delete(&id, true);
    assert!(!Path::new("/sys/fs/cgroup/unified/berth-test").join(&leaf).exists());
}

/// A container whose `linux.cgroupsPath` already holds another container's processes still
/// starts, with a warning on stderr saying so (runc's words: "container's cgroup is not
/// empty"); the first container into the empty cgroup gets none. berth said nothing.
#[test]
fn sharing_a_busy_cgroup_warns() {
    let env = TestEnv::new("sbusycg");
    let leaf = env.id("cg");
    let cfg = Config::new(&["sleep", "100"])
        .set("/linux/cgroupsPath", json!(format!("/berth-test/{leaf}")));
    let first = env.id("a");
    let out = env.create(&first, &env.bundle(&cfg));
    assert!(!out.stderr.contains("not empty"), "first container: {}", out.stderr);
    env.start(&first);
    let second = env.id("b");
    let out = env.create(&second, &env.bundle(&cfg));
    assert!(
        out.stderr.contains("container's cgroup is not empty"),
        "no warning for the shared cgroup: {:?}",
        out.stderr
    );
    env.delete(&second, true);
    env.delete(&first, true);
}

/// `spec` writes a cgroup namespace only on a cgroup v2 host, as `runc spec` does; on a v1 or
/// hybrid host a config that adds one (as runc's own tests do to its output) would otherwise
/// list it twice, which the runtime spec makes an error.
#[test]
fn spec_has_a_cgroup_namespace_only_on_cgroup_v2() {
    let env = TestEnv::new("sspecns");
    let dir = env.dir.join("specbundle");
    fs::create_dir_all(&dir).unwrap();
    env.berth(&["spec", "--bundle", dir.to_str().unwrap()]).ok();
    let cfg: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let has_cgroupns =
        cfg["linux"]["namespaces"].as_array().unwrap().iter().any(|ns| ns["type"] == "cgroup");
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(has_cgroupns, v2, "cgroup namespace in spec output on a host with v2={v2}");
}

/// The v1 devices.list of the container configured by `cfg`.
fn dir_of_devices(cfg: &Config) -> std::path::PathBuf {
    let path = cfg.0["linux"]["cgroupsPath"].as_str().expect("a cgroupsPath");
    Path::new("/sys/fs/cgroup/devices").join(path.trim_start_matches('/')).join("devices.list")
}

/// `update --resources` with device rules on a running container changes the v1 rules by
/// the difference only: a device allowed before and after (here /dev/null, opened without
/// pause by a few loops in the container) stays allowed throughout. berth wrote the whole
/// list again, starting with deny-everything, so each update left a moment in which
/// /dev/null could not be opened. Each update re-applies the container's own rules;
/// whether a loop hits the old window is chance, but with the minimal change none can.
#[test]
fn device_rule_update_never_denies_an_allowed_device() {
    if !Path::new("/sys/fs/cgroup/devices/tasks").exists() {
        eprintln!("skipped: no cgroup v1 devices controller");
        return;
    }
    let env = TestEnv::new("sdevupd");
    let probe = env.probe_dir();
    let rules = json!({ "devices": [{ "allow": false, "access": "rwm" }] });
    let loop_ = "while :; do (true > /dev/null) 2>/dev/null || echo x >> /probe/fail; done";
    let script = format!("for i in 1 2 3; do {loop_} & done; touch /probe/ready; wait");
    let leaf = env.id("cg");
    let cfg = Config::sh(&script)
        .set("/linux/resources", rules.clone())
        .set("/linux/cgroupsPath", json!(format!("/berth-test/{leaf}")))
        .probe(&probe);
    let id = env.id("c");
    env.create(&id, &env.bundle(&cfg));
    env.start(&id);
    assert!(crate::harness::wait_for(std::time::Duration::from_secs(10), || probe
        .join("ready")
        .exists()));
    let file = env.dir.join("resources.json");
    fs::write(&file, rules.to_string()).unwrap();
    for _ in 0..60 {
        env.berth(&["update", "--resources", file.to_str().unwrap(), &id]).ok();
    }
    // A real change still lands (runc 1.1.5's update leaves device rules alone).
    let allow = json!({ "allow": true, "type": "c", "major": 1, "minor": 11, "access": "w" });
    let more = json!({ "devices": [{ "allow": false, "access": "rwm" }, allow] });
    fs::write(&file, more.to_string()).unwrap();
    env.berth(&["update", "--resources", file.to_str().unwrap(), &id]).ok();
    let list = fs::read_to_string(dir_of_devices(&cfg)).unwrap();
    assert!(
        reference_runc() || list.lines().any(|l| l == "c 1:11 w"),
        "devices.list after the change: {list}"
    );
    env.delete(&id, true);
    let fails = fs::read_to_string(probe.join("fail")).unwrap_or_default().lines().count();
    assert_eq!(fails, 0, "/dev/null could not be opened {fails} times during the updates");
}
