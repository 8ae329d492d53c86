//! Container status: each operation a status refuses fails with one line,
//! `container ID is STATUS: REASON`, in the words berth has always printed (callers such as
//! containerd match them), for a created, running, paused and stopped container.

use crate::harness::{Config, TestEnv};

/// Runs `args` (`ID` stands for the container's id) and checks the one-line refusal.
fn refused(env: &TestEnv, id: &str, status: &str, args: &[&str], reason: &str) {
    let argv: Vec<&str> = args.iter().map(|a| if *a == "ID" { id } else { a }).collect();
    let out = env.berth(&argv);
    out.fails_with_one_line();
    let want = format!("container {id} is {status}: {reason}");
    assert!(out.stderr.contains(&want), "{args:?} on a {status} container: {out:#?}");
    assert_eq!(env.status(id), status, "{args:?} changed the status");
}

const START_NOT_CREATED: &str = "cannot start a container that is not created";
const PAUSE: &str = "only a running or created container can be paused";
const RESUME: &str = "only a paused container can be resumed";
const NOT_STOPPED: &str = "cannot delete a container that is not stopped (use --force)";
const EXEC_PAUSED: &str = "cannot exec in a paused container (use --ignore-paused to override)";
const EXEC_NOT_RUNNING: &str = "cannot exec in a container that is not running";

#[test]
fn each_status_refuses_operations_in_the_same_words() {
    let env = TestEnv::new("statusops");
    let id = env.id("c");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "1000"])));

    assert_eq!(env.status(&id), "created");
    refused(&env, &id, "created", &["resume", "ID"], RESUME);

    env.start(&id);
    env.wait_status(&id, "running");
    refused(&env, &id, "running", &["start", "ID"], START_NOT_CREATED);
    refused(&env, &id, "running", &["resume", "ID"], RESUME);
    refused(&env, &id, "running", &["delete", "ID"], NOT_STOPPED);

    env.berth(&["pause", &id]).ok();
    env.wait_status(&id, "paused");
    refused(&env, &id, "paused", &["start", "ID"], START_NOT_CREATED);
    refused(&env, &id, "paused", &["pause", "ID"], PAUSE);
    refused(&env, &id, "paused", &["delete", "ID"], NOT_STOPPED);
    refused(&env, &id, "paused", &["exec", "ID", "true"], EXEC_PAUSED);
    env.berth(&["resume", &id]).ok();
    env.wait_status(&id, "running");

    env.kill(&id, Some("KILL"));
    env.wait_status(&id, "stopped");
    let stopped = |args: &[&str], reason: &str| refused(&env, &id, "stopped", args, reason);
    stopped(&["start", "ID"], "cannot start a container that has stopped");
    stopped(&["kill", "ID"], "container not running");
    stopped(&["pause", "ID"], PAUSE);
    stopped(&["resume", "ID"], RESUME);
    stopped(&["exec", "ID", "true"], EXEC_NOT_RUNNING);
    stopped(&["update", "--pids-limit", "100", "ID"], "a stopped container cannot be updated");
    stopped(&["events", "--stats", "ID"], "a stopped container has no stats");
    stopped(&["events", "ID"], "a stopped container has no events");
    env.delete(&id, false);
}
