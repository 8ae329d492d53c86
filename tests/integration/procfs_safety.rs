//! Host safety around /proc and /sys (the class of CVE-2025-52881 and CVE-2025-52565): a
//! write the runtime makes under /proc must reach procfs and nothing mounted over it, a mount
//! must not cover a procfs file through a symlink in the image, and a container sharing the
//! host's network namespace must not get the host's /sys (and its cgroup trees) writable.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::harness::{chown_tree, reference_runc, Config, Out, TestEnv};

/// A directory of the test's own with an `ip_forward` file reading "0": the "host file" a
/// runtime with the bug writes its sysctl into.
fn decoy_dir(env: &TestEnv) -> PathBuf {
    let dir = env.dir.join("decoy");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("ip_forward"), "0\n").unwrap();
    dir
}

/// The config printing the container's net.ipv4.ip_forward, with that sysctl set to 1 (the
/// container has its own network namespace, so this changes nothing on the host).
fn ip_forward_config() -> Config {
    Config::sh("cat /proc/sys/net/ipv4/ip_forward")
        .set("/linux/sysctl", json!({ "net.ipv4.ip_forward": "1" }))
}

fn run(env: &TestEnv, bundle: &Path) -> Out {
    env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("c")])
}

/// Either the sysctl reached the container's own procfs, or create refused with one line
/// naming `naming`; in both cases the decoy file is untouched.
#[track_caller]
fn sysctl_stayed_out_of(out: &Out, decoy: &Path, naming: &str) {
    let host_file = fs::read_to_string(decoy.join("ip_forward")).unwrap();
    assert_eq!(host_file, "0\n", "the sysctl was written into the host file: {out:#?}");
    if out.code() == 0 {
        assert_eq!(out.stdout.trim(), "1", "the sysctl was not applied: {out:#?}");
    } else {
        out.fails_with_one_line();
        // runc's message names the rootfs path, not the config entry.
        let named = reference_runc() || out.stderr.contains(naming);
        assert!(named, "the error must name {naming}: {out:#?}");
    }
}

/// The brief's attack: the image has `/data -> /proc/sys/net/ipv4` and the config binds a
/// host directory at `/data`. On a runtime with the bug the bind covers the container's
/// /proc/sys/net/ipv4 and the sysctl lands in the host directory's `ip_forward`.
#[test]
fn sysctl_is_not_written_through_a_bind_over_proc_sys() {
    let env = TestEnv::new("sysctlbind");
    let decoy = decoy_dir(&env);
    let mut cfg = ip_forward_config();
    cfg.0["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": decoy, "options": ["rbind", "rw"]
    }));
    let bundle = env.bare_bundle();
    symlink("/proc/sys/net/ipv4", bundle.join("rootfs/data")).unwrap();
    env.write_config(&bundle, &cfg);
    let out = run(&env, &bundle);
    sysctl_stayed_out_of(&out, &decoy, "mounts[6] (/data)");
}

/// The same cover made by a createContainer hook (after the mounts, before pivot_root), which
/// no mount check can see: only a sysctl write through a procfs handle that refuses to cross
/// a mount keeps the value out of the host file. (runc 1.1.5 writes the host file; runc
/// fixed this in 1.2.8.)
#[test]
fn sysctl_is_not_written_into_a_file_covering_proc_sys() {
    let env = TestEnv::new("sysctlhook");
    let decoy = decoy_dir(&env);
    let bundle = env.bare_bundle();
    let target = bundle.join("rootfs/proc/sys/net/ipv4");
    let hook = json!({
        "path": "/bin/mount",
        "args": ["mount", "--bind", decoy, target],
    });
    let cfg = ip_forward_config().set("/hooks", json!({ "createContainer": [hook] }));
    env.write_config(&bundle, &cfg);
    let out = run(&env, &bundle);
    sysctl_stayed_out_of(&out, &decoy, "linux.sysctl.net.ipv4.ip_forward");
}

/// A refused bind: destination, source, and a symlink the image has as (path, target).
type Refused<'a> = (&'a str, &'a Path, Option<(&'a str, &'a str)>);

/// Mount destinations that land inside /proc, directly or through a symlink of the image,
/// are refused with the config path and the reason, and leave nothing behind.
#[test]
fn mounts_landing_inside_proc_are_refused() {
    let env = TestEnv::new("procdest");
    let src = env.dir.join("src");
    fs::create_dir(&src).unwrap();
    let file = env.dir.join("file");
    fs::write(&file, "fake\n").unwrap();
    let cases: &[Refused] = &[
        ("/mnt/ps", &src, Some(("mnt/ps", "/proc/sys"))),
        ("/proc/sys", &src, None),
        ("/proc/self/attr/current", &file, None),
        ("/mnt/attr", &file, Some(("mnt/attr", "/proc/self/attr/exec"))),
        ("/proc/kcore", &file, None),
    ];
    for (dest, source, link) in cases {
        let cfg = Config::sh("true").bind(source, dest, false);
        let bundle = env.bare_bundle();
        if let Some((path, target)) = link {
            let link = bundle.join("rootfs").join(path);
            fs::create_dir_all(link.parent().unwrap()).unwrap();
            symlink(target, link).unwrap();
        }
        env.write_config(&bundle, &cfg);
        let out = run(&env, &bundle);
        assert_ne!(out.code(), 0, "{dest}: a mount inside /proc was accepted: {out:#?}");
        out.fails_with_one_line();
        let named = format!("mounts[6] ({dest})");
        let says = reference_runc() || out.stderr.contains(&named);
        assert!(says, "{dest}: error must name {named}: {out:#?}");
        assert!(out.stderr.contains("/proc"), "{dest}: error must say why: {out:#?}");
    }
    // Anything other than proc (or a bind of a procfs) at /proc itself is refused too.
    let mut cfg = Config::sh("true");
    cfg.0["mounts"][0] = json!({ "destination": "/proc", "type": "tmpfs", "source": "tmpfs" });
    let out = run(&env, &env.bundle(&cfg));
    assert_ne!(out.code(), 0, "a tmpfs at /proc was accepted: {out:#?}");
    let says = reference_runc() || out.stderr.contains("mounts[0] (/proc)");
    assert!(says, "{out:#?}");
}

/// The lxcfs-style file binds runc allows over /proc, and a bind of a procfs at /proc, work.
#[test]
fn lxcfs_style_binds_and_a_procfs_bind_at_proc_are_allowed() {
    let env = TestEnv::new("procallowed");
    let file = env.dir.join("uptime");
    fs::write(&file, "12345.67 0.00\n").unwrap();
    let cfg = Config::sh("cat /proc/uptime").bind(&file, "/proc/uptime", true);
    let out = run(&env, &env.bundle(&cfg));
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout.trim(), "12345.67 0.00", "{out:#?}");

    // The host's /proc bound at /proc (the container shares the host's pid namespace).
    let mut cfg = Config::sh("test -d /proc/1 && echo ok").without_namespace("pid");
    cfg.0["mounts"][0] =
        json!({ "destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"] });
    let out = run(&env, &env.bundle(&cfg));
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout.trim(), "ok", "{out:#?}");
}

/// The mounts at or below /sys that are writable, from the container's mountinfo.
fn writable_sys_mounts(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter(|l| {
            let point = l.split_whitespace().nth(4).unwrap_or("");
            point == "/sys" || point.starts_with("/sys/")
        })
        .filter(|l| l.split_whitespace().nth(5).is_some_and(|o| o.split(',').any(|o| o == "rw")))
        .map(str::to_string)
        .collect()
}

/// A container in the host's network namespace, as root without a user namespace: /sys is a
/// sysfs of its own (as runc mounts it), not the host's /sys with the host's cgroup
/// hierarchies writable beneath a read-only top.
#[test]
fn host_network_container_gets_no_writable_host_sys() {
    let env = TestEnv::new("hostnetsys");
    let cfg = Config::sh("cat /proc/self/mountinfo").without_namespace("network");
    let out = run(&env, &env.bundle(&cfg));
    assert_eq!(out.code(), 0, "{out:#?}");
    let writable = writable_sys_mounts(&out.stdout);
    assert!(writable.is_empty(), "host files writable under /sys: {writable:#?}");
    let cgroups: Vec<_> = out.stdout.lines().filter(|l| l.contains(" /sys/fs/cgroup")).collect();
    assert!(cgroups.is_empty(), "the host's cgroup mounts came along: {cgroups:#?}");
}

/// In a user namespace without its own network namespace sysfs cannot be mounted, so the
/// host's /sys is bound: then read-only all the way down. (runc 1.1.5 fails here: it leaves
/// the bind to `runc spec --rootless`, which rewrites the config.)
#[test]
fn host_network_user_namespace_binds_sys_read_only_recursively() {
    let env = TestEnv::new("hostnetsysuserns");
    let cfg = Config::sh("cat /proc/self/mountinfo")
        .without_namespace("network")
        .user_namespace(100000, 65536);
    let bundle = env.bundle(&cfg);
    chown_tree(&bundle.join("rootfs"), 100000, 100000);
    let out = run(&env, &bundle);
    assert_eq!(out.code(), 0, "{out:#?}");
    let writable = writable_sys_mounts(&out.stdout);
    assert!(writable.is_empty(), "host files writable under /sys: {writable:#?}");
}

/// proc and sysfs are mounted only on an ordinary directory of the image: a rootfs whose
/// /proc or /sys is a symlink (to a directory of the image, or to nothing) or a file is
/// refused on one line naming the mount, before anything is mounted there (runc refuses
/// the same; followed inside the rootfs, the symlink would put proc, and the masked paths
/// meant for it, somewhere else).
#[test]
fn proc_and_sys_need_an_ordinary_directory() {
    let env = TestEnv::new("procplain");
    let cases = [
        ("/proc", Some("/elsewhere")),
        ("/proc", Some("/nowhere")),
        ("/sys", Some("/elsewhere")),
        ("/proc", None),
    ];
    for (dest, link) in cases {
        let cfg = Config::sh("true");
        let index = cfg.0["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .position(|m| m["destination"] == dest)
            .expect("the default config mounts it");
        let bundle = env.bare_bundle();
        let rootfs = bundle.join("rootfs");
        fs::create_dir_all(rootfs.join("elsewhere")).unwrap();
        let at = rootfs.join(dest.trim_start_matches('/'));
        let _ = fs::remove_dir_all(&at);
        match link {
            Some(target) => symlink(target, &at).unwrap(),
            None => fs::write(&at, "not a directory\n").unwrap(),
        }
        env.write_config(&bundle, &cfg);
        let out = run(&env, &bundle);
        assert_ne!(out.code(), 0, "{dest} -> {link:?} was accepted: {out:#?}");
        out.fails_with_one_line();
        assert!(out.stderr.contains("ordinary directory"), "{dest} -> {link:?}: {out:#?}");
        let named = format!("mounts[{index}] ({dest})");
        assert!(reference_runc() || out.stderr.contains(&named), "{named}: {out:#?}");
    }
}
