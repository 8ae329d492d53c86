//! `--no-pivot` must leave no host mount in the container's mount namespace (MS_MOVE keeps
//! the old root's mounts beneath the new one unless they are detached), and `create`/`run`
//! into a cgroup that is already frozen must not hang.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::harness::{reference_runc, Config, TestEnv};

/// listmount(2) and statmount(2) on x86_64 (Linux 6.8+); NS_GET_MNTNS_ID (6.11+).
const SYS_STATMOUNT: libc::c_long = 457;
const SYS_LISTMOUNT: libc::c_long = 458;
const LSMT_ROOT: u64 = 0xffff_ffff_ffff_ffff;
const STATMOUNT_SB_BASIC: u64 = 1;
const NS_GET_MNTNS_ID: libc::c_ulong = 0x8008_b705;

/// `struct mnt_id_req`, first version (32 bytes).
#[repr(C)]
struct MntIdReq {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
    mnt_ns_id: u64,
}

/// The devices (major, minor) of every mount in the mount namespace `ns` — all of them,
/// also those hidden under another mount or outside a chroot, which mountinfo leaves out.
fn namespace_devices(ns: &Path) -> Vec<(u32, u32)> {
    let f = fs::File::open(ns).unwrap();
    let mut ns_id = 0u64;
    // SAFETY: NS_GET_MNTNS_ID writes one u64 to the pointer.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_MNTNS_ID, &mut ns_id) };
    assert_eq!(r, 0, "NS_GET_MNTNS_ID on {}: {}", ns.display(), std::io::Error::last_os_error());
    let req = MntIdReq { size: 32, spare: 0, mnt_id: LSMT_ROOT, param: 0, mnt_ns_id: ns_id };
    let mut ids = vec![0u64; 4096];
    // SAFETY: req is a valid mnt_id_req; ids has room for ids.len() entries.
    let n = unsafe { libc::syscall(SYS_LISTMOUNT, &req, ids.as_mut_ptr(), ids.len(), 0) };
    assert!(n > 0, "listmount: {}", std::io::Error::last_os_error());
    ids.truncate(n as usize);
    let mut devices = Vec::new();
    for id in ids {
        let req = MntIdReq {
            size: 32,
            spare: 0,
            mnt_id: id,
            param: STATMOUNT_SB_BASIC,
            mnt_ns_id: ns_id,
        };
        let mut buf = vec![0u8; 4096];
        // SAFETY: req is valid; buf is writable for buf.len() bytes.
        let r = unsafe { libc::syscall(SYS_STATMOUNT, &req, buf.as_mut_ptr(), buf.len(), 0) };
        assert_eq!(r, 0, "statmount {id}: {}", std::io::Error::last_os_error());
        // struct statmount: sb_dev_major at byte 16, sb_dev_minor at byte 20.
        let major = u32::from_ne_bytes(buf[16..20].try_into().unwrap());
        let minor = u32::from_ne_bytes(buf[20..24].try_into().unwrap());
        devices.push((major, minor));
    }
    devices
}

/// A tmpfs the test mounts in its own temp dir; unmounted on drop (also after a failure).
struct Marker(PathBuf);

impl Marker {
    fn mount(dir: &Path) -> Self {
        let path = dir.join("host-marker");
        fs::create_dir(&path).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "berth-nopivot-marker"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "mounting the marker: {out:?}");
        Marker(path)
    }

    fn device(&self) -> (u32, u32) {
        let dev = fs::metadata(&self.0).unwrap().dev();
        (libc::major(dev), libc::minor(dev))
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A host mount (one the test makes in its temp dir) is not in the mount namespace of a
/// `--no-pivot` container, not even hidden beneath its root. Stricter than runc 1.1.5, which
/// detaches only the proc and sysfs mounts outside the rootfs (checked in the test below).
#[test]
fn no_pivot_namespace_holds_no_host_mount() {
    let env = TestEnv::new("nopivot-hostmount");
    let marker = Marker::mount(&env.dir);
    let dev = marker.device();
    assert!(namespace_devices(Path::new("/proc/self/ns/mnt")).contains(&dev), "host lacks marker");
    let bundle = env.bundle(&Config::new(&["sleep", "100"]));
    let id = env.id("c");
    env.track(&id);
    env.berth(&["create", "--bundle", bundle.to_str().unwrap(), "--no-pivot", &id]).ok();
    let pid = env.pid_of(&id);
    let devices = namespace_devices(Path::new(&format!("/proc/{pid}/ns/mnt")));
    env.delete(&id, true).ok();
    assert!(devices.len() > 1, "the container's namespace lists its own mounts: {devices:?}");
    if reference_runc() {
        return;
    }
    assert!(
        !devices.contains(&dev),
        "the host's marker mount {dev:?} is in the container's namespace"
    );
    drop(marker);
}

/// runc's "runc run --no-pivot must not expose bare /proc": with the host's /proc left in the
/// container's namespace, a nested user namespace could mount a fresh, unmasked proc.
#[test]
fn no_pivot_does_not_expose_bare_proc() {
    let env = TestEnv::new("nopivot-bareproc");
    let script = "mount -t proc none /proc && echo MOUNTED";
    let mut cfg = Config::new(&["unshare", "-mrpf", "sh", "-c", script]);
    let caps = json!(["CAP_SETFCAP", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]);
    cfg.0["process"]["capabilities"] =
        json!({ "bounding": caps, "permitted": caps, "effective": caps });
    // The container's own /proc is then not fully visible, so only a host one could serve.
    cfg.0["linux"]["maskedPaths"] = json!(["/proc/kcore", "/proc/keys"]);
    cfg.0["linux"]["readonlyPaths"] = json!(["/proc/sys", "/proc/bus"]);
    let bundle = env.bundle(&cfg);
    symlink("busybox", bundle.join("rootfs/bin/unshare")).unwrap();
    let id = env.id("c");
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), "--no-pivot", &id]);
    assert_ne!(out.code(), 0, "the nested proc mount succeeded: {out:#?}");
    assert!(!out.stdout.contains("MOUNTED"), "{out:#?}");
    assert!(out.stderr.contains("permission denied"), "{out:#?}");
}

/// A v1 freezer cgroup under `berth-test` that the test makes and freezes before the
/// container; on drop (also after a failure) it is thawed and removed.
struct FrozenCgroup {
    name: String,
    dir: PathBuf,
}

impl FrozenCgroup {
    fn new(env: &TestEnv) -> Self {
        let name = env.id("frozen");
        let dir = Path::new("/sys/fs/cgroup/freezer/berth-test").join(&name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("freezer.state"), "FROZEN").unwrap();
        FrozenCgroup { name, dir }
    }

    fn state(&self) -> String {
        fs::read_to_string(self.dir.join("freezer.state")).unwrap().trim().to_string()
    }

    fn procs(&self) -> String {
        fs::read_to_string(self.dir.join("cgroup.procs")).unwrap()
    }
}

impl Drop for FrozenCgroup {
    fn drop(&mut self) {
        let _ = fs::write(self.dir.join("freezer.state"), "THAWED");
        let gone = || fs::remove_dir(&self.dir).is_ok() || !self.dir.exists();
        crate::harness::wait_for(std::time::Duration::from_secs(5), gone);
    }
}

/// runc's "runc run/create should refuse pre-existing frozen cgroup": berth refuses with one
/// line naming linux.cgroupsPath instead of waiting forever for an init that joined a frozen
/// cgroup, leaves no state, process or cgroup of its own, and leaves the frozen one as it was.
fn refuses_frozen_cgroup(command: &str) {
    if !Path::new("/sys/fs/cgroup/freezer").is_dir() {
        eprintln!("no cgroup v1 freezer on this host; skipped");
        return;
    }
    let env = TestEnv::new(&format!("frozen-{command}"));
    let frozen = FrozenCgroup::new(&env);
    let cfg = Config::new(&["true"])
        .set("/linux/cgroupsPath", json!(format!("/berth-test/{}", frozen.name)));
    let bundle = env.bundle(&cfg);
    let id = env.id("c");
    // Bounded: the harness gives up (and fails) when the command does not end in time.
    let out = env.berth(&[command, "--bundle", bundle.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    if !crate::harness::reference_runc() {
        assert!(out.stderr.contains("linux.cgroupsPath"), "{out:#?}");
    }
    assert!(out.stderr.contains("frozen"), "{out:#?}");
    assert_eq!(frozen.procs(), "", "a process was left in the frozen cgroup");
    assert_eq!(frozen.state(), "FROZEN", "the test's cgroup was changed");
    assert!(env.root_entries().is_empty(), "state left: {:?}", env.root_entries());
}

#[test]
fn run_refuses_frozen_cgroup() {
    refuses_frozen_cgroup("run");
}

#[test]
fn create_refuses_frozen_cgroup() {
    refuses_frozen_cgroup("create");
}
