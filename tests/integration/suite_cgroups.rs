//! cgroup behaviour found by running runc's own bats suite (v1.1.5) against berth on a hybrid
//! host (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified), each checked here in our own
//! terms: device nodes and device rules, the hierarchies an init and an exec'd process join,
//! the warning for a cgroup that already holds processes, and the default `spec`.

use serde_json::json;

use crate::harness::{Config, TestEnv};

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
