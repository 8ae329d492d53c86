//! The benchmark's rootfs and configs: runc's default config, its variants, and podman's
//! seccomp profile turned into OCI form.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use serde_json::{json, Value};

/// Podman's default seccomp profile (Debian's golang-github-containers-common).
pub const PODMAN_SECCOMP: &str = "/usr/share/containers/seccomp.json";
/// The capabilities of the benchmark's containers (runc's default set).
const CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The bundle variants the rows use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Variant {
    True,
    Sleep,
    Mounts(usize),
    /// Podman's default seccomp profile.
    Seccomp,
    /// `Sleep` under podman's default seccomp profile (the `exec` group).
    SleepSeccomp,
    /// A seccomp filter of this many generated rules with argument filters
    /// ([`generated_seccomp`]).
    SeccompRules(usize),
    /// About this many bytes of annotations ([`annotations`]).
    Annotations(usize),
    /// `berth spec`'s config as it is (no cgroupsPath), running /bin/true.
    Stock,
    /// The same running `sleep 3600`.
    StockSleep,
}

impl Variant {
    pub fn tag(self) -> String {
        match self {
            Variant::True => "true".into(),
            Variant::Sleep => "sleep".into(),
            Variant::Mounts(n) => format!("mounts{n}"),
            Variant::Seccomp => "seccomp".into(),
            Variant::SleepSeccomp => "sleep-seccomp".into(),
            Variant::SeccompRules(n) => format!("seccomp{n}"),
            Variant::Annotations(n) => format!("annotations{n}"),
            Variant::Stock => "stock".into(),
            Variant::StockSleep => "stock-sleep".into(),
        }
    }

    /// A stock config: every runtime uses its own default cgroup path.
    pub fn is_stock(self) -> bool {
        matches!(self, Variant::Stock | Variant::StockSleep)
    }
}

pub fn build_rootfs(rootfs: &Path) -> Result<(), String> {
    let io = |e: std::io::Error| format!("building the rootfs: {e}");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt"] {
        fs::create_dir_all(rootfs.join(d)).map_err(io)?;
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).map_err(io)?;
    // BERTH_BENCH_BUSYBOX: a static busybox elsewhere (the systemd guest has none in /bin).
    let busybox = std::env::var("BERTH_BENCH_BUSYBOX").unwrap_or_else(|_| "/bin/busybox".into());
    fs::copy(&busybox, rootfs.join("bin/busybox"))
        .map_err(|e| format!("copying {busybox} (apt-get install busybox-static): {e}"))?;
    fs::set_permissions(rootfs.join("bin/busybox"), fs::Permissions::from_mode(0o755))
        .map_err(io)?;
    for applet in ["sh", "true", "sleep"] {
        symlink("busybox", rootfs.join("bin").join(applet)).map_err(io)?;
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").map_err(io)?;
    fs::write(rootfs.join("etc/group"), "root:x:0:\n").map_err(io)?;
    Ok(())
}

/// runc's default config (`runc spec`), running /bin/true without a terminal on a
/// writable rootfs (so the runtimes can make mount points). ociVersion 1.0.2, which all three
/// accept (crun 1.8 refuses 1.2.0).
pub fn base_config(rootfs: &Path) -> Value {
    let caps = json!(CAPS);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/bin/true"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": rootfs, "readonly": false },
        "hostname": "bench",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi", "/sys/devices/virtual/powercap"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// The config `berth spec` writes, with only what a run without a terminal needs changed:
/// `process.args` (/bin/true), `process.terminal` false, `root.path` (the benchmark's
/// rootfs) and `ociVersion` 1.0.2 (crun 1.8 refuses 1.2.0). Everything else stays as the
/// runtime's defaults have it: no cgroupsPath, a read-only rootfs, the devices deny-all rule,
/// no cgroup namespace. It differs from `runc spec`'s only in hostname, one masked path
/// (/sys/devices/virtual/powercap) and ambient capabilities (runc's lists them too).
pub fn stock_config(berth: &Path, rootfs: &Path, dir: &Path) -> Result<Value, String> {
    let spec_dir = dir.join("stock-spec");
    if !spec_dir.exists() {
        fs::create_dir(&spec_dir).map_err(|e| format!("creating {}: {e}", spec_dir.display()))?;
        let status = std::process::Command::new(berth)
            .arg("spec")
            .arg("--bundle")
            .arg(&spec_dir)
            .status()
            .map_err(|e| format!("running berth spec: {e}"))?;
        if !status.success() {
            return Err(format!("berth spec failed ({status})"));
        }
    }
    let path = spec_dir.join("config.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut cfg: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    cfg["ociVersion"] = json!("1.0.2");
    cfg["process"]["terminal"] = json!(false);
    cfg["process"]["args"] = json!(["/bin/true"]);
    cfg["root"]["path"] = json!(rootfs);
    Ok(cfg)
}

/// Turns podman's profile (Docker's format) into OCI `linux.seccomp` for this machine the way
/// podman does: keep the rules whose `includes` (architectures, capabilities) hold and whose
/// `excludes` do not, and list the native architecture with its sub-architectures.
pub fn podman_seccomp(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| {
        format!("{}: {e} (apt-get install golang-github-containers-common)", path.display())
    })?;
    let profile: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let (go_arch, scmp_arch) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        other => return Err(format!("no architecture mapping for {other}")),
    };
    let has =
        |list: &Value, item: &str| list.as_array().is_some_and(|a| a.iter().any(|v| v == item));
    let all_caps = |list: &Value| {
        list.as_array().is_none_or(|a| a.iter().all(|c| CAPS.iter().any(|k| c == k)))
    };
    let any_cap = |list: &Value| {
        list.as_array().is_some_and(|a| a.iter().any(|c| CAPS.iter().any(|k| c == k)))
    };
    let mut syscalls = Vec::new();
    for rule in profile["syscalls"].as_array().ok_or("no syscalls list")? {
        let (inc, exc) = (&rule["includes"], &rule["excludes"]);
        if (inc["arches"].is_array() && !has(&inc["arches"], go_arch))
            || !all_caps(&inc["caps"])
            || has(&exc["arches"], go_arch)
            || any_cap(&exc["caps"])
        {
            continue;
        }
        let mut oci = json!({ "names": rule["names"], "action": rule["action"] });
        for key in ["args", "errnoRet"] {
            if !rule[key].is_null() {
                oci[key] = rule[key].clone();
            }
        }
        syscalls.push(oci);
    }
    let mut arches = vec![json!(scmp_arch)];
    if let Some(entry) = profile["archMap"]
        .as_array()
        .and_then(|m| m.iter().find(|e| e["architecture"] == scmp_arch))
    {
        arches.extend(entry["subArchitectures"].as_array().cloned().unwrap_or_default());
    }
    let mut oci = json!({ "defaultAction": profile["defaultAction"], "architectures": arches, "syscalls": syscalls });
    if !profile["defaultErrnoRet"].is_null() {
        oci["defaultErrnoRet"] = profile["defaultErrnoRet"].clone();
    }
    Ok(oci)
}

/// Syscalls the generated seccomp rules name: ones /bin/true and the runtimes' last steps
/// never make with the arguments the rules match.
const RULE_SYSCALLS: [&str; 8] = [
    "getpriority",
    "setpriority",
    "ioprio_get",
    "ioprio_set",
    "sched_getparam",
    "sched_getscheduler",
    "kcmp",
    "getrusage",
];
/// How many distinct argument values the generated rules cycle through per syscall: the
/// kernel takes at most 4,096 BPF instructions, so 10,000 distinct comparisons would make
/// every runtime's filter too big to load; the runtimes still parse and hand over every rule.
const RULE_VALUES: usize = 40;

/// A `linux.seccomp` that allows by default and has `rules` rules, each refusing one of
/// [`RULE_SYSCALLS`] with EPERM when its first argument equals a large value no caller
/// passes (an argument filter in every rule).
pub fn generated_seccomp(rules: usize) -> Value {
    let syscalls: Vec<Value> = (0..rules)
        .map(|i| {
            let value = 1_000_000 + (i / RULE_SYSCALLS.len()) % RULE_VALUES;
            json!({
                "names": [RULE_SYSCALLS[i % RULE_SYSCALLS.len()]],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 1,
                "args": [{ "index": 0, "value": value, "op": "SCMP_CMP_EQ" }]
            })
        })
        .collect();
    let arch = match std::env::consts::ARCH {
        "aarch64" => "SCMP_ARCH_AARCH64",
        _ => "SCMP_ARCH_X86_64",
    };
    json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch], "syscalls": syscalls })
}

/// About `bytes` bytes of annotations (keys and values), in entries of 1 KiB; none for 0.
pub fn annotations(bytes: usize) -> Value {
    const ENTRY: usize = 1024;
    let mut map = serde_json::Map::new();
    for i in 0..bytes.div_ceil(ENTRY) {
        let key = format!("bench.example.com/annotation-{i:06}");
        let value = "v".repeat(ENTRY - key.len());
        map.insert(key, Value::String(value));
    }
    Value::Object(map)
}
