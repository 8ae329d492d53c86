//! The systemd unit of a container: `linux.cgroupsPath` in systemd's `slice:prefix:name`
//! form, the unit it names and where that unit's cgroup lives.

use super::SystemdError;

/// The prefix of the unit when `linux.cgroupsPath` is empty: runc uses `:runc:<id>`; berth
/// names itself the same way, so `berth-<id>.scope` says which runtime made the unit.
const DEFAULT_PREFIX: &str = "berth";
/// The slice of a unit whose path leaves it empty, in the system manager.
const DEFAULT_SLICE: &str = "system.slice";
/// The same in a user's manager (runc's rootless default too).
pub const DEFAULT_USER_SLICE: &str = "user.slice";

/// A container's unit: a scope in a slice, or a slice of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The unit's name: `<prefix>-<name>.scope`, or `<name>` when that ends in `.slice`.
    pub name: String,
    /// The slice the unit is placed in (for a slice unit: its parent, which its name implies).
    pub slice: String,
    /// The cgroup of the manager the unit belongs to, under which its slices nest: empty
    /// for the system manager, `/user.slice/user-1000.slice/user@1000.service` for a user's.
    pub root: String,
}

/// Whether `cgroups_path` has systemd's `slice:prefix:name` form (three parts, two colons),
/// which a cgroupfs path never needs.
pub fn is_systemd_form(cgroups_path: &str) -> bool {
    !cgroups_path.starts_with('/') && cgroups_path.split(':').count() == 3
}

impl Unit {
    /// The unit for `linux.cgroupsPath` (absent or empty: `:berth:<id>`) in the system
    /// manager.
    pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<Self, SystemdError> {
        Self::parse_in(cgroups_path, id, DEFAULT_SLICE)
    }

    /// The unit for `linux.cgroupsPath`, an empty slice part meaning `default_slice`.
    pub fn parse_in(
        cgroups_path: Option<&str>,
        id: &str,
        default_slice: &str,
    ) -> Result<Self, SystemdError> {
        let path = cgroups_path.filter(|p| !p.is_empty());
        let default = format!(":{DEFAULT_PREFIX}:{id}");
        let path = path.unwrap_or(&default);
        let bad =
            |reason: &str| SystemdError::Path { path: path.to_owned(), reason: reason.into() };
        let parts: Vec<&str> = path.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(bad("expected the form slice:prefix:name (--systemd-cgroup)"));
        };
        if name.is_empty() {
            return Err(bad("the name part is empty"));
        }
        if name.contains('/') || prefix.contains('/') {
            return Err(bad("a unit name cannot contain '/'"));
        }
        let slice = if slice.is_empty() { default_slice } else { slice };
        expand_slice(slice).map_err(|reason| bad(&reason))?;
        let unit = if name.ends_with(".slice") {
            expand_slice(name).map_err(|reason| bad(&reason))?;
            let parent = parent_slice(name);
            return Ok(Unit { name: name.to_owned(), slice: parent, root: String::new() });
        } else if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        Ok(Unit { name: unit, slice: slice.to_owned(), root: String::new() })
    }

    /// Whether the unit belongs to a user's manager (its cgroup nests under that manager's).
    pub fn in_user_manager(&self) -> bool {
        !self.root.is_empty()
    }

    /// Whether the unit is a slice (which holds no process itself as systemd starts it).
    pub fn is_slice(&self) -> bool {
        self.name.ends_with(".slice")
    }

    /// The unit's cgroup, as a path from the root of a hierarchy: `/system.slice/x.scope`,
    /// `/a.slice/a-b.slice/a-b-c.slice`; in a user's manager under the manager's own cgroup.
    pub fn cgroup_path(&self) -> String {
        let root = self.root.trim_end_matches('/');
        if self.is_slice() {
            let path = expand_slice(&self.name).unwrap_or_default();
            return format!("{root}{path}");
        }
        let slice = expand_slice(&self.slice).unwrap_or_default();
        format!("{root}{}/{}", slice.trim_end_matches('/'), self.name)
    }
}

/// The slice a slice unit lives in, implied by its name: `a-b.slice` in `a.slice`, `a.slice`
/// in the root slice `-.slice`.
fn parent_slice(name: &str) -> String {
    let stem = name.trim_end_matches(".slice");
    match stem.rsplit_once('-') {
        Some((parent, _)) => format!("{parent}.slice"),
        None => "-.slice".into(),
    }
}

/// The cgroup path of a slice, as systemd nests it: each `-` of the name is a level
/// (`a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`); `-.slice` is the root.
pub fn expand_slice(slice: &str) -> Result<String, String> {
    if slice == "-.slice" {
        return Ok("/".into());
    }
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(format!("the slice {slice:?} does not end in .slice"));
    };
    if slice.contains('/') {
        return Err(format!("the slice {slice:?} contains '/'"));
    }
    if stem.is_empty() || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return Err(format!("{slice:?} is not a valid slice name"));
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push('/');
        path.push_str(&prefix);
        path.push_str(".slice");
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(path: &str) -> Unit {
        Unit::parse(Some(path), "id").unwrap()
    }

    #[test]
    fn scopes_are_prefix_dash_name() {
        let u = unit("kubepods-besteffort-pod12.slice:cri-containerd:abc");
        assert_eq!(u.name, "cri-containerd-abc.scope");
        assert_eq!(u.slice, "kubepods-besteffort-pod12.slice");
        assert_eq!(
            u.cgroup_path(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"
        );
        assert_eq!(unit(":crio:x").cgroup_path(), "/system.slice/crio-x.scope");
        assert_eq!(unit("-.slice:p:x").cgroup_path(), "/p-x.scope");
        assert_eq!(unit("a.slice::x").name, "x.scope");
    }

    #[test]
    fn absent_path_is_berth_scope_in_system_slice() {
        let u = Unit::parse(None, "c1").unwrap();
        let want =
            Unit { name: "berth-c1.scope".into(), slice: "system.slice".into(), root: "".into() };
        assert_eq!(u, want);
        assert_eq!(Unit::parse(Some(""), "c1").unwrap(), u);
    }

    #[test]
    fn slice_names_are_slice_units_in_their_parent() {
        let u = unit("system.slice:ignored:a-b.slice");
        assert!(u.is_slice());
        assert_eq!(u.name, "a-b.slice");
        assert_eq!(u.slice, "a.slice");
        assert_eq!(u.cgroup_path(), "/a.slice/a-b.slice");
        assert_eq!(unit(":p:top.slice").slice, "-.slice");
    }

    #[test]
    fn user_units_nest_under_the_managers_cgroup() {
        let mut u = Unit::parse_in(None, "c1", DEFAULT_USER_SLICE).unwrap();
        assert_eq!(u.slice, "user.slice");
        u.root = "/user.slice/user-1000.slice/user@1000.service".into();
        assert_eq!(
            u.cgroup_path(),
            "/user.slice/user-1000.slice/user@1000.service/user.slice/berth-c1.scope"
        );
        let mut s = Unit::parse_in(Some(":p:a-b.slice"), "c1", DEFAULT_USER_SLICE).unwrap();
        s.root = "/u@1.service".into();
        assert_eq!(s.cgroup_path(), "/u@1.service/a.slice/a-b.slice");
        // A path naming its slice keeps it.
        assert_eq!(
            Unit::parse_in(Some("x.slice:p:c"), "c", DEFAULT_USER_SLICE).unwrap().slice,
            "x.slice"
        );
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in [
            "a:b",
            "a:b:c:d",
            "/x/y",
            "system.slice:p:",
            "sys:p:x",
            "a/b.slice:p:x",
            "a--b.slice:p:x",
            "-a.slice:p:x",
            "a.slice:p:x/y",
            "a.slice:p:-b.slice",
        ] {
            let err = Unit::parse(Some(bad), "id").expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn systemd_form_is_three_parts() {
        assert!(is_systemd_form("system.slice:crio:abc"));
        assert!(is_systemd_form(":runc:x"));
        assert!(!is_systemd_form("/kubepods/x"));
        assert!(!is_systemd_form("a:b"));
        assert!(!is_systemd_form("/a:b:c"));
    }
}
