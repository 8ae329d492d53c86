//! Tracing: `--debug` or `BERTH_TRACE=1` writes one `trace` record with the runtime's phases
//! and the init's step durations; without either, no such record.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{bin, Config, TestEnv};

/// The `trace` records among the JSON log lines.
fn traces(log: &str) -> Vec<Value> {
    log.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
        })
        .filter(|v| v["msg"] == "trace")
        .collect()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|e| e["name"].as_str().expect("a name").to_string())
        .collect()
}

#[test]
fn debug_run_writes_one_trace_with_phases_and_init_steps() {
    let env = TestEnv::new("tracerun");
    let bundle = env.bundle(&Config::new(&["true"]));
    let id = env.id("t");
    let (out, log) =
        env.berth_logged(&["run", "--debug", "--bundle", bundle.to_str().unwrap(), &id]);
    out.ok();
    let traces = traces(&log);
    assert_eq!(traces.len(), 1, "{log}");
    let t = &traces[0];
    assert_eq!((t["level"].as_str(), t["command"].as_str()), (Some("debug"), Some("run")), "{t}");
    let phases = names(&t["phases"]);
    for want in ["loading config.json", "clone", "waiting for the init's Ready", "start", "delete"]
    {
        assert!(phases.iter().any(|p| p == want), "no phase {want:?} in {phases:?}");
    }
    let steps = names(&t["init_steps"]);
    for want in
        ["waiting for the runtime's setup", "preparing the rootfs", "pivoting into the rootfs"]
    {
        assert!(steps.iter().any(|s| s == want), "no init step {want:?} in {steps:?}");
    }
    let sum: u64 = t["phases"].as_array().unwrap().iter().map(|p| p["us"].as_u64().unwrap()).sum();
    assert!(sum <= t["total_us"].as_u64().unwrap(), "{t}");
}

#[test]
fn berth_trace_env_traces_create_and_is_off_by_default() {
    let env = TestEnv::new("traceenv");
    let bundle = env.bundle(&Config::new(&["true"]));
    let quiet = env.id("q");
    let (out, log) = env.berth_logged(&["create", "--bundle", bundle.to_str().unwrap(), &quiet]);
    out.ok();
    assert!(traces(&log).is_empty(), "a trace without --debug or BERTH_TRACE: {log}");
    env.delete(&quiet, true);

    let id = env.id("e");
    env.track(&id);
    let log = env.dir.join("trace-env.log");
    let status = Command::new(bin())
        .args([
            "--root",
            env.root.to_str().unwrap(),
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
        ])
        .args(["create", "--bundle", bundle.to_str().unwrap(), &id])
        .env("BERTH_TRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawning berth");
    assert!(status.success());
    let log = std::fs::read_to_string(&log).unwrap();
    let traces = traces(&log);
    assert_eq!(traces.len(), 1, "{log}");
    assert_eq!(traces[0]["command"], "create");
    assert!(names(&traces[0]["init_steps"]).iter().any(|s| s == "preparing the rootfs"), "{log}");
    env.pid_of(&id);
    env.delete(&id, true);
}
