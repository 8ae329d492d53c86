//! `linux.intelRdt` needs the resctrl filesystem at /sys/fs/resctrl. berth checks for it
//! before creating anything, so a host without it gets an error naming the field.

use std::path::Path;

/// Where the kernel's resctrl filesystem is mounted.
pub const RESCTRL: &str = "/sys/fs/resctrl";

/// `RDTGROUP_SUPER_MAGIC` of statfs(2).
const RESCTRL_MAGIC: i64 = 0x7655821;

/// Why `linux.intelRdt` cannot be applied here.
#[derive(Debug, thiserror::Error)]
pub enum RdtError {
    /// resctrl is not mounted.
    #[error("linux.intelRdt: resctrl is not mounted at {RESCTRL} (no Intel RDT or AMD QoS on this host, or not mounted)")]
    NotMounted,
    /// resctrl is mounted, but berth does not drive it yet.
    #[error(
        "linux.intelRdt: resctrl is mounted at {RESCTRL}, but berth does not apply Intel RDT yet"
    )]
    NotImplemented,
}

/// Whether resctrl is mounted at [`RESCTRL`].
pub fn mounted() -> bool {
    nix::sys::statfs::statfs(Path::new(RESCTRL))
        .is_ok_and(|s| i64::from(s.filesystem_type().0) == RESCTRL_MAGIC)
}

/// Refuses `linux.intelRdt` (`asked`) on this host, saying why.
pub fn check(asked: bool) -> Result<(), RdtError> {
    match (asked, mounted()) {
        (false, _) => Ok(()),
        (true, false) => Err(RdtError::NotMounted),
        (true, true) => Err(RdtError::NotImplemented),
    }
}
