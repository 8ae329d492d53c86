//! `berth features`: the OCI runtime-features document, listing only what this build does.
//!
//! Each list comes from the table the implementing code itself uses (mount options,
//! seccomp actions, operators and flags); the integration tests exercise every entry.

use oci_spec::runtime::LinuxNamespaceType;
use serde_json::{json, Value};

/// The oldest `ociVersion` berth accepts (validation takes any 1.x).
pub const OCI_VERSION_MIN: &str = "1.0.0";

/// Every hook berth runs, by its config.json name.
pub const HOOKS: &[&str] =
    &["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

/// Every namespace type berth creates or joins.
const NAMESPACES: &[LinuxNamespaceType] = &[
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::User,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Time,
];

/// The features document. `supportedFlags` is the one part that depends on the running
/// kernel, as the spec allows; the rest is fixed by this build.
pub fn features() -> Value {
    let names = |v: Vec<Value>| Value::Array(v);
    let seccomp = json!({
        "enabled": true,
        "actions": names(crate::seccomp::ACTIONS.iter().map(|a| json!(a)).collect()),
        "operators": names(crate::seccomp::OPERATORS.iter().map(|o| json!(o)).collect()),
        "archs": names(crate::seccomp::known_archs().into_iter().map(|a| json!(a)).collect()),
        "knownFlags": names(crate::seccomp::FLAGS.iter().map(|(_, n, _)| json!(n)).collect()),
        "supportedFlags": names(
            crate::seccomp::FLAGS
                .iter()
                .filter(|(_, _, bit)| crate::seccomp::flag_supported(*bit))
                .map(|(_, n, _)| json!(n))
                .collect()
        ),
    });
    let mut capabilities: Vec<caps::Capability> = caps::all().into_iter().collect();
    capabilities.sort_by_key(|c| c.index());
    let mut annotations = json!({ "berth.version": env!("CARGO_PKG_VERSION") });
    // Rootless (tests/integration/rootless.rs, rootless_more.rs): an unprivileged user's own
    // ids, or more through newuidmap/newgidmap within /etc/subuid and /etc/subgid (or the
    // subid service nsswitch.conf names); cgroups where delegated to the user on cgroupfs,
    // and with --systemd-cgroup a scope of the user's own systemd instance on cgroup v2
    // (vm_systemd_user.rs, in the systemd guest).
    annotations["org.berth.rootless"] = json!("true");
    annotations["org.berth.rootless.idmap"] = json!("own-id,newuidmap");
    annotations["org.berth.rootless.cgroup"] = json!("delegated-cgroupfs,systemd-user");
    if let Some(v) = crate::seccomp::library_version() {
        annotations["io.github.seccomp.libseccomp.version"] = json!(v);
    }
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": crate::OCI_VERSION,
        "hooks": HOOKS,
        "mountOptions": crate::rootfs::MOUNT_OPTIONS,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": capabilities.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            // cgroupfs v1 and v2 (tests/integration/cgroups.rs on the host, vm.rs on a pure v2
            // kernel); --systemd-cgroup on the system bus (vm_systemd.rs and systemd_driver.rs
            // in a systemd guest, v2 and hybrid) and, rootless, on the user's bus
            // (vm_systemd_user.rs, v2); rdma.max is written on v2 but untested.
            "cgroup": { "v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": false },
            "seccomp": seccomp,
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            // tests/integration/isolation.rs: idmapped_mount_* (with and without a user ns).
            "mountExtensions": { "idmap": { "enabled": true } }
        },
        "annotations": annotations
    })
}

/// Adds checkpoint/restore to `features` (annotation `org.berth.checkpoint`: `criu <version>`)
/// only when criu is found and `criu check` passes on this kernel (the verdict cached in the
/// state root `root`, see [`crate::checkpoint::cached_check`]); nothing is run when criu is
/// absent.
pub fn add_checkpoint(
    features: &mut Value,
    criu: Option<&std::path::Path>,
    root: &std::path::Path,
) {
    use crate::checkpoint::{cached_check, CheckOutcome, Reuse};
    let Ok(criu) = crate::checkpoint::locate(criu) else { return };
    if let CheckOutcome::Passed { version } = cached_check(&criu.path, root, Reuse::Any).outcome {
        features["annotations"]["org.berth.checkpoint"] = json!(format!("criu {version}"));
    }
}
