//! Checks against hostile configs: paths that lead out of the bundle, the container or
//! berth's cgroup, and numbers the kernel refuses or clamps. Like every check they name the
//! config path and touch nothing.

use std::path::{Component, Path};

use oci_spec::runtime::{LinuxIdMapping, LinuxResources, Spec};

use super::validate::Problems;
use super::SpecError;

/// The kernel's limit on lines of one uid_map or gid_map (user_namespaces(7), since 4.15).
const MAX_ID_MAP_LINES: usize = 340;

/// The largest uid or gid a process may run as, as runc allows: (uid_t)-1 tells setresuid(2)
/// and setresgid(2) to leave the id unchanged, so a process given 4294967295 would keep
/// running as root with the container's capabilities, and ids above this are negative to
/// parts of the kernel and libc.
pub const MAX_ID: u32 = i32::MAX as u32;

/// NGROUPS_MAX: the most supplementary groups setgroups(2) takes.
const MAX_GROUPS: usize = 65_536;

/// The largest `cpu.shares` cgroup v1 accepts (it clamps larger values silently).
const MAX_CPU_SHARES: u64 = 262_144;

/// `cpu.cfs_period_us` bounds in microseconds (1 ms ..= 1 s).
const CPU_PERIOD_RANGE: std::ops::RangeInclusive<u64> = 1_000..=1_000_000;

/// `blkio.weight` bounds (0 leaves the value unset).
const BLKIO_WEIGHT_RANGE: std::ops::RangeInclusive<u16> = 10..=1000;

fn has_parent_component(path: &Path) -> bool {
    path.components().any(|c| c == Component::ParentDir)
}

/// A relative `root.path` must stay inside the bundle (an absolute one is the caller's
/// explicit choice, as podman makes it).
pub(super) fn check_root_stays_in_bundle(spec: &Spec, p: &mut Problems) {
    let Some(root) = spec.root() else { return };
    let path = root.path();
    if !path.is_absolute() && has_parent_component(path) {
        p.push("root.path", format!("{path:?} leads out of the bundle through \"..\""));
    }
}

/// Why `id` cannot be a process's uid or gid, if it cannot.
pub fn id_out_of_range(id: u32) -> Option<String> {
    (id > MAX_ID).then(|| format!("{id} is outside 0..={MAX_ID}"))
}

/// `process.user` ids a process can really switch to (see [`MAX_ID`]), and no more
/// supplementary groups than the kernel takes.
pub(super) fn check_process_ids(spec: &Spec, p: &mut Problems) {
    let Some(user) = spec.process().as_ref().map(|p| p.user()) else { return };
    for (at, id) in [("process.user.uid", user.uid()), ("process.user.gid", user.gid())] {
        if let Some(reason) = id_out_of_range(id) {
            p.push(at, reason);
        }
    }
    let gids = user.additional_gids().as_deref().unwrap_or_default();
    if gids.len() > MAX_GROUPS {
        p.push(
            "process.user.additionalGids",
            format!("{} entries; the kernel takes at most {MAX_GROUPS}", gids.len()),
        );
        return;
    }
    if let Some((i, reason)) =
        gids.iter().enumerate().find_map(|(i, g)| Some((i, id_out_of_range(*g)?)))
    {
        p.push(format!("process.user.additionalGids[{i}]"), reason);
    }
}

/// Id map entries whose range the kernel refuses: it must not reach past 4294967294 on
/// either side ((u32)-1 is no id). `field` is the list's config path.
pub(super) fn check_id_map_ranges(field: &str, list: &[LinuxIdMapping], p: &mut Problems) {
    for (i, m) in list.iter().enumerate() {
        let end = |start: u32| u64::from(start) + u64::from(m.size());
        if end(m.container_id()) > u64::from(u32::MAX) || end(m.host_id()) > u64::from(u32::MAX) {
            p.push(format!("{field}[{i}]"), "the range goes beyond 4294967294");
        }
    }
}

/// A NUL byte cuts a C string short: the program would run with other arguments than the
/// config names, and sethostname(2) would take it as part of the name.
pub(super) fn check_nul_bytes(spec: &Spec, p: &mut Problems) {
    let has_nul = |s: &str| s.contains('\0');
    if let Some(args) = spec.process().as_ref().and_then(|p| p.args().as_ref()) {
        if let Some(i) = args.iter().position(|a| has_nul(a)) {
            p.push(format!("process.args[{i}]"), "contains a NUL byte");
        }
    }
    for (at, value) in [("hostname", spec.hostname()), ("domainname", spec.domainname())] {
        if value.as_deref().is_some_and(has_nul) {
            p.push(at, "contains a NUL byte");
        }
    }
}

/// A working directory under /proc/<pid>/ can be a magic link to a descriptor or directory
/// of another mount namespace (CVE-2024-21626); no real workload needs one.
pub(super) fn check_cwd_not_in_proc(spec: &Spec, p: &mut Problems) {
    let Some(process) = spec.process() else { return };
    if is_under_proc(process.cwd()) {
        p.push(
            "process.cwd",
            format!("{:?} is inside /proc, which can lead outside the container", process.cwd()),
        );
    }
}

/// Whether `path` names something below /proc (where magic links lead out of the container).
pub fn is_under_proc(path: &Path) -> bool {
    let mut parts = path.components().filter(|c| *c != Component::CurDir);
    parts.next() == Some(Component::RootDir)
        && parts.next() == Some(Component::Normal("proc".as_ref()))
        && parts.next().is_some()
}

/// `..` in `linux.cgroupsPath` would place the container beside or above the cgroup it
/// names; runc cleans it away silently, berth refuses it.
pub(super) fn check_cgroups_path(spec: &Spec, p: &mut Problems) {
    let Some(path) = spec.linux().as_ref().and_then(|l| l.cgroups_path().as_ref()) else {
        return;
    };
    if has_parent_component(path) {
        p.push("linux.cgroupsPath", format!("{path:?} must not contain \"..\""));
    }
}

/// The host cgroups a service manager owns: their processes are the host's, and limits
/// written there apply to all of them.
const HOST_CGROUPS: &[&str] = &["/", "/system.slice", "/init.scope", "/user.slice"];

/// A warning when `linux.cgroupsPath` names a cgroup the host's service manager owns (its
/// root slices, or any `*.slice`, `*.scope` or `*.service` unit): berth places the container
/// among the host's processes there, and leaves them and the cgroup alone on delete.
pub(super) fn cgroups_path_warning(spec: &Spec) -> Option<SpecError> {
    let path = spec.linux().as_ref().and_then(|l| l.cgroups_path().as_ref())?;
    let text = path.to_str()?;
    let trimmed = text.trim_end_matches('/');
    let unit = |c: &str| [".slice", ".scope", ".service"].iter().any(|s| c.ends_with(s));
    let host = HOST_CGROUPS.contains(&if trimmed.is_empty() { "/" } else { trimmed })
        || trimmed.split('/').any(unit);
    host.then(|| SpecError::Invalid {
        path: "linux.cgroupsPath".into(),
        reason: format!(
            "{text:?} is a cgroup the host's service manager owns: the container shares it \
             with host processes and its limits apply to them too"
        ),
    })
}

/// Numbers of `linux.resources` outside what the kernel takes.
pub(super) fn check_resource_ranges(spec: &Spec, p: &mut Problems) {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else { return };
    check_memory(r, p);
    check_cpu(r, p);
    if let Some(limit) = r.pids().as_ref().map(|pids| pids.limit()) {
        if limit < -1 {
            p.push("linux.resources.pids.limit", format!("{limit} is below -1 (unlimited)"));
        }
    }
    check_block_io(r, p);
}

fn check_memory(r: &LinuxResources, p: &mut Problems) {
    let Some(m) = r.memory() else { return };
    #[allow(deprecated)]
    let values = [
        ("limit", m.limit()),
        ("reservation", m.reservation()),
        ("swap", m.swap()),
        ("kernel", m.kernel()),
        ("kernelTCP", m.kernel_tcp()),
    ];
    for (name, value) in values {
        if let Some(v) = value.filter(|v| *v < -1) {
            p.push(
                format!("linux.resources.memory.{name}"),
                format!("{v} is below -1 (unlimited)"),
            );
        }
    }
}

fn check_cpu(r: &LinuxResources, p: &mut Problems) {
    let Some(cpu) = r.cpu() else { return };
    if let Some(shares) = cpu.shares().filter(|s| *s > MAX_CPU_SHARES) {
        p.push("linux.resources.cpu.shares", format!("{shares} is more than {MAX_CPU_SHARES}"));
    }
    if let Some(quota) = cpu.quota().filter(|q| *q < -1) {
        p.push("linux.resources.cpu.quota", format!("{quota} is below -1 (unlimited)"));
    }
    if let Some(period) = cpu.period().filter(|v| *v != 0 && !CPU_PERIOD_RANGE.contains(v)) {
        p.push(
            "linux.resources.cpu.period",
            format!("{period} is outside {}..={} microseconds", CPU_PERIOD_RANGE.start(), {
                CPU_PERIOD_RANGE.end()
            }),
        );
    }
}

fn check_block_io(r: &LinuxResources, p: &mut Problems) {
    let Some(io) = r.block_io() else { return };
    let mut weights = vec![
        ("linux.resources.blockIO.weight".to_owned(), io.weight()),
        ("linux.resources.blockIO.leafWeight".to_owned(), io.leaf_weight()),
    ];
    for (i, d) in io.weight_device().iter().flatten().enumerate() {
        weights.push((format!("linux.resources.blockIO.weightDevice[{i}].weight"), d.weight()));
        let leaf = d.leaf_weight();
        weights.push((format!("linux.resources.blockIO.weightDevice[{i}].leafWeight"), leaf));
    }
    for (at, weight) in weights {
        if let Some(w) = weight.filter(|w| *w != 0 && !BLKIO_WEIGHT_RANGE.contains(w)) {
            let (lo, hi) = (BLKIO_WEIGHT_RANGE.start(), BLKIO_WEIGHT_RANGE.end());
            p.push(at, format!("{w} is outside {lo}..={hi}"));
        }
    }
}

/// uid/gid maps the kernel would refuse with a bare EINVAL: too many lines, or ranges
/// that overlap inside the container or on the host.
pub(super) fn check_id_map_shape(spec: &Spec, p: &mut Problems) {
    let Some(linux) = spec.linux() else { return };
    let maps =
        [("linux.uidMappings", linux.uid_mappings()), ("linux.gidMappings", linux.gid_mappings())];
    for (field, list) in maps {
        let Some(list) = list.as_deref() else { continue };
        if list.len() > MAX_ID_MAP_LINES {
            p.push(
                field,
                format!("{} entries; the kernel takes at most {MAX_ID_MAP_LINES}", list.len()),
            );
            continue;
        }
        let sides: [(&str, IdStart); 2] =
            [("containerID", |m| m.container_id()), ("hostID", |m| m.host_id())];
        for (side, start) in sides {
            if let Some((a, b)) = first_overlap(list, start) {
                p.push(format!("{field}[{b}].{side}"), format!("overlaps {field}[{a}]"));
            }
        }
    }
}

/// Where one side (container or host) of an id mapping starts.
type IdStart = fn(&LinuxIdMapping) -> u32;

/// The indexes of the first two entries whose `[start, start + size)` ranges overlap.
fn first_overlap(list: &[LinuxIdMapping], start: IdStart) -> Option<(usize, usize)> {
    let mut ranges: Vec<(u64, u64, usize)> = list
        .iter()
        .enumerate()
        .map(|(i, m)| (u64::from(start(m)), u64::from(start(m)) + u64::from(m.size()), i))
        .collect();
    ranges.sort_unstable();
    ranges.windows(2).find(|w| w[1].0 < w[0].1).map(|w| {
        let (a, b) = (w[0].2, w[1].2);
        (a.min(b), a.max(b))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    fn paths_of(v: Value) -> Vec<String> {
        let spec = serde_json::from_value(v).unwrap();
        super::super::validate::problems(&spec)
            .into_iter()
            .map(|e| match e {
                crate::spec::SpecError::Invalid { path, .. } => path,
                other => other.to_string(),
            })
            .collect()
    }

    fn base() -> Value {
        json!({
            "ociVersion": "1.2.0",
            "root": { "path": "rootfs" },
            "process": { "args": ["sh"], "cwd": "/", "user": { "uid": 0, "gid": 0 } },
            "linux": { "namespaces": [{ "type": "mount" }, { "type": "user" }],
                       "uidMappings": [{ "containerID": 0, "hostID": 1000, "size": 10 }],
                       "gidMappings": [{ "containerID": 0, "hostID": 1000, "size": 10 }] }
        })
    }

    fn with(ptr: &str, value: Value) -> Value {
        let mut v = base();
        *v.pointer_mut(ptr).unwrap_or_else(|| panic!("{ptr}")) = value;
        v
    }

    #[test]
    fn the_base_is_clean() {
        assert_eq!(paths_of(base()), Vec::<String>::new());
        assert!(paths_of(with("/root/path", json!("/abs/../rootfs"))).is_empty());
        assert!(paths_of(with("/process/cwd", json!("/procfs/x"))).is_empty());
    }

    #[test]
    fn hostile_values_name_their_path() {
        let mut many = base();
        let line = json!({ "containerID": 0, "hostID": 1000, "size": 1 });
        many["linux"]["uidMappings"] = Value::Array(vec![line; 341]);
        let cases = [
            (with("/root/path", json!("../../etc")), "root.path"),
            (with("/process/cwd", json!("/proc/self/fd/3")), "process.cwd"),
            (with("/process/cwd", json!("/proc/1/cwd")), "process.cwd"),
            (
                with(
                    "/linux/uidMappings",
                    json!([
                        { "containerID": 0, "hostID": 1000, "size": 10 },
                        { "containerID": 5, "hostID": 2000, "size": 10 }
                    ]),
                ),
                "linux.uidMappings[1].containerID",
            ),
            (many, "linux.uidMappings"),
            (with("/process/user/uid", json!(4294967295u32)), "process.user.uid"),
            (with("/process/user/gid", json!(2147483648u32)), "process.user.gid"),
            (
                with(
                    "/process/user",
                    json!({ "uid": 0, "gid": 0, "additionalGids": [1, 4294967295u32] }),
                ),
                "process.user.additionalGids[1]",
            ),
            (
                with(
                    "/process/user",
                    json!({ "uid": 0, "gid": 0, "additionalGids": vec![1; 65_537] }),
                ),
                "process.user.additionalGids",
            ),
        ];
        for (v, path) in cases {
            assert_eq!(paths_of(v.clone()), [path], "{v}");
        }
    }

    #[test]
    fn process_ids_and_map_ranges_are_bounded() {
        let mut v = base();
        v["process"]["user"]["uid"] = json!(2147483647u32);
        v["process"]["user"]["additionalGids"] = json!(vec![2147483647u32; 65_536]);
        v["linux"]["gidMappings"] =
            json!([{ "containerID": 1, "hostID": 0, "size": 4294967294u32 }]);
        assert!(paths_of(v).is_empty());
        let mut v = base();
        v["linux"]["gidMappings"] =
            json!([{ "containerID": 1, "hostID": 0, "size": 4294967295u32 }]);
        assert_eq!(paths_of(v), ["linux.gidMappings[0]"]);
        let mut v = base();
        v["mounts"] = json!([{ "destination": "/m", "type": "bind", "source": "/", "options": ["idmap"],
            "uidMappings": [{ "containerID": 0, "hostID": 1000, "size": 1 }],
            "gidMappings": [{ "containerID": 0, "hostID": 4294967295u32, "size": 1 }] }]);
        assert_eq!(paths_of(v), ["mounts[0].gidMappings[0]"]);
    }

    #[test]
    fn resource_numbers_are_bounded() {
        let resources = |r: Value| {
            let mut v = base();
            v["linux"]["resources"] = r;
            v["linux"]["cgroupsPath"] = json!("/a/b");
            paths_of(v)
        };
        assert!(resources(json!({ "pids": { "limit": -1 }, "memory": { "limit": -1 } })).is_empty());
        let cases = [
            (json!({ "pids": { "limit": -5 } }), "linux.resources.pids.limit"),
            (json!({ "memory": { "swap": -2 } }), "linux.resources.memory.swap"),
            (json!({ "cpu": { "shares": 300000 } }), "linux.resources.cpu.shares"),
            (json!({ "cpu": { "period": 10 } }), "linux.resources.cpu.period"),
            (json!({ "cpu": { "quota": -7 } }), "linux.resources.cpu.quota"),
            (json!({ "blockIO": { "weight": 5 } }), "linux.resources.blockIO.weight"),
        ];
        for (r, path) in cases {
            assert_eq!(resources(r.clone()), [path], "{r}");
        }
        let mut v = base();
        v["linux"]["cgroupsPath"] = json!("/berth-test/../../x");
        assert_eq!(paths_of(v), ["linux.cgroupsPath"]);
    }

    #[test]
    fn host_cgroups_are_warned_about() {
        let warned = |path: &str| {
            let mut v = base();
            v["linux"]["cgroupsPath"] = json!(path);
            let spec: oci_spec::runtime::Spec = serde_json::from_value(v).unwrap();
            super::cgroups_path_warning(&spec).is_some()
        };
        for path in
            ["/", "/system.slice", "/init.scope/", "/user.slice", "a.slice/b", "/x/ssh.service"]
        {
            assert!(warned(path), "{path}");
        }
        for path in ["/berth-test/a", "mycontainer", "/slice/x"] {
            assert!(!warned(path), "{path}");
        }
    }
}
