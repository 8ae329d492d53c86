//! The argv shapes CRI-O (internal/oci/runtime_oci.go) and conmon use, replayed against the
//! binary: CRI-O runs the runtime itself for `start`, `state`, `kill`, `update --resources -`,
//! `exec --process`, `pause`, `resume` and `delete --force`, always after `--root R`, and
//! passes `--root=R` to conmon, which runs `create --bundle B --pid-file P ID` and
//! `exec --pid-file P --process F --detach ID` after the runtime flags it was given (podman
//! gives `--log-format=json --log F`). Both spellings, `--flag value` and `--flag=value`,
//! occur. CRI-O treats a failed `kill` whose stderr says "container not running" as
//! "already gone", so that text is part of the contract.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{bin, pid_alive, proc_stat, wait_for, Config, Out, TestEnv};

/// Runs the binary with exactly `args` (no `--root` added), `stdin` written to its stdin.
fn raw(env: &TestEnv, args: &[&str], stdin: Option<&str>) -> Out {
    let n = env.id("raw");
    let stdout = env.dir.join(format!("{n}.out"));
    let stderr = env.dir.join(format!("{n}.err"));
    let mut child = Command::new(bin())
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        // Files, not pipes: a created container inherits them and would hold a pipe open.
        .stdout(fs::File::create(&stdout).unwrap())
        .stderr(fs::File::create(&stderr).unwrap())
        .env("RUST_BACKTRACE", "1")
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {args:?}: {e}"));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    let status = child.wait().unwrap();
    Out {
        cmdline: format!("{} {}", bin().display(), args.join(" ")),
        status,
        stdout: fs::read_to_string(&stdout).unwrap_or_default(),
        stderr: fs::read_to_string(&stderr).unwrap_or_default(),
    }
}

/// Runs the binary with `args` in a new session whose controlling terminal is a fresh pty
/// (as CRI-O's exec with a tty does); its exit code and everything read from the pty.
fn on_a_pty(args: &[&str]) -> (Option<i32>, String) {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let stdio = |fd: &std::os::fd::OwnedFd| Stdio::from(fd.try_clone().unwrap());
    let mut cmd = Command::new(bin());
    cmd.args(args).stdin(stdio(&pty.slave)).stdout(stdio(&pty.slave)).stderr(stdio(&pty.slave));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawning the runtime on a pty");
    // The command keeps its copies of the slave: only the child may hold one now.
    drop(cmd);
    drop(pty.slave);
    let status = child.wait().unwrap();
    // Every writer is gone now: read to EIO, or give up after a while if one is not.
    let flags = nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&pty.master, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
    let mut master = fs::File::from(pty.master);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(_) => break,
        }
    }
    (status.code(), String::from_utf8_lossy(&seen).into_owned())
}

/// `/sys/fs/cgroup[/pids]/berth-test/<cg>/pids.max`, on v1 and v2 hosts.
fn pids_max(cg: &str) -> String {
    let v1 = PathBuf::from(format!("/sys/fs/cgroup/pids/berth-test/{cg}/pids.max"));
    let v2 = PathBuf::from(format!("/sys/fs/cgroup/berth-test/{cg}/pids.max"));
    let path = if v1.exists() { v1 } else { v2 };
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// A busybox bundle running `script` in cgroup /berth-test/<cg>; returns (bundle, cg).
fn bundle(env: &TestEnv, tag: &str, script: &str) -> (PathBuf, String) {
    let cg = env.id(&format!("crio-{tag}"));
    let cfg = Config::sh(script)
        .set("/linux/cgroupsPath", json!(format!("/berth-test/{cg}")))
        .set("/linux/resources", json!({ "pids": { "limit": 100 } }));
    (env.bundle(&cfg), cg)
}

/// The process.json CRI-O writes for an exec: the container's process with new args.
fn process_file(env: &TestEnv, bundle: &Path, args: &[&str]) -> PathBuf {
    let config: Value =
        serde_json::from_str(&fs::read_to_string(bundle.join("config.json")).unwrap()).unwrap();
    let mut process = config["process"].clone();
    process["args"] = json!(args);
    process["terminal"] = json!(false);
    let path = env.dir.join(format!("{}.json", env.id("process")));
    fs::write(&path, serde_json::to_vec(&process).unwrap()).unwrap();
    path
}

/// The pid in a pid file.
fn read_pid(path: &Path) -> i32 {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim().parse().unwrap_or_else(|_| panic!("{}: not a pid: {text:?}", path.display()))
}

/// Records at level error in a `--log-format json` log.
fn error_records(log: &Path) -> Vec<Value> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .filter(|r| r["level"] == "error")
        .collect()
}

fn status(env: &TestEnv, root: &str, id: &str) -> String {
    let out = raw(env, &["--root", root, "state", id], None);
    out.ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v["status"].as_str().unwrap_or_default().to_string()
}

fn wait_status(env: &TestEnv, root: &str, id: &str, want: &str) {
    let mut last = String::new();
    let reached = wait_for(Duration::from_secs(20), || {
        last = status(env, root, id);
        last == want
    });
    assert!(reached, "{id} stayed {last:?}, expected {want:?}");
}

#[test]
fn conmon_and_crio_argv_with_separate_values() {
    let env = TestEnv::new("crioargv");
    let root = env.root.to_str().unwrap().to_string();
    // TERM is ignored by the init, so `kill --all ID 15` leaves it running.
    let (b, cg) = bundle(&env, "a", "trap '' TERM; while :; do sleep 1; done");
    let id = env.id("a");
    env.track(&id);
    let log = env.dir.join("a.log");
    let pid_file = env.dir.join("a.pid");
    let (log_s, pid_s, b_s) =
        (log.to_str().unwrap(), pid_file.to_str().unwrap(), b.to_str().unwrap());

    // conmon, as podman drives it.
    raw(
        &env,
        &[
            "--root",
            &root,
            "--log-format=json",
            "--log",
            log_s,
            "create",
            "--bundle",
            b_s,
            "--pid-file",
            pid_s,
            &id,
        ],
        None,
    )
    .ok();
    assert!(error_records(&log).is_empty(), "create logged errors: {:?}", error_records(&log));
    let init = read_pid(&pid_file);
    env.note_pid(init);
    assert_eq!(status(&env, &root, &id), "created");

    raw(&env, &["--root", &root, "start", &id], None).ok();
    let state = raw(&env, &["--root", &root, "state", &id], None);
    state.ok();
    let state: Value = serde_json::from_str(&state.stdout).unwrap();
    assert_eq!(state["id"], json!(id));
    assert_eq!(state["pid"], json!(init), "state pid is the pid file's");
    assert_eq!(state["status"], "running");
    assert_eq!(state["bundle"], json!(b_s));
    assert!(state["ociVersion"].as_str().is_some_and(|v| v.starts_with("1.")), "{state}");
    assert!(state["created"].as_str().is_some_and(|c| c.contains('T')), "{state}");

    // CRI-O's UpdateContainer: linux.resources JSON on stdin.
    raw(
        &env,
        &["--root", &root, "update", "--resources", "-", &id],
        Some(r#"{"pids":{"limit":42}}"#),
    )
    .ok();
    assert_eq!(pids_max(&cg), "42");

    // CRI-O's ExecContainer (foreground) returns output and exit code.
    let fg = process_file(&env, &b, &["sh", "-c", "echo exec-says-hi; exit 3"]);
    let out = raw(&env, &["--root", &root, "exec", "--process", fg.to_str().unwrap(), &id], None);
    assert_eq!(out.code(), 3, "{out:#?}");
    assert_eq!(out.stdout, "exec-says-hi\n");

    // With tty: true and no console socket, CRI-O runs the runtime on a pty of its own
    // (its controlling terminal) and the runtime relays the process's terminal to it.
    let tty = process_file(&env, &b, &["sh", "-c", "tty; echo on-a-tty"]);
    let mut with_tty: Value = serde_json::from_str(&fs::read_to_string(&tty).unwrap()).unwrap();
    with_tty["terminal"] = json!(true);
    fs::write(&tty, with_tty.to_string()).unwrap();
    let (code, seen) =
        on_a_pty(&["--root", &root, "exec", "--process", tty.to_str().unwrap(), &id]);
    assert_eq!(code, Some(0), "{seen:?}");
    assert!(seen.contains("/dev/pts/") && seen.contains("on-a-tty\r"), "{seen:?}");

    // conmon's exec shape, detached.
    let bg = process_file(&env, &b, &["sleep", "1000"]);
    let exec_pid_file = env.dir.join("a-exec.pid");
    raw(
        &env,
        &[
            "--root",
            &root,
            "--log-format=json",
            "--log",
            log_s,
            "exec",
            "--pid-file",
            exec_pid_file.to_str().unwrap(),
            "--process",
            bg.to_str().unwrap(),
            "--detach",
            &id,
        ],
        None,
    )
    .ok();
    let exec_pid = read_pid(&exec_pid_file);
    let (exec_start, _) = proc_stat(exec_pid).expect("the exec'd process runs");
    env.note_pid(exec_pid);

    raw(&env, &["--root", &root, "pause", &id], None).ok();
    assert_eq!(status(&env, &root, &id), "paused");
    raw(&env, &["--root", &root, "resume", &id], None).ok();
    assert_eq!(status(&env, &root, &id), "running");

    // `kill --all ID 15` reaches the exec'd process; the init ignores TERM.
    raw(&env, &["--root", &root, "kill", "--all", &id, "15"], None).ok();
    assert!(
        wait_for(Duration::from_secs(10), || !pid_alive(exec_pid, exec_start)),
        "kill --all did not reach the exec'd process {exec_pid}"
    );
    assert_eq!(status(&env, &root, &id), "running");

    // podman's `kill ID 9`; then CRI-O's stop loop repeats `kill ID KILL` on a stopped one.
    raw(&env, &["--root", &root, "kill", &id, "9"], None).ok();
    wait_status(&env, &root, &id, "stopped");
    let again = raw(&env, &["--root", &root, "kill", &id, "KILL"], None);
    again.fails_with_one_line();
    assert!(again.stderr.contains("container not running"), "{again:#?}");

    raw(&env, &["--root", &root, "delete", "--force", &id], None).ok();
    assert!(!env.root.join(&id).exists(), "state dir left after delete --force");
    // CRI-O deletes again after a failed create; a container already gone is no error.
    raw(&env, &["--root", &root, "delete", "--force", &id], None).ok();
}

#[test]
fn crio_argv_with_equals_values() {
    let env = TestEnv::new("crioeq");
    let root_flag = format!("--root={}", env.root.display());
    // The init exits on TERM, so a plain `kill ID 15` stops the container.
    let (b, cg) = bundle(&env, "b", "trap 'exit 7' TERM; while :; do sleep 1; done");
    let id = env.id("b");
    env.track(&id);
    let log = env.dir.join("b.log");
    let pid_file = env.dir.join("b.pid");
    let log_flag = format!("--log={}", log.display());
    let bundle_flag = format!("--bundle={}", b.display());
    let pid_flag = format!("--pid-file={}", pid_file.display());

    // CRI-O hands conmon `--runtime-arg --root=R`.
    raw(
        &env,
        &[&root_flag, "--log-format=json", &log_flag, "create", &bundle_flag, &pid_flag, &id],
        None,
    )
    .ok();
    assert!(error_records(&log).is_empty(), "create logged errors: {:?}", error_records(&log));
    let init = read_pid(&pid_file);
    env.note_pid(init);
    raw(&env, &[&root_flag, "start", &id], None).ok();
    let root = env.root.to_str().unwrap();
    assert_eq!(status(&env, root, &id), "running");

    raw(&env, &[&root_flag, "update", "--resources=-", &id], Some(r#"{"pids":{"limit":43}}"#)).ok();
    assert_eq!(pids_max(&cg), "43");

    let marker = process_file(&env, &b, &["sh", "-c", "echo $$ > /tmp/exec-ran"]);
    let exec_pid_file = env.dir.join("b-exec.pid");
    let process_flag = format!("--process={}", marker.display());
    let exec_pid_flag = format!("--pid-file={}", exec_pid_file.display());
    raw(&env, &[&root_flag, "exec", &exec_pid_flag, &process_flag, "--detach", &id], None).ok();
    assert!(read_pid(&exec_pid_file) > 0);
    let rootfs_marker = b.join("rootfs/tmp/exec-ran");
    assert!(
        wait_for(Duration::from_secs(10), || rootfs_marker.exists()),
        "the detached exec did not run"
    );

    raw(&env, &[&root_flag, "kill", &id, "15"], None).ok();
    wait_status(&env, root, &id, "stopped");
    raw(&env, &[&root_flag, "delete", "--force", &id], None).ok();
    assert!(!env.root.join(&id).exists(), "state dir left after delete --force");
}
