//! Bounds the host depends on: ids a process can really switch to, hooks whose output or
//! children must not hang the runtime, error lines of bounded length, and a state root that
//! only root can list.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{reference_runc, wait_for, Config, Out, TestEnv};

/// (uid_t)-1: setresuid(2) reads it as "leave unchanged".
const MINUS_ONE: u32 = u32::MAX;

/// The longest error line the tests accept (berth bounds every message of the chain).
const SHORT: usize = 2000;

fn hook(script: &str) -> Value {
    json!({ "path": "/bin/sh", "args": ["sh", "-c", script] })
}

fn create(env: &TestEnv, bundle: &Path, id: &str) -> Out {
    env.berth(&["create", "--bundle", bundle.to_str().unwrap(), id])
}

/// Asserts a one-line failure; from berth, a short one that names `what` (runc words its
/// errors its own way and quotes a hook's whole stderr).
#[track_caller]
fn refused_naming(out: &Out, what: &str) {
    out.fails_with_one_line();
    if !reference_runc() {
        assert!(out.stderr.len() < SHORT, "{} bytes: {:.300}", out.stderr.len(), out.stderr);
        assert!(out.stderr.contains(what), "should name {what}: {out:#?}");
    }
}

fn pid_in(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Kills `pid`, a process a hook of this test started, if it still runs.
fn kill_left(pid: i32) {
    // SAFETY: plain kill(2) of a pid this test's hook wrote down.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[test]
fn ids_that_setresuid_reads_as_unchanged_are_refused_by_create_and_check() {
    let env = TestEnv::new("boundsids");
    let probe = env.probe_dir();
    let cases = [
        ("process.user.uid", "/process/user/uid", (MINUS_ONE, 0, vec![])),
        ("process.user.gid", "/process/user/gid", (0, MINUS_ONE, vec![])),
        (
            "process.user.additionalGids[1]",
            "/process/user/additionalGids/1",
            (0, 0, vec![5, MINUS_ONE]),
        ),
        ("process.user.uid", "/process/user/uid", (2_147_483_648, 0, vec![])),
    ];
    for (path, pointer, (uid, gid, groups)) in cases {
        let cfg = Config::sh("id > /probe/ran").probe(&probe).user(uid, gid, &groups);
        let bundle = env.bundle(&cfg);
        let id = env.id("u");
        let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
        assert!(
            !probe.join("ran").exists(),
            "{path}: the program ran as {:?}",
            fs::read_to_string(probe.join("ran"))
        );
        refused_naming(&out, path);
        assert!(env.root_entries().is_empty(), "{path}: {:?}", env.root_entries());
        if !reference_runc() {
            let check = env.berth(&["check", "--bundle", bundle.to_str().unwrap()]);
            assert_eq!(check.code(), 1, "{check:#?}");
            assert!(check.stdout.contains(&format!("{pointer}: {path}")), "{check:#?}");
        }
    }
    // The largest id runc accepts still runs.
    let cfg = Config::sh("id -u > /probe/uid").probe(&probe).user(2_147_483_647, 0, &[]);
    env.berth(&["run", "--bundle", env.bundle(&cfg).to_str().unwrap(), &env.id("ok")]).ok();
    assert_eq!(fs::read_to_string(probe.join("uid")).unwrap().trim(), "2147483647");
}

#[test]
fn exec_refuses_ids_that_would_leave_the_process_root() {
    let env = TestEnv::new("boundsexec");
    let id = env.id("x");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "60"])));
    env.start(&id);
    let minus_one = MINUS_ONE.to_string();
    let zero_minus_one = format!("0:{MINUS_ONE}");
    let flag_cases: [(&[&str], &str); 3] = [
        (&["--user", &minus_one], "--user"),
        (&["--user", &zero_minus_one], "--user"),
        (&["--additional-gids", &minus_one], "--additional-gids"),
    ];
    for (flags, named) in flag_cases {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&id, "id", "-u"]);
        let out = env.berth(&args);
        assert_ne!(out.stdout.trim(), "0", "{flags:?} ran as root: {out:#?}");
        refused_naming(&out, named);
    }
    let process = json!({
        "args": ["id", "-u"], "cwd": "/", "env": ["PATH=/bin"],
        "user": { "uid": MINUS_ONE, "gid": 0 }
    });
    let file = env.dir.join("process.json");
    fs::write(&file, process.to_string()).unwrap();
    let out = env.berth(&["exec", "--process", file.to_str().unwrap(), &id]);
    assert_ne!(out.stdout.trim(), "0", "process.json ran as root: {out:#?}");
    refused_naming(&out, "process.user.uid");
    // The container is unharmed and an ordinary user still works.
    let out = env.berth(&["exec", "--user", "1000:1000", &id, "id", "-u"]);
    assert_eq!(out.ok().stdout.trim(), "1000");
}

#[test]
fn id_map_ranges_past_the_last_id_are_refused_for_mounts_too() {
    if reference_runc() {
        return; // `check` is berth's own command.
    }
    let env = TestEnv::new("boundsmaps");
    let src = env.probe_dir();
    let over = json!([{ "containerID": MINUS_ONE, "hostID": 1000, "size": 1 }]);
    let fine = json!([{ "containerID": 0, "hostID": 1000, "size": 10 }]);
    let mut cfg = Config::new(&["true"]);
    cfg.0["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/m", "type": "bind", "source": src, "options": ["rbind", "idmap"],
        "uidMappings": over, "gidMappings": fine
    }));
    let bundle = env.bundle(&cfg);
    let check = env.berth(&["check", "--bundle", bundle.to_str().unwrap()]);
    assert!(
        check.stdout.contains("/mounts/6/uidMappings/0: mounts[6].uidMappings[0]"),
        "{check:#?}"
    );
    refused_naming(&create(&env, &bundle, &env.id("m")), "mounts[6].uidMappings[0]");
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

#[test]
fn a_hook_writing_more_than_a_pipe_holds_does_not_hang_create() {
    let env = TestEnv::new("boundshookout");
    let flood = "head -c 300000 /dev/zero | tr '\\0' x >&2; echo >&2";
    // Failing: the error quotes the end of what it wrote, briefly.
    let hooks =
        json!({ "createRuntime": [hook(&format!("{flood}; echo last-words >&2; exit 1"))] });
    let bundle = env.bundle(&Config::new(&["true"]).set("/hooks", hooks));
    let out = create(&env, &bundle, &env.id("f"));
    refused_naming(&out, "createRuntime hook /bin/sh");
    assert!(out.stderr.contains("last-words"), "{out:#?}");
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
    // Succeeding: create goes on.
    let hooks = json!({ "createRuntime": [hook(&format!("{flood}; exit 0"))] });
    let bundle = env.bundle(&Config::new(&["true"]).set("/hooks", hooks));
    let id = env.id("s");
    env.create(&id, &bundle);
    env.delete(&id, true);
}

#[test]
fn a_hook_that_exited_is_not_waited_for_through_its_childs_pipe() {
    if reference_runc() {
        return; // runc reads the pipe to its end, so it waits for the hook's child.
    }
    let env = TestEnv::new("boundshookbg");
    let probe = env.probe_dir();
    let bg = probe.join("bg");
    for (code, tag) in [(1, "f"), (0, "s")] {
        let _ = fs::remove_file(&bg);
        // The background sleep keeps the hook's stderr open long after the hook exited.
        let script =
            format!("sleep 600 >&2 & echo $! > {}; echo gone >&2; exit {code}", bg.display());
        let hooks = json!({ "createRuntime": [hook(&script)] });
        let bundle = env.bundle(&Config::new(&["true"]).set("/hooks", hooks));
        let id = env.id(tag);
        let out = create(&env, &bundle, &id);
        if let Some(pid) = pid_in(&bg) {
            kill_left(pid);
        }
        if code == 0 {
            out.ok();
            env.delete(&id, true);
        } else {
            refused_naming(&out, "gone");
            assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
        }
    }
}

#[test]
fn hooks_die_with_the_runtime() {
    if reference_runc() {
        return; // runc's hooks outlive it.
    }
    let env = TestEnv::new("boundshookdeath");
    let probe = env.probe_dir();
    let file = probe.join("hook");
    let hooks = json!({ "createRuntime": [hook(&format!("echo $$ > {}; exec sleep 600", file.display()))] });
    let bundle = env.bundle(&Config::new(&["true"]).set("/hooks", hooks));
    let id = env.id("d");
    let create = env.spawn(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(wait_for(Duration::from_secs(20), || pid_in(&file).is_some()), "the hook never ran");
    let hook_pid = pid_in(&file).unwrap();
    // SAFETY: kill(2) of the runtime process this test spawned.
    unsafe { libc::kill(create.pid() as i32, libc::SIGKILL) };
    let _ = create.finish();
    let died = wait_for(Duration::from_secs(10), || {
        fs::read_to_string(format!("/proc/{hook_pid}/stat")).is_err()
    });
    if !died {
        kill_left(hook_pid);
    }
    assert!(died, "the hook outlived the runtime");
}

#[test]
fn errors_about_huge_values_stay_one_short_line() {
    let env = TestEnv::new("boundserrs");
    // 70,000 groups: more than setgroups(2) takes.
    let groups: Vec<u32> = (1..=70_000).collect();
    let bundle = env.bundle(&Config::new(&["true"]).user(0, 0, &groups));
    let out = create(&env, &bundle, &env.id("g"));
    refused_naming(&out, "process.user.additionalGids");
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
    // A 100 KB value echoed by a check: its start and end, and how much was left out.
    let long = format!("relative/{}/end", "d".repeat(100_000));
    let bundle = env.bundle(&Config::new(&["true"]).cwd(&long));
    let out = create(&env, &bundle, &env.id("c"));
    refused_naming(&out, "process.cwd");
    if !reference_runc() {
        assert!(out.stderr.contains("characters left out"), "{:.600}", out.stderr);
        let check = env.berth(&["check", "--bundle", bundle.to_str().unwrap()]);
        assert!(check.stdout.len() < SHORT, "{:.600}", check.stdout);
        assert!(check.stdout.contains("/process/cwd: process.cwd"), "{:.600}", check.stdout);
    }
}

#[test]
fn a_state_root_first_made_for_the_seccomp_cache_is_private() {
    let env = TestEnv::new("boundsroot");
    assert!(!env.root.exists());
    let profile = json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [] });
    let bundle = env.bundle(&Config::new(&["true"]).set("/linux/seccomp", profile));
    env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("r")]).ok();
    let mode = fs::metadata(&env.root).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "--root {} is {mode:o}", env.root.display());
    if let Ok(meta) = fs::metadata(env.root.join(berth::seccomp::CACHE_DIR)) {
        assert_eq!(
            meta.permissions().mode() & 0o077,
            0,
            "the seccomp cache is {:o}",
            meta.permissions().mode()
        );
    }
}

#[test]
fn a_start_container_hook_runs_under_a_profile_that_refuses_poll() {
    // startContainer hooks run under the container's filter: waiting for one must not
    // depend on calls a profile may refuse.
    let env = TestEnv::new("boundshookseccomp");
    let probe = env.probe_dir();
    let refuse = ["poll", "ppoll", "pidfd_open"];
    let profile = json!({ "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": refuse, "action": "SCMP_ACT_ERRNO" }] });
    let hooks = json!({ "startContainer": [hook("echo ran > /probe/hook")] });
    let cfg =
        Config::new(&["true"]).probe(&probe).set("/linux/seccomp", profile).set("/hooks", hooks);
    let bundle = env.bundle(&cfg);
    env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("p")]).ok();
    assert_eq!(fs::read_to_string(probe.join("hook")).unwrap(), "ran\n");
}
