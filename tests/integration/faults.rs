//! Fault injection: a berth built with the `fault-injection` feature names every point of the
//! create path (`BERTH_FAULT_TRACE`); each point is made to fail in turn (`BERTH_FAULT_FAIL`)
//! or the runtime is SIGKILLed while paused there (`BERTH_FAULT_PAUSE`), and after each the
//! test checks that nothing is left: no state dir, cgroup, mount, process, fifo or socket.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{
    cgroup_dirs, chown_tree, reference_runc, wait_for, Config, Out, TestEnv, COMMAND_TIMEOUT,
};

/// Tests of the fault binary run one at a time: the process check looks for any process
/// running that binary.
pub(crate) static FAULT_LOCK: Mutex<()> = Mutex::new(());

/// The berth built with `--features fault-injection`: `$BERTH_FAULT_BIN`, else built (or
/// found up to date) by cargo in `target/faults` (`make test` builds it first).
pub fn fault_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("BERTH_FAULT_BIN").filter(|b| !b.is_empty()) {
            // Compared with /proc/<pid>/exe, which is canonical.
            return fs::canonicalize(&bin).expect("BERTH_FAULT_BIN");
        }
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = manifest.join("target/faults");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--features", "fault-injection", "--target-dir"])
            .arg(&target)
            .current_dir(manifest)
            .status()
            .expect("running cargo to build the fault-injection berth");
        assert!(status.success(), "building the fault-injection berth failed");
        // Same layout as the main build: target/<triple>/release when a target is configured.
        let main_bin = Path::new(env!("CARGO_BIN_EXE_berth"));
        let profile_dir = main_bin.parent().unwrap();
        let layout =
            profile_dir.strip_prefix(manifest.join("target")).unwrap_or(Path::new("release"));
        fs::canonicalize(target.join(layout).join("berth")).unwrap()
    })
    .clone()
}

/// Runs the fault binary with `vars` set and waits for it.
fn faulty(env: &TestEnv, vars: &[(&str, &str)], args: &[&str]) -> Out {
    let (mut child, cmdline, stdout, stderr) = spawn_faulty(env, vars, args);
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmdline} did not finish within {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Out {
        cmdline,
        status,
        stdout: fs::read_to_string(stdout).unwrap_or_default(),
        stderr: fs::read_to_string(stderr).unwrap_or_default(),
    }
}

/// Starts the fault binary with `vars` set: the child, its command line, and the files its
/// stdout and stderr go to.
pub(crate) fn spawn_faulty(
    env: &TestEnv,
    vars: &[(&str, &str)],
    args: &[&str],
) -> (Child, String, PathBuf, PathBuf) {
    let tag = format!("{}-{}", std::process::id(), env.id("out"));
    let stdout = env.dir.join(format!("{tag}.out"));
    let stderr = env.dir.join(format!("{tag}.err"));
    if matches!(args.first(), Some(&"create") | Some(&"run")) {
        env.track(args.last().unwrap());
    }
    let mut cmd = Command::new(fault_bin());
    cmd.arg("--root").arg(&env.root).args(args);
    cmd.envs(vars.iter().copied())
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout).unwrap())
        .stderr(fs::File::create(&stderr).unwrap());
    let cmdline = format!("{vars:?} berth {}", args.join(" "));
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {cmdline}: {e}"));
    (child, cmdline, stdout, stderr)
}

/// A point of the create path as the binary reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Point {
    name: String,
    /// An init step (else a phase of the runtime process).
    step: bool,
}

/// The points a traced command passed, in order, each once.
fn traced_points(out: &Out) -> Vec<Point> {
    let mut points: Vec<Point> = Vec::new();
    for line in out.stderr.lines() {
        let point = if let Some(name) = line.strip_prefix("berth fault point: ") {
            Point { name: name.into(), step: false }
        } else if let Some(name) = line.strip_prefix("berth fault step: ") {
            Point { name: name.into(), step: true }
        } else {
            continue;
        };
        if !points.contains(&point) {
            points.push(point);
        }
    }
    points
}

/// Pids of live processes whose executable is the fault binary (a leaked init or runtime).
pub(crate) fn fault_processes() -> Vec<i32> {
    let bin = fault_bin();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == bin))
        .collect()
}

/// Fifos and sockets anywhere under `dir` (exec.fifo, a sync or console socket).
fn special_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            found.extend(special_files(&entry.path()));
        } else if kind.is_fifo() || kind.is_socket() {
            found.push(entry.path());
        }
    }
    found
}

/// Asserts that nothing of a failed or deleted container is left.
#[track_caller]
pub(crate) fn assert_nothing_left(env: &TestEnv, cgroup: &str, context: &str) {
    assert!(env.root_entries().is_empty(), "{context}: state left: {:?}", env.root_entries());
    let cgroups: Vec<PathBuf> = cgroup_dirs(cgroup).into_iter().filter(|d| d.exists()).collect();
    assert!(cgroups.is_empty(), "{context}: cgroups left: {cgroups:?}");
    assert!(env.leaked_mounts().is_empty(), "{context}: mounts left: {:?}", env.leaked_mounts());
    // A killed process may take a moment to be reaped by whoever inherited it.
    let mut left = Vec::new();
    let gone = wait_for(Duration::from_secs(5), || {
        left = fault_processes();
        left.is_empty()
    });
    assert!(gone, "{context}: processes of the fault binary left: {left:?}");
    let special = special_files(&env.dir);
    assert!(special.is_empty(), "{context}: fifos or sockets left: {special:?}");
}

/// Which clone path a config takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClonePath {
    /// One clone into every new namespace.
    Plain,
    /// A new user namespace: the parent writes the id maps.
    UserNs,
    /// Time offsets (and a user namespace): a first stage unshares and forks the init.
    TwoStage,
}

/// A bundle whose config has hooks at each create-time point and takes `path`.
fn bundle(env: &TestEnv, cgroup: &str, path: ClonePath) -> PathBuf {
    let hook = json!([{ "path": "/bin/true" }]);
    let mut cfg =
        Config::sh("true").set("/linux/cgroupsPath", json!(format!("/berth-test/{cgroup}"))).set(
            "/hooks",
            json!({ "createRuntime": hook, "createContainer": hook, "startContainer": hook }),
        );
    if path != ClonePath::Plain {
        cfg = cfg.user_namespace(100000, 65536);
    }
    if path == ClonePath::TwoStage {
        cfg.0["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "time" }));
        cfg = cfg.set("/linux/timeOffsets", json!({ "monotonic": { "secs": 1, "nanosecs": 0 } }));
    }
    let bundle = env.bundle(&cfg);
    if path != ClonePath::Plain {
        chown_tree(&bundle.join("rootfs"), 100000, 100000);
    }
    bundle
}

/// The points `create` passes and those only `run` reaches (after the init reported ready).
fn points_of(env: &TestEnv, bundle: &Path) -> (Vec<Point>, Vec<Point>) {
    let b = bundle.to_str().unwrap();
    let trace = [("BERTH_FAULT_TRACE", "1")];
    let id = env.id("trace");
    let out = faulty(env, &trace, &["run", "--bundle", b, &id]);
    out.ok();
    let all = traced_points(&out);
    let ready = all.iter().position(|p| p.step && p.name == "reporting ready");
    let ready = ready.unwrap_or_else(|| panic!("no 'reporting ready' step traced: {out:#?}"));
    let after_ready: Vec<Point> = all[ready + 1..].iter().filter(|p| p.step).cloned().collect();
    let before: Vec<Point> = all.iter().filter(|p| !after_ready.contains(p)).cloned().collect();
    for expected in ["claiming the state dir", "after the clone", "receiving Ready"] {
        assert!(before.iter().any(|p| !p.step && p.name == expected), "{expected}: {all:?}");
    }
    for expected in ["preparing the rootfs", "switching user", "running create hooks"] {
        assert!(before.iter().any(|p| p.step && p.name == expected), "{expected}: {all:?}");
    }
    assert!(after_ready.iter().any(|p| p.name == "running startContainer hooks"), "{all:?}");
    (before, after_ready)
}

fn fail_each_point(path: ClonePath) {
    if reference_runc() {
        return;
    }
    let _serial = FAULT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env = TestEnv::new(&format!("faults-{path:?}"));
    let cgroup = env.id("cg");
    let bundle = bundle(&env, &cgroup, path);
    let b = bundle.to_str().unwrap();
    let (create_points, run_points) = points_of(&env, &bundle);
    let expected: &[&str] = match path {
        ClonePath::Plain => &[],
        ClonePath::UserNs => &["writing id maps"],
        ClonePath::TwoStage => &["writing id maps", "receiving the init's pid"],
    };
    for expected in expected {
        assert!(create_points.iter().any(|p| p.name == *expected), "{create_points:?}");
    }
    assert_nothing_left(&env, &cgroup, "after the traced run");
    let pid_file = env.dir.join("create.pid");
    for point in &create_points {
        let id = env.id("fail");
        let fail = [("BERTH_FAULT_FAIL", point.name.as_str())];
        let out = faulty(
            &env,
            &fail,
            &["create", "--bundle", b, "--pid-file", pid_file.to_str().unwrap(), &id],
        );
        out.fails_with_one_line();
        let expected = if point.step {
            format!("container process: {}: injected fault", point.name)
        } else {
            format!("{}: injected fault", point.name)
        };
        assert!(out.stderr.contains(&expected), "{point:?}: {out:#?}");
        assert!(!pid_file.exists(), "{point:?}: pid file written by a failed create");
        assert_nothing_left(&env, &cgroup, &format!("create failing at {point:?}"));
    }
    for point in &run_points {
        let id = env.id("failrun");
        let fail = [("BERTH_FAULT_FAIL", point.name.as_str())];
        let out = faulty(&env, &fail, &["run", "--bundle", b, &id]);
        assert_ne!(out.code(), 0, "{point:?}: {out:#?}");
        // Failing on its way to the fifo, the init may die before `run` releases it: then
        // `run` reports the stopped container, and the init's own report may or may not
        // also arrive. After start only the init can tell, on the container's stderr.
        if point.name == "waiting for start" {
            assert!(out.stderr.lines().all(|l| l.starts_with("berth: ")), "{out:#?}");
        } else {
            // After start the init reports through exec.fifo ("container process: …").
            out.fails_with_one_line();
            let expected = format!("{}: injected fault", point.name);
            assert!(out.stderr.contains(&expected), "{point:?}: {out:#?}");
        }
        assert_nothing_left(&env, &cgroup, &format!("run failing at {point:?}"));
    }
}

#[test]
fn each_create_point_fails_cleanly() {
    fail_each_point(ClonePath::Plain);
}

#[test]
fn each_create_point_fails_cleanly_with_a_user_namespace() {
    fail_each_point(ClonePath::UserNs);
}

#[test]
fn each_create_point_fails_cleanly_two_stage() {
    fail_each_point(ClonePath::TwoStage);
}

/// The runtime SIGKILLed at each point of `create` (paused there): `delete --force` removes
/// the state dir, the cgroup and the init.
#[test]
fn create_killed_at_each_point_is_removed_by_delete_force() {
    if reference_runc() {
        return;
    }
    let _serial = FAULT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env = TestEnv::new("faultkill");
    let cgroup = env.id("cg");
    let bundle = bundle(&env, &cgroup, ClonePath::Plain);
    let b = bundle.to_str().unwrap();
    let (create_points, _) = points_of(&env, &bundle);
    // Before the parent placed it, a paused init is in no cgroup and nobody could find it;
    // a real init there is blocked reading the sync socket and exits when the runtime dies.
    let killable = create_points.iter().filter(|p| p.name != "waiting for the runtime's setup");
    for point in killable {
        let id = env.id("kill");
        let pause = [("BERTH_FAULT_PAUSE", point.name.as_str())];
        let (mut child, cmdline, _, stderr) =
            spawn_faulty(&env, &pause, &["create", "--bundle", b, &id]);
        let marker = format!("berth fault paused: {}\n", point.name);
        let paused = wait_for(COMMAND_TIMEOUT, || {
            fs::read_to_string(&stderr).is_ok_and(|e| e.contains(&marker))
                || child.try_wait().unwrap().is_some()
        });
        let err = fs::read_to_string(&stderr).unwrap_or_default();
        assert!(paused && err.contains(&marker), "{cmdline} never paused: {err}");
        child.kill().unwrap();
        child.wait().unwrap();
        env.delete(&id, true);
        assert!(env.berth(&["state", &id]).status.code() != Some(0), "{id} still has a state");
        assert_nothing_left(&env, &cgroup, &format!("create killed at {point:?}"));
    }
}

/// `exec` passes the same clone path: each point failing leaves the container running with
/// only its init, and no clone of the runtime behind.
#[test]
fn each_exec_point_fails_cleanly() {
    if reference_runc() {
        return;
    }
    let _serial = FAULT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env = TestEnv::new("faultexec");
    let id = env.id("c");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "1000"])));
    env.start(&id);
    let trace = faulty(&env, &[("BERTH_FAULT_TRACE", "1")], &["exec", &id, "true"]);
    trace.ok();
    let points = traced_points(&trace);
    for expected in ["cloning the init", "switching user", "receiving Ready"] {
        assert!(points.iter().any(|p| p.name == expected), "{expected}: {points:?}");
    }
    for point in &points {
        let fail = [("BERTH_FAULT_FAIL", point.name.as_str())];
        let out = faulty(&env, &fail, &["exec", &id, "true"]);
        out.fails_with_one_line();
        assert!(out.stderr.contains(&format!("{}: injected fault", point.name)), "{out:#?}");
        assert_eq!(env.status(&id), "running", "exec failing at {point:?}");
        let mut left = Vec::new();
        let gone = wait_for(Duration::from_secs(5), || {
            left = fault_processes();
            left.is_empty()
        });
        assert!(gone, "exec failing at {point:?} left clones: {left:?}");
        let ps = env.berth(&["ps", "--format", "json", &id]);
        ps.ok();
        let pids: Vec<i64> = serde_json::from_str(&ps.stdout).expect("ps json");
        assert_eq!(pids.len(), 1, "exec failing at {point:?}: processes {pids:?}");
    }
    env.delete(&id, true);
}
