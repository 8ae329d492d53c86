//! Rootless follow-ups: what `berth features` says about rootless, and the subordinate id
//! ranges checked before anything is made. Runs berth as a throw-away unprivileged user
//! through the helpers of rootless.rs.

use serde_json::Value;

use crate::harness::{reference_runc, TestEnv};
use crate::rootless::Rootless;

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
    assert_eq!(notes["org.berth.rootless.cgroup"], "delegated-cgroupfs", "{doc:#}");
    // No systemd user instance yet: the cgroup list says so too.
    assert_eq!(doc["linux"]["cgroup"]["systemdUser"], false, "{doc:#}");
}
