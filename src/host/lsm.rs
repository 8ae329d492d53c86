//! Linux security module labels: `process.apparmorProfile`, `process.selinuxLabel` and
//! `linux.mountLabel`. Each applies only where the kernel runs that LSM; on a host without
//! it the field is refused before anything is created, naming the field (by validation's
//! host checks, through [`super::Probe`], and by `exec` for its label flags).

use std::path::Path;

use crate::spec::ValidProcess;
use crate::sys::procfs::ProcFs;

/// A label the host cannot apply, or could not write.
#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    /// The field's LSM is not running on this host.
    #[error("{field}: {lsm} is not enabled on this host")]
    NotEnabled {
        /// The config path (or the `exec` flag).
        field: &'static str,
        /// `AppArmor` or `SELinux`.
        lsm: &'static str,
    },
    /// Writing the label for the next execve failed.
    #[error("{field}: writing {label:?} to {path}")]
    Write {
        /// The config path.
        field: &'static str,
        /// The label.
        label: String,
        /// The attribute file.
        path: String,
        /// The cause.
        #[source]
        source: crate::sys::SysError,
    },
}

/// Whether AppArmor runs: its module parameter says `Y`.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim_start().starts_with('Y'))
}

/// Whether SELinux runs: selinuxfs is mounted where libselinux looks for it.
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Sets the labels the next execve gives the process, through `procfs` (the container's
/// /proc). AppArmor's own attribute file comes first; older kernels only have the shared
/// one.
pub fn set_exec_labels(procfs: &ProcFs, process: &ValidProcess) -> Result<(), LsmError> {
    if let Some(profile) = &process.apparmor_profile {
        let field = "process.apparmorProfile";
        let text = format!("exec {profile}");
        let own = "attr/apparmor/exec";
        let name = match procfs.own_dir() {
            Ok(dir) if procfs.exists(&dir.join(own)) => own,
            _ => "attr/exec",
        };
        write_attr(procfs, field, name, &text, profile)?;
    }
    if let Some(label) = &process.selinux_label {
        write_attr(procfs, "process.selinuxLabel", "attr/exec", label, label)?;
    }
    Ok(())
}

/// Writes `text` to the calling process's attribute file `name` (`/proc/self/<name>`).
fn write_attr(
    procfs: &ProcFs,
    field: &'static str,
    name: &str,
    text: &str,
    label: &str,
) -> Result<(), LsmError> {
    procfs.write_own(name, text.as_bytes()).map_err(|source| LsmError::Write {
        field,
        label: label.to_string(),
        path: format!("/proc/self/{name}"),
        source,
    })
}

/// The mount data that labels a mount with `linux.mountLabel`: SELinux's `context=` option.
pub fn mount_context(label: &str) -> String {
    format!("context=\"{label}\"")
}
