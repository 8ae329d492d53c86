//! `linux.namespaces` and the fields that need one: id mappings, hostname and domainname,
//! sysctl, time offsets.

use std::collections::HashSet;
use std::path::PathBuf;

use oci_spec::runtime::*;

use super::Problems;
use crate::spec::{IdMap, NamespaceKind};

pub(super) fn check_time_offsets(spec: &Spec, p: &mut Problems) {
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().as_ref()) else {
        return;
    };
    if offsets.is_empty() {
        return;
    }
    if namespace_entry(spec, LinuxNamespaceType::Time) != Some(None) {
        p.push("linux.timeOffsets", "needs a new time namespace in linux.namespaces");
    }
    for (clock, offset) in offsets {
        if clock != "monotonic" && clock != "boottime" {
            p.push(
                format!("linux.timeOffsets.{clock}"),
                "only monotonic and boottime can be offset",
            );
        }
        if offset.nanosecs().unwrap_or(0) >= 1_000_000_000 {
            p.push(format!("linux.timeOffsets.{clock}.nanosecs"), "must be below 1000000000");
        }
    }
}

/// The kind of a `linux.namespaces[].type`.
pub(super) fn namespace_kind(typ: LinuxNamespaceType) -> NamespaceKind {
    NamespaceKind::of(typ)
}

pub(super) fn id_maps(maps: Option<&Vec<LinuxIdMapping>>) -> Vec<IdMap> {
    maps.into_iter()
        .flatten()
        .map(|m| IdMap { container_id: m.container_id(), host_id: m.host_id(), size: m.size() })
        .collect()
}

/// The namespace entry of `typ`: `None` when not listed, `Some(path)` when listed.
pub(super) fn namespace_entry(spec: &Spec, typ: LinuxNamespaceType) -> Option<Option<&PathBuf>> {
    let linux = spec.linux().as_ref()?;
    let ns = linux.namespaces().as_ref()?.iter().find(|ns| ns.typ() == typ)?;
    Some(ns.path().as_ref())
}

/// Linux's `HOST_NAME_MAX` and the limit of `setdomainname`.
pub(super) const UTS_NAME_MAX: usize = 64;

/// A hostname or domainname needs a UTS namespace of the container's own: a new one, or one
/// joined by path (set inside it, as runc and crun do), never the runtime's.
pub(super) fn check_uts(spec: &Spec, p: &mut Problems) {
    let private_uts = namespace_entry(spec, LinuxNamespaceType::Uts).is_some();
    let names = [("hostname", spec.hostname()), ("domainname", spec.domainname())];
    for (field, value) in names {
        let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else { continue };
        if !private_uts {
            p.push(
                field,
                format!("unable to set {field} without a UTS namespace in linux.namespaces"),
            );
        }
        if value.len() > UTS_NAME_MAX || value.contains('\0') {
            p.push(field, format!("must be at most {UTS_NAME_MAX} bytes, without NUL"));
        }
    }
}

/// The namespace a sysctl key belongs to (as runc decides it), or `None` when it is not
/// namespaced at all and so would change the host.
pub(super) fn sysctl_namespace(key: &str) -> Option<(LinuxNamespaceType, &'static str)> {
    const IPC_KEYS: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        Some((LinuxNamespaceType::Ipc, "ipc"))
    } else if key.starts_with("net.") {
        Some((LinuxNamespaceType::Network, "network"))
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some((LinuxNamespaceType::Uts, "uts"))
    } else {
        None
    }
}

/// Why a UTS sysctl conflicts with the config field made for it: `kernel.hostname` always
/// (the `hostname` field says it, as runc rules), `kernel.domainname` when `domainname`
/// gives another value (which one would win depends on the order of two steps).
pub(super) fn uts_field_conflict(spec: &Spec, key: &str, value: &str) -> Option<&'static str> {
    match key {
        "kernel.hostname" => Some("conflicts with the `hostname` field; set that instead"),
        "kernel.domainname" => spec
            .domainname()
            .as_deref()
            .filter(|field| *field != value)
            .map(|_| "conflicts with the `domainname` field, which gives another value"),
        _ => None,
    }
}

pub(super) fn check_sysctl(spec: &Spec, p: &mut Problems) {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else { return };
    for key in sysctl.keys() {
        let at = format!("linux.sysctl.{key}");
        if key.is_empty()
            || key.contains(['/', '\0'])
            || key.split('.').any(|part| part.is_empty() || part == "..")
        {
            p.push(at, "is not a sysctl name");
            continue;
        }
        let Some((typ, name)) = sysctl_namespace(key) else {
            p.push(at, "is not namespaced: setting it would change the host");
            continue;
        };
        if let Some(conflict) = uts_field_conflict(spec, key, &sysctl[key]) {
            p.push(at, conflict);
            continue;
        }
        let owned = match namespace_entry(spec, typ) {
            Some(None) => true,
            // A joined network namespace is the container's own (e.g. a pod's); runc allows it.
            Some(Some(_)) => typ == LinuxNamespaceType::Network,
            None => false,
        };
        if !owned {
            p.push(at, format!("needs the container's own {name} namespace"));
        }
    }
}

pub(super) fn check_namespaces(spec: &Spec, p: &mut Problems) {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    let mut seen = HashSet::new();
    for (i, ns) in namespaces.into_iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            p.push(format!("linux.namespaces[{i}].type"), format!("{} is listed twice", ns.typ()));
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                p.push(format!("linux.namespaces[{i}].path"), format!("{path:?} must be absolute"));
            }
        }
    }
    if !seen.contains(&LinuxNamespaceType::Mount) {
        check_without_mount_namespace(spec, p);
    }
}

/// Without a mount namespace the container shares the runtime's, as the spec says of an
/// absent namespace, and its process is only chrooted into `root.path`. Every field that
/// would mount (and so change the host's mount table) needs a namespace of its own.
pub(super) fn check_without_mount_namespace(spec: &Spec, p: &mut Problems) {
    let linux = spec.linux().as_ref();
    let non_empty = |v: Option<&Vec<_>>| v.is_some_and(|v: &Vec<String>| !v.is_empty());
    let asks = [
        ("mounts", spec.mounts().as_ref().is_some_and(|m| !m.is_empty())),
        ("linux.maskedPaths", non_empty(linux.and_then(|l| l.masked_paths().as_ref()))),
        ("linux.readonlyPaths", non_empty(linux.and_then(|l| l.readonly_paths().as_ref()))),
        ("linux.devices", linux.and_then(|l| l.devices().as_ref()).is_some_and(|d| !d.is_empty())),
        ("linux.rootfsPropagation", linux.and_then(|l| l.rootfs_propagation().as_ref()).is_some()),
        ("root.readonly", spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false)),
    ];
    for (field, asked) in asks {
        if asked {
            p.push(field, "needs a mount namespace in linux.namespaces (without one berth leaves the host's mounts alone and only chroots into root.path)");
        }
    }
}

pub(super) fn check_id_mappings(spec: &Spec, p: &mut Problems) {
    let (uid, gid) = match spec.linux() {
        Some(l) => {
            (l.uid_mappings().as_deref().unwrap_or(&[]), l.gid_mappings().as_deref().unwrap_or(&[]))
        }
        None => (&[][..], &[][..]),
    };
    let maps = [("linux.uidMappings", uid), ("linux.gidMappings", gid)];
    match namespace_entry(spec, LinuxNamespaceType::User) {
        None => {
            for (field, list) in maps {
                if !list.is_empty() {
                    p.push(field, "mappings need a user namespace in linux.namespaces");
                }
            }
        }
        Some(Some(_)) => {
            for (field, list) in maps {
                if !list.is_empty() {
                    p.push(field, "mappings cannot be set when joining an existing user namespace");
                }
            }
        }
        Some(None) => {
            for (field, list) in maps {
                if list.is_empty() {
                    p.push(field, "a new user namespace needs mappings");
                }
            }
        }
    }
    for (field, list) in maps {
        for (i, m) in list.iter().enumerate() {
            if m.size() == 0 {
                p.push(format!("{field}[{i}].size"), "must be more than 0");
            }
        }
        check_id_map_ranges(field, list, p);
    }
}

/// The kernel's limit on lines of one uid_map or gid_map (user_namespaces(7), since 4.15).
pub(super) const MAX_ID_MAP_LINES: usize = 340;

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
pub(super) type IdStart = fn(&LinuxIdMapping) -> u32;

/// The indexes of the first two entries whose `[start, start + size)` ranges overlap.
pub(super) fn first_overlap(list: &[LinuxIdMapping], start: IdStart) -> Option<(usize, usize)> {
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
