//! Validation of a config, one file per config section, behind one entry point.
//!
//! [`problems`] is the entry point: it runs the spec's own checks (which touch nothing), the
//! rootfs check, then the host checks, and returns every problem in the order a reader of the
//! config meets them. `create` (through [`load`](super::load)) stops at the first, `berth
//! check` prints them all, so both say the same thing by construction; `exec` runs the
//! process checks ([`process`]) on the process it starts. [`build`] then turns a spec that
//! passed into a [`ValidSpec`](super::ValidSpec).
//!
//! The sections: [`top`] (ociVersion, annotations, NUL bytes, other platforms), [`process`],
//! [`root`] (root and mounts), [`namespaces`] (namespaces, id mappings, UTS names, sysctl,
//! time offsets), [`devices`] (`linux.devices`), [`resources`] (cgroup resources, memory
//! policy, net devices, Intel RDT), [`seccomp`], [`hooks`] and [`host`] (what this host offers, through a
//! [`HostFacts`] the caller passes in).

use std::path::Path;

use oci_spec::runtime::{Process, Spec};

use super::{SpecError, ValidProcess};

mod build;
mod devices;
mod hooks;
mod host;
mod namespaces;
mod process;
mod resources;
mod root;
mod seccomp;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bounds;
mod top;

pub(super) use build::build;
pub use devices::{Device, DeviceKind};
pub(super) use host::Scope;
pub use host::{HostFacts, RESCTRL};
pub use process::{
    cwd_problem, env_problem, id_out_of_range, is_under_proc, EnvProblem, ExecAffinity, MAX_ID,
};
pub use resources::{MemoryPolicy, NetDevice};
pub(super) use root::rootfs;
pub use root::MountIdMaps;

/// The collected problems of one config, in the order the checks found them.
#[derive(Default)]
pub(super) struct Problems(Vec<SpecError>);

impl Problems {
    /// Records that the field at config path `path` is wrong for `reason`.
    pub(super) fn push(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.0.push(invalid(path, reason));
    }
}

/// A problem with the field at config path `path`.
fn invalid(path: impl Into<String>, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid { path: path.into(), reason: reason.into() }
}

/// A check of the spec alone.
type Check = fn(&Spec, &mut Problems);

/// Every check of the spec alone, in config order so that the first problem is the first a
/// reader meets.
const CHECKS: &[Check] = &[
    top::check_version,
    root::check_root,
    root::check_mounts,
    root::check_mount_idmaps,
    process::check_process,
    process::check_process_ids,
    process::check_env,
    process::check_rlimits,
    process::check_capabilities,
    process::check_exec_cpu_affinity,
    process::check_lsm_labels,
    namespaces::check_uts,
    hooks::check_hooks,
    namespaces::check_sysctl,
    process::check_scheduling,
    process::check_personality_flags,
    namespaces::check_time_offsets,
    top::check_annotations,
    namespaces::check_namespaces,
    namespaces::check_id_mappings,
    devices::check_devices,
    root::check_rootfs_propagation,
    root::check_masked_readonly_paths,
    seccomp::check_seccomp,
    resources::check_resources,
    resources::check_memory_policy,
    resources::check_net_devices,
    resources::check_intel_rdt,
    top::check_other_platforms,
    root::check_root_stays_in_bundle,
    top::check_nul_bytes,
    process::check_cwd_not_in_proc,
    resources::check_cgroups_path,
    resources::check_resource_ranges,
    namespaces::check_id_map_shape,
];

/// The checks that concern `process` alone, for `exec`.
const PROCESS_CHECKS: &[Check] = &[
    process::check_process,
    process::check_process_ids,
    process::check_env,
    process::check_rlimits,
    process::check_capabilities,
    process::check_scheduling,
    process::check_exec_cpu_affinity,
    process::check_lsm_labels,
    top::check_nul_bytes,
    process::check_cwd_not_in_proc,
];

/// Every problem of `spec`, the config of the bundle `bundle` (absolute), on the host
/// `host`: the spec's own checks, then `root.path`, then the host's checks for `scope`.
/// Empty when the config can be run. The one entry point of `create`, `exec` and `check`.
pub(super) fn problems(
    spec: &Spec,
    bundle: &Path,
    host: &dyn HostFacts,
    scope: Scope,
) -> Vec<SpecError> {
    let mut found = spec_problems(spec);
    let root_given = spec.root().as_ref().is_some_and(|r| !r.path().as_os_str().is_empty());
    if root_given {
        found.extend(rootfs(bundle, spec).err());
    }
    found.extend(host::problems(spec, bundle, host, scope));
    found
}

/// The problems of `spec` found without looking at the system.
fn spec_problems(spec: &Spec) -> Vec<SpecError> {
    let mut problems = Problems::default();
    for check in CHECKS {
        check(spec, &mut problems);
    }
    problems.0
}

/// What works but may not do what the author meant (see [`super::warnings`]).
pub(super) fn warnings(spec: &Spec, host: &dyn HostFacts) -> Vec<SpecError> {
    let mut found = process::warnings(spec);
    found.extend(resources::cgroups_path_warning(spec));
    found.extend(host::warnings(spec, host));
    found
}

/// Validates a lone `process` object (runc's process.json for `exec`, or the container's
/// process with `exec`'s flags applied) and its labels against `host`; the first problem.
pub(super) fn process(process: Process, host: &dyn HostFacts) -> Result<ValidProcess, SpecError> {
    let mut spec = Spec::default();
    spec.set_process(Some(process));
    let mut problems = Problems::default();
    for check in PROCESS_CHECKS {
        check(&spec, &mut problems);
    }
    problems.0.extend(host::process_problems(&spec, host));
    match problems.0.into_iter().next() {
        Some(first) => Err(first),
        None => process::build_process(spec.process().as_ref().expect("set above")),
    }
}
