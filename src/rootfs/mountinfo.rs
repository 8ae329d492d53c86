//! The few fields of /proc/self/mountinfo the rootfs needs: where each mount is, whether it is
//! shared, its filesystem type and its superblock options.

use std::path::PathBuf;

/// One line of mountinfo (proc(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountInfo {
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
    let mount_point = unescape(fields.nth(4)?);
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
    Some(MountInfo { mount_point: PathBuf::from(mount_point), shared, fstype, super_options })
}

/// Reads this process's mountinfo.
pub(crate) fn read() -> std::io::Result<Vec<MountInfo>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
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
    fn finds_containing_mount() {
        let m = parse(SAMPLE);
        assert_eq!(containing(&m, Path::new("/tmp/x")).unwrap().mount_point, Path::new("/"));
        assert_eq!(
            containing(&m, Path::new("/sys/fs/cgroup/cpu,cpuacct/x")).unwrap().mount_point,
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
    }
}
