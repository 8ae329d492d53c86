//! `root` and `mounts`: the rootfs, mount destinations, id-mapped mounts, propagation,
//! masked and read-only paths.

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::*;

use super::Problems;
use crate::spec::{IdMap, SpecError};

/// Whether `path` is absolute and has no `..` component.
pub(super) fn is_clean_absolute(path: &Path) -> bool {
    path.is_absolute() && !path.components().any(|c| c == Component::ParentDir)
}

pub(super) fn check_root(spec: &Spec, p: &mut Problems) {
    match spec.root() {
        None => p.push("root", "missing"),
        Some(root) if root.path().as_os_str().is_empty() => p.push("root.path", "missing"),
        Some(_) => {}
    }
}

pub(super) fn check_mounts(spec: &Spec, p: &mut Problems) {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !is_clean_absolute(m.destination()) {
            p.push(
                format!("mounts[{i}].destination"),
                format!("{:?} must be an absolute path without \"..\"", m.destination()),
            );
        }
    }
}

pub(super) fn check_rootfs_propagation(spec: &Spec, p: &mut Problems) {
    let Some(mode) = spec.linux().as_ref().and_then(|l| l.rootfs_propagation().as_deref()) else {
        return;
    };
    const MODES: &[&str] = &[
        "shared",
        "rshared",
        "slave",
        "rslave",
        "private",
        "rprivate",
        "unbindable",
        "runbindable",
    ];
    if !mode.is_empty() && !MODES.contains(&mode) {
        p.push("linux.rootfsPropagation", format!("{mode:?} is not one of {}", MODES.join(", ")));
    }
}

pub(super) fn check_masked_readonly_paths(spec: &Spec, p: &mut Problems) {
    let Some(linux) = spec.linux() else { return };
    for (field, list) in
        [("maskedPaths", linux.masked_paths()), ("readonlyPaths", linux.readonly_paths())]
    {
        for (i, path) in list.iter().flatten().enumerate() {
            if !is_clean_absolute(Path::new(path)) {
                p.push(
                    format!("linux.{field}[{i}]"),
                    format!("{path:?} must be an absolute path without \"..\""),
                );
            }
        }
    }
}

/// What an id-mapped mount maps: the mount's own maps, or the container's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountIdMaps {
    /// uid maps.
    pub uids: Vec<IdMap>,
    /// gid maps.
    pub gids: Vec<IdMap>,
    /// `ridmap`: submounts are id-mapped too.
    pub recursive: bool,
}

pub(super) fn maps(list: &[LinuxIdMapping]) -> Vec<IdMap> {
    list.iter()
        .map(|m| IdMap { container_id: m.container_id(), host_id: m.host_id(), size: m.size() })
        .collect()
}

pub(super) fn wants_idmap(m: &Mount) -> Option<bool> {
    let options = m.options().as_deref().unwrap_or_default();
    let recursive = options.iter().any(|o| o == "ridmap");
    let asked = recursive || options.iter().any(|o| o == "idmap");
    let mapped = m.uid_mappings().is_some() || m.gid_mappings().is_some();
    (asked || mapped).then_some(recursive)
}

pub(super) fn check_mount_idmaps(spec: &Spec, p: &mut Problems) {
    let linux = spec.linux().as_ref();
    let container_maps = linux.is_some_and(|l| l.uid_mappings().is_some());
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if wants_idmap(m).is_none() {
            continue;
        }
        let is_bind = m.typ().as_deref() == Some("bind")
            || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind");
        if !is_bind {
            p.push(format!("mounts[{i}].options"), "id-mapped mounts must be bind mounts");
        }
        match (m.uid_mappings(), m.gid_mappings()) {
            (Some(u), Some(g)) => {
                for (field, list) in [("uidMappings", u), ("gidMappings", g)] {
                    if list.is_empty() || list.iter().any(|m| m.size() == 0) {
                        p.push(format!("mounts[{i}].{field}"), "needs entries of non-zero size");
                    }
                    super::namespaces::check_id_map_ranges(&format!("mounts[{i}].{field}"), list, p);
                }
            }
            (None, None) if container_maps => {}
            (None, None) => p.push(
                format!("mounts[{i}].uidMappings"),
                "idmap needs uidMappings and gidMappings (here or in a user namespace's linux.uidMappings)",
            ),
            (None, Some(_)) => p.push(format!("mounts[{i}].uidMappings"), "missing: gidMappings is set"),
            (Some(_), None) => p.push(format!("mounts[{i}].gidMappings"), "missing: uidMappings is set"),
        }
    }
}

/// The id maps of `mounts[i]`, when it is id-mapped (a spec that passed the checks).
pub(super) fn build_mount_idmaps(spec: &Spec) -> Vec<Option<MountIdMaps>> {
    let linux = spec.linux().as_ref();
    let container = |get: fn(&oci_spec::runtime::Linux) -> &Option<Vec<LinuxIdMapping>>| {
        linux.and_then(|l| get(l).as_deref()).map(maps).unwrap_or_default()
    };
    spec.mounts()
        .iter()
        .flatten()
        .map(|m| {
            let recursive = wants_idmap(m)?;
            let (uids, gids) = match (m.uid_mappings(), m.gid_mappings()) {
                (Some(u), Some(g)) => (maps(u), maps(g)),
                _ => (container(|l| l.uid_mappings()), container(|l| l.gid_mappings())),
            };
            Some(MountIdMaps { uids, gids, recursive })
        })
        .collect()
}

pub(super) fn has_parent_component(path: &Path) -> bool {
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

/// `root.path` resolved against the bundle, checked to be a directory.
pub(in crate::spec) fn rootfs(bundle: &Path, spec: &Spec) -> Result<PathBuf, SpecError> {
    let given = spec.root().as_ref().map(|r| r.path().as_path()).unwrap_or(Path::new(""));
    if given.as_os_str().is_empty() {
        return Err(SpecError::Invalid { path: "root.path".into(), reason: "missing".into() });
    }
    let root = bundle.join(given);
    let invalid = |reason: String| SpecError::Invalid { path: "root.path".into(), reason };
    match std::fs::metadata(&root) {
        Ok(meta) if meta.is_dir() => Ok(root),
        Ok(_) => Err(invalid(format!("{} is not a directory", root.display()))),
        Err(e) => Err(invalid(format!("{}: {e}", root.display()))),
    }
}
