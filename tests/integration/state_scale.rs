//! A large mount table: the recorded cgroup paths of state.json are proven per path where
//! they are used (issue 19; `ps` here, which reads the cgroup's process list), and the
//! proof must still refuse every path outside the cgroup hierarchies, whatever else is
//! mounted.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use crate::harness::{reference_runc, Config, TestEnv};

/// Hostile copies of a live container's state.json, run `ps` on each in a private mount
/// namespace holding 1,000 extra tmpfs mounts, and check which are refused.
#[test]
fn recorded_cgroup_paths_are_checked_with_a_thousand_mounts() {
    if reference_runc() {
        return; // The state.json format is berth's own.
    }
    let env = TestEnv::new("statescale");
    let bundle = env.bundle(&Config::new(&["sleep", "100"]));
    let id = env.id("good");
    env.create(&id, &bundle);
    let good: Value =
        serde_json::from_slice(&fs::read(env.root.join(&id).join("state.json")).unwrap()).unwrap();
    let paths = good["cgroup_paths"].as_object().expect("state.json has cgroup_paths").clone();
    let (key, cgroup) = paths.iter().next().expect("the container has a cgroup");
    let cgroup = PathBuf::from(cgroup.as_str().unwrap());
    // The hierarchy the cgroup is in: its path down to berth-test's parent.
    let mount = cgroup.ancestors().find(|a| a.ends_with("berth-test")).unwrap().parent().unwrap();
    let mounts = env.dir.join("mounts");
    let link = env.dir.join("link");
    std::os::unix::fs::symlink(mount, &link).unwrap();
    let below_link = link.join(cgroup.strip_prefix(mount).unwrap());
    let cases = [
        ("tmpfs", mounts.join("7").join("x")),
        ("mountroot", mount.to_path_buf()),
        ("symlink", below_link),
        // The container's own cgroup, with a tmpfs mounted over it (in the private namespace).
        ("covered", cgroup.clone()),
    ];
    let store = berth::state::StateStore::new(&env.root);
    let mut names = Vec::new();
    for (name, path) in &cases {
        let hostile = env.id(name);
        drop(store.create(&berth::state::ContainerId::parse(&hostile).unwrap()).unwrap());
        let mut state = good.clone();
        state["id"] = json!(hostile);
        state["cgroup_paths"] = json!({ key: path });
        state["cgroup_created"] = json!([]);
        fs::write(env.root.join(&hostile).join("state.json"), state.to_string()).unwrap();
        names.push(hostile);
    }
    let script = r#"
        set -e
        mkdir "$MOUNTS"
        i=0
        while [ $i -lt 1000 ]; do mkdir "$MOUNTS/$i"; mount -t tmpfs -o size=4k t "$MOUNTS/$i"; i=$((i+1)); done
        "$BERTH" --root "$ROOT" ps "$GOOD" >/dev/null && echo "good 0" || echo "good $?"
        for id in $HOSTILE; do
            "$BERTH" --root "$ROOT" ps "$id" >/dev/null 2>&1 && echo "$id 0" || echo "$id $?"
        done
        mount -t tmpfs -o size=4k t "$COVERED"
        "$BERTH" --root "$ROOT" ps "$COVERED_ID" >/dev/null 2>&1 && echo "covered 0" || echo "covered $?"
    "#;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("MOUNTS", &mounts)
        .env("BERTH", env.binary())
        .env("ROOT", &env.root)
        .env("GOOD", &id)
        .env("HOSTILE", names[..3].join(" "))
        .env("COVERED", &cgroup)
        .env("COVERED_ID", &names[3])
        .output()
        .unwrap();
    for name in &names {
        fs::remove_dir_all(env.root.join(name)).unwrap();
    }
    let _ = fs::remove_dir_all(&mounts);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"good 0"), "{stdout}");
    assert_eq!(lines.len(), 5, "{stdout}");
    for line in &lines[1..] {
        assert!(!line.ends_with(" 0"), "a hostile cgroup path was accepted: {line}\n{stdout}");
    }
    env.delete(&id, true);
}
