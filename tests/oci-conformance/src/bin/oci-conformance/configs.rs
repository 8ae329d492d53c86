//! The bundle variants the probe checks. Together they set most fields of config.md and
//! config-linux.md that a runc-compatible runtime applies; each value differs from the
//! default so a runtime that ignores the field fails the check.

use std::path::Path;

use serde_json::{json, Value};

use crate::bundle::PROBE_IN_ROOTFS;

/// Host uid/gid that root of the user-namespace variant maps to.
pub const USERNS_HOST_ID: u32 = 200000;

/// The standard mounts of a container (as `runc spec` writes them).
pub fn standard_mounts() -> Vec<Value> {
    vec![
        json!({ "destination": "/proc", "type": "proc", "source": "proc" }),
        json!({ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] }),
        json!({ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] }),
        json!({ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] }),
        json!({ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"] }),
        json!({ "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"] }),
    ]
}

/// The seccomp architecture name of this machine.
fn seccomp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "SCMP_ARCH_AARCH64",
        _ => "SCMP_ARCH_X86_64",
    }
}

fn namespaces(kinds: &[&str]) -> Value {
    Value::Array(kinds.iter().map(|k| json!({ "type": k })).collect())
}

/// A non-root process with most process and linux fields set, its own namespaces (cgroup
/// included), devices, resources, sysctl, seccomp, extra mounts and slave root propagation.
/// `host_ns` is the runtime's namespace inodes, `bind_src` a host dir to bind read-only.
pub fn full(host_ns: &str, bind_src: &Path) -> Value {
    let mut mounts = standard_mounts();
    mounts.push(json!({ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                        "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }));
    mounts.push(json!({ "destination": "/mnt/tmp", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", "noatime", "mode=1750", "size=2048k", "uid=1000", "gid=1001"] }));
    mounts.push(json!({ "destination": "/mnt/bind", "type": "bind", "source": bind_src,
                        "options": ["rbind", "ro", "nosuid"] }));
    // bind_src has a tmpfs below it (the runner mounts one): `rro` must reach it too.
    mounts.push(json!({ "destination": "/mnt/rro", "type": "bind", "source": bind_src,
                        "options": ["rbind", "rro", "rnosuid", "rnodev"] }));
    json!({
        "ociVersion": "1.0.2",
        "root": { "path": "rootfs", "readonly": false },
        "process": {
            "terminal": false,
            "user": { "uid": 1000, "gid": 1001, "additionalGids": [1002, 1003], "umask": 0o027 },
            "args": [PROBE_IN_ROOTFS, "full"],
            "env": ["PATH=/bin", format!("OCI_HOST_NS={host_ns}"), "OCI_VALUE=a b=c"],
            "cwd": "/home/probe",
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_BIND_SERVICE",
                             "CAP_SETUID", "CAP_SETGID", "CAP_AUDIT_WRITE"],
                "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
                "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [
                { "type": "RLIMIT_NOFILE", "soft": 1000, "hard": 1001 },
                { "type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192 }
            ],
            "noNewPrivileges": true,
            "oomScoreAdj": 123,
            "ioPriority": { "class": "IOPRIO_CLASS_BE", "priority": 5 }
        },
        "hostname": "oci-full",
        "domainname": "oci.example",
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces(&["pid", "network", "ipc", "uts", "mount", "cgroup"]),
            "devices": [
                { "path": "/dev/oci-char", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640,
                  "uid": 1000, "gid": 1001 },
                { "path": "/dev/oci-block", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600,
                  "uid": 0, "gid": 0 },
                { "path": "/dev/oci-fifo", "type": "p", "fileMode": 0o620, "uid": 1000, "gid": 0 }
            ],
            "resources": {
                "memory": { "limit": 67108864 },
                "pids": { "limit": 99 },
                "cpu": { "shares": 512 }
            },
            "sysctl": { "kernel.msgmax": "4096", "net.ipv4.ip_forward": "1" },
            "maskedPaths": ["/proc/timer_list", "/proc/keys", "/sys/firmware", "/proc/oci-missing"],
            "readonlyPaths": ["/proc/sys", "/proc/irq", "/proc/bus"],
            "rootfsPropagation": "slave",
            "seccomp": {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": [seccomp_arch()],
                "syscalls": [
                    { "names": ["kcmp"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33 },
                    { "names": ["getpriority"], "action": "SCMP_ACT_ERRNO" }
                ]
            }
        }
    })
}

/// Root in a new user namespace mapped to `USERNS_HOST_ID`, with capabilities, sysctl of a
/// namespace the container owns, rlimits and private root propagation.
pub fn userns(host_ns: &str) -> Value {
    let map = json!([{ "containerID": 0, "hostID": USERNS_HOST_ID, "size": 65536 }]);
    json!({
        "ociVersion": "1.0.2",
        "root": { "path": "rootfs", "readonly": false },
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": [PROBE_IN_ROOTFS, "userns"],
            "env": ["PATH=/bin", format!("OCI_HOST_NS={host_ns}")],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETUID",
                             "CAP_SETGID", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT"],
                "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"],
                "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"],
                "inheritable": ["CAP_KILL"],
                "ambient": ["CAP_KILL"]
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "soft": 512, "hard": 512 }],
            "noNewPrivileges": false,
            "oomScoreAdj": 200
        },
        "hostname": "oci-userns",
        "mounts": standard_mounts(),
        "linux": {
            "namespaces": namespaces(&["pid", "network", "ipc", "uts", "mount", "user"]),
            "uidMappings": map,
            "gidMappings": map,
            "sysctl": { "net.ipv4.ip_unprivileged_port_start": "80" },
            "maskedPaths": ["/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys"],
            "rootfsPropagation": "private"
        }
    })
}

/// Root with a read-only root filesystem, the runtime's network namespace, an ipc namespace
/// joined by path, shared root propagation and no_new_privs cutting the permitted set.
pub fn readonly(host_ns: &str, joined_ns: &str, ipc_path: &Path) -> Value {
    let mut mounts = standard_mounts();
    mounts.push(json!({ "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                        "options": ["nosuid", "nodev", "mode=1777", "size=1024k"] }));
    json!({
        "ociVersion": "1.0.2",
        "root": { "path": "rootfs", "readonly": true },
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0, "additionalGids": [10] },
            "args": [PROBE_IN_ROOTFS, "readonly"],
            "env": ["PATH=/bin", format!("OCI_HOST_NS={host_ns}"), format!("OCI_PATH_NS={joined_ns}")],
            "cwd": "/tmp",
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_SETUID", "CAP_SETGID",
                             "CAP_NET_RAW"],
                "effective": ["CAP_CHOWN", "CAP_KILL"],
                "permitted": ["CAP_CHOWN", "CAP_KILL"]
            },
            "noNewPrivileges": true
        },
        "hostname": "oci-readonly",
        "mounts": mounts,
        "linux": {
            "namespaces": [
                { "type": "pid" }, { "type": "mount" }, { "type": "uts" },
                { "type": "ipc", "path": ipc_path }
            ],
            "maskedPaths": ["/proc/timer_list"],
            "readonlyPaths": ["/proc/sys"],
            "rootfsPropagation": "shared"
        }
    })
}

/// Root with the scheduler, the personality, more cgroup values, and `host_device` (if any)
/// bound in but not allowed by the device rules.
pub fn extras(host_ns: &str, host_device: Option<&Path>) -> Value {
    let mut mounts = standard_mounts();
    mounts.push(json!({ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                        "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }));
    if let Some(dev) = host_device {
        mounts.push(json!({ "destination": "/dev/oci-denied", "type": "bind", "source": dev,
                            "options": ["bind"] }));
    }
    json!({
        "ociVersion": "1.0.2",
        "root": { "path": "rootfs", "readonly": false },
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": [PROBE_IN_ROOTFS, "extras"],
            "env": ["PATH=/bin", format!("OCI_HOST_NS={host_ns}")],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL"],
                "effective": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL"],
                "permitted": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL"]
            },
            "scheduler": { "policy": "SCHED_BATCH", "nice": 7 }
        },
        "hostname": "oci-extras",
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces(&["pid", "network", "ipc", "uts", "mount", "cgroup"]),
            "personality": { "domain": "LINUX32" },
            "resources": {
                "devices": [{ "allow": false, "access": "rwm" }],
                "memory": { "limit": 134217728, "reservation": 33554432 },
                "cpu": { "quota": 50000, "period": 100000, "cpus": "0" }
            }
        }
    })
}

/// A time namespace with clock offsets (OCI 1.1; runc 1.1 and crun 1.8 do not know it).
pub fn timens(host_ns: &str) -> Value {
    json!({
        "ociVersion": "1.1.0",
        "root": { "path": "rootfs", "readonly": false },
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": [PROBE_IN_ROOTFS, "timens"],
            "env": ["PATH=/bin", format!("OCI_HOST_NS={host_ns}")],
            "cwd": "/"
        },
        "mounts": standard_mounts(),
        "linux": {
            "namespaces": namespaces(&["pid", "network", "ipc", "uts", "mount", "time"]),
            "timeOffsets": {
                "monotonic": { "secs": 7200, "nanosecs": 0 },
                "boottime": { "secs": 3600, "nanosecs": 500 }
            }
        }
    })
}
