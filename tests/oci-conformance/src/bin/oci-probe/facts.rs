//! Facts read from /proc: fields of /proc/self/status and the entries of /proc/self/mountinfo.

use std::fs;

/// The value of `field:` in /proc/self/status, trimmed.
pub fn status_field(field: &str) -> Option<String> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == field).then(|| v.trim().to_string())
    })
}

/// A file's content with surrounding whitespace removed, or the error as text.
pub fn read_trimmed(path: &str) -> String {
    match fs::read_to_string(path) {
        Ok(s) => s.trim().to_string(),
        Err(e) => format!("error reading {path}: {e}"),
    }
}

/// One line of /proc/self/mountinfo (proc(5)).
#[derive(Debug, Clone)]
pub struct Mount {
    /// The root of the mount within its filesystem (field 4).
    pub root: String,
    /// The mount point (field 5).
    pub point: String,
    /// Per-mount options (field 6), e.g. `rw`, `nosuid`.
    pub opts: Vec<String>,
    /// Optional fields, e.g. `shared:1`, `master:2`.
    pub optional: Vec<String>,
    /// The filesystem type.
    pub fstype: String,
    /// Per-superblock options, e.g. `size=65536k`, `mode=755`.
    pub super_opts: Vec<String>,
}

/// All mounts of the probe's mount namespace, in mount order.
pub fn mountinfo() -> Vec<Mount> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines().filter_map(parse_mount).collect()
}

fn parse_mount(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let l: Vec<&str> = left.split(' ').collect();
    let r: Vec<&str> = right.split(' ').collect();
    let list = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
    Some(Mount {
        root: unescape(l.get(3)?),
        point: unescape(l.get(4)?),
        opts: list(l.get(5)?),
        optional: l[6..].iter().map(|s| s.to_string()).collect(),
        fstype: r.first()?.to_string(),
        super_opts: list(r.get(2).unwrap_or(&"")),
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount visible at `point` (the last one mounted there), if any.
pub fn mount_at<'a>(mounts: &'a [Mount], point: &str) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.point == point)
}

/// `path` without a trailing slash or repeated slashes (`/dev//pts/` → `/dev/pts`).
pub fn clean(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    format!("/{}", parts.join("/"))
}

/// The strings of a JSON array (empty when absent).
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}
