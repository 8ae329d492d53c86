//! The checks of the spec alone, by the config paths they name.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use super::hooks::build_hooks;
use super::process::{parse_id_list, personality_flag, personality_flag_bits};
use super::resources::interface_name_problem;
use super::*;
use crate::spec::{ConsoleSize, NamespaceKind, Rlimit};

fn base() -> Value {
    json!({
        "ociVersion": "1.2.0",
        "root": { "path": "rootfs" },
        "process": { "args": ["sh"], "cwd": "/", "user": { "uid": 0, "gid": 0 } },
        "linux": { "namespaces": [{ "type": "mount" }] }
    })
}

fn spec_of(v: &Value) -> Spec {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn paths_of(v: &Value) -> Vec<String> {
    spec_problems(&spec_of(v))
        .into_iter()
        .map(|e| match e {
            SpecError::Invalid { path, .. } => path,
            other => panic!("not an Invalid error: {other}"),
        })
        .collect()
}

/// `base()` with the JSON pointer `at` set to `value` (objects created on the way).
fn with(at: &str, value: Value) -> Value {
    let mut v = base();
    let mut cur = &mut v;
    for key in at.trim_start_matches('/').split('/') {
        cur = match key.parse::<usize>() {
            Ok(i) => &mut cur[i],
            Err(_) => &mut cur[key],
        };
    }
    *cur = value;
    v
}

#[test]
fn good_configs_pass() {
    let good = [
        base(),
        with("/ociVersion", json!("1.0.2-dev+build.5")),
        with("/process/env", json!(["A=1", "B=", "C==x"])),
        // No mount namespace and nothing that mounts: the runtime's is shared.
        with("/linux/namespaces", json!([{ "type": "pid" }])),
        {
            // A hostname is set inside a UTS namespace joined by path.
            let mut v = with("/hostname", json!("h"));
            v["linux"]["namespaces"] =
                json!([{ "type": "mount" }, { "type": "uts", "path": "/proc/1/ns/uts" }]);
            v
        },
        with(
            "/process/rlimits",
            json!([{ "type": "RLIMIT_NOFILE", "soft": 10, "hard": 10 },
                   { "type": "RLIMIT_CORE", "soft": 0, "hard": 5 }]),
        ),
        with("/process/capabilities", json!({ "bounding": ["CAP_SYS_ADMIN", "CAP_BPF"] })),
        with("/mounts", json!([{ "destination": "/proc", "type": "proc", "source": "proc" }])),
        with(
            "/linux",
            json!({
                "namespaces": [{ "type": "mount" }, { "type": "uts" }, { "type": "user" },
                               { "type": "time" }, { "type": "network", "path": "/run/netns/x" }],
                "uidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }],
                "gidMappings": [{ "containerID": 0, "hostID": 0, "size": 4294967295u32 }],
                "rootfsPropagation": "rslave",
                "maskedPaths": ["/proc/kcore"],
                "resources": {},
                "sysctl": {},
                "devices": [{ "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229 }]
            }),
        ),
        with("/hooks", json!({ "prestart": [] })),
        with("/process/apparmorProfile", json!("")),
        // podman's --device: the host node's st_mode, S_IFCHR included.
        with(
            "/linux/devices",
            json!([{ "path": "/dev/x", "type": "c", "major": 1, "minor": 3, "fileMode": 0o20666 }]),
        ),
    ];
    for v in good {
        assert_eq!(paths_of(&v), Vec::<String>::new(), "{v}");
    }
}

#[test]
fn bad_configs_name_their_path() {
    let userns = |extra: Value| {
        let mut v = base();
        v["linux"] = json!({ "namespaces": [{ "type": "mount" }, { "type": "user" }] });
        for (k, val) in extra.as_object().unwrap() {
            v["linux"][k] = val.clone();
        }
        v
    };
    let one_map = json!([{ "containerID": 0, "hostID": 1000, "size": 1 }]);
    let bad = [
        (with("/ociVersion", json!("")), "ociVersion"),
        (with("/ociVersion", json!("2.0.0")), "ociVersion"),
        (with("/ociVersion", json!("1.0")), "ociVersion"),
        (with("/ociVersion", json!("1.02.0")), "ociVersion"),
        (with("/root", Value::Null), "root"),
        (with("/root/path", json!("")), "root.path"),
        (with("/process", Value::Null), "process"),
        (with("/process/args", json!([])), "process.args"),
        (with("/process/args", Value::Null), "process.args"),
        (with("/process/args", json!(["", "x"])), "process.args[0]"),
        (with("/process/cwd", json!("home")), "process.cwd"),
        (with("/process/env", json!(["A=1", "NOEQUALS"])), "process.env[1]"),
        (with("/process/env", json!(["=x"])), "process.env[0]"),
        (
            with("/process/rlimits", json!([{ "type": "RLIMIT_NOFILE", "soft": 2, "hard": 1 }])),
            "process.rlimits[0].soft",
        ),
        (
            with(
                "/process/rlimits",
                json!([{ "type": "RLIMIT_CPU", "soft": 1, "hard": 1 },
                       { "type": "RLIMIT_CPU", "soft": 1, "hard": 1 }]),
            ),
            "process.rlimits[1].type",
        ),
        (with("/process/oomScoreAdj", json!(1001)), "process.oomScoreAdj"),
        (with("/process/user/umask", json!(0o1777)), "process.user.umask"),
        (
            with("/process/consoleSize", json!({ "height": 70000, "width": 80 })),
            "process.consoleSize.height",
        ),
        (with("/process/commandLine", json!("cmd.exe")), "process.commandLine"),
        (
            with(
                "/mounts",
                json!([{ "destination": "/ok" }, { "destination": "/ok" }, { "destination": "/ok" }, { "destination": "rel" }]),
            ),
            "mounts[3].destination",
        ),
        (with("/mounts", json!([{ "destination": "/a/../etc" }])), "mounts[0].destination"),
        (
            with(
                "/linux/namespaces",
                json!([{ "type": "mount" }, { "type": "pid" }, { "type": "pid" }]),
            ),
            "linux.namespaces[2].type",
        ),
        (
            with("/linux/namespaces", json!([{ "type": "mount", "path": "ns/mnt" }])),
            "linux.namespaces[0].path",
        ),
        (
            with(
                "/linux",
                json!({ "namespaces": [{ "type": "pid" }], "maskedPaths": ["/proc/kcore"] }),
            ),
            "linux.maskedPaths",
        ),
        (
            {
                let mut v = with("/mounts", json!([{ "destination": "/proc", "type": "proc" }]));
                v["linux"]["namespaces"] = json!([]);
                v
            },
            "mounts",
        ),
        (
            {
                let mut v = with("/root/readonly", json!(true));
                v["linux"]["namespaces"] = json!([{ "type": "pid" }]);
                v
            },
            "root.readonly",
        ),
        (with("/hostname", json!("h")), "hostname"),
        (with("/domainname", json!("d")), "domainname"),
        (with("/linux/uidMappings", one_map.clone()), "linux.uidMappings"),
        (userns(json!({ "gidMappings": one_map.clone() })), "linux.uidMappings"),
        (
            userns(
                json!({ "uidMappings": [{ "containerID": 0, "hostID": 1, "size": 0 }], "gidMappings": one_map.clone() }),
            ),
            "linux.uidMappings[0].size",
        ),
        (
            userns(
                json!({ "uidMappings": one_map.clone(), "gidMappings": [{ "containerID": 4294967295u32, "hostID": 1, "size": 2 }] }),
            ),
            "linux.gidMappings[0]",
        ),
        (
            {
                let mut v = base();
                v["linux"] = json!({
                    "namespaces": [{ "type": "mount" }, { "type": "user", "path": "/proc/1/ns/user" }],
                    "uidMappings": one_map.clone()
                });
                v
            },
            "linux.uidMappings",
        ),
        (with("/linux/rootfsPropagation", json!("rshared2")), "linux.rootfsPropagation"),
        (
            with(
                "/linux/devices",
                json!([{ "path": "dev/null", "type": "c", "major": 1, "minor": 3 }]),
            ),
            "linux.devices[0].path",
        ),
        (
            with("/linux/devices", json!([{ "path": "/dev/x", "type": "a" }])),
            "linux.devices[0].type",
        ),
        (
            with(
                "/linux/devices",
                json!([{ "path": "/dev/x", "type": "c", "major": 1, "minor": 3, "fileMode": 0o60666 }]),
            ),
            "linux.devices[0].fileMode",
        ),
        (
            with("/linux/devices", json!([{ "path": "/dev/x", "type": "c", "major": -1 }])),
            "linux.devices[0].major",
        ),
        (
            with("/linux/devices", json!([{ "path": "/", "type": "b", "major": 8, "minor": 0 }])),
            "linux.devices[0].path",
        ),
        (with("/linux/maskedPaths", json!(["proc/kcore"])), "linux.maskedPaths[0]"),
        (with("/linux/readonlyPaths", json!(["/proc/../sys"])), "linux.readonlyPaths[0]"),
        (with("/annotations", json!({ "": "v" })), "annotations"),
        (
            with("/linux/resources", json!({ "devices": [{ "allow": false, "access": "rwx" }] })),
            "linux.resources.devices[0].access",
        ),
        (
            with("/linux/resources", json!({ "memory": { "swappiness": 101 } })),
            "linux.resources.memory.swappiness",
        ),
        (
            with(
                "/linux/resources",
                json!({ "hugepageLimits": [{ "pageSize": "2M", "limit": 1 }] }),
            ),
            "linux.resources.hugepageLimits[0].pageSize",
        ),
        (
            with("/linux/resources", json!({ "unified": { "../x": "1" } })),
            "linux.resources.unified.../x",
        ),
    ];
    for (v, path) in bad {
        let paths = paths_of(&v);
        assert!(paths.iter().any(|p| p == path), "{v}: expected {path}, got {paths:?}");
    }
}

#[test]
fn bad_isolation_values_are_refused() {
    let refused = [
        (with("/linux/intelRdt", json!({ "closID": "../x" })), "linux.intelRdt.closID"),
        (
            with("/linux/memoryPolicy", json!({ "mode": "MPOL_BIND", "nodes": "" })),
            "linux.memoryPolicy.nodes",
        ),
        (
            with("/linux/memoryPolicy", json!({ "mode": "MPOL_DEFAULT", "nodes": "0" })),
            "linux.memoryPolicy.nodes",
        ),
        (
            with("/linux/memoryPolicy", json!({ "mode": "MPOL_INTERLEAVE", "nodes": "1-0" })),
            "linux.memoryPolicy.nodes",
        ),
        (with("/linux/netDevices", json!({ "eth/0": {} })), "linux.netDevices.eth/0"),
        (
            with("/linux/netDevices", json!({ "a": { "name": "x" }, "b": { "name": "x" } })),
            "linux.netDevices.b.name",
        ),
        (
            with("/linux/personality", json!({ "domain": "LINUX", "flags": ["BOGUS"] })),
            "linux.personality.flags[0]",
        ),
        (with("/process/apparmorProfile", json!("a\nb")), "process.apparmorProfile"),
        (
            with(
                "/mounts",
                json!([{ "destination": "/m", "type": "tmpfs", "uidMappings": [] , "gidMappings": [] }]),
            ),
            "mounts[0].options",
        ),
        (
            with(
                "/mounts",
                json!([{ "destination": "/m", "type": "bind", "source": "/", "options": ["idmap"] }]),
            ),
            "mounts[0].uidMappings",
        ),
        (with("/windows", json!({ "layerFolders": [] })), "windows"),
    ];
    for (v, path) in refused {
        let errors = spec_problems(&spec_of(&v));
        let hit =
            errors.iter().any(|e| matches!(e, SpecError::Invalid { path: p, .. } if p == path));
        assert!(hit, "{v}: {path} not refused: {errors:?}");
    }
}

#[test]
fn hooks_are_checked_and_kept() {
    let hook = json!({ "path": "/bin/true", "args": ["true", "x"], "env": ["A=b"], "timeout": 5 });
    let v = with("/hooks", json!({ "poststart": [hook], "createRuntime": [{ "path": "/h" }] }));
    assert!(spec_problems(&spec_of(&v)).is_empty());
    let hooks = build_hooks(&spec_of(&v));
    assert_eq!(hooks.poststart[0].args, ["true", "x"]);
    assert_eq!(hooks.poststart[0].timeout, Some(5));
    assert_eq!(hooks.create_runtime[0].path, PathBuf::from("/h"));
    let bad = [
        (with("/hooks", json!({ "poststop": [{ "path": "rel" }] })), "hooks.poststop[0].path"),
        (
            with("/hooks", json!({ "prestart": [{ "path": "/h", "timeout": 0 }] })),
            "hooks.prestart[0].timeout",
        ),
        (
            with("/hooks", json!({ "poststart": [{ "path": "/h", "env": ["NOEQ"] }] })),
            "hooks.poststart[0].env[0]",
        ),
    ];
    for (v, path) in bad {
        assert_eq!(paths_of(&v), [path], "{v}");
    }
}

#[test]
fn sysctls_must_belong_to_an_own_namespace() {
    let with_ns = |sysctl: Value, ns: Value| {
        let mut v = with("/linux/sysctl", sysctl);
        v["linux"]["namespaces"] = ns;
        v
    };
    let own = json!([{ "type": "mount" }, { "type": "network" }, { "type": "ipc" }]);
    let good = with_ns(
        json!({ "net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "9" }),
        own.clone(),
    );
    assert!(paths_of(&good).is_empty(), "{:?}", paths_of(&good));
    let host = json!([{ "type": "mount" }]);
    assert_eq!(
        paths_of(&with_ns(json!({ "net.ipv4.ip_forward": "1" }), host)),
        ["linux.sysctl.net.ipv4.ip_forward"]
    );
    assert_eq!(
        paths_of(&with_ns(json!({ "kernel.panic": "1" }), own.clone())),
        ["linux.sysctl.kernel.panic"]
    );
    assert_eq!(paths_of(&with_ns(json!({ "net..x": "1" }), own)), ["linux.sysctl.net..x"]);
}

#[test]
fn all_problems_are_collected() {
    let mut v = with("/process/cwd", json!("rel"));
    v["ociVersion"] = json!("");
    v["linux"]["intelRdt"] = json!({ "closID": "a/b" });
    assert_eq!(paths_of(&v), ["ociVersion", "process.cwd", "linux.intelRdt.closID"]);
}

#[test]
fn seccomp_profiles_are_checked() {
    let seccomp = |profile: Value| with("/linux/seccomp", profile);
    let good = seccomp(json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/agent.sock",
        "syscalls": [
            { "names": ["mkdir", "not_a_syscall_yet"], "action": "SCMP_ACT_NOTIFY" },
            { "names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 7 },
            { "names": ["clone"], "action": "SCMP_ACT_ALLOW",
              "args": [{ "index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }] }
        ]
    }));
    assert_eq!(paths_of(&good), Vec::<String>::new());
    let rule =
        |rule: Value| seccomp(json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule] }));
    let bad = [
        (
            seccomp(json!({ "defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1 })),
            "linux.seccomp.defaultErrnoRet",
        ),
        (
            seccomp(json!({ "defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a" })),
            "linux.seccomp.defaultAction",
        ),
        (
            rule(json!({ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000 })),
            "linux.seccomp.syscalls[0].errnoRet",
        ),
        (
            rule(json!({ "names": ["mkdir"], "action": "SCMP_ACT_LOG", "errnoRet": 1 })),
            "linux.seccomp.syscalls[0].errnoRet",
        ),
        (rule(json!({ "names": [], "action": "SCMP_ACT_LOG" })), "linux.seccomp.syscalls[0].names"),
        (
            rule(
                json!({ "names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{ "index": 6, "value": 1, "op": "SCMP_CMP_EQ" }] }),
            ),
            "linux.seccomp.syscalls[0].args[0].index",
        ),
        (
            rule(json!({ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" })),
            "linux.seccomp.listenerPath",
        ),
        (
            seccomp(json!({ "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a",
                            "syscalls": [{ "names": ["sendmsg"], "action": "SCMP_ACT_NOTIFY" }] })),
            "linux.seccomp.syscalls[0].names",
        ),
    ];
    for (v, path) in bad {
        let paths = paths_of(&v);
        assert!(paths.iter().any(|p| p == path), "{v}: expected {path}, got {paths:?}");
    }
}

#[test]
fn build_resolves_values() {
    let mut v = base();
    v["process"]["rlimits"] = json!([{ "type": "RLIMIT_NOFILE", "soft": 5, "hard": 6 }]);
    v["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_CHOWN"], "ambient": ["NET_RAW", "CAP_KILL"],
        "inheritable": ["CAP_NET_RAW"], "permitted": ["CAP_NET_RAW"]
    });
    v["process"]["terminal"] = json!(true);
    v["process"]["consoleSize"] = json!({ "height": 24, "width": 80 });
    v["linux"]["namespaces"] = json!([{ "type": "mount" }, { "type": "uts" }]);
    v["hostname"] = json!("box");
    let spec = build(spec_of(&v), "/b".into(), "/b/rootfs".into()).unwrap();
    let p = &spec.process;
    assert_eq!(p.rlimits, [Rlimit { resource: libc::RLIMIT_NOFILE as i32, soft: 5, hard: 6 }]);
    let caps = p.capabilities.as_ref().unwrap();
    assert_eq!(caps.bounding, [caps::Capability::CAP_CHOWN, caps::Capability::CAP_KILL]);
    assert_eq!(caps.ambient, [caps::Capability::CAP_NET_RAW]);
    assert!(caps.effective.is_empty());
    assert_eq!(p.console_size, Some(ConsoleSize { height: 24, width: 80 }));
    assert!(spec.creates_namespace(NamespaceKind::Uts));
    assert_eq!(spec.hostname.as_deref(), Some("box"));
    assert!(!spec.root_readonly);
}

#[test]
fn id_lists() {
    assert_eq!(parse_id_list("0-3,7").unwrap(), vec![0, 1, 2, 3, 7]);
    assert_eq!(parse_id_list("1,1, 0").unwrap(), vec![0, 1]);
    assert!(parse_id_list("3-1").unwrap_err().contains("backwards"));
    assert!(parse_id_list("x").is_err());
    assert!(parse_id_list("0,").is_err());
    assert!(parse_id_list("1024").unwrap_err().contains("1023"));
}

#[test]
fn personality_flags_by_name() {
    let flags = vec!["ADDR_NO_RANDOMIZE".to_string(), "UNAME26".to_string()];
    assert_eq!(personality_flag_bits(Some(&flags)), 0x0060000);
    assert_eq!(personality_flag("BOGUS"), None);
}

#[test]
fn interface_names() {
    assert!(interface_name_problem("eth0").is_none());
    assert!(interface_name_problem("").is_some());
    assert!(interface_name_problem("a/b").is_some());
    assert!(interface_name_problem("0123456789abcdef").is_some());
}

#[test]
fn cwd_and_env_rules_shared_with_exec_flags() {
    use super::process::{cwd_problem, env_problem, EnvProblem};
    assert_eq!(cwd_problem(Path::new("rel")), Some("must be an absolute path"));
    assert!(cwd_problem(Path::new("/proc/self/fd/3")).unwrap().contains("/proc"));
    assert_eq!(cwd_problem(Path::new("/proc")), None);
    assert_eq!(env_problem("A"), Some(EnvProblem::NotKeyValue));
    assert_eq!(env_problem("=x"), Some(EnvProblem::EmptyName));
    assert_eq!(env_problem("A=\0"), Some(EnvProblem::Nul));
    assert_eq!(env_problem("A=="), None);
}
