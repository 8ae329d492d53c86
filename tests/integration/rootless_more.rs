//! Rootless follow-ups: what `berth features` says about rootless, and the subordinate id
//! ranges checked before anything is made. Runs berth as a throw-away unprivileged user
//! through the helpers of rootless.rs.

use std::fs;
use std::process::Command;

use serde_json::Value;

use crate::harness::{reference_runc, TestEnv};
use crate::rootless::{multi_id_config, Rootless};

#[test]
fn features_as_the_user_says_what_rootless_supports() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-feat");
    let rl = Rootless::new(&env, "feat");
    let out = rl.berth(&["features"]);
    out.ok();
    let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:#?}"));
    serde_json::from_value::<oci_spec::runtime::Features>(doc.clone())
        .unwrap_or_else(|e| panic!("not the spec's Features structure: {e}"));
    let notes = &doc["annotations"];
    assert_eq!(notes["org.berth.rootless"], "true", "{doc:#}");
    assert_eq!(notes["org.berth.rootless.idmap"], "own-id,newuidmap", "{doc:#}");
    assert_eq!(notes["org.berth.rootless.cgroup"], "delegated-cgroupfs,systemd-user", "{doc:#}");
    // --systemd-cgroup as the user reaches its own systemd instance (vm_systemd_user.rs).
    assert_eq!(doc["linux"]["cgroup"]["systemdUser"], true, "{doc:#}");
}

/// Runs the multi-id config mapping `host`.. as the user; asserts it fails with one line
/// naming `field` and `file`, and that the state root holds nothing at all.
#[track_caller]
fn refused_before_create(env: &TestEnv, rl: &Rootless, host: u32, field: &str, file: &str) {
    let bundle = rl.bundle(&multi_id_config(rl, "true", host));
    let out = rl.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("r")]);
    out.fails_with_one_line();
    for word in [field, file] {
        assert!(out.stderr.contains(word), "{word} not named: {out:#?}");
    }
    // Refused before the clone: the helper never ran, so its own words are absent.
    assert!(!out.stderr.contains("failed ("), "refused by the helper, not before: {out:#?}");
    let left: Vec<_> = match fs::read_dir(rl.state_root()) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name()).collect(),
        Err(_) => Vec::new(),
    };
    assert!(left.is_empty(), "state root not empty: {left:?}");
}

#[test]
fn unowned_subordinate_ranges_fail_before_anything_is_made() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-subid");
    let rl = Rootless::new(&env, "subid");
    let start = 1_600_000_000 + (std::process::id() % 100_000) * 1000;
    // No ranges at all: the uid map is refused first, by its index.
    refused_before_create(&env, &rl, start, "linux.uidMappings[1]", "/etc/subuid");
    // Subordinate uids but no gids: the gid map is refused, naming /etc/subgid.
    let range = format!("{start}-{}", start + 999);
    let _db = crate::rootless::USER_DB.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("usermod")
        .args(["--add-subuids", &range, &rl.user.name])
        .output()
        .expect("running usermod");
    assert!(out.status.success(), "usermod: {out:?}");
    drop(_db);
    refused_before_create(&env, &rl, start, "linux.gidMappings[1]", "/etc/subgid");
}

#[test]
fn check_as_the_user_names_unowned_ranges() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("rl-subchk");
    let rl = Rootless::new(&env, "subchk");
    let start = 1_700_000_000 + (std::process::id() % 100_000) * 1000;
    let bundle = rl.bundle(&multi_id_config(&rl, "true", start));
    let out = rl.berth(&["check", "--bundle", bundle.to_str().unwrap()]);
    assert_ne!(out.code(), 0, "{out:#?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    for word in ["linux.uidMappings[1]", "/etc/subuid"] {
        assert!(text.contains(word), "{word} not named: {out:#?}");
    }
    // Given the ranges, the same config checks clean.
    rl.user.add_subordinate_ids(start, 1000);
    rl.berth(&["check", "--bundle", bundle.to_str().unwrap()]).ok();
}
