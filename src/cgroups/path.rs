//! Where a container's cgroup lives: `linux.cgroupsPath` resolved as runc's cgroupfs driver
//! resolves it.
//!
//! - absolute: under each hierarchy's mount point;
//! - relative: under the runtime's own cgroup in that hierarchy; on v2 a `*.scope` is
//!   replaced by its parent, because a scope holds processes and so cannot enable
//!   controllers for a child;
//! - absent: the container id, relative.
//!
//! The path is cleaned lexically first (`..` cannot climb above the root), so a config
//! can never name a cgroup outside the hierarchy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The cgroup v1 controllers berth places a container in, in the order they are set up.
pub const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "rdma",
    "perf_event",
    "misc",
];

/// One cgroup mount from mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where it is mounted.
    pub point: PathBuf,
    /// The cgroup it shows at `point` (field 4 of mountinfo).
    pub root: String,
    /// cgroup2 rather than a v1 hierarchy.
    pub v2: bool,
    /// The v1 controllers of the hierarchy (empty for v2).
    pub controllers: Vec<String>,
}

/// The cgroup mounts listed in the text of /proc/self/mountinfo. A line is looked at past
/// its filesystem type only for a cgroup filesystem (a node has hundreds of other mounts).
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let mut right = right.split(' ');
        let v2 = match right.next() {
            Some("cgroup2") => true,
            Some("cgroup") => false,
            _ => continue,
        };
        let mut left = left.split(' ');
        let (Some(root), Some(point)) = (left.nth(3), left.next()) else { continue };
        let Some(super_options) = right.nth(1) else { continue };
        let controllers = if v2 {
            Vec::new()
        } else {
            let known = super_options.split(',').filter(|o| V1_CONTROLLERS.contains(o));
            known.map(str::to_owned).collect()
        };
        out.push(CgroupMount {
            point: unescape(point).into(),
            root: unescape(root),
            v2,
            controllers,
        });
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The runtime's own cgroups from the text of /proc/self/cgroup: v1 controller (or `""`
/// for the v2 hierarchy) → cgroup path.
pub fn parse_proc_cgroup(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            out.insert(String::new(), path.to_owned());
        }
        for c in controllers.split(',').filter(|c| !c.is_empty()) {
            out.insert(c.to_owned(), path.to_owned());
        }
    }
    out
}

/// `path` cleaned as a path from the root: empty and `.` parts dropped, `..` removes the
/// part before it and stops at the root. Returns the parts and whether `path` was absolute.
pub fn clean(path: &str) -> (Vec<&str>, bool) {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    (parts, path.starts_with('/'))
}

/// `own` (a cgroup of the runtime) relative to the cgroup `root` its hierarchy is mounted
/// from; `own` itself when it does not lie under `root`.
fn relative_to_root<'a>(own: &'a str, root: &str) -> &'a str {
    let root = root.trim_end_matches('/');
    match own.strip_prefix(root) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => own,
    }
}

fn join(base: &Path, parts: &[&str]) -> PathBuf {
    parts.iter().fold(base.to_path_buf(), |p, part| p.join(part))
}

/// The v1 directory of each mounted controller for `cgroups_path` (already defaulted to
/// the id). Controllers that are not mounted are left out.
pub fn resolve_v1(
    mounts: &[CgroupMount],
    own: &BTreeMap<String, String>,
    cgroups_path: &str,
) -> BTreeMap<String, PathBuf> {
    let (inner, absolute) = clean(cgroups_path);
    let mut out = BTreeMap::new();
    for controller in V1_CONTROLLERS {
        let Some(mount) =
            mounts.iter().find(|m| !m.v2 && m.controllers.iter().any(|c| c == controller))
        else {
            continue;
        };
        let base = if absolute {
            mount.point.clone()
        } else {
            let own = own.get(*controller).map_or("/", String::as_str);
            join(&mount.point, &clean(relative_to_root(own, &mount.root)).0)
        };
        out.insert((*controller).to_owned(), join(&base, &inner));
    }
    out
}

/// The v2 directory for `cgroups_path` (already defaulted to the id), under the cgroup2
/// mount `mount`.
pub fn resolve_v2(
    mount: &CgroupMount,
    own: &BTreeMap<String, String>,
    cgroups_path: &str,
) -> PathBuf {
    let (inner, absolute) = clean(cgroups_path);
    let base = if absolute {
        mount.point.clone()
    } else {
        let own = own.get("").map_or("/", String::as_str);
        let mut parts = clean(relative_to_root(own, &mount.root)).0;
        if parts.last().is_some_and(|p| p.ends_with(".scope")) {
            parts.pop();
        }
        join(&mount.point, &parts)
    };
    join(&base, &inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
32 31 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
33 31 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
34 31 0:29 /outer /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
35 31 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
36 31 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
37 31 0:32 / /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,devices
";

    const PROC_CGROUP: &str = "\
5:devices:/
4:pids:/outer/inner
3:memory:/process_api/abc
2:cpu,cpuacct:/
1:name=systemd:/user.slice
0::/user.slice/session-1.scope
";

    fn v1(path: &str) -> BTreeMap<String, PathBuf> {
        resolve_v1(&parse_mountinfo(MOUNTINFO), &parse_proc_cgroup(PROC_CGROUP), path)
    }

    #[test]
    fn parses_cgroup_mounts() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 6);
        assert_eq!(mounts[0].controllers, ["cpu", "cpuacct"]);
        assert!(mounts[3].controllers.is_empty());
        assert!(mounts[4].v2);
        assert_eq!(mounts[5].point, PathBuf::from("/sys/fs/cgroup/my dir"));
        assert_eq!(mounts[2].root, "/outer");
    }

    #[test]
    fn absolute_paths_go_under_each_mount_point() {
        let paths = v1("/berth-test/c1");
        assert_eq!(paths["memory"], PathBuf::from("/sys/fs/cgroup/memory/berth-test/c1"));
        assert_eq!(paths["cpu"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/berth-test/c1"));
        assert_eq!(paths["cpuacct"], paths["cpu"]);
        assert_eq!(paths["pids"], PathBuf::from("/sys/fs/cgroup/pids/berth-test/c1"));
        assert_eq!(paths["devices"], PathBuf::from("/sys/fs/cgroup/my dir/berth-test/c1"));
        assert!(!paths.contains_key("freezer"), "not mounted");
        assert_eq!(paths.keys().filter(|k| k.starts_with("name=")).count(), 0);
    }

    #[test]
    fn relative_paths_go_under_the_runtimes_own_cgroup() {
        let paths = v1("ctr");
        assert_eq!(paths["memory"], PathBuf::from("/sys/fs/cgroup/memory/process_api/abc/ctr"));
        assert_eq!(paths["cpu"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/ctr"));
        // The pids hierarchy is mounted from /outer: the own cgroup is taken relative to it.
        assert_eq!(paths["pids"], PathBuf::from("/sys/fs/cgroup/pids/inner/ctr"));
    }

    #[test]
    fn dot_dot_cannot_leave_the_hierarchy() {
        assert_eq!(v1("/../../etc")["memory"], PathBuf::from("/sys/fs/cgroup/memory/etc"));
        assert_eq!(
            v1("../../../x")["memory"],
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc/x")
        );
        assert_eq!(clean("/a/./b//c/.."), (vec!["a", "b"], true));
    }

    #[test]
    fn v2_paths() {
        let mount = CgroupMount {
            point: "/sys/fs/cgroup".into(),
            root: "/".into(),
            v2: true,
            controllers: vec![],
        };
        let own = parse_proc_cgroup(PROC_CGROUP);
        assert_eq!(
            resolve_v2(&mount, &own, "/berth-test/c"),
            PathBuf::from("/sys/fs/cgroup/berth-test/c")
        );
        assert_eq!(resolve_v2(&mount, &own, "c"), PathBuf::from("/sys/fs/cgroup/user.slice/c"));
        let service = parse_proc_cgroup("0::/system.slice/containerd.service\n");
        assert_eq!(
            resolve_v2(&mount, &service, "k8s/c"),
            PathBuf::from("/sys/fs/cgroup/system.slice/containerd.service/k8s/c")
        );
        let root = parse_proc_cgroup("0::/\n");
        assert_eq!(resolve_v2(&mount, &root, "id"), PathBuf::from("/sys/fs/cgroup/id"));
    }
}
