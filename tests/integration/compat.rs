//! Behaviours found by running crun's test suite beside runc and crun: unknown capability
//! names are ignored with a warning, UTS sysctls that fight their config field are refused,
//! and device nodes may sit outside /dev.

use serde_json::json;

use crate::harness::{Config, TestEnv};

/// The hexadecimal capability masks of the probe's own /proc/self/status, in the order
/// CapInh, CapPrm, CapEff, CapBnd, CapAmb.
const CAP_MASKS: &str = "grep '^Cap' /proc/self/status | cut -f2";

#[test]
fn unknown_capability_names_are_ignored_with_a_warning() {
    let env = TestEnv::new("capunknown");
    let sets = json!(["CAP_KILL", "CAP_UNKNOWN", "UNKNOWN_CAP"]);
    let cfg = Config::sh(CAP_MASKS).set(
        "/process/capabilities",
        json!({ "bounding": sets, "effective": sets, "permitted": sets, "inheritable": [], "ambient": [] }),
    );
    let bundle = env.bundle(&cfg);
    let (out, log) = env.berth_logged(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("c")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    // CAP_KILL (bit 5) and nothing else is granted for the unknown names.
    let masks: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        masks,
        [
            "0000000000000000",
            "0000000000000020",
            "0000000000000020",
            "0000000000000020",
            "0000000000000000"
        ],
        "{out:#?}"
    );
    if !crate::harness::reference_runc() {
        assert!(log.contains("CAP_UNKNOWN") && log.contains("warn"), "{log}");
    }
}

#[test]
fn exec_cap_with_an_unknown_name_runs_without_it() {
    let env = TestEnv::new("execcap");
    let cfg = Config::new(&["sleep", "30"]).set(
        "/process/capabilities",
        json!({ "bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": [] }),
    );
    let bundle = env.bundle(&cfg);
    let id = env.id("c");
    env.create(&id, &bundle).ok();
    env.start(&id).ok();
    let out = env.berth(&["exec", "--cap", "CAP_UNKNOWN", &id, "sh", "-c", CAP_MASKS]);
    assert_eq!(out.code(), 0, "{out:#?}");
    assert!(out.stdout.lines().all(|l| l == "0000000000000000"), "{out:#?}");
    let out = env.berth(&["exec", "--cap", "CAP_KILL", &id, "sh", "-c", CAP_MASKS]);
    assert_eq!(out.stdout.lines().nth(2), Some("0000000000000020"), "{out:#?}");
    env.delete(&id, true).ok();
}

#[test]
fn the_kernel_hostname_sysctl_is_refused_in_favour_of_the_hostname_field() {
    let env = TestEnv::new("sysctlhost");
    for with_uts in [true, false] {
        let mut cfg =
            Config::sh("hostname").set("/linux/sysctl", json!({ "kernel.hostname": "foo" }));
        if !with_uts {
            cfg = cfg.without_namespace("uts").set("/hostname", json!(null));
        }
        let bundle = env.bundle(&cfg);
        let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("h")]);
        out.fails_with_one_line();
        assert!(out.stderr.contains("kernel.hostname"), "{out:#?}");
    }
}

#[test]
fn kernel_domainname_must_agree_with_the_domainname_field() {
    let env = TestEnv::new("sysctldomain");
    let cfg = |sysctl: &str| {
        Config::sh("cat /proc/sys/kernel/domainname")
            .set("/domainname", json!("foo"))
            .set("/linux/sysctl", json!({ "kernel.domainname": sysctl }))
    };
    let bundle = env.bundle(&cfg("bar"));
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("d")]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("domainname"), "{out:#?}");

    let bundle = env.bundle(&cfg("foo"));
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("d")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout.trim(), "foo");
}

#[test]
fn device_nodes_may_be_created_outside_dev() {
    let env = TestEnv::new("devoutside");
    let node = |path: &str| json!({ "path": path, "type": "c", "major": 1, "minor": 3 });
    let cfg = Config::sh("stat -c '%F %t:%T' /foo-dev /subdir/foo-dev")
        .set("/linux/devices", json!([node("/foo-dev"), node("/subdir/foo-dev")]));
    let bundle = env.bundle(&cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("n")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["character special file 1:3", "character special file 1:3"], "{out:#?}");
}
