//! `linux.intelRdt` through the resctrl filesystem at /sys/fs/resctrl: the container's init
//! joins a resource group — `closID` when given (shared, created if missing), else one named
//! after the container, which berth creates and removes with it. Schemata lines go to the
//! group's `schemata` file; for a group that already exists they must match what it has.
//!
//! Without resctrl mounted the field is refused before anything is created (validation's
//! host checks ask [`mounted`] through [`super::Probe`]).

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxIntelRdt;

/// Where the kernel's resctrl filesystem is mounted.
pub use crate::spec::RESCTRL;

/// `RDTGROUP_SUPER_MAGIC` of statfs(2).
const RESCTRL_MAGIC: i64 = 0x7655821;

/// Why `linux.intelRdt` cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum RdtError {
    /// An existing group's schemata differ from the config's.
    #[error("linux.intelRdt: group {group} exists with other schemata (missing {line:?})")]
    Mismatch {
        /// The group's directory.
        group: PathBuf,
        /// The first requested line it lacks.
        line: String,
    },
    /// A resctrl file could not be written or read.
    #[error("linux.intelRdt: {what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Whether resctrl is mounted at [`RESCTRL`].
pub fn mounted() -> bool {
    nix::sys::statfs::statfs(Path::new(RESCTRL))
        .is_ok_and(|s| s.filesystem_type().0 == RESCTRL_MAGIC)
}

/// The schemata lines the config asks for, in the spec's order.
fn schemata_lines(rdt: &LinuxIntelRdt) -> Vec<String> {
    let single = [rdt.l3_cache_schema(), rdt.mem_bw_schema()];
    let extra = rdt.schemata().iter().flatten();
    single
        .into_iter()
        .flatten()
        .chain(extra)
        .flat_map(|text| text.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The first of `wanted` that `current` (a schemata file) does not hold; resctrl prints
/// each resource on a line of its own, so lines are compared after trimming.
fn first_missing<'a>(current: &str, wanted: &'a [String]) -> Option<&'a String> {
    let have: Vec<&str> = current.lines().map(str::trim).collect();
    wanted.iter().find(|w| !have.contains(&w.as_str()))
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> RdtError + 'a {
    move |source| RdtError::Io { what, path: path.into(), source }
}

/// Puts `pid` into the container's resource group; returns the group's directory when
/// berth created it (to be removed with the container).
pub fn join(rdt: &LinuxIntelRdt, id: &str, pid: i32) -> Result<Option<PathBuf>, RdtError> {
    let name = rdt.clos_id().as_deref().unwrap_or(id);
    let group = Path::new(RESCTRL).join(name);
    let created = match std::fs::create_dir(&group) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(io("creating", &group)(e)),
    };
    let fail = |err: RdtError| {
        if created {
            let _ = std::fs::remove_dir(&group);
        }
        err
    };
    let wanted = schemata_lines(rdt);
    let schemata = group.join("schemata");
    if created {
        for line in &wanted {
            std::fs::write(&schemata, format!("{line}\n"))
                .map_err(io("writing", &schemata))
                .map_err(fail)?;
        }
    } else if !wanted.is_empty() {
        let current = std::fs::read_to_string(&schemata).map_err(io("reading", &schemata))?;
        if let Some(line) = first_missing(&current, &wanted) {
            return Err(RdtError::Mismatch { group, line: line.clone() });
        }
    }
    let tasks = group.join("tasks");
    std::fs::write(&tasks, pid.to_string()).map_err(io("writing", &tasks)).map_err(fail)?;
    Ok(created.then_some(group))
}

/// Adds `pid` (a process `exec`ed into the container) to the container's existing group.
pub fn add_task(rdt: &LinuxIntelRdt, id: &str, pid: i32) -> Result<(), RdtError> {
    let name = rdt.clos_id().as_deref().unwrap_or(id);
    let tasks = Path::new(RESCTRL).join(name).join("tasks");
    std::fs::write(&tasks, pid.to_string()).map_err(io("writing", &tasks))
}

/// Removes a group [`join`] created; one already gone is fine.
pub fn remove(group: &Path) -> Result<(), RdtError> {
    match std::fs::remove_dir(group) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(RdtError::Io { what: "removing", path: group.into(), source: e })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdt(v: serde_json::Value) -> LinuxIntelRdt {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn schemata_in_spec_order() {
        let r = rdt(serde_json::json!({
            "l3CacheSchema": "L3:0=7f0",
            "memBwSchema": "MB:0=20",
            "schemata": ["L2:0=ff", " "]
        }));
        assert_eq!(schemata_lines(&r), ["L3:0=7f0", "MB:0=20", "L2:0=ff"]);
        assert!(schemata_lines(&rdt(serde_json::json!({ "closID": "g" }))).is_empty());
    }

    #[test]
    fn existing_schemata_must_hold_the_requested_lines() {
        let current = "    MB:0=100\n    L3:0=7f0\n";
        let wanted = vec!["L3:0=7f0".to_string()];
        assert_eq!(first_missing(current, &wanted), None);
        let wanted = vec!["L3:0=7f0".to_string(), "MB:0=20".to_string()];
        assert_eq!(first_missing(current, &wanted).map(String::as_str), Some("MB:0=20"));
    }
}
