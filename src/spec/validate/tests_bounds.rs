//! The checks against hostile configs: paths out of the bundle, numbers the kernel refuses.

use serde_json::{json, Value};

fn paths_of(v: Value) -> Vec<String> {
    let spec = serde_json::from_value(v).unwrap();
    super::spec_problems(&spec)
        .into_iter()
        .map(|e| match e {
            crate::spec::SpecError::Invalid { path, .. } => path,
            other => other.to_string(),
        })
        .collect()
}

fn base() -> Value {
    json!({
        "ociVersion": "1.2.0",
        "root": { "path": "rootfs" },
        "process": { "args": ["sh"], "cwd": "/", "user": { "uid": 0, "gid": 0 } },
        "linux": { "namespaces": [{ "type": "mount" }, { "type": "user" }],
                   "uidMappings": [{ "containerID": 0, "hostID": 1000, "size": 10 }],
                   "gidMappings": [{ "containerID": 0, "hostID": 1000, "size": 10 }] }
    })
}

fn with(ptr: &str, value: Value) -> Value {
    let mut v = base();
    *v.pointer_mut(ptr).unwrap_or_else(|| panic!("{ptr}")) = value;
    v
}

#[test]
fn the_base_is_clean() {
    assert_eq!(paths_of(base()), Vec::<String>::new());
    assert!(paths_of(with("/root/path", json!("/abs/../rootfs"))).is_empty());
    assert!(paths_of(with("/process/cwd", json!("/procfs/x"))).is_empty());
}

#[test]
fn hostile_values_name_their_path() {
    let mut many = base();
    let line = json!({ "containerID": 0, "hostID": 1000, "size": 1 });
    many["linux"]["uidMappings"] = Value::Array(vec![line; 341]);
    let cases = [
        (with("/root/path", json!("../../etc")), "root.path"),
        (with("/process/cwd", json!("/proc/self/fd/3")), "process.cwd"),
        (with("/process/cwd", json!("/proc/1/cwd")), "process.cwd"),
        (
            with(
                "/linux/uidMappings",
                json!([
                    { "containerID": 0, "hostID": 1000, "size": 10 },
                    { "containerID": 5, "hostID": 2000, "size": 10 }
                ]),
            ),
            "linux.uidMappings[1].containerID",
        ),
        (many, "linux.uidMappings"),
        (with("/process/user/uid", json!(4294967295u32)), "process.user.uid"),
        (with("/process/user/gid", json!(2147483648u32)), "process.user.gid"),
        (
            with(
                "/process/user",
                json!({ "uid": 0, "gid": 0, "additionalGids": [1, 4294967295u32] }),
            ),
            "process.user.additionalGids[1]",
        ),
        (
            with("/process/user", json!({ "uid": 0, "gid": 0, "additionalGids": vec![1; 65_537] })),
            "process.user.additionalGids",
        ),
    ];
    for (v, path) in cases {
        assert_eq!(paths_of(v.clone()), [path], "{v}");
    }
}

#[test]
fn process_ids_and_map_ranges_are_bounded() {
    let mut v = base();
    v["process"]["user"]["uid"] = json!(2147483647u32);
    v["process"]["user"]["additionalGids"] = json!(vec![2147483647u32; 65_536]);
    v["linux"]["gidMappings"] = json!([{ "containerID": 1, "hostID": 0, "size": 4294967294u32 }]);
    assert!(paths_of(v).is_empty());
    let mut v = base();
    v["linux"]["gidMappings"] = json!([{ "containerID": 1, "hostID": 0, "size": 4294967295u32 }]);
    assert_eq!(paths_of(v), ["linux.gidMappings[0]"]);
    let mut v = base();
    v["mounts"] = json!([{ "destination": "/m", "type": "bind", "source": "/", "options": ["idmap"],
        "uidMappings": [{ "containerID": 0, "hostID": 1000, "size": 1 }],
        "gidMappings": [{ "containerID": 0, "hostID": 4294967295u32, "size": 1 }] }]);
    assert_eq!(paths_of(v), ["mounts[0].gidMappings[0]"]);
}

#[test]
fn resource_numbers_are_bounded() {
    let resources = |r: Value| {
        let mut v = base();
        v["linux"]["resources"] = r;
        v["linux"]["cgroupsPath"] = json!("/a/b");
        paths_of(v)
    };
    assert!(resources(json!({ "pids": { "limit": -1 }, "memory": { "limit": -1 } })).is_empty());
    let cases = [
        (json!({ "pids": { "limit": -5 } }), "linux.resources.pids.limit"),
        (json!({ "memory": { "swap": -2 } }), "linux.resources.memory.swap"),
        (json!({ "cpu": { "shares": 300000 } }), "linux.resources.cpu.shares"),
        (json!({ "cpu": { "period": 10 } }), "linux.resources.cpu.period"),
        (json!({ "cpu": { "quota": -7 } }), "linux.resources.cpu.quota"),
        (json!({ "blockIO": { "weight": 5 } }), "linux.resources.blockIO.weight"),
    ];
    for (r, path) in cases {
        assert_eq!(resources(r.clone()), [path], "{r}");
    }
    let mut v = base();
    v["linux"]["cgroupsPath"] = json!("/berth-test/../../x");
    assert_eq!(paths_of(v), ["linux.cgroupsPath"]);
}

#[test]
fn host_cgroups_are_warned_about() {
    let warned = |path: &str| {
        let mut v = base();
        v["linux"]["cgroupsPath"] = json!(path);
        let spec: oci_spec::runtime::Spec = serde_json::from_value(v).unwrap();
        super::resources::cgroups_path_warning(&spec).is_some()
    };
    for path in ["/", "/system.slice", "/init.scope/", "/user.slice", "a.slice/b", "/x/ssh.service"]
    {
        assert!(warned(path), "{path}");
    }
    for path in ["/berth-test/a", "mycontainer", "/slice/x"] {
        assert!(!warned(path), "{path}");
    }
}
