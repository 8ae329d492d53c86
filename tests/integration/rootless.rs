//! Rootless: berth run by a throw-away unprivileged user (made with useradd, removed at the
//! end) through setpriv, with `$XDG_RUNTIME_DIR` in the test's dir and no `--root`: the
//! lifecycle, facts from inside a user namespace mapping only the user's own ids, no cgroup
//! where the user may not write one, and one-line errors for what needs privilege.

use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::harness::{bin, chown_tree, reference_runc, wait_for, Config, Out, TestEnv};

/// useradd and userdel lock /etc/passwd: parallel tests take turns.
pub(crate) static USER_DB: Mutex<()> = Mutex::new(());

/// A user made for one test, deleted on drop (userdel removes its subordinate ranges too).
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl User {
    fn new(tag: &str) -> Self {
        let name = format!("berth-rl-{}-{tag}", std::process::id());
        let _db = USER_DB.lock().unwrap_or_else(|e| e.into_inner());
        let out = Command::new("useradd")
            .args(["-M", "-U", "-s", "/usr/sbin/nologin", &name])
            .output()
            .expect("running useradd");
        assert!(out.status.success(), "useradd {name}: {out:?}");
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().expect("running id");
            String::from_utf8_lossy(&out.stdout).trim().parse().expect("id prints a number")
        };
        User { uid: id("-u"), gid: id("-g"), name }
    }

    /// Gives the user `count` subordinate uids and gids from `start` (/etc/subuid, /etc/subgid).
    pub(crate) fn add_subordinate_ids(&self, start: u32, count: u32) {
        let range = format!("{start}-{}", start + count - 1);
        let _db = USER_DB.lock().unwrap_or_else(|e| e.into_inner());
        let out = Command::new("usermod")
            .args(["--add-subuids", &range, "--add-subgids", &range, &self.name])
            .output()
            .expect("running usermod");
        assert!(out.status.success(), "usermod {}: {out:?}", self.name);
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _db = USER_DB.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// A test's unprivileged runner: its user, its `$XDG_RUNTIME_DIR`, and the containers it
/// made, force-deleted (as the user) on drop, before the user goes.
pub(crate) struct Rootless<'a> {
    env: &'a TestEnv,
    pub(crate) user: User,
    pub(crate) xdg: PathBuf,
    pub(crate) ids: RefCell<Vec<String>>,
}

impl<'a> Rootless<'a> {
    pub(crate) fn new(env: &'a TestEnv, tag: &str) -> Self {
        let user = User::new(tag);
        let xdg = env.dir.join("xdg");
        fs::create_dir(&xdg).unwrap();
        fs::set_permissions(&xdg, fs::Permissions::from_mode(0o700)).unwrap();
        chown_tree(&xdg, user.uid, user.gid);
        Rootless { env, user, xdg, ids: RefCell::default() }
    }

    /// The state root berth picks without `--root`.
    pub(crate) fn state_root(&self) -> PathBuf {
        self.xdg.join("berth")
    }

    /// `berth args…` as the user, with `env` as its whole environment besides PATH.
    pub(crate) fn command(&self, args: &[&str], env: &[(&str, &Path)]) -> Command {
        self.command_through(&[], args, env)
    }

    /// `wrapper… berth args…` as the user, with `env` as its whole environment besides PATH.
    fn command_through(&self, wrapper: &[&str], args: &[&str], env: &[(&str, &Path)]) -> Command {
        // By its path: a PATH in `env` would be searched for it.
        let mut cmd = Command::new("/usr/bin/setpriv");
        cmd.arg("--reuid")
            .arg(self.user.uid.to_string())
            .arg("--regid")
            .arg(self.user.gid.to_string())
            .arg("--init-groups")
            .arg("--")
            .args(wrapper)
            .arg(bin())
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("RUST_BACKTRACE", "1")
            .current_dir(&self.env.dir);
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd
    }

    /// Runs `berth args…` as the user to its end.
    #[track_caller]
    pub(crate) fn berth(&self, args: &[&str]) -> Out {
        if matches!(args.first(), Some(&"create") | Some(&"run")) {
            self.ids.borrow_mut().extend(args.last().map(|id| id.to_string()));
        }
        let cmd = self.command(args, &[("XDG_RUNTIME_DIR", &self.xdg)]);
        let line = format!("berth {} (as {})", args.join(" "), self.user.name);
        self.env.finish_within(cmd, &line, crate::harness::COMMAND_TIMEOUT).unwrap()
    }

    /// A busybox bundle with `cfg`, owned by the user (its root in the container).
    pub(crate) fn bundle(&self, cfg: &Config) -> PathBuf {
        let bundle = self.env.bundle(cfg);
        chown_tree(&bundle, self.user.uid, self.user.gid);
        bundle
    }

    /// `cfg` made rootless as `berth spec --rootless` does: a user namespace mapping only
    /// the user's own uid and gid to 0, and no network namespace.
    pub(crate) fn config(&self, cfg: Config) -> Config {
        let mut cfg = cfg.without_namespace("network");
        let linux = &mut cfg.0["linux"];
        linux["namespaces"].as_array_mut().unwrap().push(json!({ "type": "user" }));
        linux["uidMappings"] = json!([{ "containerID": 0, "hostID": self.user.uid, "size": 1 }]);
        linux["gidMappings"] = json!([{ "containerID": 0, "hostID": self.user.gid, "size": 1 }]);
        cfg
    }

    /// The container ids in the state root.
    pub(crate) fn state_entries(&self) -> Vec<String> {
        match fs::read_dir(self.state_root()) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name != berth::seccomp::CACHE_DIR)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// `state ID`, asserted to succeed, parsed.
    #[track_caller]
    fn state(&self, id: &str) -> Value {
        let out = self.berth(&["state", id]);
        out.ok();
        serde_json::from_str(&out.stdout).unwrap()
    }
}

impl Drop for Rootless<'_> {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let st = self.command(&["state", id], &[("XDG_RUNTIME_DIR", &self.xdg)]).output();
            let state = st.ok().and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok());
            if let Some(pid) = state.and_then(|s| s["pid"].as_i64()).filter(|p| *p > 0) {
                self.env.note_pid(pid as i32);
            }
            let _ = self
                .command(&["delete", "--force", id], &[("XDG_RUNTIME_DIR", &self.xdg)])
                .output();
        }
        let left = self.state_entries();
        if !left.is_empty() && !std::thread::panicking() {
            panic!("state left under {}: {left:?}", self.state_root().display());
        }
    }
}

/// A probe dir the container (root there, the user here) writes its facts into.
fn fact(probe: &Path, name: &str) -> String {
    let path = probe.join(name);
    assert!(
        wait_for(crate::harness::COMMAND_TIMEOUT, || path.exists()),
        "no {name} from the probe"
    );
    // The probe writes to a temp name and renames, so a file that exists is whole.
    fs::read_to_string(path).unwrap().trim().to_string()
}

/// A shell line that writes `$(cmd)` to /probe/name whole.
fn report(name: &str, cmd: &str) -> String {
    format!("{{ {cmd}; }} > /probe/.{name} 2>&1; mv /probe/.{name} /probe/{name}; ")
}

#[test]
fn lifecycle_as_an_unprivileged_user() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-life");
    let rl = Rootless::new(&env, "life");
    let probe = env.probe_dir();
    let script = report("uid_map", "cat /proc/self/uid_map")
        + &report("id", "id -u")
        + &report("host", "hostname")
        + "exec sleep 100";
    let cfg = rl.config(Config::sh(&script).hostname("rootless-box").probe(&probe));
    let bundle = rl.bundle(&cfg);
    let id = env.id("c");
    rl.berth(&["create", "--bundle", bundle.to_str().unwrap(), &id]).ok();
    // No --root: the state is the user's, under $XDG_RUNTIME_DIR/berth, private to it.
    let meta = fs::metadata(rl.state_root()).expect("state root under $XDG_RUNTIME_DIR");
    // Sticky, so that an XDG_RUNTIME_DIR cleaner leaves it (as runc's).
    assert_eq!(meta.mode() & 0o7777, 0o1700);
    assert_eq!(meta.uid(), rl.user.uid);
    assert_eq!(rl.state_entries(), std::slice::from_ref(&id));
    let state = rl.state(&id);
    assert_eq!(state["status"], "created");
    let pid = state["pid"].as_i64().unwrap() as i32;
    env.note_pid(pid);
    rl.berth(&["start", &id]).ok();
    assert_eq!(
        fact(&probe, "uid_map").split_whitespace().collect::<Vec<_>>(),
        ["0", &rl.user.uid.to_string(), "1"]
    );
    assert_eq!(fact(&probe, "id"), "0");
    assert_eq!(fact(&probe, "host"), "rootless-box");
    let exec = rl.berth(&["exec", &id, "sh", "-c", "id -u; hostname"]);
    exec.ok();
    assert_eq!(exec.stdout.split_whitespace().collect::<Vec<_>>(), ["0", "rootless-box"]);
    let ps = rl.berth(&["ps", "--format", "json", &id]);
    ps.ok();
    let pids: Vec<i32> = serde_json::from_str(&ps.stdout).unwrap();
    assert_eq!(pids, [pid], "ps without a cgroup: the init alone");
    rl.berth(&["kill", "--all", &id, "KILL"]).ok();
    assert!(
        wait_for(std::time::Duration::from_secs(10), || rl.state(&id)["status"] == "stopped"),
        "the container did not stop"
    );
    rl.berth(&["delete", &id]).ok();
    assert!(rl.state_entries().is_empty(), "state left: {:?}", rl.state_entries());
}

#[test]
fn run_sees_its_own_ids_a_readonly_root_and_bound_devices() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-run");
    let rl = Rootless::new(&env, "run");
    let script = "touch /x 2>/dev/null && echo root=rw || echo root=ro; \
                  touch /tmp/x 2>/dev/null && echo tmp=rw || echo tmp=ro; \
                  ls /dev; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; \
                  grep -c . /proc/self/gid_map; exit 7";
    let cfg = rl
        .config(Config::sh(script).readonly_root(true))
        .set("/linux/maskedPaths", json!(["/proc/kcore"]));
    let cfg = cfg.set("/process/noNewPrivileges", json!(true));
    let bundle = rl.bundle(&cfg);
    let out = rl.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("r")]);
    assert_eq!(out.code(), 7, "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.contains(&"root=ro"), "{lines:?}");
    assert!(lines.contains(&"NoNewPrivs:\t1"), "{lines:?}");
    // mknod is not the user's to do: the host's nodes are bound (as runc does).
    for dev in ["null", "zero", "full", "random", "urandom", "tty", "pts", "shm"] {
        assert!(lines.contains(&dev), "/dev/{dev} missing: {lines:?}");
    }
    assert!(rl.state_entries().is_empty());
}

#[test]
fn seccomp_capabilities_and_hooks_as_the_user() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-sec");
    let rl = Rootless::new(&env, "sec");
    let probe = env.probe_dir();
    let hook_out = probe.join("hook");
    let script = "mkdir /tmp/d 2>&1 | grep -q 'not permitted' && echo mkdir=refused; \
                  grep '^CapEff:' /proc/self/status";
    let cfg = rl
        .config(Config::sh(script).probe(&probe))
        .set(
            "/linux/seccomp",
            json!({ "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" }] }),
        )
        .set(
            "/process/capabilities",
            json!({ "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                    "permitted": ["CAP_KILL"] }),
        )
        .set(
            "/hooks",
            json!({ "createRuntime": [{ "path": "/bin/sh",
                    "args": ["sh", "-c", format!("id -u > {}", hook_out.display())] }] }),
        );
    let bundle = rl.bundle(&cfg);
    let out = rl.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("s")]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.contains(&"mkdir=refused"), "{out:#?}");
    assert!(lines.contains(&"CapEff:\t0000000000000020"), "{out:#?}");
    // Hooks run in the runtime's namespaces, as the user who ran berth.
    assert_eq!(fs::read_to_string(&hook_out).unwrap().trim(), rl.user.uid.to_string());
}

#[test]
fn without_xdg_runtime_dir_or_root_one_line_error() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-xdg");
    let rl = Rootless::new(&env, "xdg");
    let cmd = rl.command(&["list"], &[]);
    let out =
        env.finish_within(cmd, "berth list (no XDG_RUNTIME_DIR)", crate::harness::COMMAND_TIMEOUT);
    let out = out.unwrap();
    out.fails_with_one_line();
    assert!(out.stderr.contains("XDG_RUNTIME_DIR") && out.stderr.contains("--root"), "{out:#?}");
    // `spec` keeps no state, so it needs neither.
    let dir = env.dir.join("spec");
    fs::create_dir(&dir).unwrap();
    chown_tree(&dir, rl.user.uid, rl.user.gid);
    let mut cmd = rl.command(&["spec", "--rootless"], &[]);
    cmd.current_dir(&dir);
    env.finish_within(cmd, "berth spec --rootless", crate::harness::COMMAND_TIMEOUT).unwrap().ok();
    let spec: Value = serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["linux"]["uidMappings"][0]["hostID"], rl.user.uid);
}

#[test]
fn limits_without_a_delegated_cgroup_warn_once_and_pause_is_refused() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-cg");
    let rl = Rootless::new(&env, "cg");
    let cfg = rl.config(Config::new(&["sleep", "100"])).set(
        "/linux/resources",
        json!({ "memory": { "limit": 268435456 }, "pids": { "limit": 100 } }),
    );
    let bundle = rl.bundle(&cfg);
    let id = env.id("c");
    let out = rl.berth(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    out.ok();
    let warnings: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(warnings.len(), 1, "one warning: {out:#?}");
    assert!(warnings[0].contains("linux.resources") && warnings[0].contains("memory"), "{out:#?}");
    env.note_pid(rl.state(&id)["pid"].as_i64().unwrap() as i32);
    let pause = rl.berth(&["pause", &id]);
    pause.fails_with_one_line();
    assert!(
        pause.stderr.contains("cgroup") && pause.stderr.contains("not delegated"),
        "{pause:#?}"
    );
    rl.berth(&["delete", "--force", &id]).ok();
}

#[test]
fn what_needs_privilege_fails_with_one_line_naming_the_field() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-priv");
    let rl = Rootless::new(&env, "priv");
    let base = rl.config(Config::new(&["true"]));
    let cases = [
        (
            base.clone().set("/process/user/additionalGids", json!([5])),
            "process.user.additionalGids",
        ),
        (base.clone().set("/process/oomScoreAdj", json!(-500)), "process.oomScoreAdj"),
        (
            base.clone()
                .set("/linux/uidMappings", json!([{ "containerID": 0, "hostID": 0, "size": 1 }])),
            "linux.uidMappings",
        ),
    ];
    for (cfg, field) in cases {
        let bundle = rl.bundle(&cfg);
        let out = rl.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("p")]);
        out.fails_with_one_line();
        assert!(out.stderr.contains(field), "{field} not named: {out:#?}");
        assert!(rl.state_entries().is_empty(), "state left: {:?}", rl.state_entries());
    }
}

#[test]
fn rootless_flag_takes_runc_words() {
    let env = TestEnv::new("rl-flag");
    for word in ["true", "false", "auto"] {
        env.berth(&["--rootless", word, "list"]).ok();
    }
    let out = env.berth(&["--rootless", "maybe", "list"]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("--rootless"), "{out:#?}");
}

/// A config mapping container ids 1..=1000 to `host`.. besides the user's own id to 0, with
/// the capabilities to chown there.
pub(crate) fn multi_id_config(rl: &Rootless, script: &str, host: u32) -> Config {
    let mut cfg = rl.config(Config::sh(script));
    for (key, own) in [("uidMappings", rl.user.uid), ("gidMappings", rl.user.gid)] {
        cfg.0["linux"][key] = json!([
            { "containerID": 0, "hostID": own, "size": 1 },
            { "containerID": 1, "hostID": host, "size": 1000 }
        ]);
    }
    let caps = json!(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"]);
    cfg.set(
        "/process/capabilities",
        json!({ "bounding": caps, "effective": caps, "permitted": caps }),
    )
}

#[test]
fn multi_id_mapping_goes_through_newuidmap_and_newgidmap() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-multi");
    let rl = Rootless::new(&env, "multi");
    // Far above the ranges useradd hands out by itself (100000 + 65536 a user).
    let start = 1_500_000_000 + (std::process::id() % 100_000) * 1000;
    rl.user.add_subordinate_ids(start, 1000);
    let script = "grep -c . /proc/self/uid_map; grep -c . /proc/self/gid_map; \
                  echo x > /tmp/owned && chown 7:8 /tmp/owned && stat -c %u:%g /tmp/owned";
    let bundle = rl.bundle(&multi_id_config(&rl, script, start));
    let out = rl.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("m")]);
    out.ok();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["2", "2", "7:8"], "{out:#?}");
    // Container ids 7 and 8 are the subordinate ids start+6 and start+7 on the host.
    let meta = fs::metadata(bundle.join("rootfs/tmp/owned")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (start + 6, start + 7));
}

#[test]
fn multi_id_mapping_without_ranges_or_helpers_fails_naming_what_is_missing() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-noid");
    let rl = Rootless::new(&env, "noid");
    // No range of the user's reaches up there.
    let bundle = rl.bundle(&multi_id_config(&rl, "true", 4_000_000_000));
    let out = rl.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("n")]);
    out.fails_with_one_line();
    for word in ["linux.uidMappings", "newuidmap", "/etc/subuid"] {
        assert!(out.stderr.contains(word), "{word} not named: {out:#?}");
    }
    assert!(rl.state_entries().is_empty(), "state left: {:?}", rl.state_entries());
    // Without the helpers on PATH, the error says which package gives them.
    let empty = env.dir.join("empty-path");
    fs::create_dir(&empty).unwrap();
    let id = env.id("h");
    rl.ids.borrow_mut().push(id.clone());
    let args = ["run", "--bundle", bundle.to_str().unwrap(), &id];
    let cmd = rl.command(&args, &[("XDG_RUNTIME_DIR", &rl.xdg), ("PATH", &empty)]);
    let out =
        env.finish_within(cmd, "berth run (no newuidmap on PATH)", crate::harness::COMMAND_TIMEOUT);
    let out = out.unwrap();
    out.fails_with_one_line();
    assert!(
        out.stderr.contains("newuidmap not found") && out.stderr.contains("uidmap package"),
        "{out:#?}"
    );
    assert!(rl.state_entries().is_empty(), "state left: {:?}", rl.state_entries());
}

#[test]
fn a_terminal_through_the_console_socket() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-tty");
    let rl = Rootless::new(&env, "tty");
    let socket = env.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    // connect(2) needs write permission on the socket file.
    fs::set_permissions(&socket, fs::Permissions::from_mode(0o777)).unwrap();
    let cfg = rl.config(Config::sh("readlink /proc/self/fd/0; id -u; read line; echo got-$line"));
    let bundle = rl.bundle(&cfg.set("/process/terminal", true.into()));
    let id = env.id("t");
    let receiver = std::thread::spawn(move || crate::tty::receive_master(&listener));
    let socket = socket.to_str().unwrap();
    rl.berth(&["create", "--bundle", bundle.to_str().unwrap(), "--console-socket", socket, &id])
        .ok();
    let master = receiver.join().unwrap();
    env.note_pid(rl.state(&id)["pid"].as_i64().unwrap() as i32);
    rl.berth(&["start", &id]).ok();
    let seen = crate::tty::converse(master, "hello\n", "got-hello");
    assert!(seen.contains("/dev/pts/"), "stdin is not the pty: {seen:?}");
    assert!(seen.contains("got-hello"), "{seen:?}");
    assert!(
        wait_for(std::time::Duration::from_secs(10), || rl.state(&id)["status"] == "stopped"),
        "the shell did not end"
    );
    rl.berth(&["delete", &id]).ok();
}

#[test]
fn root_of_a_user_namespace_counts_as_rootless() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-nsroot");
    let rl = Rootless::new(&env, "nsroot");
    // Maps relative to the namespace berth runs in, where the user is root (0 -> uid).
    let mut cfg = rl.config(Config::new(&["cat", "/proc/self/uid_map"]));
    cfg.0["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 0, "size": 1 }]);
    cfg.0["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 0, "size": 1 }]);
    let bundle = rl.bundle(&cfg);
    let id = env.id("n");
    rl.ids.borrow_mut().push(id.clone());
    let wrapper = ["unshare", "--user", "--map-root-user", "--"];
    let args = ["run", "--bundle", bundle.to_str().unwrap(), &id];
    let cmd = rl.command_through(&wrapper, &args, &[("XDG_RUNTIME_DIR", &rl.xdg)]);
    let out = env.finish_within(cmd, "unshare -Ur berth run", crate::harness::COMMAND_TIMEOUT);
    let out = out.unwrap();
    // euid 0 with a partial uid_map: the user's state dir (no USER=root), no cgroup.
    out.ok();
    assert_eq!(out.stdout.split_whitespace().collect::<Vec<_>>(), ["0", "0", "1"], "{out:#?}");
    assert!(rl.state_root().is_dir(), "state not under $XDG_RUNTIME_DIR: {out:#?}");
    assert!(rl.state_entries().is_empty());
}

/// Makes `<hierarchy>/berth-test/<cg>/c` in every hierarchy (the v1 ones and a hybrid
/// host's cgroup2 one) and hands `<cg>` and `c` with their files to the user, as a delegation
/// does; returns the directories made, parents first.
fn delegate_cgroup(rl: &Rootless, cg: &str) -> Vec<PathBuf> {
    let mut made = Vec::new();
    for base in crate::harness::cgroup_dirs(cg) {
        let Some(parent) = base.parent() else { continue };
        let hierarchy = parent.parent().unwrap();
        if !hierarchy.join("cgroup.procs").exists() {
            continue;
        }
        if fs::create_dir(parent).is_ok() {
            made.push(parent.to_path_buf());
        }
        for dir in [base.clone(), base.join("c")] {
            fs::create_dir(&dir).unwrap();
            made.push(dir.clone());
            // A v1 cpuset takes no task before it has cpus and mems (the hierarchy's own).
            for name in ["cpuset.cpus", "cpuset.mems"] {
                let Ok(value) = fs::read_to_string(hierarchy.join(name)) else { continue };
                for d in [parent, base.as_path(), dir.as_path()] {
                    if fs::read_to_string(d.join(name)).is_ok_and(|v| v.trim().is_empty()) {
                        fs::write(d.join(name), value.trim()).unwrap();
                    }
                }
            }
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let _ = std::os::unix::fs::chown(path, Some(rl.user.uid), Some(rl.user.gid));
            }
            std::os::unix::fs::chown(&dir, Some(rl.user.uid), Some(rl.user.gid)).unwrap();
        }
    }
    made
}

#[test]
fn a_delegated_cgroup_is_used_with_its_limits() {
    if reference_runc() || berth::cgroups::is_unified() {
        // The v2 delegation (systemd's user slice) is for the systemd guest.
        return;
    }
    let env = TestEnv::new("rl-deleg");
    let rl = Rootless::new(&env, "deleg");
    let cg = format!("rl-deleg-{}", std::process::id());
    let made = delegate_cgroup(&rl, &cg);
    let cfg = rl
        .config(Config::new(&["sleep", "100"]))
        .set("/linux/cgroupsPath", json!(format!("/berth-test/{cg}/c")))
        .set(
            "/linux/resources",
            json!({ "memory": { "limit": 268435456 },
                    "devices": [{ "allow": false, "access": "rwm" }] }),
        );
    let bundle = rl.bundle(&cfg);
    let id = env.id("d");
    rl.ids.borrow_mut().push(id.clone());
    // As under systemd's delegation, berth itself starts inside the delegated cgroup2 subtree
    // (moving a process needs the common ancestor's cgroup.procs): root puts it there first.
    let procs = Path::new("/sys/fs/cgroup/unified/berth-test").join(&cg).join("cgroup.procs");
    let setpriv = rl.command(&["create", "--bundle", bundle.to_str().unwrap(), &id], &[]);
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "[ ! -e \"$1\" ] || echo $$ > \"$1\" || exit 99; shift; exec \"$@\"", "sh"])
        .arg(&procs)
        .arg(setpriv.get_program())
        .args(setpriv.get_args())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("XDG_RUNTIME_DIR", &rl.xdg)
        .current_dir(&env.dir);
    let out = env.finish_within(cmd, "berth create (delegated)", crate::harness::COMMAND_TIMEOUT);
    let out = out.unwrap();
    let pid = if out.status.success() { rl.state(&id)["pid"].as_i64() } else { None };
    env.note_pid(pid.unwrap_or(0) as i32);
    let memory = Path::new("/sys/fs/cgroup/memory/berth-test").join(&cg).join("c");
    let limit = fs::read_to_string(memory.join("memory.limit_in_bytes")).unwrap_or_default();
    let tasks = fs::read_to_string(memory.join("tasks")).unwrap_or_default();
    let _ = rl.berth(&["delete", "--force", &id]);
    for dir in made.iter().rev() {
        assert!(
            wait_for(std::time::Duration::from_secs(5), || fs::remove_dir(dir).is_ok()
                || !dir.exists()),
            "cannot remove {}",
            dir.display()
        );
    }
    out.ok();
    assert!(out.stderr.is_empty(), "no warning with a cgroup to use: {out:#?}");
    assert_eq!(limit.trim(), "268435456");
    assert_eq!(tasks.trim(), pid.unwrap().to_string());
}

/// Kills rootless podman's pause process (it holds podman's user and mount namespaces) when
/// the test ends, by the pid podman recorded, so the user can be removed.
struct PodmanPause(PathBuf);

impl Drop for PodmanPause {
    fn drop(&mut self) {
        let pid = fs::read_to_string(&self.0).ok().and_then(|p| p.trim().parse::<i32>().ok());
        if let Some(pid) = pid.filter(|p| *p > 1) {
            if let Some((start, _)) = crate::harness::proc_stat(pid) {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                wait_for(std::time::Duration::from_secs(5), || {
                    !crate::harness::pid_alive(pid, start)
                });
            }
        }
    }
}

#[test]
fn podman_as_the_user_runs_execs_and_stops_with_berth() {
    if reference_runc() || Command::new("podman").arg("--version").output().is_err() {
        return;
    }
    let env = TestEnv::new("rl-podman");
    let rl = Rootless::new(&env, "podman");
    let home = env.dir.join("home");
    let rootfs = env.dir.join("image-rootfs");
    crate::harness::build_rootfs(&rootfs);
    let tarball = env.dir.join("busybox.tar");
    let tar = Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tarball).arg(".").status();
    assert!(tar.unwrap().success());
    fs::create_dir(&home).unwrap();
    chown_tree(&home, rl.user.uid, rl.user.gid);
    let _pause = PodmanPause(rl.xdg.join("libpod/tmp/pause.pid"));
    let storage = home.join("storage");
    let runroot = rl.xdg.join("podman");
    let global = [
        "--root",
        storage.to_str().unwrap(),
        "--runroot",
        runroot.to_str().unwrap(),
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
        "--storage-driver",
        "vfs",
        "--runtime",
    ];
    let podman = |args: &[&str]| -> Out {
        let mut cmd = Command::new("/usr/bin/setpriv");
        cmd.args(["--reuid", &rl.user.uid.to_string(), "--regid", &rl.user.gid.to_string()])
            .args(["--init-groups", "--", "podman"])
            .args(global)
            .arg(bin())
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &home)
            .env("USER", &rl.user.name)
            .env("XDG_RUNTIME_DIR", &rl.xdg)
            .current_dir(&home);
        let line = format!("podman {}", args.join(" "));
        env.finish_within(cmd, &line, std::time::Duration::from_secs(120)).unwrap()
    };
    podman(&["import", tarball.to_str().unwrap(), "localhost/berth-rl"]).ok();
    // No user namespace in podman's config: berth runs in podman's and binds the devices.
    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/berth-rl",
        "sh",
        "-c",
        "id -u; ls /dev/null && exit 3",
    ]);
    assert_eq!(out.code(), 3, "{out:#?}");
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["0", "/dev/null"], "{out:#?}");
    podman(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "none",
        "localhost/berth-rl",
        "sleep",
        "100",
    ])
    .ok();
    let exec = podman(&["exec", "c1", "sh", "-c", "echo in-exec"]);
    exec.ok();
    assert_eq!(exec.stdout.trim(), "in-exec");
    podman(&["stop", "-t", "1", "c1"]).ok();
    podman(&["rm", "c1"]).ok();
    assert!(rl.state_entries().is_empty(), "berth state left: {:?}", rl.state_entries());
}
