//! Finds the config path of a field oci-spec's types refuse to parse.
//!
//! serde_json reports a type error with its line and column only; a user fixing a config
//! wants `process.rlimits[1].type` as well. Only used after a parse failed, so it may
//! deserialize parts of the config again.

use oci_spec::runtime::{
    Hooks, Linux, LinuxDevice, LinuxIdMapping, LinuxNamespace, LinuxNamespaceType,
    LinuxSeccompAction, LinuxSyscall, Mount, PosixRlimit, PosixRlimitType, Process, Root, User,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;

/// Why `v`, when present, does not parse as `T` (serde's message).
fn why<T: DeserializeOwned>(v: Option<&Value>) -> Option<String> {
    T::deserialize(v?).err().map(|e| e.to_string())
}

/// Whether `v` is present and does not parse as `T`.
fn bad<T: DeserializeOwned>(v: Option<&Value>) -> bool {
    why::<T>(v).is_some()
}

/// The first element of the array `v` that does not parse as `T`.
fn bad_element<T: DeserializeOwned>(v: Option<&Value>) -> Option<usize> {
    v?.as_array()?.iter().position(|e| T::deserialize(e).is_err())
}

type Test = fn(Option<&Value>) -> bool;

/// A field that does not parse: its config path and why (serde's message about that field
/// alone, so it matches the path even when serde stopped at another field first).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Unparsable {
    /// The config path, e.g. `linux.namespaces[1].type`.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The deepest field of `spec` that fails to parse, with why, if one can be named.
pub(super) fn locate_with_reason(spec: &Value) -> Option<Unparsable> {
    let path = locate(spec)?;
    let reason = reason_at(spec, &path)?;
    Some(Unparsable { path, reason })
}

/// serde's message for the value at `path`, parsed as the type the spec gives that path.
fn reason_at(spec: &Value, path: &str) -> Option<String> {
    let value = spec.pointer(&super::json_pointer(path));
    // `a.b[3].c` → parent `a.b[3]`, field `c`; `a.b[3]` → parent `a`, field `b[3]`.
    let (parent, field) = path.rsplit_once('.').unwrap_or(("", path));
    let element = field.ends_with(']');
    let name = field.split('[').next().unwrap_or(field);
    let in_array =
        |array: &str| parent.starts_with(array) && parent[array.len()..].starts_with('[');
    let msg = match (parent, name, element) {
        ("process.capabilities", _, true) => why::<String>(value),
        ("process.user", "uid" | "gid" | "umask", false) => why::<Option<u32>>(value),
        ("process.user", "additionalGids", false) => why::<Option<Vec<u32>>>(value),
        ("process", "rlimits", true) => why::<PosixRlimit>(value),
        (_, "type", false) if in_array("process.rlimits") => why::<PosixRlimitType>(value),
        ("linux", "namespaces", true) => why::<LinuxNamespace>(value),
        (_, "type", false) if in_array("linux.namespaces") => why::<LinuxNamespaceType>(value),
        ("linux", "uidMappings" | "gidMappings", true) => why::<LinuxIdMapping>(value),
        ("linux", "devices", true) => why::<LinuxDevice>(value),
        ("", "mounts", true) => why::<Mount>(value),
        ("linux.seccomp", "defaultAction", false) => why::<LinuxSeccompAction>(value),
        ("linux.seccomp", "syscalls", true) => why::<LinuxSyscall>(value),
        (_, "action", false) if in_array("linux.seccomp.syscalls") => {
            why::<LinuxSeccompAction>(value)
        }
        (_, "names", false) if in_array("linux.seccomp.syscalls") => why::<Vec<String>>(value),
        (_, "args", false) if in_array("linux.seccomp.syscalls") => {
            why::<Option<Vec<oci_spec::runtime::LinuxSeccompArg>>>(value)
        }
        _ => None,
    };
    msg.or_else(|| whole_field_reason(value, path))
}

/// The message for a top-level, `process.*` or `linux.*` field named by [`locate`].
fn whole_field_reason(value: Option<&Value>, path: &str) -> Option<String> {
    match path {
        "ociVersion" | "hostname" | "domainname" => why::<Option<String>>(value),
        "root" => why::<Option<Root>>(value),
        "mounts" => why::<Option<Vec<Mount>>>(value),
        "process" => why::<Option<Process>>(value),
        "hooks" => why::<Option<Hooks>>(value),
        "annotations" => why::<Option<HashMap<String, String>>>(value),
        "linux" => why::<Option<Linux>>(value),
        "process.user" => why::<User>(value),
        "process.args" | "process.env" => why::<Option<Vec<String>>>(value),
        "process.cwd" => why::<PathBuf>(value),
        "process.capabilities" => why::<Option<oci_spec::runtime::LinuxCapabilities>>(value),
        "process.rlimits" => why::<Option<Vec<PosixRlimit>>>(value),
        "process.terminal" | "process.noNewPrivileges" => why::<Option<bool>>(value),
        "process.oomScoreAdj" => why::<Option<i32>>(value),
        "linux.maskedPaths" | "linux.readonlyPaths" => why::<Option<Vec<String>>>(value),
        "linux.rootfsPropagation" => why::<Option<String>>(value),
        "linux.sysctl" => why::<Option<HashMap<String, String>>>(value),
        _ => None,
    }
}

/// The deepest config path under which `spec` fails to parse, if one can be named.
pub(super) fn locate(spec: &Value) -> Option<String> {
    let get = |k: &str| spec.get(k);
    if let Some(at) = get("process").and_then(locate_process) {
        return Some(format!("process.{at}"));
    }
    if let Some(at) = get("linux").and_then(locate_linux) {
        return Some(format!("linux.{at}"));
    }
    if let Some(i) = bad_element::<Mount>(get("mounts")) {
        return Some(format!("mounts[{i}]"));
    }
    let top: [(&str, Test); 9] = [
        ("ociVersion", bad::<String>),
        ("root", bad::<Option<Root>>),
        ("mounts", bad::<Option<Vec<Mount>>>),
        ("process", bad::<Option<Process>>),
        ("hostname", bad::<Option<String>>),
        ("domainname", bad::<Option<String>>),
        ("hooks", bad::<Option<Hooks>>),
        ("annotations", bad::<Option<HashMap<String, String>>>),
        ("linux", bad::<Option<Linux>>),
    ];
    top.iter().find(|(k, test)| test(get(k))).map(|(k, _)| (*k).to_owned())
}

fn locate_process(p: &Value) -> Option<String> {
    let get = |k: &str| p.get(k);
    if let Some(caps) = get("capabilities") {
        for set in ["bounding", "effective", "inheritable", "permitted", "ambient"] {
            // Unknown names are dropped with a warning before this (load.rs); only a value
            // that is not a name at all is an error.
            if let Some(i) = bad_element::<String>(caps.get(set)) {
                return Some(format!("capabilities.{set}[{i}]"));
            }
        }
    }
    if let Some(user) = get("user") {
        for k in ["uid", "gid", "umask"] {
            if bad::<Option<u32>>(user.get(k)) {
                return Some(format!("user.{k}"));
            }
        }
        if bad::<Option<Vec<u32>>>(user.get("additionalGids")) {
            return Some("user.additionalGids".into());
        }
    }
    if let Some(i) = bad_element::<PosixRlimit>(get("rlimits")) {
        let bad_type = bad::<PosixRlimitType>(p["rlimits"][i].get("type"));
        return Some(format!("rlimits[{i}]{}", if bad_type { ".type" } else { "" }));
    }
    let fields: [(&str, Test); 9] = [
        ("user", bad::<User>),
        ("args", bad::<Option<Vec<String>>>),
        ("env", bad::<Option<Vec<String>>>),
        ("cwd", bad::<PathBuf>),
        ("capabilities", bad::<Option<oci_spec::runtime::LinuxCapabilities>>),
        ("rlimits", bad::<Option<Vec<PosixRlimit>>>),
        ("terminal", bad::<Option<bool>>),
        ("noNewPrivileges", bad::<Option<bool>>),
        ("oomScoreAdj", bad::<Option<i32>>),
    ];
    fields.iter().find(|(k, test)| test(get(k))).map(|(k, _)| (*k).to_owned())
}

fn locate_linux(l: &Value) -> Option<String> {
    let get = |k: &str| l.get(k);
    if let Some(i) = bad_element::<LinuxNamespace>(get("namespaces")) {
        let bad_type = bad::<LinuxNamespaceType>(l["namespaces"][i].get("type"));
        return Some(format!("namespaces[{i}]{}", if bad_type { ".type" } else { "" }));
    }
    for field in ["uidMappings", "gidMappings"] {
        if let Some(i) = bad_element::<LinuxIdMapping>(get(field)) {
            return Some(format!("{field}[{i}]"));
        }
    }
    if let Some(i) = bad_element::<LinuxDevice>(get("devices")) {
        return Some(format!("devices[{i}]"));
    }
    if let Some(at) = get("seccomp").and_then(locate_seccomp) {
        return Some(format!("seccomp.{at}"));
    }
    let fields: [(&str, Test); 4] = [
        ("maskedPaths", bad::<Option<Vec<String>>>),
        ("readonlyPaths", bad::<Option<Vec<String>>>),
        ("rootfsPropagation", bad::<Option<String>>),
        ("sysctl", bad::<Option<HashMap<String, String>>>),
    ];
    fields.iter().find(|(k, test)| test(get(k))).map(|(k, _)| (*k).to_owned())
}

fn locate_seccomp(s: &Value) -> Option<String> {
    if bad::<LinuxSeccompAction>(s.get("defaultAction")) {
        return Some("defaultAction".into());
    }
    let rules = s.get("syscalls")?.as_array()?;
    let i = rules.iter().position(|r| bad::<LinuxSyscall>(Some(r)))?;
    let at = ["action", "names", "args"].into_iter().find(|k| match *k {
        "action" => bad::<LinuxSeccompAction>(rules[i].get(k)),
        "names" => bad::<Vec<String>>(rules[i].get(k)),
        _ => bad::<Option<Vec<oci_spec::runtime::LinuxSeccompArg>>>(rules[i].get(k)),
    });
    Some(match at {
        Some(k) => format!("syscalls[{i}].{k}"),
        None => format!("syscalls[{i}]"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(v: Value) -> Option<String> {
        assert!(serde_json::from_value::<oci_spec::runtime::Spec>(v.clone()).is_err(), "{v}");
        locate(&v)
    }

    #[test]
    fn names_the_failing_field() {
        let process = |p: Value| json!({ "ociVersion": "1.2.0", "process": p });
        let ok = json!({ "args": ["sh"], "cwd": "/", "user": { "uid": 0, "gid": 0 } });
        let mut with_rlimit = ok.clone();
        with_rlimit["rlimits"] = json!([{ "type": "RLIMIT_CORE" }, { "type": "RLIMIT_FOO" }]);
        let mut with_cap = ok.clone();
        with_cap["capabilities"] = json!({ "effective": ["CAP_NOPE", 5] });
        let mut args_string = ok.clone();
        args_string["args"] = json!("sh");
        let cases = [
            (process(with_rlimit), "process.rlimits[1].type"),
            (process(with_cap), "process.capabilities.effective[1]"),
            (process(args_string), "process.args"),
            (process(json!({ "args": ["sh"], "user": { "uid": 0, "gid": 0 } })), "process"),
            (
                json!({ "linux": { "namespaces": [{ "type": "pid" }, { "type": "mnt" }] } }),
                "linux.namespaces[1].type",
            ),
            (
                json!({ "linux": { "uidMappings": [{ "containerID": -1 }] } }),
                "linux.uidMappings[0]",
            ),
            (json!({ "mounts": [{ "destination": "/a" }, { "type": "tmpfs" }] }), "mounts[1]"),
            (json!({ "ociVersion": 1 }), "ociVersion"),
            (
                json!({ "linux": { "seccomp": { "defaultAction": "SCMP_ACT_NOPE" } } }),
                "linux.seccomp.defaultAction",
            ),
            (
                json!({ "linux": { "seccomp": { "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{ "names": ["a"], "action": "SCMP_ACT_NOPE" }] } } }),
                "linux.seccomp.syscalls[0].action",
            ),
        ];
        for (v, path) in cases {
            assert_eq!(at(v.clone()).as_deref(), Some(path), "{v}");
        }
    }
}
