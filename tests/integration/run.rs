//! `run`: exit codes (128+N on a signal), stdio, process settings, --detach, cleanup.

use std::fs;
use std::time::Duration;

use crate::harness::{wait_for, Config, TestEnv};

/// `run --bundle B ID` in the foreground, to its end.
fn run(env: &TestEnv, cfg: &Config) -> crate::harness::Out {
    let bundle = env.bundle(cfg);
    let id = env.id("r");
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    // run removes the container once its process has exited.
    assert!(env.root_entries().is_empty(), "run left state: {:?}", env.root_entries());
    out
}

#[test]
fn run_exit_0_with_stdout() {
    let env = TestEnv::new("run0");
    let out = run(&env, &Config::sh("echo hello"));
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout, "hello\n");
}

#[test]
fn run_exit_3() {
    let env = TestEnv::new("run3");
    let out = run(&env, &Config::sh("exit 3"));
    assert_eq!(out.code(), 3, "{out:#?}");
}

#[test]
fn run_stdout_and_stderr_are_separate() {
    let env = TestEnv::new("runstdio");
    let out = run(&env, &Config::sh("echo to-out; echo to-err >&2"));
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout, "to-out\n");
    assert!(out.stderr.contains("to-err"), "{out:#?}");
    assert!(!out.stdout.contains("to-err"), "{out:#?}");
}

#[test]
fn run_killed_by_sigkill_exits_137() {
    // Without a pid namespace: pid 1 of a namespace cannot SIGKILL itself.
    let env = TestEnv::new("run137");
    let out = run(&env, &Config::sh("kill -9 $$; sleep 5; exit 5").without_namespace("pid"));
    assert_eq!(out.code(), 137, "{out:#?}");
}

#[test]
fn run_killed_from_host_exits_137() {
    let env = TestEnv::new("run137host");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("r");
    let running = env.spawn(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert!(
        wait_for(Duration::from_secs(10), || {
            env.berth(&["state", &id]).stdout.contains("\"running\"")
        }),
        "container never reported running"
    );
    env.pid_of(&id);
    env.kill(&id, Some("KILL"));
    let out = running.wait();
    assert_eq!(out.code(), 137, "{out:#?}");
    assert!(env.root_entries().is_empty(), "run left state: {:?}", env.root_entries());
}

#[test]
fn run_fast_process_many_times_never_hangs() {
    // A runtime that starts waiting for SIGCHLD late misses a fast exit and hangs; the
    // harness's command timeout turns that into a failure.
    let env = TestEnv::new("runfast");
    let bundle = env.bundle(&Config::new(&["echo", "fast"]));
    for i in 0..20 {
        let id = env.id(&format!("f{i}"));
        let out = env.berth(&["run", "-b", bundle.to_str().unwrap(), &id]);
        assert_eq!(out.code(), 0, "{out:#?}");
        assert_eq!(out.stdout, "fast\n");
    }
    assert!(env.root_entries().is_empty(), "run left state: {:?}", env.root_entries());
}

#[test]
fn run_env_cwd_args() {
    let env = TestEnv::new("runenv");
    let cfg = Config::new(&["sh", "-c", "echo \"$FOO\"; pwd; echo \"$1|$2\"", "sh", "a  b", "c"])
        .env("FOO=bar baz")
        .cwd("/tmp");
    let out = run(&env, &cfg);
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout, "bar baz\n/tmp\na  b|c\n");
}

#[test]
fn run_as_user_with_additional_groups() {
    let env = TestEnv::new("runuser");
    let out = run(&env, &Config::sh("id -u; id -g; id -G").user(1000, 1000, &[65534]));
    assert_eq!(out.code(), 0, "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:#?}");
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1000");
    assert!(lines[2].split_whitespace().any(|g| g == "65534"), "groups: {}", lines[2]);
    assert!(!lines[2].split_whitespace().any(|g| g == "0"), "kept root's group: {}", lines[2]);
}

#[test]
fn run_readonly_root() {
    let env = TestEnv::new("runro");
    let out = run(
        &env,
        &Config::sh("touch /x 2>/dev/null && echo writable || echo readonly").readonly_root(true),
    );
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout, "readonly\n");
    let env2 = TestEnv::new("runrw");
    let out = run(&env2, &Config::sh("touch /x 2>/dev/null && echo writable || echo readonly"));
    assert_eq!(out.stdout, "writable\n", "{out:#?}");
}

#[test]
fn run_detach_with_pid_file() {
    let env = TestEnv::new("rundetach");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("d");
    let pid_file = env.dir.join("d.pid");
    let out = env.berth(&[
        "run",
        "--detach",
        "--bundle",
        bundle.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    assert_eq!(out.code(), 0, "{out:#?}");
    let st = env.state(&id);
    assert_eq!(st["status"], "running", "{st}");
    let pid = env.pid_of(&id);
    let written: i32 = fs::read_to_string(&pid_file).expect("no pid file").trim().parse().unwrap();
    assert_eq!(written, pid);
    env.delete(&id, true);
}

#[test]
fn rro_makes_every_submount_of_a_bind_read_only() {
    let env = TestEnv::new("runrro");
    // The host's /sys has submounts (cgroup hierarchies, …) that `ro` alone leaves writable.
    let mut cfg = Config::sh("grep ' /mnt/sys' /proc/self/mountinfo");
    cfg.0["mounts"].as_array_mut().unwrap().push(serde_json::json!({
        "destination": "/mnt/sys", "type": "bind", "source": "/sys", "options": ["rbind", "rro"]
    }));
    let out = run(&env, &cfg);
    assert_eq!(out.code(), 0, "{out:#?}");
    let mounts: Vec<&str> = out.stdout.lines().collect();
    assert!(mounts.len() > 1, "no submounts below /mnt/sys: {out:#?}");
    for line in mounts {
        let opts = line.split(' ').nth(5).unwrap_or("");
        assert!(opts.split(',').any(|o| o == "ro"), "not read-only: {line}");
    }
}

#[test]
fn run_bind_mount_probe_writes_host_file() {
    let env = TestEnv::new("runbind");
    let probe = env.probe_dir();
    let out = run(&env, &Config::sh("echo from-inside > /probe/fact").probe(&probe));
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(fs::read_to_string(probe.join("fact")).unwrap(), "from-inside\n");
}

#[test]
fn runtime_fds_do_not_leak_into_container() {
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new("runfds");
    let bundle = env.bundle(&Config::new(&["ls", "/proc/self/fd"]));
    let id = env.id("r");
    env.track(&id);
    let out_path = env.dir.join("fds.out");
    let mut cmd = std::process::Command::new(crate::harness::bin());
    cmd.args(["--root", env.root.to_str().unwrap(), "run", "-b", bundle.to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::inherit());
    // Hand the runtime an inherited descriptor (as a shim or shell might): fd 100, no CLOEXEC.
    // SAFETY: dup2 is async-signal-safe and only touches the forked child.
    unsafe {
        cmd.pre_exec(|| {
            if libc::dup2(0, 100) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let ended = wait_for(crate::harness::COMMAND_TIMEOUT, || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
        panic!("run did not finish");
    }
    assert!(child.wait().unwrap().success());
    let fds: Vec<String> =
        fs::read_to_string(&out_path).unwrap().split_whitespace().map(String::from).collect();
    // 0-2 are stdio, 3 is the directory ls itself reads.
    assert_eq!(fds, ["0", "1", "2", "3"], "descriptors open in the container");
}

/// `--preserve-fds 2`: fds 3 and 4 of the caller reach the container, nothing above them.
#[test]
fn preserved_fds_reach_the_container() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    let env = TestEnv::new("preservefds");
    let marker_a = env.dir.join("marker-a");
    let marker_b = env.dir.join("marker-b");
    fs::write(&marker_a, "A").unwrap();
    fs::write(&marker_b, "B").unwrap();
    let a = fs::File::open(&marker_a).unwrap();
    let b = fs::File::open(&marker_b).unwrap();
    let stray = fs::File::open("/dev/null").unwrap();
    let bundle = env.bundle(&Config::sh("cat <&3; cat <&4; ls /proc/self/fd"));
    let id = env.id("p");
    env.track(&id);
    let (fa, fb, fs_) = (a.as_raw_fd(), b.as_raw_fd(), stray.as_raw_fd());
    let mut cmd = std::process::Command::new(crate::harness::bin());
    cmd.arg("--root")
        .arg(&env.root)
        .args(["run", "--preserve-fds", "2", "--bundle"])
        .arg(&bundle)
        .arg(&id);
    // SAFETY: only fcntl/dup2 between fork and exec. Each source is first copied above the
    // targets, so no dup2 lands on a source not yet moved (or on itself, keeping CLOEXEC).
    unsafe {
        cmd.pre_exec(move || {
            let mut high = Vec::new();
            for from in [fa, fb, fs_] {
                let copy = libc::fcntl(from, libc::F_DUPFD_CLOEXEC, 100);
                if copy < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high.push(copy);
            }
            for (from, to) in high.into_iter().zip([3, 4, 5]) {
                if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.split_whitespace();
    assert_eq!(lines.next(), Some("AB0"), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    // 0-4 and the directory ls opened (5): the caller's fd 5 did not come in.
    let fds: Vec<&str> = stdout.trim_start_matches("AB").split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2", "3", "4", "5"], "{stdout}");
}

/// A gap in the preserved range stays closed (as the caller left it), and never holds one
/// of berth's own descriptors.
#[test]
fn a_gap_in_preserved_fds_stays_closed() {
    let env = TestEnv::new("preservegap");
    let bundle = env.bundle(&Config::sh(
        "for fd in 3 4 5; do [ -e /proc/$$/fd/$fd ] && readlink /proc/$$/fd/$fd; done; true",
    ));
    let id = env.id("p");
    env.track(&id);
    let out = std::process::Command::new(crate::harness::bin())
        .arg("--root")
        .arg(&env.root)
        .args(["run", "--preserve-fds", "3", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, "", "descriptors open in the gap");
}

/// The container gets a session keyring named after it, unless `--no-new-keyring`.
#[test]
fn session_keyring_is_named_after_the_container() {
    let env = TestEnv::new("keyring");
    let bundle = env.bundle(&Config::sh("cat /proc/keys"));
    let id = env.id("k");
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    out.ok();
    assert!(
        out.stdout.lines().any(|l| l.contains(" keyring ") && l.ends_with(&format!("{id}: empty"))),
        "{out:#?}"
    );
    let other = env.id("n");
    let out = env.berth(&["run", "--no-new-keyring", "--bundle", bundle.to_str().unwrap(), &other]);
    out.ok();
    assert!(!out.stdout.contains(&other), "{out:#?}");
}
