//! SCMP_ACT_NOTIFY on the syscalls the init itself makes while it finishes setting up
//! (runc's seccomp-notify.bats): the listener must reach the agent before any of them can be
//! notified, and `create` fails with one line when no agent listens at `listenerPath`.
//!
//! runc 1.1.5 (the reference installed here) refuses NOTIFY on write and the like outright
//! ("SCMP_ACT_NOTIFY cannot be used for the write syscall"); later runc runs these profiles,
//! which is what its seccomp-notify.bats checks and what these tests expect.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::thread::JoinHandle;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde_json::{json, Value};

use crate::harness::{Config, TestEnv};
use crate::seccomp::recv_with_fd;

/// Calls every init makes after the filter is loaded (opening, closing, writing to the sync
/// socket, fcntl on descriptors, chdir, prctl, capset...), and what the program does.
const IMPORTANT: &[&str] = &[
    "openat",
    "open",
    "close",
    "write",
    "read",
    "fcntl",
    "mkdir",
    "mkdirat",
    "getpid",
    "chdir",
    "fchdir",
    "prctl",
    "capset",
    "setuid",
    "setgid",
    "setgroups",
    "stat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getcwd",
    "dup2",
    "dup3",
    "rt_sigaction",
    "rt_sigprocmask",
    "getdents64",
    "close_range",
    "personality",
];

/// A profile allowing everything but notifying [`IMPORTANT`], with listenerPath `socket`.
fn notify_profile(socket: &Path) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": socket,
        "syscalls": [{ "names": IMPORTANT, "action": "SCMP_ACT_NOTIFY" }]
    })
}

/// The agent: takes the listener, lets every notified call go on (answering mkdir with
/// EXDEV, to show it answers), and returns the names it saw once no process uses the filter.
fn continuing_agent(socket: &Path) -> JoinHandle<Vec<String>> {
    let listener = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (_, fd) = recv_with_fd(conn.as_raw_fd());
        let mut seen = Vec::new();
        loop {
            // SAFETY: `fd` lives for the whole loop.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) };
            let mut fds = [PollFd::new(borrowed, PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::NONE).unwrap();
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            if !revents.contains(PollFlags::POLLIN) {
                // POLLHUP: every process using the filter is gone.
                break;
            }
            let Ok(req) = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()) else { continue };
            let name = req.data.syscall.get_name().unwrap_or_default();
            let flags = libseccomp::ScmpNotifRespFlags::empty();
            let resp = if name == "mkdir" || name == "mkdirat" {
                libseccomp::ScmpNotifResp::new_error(req.id, -libc::EXDEV, flags)
            } else {
                libseccomp::ScmpNotifResp::new_continue(req.id, flags)
            };
            // The target may have died meanwhile (ENOENT): nothing to answer then.
            let _ = resp.respond(fd.as_raw_fd());
            seen.push(name);
        }
        seen
    })
}

/// Runs a container whose init and program make notified calls, answered by the agent.
fn runs_with_agent(tag: &str, no_new_privileges: bool) {
    let env = TestEnv::new(tag);
    let socket = env.dir.join("agent.sock");
    let agent = continuing_agent(&socket);
    let script = "mkdir /tmp/d 2>/dev/null || echo refused; echo $$ > /tmp/pid; cat /tmp/pid";
    let mut cfg = Config::sh(script)
        .set("/linux/seccomp", notify_profile(&socket))
        .set("/process/noNewPrivileges", json!(no_new_privileges));
    if !no_new_privileges {
        // Without CAP_SYS_ADMIN left after the user switch the filter is loaded before it,
        // so the init's notified calls include the switch and everything after it.
        let caps = json!(["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"]);
        let sets = json!({ "bounding": caps, "effective": caps, "permitted": caps });
        cfg = cfg.set("/process/capabilities", sets);
    }
    let bundle = env.bundle(&cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("n")]);
    out.ok();
    assert_eq!(out.stdout, "refused\n1\n", "{out:#?}");
    let seen = agent.join().unwrap();
    assert!(seen.iter().any(|s| s == "mkdir" || s == "mkdirat"), "{seen:?}");
    assert!(seen.iter().any(|s| s == "write"), "{seen:?}");
}

#[test]
fn notify_on_the_inits_own_calls_with_no_new_privileges() {
    runs_with_agent("scnnpy", true);
}

#[test]
fn notify_on_the_inits_own_calls_without_no_new_privileges() {
    runs_with_agent("scnnpn", false);
}

#[test]
fn create_without_an_agent_fails_with_one_line_naming_listener_path() {
    let env = TestEnv::new("scnoagent");
    let socket = env.dir.join("nobody.sock");
    for no_new_privileges in [true, false] {
        let cfg = Config::sh("true")
            .set("/linux/seccomp", notify_profile(&socket))
            .set("/process/noNewPrivileges", json!(no_new_privileges));
        let bundle = env.bundle(&cfg);
        let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &env.id("c")]);
        out.fails_with_one_line();
        assert!(out.stderr.contains("linux.seccomp.listenerPath"), "{out:#?}");
        assert!(out.stderr.contains("seccomp agent"), "{out:#?}");
        assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
    }
}
