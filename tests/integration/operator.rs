//! What an operator meets first: usage errors, `spec`, `check`'s report, warnings on every
//! start, running as a user other than root, and `make demo`'s container.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::harness::{reference_runc, Config, Out, TestEnv};

#[test]
fn usage_errors_are_one_line_naming_the_command_with_runcs_exit_code() {
    if reference_runc() {
        return; // runc prints its whole help for a bad flag.
    }
    let env = TestEnv::new("usage");
    let cases: [(&[&str], i32, &[&str]); 5] = [
        // runc: "No help topic for 'foo'", exit 3.
        (&["foo"], 3, &["'foo'"]),
        (&["kill", "some-id", "-9"], 1, &["berth kill", "'-9'"]),
        (&["list", "--format", "yaml"], 1, &["berth list", "--format", "'yaml'"]),
        (&["--no-such-flag", "list"], 1, &["--no-such-flag"]),
        (&["create"], 1, &["berth create", "<ID>"]),
    ];
    for (args, code, words) in cases {
        let out = env.berth(args);
        out.fails_with_one_line();
        assert_eq!(out.code(), code, "{out:#?}");
        for word in words {
            assert!(out.stderr.contains(word), "{word:?} not named: {out:#?}");
        }
        assert!(out.stdout.is_empty(), "{out:#?}");
    }
    // Help is not an error: stdout, exit 0.
    let help = env.berth(&["kill", "--help"]);
    assert_eq!(help.code(), 0, "{help:#?}");
    assert!(help.stdout.contains("Usage:"), "{help:#?}");
}

#[test]
fn spec_over_an_existing_config_says_remove_it_first() {
    let env = TestEnv::new("specexists");
    let dir = env.dir.join("bundle");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("config.json"), "mine").unwrap();
    let out = env.berth(&["spec", "--bundle", dir.to_str().unwrap()]);
    out.fails_with_one_line();
    assert!(out.stderr.to_lowercase().contains("remove it first"), "{out:#?}");
    assert_eq!(fs::read_to_string(dir.join("config.json")).unwrap(), "mine");
}

/// The lines of `check`'s report that start with `pointer`.
fn lines_at<'a>(out: &'a Out, pointer: &str) -> Vec<&'a str> {
    out.stdout.lines().filter(|l| l.starts_with(&format!("{pointer}: "))).collect()
}

#[test]
fn check_reports_every_problem_type_errors_included_each_with_pointer_and_hint() {
    if reference_runc() {
        return; // runc has no check.
    }
    let env = TestEnv::new("checkall");
    let mut cfg = Config::new(&["true"]).cwd("relative").set("/process/user/uid", json!(-1));
    let namespaces = cfg.0["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.push(json!({ "type": "foo" }));
    let bad_ns = namespaces.len() - 1;
    cfg.0["process"]["capabilities"] = json!({ "bounding": ["CAP_KILL", "CAP_FOO"] });
    let missing = env.dir.join("no-such-source");
    cfg = cfg.bind(&missing, "/data", true);
    let bind = cfg.0["mounts"].as_array().unwrap().len() - 1;
    let bundle = env.bundle(&cfg);

    let out = env.berth(&["check", "--bundle", bundle.to_str().unwrap()]);
    assert_eq!(out.code(), 1, "{out:#?}");
    let uid = lines_at(&out, "/process/user/uid");
    assert!(uid.len() == 1 && uid[0].contains("2147483647"), "{out:#?}");
    let ns = lines_at(&out, &format!("/linux/namespaces/{bad_ns}/type"));
    assert!(ns.len() == 1 && ns[0].contains("foo") && ns[0].contains("hint: "), "{out:#?}");
    assert_eq!(lines_at(&out, "/process/cwd").len(), 1, "{out:#?}");
    let source = lines_at(&out, &format!("/mounts/{bind}/source"));
    assert!(source.len() == 1 && source[0].contains("exists on the host"), "{out:#?}");
    let cap = lines_at(&out, "/process/capabilities/bounding/1");
    assert!(cap.len() == 1 && cap[0].contains("CAP_FOO") && cap[0].contains("warning"), "{out:#?}");
    assert!(out.stdout.lines().all(|l| l.starts_with('/') && l.contains("hint: ")), "{out:#?}");
    assert!(env.root_entries().is_empty(), "check made state: {:?}", env.root_entries());
}

#[test]
fn ambient_capabilities_that_cannot_be_raised_are_one_warning_line() {
    // `runc spec` writes such a config; every start of it printed a line per capability.
    let env = TestEnv::new("ambientline");
    let held = json!(["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_SETUID"]);
    let cfg = Config::new(&["true"]).set(
        "/process/capabilities",
        json!({ "bounding": held, "effective": held, "permitted": held,
                "inheritable": ["CAP_KILL"], "ambient": held }),
    );
    let bundle = env.bundle(&cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("a")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    if reference_runc() {
        return; // runc says nothing.
    }
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains("ambient")).collect();
    assert_eq!(lines.len(), 1, "{out:#?}");
    for cap in ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_SETUID"] {
        assert!(lines[0].contains(cap), "{out:#?}");
    }
    assert!(!lines[0].contains("CAP_KILL"), "{out:#?}");
}

#[test]
fn a_user_other_than_root_is_told_cgroups_need_root() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("notroot");
    let nobody = 65534;
    // A user namespace mapping nobody to root: with --rootless false (rootless, berth would
    // go without the cgroup) the cgroup is the first thing refused.
    let bundle = env.bundle(&Config::new(&["true"]).user_namespace(nobody, 1));
    fs::create_dir_all(&env.root).unwrap();
    fs::set_permissions(&env.root, fs::Permissions::from_mode(0o1777)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(env.binary())
        .args(["--rootless", "false", "--root", env.root.to_str().unwrap(), "run", "--bundle"])
        .arg(&bundle)
        .arg(env.id("u"))
        .output()
        .expect("running setpriv");
    let out = Out {
        cmdline: "setpriv berth run".into(),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    out.fails_with_one_line();
    assert!(out.stderr.contains("cgroup") && out.stderr.contains("needs root"), "{out:#?}");
    assert!(out.stderr.contains("as uid 65534"), "{out:#?}");
    assert!(env.root_entries().is_empty(), "left: {:?}", env.root_entries());
}

#[test]
fn the_demo_container_runs_and_leaves_no_cgroup() {
    let env = TestEnv::new("demo");
    let bundle = env.dir.join("demo-bundle");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo-bundle.sh");
    let made = Command::new(&script).arg(&bundle).output().expect("running demo-bundle.sh");
    assert!(made.status.success(), "{made:#?}");
    let id = env.id("demo");
    env.track(&id);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 0, "{out:#?}");
    assert!(out.stdout.contains("berth-demo"), "{out:#?}");
    let cgroups: Vec<_> = fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("berth-test/demo"))
        .filter(|p| p.exists())
        .collect();
    assert!(cgroups.is_empty(), "the demo left {cgroups:?}");
}
