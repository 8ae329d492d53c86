//! `linux.devices` (type, major/minor, mode, owner), the default devices and the /dev symbolic
//! links of runtime-linux.md.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_oci_conformance::tap::Check;
use serde_json::Value;

/// The default devices every container gets: path, major, minor (config-linux.md).
const DEFAULT_DEVICES: &[(&str, u32, u32)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The links runtime-linux.md asks for, and their targets.
const DEV_LINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

/// The checks of devices and /dev links.
pub fn checks(cfg: &Value) -> Vec<Check> {
    let mut out = Vec::new();
    for (path, major, minor) in DEFAULT_DEVICES {
        out.push(Check::compare(
            format!("default device {path}"),
            node(path),
            Some(('c', *major, *minor)),
        ));
    }
    out.push(ptmx());
    for (link, target) in DEV_LINKS {
        let got = fs::read_link(link).map(|t| t.display().to_string()).ok();
        out.push(Check::compare(format!("link {link}"), got, Some(target.to_string())));
    }
    for d in cfg["linux"]["devices"].as_array().into_iter().flatten() {
        out.extend(device(d));
    }
    let rules = &cfg["linux"]["resources"]["devices"];
    if rules.is_array() {
        for m in cfg["mounts"].as_array().into_iter().flatten() {
            if m["source"].as_str().is_some_and(|s| s.starts_with("/dev/")) {
                out.extend(bound_device(rules, m["destination"].as_str().unwrap_or("")));
            }
        }
    }
    out
}

/// A host device bound into the container that no device rule allows: opening it must fail
/// with EPERM from the device cgroup (the node itself is there and readable by mode).
fn bound_device(rules: &Value, path: &str) -> Option<Check> {
    let (kind, major, minor) = node(path)?;
    if kind == 'p' || crate::kernel::device_allowed(rules, kind, major.into(), minor.into()) {
        return None;
    }
    let err = fs::File::open(path).err().and_then(|e| e.raw_os_error());
    Some(Check::compare(
        format!("linux.resources.devices: opening {path} ({kind} {major}:{minor}) is denied"),
        err,
        Some(libc::EPERM),
    ))
}

/// A device node's type letter, major and minor, if `path` is one.
fn node(path: &str) -> Option<(char, u32, u32)> {
    let m = fs::metadata(path).ok()?;
    let t = m.file_type();
    let kind = if t.is_char_device() {
        'c'
    } else if t.is_block_device() {
        'b'
    } else if t.is_fifo() {
        'p'
    } else {
        return None;
    };
    let (major, minor) =
        if kind == 'p' { (0, 0) } else { (libc::major(m.rdev()), libc::minor(m.rdev())) };
    Some((kind, major, minor))
}

/// /dev/ptmx is the devpts instance's ptmx: a link to pts/ptmx, or a bind of it.
fn ptmx() -> Check {
    let link = fs::read_link("/dev/ptmx").map(|t| t.display().to_string());
    let ok = match &link {
        Ok(t) => t == "pts/ptmx" || t == "/dev/pts/ptmx",
        Err(_) => node("/dev/ptmx") == Some(('c', 5, 2)),
    };
    Check::holds("default device /dev/ptmx", ok, format!("got {link:?}"))
}

fn device(d: &Value) -> Vec<Check> {
    let path = d["path"].as_str().unwrap_or("");
    let kind = match d["type"].as_str() {
        Some("u") => 'c',
        Some(t) => t.chars().next().unwrap_or('?'),
        None => '?',
    };
    let num = |k: &str| d[k].as_u64().unwrap_or(0) as u32;
    let (major, minor) = if kind == 'p' { (0, 0) } else { (num("major"), num("minor")) };
    let mut out = vec![Check::compare(
        format!("linux.devices {path} node"),
        node(path),
        Some((kind, major, minor)),
    )];
    let meta = fs::metadata(path).ok();
    if let Some(mode) = d["fileMode"].as_u64() {
        out.push(Check::compare(
            format!("linux.devices {path} fileMode"),
            meta.as_ref().map(|m| format!("{:o}", m.mode() & 0o7777)),
            Some(format!("{mode:o}")),
        ));
    }
    out.push(Check::compare(
        format!("linux.devices {path} owner"),
        meta.as_ref().map(|m| (m.uid(), m.gid())),
        Some((d["uid"].as_u64().unwrap_or(0) as u32, d["gid"].as_u64().unwrap_or(0) as u32)),
    ));
    out
}
