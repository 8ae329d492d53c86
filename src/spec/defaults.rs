//! The default config.json written by `berth spec`.
//!
//! It follows what `runc spec` writes, including `linux.resources.devices` denying every
//! device (the default nodes are allowed on top of that when the cgroup is set up), and a
//! cgroup namespace only on a cgroup v2 host: on cgroup v1 (and hybrid) hosts runc leaves it
//! out, as Docker and podman do there, and a config that adds one to `runc spec`'s output
//! would otherwise list it twice, which the spec makes an error.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};

/// The capabilities runc grants by default.
const DEFAULT_CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The default spec as pretty JSON; `rootless` adapts it for an unprivileged user.
pub fn default_spec(rootless: bool) -> String {
    let mut spec = base_spec(crate::cgroups::is_unified());
    if rootless {
        make_rootless(&mut spec, nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    }
    to_pretty(&spec)
}

/// The spec for root; `cgroupns` adds a cgroup namespace.
fn base_spec(cgroupns: bool) -> Value {
    let no_exec = ["nosuid", "noexec", "nodev"];
    let mut spec = json!({
        "ociVersion": crate::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "berth",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
            },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": no_exec },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]
            },
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
            }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" }
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
                "/sys/devices/virtual/powercap"
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]
        }
    });
    if cgroupns {
        if let Some(list) = spec["linux"]["namespaces"].as_array_mut() {
            list.push(json!({ "type": "cgroup" }));
        }
    }
    spec
}

/// What runc's `--rootless` changes: a user namespace mapping the caller to root, no new
/// network namespace (an unprivileged user could not configure it), `/sys` bound from the host
/// (sysfs cannot be mounted without owning the network namespace), and no `uid=`/`gid=`
/// mount options (those ids are not mapped).
fn make_rootless(spec: &mut Value, euid: u32, egid: u32) {
    let linux = &mut spec["linux"];
    // As runc: an unprivileged user has no cgroup to configure.
    if let Some(linux) = linux.as_object_mut() {
        linux.remove("resources");
    }
    if let Some(namespaces) = linux["namespaces"].as_array_mut() {
        namespaces.retain(|ns| ns["type"] != "network" && ns["type"] != "user");
        namespaces.push(json!({ "type": "user" }));
    }
    linux["uidMappings"] = json!([{ "containerID": 0, "hostID": euid, "size": 1 }]);
    linux["gidMappings"] = json!([{ "containerID": 0, "hostID": egid, "size": 1 }]);

    let Some(mounts) = spec["mounts"].as_array_mut() else { return };
    for mount in mounts {
        if mount["destination"] == "/sys" {
            *mount = json!({
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
            });
            continue;
        }
        if let Some(options) = mount["options"].as_array_mut() {
            options.retain(|o| {
                o.as_str().is_some_and(|o| !o.starts_with("uid=") && !o.starts_with("gid="))
            });
        }
    }
}

/// The top-level keys in the order `runc spec` writes them; nested objects come out sorted.
const TOP_LEVEL_ORDER: [&str; 6] = ["ociVersion", "process", "root", "hostname", "mounts", "linux"];

/// The spec's top-level object with its keys in [`TOP_LEVEL_ORDER`] (a `serde_json::Map`
/// sorts its keys, which would bury `ociVersion`).
struct InRuncOrder<'a>(&'a Value);

impl Serialize for InRuncOrder<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some(object) = self.0.as_object() else { return self.0.serialize(serializer) };
        let mut map = serializer.serialize_map(Some(object.len()))?;
        for key in TOP_LEVEL_ORDER {
            if let Some(value) = object.get(key) {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, value) in object.iter().filter(|(k, _)| !TOP_LEVEL_ORDER.contains(&k.as_str())) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Tab-indented, as `runc spec` writes it, with a final newline.
fn to_pretty(spec: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    InRuncOrder(spec).serialize(&mut ser).expect("a JSON value always serializes");
    out.push(b'\n');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_keys_in_runc_order() {
        let text = default_spec(false);
        let positions: Vec<usize> =
            TOP_LEVEL_ORDER.iter().map(|k| text.find(&format!("\"{k}\"")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.starts_with("{\n\t\"ociVersion\""));
        let spec: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            spec["linux"]["resources"]["devices"],
            json!([{ "allow": false, "access": "rwm" }])
        );
    }

    #[test]
    fn rootless_maps_the_caller_and_drops_network() {
        let mut spec = base_spec(true);
        make_rootless(&mut spec, 1000, 100);
        assert!(spec["linux"].get("resources").is_none());
        assert_eq!(spec["linux"]["uidMappings"][0]["hostID"], 1000);
        assert_eq!(spec["linux"]["gidMappings"][0]["hostID"], 100);
        let types: Vec<&str> = spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ns| ns["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["pid", "ipc", "uts", "mount", "cgroup", "user"]);
        let v1_types = base_spec(false)["linux"]["namespaces"].as_array().unwrap().len();
        assert_eq!(v1_types, 5, "no cgroup namespace on a cgroup v1 host");
        let devpts = &spec["mounts"][2];
        assert_eq!(devpts["destination"], "/dev/pts");
        assert!(!devpts["options"].as_array().unwrap().contains(&json!("gid=5")));
    }
}
