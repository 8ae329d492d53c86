//! Test helpers of the process module: real validated configs from `berth spec`'s default,
//! edited, through the same loader `create` uses.

use serde_json::Value;

use crate::spec::ValidSpec;
use crate::state::tempdir::TempDir;

/// The default config (no terminal) after `edit`, loaded from a bundle in a fresh temp dir
/// (kept alive by the returned guard).
pub(crate) fn load_spec(edit: impl FnOnce(&mut Value)) -> (TempDir, ValidSpec) {
    let dir = TempDir::new("process-spec");
    std::fs::create_dir(dir.path().join("rootfs")).unwrap();
    let mut config: Value = serde_json::from_str(&crate::spec::default_spec(false)).unwrap();
    config["process"]["terminal"] = Value::Bool(false);
    edit(&mut config);
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let spec = crate::spec::load(dir.path()).unwrap();
    (dir, spec)
}

/// `config`'s namespace list with `entry` added (or replacing the one of its type).
pub(crate) fn with_namespace(config: &mut Value, entry: Value) {
    let list = config["linux"]["namespaces"].as_array_mut().unwrap();
    list.retain(|ns| ns["type"] != entry["type"]);
    list.push(entry);
}

/// `config` with a user namespace mapping root to 100000.
pub(crate) fn with_user_namespace(config: &mut Value) {
    with_namespace(config, serde_json::json!({ "type": "user" }));
    let map = serde_json::json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    config["linux"]["uidMappings"] = map.clone();
    config["linux"]["gidMappings"] = map;
}
