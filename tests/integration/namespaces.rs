//! Namespaces: each kind in the config is new, each kind left out is shared with the host,
//! and the facts seen inside (pid 1, hostname, mounts, network devices, id maps) are right.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::harness::{chown_tree, Config, TestEnv};

/// The `/proc/self/ns/*` kinds and their names in config.json.
const KINDS: &[(&str, &str)] =
    &[("pid", "pid"), ("mnt", "mount"), ("ipc", "ipc"), ("uts", "uts"), ("net", "network")];

fn run_stdout(env: &TestEnv, cfg: &Config) -> String {
    let bundle = env.bundle(cfg);
    let id = env.id("n");
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 0, "{out:#?}");
    out.stdout
}

/// `kind → ns link` as seen inside a container made from `cfg`.
fn ns_links_inside(env: &TestEnv, cfg: Config) -> Vec<(String, String)> {
    let script = "for n in pid mnt ipc uts net; do echo $n $(readlink /proc/self/ns/$n); done";
    let out = run_stdout(env, &cfg.args(&["sh", "-c", script]));
    out.lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("kind and link");
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn host_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}")).unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_configured_namespace_is_new() {
    let env = TestEnv::new("nsnew");
    let inside = ns_links_inside(&env, Config::new(&[]));
    assert_eq!(inside.len(), KINDS.len(), "{inside:?}");
    for (kind, link) in &inside {
        assert!(link.starts_with(&format!("{kind}:[")), "odd link {link}");
        assert_ne!(*link, host_ns(kind), "{kind} namespace is the host's");
    }
}

#[test]
fn namespaces_left_out_are_shared_with_host() {
    let env = TestEnv::new("nsshared");
    let mut cfg = Config::new(&[])
        .without_namespace("ipc")
        .without_namespace("uts")
        .without_namespace("network");
    // Without a uts namespace a hostname would rename the host: leave it out.
    cfg.0.as_object_mut().unwrap().remove("hostname");
    let inside = ns_links_inside(&env, cfg);
    assert_eq!(inside.len(), KINDS.len(), "{inside:?}");
    for (kind, link) in &inside {
        let (_, cfg_name) = KINDS.iter().find(|(k, _)| k == kind).unwrap();
        if ["ipc", "uts", "network"].contains(cfg_name) {
            assert_eq!(*link, host_ns(kind), "{kind} should be shared");
        } else {
            assert_ne!(*link, host_ns(kind), "{kind} should be new");
        }
    }
}

#[test]
fn pid_namespace_init_is_pid_1() {
    let env = TestEnv::new("nspid");
    assert_eq!(run_stdout(&env, &Config::sh("echo $$")), "1\n");
}

#[test]
fn without_pid_namespace_init_is_not_pid_1() {
    let env = TestEnv::new("nonspid");
    let out = run_stdout(&env, &Config::sh("echo $$").without_namespace("pid"));
    let pid: i32 = out.trim().parse().unwrap();
    assert!(pid > 1, "pid {pid}");
}

#[test]
fn uts_namespace_hostname_from_config() {
    let env = TestEnv::new("nsuts");
    let before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = run_stdout(&env, &Config::new(&["hostname"]).hostname("berth-uts-check"));
    assert_eq!(out, "berth-uts-check\n");
    assert_eq!(fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), before, "host renamed");
}

#[test]
fn network_namespace_has_only_lo() {
    let env = TestEnv::new("nsnet");
    let out = run_stdout(&env, &Config::new(&["ls", "/sys/class/net"]));
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lo"]);
}

#[test]
fn without_network_namespace_sees_host_devices() {
    let env = TestEnv::new("nonsnet");
    let host: BTreeSet<String> = fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let out =
        run_stdout(&env, &Config::new(&["ls", "/sys/class/net"]).without_namespace("network"));
    let inside: BTreeSet<String> = out.split_whitespace().map(String::from).collect();
    assert_eq!(inside, host);
}

/// A tmpfs the test mounts on the host inside its temp dir; unmounted on drop.
struct HostMount(PathBuf);

impl HostMount {
    fn new(at: &Path) -> Self {
        fs::create_dir_all(at).unwrap();
        let target = CString::new(at.to_str().unwrap()).unwrap();
        let src = CString::new("berth-it-hostonly").unwrap();
        let fstype = CString::new("tmpfs").unwrap();
        let rc = unsafe {
            libc::mount(src.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null())
        };
        assert_eq!(
            rc,
            0,
            "mounting tmpfs on {}: {}",
            at.display(),
            std::io::Error::last_os_error()
        );
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let target = CString::new(self.0.to_str().unwrap()).unwrap();
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn mount_namespace_has_exactly_the_configured_mounts() {
    let env = TestEnv::new("nsmnt");
    let _host = HostMount::new(&env.dir.join("hostonly"));
    let out = run_stdout(&env, &Config::new(&["cat", "/proc/self/mountinfo"]));
    let points: BTreeSet<&str> =
        out.lines().map(|l| l.split(' ').nth(4).expect("mountinfo field 5")).collect();
    let expected: BTreeSet<&str> =
        ["/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"].into();
    assert_eq!(points, expected, "mountinfo inside:\n{out}");
    assert!(!out.contains("berth-it-hostonly"), "host mount visible inside:\n{out}");
    assert!(!out.lines().any(|l| l.split(' ').nth(4) == Some("/work")), "{out}");
}

#[test]
fn user_namespace_maps_root_to_100000() {
    let env = TestEnv::new("nsuser");
    let probe = env.probe_dir();
    let script =
        "cat /proc/self/uid_map > /probe/uid_map; cat /proc/self/gid_map > /probe/gid_map; \
                  id -u > /probe/uid; id -g > /probe/gid; stat -c %u /bin/busybox > /probe/owner";
    let bundle = env.bundle(&Config::sh(script).user_namespace(100000, 65536).probe(&probe));
    // The rootfs belongs to the container's root, as an image unpacked for this mapping would.
    chown_tree(&bundle.join("rootfs"), 100000, 100000);
    let id = env.id("u");
    env.create(&id, &bundle);
    let pid = env.pid_of(&id);

    // From the host: the init runs as host uid 100000 with the configured map.
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid_line.split_whitespace().skip(1).all(|u| u == "100000"), "{uid_line}");
    let host_map = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(host_map.split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65536"]);

    env.start(&id);
    env.wait_status(&id, "stopped");
    let read = |f: &str| fs::read_to_string(probe.join(f)).unwrap_or_else(|_| panic!("no {f}"));
    assert_eq!(read("uid_map").split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65536"]);
    assert_eq!(read("gid_map").split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65536"]);
    assert_eq!(read("uid"), "0\n");
    assert_eq!(read("gid"), "0\n");
    assert_eq!(read("owner"), "0\n", "rootfs owner not mapped to root");
    // Files the probe wrote belong to the mapped host uid.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(probe.join("uid")).unwrap().uid(), 100000);
    env.delete(&id, false);
}
