//! Allow-list seccomp profiles (default action an errno) against berth's own init: once the
//! filter is loaded the init may only make calls the program needs too, or must tolerate
//! their refusal. And `start`/`run` report an init that died before executing the program
//! (its own error, or a silent kill) instead of claiming success; a failing poststart hook
//! stops the container.

use std::fs;

use serde_json::{json, Value};

use crate::harness::{Config, TestEnv};

/// Everything busybox `sh -c 'echo ok'` (and runc's own init, to check the profiles with
/// `BERTH_BIN=runc`) needs on x86_64, and more: a generous allow list like those in older
/// Docker and containerd profiles, which predate close_range.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "arch_prctl",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "clone",
    "clone3",
    "close",
    "connect",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_wait",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "flock",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "ioctl",
    "kill",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "lseek",
    "lstat",
    "madvise",
    "membarrier",
    "memfd_create",
    "mkdir",
    "mkdirat",
    "mlock",
    "mmap",
    "mprotect",
    "mremap",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "prlimit64",
    "pselect6",
    "pwrite64",
    "read",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmsg",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "sched_getaffinity",
    "sched_yield",
    "seccomp",
    "select",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setresgid",
    "setresuid",
    "setsid",
    "setsockopt",
    "setuid",
    "shutdown",
    "sigaltstack",
    "socket",
    "socketpair",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sysinfo",
    "tgkill",
    "time",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utimensat",
    "vfork",
    "wait4",
    "waitid",
    "write",
    "writev",
];

/// An allow-list profile (default EPERM) without the calls in `omit`.
fn allow_list_without(omit: &[&str]) -> Value {
    let names: Vec<&str> = ALLOWED.iter().copied().filter(|n| !omit.contains(n)).collect();
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EPERM,
        "syscalls": [{ "names": names, "action": "SCMP_ACT_ALLOW" }]
    })
}

/// `run`s `echo ok` under `profile`, with no_new_privs `nnp`.
fn run_echo(env: &TestEnv, profile: Value, nnp: bool) -> crate::harness::Out {
    let cfg = Config::sh("echo ok")
        .set("/process/noNewPrivileges", json!(nnp))
        .set("/linux/seccomp", profile);
    let bundle = env.bundle(&cfg);
    env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("p")])
}

/// Each call the init makes after loading the filter, refused in turn: the program still runs.
fn program_runs_without(name: &str, omit: &str) {
    let env = TestEnv::new(name);
    for nnp in [false, true] {
        let out = run_echo(&env, allow_list_without(&[omit]), nnp);
        assert_eq!(
            (out.code(), out.stdout.as_str()),
            (0, "ok\n"),
            "{omit} refused, no_new_privs {nnp}: {out:#?}"
        );
    }
}

#[test]
fn a_profile_without_close_range_runs_the_program() {
    program_runs_without("scpclose", "close_range");
}

#[test]
fn a_profile_without_execveat_runs_the_program() {
    program_runs_without("scpexecveat", "execveat");
}

#[test]
fn a_profile_without_fcntl_runs_the_program() {
    program_runs_without("scpfcntl", "fcntl");
}

/// Also the error a failed cwd check gives: it used to claim cwd `/` led out of the root.
/// runc (1.1.5 as patched for CVE-2024-21626) refuses to start here: its cwd check runs after
/// the filter and fails with EPERM; berth checks before the filter loads.
#[test]
fn a_profile_without_getcwd_runs_the_program() {
    if crate::harness::reference_runc() {
        return;
    }
    program_runs_without("scpgetcwd", "getcwd");
}

/// The init resets every signal's disposition after start (without no_new_privs, behind
/// the filter); a program may well live without sigaction.
#[test]
fn a_profile_without_sigaction_runs_the_program() {
    if crate::harness::reference_runc() {
        return; // runc's init is a Go program: its runtime needs rt_sigaction
    }
    let env = TestEnv::new("scpsigaction");
    for nnp in [false, true] {
        let profile = allow_list_without(&["rt_sigaction"]);
        let cfg = Config::new(&["echo", "ok"])
            .set("/process/noNewPrivileges", json!(nnp))
            .set("/linux/seccomp", profile);
        let bundle = env.bundle(&cfg);
        let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("p")]);
        assert_eq!((out.code(), out.stdout.as_str()), (0, "ok\n"), "nnp {nnp}: {out:#?}");
    }
}

#[test]
fn a_profile_without_any_of_them_runs_the_program() {
    if crate::harness::reference_runc() {
        return; // getcwd: see above
    }
    let env = TestEnv::new("scpnone");
    for nnp in [false, true] {
        let omit = ["close_range", "execveat", "fcntl", "getcwd"];
        let out = run_echo(&env, allow_list_without(&omit), nnp);
        assert_eq!((out.code(), out.stdout.as_str()), (0, "ok\n"), "nnp {nnp}: {out:#?}");
    }
}

/// `exec` goes through the same steps after the same filter points.
#[test]
fn exec_runs_under_a_profile_without_any_of_them() {
    let env = TestEnv::new("scpexec");
    let omit = ["close_range", "execveat", "fcntl", "getcwd"];
    for nnp in [false, true] {
        let profile = if crate::harness::reference_runc() {
            allow_list_without(&omit[..3]) // getcwd: see above
        } else {
            allow_list_without(&omit)
        };
        let cfg = Config::new(&["sleep", "60"])
            .set("/process/noNewPrivileges", json!(nnp))
            .set("/linux/seccomp", profile);
        let bundle = env.bundle(&cfg);
        let id = env.id("e");
        env.create(&id, &bundle);
        env.start(&id);
        let out = env.berth(&["exec", &id, "sh", "-c", "echo ok"]);
        assert_eq!((out.code(), out.stdout.as_str()), (0, "ok\n"), "nnp {nnp}: {out:#?}");
        env.delete(&id, true);
    }
}

/// A container whose init a profile kills after `start` (the filter loads before the user
/// switch without no_new_privs, and the init closes descriptors with close_range later).
fn killed_after_start_config() -> Config {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["close_range"], "action": "SCMP_ACT_KILL" }]
    });
    Config::sh("echo ran")
        .set("/process/noNewPrivileges", json!(false))
        .set("/linux/seccomp", profile)
}

#[test]
fn start_fails_when_a_profile_kills_the_init_before_exec() {
    if crate::harness::reference_runc() {
        return; // runc's init closes descriptors without close_range
    }
    let env = TestEnv::new("scpkill");
    let bundle = env.bundle(&killed_after_start_config());
    let id = env.id("k");
    env.create(&id, &bundle);
    let out = env.berth(&["start", &id]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("before"), "{out:#?}");
    assert_eq!(out.stdout, "", "{out:#?}");
    assert_eq!(env.status(&id), "stopped");
    env.delete(&id, false);
}

#[test]
fn run_fails_when_a_profile_kills_the_init_before_exec() {
    if crate::harness::reference_runc() {
        return;
    }
    let env = TestEnv::new("scpkillrun");
    let bundle = env.bundle(&killed_after_start_config());
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("k")]);
    out.fails_with_one_line();
    assert_eq!(out.stdout, "", "{out:#?}");
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

/// A startContainer hook SIGKILLs the init (no pid namespace, so the signal reaches it).
#[test]
fn start_fails_when_the_init_is_killed_before_exec() {
    if crate::harness::reference_runc() {
        return; // runc 1.1.5's start succeeds here: the bug these tests are about
    }
    let env = TestEnv::new("scpsigkill");
    let hook = json!({ "path": "/bin/sh", "args": ["sh", "-c", "kill -9 $PPID; sleep 5"] });
    let cfg = Config::sh("echo ran")
        .without_namespace("pid")
        .set("/hooks", json!({ "startContainer": [hook] }));
    let bundle = env.bundle(&cfg);
    let id = env.id("k");
    env.create(&id, &bundle);
    let out = env.berth(&["start", &id]);
    assert_ne!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout, "", "{out:#?}");
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
}

/// A step that fails after `start` (here a startContainer hook): its error, not success.
#[test]
fn start_reports_the_error_of_a_step_after_start() {
    if crate::harness::reference_runc() {
        return; // runc 1.1.5's start succeeds here: the bug these tests are about
    }
    let env = TestEnv::new("scpstep");
    let hook = json!({ "path": "/bin/sh", "args": ["sh", "-c", "exit 7"] });
    let cfg = Config::sh("echo ran").set("/hooks", json!({ "startContainer": [hook] }));
    let bundle = env.bundle(&cfg);
    let id = env.id("s");
    env.create(&id, &bundle);
    let out = env.berth(&["start", &id]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("startContainer"), "{out:#?}");
    assert_eq!(out.stdout, "", "{out:#?}");
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
}

/// The program's own execve failing after `start` (it vanished since create).
#[test]
fn start_reports_a_failed_execve_of_the_program() {
    if crate::harness::reference_runc() {
        return; // runc 1.1.5's start succeeds here: the bug these tests are about
    }
    let env = TestEnv::new("scpexecfail");
    let bundle = env.bundle(&Config::new(&["/bin/gone"]));
    crate::harness::copy_executable(
        &bundle.join("rootfs/bin/busybox"),
        &bundle.join("rootfs/bin/gone"),
    );
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(bundle.join("rootfs/bin/gone"), fs::Permissions::from_mode(0o755)).unwrap();
    let id = env.id("x");
    env.create(&id, &bundle);
    fs::remove_file(bundle.join("rootfs/bin/gone")).unwrap();
    let out = env.berth(&["start", &id]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("/bin/gone"), "{out:#?}");
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
}

/// runtime.md, lifecycle step 9: a failing poststart hook is an error and stops the container.
#[test]
fn a_failing_poststart_hook_fails_start_and_stops_the_container() {
    if crate::harness::reference_runc() {
        return; // runc 1.1.5 runs poststart hooks during create
    }
    let env = TestEnv::new("scppoststart");
    let hook = json!({ "path": "/bin/sh", "args": ["sh", "-c", "echo no >&2; exit 3"] });
    let cfg = Config::new(&["sleep", "60"]).set("/hooks", json!({ "poststart": [hook] }));
    let bundle = env.bundle(&cfg);
    let id = env.id("h");
    env.create(&id, &bundle);
    let out = env.berth(&["start", &id]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("poststart"), "{out:#?}");
    assert_eq!(env.status(&id), "stopped");
    env.delete(&id, false);
}
