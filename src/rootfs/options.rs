//! The `mounts[].options` table: each option sets or clears a mount flag, asks for a
//! propagation change, or is passed to the filesystem as mount data. spec's build parses
//! each mount's options once ([`parse`]) into the `ValidSpec`, so the init parses nothing.

use nix::mount::MsFlags;

use crate::sys::mount_api as attr;

/// `MS_NOSYMFOLLOW` (Linux 5.10), which nix does not name.
const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

/// What a mount's options ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount call.
    pub flags: MsFlags,
    /// Flags an option explicitly turned off (`rw`, `suid`, …); a remount must not keep them.
    pub cleared: MsFlags,
    /// Propagation changes, applied in order by separate calls after the mount.
    pub propagation: Vec<MsFlags>,
    /// Options the kernel flags do not know, joined with `,` for the filesystem.
    pub data: String,
    /// Mount attributes to set on the whole tree (`rro`, `rnosuid`, …), by mount_setattr(2).
    pub rec_set: u64,
    /// Mount attributes to clear on the whole tree (`rrw`, `rsuid`, …).
    pub rec_clear: u64,
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
            rec_set: 0,
            rec_clear: 0,
            copy_up: false,
        }
    }
}

enum Effect {
    Set(MsFlags),
    Clear(MsFlags),
    Propagate(MsFlags),
    /// A mount attribute set on the whole tree.
    RecSet(u64),
    /// A mount attribute cleared on the whole tree.
    RecClear(u64),
    /// An access-time mode for the whole tree (the kernel wants the mask cleared with it).
    RecAtime(u64),
    CopyUp,
    /// Nothing for the mount call (`idmap`/`ridmap` are the mount's id maps, which
    /// spec::MountIdMaps carries).
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
        "nosymfollow" => Set(MS_NOSYMFOLLOW),
        "symfollow" => Clear(MS_NOSYMFOLLOW),
        "lazytime" => Set(MsFlags::MS_LAZYTIME),
        "nolazytime" => Clear(MsFlags::MS_LAZYTIME),
        "iversion" => Set(MsFlags::MS_I_VERSION),
        "noiversion" => Clear(MsFlags::MS_I_VERSION),
        "silent" => Set(MsFlags::MS_SILENT),
        "loud" => Clear(MsFlags::MS_SILENT),
        "rro" => RecSet(attr::ATTR_RDONLY),
        "rrw" => RecClear(attr::ATTR_RDONLY),
        "rnosuid" => RecSet(attr::ATTR_NOSUID),
        "rsuid" => RecClear(attr::ATTR_NOSUID),
        "rnodev" => RecSet(attr::ATTR_NODEV),
        "rdev" => RecClear(attr::ATTR_NODEV),
        "rnoexec" => RecSet(attr::ATTR_NOEXEC),
        "rexec" => RecClear(attr::ATTR_NOEXEC),
        "rnodiratime" => RecSet(attr::ATTR_NODIRATIME),
        "rdiratime" => RecClear(attr::ATTR_NODIRATIME),
        "rnosymfollow" => RecSet(attr::ATTR_NOSYMFOLLOW),
        "rsymfollow" => RecClear(attr::ATTR_NOSYMFOLLOW),
        // As mount(8) names them: atime ("do not use noatime"), norelatime ("do not use
        // relatime", strictatime being the separate option for full updates) and
        // nostrictatime ("the kernel's default") all leave the kernel default, relatime.
        // The kernel takes the access time as one mode, so each replaces the tree's mode.
        "ratime" | "rrelatime" | "rnorelatime" | "rnostrictatime" => RecAtime(attr::ATTR_RELATIME),
        "rnoatime" => RecAtime(attr::ATTR_NOATIME),
        "rstrictatime" => RecAtime(attr::ATTR_STRICTATIME),
        "tmpcopyup" => CopyUp,
        "idmap" | "ridmap" => Nothing,
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
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// Parses `options` in order; a later option overrides an earlier one (`ro,rw` is rw).
pub fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
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
            Some(Effect::RecSet(a)) => {
                out.rec_set |= a;
                out.rec_clear &= !a;
            }
            Some(Effect::RecClear(a)) => {
                out.rec_clear |= a;
                out.rec_set &= !a;
            }
            Some(Effect::RecAtime(mode)) => {
                out.rec_set = (out.rec_set & !attr::ATTR_ATIME_MASK) | mode;
                out.rec_clear |= attr::ATTR_ATIME_MASK;
            }
            Some(Effect::CopyUp) => out.copy_up = true,
            Some(Effect::Nothing) => {}
            None => data.push(option),
        }
    }
    out.data = data.join(",");
    out
}

/// `linux.rootfsPropagation` as the flags applied to `/`, always recursive.
pub fn root_propagation(value: &str) -> Option<MsFlags> {
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
    fn recursive_attributes() {
        let o = parse(&["rro", "rnosuid", "rnoatime", "rnosymfollow", "rbind"]);
        let set = attr::ATTR_RDONLY | attr::ATTR_NOSUID | attr::ATTR_NOATIME;
        assert_eq!(o.rec_set, set | attr::ATTR_NOSYMFOLLOW);
        assert_eq!(o.rec_clear, attr::ATTR_ATIME_MASK);
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        let o = parse(&["rro", "rrw", "rstrictatime", "ratime"]);
        assert_eq!(o.rec_set, attr::ATTR_RELATIME);
        assert_eq!(o.rec_clear, attr::ATTR_RDONLY | attr::ATTR_ATIME_MASK);
        assert!(parse(&["tmpcopyup", "mode=755"]).copy_up);
        assert_eq!(parse(&["nosymfollow"]).flags, MS_NOSYMFOLLOW);
    }

    /// Every recursive option alone, as (attributes set, attributes cleared).
    #[test]
    fn recursive_attribute_table_reads_as_mount8() {
        use attr::*;
        let atime = |mode| (mode, ATTR_ATIME_MASK);
        let table = [
            ("rro", (ATTR_RDONLY, 0)),
            ("rrw", (0, ATTR_RDONLY)),
            ("rnosuid", (ATTR_NOSUID, 0)),
            ("rsuid", (0, ATTR_NOSUID)),
            ("rnodev", (ATTR_NODEV, 0)),
            ("rdev", (0, ATTR_NODEV)),
            ("rnoexec", (ATTR_NOEXEC, 0)),
            ("rexec", (0, ATTR_NOEXEC)),
            ("rnodiratime", (ATTR_NODIRATIME, 0)),
            ("rdiratime", (0, ATTR_NODIRATIME)),
            ("rnosymfollow", (ATTR_NOSYMFOLLOW, 0)),
            ("rsymfollow", (0, ATTR_NOSYMFOLLOW)),
            ("rnoatime", atime(ATTR_NOATIME)),
            ("ratime", atime(ATTR_RELATIME)),
            ("rrelatime", atime(ATTR_RELATIME)),
            ("rnorelatime", atime(ATTR_RELATIME)),
            ("rstrictatime", atime(ATTR_STRICTATIME)),
            ("rnostrictatime", atime(ATTR_RELATIME)),
        ];
        for (name, (set, clear)) in table {
            let o = parse(&[name]);
            assert_eq!((o.rec_set, o.rec_clear), (set, clear), "{name}");
            assert_eq!(o.flags, MsFlags::empty(), "{name}");
            assert!(o.data.is_empty(), "{name}");
        }
        // The table covers every recursive attribute option berth knows.
        let recursive: Vec<&str> = KNOWN
            .iter()
            .copied()
            .filter(|o| {
                o.starts_with('r')
                    && matches!(
                        effect(o),
                        Some(Effect::RecSet(_) | Effect::RecClear(_) | Effect::RecAtime(_))
                    )
            })
            .collect();
        assert_eq!(recursive.len(), table.len(), "{recursive:?}");
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
