//! Differences from runc that runc's bats and crun's python suites found: the order of the
//! CFS period and quota writes on cgroup v1, the owner of the console, a read-only /dev, the
//! cwd and environment of hooks, a process cwd only root may enter, and mount destinations
//! that are symlinks to a missing path.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::harness::{reference_runc, Config, Out, TestEnv};
use crate::tty::{converse, create_with_console};

/// The v1 cpu controller's directory, when the host has one.
fn cpu_v1() -> Option<PathBuf> {
    let d = PathBuf::from("/sys/fs/cgroup/cpu");
    d.join("cpu.cfs_period_us").exists().then_some(d)
}

/// A test-made cgroup parent, removed in every v1 hierarchy and under v2 when dropped, so a
/// failing assertion does not leave it behind.
struct ParentCgroup(String);

impl Drop for ParentCgroup {
    fn drop(&mut self) {
        for d in crate::harness::cgroup_dirs(&self.0) {
            let _ = fs::remove_dir(d.join("c"));
            let _ = fs::remove_dir(d);
        }
    }
}

#[test]
fn cpu_period_and_quota_update_in_either_direction_under_a_limited_parent() {
    let Some(cpu) = cpu_v1() else { return };
    // Declared before the env, so it is dropped after the env has deleted the container.
    let parent = format!("sfcpu-par-{}", std::process::id());
    let _cleanup = ParentCgroup(parent.clone());
    let env = TestEnv::new("sfcpu");
    // A parent limited to one CPU: the kernel checks each write against it, with the
    // period or quota in force at the time of that write.
    let pdir = cpu.join("berth-test").join(&parent);
    fs::create_dir_all(&pdir).unwrap();
    fs::write(pdir.join("cpu.cfs_quota_us"), "100000").unwrap();
    let cg = format!("{parent}/c");
    let cfg = Config::sh("sleep 100")
        .set("/linux/cgroupsPath", json!(format!("/berth-test/{cg}")))
        .set("/linux/resources", json!({ "cpu": { "period": 100000, "quota": 50000 } }));
    let bundle = env.bundle(&cfg);
    let id = env.id("c");
    env.create(&id, &bundle).ok();
    env.start(&id).ok();
    let read = |f: &str| fs::read_to_string(pdir.join("c").join(f)).unwrap().trim().to_string();
    assert_eq!(
        (read("cpu.cfs_period_us"), read("cpu.cfs_quota_us")),
        ("100000".into(), "50000".into())
    );
    for (period, quota) in [("10000", "5000"), ("1000000", "500000")] {
        env.berth(&["update", "--cpu-period", period, "--cpu-quota", quota, &id]).ok();
        assert_eq!(
            (read("cpu.cfs_period_us"), read("cpu.cfs_quota_us")),
            (period.into(), quota.into())
        );
    }
    env.delete(&id, true).ok();
}

#[test]
fn the_console_belongs_to_the_process_user() {
    let env = TestEnv::new("sfconsole");
    let cfg =
        Config::sh("echo own-$(stat -c %u /dev/console)-$(stat -L -c %u /proc/self/fd/0)-end")
            .set("/process/terminal", true.into())
            .user(1000, 1000, &[]);
    let (id, master) = create_with_console(&env, &cfg);
    env.start(&id).ok();
    let seen = converse(master, "", "-end");
    assert!(seen.contains("own-1000-1000-end"), "console not owned by uid 1000: {seen:?}");
    env.wait_status(&id, "stopped");
    env.delete(&id, false).ok();
}

/// Whether `point` is mounted read-only according to the container's /proc/self/mountinfo
/// lines in `out`.
fn mounted_ro(out: &str, point: &str) -> bool {
    out.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 5 && f[4] == point && f[5].split(',').any(|o| o == "ro")
    })
}

#[test]
fn a_read_only_dev_is_populated_then_made_read_only() {
    let env = TestEnv::new("sfrodev");
    let mut cfg = Config::sh(
        "ls /dev/null /dev/zero /dev/tty /dev/urandom /dev/ptmx /dev/pts/ptmx /dev/shm && \
         (touch /dev/new 2>/dev/null && echo writable || echo not-writable) && \
         cat /proc/self/mountinfo",
    );
    assert_eq!(cfg.0["mounts"][1]["destination"], "/dev");
    cfg.0["mounts"][1]["options"].as_array_mut().unwrap().push(json!("ro"));
    let bundle = env.bundle(&cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("r")]);
    out.ok();
    assert!(out.stdout.contains("not-writable"), "{}", out.stdout);
    assert!(mounted_ro(&out.stdout, "/dev"), "/dev not read-only: {}", out.stdout);
    assert!(!mounted_ro(&out.stdout, "/dev/shm"), "{}", out.stdout);
}

/// A hook script that appends `<name> cwd=<dir>` and `<name> env: <entry>` lines to `out`.
fn dump_hook(env: &TestEnv) -> (PathBuf, PathBuf) {
    let out = env.dir.join("hooks.out");
    let script = env.dir.join("dump.sh");
    let body = format!(
        "#!/bin/sh\necho \"$1 cwd=$(pwd)\" >> {o}\nenv | sed \"s/^/$1 env: /\" >> {o}\n",
        o = out.display()
    );
    fs::write(&script, body).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    fs::set_permissions(&script, mode).unwrap();
    (script, out)
}

#[test]
fn hooks_get_runcs_cwd_and_environment() {
    let env = TestEnv::new("sfhooks");
    let (script, out) = dump_hook(&env);
    let hook = |name: &str| json!([{ "path": script, "args": ["dump.sh", name] }]);
    let mut create_container = hook("cc");
    create_container
        .as_array_mut()
        .unwrap()
        .push(json!({ "path": script, "args": ["dump.sh", "cc-own"], "env": ["OWN=yes"] }));
    let cfg = Config::new(&["true"]).set(
        "/hooks",
        json!({ "prestart": hook("prestart"), "createRuntime": hook("cr"),
                "createContainer": create_container, "poststop": hook("poststop") }),
    );
    let bundle = env.bundle(&cfg);
    env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("h")]).ok();
    let text = fs::read_to_string(&out).unwrap();
    let has = |line: &str| text.lines().any(|l| l == line);
    let rootfs = fs::canonicalize(bundle.join("rootfs")).unwrap();
    // createContainer: in the rootfs, with the process's env unless the hook has its own.
    assert!(has(&format!("cc cwd={}", rootfs.display())), "{text}");
    assert!(
        has("cc env: HOME=/root") && has("cc env: PATH=/bin:/usr/bin:/sbin:/usr/sbin"),
        "{text}"
    );
    assert!(has("cc-own env: OWN=yes") && !has("cc-own env: HOME=/root"), "{text}");
    // Runtime hooks without env inherit the runtime's environment.
    let path = std::env::var("PATH").unwrap();
    for name in ["prestart", "cr", "poststop"] {
        assert!(has(&format!("{name} env: PATH={path}")), "{name}: {text}");
    }
}

/// A cwd only root may enter (`/root`, mode 0700, with the process running as uid 1000) is
/// entered while the init is still root, as runc and crun do, so the container starts there
/// instead of failing with EACCES (runc's bats: "runc create can chdir if runc has access").
#[test]
fn a_cwd_only_root_may_enter_is_entered_before_the_user_switch() {
    let env = TestEnv::new("sfcwd");
    let bundle = env.bare_bundle();
    let root_home = bundle.join("rootfs/root");
    fs::create_dir_all(&root_home).unwrap();
    fs::set_permissions(&root_home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    env.write_config(
        &bundle,
        &Config::sh("echo cwd=$(pwd) uid=$(id -u)").cwd("/root").user(1000, 1000, &[]),
    );
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("c")]);
    out.ok();
    assert!(out.stdout.contains("cwd=/root uid=1000"), "{out:#?}");
}

/// A tmpfs entry of `mounts` at `dest`.
fn tmpfs_at(dest: &str) -> serde_json::Value {
    json!({ "destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"] })
}

/// Runs the bundle to its end, foreground.
fn run_bundle(env: &TestEnv, bundle: &Path) -> Out {
    env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("c")])
}

/// Whether the container's /proc/self/mountinfo lines in `out` have a mount of type `fstype`
/// at `point`.
fn mounted_at(out: &str, point: &str, fstype: &str) -> bool {
    out.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let after_dash = l.split(" - ").nth(1).unwrap_or("");
        f.len() > 4 && f[4] == point && after_dash.split_whitespace().next() == Some(fstype)
    })
}

/// crun's `mount-symlink-not-existing`: the image has `/etc/not-existing ->
/// ../foo/bar/not/here`, a link to nothing, and a tmpfs is mounted there. As runc and crun
/// do, the link's target is made as directories inside the rootfs and the tmpfs goes on it.
#[test]
fn a_tmpfs_on_a_dangling_relative_symlink_lands_on_its_target() {
    let env = TestEnv::new("sfdangle");
    let bundle = env.bare_bundle();
    let rootfs = bundle.join("rootfs");
    symlink("../foo/bar/not/here", rootfs.join("etc/not-existing")).unwrap();
    let mut cfg = Config::sh(
        "echo in-tmpfs > /etc/not-existing/written && cat /foo/bar/not/here/written && \
         cat /proc/self/mountinfo",
    );
    cfg.0["mounts"].as_array_mut().unwrap().push(tmpfs_at("/etc/not-existing"));
    env.write_config(&bundle, &cfg);
    let out = run_bundle(&env, &bundle);
    out.ok();
    assert!(out.stdout.starts_with("in-tmpfs\n"), "{out:#?}");
    assert!(mounted_at(&out.stdout, "/foo/bar/not/here", "tmpfs"), "{}", out.stdout);
    let target = rootfs.join("foo/bar/not/here");
    assert!(target.is_dir(), "the link's target was not made in the rootfs");
    assert!(!target.join("written").exists(), "the file went to the image, not the tmpfs");
    assert!(rootfs.join("etc/not-existing").is_symlink(), "the image's link was replaced");
}

/// The same with a bind of a host file: the link's target is made as an empty file (its
/// directories first) and the file is bound over it.
#[test]
fn a_file_bind_on_a_dangling_symlink_makes_an_empty_file_at_its_target() {
    let env = TestEnv::new("sfdanglefile");
    let source = env.dir.join("app.conf");
    fs::write(&source, "from-the-host\n").unwrap();
    let bundle = env.bare_bundle();
    let rootfs = bundle.join("rootfs");
    symlink("../srv/conf/app.conf", rootfs.join("etc/app.conf")).unwrap();
    let cfg =
        Config::sh("cat /etc/app.conf /srv/conf/app.conf").bind(&source, "/etc/app.conf", true);
    env.write_config(&bundle, &cfg);
    let out = run_bundle(&env, &bundle);
    out.ok();
    assert_eq!(out.stdout, "from-the-host\nfrom-the-host\n", "{out:#?}");
    let made = fs::symlink_metadata(rootfs.join("srv/conf/app.conf")).unwrap();
    assert!(made.is_file() && made.len() == 0, "not an empty file: {made:?}");
}

/// Hostile links that would leave the rootfs if followed on the host (`../` past the
/// rootfs to the host's /tmp, and an absolute `/tmp/...`) land inside the rootfs: the
/// directory and file are made under `<rootfs>/tmp`, nothing appears in the host's /tmp.
#[test]
fn a_dangling_symlink_cannot_make_or_mount_anything_outside_the_rootfs() {
    let env = TestEnv::new("sfdangleesc");
    let source = env.dir.join("source");
    fs::write(&source, "bound\n").unwrap();
    let bundle = env.bare_bundle();
    let rootfs = bundle.join("rootfs");
    let name = format!("berth-escape-{}", env.id("x"));
    let host = Path::new("/tmp").join(&name);
    let host_abs = Path::new("/tmp").join(format!("{name}-abs"));
    let up = "../".repeat(fs::canonicalize(&rootfs).unwrap().components().count() + 2);
    symlink(format!("{up}tmp/{name}"), rootfs.join("etc/up")).unwrap();
    symlink(&host_abs, rootfs.join("etc/abs")).unwrap();
    let mut cfg = Config::sh("echo x > /etc/up/marker && cat /etc/abs && cat /proc/self/mountinfo")
        .bind(&source, "/etc/abs", true);
    cfg.0["mounts"].as_array_mut().unwrap().push(tmpfs_at("/etc/up"));
    env.write_config(&bundle, &cfg);
    let out = run_bundle(&env, &bundle);
    let escaped = (host.exists(), host_abs.exists());
    let _ = (fs::remove_dir_all(&host), fs::remove_file(&host_abs));
    assert_eq!(escaped, (false, false), "made on the host: {out:#?}");
    out.ok();
    assert!(out.stdout.starts_with("bound\n"), "{out:#?}");
    assert!(mounted_at(&out.stdout, &format!("/tmp/{name}"), "tmpfs"), "{}", out.stdout);
    assert!(rootfs.join("tmp").join(&name).is_dir());
    assert!(rootfs.join(format!("tmp/{name}-abs")).is_file());
}

/// A link loop behind a dangling link (`/etc/loop -> /d/../self`, `/self -> self`) fails
/// create with one line naming the entry and ELOOP, within the command timeout, and leaves
/// no state, cgroup or mount (the guard checks those at the end).
#[test]
fn a_symlink_loop_on_a_mount_destination_fails_cleanly() {
    let env = TestEnv::new("sfdangleloop");
    let bundle = env.bare_bundle();
    let rootfs = bundle.join("rootfs");
    symlink("/d/../self", rootfs.join("etc/loop")).unwrap();
    symlink("self", rootfs.join("self")).unwrap();
    let mut cfg = Config::sh("true");
    cfg.0["mounts"].as_array_mut().unwrap().push(tmpfs_at("/etc/loop"));
    env.write_config(&bundle, &cfg);
    let id = env.id("c");
    let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    let named = reference_runc()
        || (out.stderr.contains("mounts[6] (/etc/loop)") && out.stderr.contains("ELOOP"));
    assert!(named, "the error must name the entry and ELOOP: {out:#?}");
    assert!(env.root_entries().is_empty(), "state left: {:?}", env.root_entries());
}
