//! The `mounts[].options` table: each option sets or clears a mount flag, asks for a
//! propagation change, or is passed to the filesystem as mount data.

use nix::mount::MsFlags;

/// What a mount's options ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountOptions {
    /// Flags for the mount call.
    pub flags: MsFlags,
    /// Flags an option explicitly turned off (`rw`, `suid`, …); a remount must not keep them.
    pub cleared: MsFlags,
    /// Propagation changes, applied in order by separate calls after the mount.
    pub propagation: Vec<MsFlags>,
    /// Options the kernel flags do not know, joined with `,` for the filesystem.
    pub data: String,
    /// `tmpcopyup`: fill a new tmpfs with what the image has at its mount point.
    pub copy_up: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            copy_up: false,
        }
    }
}

enum Effect {
    Set(MsFlags),
    Clear(MsFlags),
    Propagate(MsFlags),
    CopyUp,
    Nothing,
}

fn effect(option: &str) -> Option<Effect> {
    use Effect::*;
    Some(match option {
        "defaults" => Nothing,
        "ro" => Set(MsFlags::MS_RDONLY),
        "rw" => Clear(MsFlags::MS_RDONLY),
        "nosuid" => Set(MsFlags::MS_NOSUID),
        "suid" => Clear(MsFlags::MS_NOSUID),
        "nodev" => Set(MsFlags::MS_NODEV),
        "dev" => Clear(MsFlags::MS_NODEV),
        "noexec" => Set(MsFlags::MS_NOEXEC),
        "exec" => Clear(MsFlags::MS_NOEXEC),
        "sync" => Set(MsFlags::MS_SYNCHRONOUS),
        "async" => Clear(MsFlags::MS_SYNCHRONOUS),
        "dirsync" => Set(MsFlags::MS_DIRSYNC),
        "remount" => Set(MsFlags::MS_REMOUNT),
        "mand" => Set(MsFlags::MS_MANDLOCK),
        "nomand" => Clear(MsFlags::MS_MANDLOCK),
        "atime" => Clear(MsFlags::MS_NOATIME),
        "noatime" => Set(MsFlags::MS_NOATIME),
        "diratime" => Clear(MsFlags::MS_NODIRATIME),
        "nodiratime" => Set(MsFlags::MS_NODIRATIME),
        "relatime" => Set(MsFlags::MS_RELATIME),
        "norelatime" => Clear(MsFlags::MS_RELATIME),
        "strictatime" => Set(MsFlags::MS_STRICTATIME),
        "nostrictatime" => Clear(MsFlags::MS_STRICTATIME),
        "bind" => Set(MsFlags::MS_BIND),
        "rbind" => Set(MsFlags::MS_BIND | MsFlags::MS_REC),
        "private" => Propagate(MsFlags::MS_PRIVATE),
        "rprivate" => Propagate(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
        "shared" => Propagate(MsFlags::MS_SHARED),
        "rshared" => Propagate(MsFlags::MS_SHARED | MsFlags::MS_REC),
        "slave" => Propagate(MsFlags::MS_SLAVE),
        "rslave" => Propagate(MsFlags::MS_SLAVE | MsFlags::MS_REC),
        "unbindable" => Propagate(MsFlags::MS_UNBINDABLE),
        "runbindable" => Propagate(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
        "tmpcopyup" => CopyUp,
        _ => return None,
    })
}

/// Every option [`parse`] turns into mount flags or a propagation change (the
/// `mountOptions` of `berth features`); others go to the filesystem as data.
pub const KNOWN: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// Parses `options` in order; a later option overrides an earlier one (`ro,rw` is rw).
pub(crate) fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut out = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for option in options {
        let option = option.as_ref();
        match effect(option) {
            Some(Effect::Set(f)) => {
                out.flags.insert(f);
                out.cleared.remove(f);
            }
            Some(Effect::Clear(f)) => {
                out.flags.remove(f);
                out.cleared.insert(f);
            }
            Some(Effect::Propagate(f)) => out.propagation.push(f),
            Some(Effect::CopyUp) => out.copy_up = true,
            Some(Effect::Nothing) => {}
            None => data.push(option),
        }
    }
    out.data = data.join(",");
    out
}

/// `linux.rootfsPropagation` as the flags applied to `/`, always recursive.
pub(crate) fn root_propagation(value: &str) -> Option<MsFlags> {
    let base = match value.strip_prefix('r').unwrap_or(value) {
        "shared" => MsFlags::MS_SHARED,
        "slave" => MsFlags::MS_SLAVE,
        "private" => MsFlags::MS_PRIVATE,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        _ => return None,
    };
    Some(base | MsFlags::MS_REC)
}

const ATIME: MsFlags = MsFlags::MS_NOATIME
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME);

/// The flags a bind remount must keep from the mount it changes: those the kernel locks in a
/// user namespace, and the access-time mode unless `asked` sets one, minus what `cleared`
/// explicitly turned off.
pub(crate) fn kept_flags(
    current: nix::sys::statvfs::FsFlags,
    asked: MsFlags,
    cleared: MsFlags,
) -> MsFlags {
    use nix::sys::statvfs::FsFlags as F;
    let table = [
        (F::ST_RDONLY, MsFlags::MS_RDONLY),
        (F::ST_NOSUID, MsFlags::MS_NOSUID),
        (F::ST_NODEV, MsFlags::MS_NODEV),
        (F::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (F::ST_NOATIME, MsFlags::MS_NOATIME),
        (F::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (F::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    let mut kept = MsFlags::empty();
    for (st, ms) in table {
        if current.contains(st) && !cleared.contains(ms) {
            kept.insert(ms);
        }
    }
    if asked.intersects(ATIME) || cleared.intersects(ATIME) {
        kept.remove(ATIME);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::statvfs::FsFlags;

    #[test]
    fn every_known_option_has_an_effect() {
        for option in KNOWN {
            assert!(effect(option).is_some(), "{option}");
            assert!(parse(&[option]).data.is_empty(), "{option}");
        }
    }

    #[test]
    fn flags_and_data_are_split() {
        let o = parse(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(o.propagation.is_empty());
    }

    #[test]
    fn devpts_options() {
        let o = parse(&["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    }

    #[test]
    fn later_option_wins() {
        let o = parse(&["ro", "rw"]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
        let o = parse(&["rw", "ro"]);
        assert!(o.flags.contains(MsFlags::MS_RDONLY));
        assert!(!o.cleared.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn every_flag_option() {
        let cases: &[(&str, MsFlags)] = &[
            ("ro", MsFlags::MS_RDONLY),
            ("nosuid", MsFlags::MS_NOSUID),
            ("nodev", MsFlags::MS_NODEV),
            ("noexec", MsFlags::MS_NOEXEC),
            ("sync", MsFlags::MS_SYNCHRONOUS),
            ("dirsync", MsFlags::MS_DIRSYNC),
            ("remount", MsFlags::MS_REMOUNT),
            ("mand", MsFlags::MS_MANDLOCK),
            ("noatime", MsFlags::MS_NOATIME),
            ("nodiratime", MsFlags::MS_NODIRATIME),
            ("relatime", MsFlags::MS_RELATIME),
            ("strictatime", MsFlags::MS_STRICTATIME),
            ("bind", MsFlags::MS_BIND),
            ("rbind", MsFlags::MS_BIND | MsFlags::MS_REC),
        ];
        for (name, flag) in cases {
            let o = parse(&[*name]);
            assert_eq!(o.flags, *flag, "{name}");
            assert_eq!(o.data, "", "{name}");
        }
        let clears: &[(&str, MsFlags)] = &[
            ("rw", MsFlags::MS_RDONLY),
            ("suid", MsFlags::MS_NOSUID),
            ("dev", MsFlags::MS_NODEV),
            ("exec", MsFlags::MS_NOEXEC),
            ("async", MsFlags::MS_SYNCHRONOUS),
            ("nomand", MsFlags::MS_MANDLOCK),
            ("atime", MsFlags::MS_NOATIME),
            ("diratime", MsFlags::MS_NODIRATIME),
            ("norelatime", MsFlags::MS_RELATIME),
            ("nostrictatime", MsFlags::MS_STRICTATIME),
        ];
        for (name, flag) in clears {
            let o = parse(&[*name]);
            assert_eq!(o.flags, MsFlags::empty(), "{name}");
            assert_eq!(o.cleared, *flag, "{name}");
        }
    }

    #[test]
    fn propagation_is_kept_apart_in_order() {
        let o = parse(&["rbind", "rprivate", "unbindable"]);
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(
            o.propagation,
            vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC, MsFlags::MS_UNBINDABLE]
        );
    }

    #[test]
    fn root_propagation_values() {
        assert_eq!(root_propagation("rslave"), Some(MsFlags::MS_SLAVE | MsFlags::MS_REC));
        assert_eq!(root_propagation("shared"), Some(MsFlags::MS_SHARED | MsFlags::MS_REC));
        assert_eq!(root_propagation("runbindable"), Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC));
        assert_eq!(root_propagation("rr"), None);
        assert_eq!(root_propagation("bogus"), None);
    }

    #[test]
    fn remount_keeps_locked_flags_unless_cleared() {
        let cur =
            FsFlags::ST_NOSUID | FsFlags::ST_NODEV | FsFlags::ST_RDONLY | FsFlags::ST_RELATIME;
        assert_eq!(
            kept_flags(cur, MsFlags::empty(), MsFlags::MS_RDONLY),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME
        );
        assert_eq!(
            kept_flags(cur, MsFlags::MS_STRICTATIME, MsFlags::empty()),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RDONLY
        );
    }
}
