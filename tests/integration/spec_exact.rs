//! Behaviours where runc's and crun's own suites expect exactly what the spec (or mount(8))
//! says: a hostname set in a joined UTS namespace, an unbindable rootfs, the recursive atime
//! options, personality and time namespaces for `exec`, `exec --env` replacing the config's,
//! and `--preserve-fds` leaving closed descriptors closed.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::harness::{wait_for, Config, TestEnv};

/// `berth run` of `cfg`, asserted to succeed; its stdout lines.
fn run_lines(env: &TestEnv, cfg: &Config) -> Vec<String> {
    let bundle = env.bundle(cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("r")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    out.stdout.lines().map(str::to_string).collect()
}

/// A started container running `sleep 60`; its id.
fn sleeping(env: &TestEnv, cfg: Config) -> String {
    let id = env.id("s");
    env.create(&id, &env.bundle(&cfg.args(&["sleep", "60"])));
    env.start(&id);
    id
}

/// `exec ID args…`, asserted to succeed; its stdout lines.
fn exec_lines(env: &TestEnv, args: &[&str]) -> Vec<String> {
    let mut full = vec!["exec"];
    full.extend_from_slice(args);
    let out = env.berth(&full);
    assert_eq!(out.code(), 0, "{out:#?}");
    out.stdout.lines().map(str::to_string).collect()
}

/// A process this test started; killed by its pid and reaped when dropped.
struct Holder(Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn hostname_is_set_inside_a_joined_uts_namespace() {
    let env = TestEnv::new("utsjoin");
    let holder = Holder(
        Command::new("unshare")
            .args(["--uts", "sleep", "60"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawning unshare --uts sleep"),
    );
    let pid = holder.0.id();
    let ns = format!("/proc/{pid}/ns/uts");
    let host_ns = fs::read_link("/proc/self/ns/uts").unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || fs::read_link(&ns).is_ok_and(|l| l != host_ns)),
        "unshare --uts did not make its namespace"
    );
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut cfg = Config::new(&["hostname"]).hostname("joined-uts");
    for entry in cfg.0["linux"]["namespaces"].as_array_mut().unwrap() {
        if entry["type"] == "uts" {
            entry["path"] = json!(ns);
        }
    }
    assert_eq!(run_lines(&env, &cfg), ["joined-uts"]);
    // Set in the joined namespace, which keeps it; the host's is untouched.
    let out = Command::new("nsenter").arg(format!("--uts={ns}")).arg("hostname").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "joined-uts", "{out:?}");
    assert_eq!(fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), host_name);
}

#[test]
fn unbindable_rootfs_propagation_runs() {
    let env = TestEnv::new("unbindable");
    for value in ["unbindable", "runbindable"] {
        let cfg =
            Config::sh("cat /proc/self/mountinfo").set("/linux/rootfsPropagation", json!(value));
        let lines = run_lines(&env, &cfg);
        let root = lines
            .iter()
            .find(|l| l.split(' ').nth(4) == Some("/"))
            .unwrap_or_else(|| panic!("no / in {lines:#?}"));
        // Optional fields sit between the mount options and the "-" separator.
        let optional: Vec<&str> = root.split(' ').skip(6).take_while(|f| *f != "-").collect();
        assert_eq!(optional, ["unbindable"], "{value}: {root}");
    }
}

#[test]
fn rnorelatime_leaves_relatime_as_mount8_says() {
    let env = TestEnv::new("rnorelatime");
    let dir = env.probe_dir();
    let mut cfg = Config::sh("cat /proc/self/mountinfo");
    for (dest, option) in [("/norel", "rnorelatime"), ("/strict", "rstrictatime")] {
        cfg.0["mounts"].as_array_mut().unwrap().push(json!({
            "destination": dest, "type": "bind", "source": dir, "options": ["rbind", option]
        }));
    }
    let lines = run_lines(&env, &cfg);
    let options = |dest: &str| -> Vec<String> {
        let line = lines
            .iter()
            .find(|l| l.split(' ').nth(4) == Some(dest))
            .unwrap_or_else(|| panic!("no {dest} in {lines:#?}"));
        line.split(' ').nth(5).unwrap().split(',').map(str::to_string).collect()
    };
    // mountinfo names relatime and noatime; strictatime shows as neither.
    let norel = options("/norel");
    assert!(norel.iter().any(|o| o == "relatime"), "rnorelatime: {norel:?}");
    let strict = options("/strict");
    assert!(!strict.iter().any(|o| o == "relatime" || o == "noatime"), "rstrictatime: {strict:?}");
}

#[test]
fn exec_gets_the_configs_personality() {
    let env = TestEnv::new("execpersona");
    let cfg = Config::new(&[])
        .set("/linux/personality", json!({ "domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"] }));
    let id = sleeping(&env, cfg);
    assert_eq!(exec_lines(&env, &[&id, "cat", "/proc/self/personality"]), ["00040000"]);
}

#[test]
fn exec_joins_a_time_namespace_with_offsets() {
    let env = TestEnv::new("exectimens");
    let mut cfg = Config::new(&[]);
    cfg.0["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "time" }));
    let cfg =
        cfg.set("/linux/timeOffsets", json!({ "boottime": { "secs": 1000000, "nanosecs": 0 } }));
    let id = sleeping(&env, cfg);
    let lines = exec_lines(&env, &[&id, "cat", "/proc/uptime"]);
    let inside: f64 = lines[0].split_whitespace().next().unwrap().parse().unwrap();
    assert!(inside >= 1_000_000.0, "the exec'd process sees uptime {inside}");
}

#[test]
fn exec_env_replaces_the_configs_value() {
    let env = TestEnv::new("execenv");
    let id = sleeping(&env, Config::new(&[]).env("K=spec"));
    let script = "echo $K; env | grep '^K='";
    let lines = exec_lines(&env, &["--env", "K=flag", &id, "sh", "-c", script]);
    assert_eq!(lines, ["flag", "K=flag"]);
    // Within a process.json too, the later entry wins and only one remains.
    let process = json!({
        "user": { "uid": 0, "gid": 0 },
        "args": ["sh", "-c", script],
        "env": ["PATH=/bin", "K=first", "K=second"],
        "cwd": "/"
    });
    let file = env.dir.join("process.json");
    fs::write(&file, process.to_string()).unwrap();
    let lines = exec_lines(&env, &["--process", file.to_str().unwrap(), &id]);
    assert_eq!(lines, ["second", "K=second"]);
}

#[test]
fn preserve_fds_leaves_closed_descriptors_closed() {
    let env = TestEnv::new("preservefds");
    let passed = env.dir.join("passed");
    fs::write(&passed, "through fd 5\n").unwrap();
    // Which of the shell's descriptors 3..102 are open, then what fd 5 reads.
    let fds: Vec<String> = (3..103).map(|fd| fd.to_string()).collect();
    let script = format!(
        "for i in {}; do [ -e /proc/$$/fd/$i ] && echo open $i; done; cat <&5",
        fds.join(" ")
    );
    let bundle = env.bundle(&Config::sh(&script));
    let id = env.id("p");
    env.track(&id);
    let file = fs::File::open(&passed).unwrap();
    let raw = file.as_raw_fd();
    let mut cmd = Command::new(env.binary());
    cmd.arg("--root").arg(&env.root).args(["run", "--preserve-fds", "100", "--bundle"]);
    cmd.arg(&bundle).arg(&id).stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Only fd 5 of the range reaches berth, whatever else the test process holds.
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 4u32 /* CLOEXEC */);
            let ok = if raw == 5 { libc::fcntl(5, libc::F_SETFD, 0) } else { libc::dup2(raw, 5) };
            if ok < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["open 5", "through fd 5"], "{out:?}");
}

#[test]
fn without_a_mount_namespace_the_process_is_chrooted_and_shares_the_runtimes() {
    // runc does its rootfs mounts (and a recursive rslave of /) in the host's namespace here.
    if crate::harness::reference_runc() {
        eprintln!("skipped: runc would change the host's mount propagation");
        return;
    }
    let env = TestEnv::new("nomntns");
    let cfg = Config::new(&["sleep", "60"]).without_namespace("mount").set("/mounts", json!([]));
    let bundle = env.bundle(&cfg);
    let rootfs = bundle.join("rootfs");
    fs::write(rootfs.join("marker"), "in the rootfs\n").unwrap();
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    let pid = env.pid_of(&id);
    let link = |what: &str| fs::read_link(format!("/proc/{pid}/{what}")).unwrap();
    assert_eq!(link("ns/mnt"), fs::read_link("/proc/self/ns/mnt").unwrap());
    assert_eq!(link("root"), rootfs.canonicalize().unwrap());
    assert_eq!(exec_lines(&env, &[&id, "cat", "/marker"]), ["in the rootfs"]);
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let bundle_path = bundle.display().to_string();
    assert!(!mountinfo.contains(&bundle_path), "a mount under the bundle: {mountinfo}");
}

#[test]
fn without_a_mount_namespace_fields_that_mount_are_refused() {
    let env = TestEnv::new("nomntnsmounts");
    let bundle = env.bundle(&Config::sh("true").without_namespace("mount"));
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("r")]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("mounts: needs a mount namespace"), "{out:#?}");
    assert_eq!(env.root_entries(), Vec::<String>::new());
}
