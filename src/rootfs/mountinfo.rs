//! The few fields of /proc/self/mountinfo the rootfs needs: where each mount is, which
//! directory of its filesystem it shows, whether it is shared, its filesystem type and its
//! superblock options; and where a cgroup hierarchy's mount shows this process's own cgroup.

use std::path::PathBuf;

/// One line of mountinfo (proc(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountInfo {
    /// The directory of the filesystem the mount shows (`/` unless a bind of a subdirectory).
    pub root: PathBuf,
    /// Where the mount is, relative to the process's root.
    pub mount_point: PathBuf,
    /// Whether the optional fields carry `shared:N`.
    pub shared: bool,
    /// The filesystem type, e.g. `cgroup`.
    pub fstype: String,
    /// The superblock options, e.g. `rw,cpu,cpuacct`.
    pub super_options: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\134` for a backslash, …).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text, skipping lines it does not understand.
pub(crate) fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let mut fields = line.split(' ');
    let root = unescape(fields.nth(3)?);
    let mount_point = unescape(fields.next()?);
    let _options = fields.next()?;
    let mut shared = false;
    for f in fields.by_ref() {
        if f == "-" {
            break;
        }
        shared |= f.starts_with("shared:");
    }
    let fstype = fields.next()?.to_string();
    let _source = fields.next()?;
    let super_options = fields.next()?.to_string();
    Some(MountInfo {
        root: PathBuf::from(root),
        mount_point: PathBuf::from(mount_point),
        shared,
        fstype,
        super_options,
    })
}

/// Reads this process's mountinfo.
pub(crate) fn read() -> std::io::Result<Vec<MountInfo>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// Where the cgroup hierarchy mounted at `h` shows the process's own cgroup, from the
/// process's /proc/self/cgroup text: `h`'s mount point joined with the cgroup's path below
/// the mount's root. None when the text names no cgroup in that hierarchy, or one outside
/// what the mount shows.
pub(crate) fn own_cgroup(h: &MountInfo, proc_cgroup: &str) -> Option<PathBuf> {
    let options: Vec<&str> = h.super_options.split(',').collect();
    let path = proc_cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let ours = match h.fstype.as_str() {
            "cgroup2" => id == "0" && controllers.is_empty(),
            _ => !controllers.is_empty() && controllers.split(',').all(|c| options.contains(&c)),
        };
        ours.then_some(path)
    })?;
    let below = std::path::Path::new(path).strip_prefix(&h.root).ok()?;
    Some(h.mount_point.join(below))
}

/// The mount `path` lives on: the last-listed mount whose mount point is the longest prefix.
pub(crate) fn containing<'a>(
    mounts: &'a [MountInfo],
    path: &std::path::Path,
) -> Option<&'a MountInfo> {
    let mut best: Option<&MountInfo> = None;
    for m in mounts.iter().filter(|m| path.starts_with(&m.mount_point)) {
        if best.is_none_or(|b| m.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len()) {
            best = Some(m);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SAMPLE: &str = "\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime master:3 - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
50 27 0:40 / /tmp/a\\040b rw - tmpfs tmpfs rw
";

    #[test]
    fn parses_fields() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 5);
        assert!(m[0].shared);
        assert!(!m[2].shared);
        assert_eq!(m[2].mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(m[2].fstype, "cgroup");
        assert_eq!(m[2].super_options, "rw,cpu,cpuacct");
        assert_eq!(m[4].mount_point, Path::new("/tmp/a b"));
    }

    #[test]
    fn own_cgroup_is_found_below_the_mount_root() {
        let m = parse(SAMPLE);
        let own = "4:cpu,cpuacct:/berth-test/a\n1:name=systemd:/x/y\n0::/u\n";
        let cpu = own_cgroup(&m[2], own);
        assert_eq!(cpu.as_deref(), Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/berth-test/a")));
        let named = own_cgroup(&m[3], own);
        assert_eq!(named.as_deref(), Some(Path::new("/sys/fs/cgroup/systemd/x/y")));
        let mut bound = m[2].clone();
        bound.root = "/berth-test".into();
        let below = own_cgroup(&bound, own);
        assert_eq!(below.as_deref(), Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/a")));
        bound.root = "/other".into();
        assert_eq!(own_cgroup(&bound, own), None);
        assert_eq!(own_cgroup(&m[2], "0::/u\n"), None);
    }

    #[test]
    fn finds_containing_mount() {
        let m = parse(SAMPLE);
        assert_eq!(containing(&m, Path::new("/tmp/x")).unwrap().mount_point, Path::new("/"));
        assert_eq!(
            containing(&m, Path::new("/sys/fs/cgroup/cpu,cpuacct/x")).unwrap().mount_point,
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
    }
}
