//! The top-level fields: `ociVersion`, `annotations`, NUL bytes in the strings handed to C,
//! and the fields of other platforms.

use oci_spec::runtime::Spec;

use super::Problems;

pub(super) fn check_version(spec: &Spec, p: &mut Problems) {
    let version = spec.version();
    if version.is_empty() {
        p.push("ociVersion", "missing");
        return;
    }
    match parse_semver(version) {
        None => p.push("ociVersion", format!("{version:?} is not a semantic version")),
        Some(1) => {}
        Some(major) => p.push(
            "ociVersion",
            format!("{version:?}: major version {major} is not supported (1.x)"),
        ),
    }
}

/// The major number of a SemVer 2.0 version `MAJOR.MINOR.PATCH[-pre][+build]`.
pub(super) fn parse_semver(v: &str) -> Option<u64> {
    let (core, build) = match v.split_once('+') {
        Some((core, build)) => (core, Some(build)),
        None => (v, None),
    };
    let (core, pre) = match core.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (core, None),
    };
    let ident_ok =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    for extra in [pre, build].into_iter().flatten() {
        if !extra.split('.').all(ident_ok) {
            return None;
        }
    }
    let numbers: Vec<&str> = core.split('.').collect();
    if numbers.len() != 3 {
        return None;
    }
    let mut parsed = Vec::with_capacity(3);
    for n in numbers {
        let leading_zero = n.len() > 1 && n.starts_with('0');
        if n.is_empty() || leading_zero || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parsed.push(n.parse::<u64>().ok()?);
    }
    Some(parsed[0])
}

pub(super) fn check_annotations(spec: &Spec, p: &mut Problems) {
    if spec.annotations().iter().flatten().any(|(key, _)| key.is_empty()) {
        p.push("annotations", "a key must not be empty");
    }
}

pub(super) fn check_other_platforms(spec: &Spec, p: &mut Problems) {
    #[allow(deprecated)]
    let other = [
        ("solaris", spec.solaris().is_some()),
        ("windows", spec.windows().is_some()),
        ("vm", spec.vm().is_some()),
        ("zos", spec.zos().is_some()),
        ("uidMappings", spec.uid_mappings().is_some()),
        ("gidMappings", spec.gid_mappings().is_some()),
    ];
    for (field, set) in other {
        if set {
            p.push(field, "is not a field berth applies on Linux");
        }
    }
}

/// A NUL byte cuts a C string short: the program would run with other arguments than the
/// config names, and sethostname(2) would take it as part of the name.
pub(super) fn check_nul_bytes(spec: &Spec, p: &mut Problems) {
    let has_nul = |s: &str| s.contains('\0');
    if let Some(args) = spec.process().as_ref().and_then(|p| p.args().as_ref()) {
        if let Some(i) = args.iter().position(|a| has_nul(a)) {
            p.push(format!("process.args[{i}]"), "contains a NUL byte");
        }
    }
    for (at, value) in [("hostname", spec.hostname()), ("domainname", spec.domainname())] {
        if value.as_deref().is_some_and(has_nul) {
            p.push(at, "contains a NUL byte");
        }
    }
}
