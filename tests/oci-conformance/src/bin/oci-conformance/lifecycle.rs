//! Host-side checks of runtime.md: the state at each step of the lifecycle, errors for
//! operations in the wrong state, hooks (order, the state they get, args and env, failures)
//! and what `kill` and `delete` do.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_oci_conformance::tap::Check;
use serde_json::{json, Value};

use crate::bundle::{cgroups_left, Workspace};
use crate::configs::standard_mounts;
use crate::runtime::Runtime;

/// The hook kinds in the order runtime.md runs them over one lifecycle.
const HOOK_ORDER: &[&str] =
    &["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

/// Collects checks, all named with a `lifecycle: ` prefix.
struct Checks(Vec<Check>);

impl Checks {
    fn holds(&mut self, name: &str, ok: bool, detail: impl std::fmt::Display) {
        self.0.push(Check::holds(format!("lifecycle: {name}"), ok, detail));
    }

    fn compare(&mut self, name: &str, got: impl std::fmt::Debug, want: impl std::fmt::Debug) {
        self.0.push(Check::compare(format!("lifecycle: {name}"), got, want));
    }
}

/// Every lifecycle check against `rt`.
pub fn checks(rt: &Runtime, ws: &Workspace) -> Vec<Check> {
    let mut c = Checks(Vec::new());
    full_lifecycle(rt, ws, &mut c);
    created_container(rt, ws, &mut c);
    forced_delete(rt, ws, &mut c);
    invalid_config(rt, ws, &mut c);
    quiet_hooks(rt, ws, &mut c);
    failing_hooks(rt, ws, &mut c);
    signals(rt, ws, &mut c);
    let out = rt.run(&["list", "--quiet"]);
    c.compare("list shows no container after the suite", out.stdout.trim(), "");
    c.0
}

/// `kill ID SIGNAL` delivers the signal given by name or number to the container's process.
fn signals(rt: &Runtime, ws: &Workspace, c: &mut Checks) {
    let dir = ws.scratch("signals");
    for signal in ["USR1", "SIGUSR1", "10"] {
        let id = ws.id("signal");
        let script = "trap 'touch /hooklog/got-usr1; exit 0' USR1; touch /hooklog/ready; \
                      while true; do sleep 0.1; done";
        let bundle = ws.bundle(&id, config(&dir, script, json!({})), None);
        let _ = fs::remove_file(dir.join("got-usr1"));
        let _ = fs::remove_file(dir.join("ready"));
        let b = bundle.display().to_string();
        if !rt.run(&["create", "--bundle", &b, &id]).ok() || !rt.run(&["start", &id]).ok() {
            c.holds("create and start succeed (for kill)", false, "they did not");
            rt.force_delete(&id);
            continue;
        }
        wait_for_file(&dir.join("ready"));
        let out = rt.run(&["kill", &id, signal]);
        c.holds(&format!("kill {signal} succeeds"), out.ok(), out.why());
        let got = wait_for_file(&dir.join("got-usr1"));
        c.holds(&format!("kill {signal} delivers SIGUSR1"), got, "the trap did not run");
        c.compare(
            &format!("state after kill {signal} ends the process: status"),
            rt.wait_status(&id, "stopped"),
            Some("stopped"),
        );
        rt.force_delete(&id);
    }
}

/// `delete --force` of a running container: the process, the state and the cgroup go.
fn forced_delete(rt: &Runtime, ws: &Workspace, c: &mut Checks) {
    let dir = ws.scratch("forced");
    let id = ws.id("forced");
    let hooks = json!({ "poststop": [recorder(&dir.display().to_string(), "poststop")] });
    let bundle = ws.bundle(&id, config(&dir, "exec sleep 60", hooks), None);
    let b = bundle.display().to_string();
    if !rt.run(&["create", "--bundle", &b, &id]).ok() || !rt.run(&["start", &id]).ok() {
        c.holds("create and start succeed (for delete --force)", false, "they did not");
        rt.force_delete(&id);
        return;
    }
    let pid = rt.state(&id).and_then(|s| s["pid"].as_i64()).unwrap_or(0);
    let out = rt.run(&["delete", "--force", &id]);
    c.holds("delete --force of a running container succeeds", out.ok(), out.why());
    let gone = rt.state(&id).is_none() && cgroups_left(&id).is_empty() && wait_gone(pid);
    c.holds(
        "delete --force removes the process, the state and the cgroup",
        gone,
        format!("pid {pid}"),
    );
    c.compare("delete --force runs the poststop hooks", read_order(&dir), ["poststop"]);
    rt.force_delete(&id);
}

/// Configs the runtime cannot apply (config.md: an rlimit type that cannot be mapped to the
/// kernel, a cwd that is not absolute, no args): create fails and leaves nothing behind. Not an
/// unknown capability: the spec lets a runtime warn and go on (runc and crun do).
fn invalid_config(rt: &Runtime, ws: &Workspace, c: &mut Checks) {
    let dir = ws.scratch("invalid");
    let cases = [
        (
            "an unknown namespace type",
            "/linux/namespaces",
            json!([{ "type": "pid" }, { "type": "mount" }, { "type": "bogus" }]),
        ),
        (
            "an unknown rlimit",
            "/process/rlimits",
            json!([{ "type": "RLIMIT_BOGUS", "soft": 1, "hard": 1 }]),
        ),
        ("a relative cwd", "/process/cwd", json!("tmp")),
        ("an empty process.args", "/process/args", json!([])),
    ];
    for (what, pointer, value) in cases {
        let id = ws.id("invalid");
        let mut cfg = config(&dir, "exec sleep 60", json!({}));
        if let Some(v) = cfg.pointer_mut(pointer) {
            *v = value;
        } else if let Some((parent, key)) = pointer.rsplit_once('/') {
            cfg.pointer_mut(parent).expect("parent of the invalid field")[key] = value;
        }
        let bundle = ws.bundle(&id, cfg, None);
        let out = rt.run(&["create", "--bundle", &bundle.display().to_string(), &id]);
        c.holds(&format!("create with {what} fails"), out.failed_cleanly(), out.why());
        let left = rt.state(&id).is_some() || !cgroups_left(&id).is_empty();
        c.holds(&format!("create with {what} leaves no state and no cgroup"), !left, "left");
        rt.force_delete(&id);
    }
}

/// Hooks that exit without reading the state on their stdin do not fail the operation.
fn quiet_hooks(rt: &Runtime, ws: &Workspace, c: &mut Checks) {
    let dir = ws.scratch("quiet");
    let id = ws.id("quiet-hook");
    let quiet = json!({ "path": "/bin/sh", "args": ["sh", "-c", "exit 0"] });
    let hooks = json!({ "createRuntime": [quiet.clone()], "poststart": [quiet] });
    let bundle = ws.bundle(&id, config(&dir, "exec sleep 60", hooks), None);
    let out = rt.run(&["create", "--bundle", &bundle.display().to_string(), &id]);
    c.holds("create succeeds when a hook does not read its stdin", out.ok(), out.why());
    let out = rt.run(&["start", &id]);
    c.holds("start succeeds when a hook does not read its stdin", out.ok(), out.why());
    rt.force_delete(&id);
}

/// A host-side hook that saves its stdin as `<dir>/<name>.json` and appends its name to
/// `<dir>/order`; `dir` is the path the hook sees (the container's for startContainer).
fn recorder(dir: &str, name: &str) -> Value {
    let script = format!("/bin/cat > {dir}/{name}.json; echo {name} >> {dir}/order");
    json!({ "path": "/bin/sh", "args": ["sh", "-c", script] })
}

/// A container running `script`, with `dir` bound at /hooklog and `hooks`.
fn config(dir: &Path, script: &str, hooks: Value) -> Value {
    let mut mounts = standard_mounts();
    mounts.push(json!({ "destination": "/hooklog", "type": "bind", "source": dir,
                        "options": ["rbind", "rw"] }));
    json!({
        "ociVersion": "1.0.2",
        "root": { "path": "rootfs", "readonly": false },
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh", "-c", script],
            "env": ["PATH=/bin"],
            "cwd": "/"
        },
        "hostname": "oci-lifecycle",
        "mounts": mounts,
        "annotations": { "org.example.conformance": "lifecycle" },
        "hooks": hooks,
        "linux": {
            "namespaces": [{ "type": "pid" }, { "type": "mount" }, { "type": "ipc" },
                           { "type": "uts" }, { "type": "network" }]
        }
    })
}

fn read_order(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("order")).unwrap_or_default().lines().map(str::to_string).collect()
}

fn hook_state(dir: &Path, name: &str) -> Value {
    fs::read_to_string(dir.join(format!("{name}.json")))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null)
}

fn wait_for_file(path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// create → start → kill → delete of one container with every hook, checking the state and
/// the errors of wrong-state operations at each step.
fn full_lifecycle(rt: &Runtime, ws: &Workspace, c: &mut Checks) {
    let dir = ws.scratch("hooks");
    let d = dir.display().to_string();
    let mut args_hook = json!({ "path": "/bin/sh",
        "args": ["sh", "-c", format!("echo \"$1 $2 $OCI_HOOK\" > {d}/args"), "sh", "one", "two"],
        "env": ["OCI_HOOK=three"] });
    args_hook["timeout"] = json!(10);
    let hooks = json!({
        "prestart": [recorder(&d, "prestart")],
        "createRuntime": [recorder(&d, "createRuntime"), args_hook],
        "createContainer": [recorder(&d, "createContainer")],
        "startContainer": [recorder("/hooklog", "startContainer")],
        "poststart": [recorder(&d, "poststart")],
        "poststop": [recorder(&d, "poststop")],
    });
    let id = ws.id("life");
    let bundle = ws.bundle(&id, config(&dir, "touch /hooklog/ran; exec sleep 60", hooks), None);
    let b = bundle.display().to_string();

    let out = rt.run(&["state", &id]);
    c.holds("state of an unknown id fails", out.failed_cleanly(), out.why());
    let out = rt.run(&["create", "--bundle", &b, &id]);
    c.holds("create succeeds", out.ok(), out.why());
    if !out.ok() {
        rt.force_delete(&id);
        return;
    }
    let st = rt.state(&id).unwrap_or(Value::Null);
    let pid = st["pid"].as_i64().unwrap_or(0);
    c.compare("state after create: status", st["status"].as_str(), Some("created"));
    c.compare("state after create: id", st["id"].as_str(), Some(id.as_str()));
    c.holds(
        "state after create: pid of a live process",
        pid > 0 && Path::new(&format!("/proc/{pid}")).exists(),
        format!("pid {pid}"),
    );
    c.compare("state after create: bundle", st["bundle"].as_str(), Some(b.as_str()));
    c.holds(
        "state after create: ociVersion",
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        &st,
    );
    c.compare(
        "state after create: annotations",
        &st["annotations"],
        json!({ "org.example.conformance": "lifecycle" }),
    );
    c.holds(
        "created: the user program has not run",
        !dir.join("ran").exists(),
        "it ran before start",
    );
    c.compare("hooks run by create, in order", read_order(&dir), &HOOK_ORDER[..3]);
    for name in &HOOK_ORDER[..3] {
        let hs = hook_state(&dir, name);
        c.compare(
            &format!("{name} hook gets the state: id, pid, bundle"),
            (hs["id"].as_str(), hs["pid"].as_i64(), hs["bundle"].as_str()),
            (Some(id.as_str()), Some(pid), Some(b.as_str())),
        );
        c.compare(
            &format!("{name} hook gets the state: status creating"),
            hs["status"].as_str(),
            Some("creating"),
        );
    }
    c.compare(
        "hooks get their args and env",
        fs::read_to_string(dir.join("args")).ok(),
        Some("one two three\n".to_string()),
    );

    let out = rt.run(&["create", "--bundle", &b, &id]);
    c.holds("create of an existing id fails", out.failed_cleanly(), out.why());
    c.compare(
        "create of an existing id leaves the container as it was",
        (rt.status(&id), rt.state(&id).map(|s| s["pid"].clone())),
        (Some("created".to_string()), Some(json!(pid))),
    );

    let out = rt.run(&["start", &id]);
    c.holds("start succeeds", out.ok(), out.why());
    c.compare("state after start: status", rt.wait_status(&id, "running"), Some("running"));
    c.holds("started: the user program runs", wait_for_file(&dir.join("ran")), "it did not run");
    c.compare(
        "hooks run by start, in order",
        read_order(&dir).get(3..).map(|s| s.to_vec()),
        Some(&HOOK_ORDER[3..5]),
    );
    let hs = hook_state(&dir, "startContainer");
    c.compare(
        "startContainer hook gets the state: id, pid",
        (hs["id"].as_str(), hs["pid"].as_i64()),
        (Some(id.as_str()), Some(pid)),
    );
    let hs = hook_state(&dir, "poststart");
    c.compare(
        "poststart hook gets the state: id, pid, status running",
        (hs["id"].as_str(), hs["pid"].as_i64(), hs["status"].as_str()),
        (Some(id.as_str()), Some(pid), Some("running")),
    );

    let out = rt.run(&["start", &id]);
    c.holds("start of a running container fails", out.failed_cleanly(), out.why());
    let out = rt.run(&["delete", &id]);
    c.holds("delete of a running container without --force fails", out.failed_cleanly(), out.why());
    c.compare(
        "delete of a running container without --force leaves it running",
        rt.status(&id),
        Some("running"),
    );

    let out = rt.run(&["kill", &id, "KILL"]);
    c.holds("kill of a running container succeeds", out.ok(), out.why());
    c.compare(
        "state after the process is killed: status",
        rt.wait_status(&id, "stopped"),
        Some("stopped"),
    );
    let out = rt.run(&["start", &id]);
    c.holds("start of a stopped container fails", out.failed_cleanly(), out.why());
    let out = rt.run(&["kill", &id, "KILL"]);
    c.holds("kill of a stopped container fails", out.failed_cleanly(), out.why());
    c.compare("kill of a stopped container leaves it stopped", rt.status(&id), Some("stopped"));

    let out = rt.run(&["delete", &id]);
    c.holds("delete of a stopped container succeeds", out.ok(), out.why());
    c.compare("hooks over the whole lifecycle, in order", read_order(&dir), HOOK_ORDER);
    let hs = hook_state(&dir, "poststop");
    c.compare(
        "poststop hook gets the state: id, status stopped",
        (hs["id"].as_str(), hs["status"].as_str()),
        (Some(id.as_str()), Some("stopped")),
    );
    let out = rt.run(&["state", &id]);
    c.holds("state of a deleted container fails", out.failed_cleanly(), out.why());
    c.compare("delete removes the cgroup", cgroups_left(&id), Vec::<PathBuf>::new());
    let out = rt.run(&["delete", &id]);
    c.holds("delete of a deleted container fails", out.failed_cleanly(), out.why());
    for op in ["start", "kill", "delete"] {
        let out = rt.run(&[op, &id]);
        c.holds(&format!("{op} of an unknown id fails"), out.failed_cleanly(), out.why());
    }
    rt.force_delete(&id);
}

/// What happens to a container that was created and never started.
fn created_container(rt: &Runtime, ws: &Workspace, c: &mut Checks) {
    let dir = ws.scratch("created");
    let id = ws.id("created");
    let bundle = ws.bundle(&id, config(&dir, "exec sleep 60", json!({})), None);
    let out = rt.run(&["create", "--bundle", &bundle.display().to_string(), &id]);
    if !out.ok() {
        c.holds("create succeeds (container left created)", false, out.why());
        return;
    }
    let out = rt.run(&["kill", &id, "KILL"]);
    c.holds("kill of a created container succeeds", out.ok(), out.why());
    c.compare(
        "state after a created container is killed: status",
        rt.wait_status(&id, "stopped"),
        Some("stopped"),
    );
    let out = rt.run(&["delete", &id]);
    c.holds("delete of a killed created container succeeds", out.ok(), out.why());
    rt.force_delete(&id);

    // runtime.md: deleting a container that is not stopped MUST fail and have no effect; runc
    // (and containerd, which relies on it) removes a created container instead. Either is
    // accepted here, but not a half-done delete.
    let id = ws.id("created");
    let bundle = ws.bundle(&id, config(&dir, "exec sleep 60", json!({})), None);
    let b = bundle.display().to_string();
    if !rt.run(&["create", "--bundle", &b, &id]).ok() {
        return;
    }
    let pid = rt.state(&id).and_then(|s| s["pid"].as_i64()).unwrap_or(0);
    let out = rt.run(&["delete", &id]);
    let (ok, detail) = if out.ok() {
        let gone = rt.state(&id).is_none() && cgroups_left(&id).is_empty() && wait_gone(pid);
        (gone, format!("delete succeeded but left state, cgroup or process {pid}"))
    } else {
        let same = rt.status(&id).as_deref() == Some("created");
        (
            out.failed_cleanly() && same,
            format!("delete failed ({}) and the container is not created any more", out.why()),
        )
    };
    c.holds(
        "delete of a created container without --force: fails and leaves it, or removes it all",
        ok,
        detail,
    );
    rt.force_delete(&id);
}

/// Waits (at most 5 s) until the container process `pid` is gone or a zombie; false for a pid
/// the runtime never reported.
fn wait_gone(pid: i64) -> bool {
    if pid <= 0 {
        return false;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next());
        if matches!(state, None | Some(Some('Z')) | Some(None)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Hooks that fail or time out: create fails and leaves nothing; a poststart failure fails
/// start and stops the container (runtime.md, lifecycle step 9); a poststop failure is a
/// warning only.
fn failing_hooks(rt: &Runtime, ws: &Workspace, c: &mut Checks) {
    let dir = ws.scratch("failing");
    let fail = json!({ "path": "/bin/sh", "args": ["sh", "-c", "exit 3"] });
    let slow = json!({ "path": "/bin/sh", "args": ["sh", "-c", "sleep 10"], "timeout": 1 });
    for (what, hooks) in [
        ("a prestart hook fails", json!({ "prestart": [fail] })),
        ("a createRuntime hook fails", json!({ "createRuntime": [fail] })),
        ("a createContainer hook fails", json!({ "createContainer": [fail] })),
        ("a hook exceeds its timeout", json!({ "createRuntime": [slow] })),
    ] {
        let id = ws.id("hookfail");
        let bundle = ws.bundle(&id, config(&dir, "exec sleep 60", hooks), None);
        let out = rt.run(&["create", "--bundle", &bundle.display().to_string(), &id]);
        c.holds(&format!("create fails when {what}"), out.failed_cleanly(), out.why());
        let left = rt.state(&id).is_some() || !cgroups_left(&id).is_empty();
        c.holds(
            &format!("create leaves no state and no cgroup when {what}"),
            !left,
            "state or cgroup left",
        );
        rt.force_delete(&id);
    }

    let id = ws.id("poststart");
    let hooks = json!({ "poststart": [fail], "poststop": [fail] });
    let bundle = ws.bundle(&id, config(&dir, "exec sleep 60", hooks), None);
    let out = rt.run(&["create", "--bundle", &bundle.display().to_string(), &id]);
    if !out.ok() {
        c.holds("create succeeds (failing poststart and poststop hooks)", false, out.why());
        rt.force_delete(&id);
        return;
    }
    let out = rt.run(&["start", &id]);
    c.holds("start fails when a poststart hook fails", out.failed_cleanly(), out.why());
    let status = rt.wait_status(&id, "stopped");
    c.holds(
        "a failing poststart hook stops the container",
        status.as_deref() == Some("stopped"),
        format!("status {status:?}"),
    );
    let _ = rt.run(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    let out = rt.run(&["delete", &id]);
    c.holds("delete succeeds when a poststop hook fails (a warning)", out.ok(), out.why());
    c.holds(
        "delete removes the state when a poststop hook fails",
        rt.state(&id).is_none(),
        "state still there",
    );
    rt.force_delete(&id);
}
