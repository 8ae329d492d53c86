//! `mounts` (type, flags, data options), `root.readonly`, `linux.rootfsPropagation`,
//! `linux.maskedPaths` and `linux.readonlyPaths`, all read back from /proc/self/mountinfo.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_oci_conformance::tap::Check;
use serde_json::Value;

use crate::facts::{clean, mount_at, mountinfo, strings, Mount};

/// The checks of mounts, the root, propagation, masked and read-only paths.
pub fn checks(cfg: &Value) -> Vec<Check> {
    let mounts = mountinfo();
    let mut out = Vec::new();
    for m in cfg["mounts"].as_array().into_iter().flatten() {
        out.extend(mount(&mounts, m, &cfg["linux"]));
    }
    out.extend(root(&mounts, cfg));
    let linux = &cfg["linux"];
    for path in strings(&linux["maskedPaths"]) {
        out.push(masked(&mounts, &path));
    }
    for path in strings(&linux["readonlyPaths"]) {
        out.push(readonly(&mounts, &path));
    }
    out
}

/// Options that are mount flags, not data for the filesystem.
const FLAG_OPTIONS: &[&str] = &[
    "ro",
    "rw",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "noatime",
    "atime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "nodiratime",
    "diratime",
    "bind",
    "rbind",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "sync",
    "async",
    "dirsync",
    "remount",
    "mand",
    "nomand",
    "newinstance",
];

fn mount(mounts: &[Mount], m: &Value, linux: &Value) -> Vec<Check> {
    let dest = clean(m["destination"].as_str().unwrap_or(""));
    let opts = strings(&m["options"]);
    let Some(found) = mount_at(mounts, &dest) else {
        return vec![Check::holds(format!("mount {dest}"), false, "nothing is mounted there")];
    };
    let mut out = Vec::new();
    let bind = opts.iter().any(|o| o == "bind" || o == "rbind");
    let kind = m["type"].as_str().unwrap_or("");
    if !bind && !kind.is_empty() {
        // On a cgroup v1 host a `cgroup` mount is a tmpfs holding one mount per hierarchy.
        let ok = if kind == "cgroup" {
            ["cgroup", "cgroup2", "tmpfs"].contains(&found.fstype.as_str())
        } else {
            found.fstype == kind
        };
        out.push(Check::holds(
            format!("mount {dest} type"),
            ok,
            format!("got {} want {kind}", found.fstype),
        ));
    }
    let below: Vec<&Mount> =
        mounts.iter().filter(|m| m.point.starts_with(&format!("{dest}/"))).collect();
    let wrong: Vec<&String> = opts
        .iter()
        .filter(|o| match recursive_base(o) {
            // `rro` and friends: the mount and every mount below it.
            Some(base) => {
                !flag_holds(&found.opts, base) || below.iter().any(|m| !flag_holds(&m.opts, base))
            }
            None => !flag_holds(&found.opts, o),
        })
        .collect();
    let below: Vec<String> =
        below.iter().map(|m| format!("{} {}", m.point, m.opts.join(","))).collect();
    out.push(Check::holds(
        format!("mount {dest} flags"),
        wrong.is_empty(),
        format!("{wrong:?} not in effect: got {} (below: {below:?})", found.opts.join(",")),
    ));
    let data: Vec<String> = opts
        .iter()
        .filter(|o| !FLAG_OPTIONS.contains(&o.as_str()) && o.contains('='))
        .map(|o| normalize(o))
        .collect();
    if !data.is_empty() {
        let missing: Vec<&String> =
            data.iter().filter(|d| !data_holds(found, &dest, d, linux)).collect();
        out.push(Check::holds(
            format!("mount {dest} data"),
            missing.is_empty(),
            format!("{missing:?} missing: got {}", found.super_opts.join(",")),
        ));
    }
    out
}

/// The flag a recursive option (`rro`, `rnosuid`, …) sets on every mount below its destination.
fn recursive_base(opt: &str) -> Option<&str> {
    let base = opt.strip_prefix('r')?;
    let flags = ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "nodiratime"];
    let more = ["noatime", "relatime", "strictatime", "nosymfollow", "symfollow"];
    flags.iter().chain(more.iter()).any(|f| *f == base).then_some(base)
}

/// Whether the per-mount options `got` reflect the option `opt` (data options always hold).
fn flag_holds(got: &[String], opt: &str) -> bool {
    let has = |f: &str| got.iter().any(|g| g == f);
    match opt {
        "ro" | "rw" | "nosuid" | "nodev" | "noexec" | "noatime" | "relatime" | "nodiratime"
        | "nosymfollow" => has(opt),
        "suid" | "dev" | "exec" | "symfollow" => !has(&format!("no{opt}")),
        "strictatime" => !has("relatime") && !has("noatime"),
        _ => true,
    }
}

/// Whether the data option `opt` (normalized) took effect on `found`, mounted at `dest`. The
/// kernel shows uid=/gid= in the host's ids and leaves out tmpfs defaults (mode=1777, uid=0,
/// gid=0); then the mode and owner of the mount's root tell.
fn data_holds(found: &Mount, dest: &str, opt: &str, linux: &Value) -> bool {
    if found.super_opts.iter().any(|o| o == opt) {
        return true;
    }
    let Some((key, value)) = opt.split_once('=') else { return false };
    let Ok(n) = value.parse::<u64>() else { return false };
    let maps = match key {
        "uid" => &linux["uidMappings"],
        "gid" => &linux["gidMappings"],
        _ => &Value::Null,
    };
    let host = maps.as_array().into_iter().flatten().find_map(|m| {
        let (inside, outside, size) =
            (m["containerID"].as_u64()?, m["hostID"].as_u64()?, m["size"].as_u64()?);
        (inside..inside + size).contains(&n).then(|| outside + n - inside)
    });
    if host.is_some_and(|h| found.super_opts.contains(&format!("{key}={h}"))) {
        return true;
    }
    let Ok(meta) = fs::metadata(dest) else { return false };
    match key {
        "mode" => u64::from_str_radix(value, 8) == Ok(u64::from(meta.mode() & 0o7777)),
        "uid" => found.fstype == "tmpfs" && u64::from(meta.uid()) == n,
        "gid" => found.fstype == "tmpfs" && u64::from(meta.gid()) == n,
        _ => false,
    }
}

/// `mode=0620` as the kernel shows it (`mode=620`).
fn normalize(opt: &str) -> String {
    match opt.split_once('=') {
        Some((k, v)) if v.len() > 1 && v.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{k}={}", v.trim_start_matches('0'))
        }
        _ => opt.to_string(),
    }
}

fn root(mounts: &[Mount], cfg: &Value) -> Vec<Check> {
    let Some(root) = mount_at(mounts, "/") else {
        return vec![Check::holds("root mount", false, "nothing is mounted at /")];
    };
    let ro = cfg["root"]["readonly"].as_bool().unwrap_or(false);
    let mut out = vec![Check::compare(
        "root.readonly",
        root.opts.first().cloned(),
        Some(if ro { "ro" } else { "rw" }.to_string()),
    )];
    if ro {
        let err = fs::write("/oci-readonly-probe", b"x").err().and_then(|e| e.raw_os_error());
        out.push(Check::compare(
            "root.readonly: writing / fails with EROFS",
            err,
            Some(libc::EROFS),
        ));
    }
    if let Some(p) = cfg["linux"]["rootfsPropagation"].as_str() {
        let has = |tag: &str| root.optional.iter().any(|o| o.starts_with(tag));
        let ok = match p {
            "private" | "rprivate" => !has("shared:") && !has("master:"),
            "slave" | "rslave" => has("master:") && !has("shared:"),
            "shared" | "rshared" => has("shared:"),
            "unbindable" | "runbindable" => has("unbindable"),
            _ => false,
        };
        out.push(Check::holds(
            format!("linux.rootfsPropagation {p}"),
            ok,
            format!("got optional fields {:?} of /", root.optional),
        ));
    }
    out
}

/// A masked file is /dev/null bound over it; a masked directory is an empty read-only tmpfs.
fn masked(mounts: &[Mount], path: &str) -> Check {
    let name = format!("linux.maskedPaths {path}");
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        // Runtimes skip a path the container does not have; create succeeded, so it was.
        Err(e) if e.kind() == ErrorKind::NotFound => return Check::holds(name, true, ""),
        Err(e) => return Check::holds(name, false, format!("stat: {e}")),
    };
    if meta.is_dir() {
        let m = mount_at(mounts, &clean(path));
        let empty = fs::read_dir(path).map(|mut d| d.next().is_none()).unwrap_or(false);
        let ro = m.is_some_and(|m| m.opts.iter().any(|o| o == "ro"));
        Check::holds(name, empty && ro, format!("empty {empty}, read-only mount {ro}"))
    } else {
        let null = meta.file_type().is_char_device() && meta.rdev() == libc::makedev(1, 3);
        Check::holds(name, null, format!("not /dev/null (rdev {:#x})", meta.rdev()))
    }
}

fn readonly(mounts: &[Mount], path: &str) -> Check {
    let name = format!("linux.readonlyPaths {path}");
    if fs::symlink_metadata(path).is_err() {
        return Check::holds(name, true, "");
    }
    match mount_at(mounts, &clean(path)) {
        Some(m) => Check::holds(
            name,
            m.opts.iter().any(|o| o == "ro"),
            format!("got {}", m.opts.join(",")),
        ),
        None => Check::holds(name, false, "not a mount point"),
    }
}
