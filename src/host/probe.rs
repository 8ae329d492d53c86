//! [`Probe`]: this host's answers to what a config asks of it, for the host checks of
//! validation. Each answer is read when asked (a few stats and small /proc and /sys files).

use std::collections::BTreeSet;

use oci_spec::runtime::Arch;

use crate::spec::{HostFacts, IdMap, SpecError};

/// This host, as [`HostFacts`] (a unit value: nothing is read before it is asked).
#[derive(Debug, Clone, Copy, Default)]
pub struct Probe;

impl HostFacts for Probe {
    fn namespace_names(&self) -> BTreeSet<String> {
        // One getdents: a lookup per namespace costs more (measured on this host).
        std::fs::read_dir("/proc/self/ns")
            .map(|dir| {
                dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default()
    }

    fn apparmor_enabled(&self) -> bool {
        super::lsm::apparmor_enabled()
    }

    fn selinux_enabled(&self) -> bool {
        super::lsm::selinux_enabled()
    }

    fn mount_setattr(&self) -> bool {
        crate::sys::mount::mount_setattr_available()
    }

    fn seccomp_arch_usable(&self, arch: Arch) -> bool {
        crate::seccomp::arch_usable(arch)
    }

    fn syscall_known(&self, name: &str) -> bool {
        crate::seccomp::syscall_known(name)
    }

    fn cgroup_v2(&self) -> bool {
        crate::cgroups::is_unified()
    }

    fn cgroup_controllers(&self, v2: bool) -> BTreeSet<String> {
        available_controllers(v2)
    }

    fn net_device_exists(&self, name: &str) -> bool {
        super::netdev::exists(name)
    }

    fn resctrl_mounted(&self) -> bool {
        super::resctrl::mounted()
    }

    fn subordinate_ids(
        &self,
        new_user_ns: bool,
        uids: &[IdMap],
        gids: &[IdMap],
    ) -> Result<(), SpecError> {
        crate::subid::check_maps(new_user_ns, uids, gids)
    }
}

/// The controllers of the host: cgroup.controllers of the v2 root, or the v1 controllers
/// /proc/cgroups lists as enabled and mounted (hierarchy id not 0); one small file either way.
fn available_controllers(v2: bool) -> BTreeSet<String> {
    if v2 {
        let list = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
        return list.split_whitespace().map(str::to_owned).collect();
    }
    let table = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [name, hierarchy, _, "1"] if hierarchy != "0" => Some(name.to_owned()),
            _ => None,
        })
        .collect()
}
