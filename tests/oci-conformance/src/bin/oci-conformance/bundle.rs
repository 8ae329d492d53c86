//! The runner's work dir: unique container ids and cgroup paths, and busybox bundles holding
//! the probe and a copy of their own config.json.

use std::fs;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

/// Busybox applets linked into every rootfs (the lifecycle container and the hooks use them).
const APPLETS: &[&str] = &["sh", "sleep", "cat", "touch", "echo", "true"];

/// Where the probe finds its config inside the rootfs (must match the probe's CONFIG_PATH).
const CONFIG_IN_ROOTFS: &str = "oci-conformance/config.json";

/// Where the probe sits inside the rootfs.
pub const PROBE_IN_ROOTFS: &str = "/oci-probe";

/// Parent of every cgroup the suite creates.
const CGROUP_PARENT: &str = "berth-test";

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A temp dir for one runtime's bundles, plus the probe binary to put in them.
pub struct Workspace {
    /// The dir itself (removed by the caller).
    pub dir: PathBuf,
    probe: PathBuf,
}

impl Workspace {
    /// A fresh dir `<base>/<tag>-<pid>` (mode 0755 so a user-namespaced container can reach it).
    pub fn new(base: &Path, tag: &str, probe: &Path) -> std::io::Result<Self> {
        let dir = base.join(format!("oci-conformance-{tag}-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        Ok(Workspace { dir, probe: probe.to_path_buf() })
    }

    /// A container id unique on this host.
    pub fn id(&self, tag: &str) -> String {
        format!("oci-{}-{tag}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst))
    }

    /// A new empty dir, writable by any uid (hooks and containers write records there).
    pub fn scratch(&self, tag: &str) -> PathBuf {
        let p = self.dir.join(format!("{tag}-{}", SEQ.fetch_add(1, Ordering::SeqCst)));
        fs::create_dir_all(&p).expect("creating a scratch dir");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).expect("chmod scratch dir");
        p
    }

    /// A bundle for container `id`: a busybox rootfs with the probe, `cfg` as config.json (with a
    /// cgroup under /berth-test named after the id) and its copy for the probe. With `owner`,
    /// the rootfs belongs to that host uid/gid (for a user namespace mapping root to it).
    pub fn bundle(&self, id: &str, mut cfg: Value, owner: Option<u32>) -> PathBuf {
        let bundle = self.dir.join(id);
        let rootfs = bundle.join("rootfs");
        build_rootfs(&rootfs, &self.probe);
        cfg["linux"]["cgroupsPath"] = json!(format!("/{CGROUP_PARENT}/{id}"));
        let text = serde_json::to_vec_pretty(&cfg).expect("config to JSON");
        fs::write(bundle.join("config.json"), &text).expect("writing config.json");
        fs::write(rootfs.join(CONFIG_IN_ROOTFS), &text).expect("writing the probe's config copy");
        if let Some(uid) = owner {
            chown_tree(&rootfs, uid);
        }
        bundle
    }
}

fn build_rootfs(rootfs: &Path, probe: &Path) {
    for d in [
        "bin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "etc",
        "root",
        "home/probe",
        "oci-conformance",
        "hooklog",
    ] {
        fs::create_dir_all(rootfs.join(d)).expect("creating rootfs dirs");
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::set_permissions(rootfs.join("home/probe"), fs::Permissions::from_mode(0o777)).unwrap();
    let bb = rootfs.join("bin/busybox");
    fs::copy("/bin/busybox", &bb).expect("copying /bin/busybox (install busybox-static)");
    fs::set_permissions(&bb, fs::Permissions::from_mode(0o755)).unwrap();
    for a in APPLETS {
        symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    let dest = rootfs.join(PROBE_IN_ROOTFS.trim_start_matches('/'));
    fs::copy(probe, &dest).expect("copying the probe");
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
}

fn chown_tree(path: &Path, id: u32) {
    let _ = lchown(path, Some(id), Some(id));
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        for e in fs::read_dir(path).into_iter().flatten().flatten() {
            chown_tree(&e.path(), id);
        }
    }
}

/// The inode of each of this process's namespaces as `name=inode,…` (the probe compares).
pub fn namespace_inodes(pid: &str) -> String {
    let mut out = Vec::new();
    for e in fs::read_dir(format!("/proc/{pid}/ns")).into_iter().flatten().flatten() {
        if let Ok(m) = fs::metadata(e.path()) {
            out.push(format!("{}={}", e.file_name().to_string_lossy(), m.ino()));
        }
    }
    out.sort();
    out.join(",")
}

/// Cgroup dirs of container `id` that still exist, on v1 and v2 hierarchies.
pub fn cgroups_left(id: &str) -> Vec<PathBuf> {
    cgroup_dirs(id).into_iter().filter(|d| d.exists()).collect()
}

/// Removes what a runtime left of container `id`'s cgroups (empty ones only: rmdir).
pub fn remove_cgroups(id: &str) {
    for d in cgroups_left(id) {
        let _ = fs::remove_dir(d);
    }
}

/// Removes the shared /berth-test parents once they are empty (rmdir of a busy one fails).
pub fn remove_cgroup_parents() {
    for d in cgroup_dirs("") {
        let _ = fs::remove_dir(d);
    }
}

fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut out = vec![base.join(CGROUP_PARENT).join(id)];
    for e in fs::read_dir(base).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.push(e.path().join(CGROUP_PARENT).join(id));
        }
    }
    out
}
