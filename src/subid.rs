//! The subordinate id ranges of /etc/subuid and /etc/subgid (subuid(5), subgid(5)): checked
//! before `create` makes anything, so a config mapping host ids the unprivileged caller is
//! not given fails naming the mapping instead of after the clone, when newuidmap refuses.

use crate::spec::{IdMap, NamespaceKind, SpecError, ValidSpec};

/// One of the two files, with the config field and the helper it goes with.
struct Ranges {
    field: &'static str,
    file: &'static str,
    helper: &'static str,
}

const UIDS: Ranges =
    Ranges { field: "linux.uidMappings", file: "/etc/subuid", helper: "newuidmap" };
const GIDS: Ranges =
    Ranges { field: "linux.gidMappings", file: "/etc/subgid", helper: "newgidmap" };

/// For an unprivileged caller whose config makes a user namespace mapping more than its
/// own id: every mapping's host ids are its own id or within its ranges. Skipped when the
/// helper is not on PATH (its own error says so then) or when NSS, not the files, gives
/// the ranges (nsswitch.conf's `subid:`).
pub fn check(spec: &ValidSpec) -> Result<(), SpecError> {
    let new_user_ns =
        spec.namespaces.iter().any(|ns| ns.kind == NamespaceKind::User && ns.path.is_none());
    check_maps(new_user_ns, &spec.uid_mappings, &spec.gid_mappings)
}

/// [`check`] of the maps of a new user namespace (`new_user_ns`), for `berth check` too.
pub fn check_maps(new_user_ns: bool, uids: &[IdMap], gids: &[IdMap]) -> Result<(), SpecError> {
    let euid = nix::unistd::geteuid();
    if euid.is_root() || !new_user_ns || ranges_from_nss() {
        return Ok(());
    }
    let name = nix::unistd::User::from_uid(euid).ok().flatten().map(|u| u.name);
    let gid = nix::unistd::getegid().as_raw();
    check_one(&UIDS, uids, euid.as_raw(), name.as_deref())?;
    check_one(&GIDS, gids, gid, name.as_deref())
}

/// Checks one map against one file; `own` is the caller's own id of that kind.
fn check_one(kind: &Ranges, maps: &[IdMap], own: u32, name: Option<&str>) -> Result<(), SpecError> {
    let only_own = matches!(maps, [m] if m.host_id == own && m.size == 1);
    if only_own || !on_path(kind.helper) {
        return Ok(());
    }
    let text = std::fs::read_to_string(kind.file).unwrap_or_default();
    let mut allowed = owned_ranges(&text, nix::unistd::geteuid().as_raw(), name);
    allowed.push((u64::from(own), 1));
    let allowed = merged(allowed);
    for (i, m) in maps.iter().enumerate() {
        let (start, end) = (u64::from(m.host_id), u64::from(m.host_id) + u64::from(m.size));
        if !allowed.iter().any(|(s, n)| *s <= start && end <= s + n) {
            return Err(SpecError::Invalid {
                path: format!("{}[{i}]", kind.field),
                reason: format!(
                    "host ids {start}..{} are neither the caller's own id {own} nor within its \
                     ranges in {} ({} would refuse them)",
                    end.saturating_sub(1),
                    kind.file,
                    kind.helper
                ),
            });
        }
    }
    Ok(())
}

/// The `(start, count)` ranges of `text` (lines `owner:start:count`) whose owner is the
/// user's name or its uid in decimal.
fn owned_ranges(text: &str, uid: u32, name: Option<&str>) -> Vec<(u64, u64)> {
    let uid = uid.to_string();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let (owner, start, count) = (fields.next()?, fields.next()?, fields.next()?);
            let mine = owner == uid || Some(owner) == name;
            mine.then(|| Some((start.parse().ok()?, count.parse().ok()?))).flatten()
        })
        .collect()
}

/// The ranges sorted with adjacent and overlapping ones joined, so a mapping may span two
/// lines that meet (newuidmap allows that too).
fn merged(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, count) in ranges {
        match out.last_mut() {
            Some((s, n)) if start <= *s + *n => *n = (*n).max(start + count - *s),
            _ => out.push((start, count)),
        }
    }
    out
}

/// Whether `program` is an executable file in a directory of `$PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Whether /etc/nsswitch.conf sends subordinate ids to a service other than the files
/// (shadow's libsubid, e.g. `subid: sss`): newuidmap then asks that service, so berth has no
/// ranges to check and defers to the helper's own answer.
fn ranges_from_nss() -> bool {
    names_other_subid_source(&std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default())
}

/// Whether nsswitch.conf `text` has a `subid:` line naming a service other than `files`
/// (comments, whole-line or trailing, aside).
fn names_other_subid_source(text: &str) -> bool {
    text.lines().filter_map(|l| l.trim().strip_prefix("subid:")).any(|services| {
        services.split('#').next().unwrap_or("").split_whitespace().any(|s| s != "files")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_subid_service_in_nsswitch_defers_to_newuidmap() {
        let conf = |line: &str| format!("passwd: files systemd\ngroup: files\n{line}\n");
        for other in ["subid: sss", "subid:sss", "  subid:   freeipa   # ranges from IPA"] {
            assert!(names_other_subid_source(&conf(other)), "{other}");
        }
        for files in ["", "subid: files", "subid: files # sss later", "# subid: sss", "subid:"] {
            assert!(!names_other_subid_source(&conf(files)), "{files}");
        }
    }

    #[test]
    fn ranges_by_name_or_uid_joined_where_they_meet() {
        let text = "alice:100000:65536\n1001:165536:10\nbob:200000:5\nbroken\n";
        let mine = owned_ranges(text, 1001, Some("alice"));
        assert_eq!(mine, [(100_000, 65_536), (165_536, 10)]);
        assert_eq!(merged(mine), [(100_000, 65_546)]);
        assert_eq!(merged(vec![(10, 5), (1, 2)]), [(1, 2), (10, 5)]);
        assert!(owned_ranges(text, 7, Some("carol")).is_empty());
    }
}
