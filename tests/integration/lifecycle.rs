//! create → start → kill → delete, with the state checked at every step.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::harness::{pid_alive, proc_stat, wait_for, Config, TestEnv};

/// A probe that records it has begun, then idles until killed.
fn marker_then_sleep(probe: &Path) -> Config {
    Config::sh("echo started > /probe/started; exec sleep 1000").probe(probe)
}

#[test]
fn lifecycle_create_start_kill_delete() {
    let env = TestEnv::new("lifecycle");
    let probe = env.probe_dir();
    let bundle = env.bundle(&marker_then_sleep(&probe).annotation("org.berth.test", "yes"));
    let id = env.id("c");

    env.create(&id, &bundle);
    let st = env.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], id.as_str());
    assert!(st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()), "{st}");
    assert_eq!(st["bundle"], bundle.to_str().unwrap(), "bundle must be the absolute path: {st}");
    if let Some(rootfs) = st.get("rootfs") {
        assert_eq!(rootfs, bundle.join("rootfs").to_str().unwrap(), "{st}");
    }
    assert!(st["created"].as_str().is_some_and(|c| c.contains('T')), "created timestamp: {st}");
    assert!(st.get("owner").is_some(), "state has no owner: {st}");
    assert_eq!(st["annotations"]["org.berth.test"], "yes", "{st}");
    let pid = st["pid"].as_i64().unwrap() as i32;
    let (start, _) = proc_stat(pid).expect("the created container's init is not alive");

    // The init is blocked before exec: the process has not run yet.
    std::thread::sleep(Duration::from_millis(200));
    assert!(!probe.join("started").exists(), "the process ran before start");
    assert_eq!(env.status(&id), "created");

    env.start(&id);
    assert!(
        wait_for(Duration::from_secs(10), || probe.join("started").exists()),
        "the process did not run after start"
    );
    let st = env.state(&id);
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["pid"].as_i64().unwrap() as i32, pid, "pid changed across start");

    env.kill(&id, Some("KILL"));
    env.wait_status(&id, "stopped");
    assert!(wait_for(Duration::from_secs(5), || !pid_alive(pid, start)), "init survived KILL");

    env.delete(&id, false);
    env.berth(&["state", &id]).fails_with_one_line();
    assert!(!env.root.join(&id).exists(), "state dir left after delete");
    assert!(env.root_entries().is_empty(), "root not empty: {:?}", env.root_entries());
}

#[test]
fn state_has_no_annotations_key_or_an_empty_one_when_none_set() {
    let env = TestEnv::new("noannot");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("c");
    env.create(&id, &bundle);
    let st = env.state(&id);
    match st.get("annotations") {
        None => {}
        Some(a) => assert!(a.as_object().is_some_and(|o| o.is_empty()), "{st}"),
    }
}

#[test]
fn delete_force_running_container() {
    let env = TestEnv::new("delforce");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    let pid = env.pid_of(&id);
    let (start, _) = proc_stat(pid).unwrap();
    assert_eq!(env.status(&id), "running");

    env.delete(&id, true);
    assert!(wait_for(Duration::from_secs(5), || !pid_alive(pid, start)), "init survived");
    env.berth(&["state", &id]).fails_with_one_line();
    assert!(env.root_entries().is_empty(), "root not empty: {:?}", env.root_entries());
}

#[test]
fn delete_force_created_container() {
    let env = TestEnv::new("delforcecreated");
    let probe = env.probe_dir();
    let bundle = env.bundle(&marker_then_sleep(&probe));
    let id = env.id("c");
    env.create(&id, &bundle);
    let pid = env.pid_of(&id);
    let (start, _) = proc_stat(pid).unwrap();

    env.delete(&id, true);
    assert!(wait_for(Duration::from_secs(5), || !pid_alive(pid, start)), "init survived");
    assert!(!probe.join("started").exists(), "delete of a created container ran its process");
    assert!(env.root_entries().is_empty(), "root not empty: {:?}", env.root_entries());
}

#[test]
fn delete_running_without_force_is_refused() {
    let env = TestEnv::new("delrunning");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    env.berth(&["delete", &id]).fails_with_one_line();
    assert_eq!(env.status(&id), "running", "a refused delete must leave the container alone");
}

#[test]
fn start_twice_is_refused() {
    let env = TestEnv::new("starttwice");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    env.berth(&["start", &id]).fails_with_one_line();
    assert_eq!(env.status(&id), "running");
}

#[test]
fn stopped_after_process_exits_by_itself() {
    let env = TestEnv::new("exits");
    let bundle = env.bundle(&Config::new(&["true"]));
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
    assert!(env.root_entries().is_empty(), "root not empty: {:?}", env.root_entries());
}

#[test]
fn create_writes_pid_file() {
    let env = TestEnv::new("pidfile");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("c");
    let pid_file = env.dir.join("init.pid");
    env.berth(&[
        "create",
        "-b",
        bundle.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ])
    .ok();
    let written = fs::read_to_string(&pid_file).expect("no pid file");
    let pid = env.pid_of(&id);
    assert_eq!(written.trim().parse::<i32>().expect("pid file is not a number"), pid);
    assert!(proc_stat(pid).is_some(), "pid-file names no live process");
}

#[test]
fn create_with_relative_bundle_records_absolute_path() {
    let env = TestEnv::new("relbundle");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("c");
    let name = bundle.file_name().unwrap().to_str().unwrap().to_string();
    env.track(&id);
    // Run from the test dir so the bundle path is relative.
    let status = std::process::Command::new(crate::harness::bin())
        .current_dir(&env.dir)
        .args(["--root", env.root.to_str().unwrap(), "create", "--bundle", &name, &id])
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(env.dir.join("rel.out")).unwrap())
        .stderr(fs::File::create(env.dir.join("rel.err")).unwrap())
        .status()
        .unwrap();
    let err = fs::read_to_string(env.dir.join("rel.err")).unwrap();
    assert!(status.success(), "create with a relative bundle failed: {err}");
    let st = env.state(&id);
    env.note_pid(st["pid"].as_i64().unwrap() as i32);
    assert_eq!(st["bundle"], bundle.to_str().unwrap(), "{st}");
}
