//! Differences from runc that runc's bats suite found and that were berth's to fix: syscalls
//! newer than a seccomp profile fail with ENOSYS, startContainer hooks run under the
//! container's seccomp filter, an `exec --process` file may leave out `user` (and its
//! `consoleSize` sizes the exec's terminal), and a user-namespaced container binds sources
//! below directories its root may not search.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{chown_tree, Config, TestEnv};
use crate::tty::{converse, receive_master};

/// Compiles the C program `source` statically into `<rootfs>/<name>`.
fn compile_into(rootfs: &Path, name: &str, source: &str) {
    let c = rootfs.join(format!("{name}.c"));
    fs::write(&c, source).unwrap();
    let out = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(rootfs.join(name))
        .arg(&c)
        .output()
        .expect("running cc (install build-essential)");
    assert!(out.status.success(), "cc failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Every x86_64 syscall name the kernel headers define but `except`.
fn x86_64_syscalls_but(except: &[&str]) -> Vec<String> {
    let header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
    let text = fs::read_to_string(header).expect("reading the kernel's syscall header");
    text.lines()
        .filter_map(|l| l.strip_prefix("#define __NR_"))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| !except.contains(name))
        .map(str::to_owned)
        .collect()
}

/// Prints the errno of a syscall no kernel has (number 1000) and of sysinfo, which the
/// profile below leaves to its default action.
const ERRNO_PROBE: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
static int err(long ret) { return ret < 0 ? errno : 0; }
int main(void) {
    struct sysinfo info;
    int unknown = err(syscall(1000, 1, 2, 3));
    int refused = err(syscall(SYS_sysinfo, &info));
    printf("unknown=%d refused=%d\n", unknown, refused);
    return 0;
}
"#;

#[cfg(target_arch = "x86_64")]
#[test]
fn a_syscall_newer_than_the_profile_fails_with_enosys_not_the_default_errno() {
    let env = TestEnv::new("enosys");
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::ENOANO,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{ "names": x86_64_syscalls_but(&["sysinfo"]), "action": "SCMP_ACT_ALLOW" }]
    });
    let cfg = Config::new(&["/errno-probe"]).set("/linux/seccomp", profile);
    let bundle = env.bundle(&cfg);
    compile_into(&bundle.join("rootfs"), "errno-probe", ERRNO_PROBE);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("e")]);
    out.ok();
    // Unknown to the profile (above every syscall it names): ENOSYS, so programs fall back.
    // Named nowhere but older than the newest named: the default errno, as the profile says.
    let want = format!("unknown={} refused={}", libc::ENOSYS, libc::ENOANO);
    assert!(out.stdout.contains(&want), "{out:#?}");
}

/// A profile that lets everything through but mkdir, which gets `action`.
fn mkdir_gets(action: &str) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": action }]
    })
}

/// `cfg` with one startContainer hook running `script` in the container's shell, and with
/// no_new_privs, as docker and podman run containers: then the init can install the filter
/// at its last step, after the hooks, and the hooks need it installed for them.
fn with_start_container_hook(cfg: Config, script: &str) -> Config {
    let hook = json!({ "path": "/bin/sh", "args": ["sh", "-c", script] });
    cfg.set("/hooks", json!({ "startContainer": [hook] }))
        .set("/process/noNewPrivileges", json!(true))
}

#[test]
fn start_container_hooks_run_under_the_containers_seccomp_filter() {
    let env = TestEnv::new("schook");
    let probe = env.probe_dir();
    let script =
        "mkdir /tmp/by-hook 2>/dev/null && echo made > /probe/hook || echo refused > /probe/hook";
    let cfg =
        Config::new(&["true"]).probe(&probe).set("/linux/seccomp", mkdir_gets("SCMP_ACT_ERRNO"));
    let bundle = env.bundle(&with_start_container_hook(cfg, script));
    env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("h")]).ok();
    let seen = fs::read_to_string(probe.join("hook")).unwrap_or_default();
    assert_eq!(seen.trim(), "refused", "the hook ran outside the container's filter");
}

#[test]
fn a_start_container_hook_killed_by_the_filter_fails_run_and_says_why() {
    let env = TestEnv::new("schookkill");
    let cfg = Config::new(&["true"]).set("/linux/seccomp", mkdir_gets("SCMP_ACT_KILL"));
    let bundle = env.bundle(&with_start_container_hook(cfg, "mkdir /tmp/by-hook"));
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("k")]);
    assert_ne!(out.code(), 0, "{out:#?}");
    if !crate::harness::reference_runc() {
        let line = &out.stderr;
        assert!(line.contains("startContainer hook /bin/sh"), "{out:#?}");
        assert!(line.contains("SIGSYS") && line.contains("bad system call"), "{out:#?}");
    }
}

#[test]
fn exec_process_file_without_user_runs_as_root_on_a_tty_of_its_console_size() {
    let env = TestEnv::new("execsize");
    let id = env.id("c");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "60"])));
    env.start(&id);
    // No `user`: runc runs such a file as root (its tests and some callers send them).
    let process = json!({
        "terminal": true,
        "consoleSize": { "height": 17, "width": 93 },
        "args": ["/bin/sh", "-c", "stty size; id -u; echo done-$((6*7))"],
        "cwd": "/"
    });
    let file = env.dir.join("process.json");
    fs::write(&file, process.to_string()).unwrap();
    let socket = env.dir.join("exec.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let receiver = std::thread::spawn(move || receive_master(&listener));
    let process_arg = file.to_str().unwrap();
    let socket_arg = socket.to_str().unwrap();
    env.berth(&["exec", "-t", "-d", "--console-socket", socket_arg, "-p", process_arg, &id]).ok();
    let seen = converse(receiver.join().unwrap(), "", "done-42");
    assert!(seen.contains("17 93"), "consoleSize not applied: {seen:?}");
    assert!(seen.lines().any(|l| l.trim() == "0"), "not root: {seen:?}");
    env.delete(&id, true);
}

/// `<test dir>/<name>/dir/file` holding `text`, with `<name>` owned by the host's root and
/// mode 0700: closed to every other user, the container's mapped root among them.
fn closed_source(env: &TestEnv, name: &str, text: &str) -> PathBuf {
    let outer = env.dir.join(name);
    fs::create_dir_all(outer.join("dir")).unwrap();
    fs::write(outer.join("dir/file"), text).unwrap();
    fs::set_permissions(&outer, fs::Permissions::from_mode(0o700)).unwrap();
    outer.join("dir")
}

#[test]
fn a_user_namespaced_container_binds_sources_its_root_cannot_search() {
    let env = TestEnv::new("usernsclosed");
    let (a, b) =
        (closed_source(&env, "closed-a", "from-a"), closed_source(&env, "closed-b", "from-b"));
    let cfg = Config::new(&["sleep", "60"])
        .user_namespace(100000, 65536)
        .bind(&a, "/mnt/a", true)
        .bind(&b, "/mnt/b", false);
    let bundle = env.bundle(&cfg);
    chown_tree(&bundle.join("rootfs"), 100000, 100000);
    let id = env.id("u");
    // From the test's directory with a relative --pid-file: the runtime, which entered the
    // init's mount namespace for the sources, must be back in its own and in its cwd.
    let mut cmd = Command::new(env.binary());
    cmd.current_dir(&env.dir).arg("--root").arg(&env.root);
    cmd.args(["create", "--pid-file", "init.pid", "--bundle", bundle.to_str().unwrap(), &id]);
    env.track(&id);
    let out = env.finish_within(cmd, "create", Duration::from_secs(30)).unwrap();
    out.ok();
    assert!(env.dir.join("init.pid").exists(), "the pid file went elsewhere: {out:#?}");
    env.start(&id);
    let out = env.berth(&["exec", &id, "cat", "/mnt/a/file", "/mnt/b/file"]);
    out.ok();
    assert_eq!(out.stdout, "from-afrom-b", "{out:#?}");
    env.delete(&id, true);
}
