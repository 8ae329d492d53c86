//! Hooks run at their lifecycle points, in the namespace the spec says, with the state JSON
//! on stdin; failures fail the operations the spec says they fail. Plus `linux.sysctl`.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::harness::{Config, TestEnv};

/// A hook running `script` with /bin/sh (the host's, or the container's for startContainer).
fn hook(script: &str) -> Value {
    json!({ "path": "/bin/sh", "args": ["sh", "-c", script] })
}

/// A host-side hook that records its stdin, its mount namespace and its turn in `dir`.
fn recorder(dir: &Path, name: &str) -> Value {
    let d = dir.display();
    hook(&format!("cat > {d}/{name}.json; readlink /proc/self/ns/mnt > {d}/{name}.mnt; echo {name} >> {d}/order"))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(
        &fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

#[test]
fn every_hook_runs_in_order_with_the_state() {
    let env = TestEnv::new("hooksall");
    let probe = env.probe_dir();
    let hooks = json!({
        "prestart": [recorder(&probe, "prestart")],
        "createRuntime": [recorder(&probe, "createRuntime")],
        "createContainer": [recorder(&probe, "createContainer")],
        // Inside the container after pivot_root: the probe dir is at /probe there.
        "startContainer": [hook("cat > /probe/startContainer.json; echo startContainer >> /probe/order")],
        "poststart": [recorder(&probe, "poststart")],
        "poststop": [recorder(&probe, "poststop")],
    });
    let cfg = Config::new(&["sleep", "60"]).probe(&probe).set("/hooks", hooks).annotation("k", "v");
    let bundle = env.bundle(&cfg);
    let id = env.id("h");
    env.create(&id, &bundle);
    let pid = env.pid_of(&id);
    let host_mnt = fs::read_link("/proc/self/ns/mnt").unwrap().display().to_string();
    let container_mnt = fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap().display().to_string();
    for name in ["prestart", "createRuntime", "createContainer"] {
        let state = read_json(&probe.join(format!("{name}.json")));
        assert_eq!(state["id"], id.as_str(), "{name}: {state}");
        assert_eq!(state["pid"], pid, "{name}: {state}");
        assert_eq!(state["annotations"]["k"], "v", "{name}: {state}");
        assert_eq!(Path::new(state["bundle"].as_str().unwrap()), bundle, "{name}: {state}");
    }
    let mnt = |name: &str| {
        fs::read_to_string(probe.join(format!("{name}.mnt"))).unwrap().trim().to_string()
    };
    assert_eq!(mnt("createRuntime"), host_mnt, "createRuntime runs in the runtime namespace");
    assert_eq!(mnt("prestart"), host_mnt);
    assert_eq!(
        mnt("createContainer"),
        container_mnt,
        "createContainer runs in the container namespace"
    );
    assert!(!probe.join("startContainer.json").exists(), "startContainer ran before start");

    env.start(&id);
    assert_eq!(read_json(&probe.join("startContainer.json"))["id"], id.as_str());
    assert_eq!(read_json(&probe.join("poststart.json"))["status"], "running");
    env.kill(&id, Some("KILL"));
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
    assert_eq!(read_json(&probe.join("poststop.json"))["status"], "stopped");
    let order = fs::read_to_string(probe.join("order")).unwrap();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    );
}

#[test]
fn a_failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let env = TestEnv::new("hooksfail");
    let hooks = json!({ "createRuntime": [hook("echo no-way >&2; exit 4")] });
    let bundle = env.bundle(&Config::new(&["true"]).set("/hooks", hooks));
    let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &env.id("h")]);
    out.fails_with_one_line();
    assert!(
        out.stderr.contains("createRuntime hook /bin/sh") && out.stderr.contains("no-way"),
        "{out:#?}"
    );
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_fails_create() {
    let env = TestEnv::new("hookstimeout");
    let hooks = json!({ "createContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", "sleep 30"], "timeout": 1 }] });
    let bundle = env.bundle(&Config::new(&["true"]).set("/hooks", hooks));
    let started = std::time::Instant::now();
    let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &env.id("h")]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("timed out"), "{out:#?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn sysctls_apply_inside_only() {
    let env = TestEnv::new("sysctl");
    let host_before = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let want = if host_before.trim() == "1" { "0" } else { "1" };
    let sysctl = json!({ "net.ipv4.ip_forward": want, "kernel.shmmni": "1234" });
    let cfg = Config::sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni")
        .set("/linux/sysctl", sysctl);
    let bundle = env.bundle(&cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("s")]);
    out.ok();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), [want, "1234"]);
    assert_eq!(fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(), host_before);

    let host_wide = Config::sh("true").set("/linux/sysctl", json!({ "vm.swappiness": "1" }));
    let out =
        env.berth(&["run", "--bundle", env.bundle(&host_wide).to_str().unwrap(), &env.id("s")]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("linux.sysctl.vm.swappiness"), "{out:#?}");
}

#[test]
fn create_hooks_get_the_state_with_annotations_of_kubernetes_size() {
    let env = TestEnv::new("hookbig");
    let probe = env.probe_dir();
    // Kubernetes allows 256 KiB of annotations; the state crosses the sync socket whole.
    let big = "x".repeat(256 << 10);
    let record = hook(&format!("cat > {}/state.json", probe.display()));
    let cfg = Config::sh("true")
        .annotation("big", &big)
        .set("/hooks", json!({ "createContainer": [record] }));
    let bundle = env.bundle(&cfg);
    env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("c")]).ok();
    let state = read_json(&probe.join("state.json"));
    assert_eq!(state["annotations"]["big"].as_str().map(str::len), Some(big.len()));
}
