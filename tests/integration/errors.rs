//! Errors: non-zero exit, one line on stderr, a JSON error record with --log-format json, and
//! nothing left behind (no state dir, no process).

use std::fs;

use serde_json::{json, Value};

use crate::harness::{reference_runc, Config, TestEnv};

fn assert_nothing_left(env: &TestEnv) {
    assert!(env.root_entries().is_empty(), "state left: {:?}", env.root_entries());
}

#[test]
fn unknown_id_state_start_kill_delete() {
    let env = TestEnv::new("unknownid");
    let id = env.id("missing");
    for args in [
        vec!["state", id.as_str()],
        vec!["start", id.as_str()],
        vec!["kill", id.as_str()],
        vec!["kill", id.as_str(), "KILL"],
        vec!["delete", id.as_str()],
    ] {
        env.berth(&args).fails_with_one_line();
        assert!(!env.root.join(&id).exists(), "{args:?} made a state dir");
    }
    assert_nothing_left(&env);
}

#[test]
fn duplicate_id_on_create_is_refused_and_first_survives() {
    let env = TestEnv::new("dupid");
    let first = env.bundle(&Config::new(&["sleep", "1000"]));
    let second = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("c");
    env.create(&id, &first);
    let before = env.state(&id);

    env.berth(&["create", "--bundle", second.to_str().unwrap(), &id]).fails_with_one_line();
    let after = env.state(&id);
    assert_eq!(after["status"], "created", "{after}");
    assert_eq!(after["pid"], before["pid"], "the refused create replaced the first container");
    assert_eq!(after["bundle"], first.to_str().unwrap(), "{after}");
    env.delete(&id, true);
}

#[test]
fn bundle_without_config_json() {
    let env = TestEnv::new("noconfig");
    let bundle = env.bare_bundle();
    for cmd in ["create", "run"] {
        let id = env.id(cmd);
        env.berth(&[cmd, "--bundle", bundle.to_str().unwrap(), &id]).fails_with_one_line();
        assert!(!env.root.join(&id).exists(), "{cmd} left a state dir");
    }
    assert_nothing_left(&env);
}

#[test]
fn bundle_dir_missing() {
    let env = TestEnv::new("nobundle");
    let missing = env.dir.join("no-such-bundle");
    for cmd in ["create", "run"] {
        let id = env.id(cmd);
        env.berth(&[cmd, "--bundle", missing.to_str().unwrap(), &id]).fails_with_one_line();
        assert!(!env.root.join(&id).exists(), "{cmd} left a state dir");
    }
    assert!(!missing.exists(), "the missing bundle was created");
    assert_nothing_left(&env);
}

#[test]
fn config_json_not_json() {
    let env = TestEnv::new("badjson");
    let bundle = env.bare_bundle();
    fs::write(bundle.join("config.json"), "{ this is not json").unwrap();
    let id = env.id("c");
    env.berth(&["create", "-b", bundle.to_str().unwrap(), &id]).fails_with_one_line();
    assert_nothing_left(&env);
}

/// Writes `cfg`, expects create to fail with one line mentioning `needle`, nothing left.
fn refused(tag: &str, cfg: Config, needle: &str) {
    let env = TestEnv::new(tag);
    let bundle = env.bundle(&cfg);
    let id = env.id("c");
    let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    assert!(
        out.stderr.to_lowercase().contains(&needle.to_lowercase()),
        "error should name {needle:?}: {out:#?}"
    );
    assert_nothing_left(&env);
}

#[test]
fn args_as_string_is_refused() {
    refused("argsstring", Config::new(&[]).set("/process/args", json!("sh -c true")), "args");
}

#[test]
fn empty_args_is_refused() {
    refused("argsempty", Config::new(&[]), "args");
}

#[test]
fn relative_cwd_is_refused() {
    refused("relcwd", Config::new(&["true"]).cwd("tmp"), "cwd");
}

#[test]
fn duplicate_namespace_is_refused() {
    if reference_runc() {
        return; // runc accepts a duplicated namespace; berth's contract is stricter.
    }
    let mut cfg = Config::new(&["true"]);
    cfg.0["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "pid" }));
    refused("dupns", cfg, "namespaces");
}

#[test]
fn relative_hook_path_is_refused() {
    let cfg = Config::new(&["true"]).set("/hooks", json!({ "prestart": [{ "path": "bin/true" }] }));
    refused("hookpath", cfg, "hooks.prestart[0].path");
}

#[test]
fn seccomp_errno_for_an_action_without_one_is_refused() {
    let cfg = Config::new(&["true"])
        .set("/linux/seccomp", json!({ "defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1 }));
    refused("seccomp", cfg, "linux.seccomp.defaultErrnoRet");
}

#[test]
fn invalid_ids_are_refused_without_escaping_root() {
    let env = TestEnv::new("badid");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    for id in ["../escape", "a/b", ".", ""] {
        env.berth(&["create", "--bundle", bundle.to_str().unwrap(), id]).fails_with_one_line();
    }
    assert!(!env.dir.join("escape").exists(), "an id escaped the state root");
    assert_nothing_left(&env);
}

/// The last JSON record of a --log-format json log.
fn last_record(log: &str) -> Value {
    let line = log.lines().rev().find(|l| !l.trim().is_empty()).expect("log is empty");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON record ({e}): {line}"))
}

#[test]
fn json_log_gets_error_record() {
    let env = TestEnv::new("jsonlog");
    let id = env.id("missing");
    let (out, log) = env.berth_logged(&["state", &id]);
    out.fails_with_one_line();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    let rec = last_record(&log);
    assert_eq!(rec["level"], "error", "{rec}");
    let msg = rec["msg"].as_str().expect("msg");
    assert!(!msg.is_empty() && !msg.contains('\n'), "{rec}");
    if !reference_runc() {
        assert!(msg.contains(&id), "msg should name the container: {rec}");
    }
    assert!(rec["time"].as_str().is_some_and(|t| t.contains('T')), "time: {rec}");
}

#[test]
fn json_log_error_record_for_bad_bundle() {
    let env = TestEnv::new("jsonlogbundle");
    let id = env.id("c");
    let missing = env.dir.join("no-such-bundle");
    let (out, log) = env.berth_logged(&["create", "--bundle", missing.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    let rec = last_record(&log);
    assert_eq!(rec["level"], "error", "{rec}");
    assert!(rec["msg"].as_str().is_some_and(|m| !m.is_empty()), "{rec}");
    assert_nothing_left(&env);
}
