//! What `create` does when running rootless and the cgroup is not the caller's to write
//! (not delegated to it): the container runs without a cgroup, as with runc, and one warning
//! says which `linux.resources` were not applied.

use crate::cgroups::{Applying, Cgroup, CgroupError};
use crate::spec::ValidSpec;
use oci_spec::runtime::LinuxResources;

/// Whether `create` goes on without `cgroup`: only rootless, and only when making it
/// (`made`) or (for an unprivileged user) opening it to join was refused for lack of
/// permission. The host's root with its cgroup made asks nothing more: no extra call.
pub(super) fn skips_cgroup(made: &Result<(), CgroupError>, cgroup: &Cgroup) -> bool {
    match made {
        Err(err) => err.is_permission() && crate::rootless::active(),
        Ok(()) => {
            !nix::unistd::geteuid().is_root()
                && crate::rootless::active()
                && cgroup.entry().is_err_and(|err| err.is_permission())
        }
    }
}

/// The resources to apply and how: for an unprivileged user, all but the device rules, and
/// no default rules either (device access stays as the cgroup's owner set it): cgroup v1
/// takes them only from CAP_SYS_ADMIN, runc ignores them there too, and a user namespace
/// cannot make device nodes anyway.
pub(super) fn applicable(
    resources: &LinuxResources,
    applying: Applying,
) -> (std::borrow::Cow<'_, LinuxResources>, Applying) {
    // Checked by the effective uid first: the host's root reads no uid_map here.
    let unprivileged = !nix::unistd::geteuid().is_root() && crate::rootless::active();
    if !unprivileged {
        return (std::borrow::Cow::Borrowed(resources), applying);
    }
    let mut without = resources.clone();
    without.set_devices(None);
    (std::borrow::Cow::Owned(without), Applying::CreateExisting)
}

/// The one warning of a container without a cgroup, when the config sets limits that it
/// then goes without (device rules aside: a user namespace cannot make device nodes).
pub(super) fn warn_skipped(spec: &ValidSpec, cgroup: &Cgroup) {
    let limits = limits_set(&spec.resources);
    if limits.is_empty() {
        return;
    }
    let dir = cgroup.to_paths().into_values().next().unwrap_or_default();
    let msg = format!(
        "rootless: cgroup {} is not writable by uid {} (not delegated): linux.resources.{{{}}} not applied",
        dir.display(),
        nix::unistd::geteuid(),
        limits.join(",")
    );
    crate::logging::log(crate::logging::Level::Warning, &msg);
}

/// The sections of `linux.resources` the config sets, devices aside.
fn limits_set(resources: &LinuxResources) -> Vec<String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(resources) else {
        return Vec::new();
    };
    map.into_iter()
        .filter(|(key, value)| key != "devices" && !value.is_null())
        .map(|(key, _)| key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_alone_are_no_limits() {
        let r: oci_spec::runtime::LinuxResources = serde_json::from_value(serde_json::json!({
            "devices": [{ "allow": false, "access": "rwm" }]
        }))
        .unwrap();
        assert!(limits_set(&r).is_empty());
        let r: oci_spec::runtime::LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": { "limit": 1048576 }, "pids": { "limit": 10 }
        }))
        .unwrap();
        assert_eq!(limits_set(&r), ["memory", "pids"]);
    }
}
