//! `linux.seccomp`: every action, errnoRet and defaultErrnoRet, argument filters with every
//! operator, the profile podman ships, and SCMP_ACT_NOTIFY with a listener in the test.

use std::fs;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;

use serde_json::{json, Value};

use crate::harness::{Config, Out, TestEnv};

/// The actions, operators and filter flags the tests below run in a container; `berth
/// features` may list no other (see features.rs).
pub const TESTED_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];
/// See [`TESTED_ACTIONS`].
pub const TESTED_OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];
/// See [`TESTED_ACTIONS`]; all of them are loaded together in the notify test.
pub const TESTED_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    "SECCOMP_FILTER_FLAG_TSYNC",
];

/// A profile: default ALLOW and `rules`.
fn allow_but(rules: Value) -> Value {
    json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules })
}

/// `cfg` with `profile` as linux.seccomp, run in the foreground to its end.
fn run(env: &TestEnv, cfg: Config, profile: Value) -> Out {
    let bundle = env.bundle(&cfg.set("/linux/seccomp", profile));
    env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("s")])
}

const MKDIR: &str = "mkdir /tmp/d && echo made || echo refused; test -d /tmp/d || echo absent; ls / >/dev/null && echo ls-works";

#[test]
fn errno_refuses_mkdir_while_other_syscalls_work() {
    let env = TestEnv::new("scerrno");
    let out = run(
        &env,
        Config::sh(MKDIR),
        allow_but(json!([{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" }])),
    );
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout, "refused\nabsent\nls-works\n", "{out:#?}");
    assert!(out.stderr.contains("Operation not permitted"), "{out:#?}");
}

#[test]
fn errno_ret_is_honoured() {
    let env = TestEnv::new("scerrnoret");
    let rule = json!([{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EROFS }]);
    let out = run(&env, Config::sh(MKDIR), allow_but(rule));
    assert_eq!(out.stdout, "refused\nabsent\nls-works\n", "{out:#?}");
    assert!(out.stderr.contains("Read-only file system"), "{out:#?}");
}

/// A non-root user without no_new_privs and without CAP_SYS_ADMIN: the filter has to be
/// installed before the user switch, and still holds after it; with no_new_privs it is
/// installed last.
#[test]
fn filter_holds_for_an_unprivileged_user_with_and_without_no_new_privs() {
    let env = TestEnv::new("scuser");
    for nnp in [false, true] {
        let cfg = Config::sh("mkdir /tmp/u/d && echo made || echo refused; id -u")
            .user(1000, 1000, &[])
            .set("/process/noNewPrivileges", json!(nnp))
            .set("/process/capabilities", json!({ "bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "effective": ["CAP_KILL"] }));
        let bundle = env.bundle(&cfg.set(
            "/linux/seccomp",
            allow_but(json!([{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EROFS }])),
        ));
        let tmp = bundle.join("rootfs/tmp/u");
        fs::create_dir_all(&tmp).unwrap();
        crate::harness::chown_tree(&tmp, 1000, 1000);
        let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("u")]);
        assert_eq!(out.stdout, "refused\n1000\n", "no_new_privs {nnp}: {out:#?}");
        assert!(out.stderr.contains("Read-only file system"), "{out:#?}");
    }
}

#[test]
fn kill_actions_kill_with_sigsys() {
    let env = TestEnv::new("sckill");
    for action in
        ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"]
    {
        let rule = json!([{ "names": ["mkdir", "mkdirat"], "action": action }]);
        let out = run(&env, Config::new(&["busybox", "mkdir", "/tmp/k"]), allow_but(rule));
        assert_eq!(out.code(), 128 + libc::SIGSYS, "{action}: {out:#?}");
    }
}

#[test]
fn log_allows_and_trace_without_a_tracer_fails_with_enosys() {
    let env = TestEnv::new("sclogtrace");
    let rule = json!([{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG" }]);
    let out = run(&env, Config::sh(MKDIR), allow_but(rule));
    assert_eq!(out.stdout, "made\nls-works\n", "{out:#?}");
    let rule =
        json!([{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRACE", "errnoRet": 5 }]);
    let out = run(&env, Config::sh(MKDIR), allow_but(rule));
    assert_eq!(out.stdout, "refused\nabsent\nls-works\n", "{out:#?}");
    assert!(out.stderr.contains("Function not implemented"), "{out:#?}");
}

/// Signals a shell can send itself harmlessly; which of them kill(2) refused.
const SIGNALS: [u64; 5] = [0, 17, 18, 23, 28];
const KILL_SCRIPT: &str = "for s in 0 17 18 23 28; do kill -$s $$ 2>/dev/null || echo $s; done";

fn refused_signals(env: &TestEnv, args: Value) -> Vec<u64> {
    let rule = json!([{ "names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": args }]);
    let mut profile = allow_but(rule);
    profile["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    let out = run(env, Config::sh(KILL_SCRIPT), profile);
    assert_eq!(out.code(), 0, "{args}: {out:#?}");
    out.stdout.lines().map(|l| l.parse().unwrap()).collect()
}

/// An operator, its value and mask, and which values it lets through.
type ArgCase = (&'static str, u64, u64, fn(u64) -> bool);

#[test]
fn argument_filters_match_only_their_values_for_every_operator() {
    let env = TestEnv::new("scargs");
    let cases: [ArgCase; 7] = [
        ("SCMP_CMP_EQ", 18, 0, |s| s == 18),
        ("SCMP_CMP_NE", 18, 0, |s| s != 18),
        ("SCMP_CMP_LT", 18, 0, |s| s < 18),
        ("SCMP_CMP_LE", 18, 0, |s| s <= 18),
        ("SCMP_CMP_GT", 18, 0, |s| s > 18),
        ("SCMP_CMP_GE", 18, 0, |s| s >= 18),
        // value is the mask, valueTwo the datum.
        ("SCMP_CMP_MASKED_EQ", 0b11, 0b01, |s| s & 0b11 == 0b01),
    ];
    for (op, value, value_two, refused) in cases {
        let args = json!([{ "index": 1, "value": value, "valueTwo": value_two, "op": op }]);
        let expected: Vec<u64> = SIGNALS.into_iter().filter(|s| refused(*s)).collect();
        assert_eq!(refused_signals(&env, args), expected, "{op}");
    }
    // Two conditions on one argument mean either (runc's behaviour); on two arguments, both.
    let either = json!([{ "index": 1, "value": 0, "op": "SCMP_CMP_EQ" }, { "index": 1, "value": 23, "op": "SCMP_CMP_EQ" }]);
    assert_eq!(refused_signals(&env, either), [0, 23]);
    let both = json!([{ "index": 0, "value": 1, "op": "SCMP_CMP_EQ" }, { "index": 1, "value": 28, "op": "SCMP_CMP_EQ" }]);
    assert_eq!(refused_signals(&env, both), [28]);
}

/// The capabilities podman gives a container by default.
const PODMAN_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// The moby-format profile podman ships, in OCI form for an x86_64 container with `caps`:
/// the native architecture and its sub-architectures, and the rules whose includes and
/// excludes (by capability and architecture) select them.
fn podman_profile(caps: &[&str]) -> Value {
    let text = fs::read_to_string("/usr/share/containers/seccomp.json").expect(
        "/usr/share/containers/seccomp.json (apt-get install golang-github-containers-common)",
    );
    let moby: Value = serde_json::from_str(&text).unwrap();
    let (native, go_arch) = ("SCMP_ARCH_X86_64", "amd64");
    let mut archs = vec![json!(native)];
    for m in moby["archMap"].as_array().unwrap() {
        if m["architecture"] == native {
            archs.extend(m["subArchitectures"].as_array().unwrap().iter().cloned());
        }
    }
    let list = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().map(|s| s.as_str().unwrap().to_string()).collect()
    };
    let has_cap = |c: &String| caps.contains(&c.as_str());
    let mut syscalls = Vec::new();
    for rule in moby["syscalls"].as_array().unwrap() {
        let (inc, exc) = (&rule["includes"], &rule["excludes"]);
        let inc_arches = list(&inc["arches"]);
        let selected = (inc_arches.is_empty() || inc_arches.iter().any(|a| a == go_arch))
            && list(&inc["caps"]).iter().all(has_cap)
            && !list(&exc["arches"]).iter().any(|a| a == go_arch)
            && !list(&exc["caps"]).iter().any(has_cap);
        if selected {
            let mut r = json!({ "names": rule["names"], "action": rule["action"] });
            for key in ["errnoRet", "args"] {
                if !rule[key].is_null() {
                    r[key] = rule[key].clone();
                }
            }
            syscalls.push(r);
        }
    }
    json!({
        "defaultAction": moby["defaultAction"],
        "defaultErrnoRet": moby["defaultErrnoRet"],
        "architectures": archs,
        "syscalls": syscalls
    })
}

/// Applies podman's default capabilities to `cfg`.
fn podman_caps(cfg: Config) -> Config {
    let caps = json!(PODMAN_CAPS);
    cfg.set(
        "/process/capabilities",
        json!({ "bounding": caps, "effective": caps, "permitted": caps }),
    )
}

#[test]
fn podmans_profile_runs_a_shell_script() {
    let env = TestEnv::new("scpodman");
    let script =
        "set -e; mkdir -p /tmp/a/b; echo hi > /tmp/a/b/f; cat /tmp/a/b/f; ls /tmp/a | wc -l; \
                  ps >/dev/null; sleep 0; sh -c 'exit 0'; \
                  chroot / true 2>/dev/null && echo chroot-ok; \
                  unshare -m true 2>/dev/null || echo unshare-refused; echo done";
    let out = run(&env, podman_caps(Config::sh(script)), podman_profile(PODMAN_CAPS));
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout, "hi\n1\nchroot-ok\nunshare-refused\ndone\n", "{out:#?}");
}

/// defaultErrnoRet: everything podman allows but mkdir, and mkdir gets the default errno.
#[test]
fn default_errno_ret_is_honoured() {
    let env = TestEnv::new("scdefault");
    let mut profile = podman_profile(PODMAN_CAPS);
    for rule in profile["syscalls"].as_array_mut().unwrap() {
        let names = rule["names"].as_array_mut().unwrap();
        names.retain(|n| n != "mkdir" && n != "mkdirat");
        if names.is_empty() {
            rule["names"] = json!(["getpid"]);
        }
    }
    profile["defaultErrnoRet"] = json!(libc::EROFS);
    let out = run(&env, podman_caps(Config::sh(MKDIR)), profile);
    assert_eq!(out.stdout, "refused\nabsent\nls-works\n", "{out:#?}");
    assert!(out.stderr.contains("Read-only file system"), "{out:#?}");
}

#[test]
fn a_profile_libseccomp_refuses_fails_create_and_leaves_nothing() {
    let env = TestEnv::new("scbad");
    // No SCMP_ARCH_LOONGARCH64 in libseccomp before 2.6; SH neither.
    let profile = json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_SH"] });
    let known = berth::seccomp::known_archs();
    if known.contains(&oci_spec::runtime::Arch::ScmpArchSh) {
        return;
    }
    let bundle = env.bundle(&Config::sh("true").set("/linux/seccomp", profile));
    let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &env.id("c")]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("linux.seccomp.architectures[1]"), "{out:#?}");
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

/// Receives one message and the descriptor riding along from a connected socket.
pub fn recv_with_fd(sock: RawFd) -> (Vec<u8>, OwnedFd) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = nix::sys::socket::recvmsg::<()>(
        sock,
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            nix::sys::socket::ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("a descriptor rides along");
    let len = msg.bytes;
    buf.truncate(len);
    // SAFETY: SCM_RIGHTS just installed this descriptor for us.
    (buf, unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The agent: takes the listener and the state, then answers the first mkdir with success
/// (creating nothing) and the second with EXDEV.
fn agent(socket: &Path) -> std::thread::JoinHandle<(Value, Vec<String>)> {
    let listener = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (bytes, fd) = recv_with_fd(conn.as_raw_fd());
        let state: Value = serde_json::from_slice(&bytes).unwrap();
        let mut seen = Vec::new();
        for answer in [Ok(0), Err(libc::EXDEV)] {
            let req = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()).unwrap();
            seen.push(req.data.syscall.get_name().unwrap());
            let flags = libseccomp::ScmpNotifRespFlags::empty();
            let resp = match answer {
                Ok(val) => libseccomp::ScmpNotifResp::new_val(req.id, val, flags),
                Err(errno) => libseccomp::ScmpNotifResp::new_error(req.id, -errno, flags),
            };
            resp.respond(fd.as_raw_fd()).unwrap();
        }
        (state, seen)
    })
}

#[test]
fn notify_hands_the_listener_and_state_to_the_agent_which_answers() {
    let env = TestEnv::new("scnotify");
    let socket = env.dir.join("agent.sock");
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": socket,
        "listenerMetadata": "berth-test-metadata",
        "flags": TESTED_FLAGS,
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY" }]
    });
    let script =
        "exec >/probe/out 2>&1; mkdir /tmp/a && echo made-a; test -d /tmp/a || echo absent-a; \
                  mkdir /tmp/b || echo refused-b";
    let handle = agent(&socket);
    let probe = env.probe_dir();
    let cfg = Config::sh(script).probe(&probe).set("/linux/seccomp", profile).annotation("k", "v");
    let bundle = env.bundle(&cfg);
    let id = env.id("n");
    env.create(&id, &bundle);
    let pid = env.pid_of(&id);
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    let (state, seen) = handle.join().unwrap();
    let out = fs::read_to_string(probe.join("out")).unwrap();
    assert!(out.starts_with("made-a\nabsent-a\n"), "{out}");
    assert!(out.contains("Invalid cross-device link") && out.ends_with("refused-b\n"), "{out}");
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s == "mkdir" || s == "mkdirat"), "{seen:?}");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["pid"], json!(pid), "{state}");
    assert_eq!(state["metadata"], "berth-test-metadata", "{state}");
    assert_eq!(state["state"]["id"], json!(id), "{state}");
    assert_eq!(state["state"]["status"], "creating", "{state}");
    assert_eq!(state["state"]["pid"], json!(pid), "{state}");
    assert_eq!(state["state"]["annotations"]["k"], "v", "{state}");
    env.delete(&id, false).ok();
}

#[test]
fn exec_gets_the_containers_filter() {
    let env = TestEnv::new("scexec");
    let profile = allow_but(json!([{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" }]));
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]).set("/linux/seccomp", profile));
    let id = env.id("x");
    env.create(&id, &bundle);
    env.start(&id).ok();
    let out = env.berth(&["exec", &id, "sh", "-c", MKDIR]);
    assert_eq!(out.stdout, "refused\nabsent\nls-works\n", "{out:#?}");
    env.delete(&id, true).ok();
}

#[test]
fn a_cached_program_filters_the_same_and_is_no_container() {
    let env = TestEnv::new("sccache");
    let profile = allow_but(json!([{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" }]));
    for _ in 0..2 {
        let out = run(&env, Config::sh(MKDIR), profile.clone());
        assert_eq!(out.stdout, "refused\nabsent\nls-works\n", "{out:#?}");
    }
    let cache = env.root.join(berth::seccomp::CACHE_DIR);
    assert_eq!(fs::read_dir(&cache).unwrap().count(), 1);
    let out = env.berth(&["list", "-q"]);
    assert_eq!(out.stdout, "", "{out:#?}");
}
