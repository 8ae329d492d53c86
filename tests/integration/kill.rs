//! `kill ID [SIG]`: signal names with and without SIG, numbers, the TERM default, --all.

use std::path::Path;
use std::time::Duration;

use crate::harness::{pid_alive, proc_stat, wait_for, Config, TestEnv};

/// Creates and starts `sleep 1000`, runs `kill FLAGS ID SIG`, expects the container to stop.
fn kill_stops_container(tag: &str, flags: &[&str], sig: &str) {
    let env = TestEnv::new(tag);
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    let pid = env.pid_of(&id);
    let (start, _) = proc_stat(pid).unwrap();
    let mut args = vec!["kill"];
    args.extend_from_slice(flags);
    args.extend([id.as_str(), sig]);
    env.berth(&args).ok();
    env.wait_status(&id, "stopped");
    assert!(wait_for(Duration::from_secs(5), || !pid_alive(pid, start)), "init survived");
    env.delete(&id, false);
}

#[test]
fn kill_by_name_kill() {
    kill_stops_container("killname", &[], "KILL");
}

#[test]
fn kill_by_name_sigkill() {
    kill_stops_container("killsigname", &[], "SIGKILL");
}

#[test]
fn kill_by_number_9() {
    kill_stops_container("killnum", &[], "9");
}

#[test]
fn kill_all_flag() {
    kill_stops_container("killall", &["--all"], "KILL");
}

#[test]
fn kill_all_short_flag() {
    kill_stops_container("killallshort", &["-a"], "9");
}

/// A pid-1 shell that reports the first TERM it gets (pid 1 only receives signals it handles).
fn term_reporter(probe: &Path) -> Config {
    Config::sh(
        "trap 'echo term > /probe/term; exit 0' TERM; echo ready > /probe/ready; sleep 1000 & wait",
    )
    .probe(probe)
}

#[test]
fn kill_defaults_to_term() {
    let env = TestEnv::new("killterm");
    let probe = env.probe_dir();
    let bundle = env.bundle(&term_reporter(&probe));
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    env.pid_of(&id);
    assert!(wait_for(Duration::from_secs(10), || probe.join("ready").exists()), "probe not ready");

    env.kill(&id, None);
    assert!(
        wait_for(Duration::from_secs(10), || probe.join("term").exists()),
        "the default signal did not reach the TERM trap"
    );
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
}

#[test]
fn kill_term_by_name() {
    let env = TestEnv::new("killtermname");
    let probe = env.probe_dir();
    let bundle = env.bundle(&term_reporter(&probe));
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    assert!(wait_for(Duration::from_secs(10), || probe.join("ready").exists()), "probe not ready");
    env.kill(&id, Some("TERM"));
    assert!(
        wait_for(Duration::from_secs(10), || probe.join("term").exists()),
        "TERM not delivered"
    );
    env.wait_status(&id, "stopped");
}

#[test]
fn kill_created_container() {
    let env = TestEnv::new("killcreated");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("c");
    env.create(&id, &bundle);
    let pid = env.pid_of(&id);
    let (start, _) = proc_stat(pid).unwrap();
    env.kill(&id, Some("KILL"));
    env.wait_status(&id, "stopped");
    assert!(wait_for(Duration::from_secs(5), || !pid_alive(pid, start)), "init survived");
    env.delete(&id, false);
}

#[test]
fn kill_unknown_signal_is_refused() {
    let env = TestEnv::new("killbadsig");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    env.berth(&["kill", &id, "NOSUCHSIG"]).fails_with_one_line();
    assert_eq!(env.status(&id), "running", "a refused kill must not touch the container");
}
