//! `berth features`: the document parses as the spec's schema, and every claim in it is
//! backed by a run of the real binary.

use std::fs;
use std::str::FromStr;

use serde_json::{json, Value};

use crate::harness::{Config, TestEnv};
use crate::seccomp::{TESTED_ACTIONS, TESTED_FLAGS, TESTED_OPERATORS};

fn features(env: &TestEnv) -> Value {
    let out = env.berth(&["features"]);
    out.ok();
    let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:#?}"));
    serde_json::from_value::<oci_spec::runtime::Features>(doc.clone())
        .unwrap_or_else(|e| panic!("not the spec's Features structure: {e}"));
    doc
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// `cfg` with `mount` appended to its mounts.
fn with_mount(mut cfg: Config, mount: Value) -> Config {
    cfg.0["mounts"].as_array_mut().unwrap().push(mount);
    cfg
}

/// `cfg` run in the foreground; its output.
fn run(env: &TestEnv, cfg: &Config) -> crate::harness::Out {
    let bundle = env.bundle(cfg);
    env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("f")])
}

#[test]
fn only_properties_of_its_own_spec_version() {
    let env = TestEnv::new("featkeys");
    let doc = features(&env);
    assert_eq!(doc["ociVersionMax"], berth::OCI_VERSION);
    // runtime-spec 1.2.0: no netDevices or memoryPolicy (1.3.0) may appear.
    let top = [
        "ociVersionMin",
        "ociVersionMax",
        "hooks",
        "mountOptions",
        "linux",
        "annotations",
        "potentiallyUnsafeConfigAnnotations",
    ];
    assert!(keys(&doc).iter().all(|k| top.contains(k)), "{:?}", keys(&doc));
    let linux = [
        "namespaces",
        "capabilities",
        "cgroup",
        "seccomp",
        "apparmor",
        "selinux",
        "intelRdt",
        "mountExtensions",
    ];
    assert!(keys(&doc["linux"]).iter().all(|k| linux.contains(k)), "{:?}", keys(&doc["linux"]));
    let version = libseccomp::ScmpVersion::current().unwrap();
    let expected = format!("{}.{}.{}", version.major, version.minor, version.micro);
    assert_eq!(doc["annotations"]["io.github.seccomp.libseccomp.version"], json!(expected));
}

#[test]
fn both_oci_versions_are_accepted() {
    let env = TestEnv::new("featversion");
    let doc = features(&env);
    for key in ["ociVersionMin", "ociVersionMax"] {
        let out = run(&env, &Config::new(&["true"]).set("/ociVersion", doc[key].clone()));
        assert_eq!(out.code(), 0, "{key}: {out:#?}");
    }
}

#[test]
fn every_listed_hook_runs() {
    let env = TestEnv::new("feathooks");
    for hook in strings(&features(&env)["hooks"]) {
        let probe = env.probe_dir();
        let mark = probe.join("ran");
        // createContainer runs before pivot_root, startContainer after: /probe or the host path.
        let target = if hook == "startContainer" {
            "/probe/ran".to_string()
        } else {
            mark.display().to_string()
        };
        let hooks = json!({ hook.clone(): [{ "path": "/bin/sh", "args": ["sh", "-c", format!("echo >{target}")] }] });
        let out = run(&env, &Config::new(&["true"]).probe(&probe).set("/hooks", hooks));
        assert_eq!(out.code(), 0, "{hook}: {out:#?}");
        assert!(mark.exists(), "{hook} did not run: {out:#?}");
    }
}

#[test]
fn every_listed_mount_option_is_applied() {
    let env = TestEnv::new("featmount");
    let options = strings(&features(&env)["mountOptions"]);
    // A fresh tmpfs takes every option but the ones that make it a bind or a remount. tmpfs
    // refuses data it does not know, so success means each was taken as a flag; later
    // options win (`rw` after `ro`, `sync` after `async`, `suid` after `nosuid`).
    let special = ["bind", "rbind", "remount"];
    let plain: Vec<&String> = options.iter().filter(|o| !special.contains(&o.as_str())).collect();
    let probe = env.probe_dir();
    let cfg = with_mount(
        Config::sh("grep ' /m ' /proc/mounts; grep ' /b ' /proc/mounts"),
        json!({ "destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": plain }),
    )
    .bind(&probe, "/b", true);
    let out = run(&env, &cfg);
    assert_eq!(out.code(), 0, "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out:#?}");
    assert!(lines[0].contains(" rw,sync,") && !lines[0].contains("nosuid"), "{out:#?}");
    // The bind mount of the harness is `rbind` then `ro`, which takes a remount.
    assert!(lines[1].contains(" ro,"), "{out:#?}");
    assert!(special.iter().all(|o| options.iter().any(|l| l == o)));
}

#[test]
fn every_listed_namespace_is_created() {
    let env = TestEnv::new("featns");
    let namespaces = strings(&features(&env)["linux"]["namespaces"]);
    let mut cfg = Config::sh(
        "for n in cgroup ipc mnt net pid user uts time; do readlink /proc/self/ns/$n; done",
    )
    .user_namespace(100000, 65536);
    let list: Vec<Value> = namespaces.iter().map(|n| json!({ "type": n })).collect();
    cfg = cfg.set("/linux/namespaces", json!(list));
    let out = run(&env, &cfg);
    assert_eq!(out.code(), 0, "{out:#?}");
    let host: Vec<String> = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts", "time"]
        .iter()
        .map(|n| fs::read_link(format!("/proc/self/ns/{n}")).unwrap().display().to_string())
        .collect();
    let inside: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(inside.len(), 8, "{out:#?}");
    for (h, i) in host.iter().zip(&inside) {
        assert_ne!(h, i, "{out:#?}");
    }
    assert_eq!(namespaces.len(), 8);
}

#[test]
fn every_listed_capability_can_be_granted() {
    let env = TestEnv::new("featcaps");
    let caps = strings(&features(&env)["linux"]["capabilities"]);
    // Listed means recognized: the host may lack some (this one has no CAP_SYS_RESOURCE).
    // All go into the bounding set; every one the host has is granted in every set.
    let host = caps::read(None, caps::CapSet::Bounding).unwrap();
    let granted: Vec<&String> =
        caps.iter().filter(|c| host.contains(&caps::Capability::from_str(c).unwrap())).collect();
    let sets = json!({ "bounding": caps, "effective": granted, "permitted": granted,
                       "inheritable": granted, "ambient": granted });
    let script = "grep -E '^Cap(Eff|Amb)' /proc/self/status";
    let out = run(&env, &Config::sh(script).set("/process/capabilities", sets));
    assert_eq!(out.code(), 0, "{out:#?}");
    let bit = |c: &String| caps::Capability::from_str(c).unwrap().bitmask();
    let mask = granted.iter().map(|c| bit(c)).fold(0, |a, b| a | b);
    assert_eq!(out.stdout, format!("CapEff:\t{mask:016x}\nCapAmb:\t{mask:016x}\n"));
    assert!(granted.len() + 2 >= caps.len(), "the host lacks too many capabilities to test");
}

#[test]
fn what_is_listed_as_unsupported_is_refused() {
    let env = TestEnv::new("featunsupported");
    let doc = features(&env);
    let linux = &doc["linux"];
    let base = || Config::new(&["true"]);
    let mut refused = Vec::new();
    // v1 and v2 are backed by cgroups.rs (host) and vm.rs (a pure cgroup v2 kernel).
    assert_eq!(linux["cgroup"]["v1"], true);
    assert_eq!(linux["cgroup"]["v2"], true);
    assert_eq!(linux["cgroup"]["rdma"], false, "no test backs rdma yet");
    // The systemd driver is backed by the systemd guest (vm_systemd.rs, systemd_driver.rs).
    assert_eq!(linux["cgroup"]["systemd"], true);
    if linux["apparmor"]["enabled"] == false {
        refused
            .push(("process.apparmorProfile", base().set("/process/apparmorProfile", json!("p"))));
    }
    if linux["selinux"]["enabled"] == false {
        refused.push((
            "process.selinuxLabel",
            base().set("/process/selinuxLabel", json!("system_u:system_r:x")),
        ));
    }
    if linux["intelRdt"]["enabled"] == false {
        refused.push(("linux.intelRdt", base().set("/linux/intelRdt", json!({ "closID": "x" }))));
    }
    // Id-mapped mounts are claimed: isolation.rs runs them with and without a user namespace.
    assert_eq!(linux["mountExtensions"]["idmap"]["enabled"], true);
    assert_eq!(refused.len(), 3, "features now claims support: extend the tests that back it");
    for (path, cfg) in refused {
        let bundle = env.bundle(&cfg);
        let id = env.id("u");
        let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
        out.fails_with_one_line();
        assert!(out.stderr.contains(path), "{path}: {out:#?}");
    }
}

#[test]
fn seccomp_claims_are_exercised() {
    let env = TestEnv::new("featseccomp");
    let seccomp = features(&env)["linux"]["seccomp"].clone();
    assert_eq!(seccomp["enabled"], true);
    let tested = |list: &[&str], key: &str| {
        for name in strings(&seccomp[key]) {
            assert!(list.contains(&name.as_str()), "{key}: {name} is listed but no test runs it");
        }
    };
    tested(TESTED_ACTIONS, "actions");
    tested(TESTED_OPERATORS, "operators");
    tested(TESTED_FLAGS, "knownFlags");
    let known = strings(&seccomp["knownFlags"]);
    assert!(strings(&seccomp["supportedFlags"]).iter().all(|f| known.contains(f)));
    // Every listed architecture in one profile: the filter still works.
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": seccomp["archs"],
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" }]
    });
    let out = run(
        &env,
        &Config::sh("mkdir /tmp/x 2>/dev/null || echo refused").set("/linux/seccomp", profile),
    );
    assert_eq!(out.stdout, "refused\n", "{out:#?}");
}
