//! [`build`]: a spec that passed every check, as the typed [`ValidSpec`] the rest of berth
//! reads.

use std::path::PathBuf;

use oci_spec::runtime::Spec;

use super::{devices, hooks, invalid, namespaces, process, resources, root};
use crate::spec::{Namespace, SpecError, TimeClock, ValidSpec};

/// Turns a spec that [`problems`](super::problems) found nothing wrong with into a [`ValidSpec`].
///
/// `bundle` and `root` are the absolute bundle and rootfs paths that load.rs resolved.
pub(in crate::spec) fn build(
    spec: Spec,
    bundle: PathBuf,
    root: PathBuf,
) -> Result<ValidSpec, SpecError> {
    let root_readonly = spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false);
    let process = spec.process().as_ref().ok_or_else(|| invalid("process", "missing"))?;
    let linux = spec.linux().as_ref();
    let namespaces = linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .map(|ns| Namespace {
            kind: crate::spec::NamespaceKind::of(ns.typ()),
            path: ns.path().clone(),
        })
        .collect();
    Ok(ValidSpec {
        oci_version: spec.version().clone(),
        bundle,
        root,
        root_readonly,
        process: process::build_process(process)?,
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|d| !d.is_empty()),
        mounts: spec.mounts().clone().unwrap_or_default(),
        mount_options: (spec.mounts().iter().flatten())
            .map(|m| crate::rootfs::options::parse(m.options().as_deref().unwrap_or_default()))
            .collect(),
        mount_idmaps: root::build_mount_idmaps(&spec),
        mount_label: linux.and_then(|l| l.mount_label().clone()).filter(|l| !l.is_empty()),
        memory_policy: linux
            .and_then(|l| l.memory_policy().as_ref())
            .map(resources::build_memory_policy),
        net_devices: resources::build_net_devices(&spec),
        intel_rdt: linux.and_then(|l| l.intel_rdt().clone()),
        namespaces,
        uid_mappings: namespaces::id_maps(linux.and_then(|l| l.uid_mappings().as_ref())),
        gid_mappings: namespaces::id_maps(linux.and_then(|l| l.gid_mappings().as_ref())),
        devices: devices::build_devices(&spec)?,
        masked_paths: linux.and_then(|l| l.masked_paths().clone()).unwrap_or_default(),
        readonly_paths: linux.and_then(|l| l.readonly_paths().clone()).unwrap_or_default(),
        rootfs_propagation: linux
            .and_then(|l| l.rootfs_propagation().as_deref())
            .and_then(crate::rootfs::options::root_propagation),
        seccomp: linux.and_then(|l| l.seccomp().clone()),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroups_path: linux
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| !p.is_empty()),
        resources: linux.and_then(|l| l.resources().clone()).unwrap_or_default(),
        hooks: hooks::build_hooks(&spec),
        sysctl: linux
            .and_then(|l| l.sysctl().as_ref())
            .map(|s| {
                let mut pairs: Vec<(String, String)> = s.clone().into_iter().collect();
                pairs.sort();
                pairs
            })
            .unwrap_or_default(),
        personality: linux.and_then(|l| l.personality().as_ref()).map(|persona| {
            let domain = crate::seccomp::arch::personality_domain(persona.domain());
            domain | process::personality_flag_bits(persona.flags().as_ref())
        }),
        time_offsets: linux
            .and_then(|l| l.time_offsets().as_ref())
            .into_iter()
            .flatten()
            .map(|(clock, offset)| {
                let clock =
                    if clock == "boottime" { TimeClock::Boottime } else { TimeClock::Monotonic };
                (clock, offset.secs().unwrap_or(0), offset.nanosecs().unwrap_or(0))
            })
            .collect(),
    })
}
