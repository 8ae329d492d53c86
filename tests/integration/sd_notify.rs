//! The sd_notify relay (`NOTIFY_SOCKET`): the test binds its own datagram socket as the
//! host's, runs the runtime with NOTIFY_SOCKET pointing there, and a static probe in the
//! container reports the NOTIFY_SOCKET it got and sends its message to it. runc 1.1.5's
//! behaviour is the reference: the container's socket is `<state dir>/notify/notify.sock`,
//! seen inside at /run/notify/notify.sock; start returns once READY=1 was passed on, then
//! `MAINPID=<init pid>` (a foreground run sends its own pid); start exits 0 when the init
//! exits without READY=1. Where berth does better, runc mode skips: a foreground run ends
//! with its container whether or not it notified, and a READY=1 line counts anywhere in a
//! datagram.

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::{
    chown_tree, copy_executable, proc_stat, reference_runc, wait_for, Config, TestEnv,
};

/// `sdnotify MESSAGE [FLAGS]`: writes its NOTIFY_SOCKET (or `unset`) to /probe/env; with
/// `w` in FLAGS waits for /probe/go first; sends MESSAGE to NOTIFY_SOCKET and writes `ok`
/// or the error to /probe/sent; with `x` exits 0 then, else idles until killed.
const PROBE: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
static void report(const char *file, const char *text) {
    FILE *f = fopen(file, "w");
    if (f) { fputs(text, f); fclose(f); }
}
int main(int argc, char **argv) {
    const char *path = getenv("NOTIFY_SOCKET");
    const char *flags = argc > 2 ? argv[2] : "";
    report("/probe/env", path ? path : "unset");
    if (strchr(flags, 'w'))
        while (access("/probe/go", F_OK) != 0) usleep(10000);
    int sent = -1;
    if (path && argc > 1) {
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sent = sendto(fd, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&addr, sizeof addr);
    }
    report("/probe/sent", sent >= 0 ? "ok" : strerror(errno));
    if (strchr(flags, 'x'))
        return 0;
    for (;;) pause();
}
"#;

/// The probe, compiled statically once per test build.
pub fn probe_binary() -> &'static Path {
    static PROBE_BIN: OnceLock<PathBuf> = OnceLock::new();
    PROBE_BIN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let source = dir.join(format!("sdnotify-{}.c", std::process::id()));
        fs::write(&source, PROBE).unwrap();
        let tmp = dir.join(format!("sdnotify.tmp{}", std::process::id()));
        let out = Command::new("cc")
            .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
            .arg(&tmp)
            .arg(&source)
            .output()
            .expect("running cc (install build-essential)");
        assert!(out.status.success(), "cc: {}", String::from_utf8_lossy(&out.stderr));
        let _ = fs::remove_file(&source);
        let bin = dir.join("sdnotify");
        fs::rename(&tmp, &bin).unwrap();
        bin
    })
}

/// A bundle running the probe with `args`, its /probe bound to `probe`; process.env names a
/// NOTIFY_SOCKET of its own, which the relay's must replace.
fn notify_bundle(env: &TestEnv, probe: &Path, args: &[&str]) -> PathBuf {
    let cfg = Config::new(args).probe(probe).env("NOTIFY_SOCKET=/from/config");
    let bundle = env.bundle(&cfg);
    copy_executable(probe_binary(), &bundle.join("rootfs/bin/sdnotify"));
    bundle
}

/// The test's stand-in for systemd's socket, bound in the test's temp dir.
fn host_socket(env: &TestEnv) -> (UnixDatagram, PathBuf) {
    let path = env.dir.join("host.sock");
    (UnixDatagram::bind(&path).expect("binding the host's notify socket"), path)
}

/// The datagrams the host's socket receives until they hold a READY=1 and a MAINPID line,
/// or `timeout` passes without one.
pub fn received(host: &UnixDatagram, timeout: Duration) -> Vec<String> {
    host.set_read_timeout(Some(timeout)).unwrap();
    let mut datagrams: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let complete = |lines: &[String]| {
        lines.iter().any(|l| l == "READY=1") && lines.iter().any(|l| l.starts_with("MAINPID="))
    };
    while !complete(&lines(&datagrams)) {
        let Ok(n) = host.recv(&mut buf) else { break };
        datagrams.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    datagrams
}

/// The non-empty lines of `datagrams` (runc ends each with a newline).
pub fn lines(datagrams: &[String]) -> Vec<String> {
    datagrams.iter().flat_map(|d| d.lines()).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// Reads a probe report, waiting for it up to 10 s.
#[track_caller]
fn report(probe: &Path, name: &str) -> String {
    let file = probe.join(name);
    assert!(wait_for(Duration::from_secs(10), || file.exists()), "no /probe/{name}");
    // Written in one go, but maybe not yet closed: wait for content.
    wait_for(Duration::from_secs(2), || fs::metadata(&file).is_ok_and(|m| m.len() > 0));
    fs::read_to_string(&file).unwrap()
}

fn still_running(pid: u32) -> bool {
    proc_stat(pid as i32).is_some_and(|(_, state)| state != 'Z')
}

#[test]
fn start_waits_for_ready_and_passes_it_on_with_the_init_pid() {
    let env = TestEnv::new("sdnotify");
    let probe = env.probe_dir();
    let bundle = notify_bundle(&env, &probe, &["/bin/sdnotify", "READY=1", "w"]);
    let (host, host_path) = host_socket(&env);
    let vars = [("NOTIFY_SOCKET", host_path.as_path())];
    let id = env.id("c");
    let bundle_arg = bundle.to_str().unwrap();
    env.spawn_with_env(&vars, &["create", "--bundle", bundle_arg, &id]).wait().ok();
    let pid = env.pid_of(&id);
    assert!(env.root.join(&id).join("notify").is_dir(), "no notify directory in the state dir");

    let start = env.spawn_with_env(&vars, &["start", &id]);
    assert_eq!(report(&probe, "env"), "/run/notify/notify.sock");
    // The program runs and has not notified yet: start must still be waiting.
    std::thread::sleep(Duration::from_millis(300));
    assert!(still_running(start.pid()), "start returned before READY=1");
    fs::write(probe.join("go"), "").unwrap();
    let out = start.wait();
    out.ok();
    assert_eq!(report(&probe, "sent"), "ok");

    let datagrams = received(&host, Duration::from_secs(5));
    let lines = lines(&datagrams);
    assert!(lines.iter().any(|l| l == "READY=1"), "{lines:?}");
    assert!(lines.contains(&format!("MAINPID={pid}")), "MAINPID is not the init {pid}: {lines:?}");
    if !reference_runc() {
        // crun's proxy test wants the READY=1 datagram just as the container sent it.
        assert_eq!(datagrams, ["READY=1".to_string(), format!("MAINPID={pid}")]);
    }
    assert_eq!(env.status(&id), "running");

    env.delete(&id, true);
    assert!(!env.root.join(&id).exists(), "state dir (and its socket) left after delete");
}

#[test]
fn start_returns_when_the_init_exits_without_ready() {
    let env = TestEnv::new("sdnotify-exit");
    let probe = env.probe_dir();
    let bundle =
        notify_bundle(&env, &probe, &["sh", "-c", "echo up > /probe/up; sleep 0.3; exit 3"]);
    let (host, host_path) = host_socket(&env);
    let vars = [("NOTIFY_SOCKET", host_path.as_path())];
    let id = env.id("c");
    let bundle_arg = bundle.to_str().unwrap();
    env.spawn_with_env(&vars, &["create", "--bundle", bundle_arg, &id]).wait().ok();
    env.pid_of(&id);

    let began = Instant::now();
    let out = env.spawn_with_env(&vars, &["start", &id]).wait();
    // runc exits 0 here too (once the init is reaped); berth as soon as the init exits.
    assert_eq!(out.code(), 0, "{out:#?}");
    assert!(began.elapsed() < Duration::from_secs(10), "start took {:?}", began.elapsed());
    assert_eq!(report(&probe, "up"), "up\n");
    if !reference_runc() {
        assert!(out.stderr.contains("before it sent READY=1"), "{out:#?}");
    }
    assert!(received(&host, Duration::from_millis(300)).is_empty(), "something was relayed");
    env.wait_status(&id, "stopped");

    env.delete(&id, false);
    assert!(!env.root.join(&id).exists(), "state dir (and its socket) left after delete");
}

#[test]
fn create_without_notify_socket_mounts_nothing() {
    let env = TestEnv::new("sdnotify-none");
    let probe = env.probe_dir();
    let script = "grep -c /run/notify /proc/self/mountinfo > /probe/mounts; \
                  echo ${NOTIFY_SOCKET-unset} > /probe/env; exec sleep 60";
    let bundle = env.bundle(&Config::sh(script).probe(&probe));
    let id = env.id("c");
    env.create(&id, &bundle);
    assert!(
        !env.root.join(&id).join("notify").exists(),
        "a notify directory without NOTIFY_SOCKET"
    );
    if reference_runc() {
        env.start(&id);
    } else {
        // berth starts it as usual when only start has NOTIFY_SOCKET (runc fails to bind);
        // there is nothing to relay and nothing to wait for.
        let (_host, host_path) = host_socket(&env);
        let vars = [("NOTIFY_SOCKET", host_path.as_path())];
        env.spawn_with_env(&vars, &["start", &id]).wait().ok();
    }
    assert_eq!(report(&probe, "mounts"), "0\n");
    assert_eq!(report(&probe, "env"), "unset\n");
    env.delete(&id, true);
}

#[test]
fn foreground_run_relays_ready_with_its_own_pid_and_exits_with_the_container() {
    if reference_runc() {
        // runc 1.1.5 looks for `READY=` only at the start of a datagram, and its foreground
        // run waits for READY=1 (not for the container) forever.
        return;
    }
    let env = TestEnv::new("sdnotify-run");
    let probe = env.probe_dir();
    let bundle = notify_bundle(&env, &probe, &["/bin/sdnotify", "STATUS=up\nREADY=1", "x"]);
    let (host, host_path) = host_socket(&env);
    let vars = [("NOTIFY_SOCKET", host_path.as_path())];
    let id = env.id("c");
    let run = env.spawn_with_env(&vars, &["run", "--bundle", bundle.to_str().unwrap(), &id]);
    let run_pid = run.pid();
    let out = run.wait();
    assert_eq!(out.code(), 0, "{out:#?}");
    let lines = lines(&received(&host, Duration::from_secs(5)));
    assert!(lines.iter().any(|l| l == "READY=1"), "{lines:?}");
    assert!(
        lines.contains(&format!("MAINPID={run_pid}")),
        "MAINPID is not run's {run_pid}: {lines:?}"
    );
    assert!(!lines.iter().any(|l| l.starts_with("STATUS=")), "only READY=1 is relayed: {lines:?}");
}

#[test]
fn foreground_run_without_ready_passes_the_exit_code_and_output() {
    if reference_runc() {
        // runc 1.1.5's foreground run waits for READY=1 forever: it polls its own pid.
        return;
    }
    let env = TestEnv::new("sdnotify-run-exit");
    let probe = env.probe_dir();
    let script = "echo $NOTIFY_SOCKET > /probe/env; echo hello; exit 7";
    let bundle = notify_bundle(&env, &probe, &["sh", "-c", script]);
    let (host, host_path) = host_socket(&env);
    let vars = [("NOTIFY_SOCKET", host_path.as_path())];
    let id = env.id("c");
    let out = env.spawn_with_env(&vars, &["run", "--bundle", bundle.to_str().unwrap(), &id]).wait();
    assert_eq!(out.code(), 7, "{out:#?}");
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(report(&probe, "env"), "/run/notify/notify.sock\n");
    assert!(received(&host, Duration::from_millis(300)).is_empty());
    assert!(!env.root.join(&id).exists(), "run left its state dir");
}

#[test]
fn detached_run_returns_after_ready_with_the_init_pid() {
    let env = TestEnv::new("sdnotify-detach");
    let probe = env.probe_dir();
    let bundle = notify_bundle(&env, &probe, &["/bin/sdnotify", "READY=1"]);
    let (host, host_path) = host_socket(&env);
    let vars = [("NOTIFY_SOCKET", host_path.as_path())];
    let id = env.id("c");
    let bundle_arg = bundle.to_str().unwrap();
    env.spawn_with_env(&vars, &["run", "--detach", "--bundle", bundle_arg, &id]).wait().ok();
    let pid = env.pid_of(&id);
    let lines = lines(&received(&host, Duration::from_secs(5)));
    assert!(lines.iter().any(|l| l == "READY=1"), "{lines:?}");
    assert!(lines.contains(&format!("MAINPID={pid}")), "MAINPID is not the init {pid}: {lines:?}");
    env.delete(&id, true);
}

#[test]
fn a_user_namespaced_container_as_another_user_reaches_the_socket() {
    let env = TestEnv::new("sdnotify-userns");
    let probe = env.probe_dir();
    let cfg = Config::new(&["/bin/sdnotify", "READY=1"])
        .probe(&probe)
        .user_namespace(100000, 65536)
        .user(1000, 1000, &[]);
    let bundle = env.bundle(&cfg);
    copy_executable(probe_binary(), &bundle.join("rootfs/bin/sdnotify"));
    chown_tree(&bundle.join("rootfs"), 100000, 100000);
    let (host, host_path) = host_socket(&env);
    let vars = [("NOTIFY_SOCKET", host_path.as_path())];
    let id = env.id("c");
    let bundle_arg = bundle.to_str().unwrap();
    env.spawn_with_env(&vars, &["create", "--bundle", bundle_arg, &id]).wait().ok();
    let pid = env.pid_of(&id);
    env.spawn_with_env(&vars, &["start", &id]).wait().ok();
    assert_eq!(report(&probe, "sent"), "ok");
    let lines = lines(&received(&host, Duration::from_secs(5)));
    assert!(lines.contains(&format!("MAINPID={pid}")), "{lines:?}");
    env.delete(&id, true);
}

#[test]
fn a_failed_create_leaves_no_notify_directory() {
    let env = TestEnv::new("sdnotify-fail");
    let probe = env.probe_dir();
    // The kernel refuses the option inside the clone, after the state dir was made.
    let mut cfg = Config::new(&["true"]).probe(&probe);
    cfg.0["mounts"].as_array_mut().unwrap().push(serde_json::json!({
        "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=bogus"]
    }));
    let bundle = env.bundle(&cfg);
    let (_host, host_path) = host_socket(&env);
    let vars = [("NOTIFY_SOCKET", host_path.as_path())];
    let id = env.id("c");
    let bundle_arg = bundle.to_str().unwrap();
    let out = env.spawn_with_env(&vars, &["create", "--bundle", bundle_arg, &id]).wait();
    assert_ne!(out.code(), 0, "{out:#?}");
    assert!(out.stderr.contains("/tmp"), "failed elsewhere than at the tmpfs: {out:#?}");
    assert!(env.root_entries().is_empty(), "left behind: {:?}", env.root_entries());
}
