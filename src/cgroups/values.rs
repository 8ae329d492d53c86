//! The values of `linux.resources` the cgroup code reads from text (device rule types and
//! access, hugepage sizes, `unified` file names), each parsed by one function. The spec's
//! check calls it to refuse a config before anything exists, and the apply calls it again
//! for values that never passed the check (`update`'s): both say the same thing.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::devices::DeviceRule;

/// A value that does not parse: the field below its entry's config path, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field (`access`, `pageSize`), or empty when the entry's path is the value's own.
    pub field: &'static str,
    /// What is wrong, for the user.
    pub reason: String,
}

impl Problem {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Problem { field, reason: reason.into() }
    }

    /// The problem's full config path below `entry` (`linux.resources.devices[0]`).
    pub fn path(&self, entry: &str) -> String {
        match self.field {
            "" => entry.to_owned(),
            field => format!("{entry}.{field}"),
        }
    }

    /// The problem of the entry at `entry`, as an error.
    pub fn at(self, entry: &str) -> InvalidValue {
        InvalidValue { config: self.path(entry), reason: self.reason }
    }
}

/// A value of `linux.resources` that does not parse, at its config path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{config}: {reason}")]
pub struct InvalidValue {
    /// The value's config path (`linux.resources.devices[0].access`).
    pub config: String,
    /// What is wrong.
    pub reason: String,
}

impl From<InvalidValue> for super::CgroupError {
    fn from(e: InvalidValue) -> Self {
        super::CgroupError::Invalid { config: e.config, reason: e.reason }
    }
}

impl From<InvalidValue> for super::systemd::SystemdError {
    fn from(e: InvalidValue) -> Self {
        super::systemd::SystemdError::Resource { config: e.config, reason: e.reason }
    }
}

/// One `linux.resources.devices` entry as a [`DeviceRule`] (its origin `config`): the type
/// letter (`a` when none is given; `u` is `c`) and the access letters (`rwm` when none are
/// given, else as given). Every problem, access first (as the check lists them).
pub fn device_rule(config: String, d: &LinuxDeviceCgroup) -> Result<DeviceRule, Vec<Problem>> {
    let typ = match d.typ() {
        None | Some(LinuxDeviceType::A) => Ok('a'),
        Some(LinuxDeviceType::B) => Ok('b'),
        Some(LinuxDeviceType::C | LinuxDeviceType::U) => Ok('c'),
        Some(LinuxDeviceType::P) => Err(Problem::new("type", "a device rule's type is a, b or c")),
    };
    let access = match d.access().as_deref().filter(|a| !a.is_empty()) {
        None => Ok("rwm".to_owned()),
        Some(a) if a.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) => Ok(a.to_owned()),
        Some(a) => Err(Problem::new("access", format!("{a:?} may only hold r, w and m"))),
    };
    match (typ, access) {
        (Ok(typ), Ok(access)) => Ok(DeviceRule {
            config,
            allow: d.allow(),
            typ,
            major: d.major(),
            minor: d.minor(),
            access,
        }),
        (typ, access) => Err(access.err().into_iter().chain(typ.err()).collect()),
    }
}

/// A `hugepageLimits[].pageSize` (`2MB`, `1GB`): digits and a unit ending in `B`, as the
/// hugetlb files are named. Checked because it becomes part of a file name.
pub fn page_size(size: &str) -> Result<&str, Problem> {
    // Bytes, not a str slice: a multi-byte letter before the `B` is no char boundary.
    let bytes = size.as_bytes();
    let ok = bytes.len() > 2
        && bytes.ends_with(b"B")
        && bytes[..bytes.len() - 2].iter().all(u8::is_ascii_digit);
    ok.then_some(size)
        .ok_or_else(|| Problem::new("pageSize", format!("{size:?} is not a page size such as 2MB")))
}

/// A `unified` key: the name of a file of the cgroup directory (not empty, no `/`, not
/// hidden).
pub fn unified_file(key: &str) -> Result<&str, Problem> {
    let bad = key.is_empty() || key.contains('/') || key.starts_with('.');
    match bad {
        true => Err(Problem::new("", "must name a file of the cgroup directory")),
        false => Ok(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: serde_json::Value) -> LinuxDeviceCgroup {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn device_rules_parse_type_and_access() {
        let rule = |v| device_rule("r".into(), &entry(v));
        let all = rule(serde_json::json!({ "allow": false })).unwrap();
        assert_eq!((all.typ, all.major, all.minor, all.access.as_str()), ('a', None, None, "rwm"));
        let u = rule(serde_json::json!({ "allow": true, "type": "u", "major": 1, "access": "wr" }));
        let u = u.unwrap();
        assert_eq!((u.typ, u.major, u.access.as_str(), u.allow), ('c', Some(1), "wr", true));
        assert_eq!(
            rule(serde_json::json!({ "allow": true, "type": "b", "access": "" })).unwrap().access,
            "rwm"
        );
        let bad = rule(serde_json::json!({ "allow": true, "type": "p", "access": "rwx" }));
        let paths: Vec<_> = bad.unwrap_err().iter().map(|p| p.path("d[0]")).collect();
        assert_eq!(paths, ["d[0].access", "d[0].type"]);
    }

    #[test]
    fn page_sizes_and_unified_files() {
        assert_eq!(page_size("2MB"), Ok("2MB"));
        assert_eq!(page_size("1GB"), Ok("1GB"));
        for bad in ["MB", "2M", "2 MB", "../2MB", "2MB/x", "éB", "2éB"] {
            let problem = page_size(bad).unwrap_err();
            assert_eq!(problem.reason, format!("{bad:?} is not a page size such as 2MB"));
        }
        assert_eq!(unified_file("memory.high"), Ok("memory.high"));
        for bad in ["", "../x", ".hidden", "a/b"] {
            assert_eq!(unified_file(bad).unwrap_err().path("u.x"), "u.x", "{bad}");
        }
    }
}
