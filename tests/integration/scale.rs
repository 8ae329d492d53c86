//! `list` and `state` over many containers (issue 19): `list` reads each container's state
//! once and proves only the cgroup directory it reads the freezer state from, and must
//! still say exactly what `state` says of each container; the commands that act on a
//! cgroup refuse a state.json whose recorded directories are not the container's.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use crate::harness::{reference_runc, Config, TestEnv};

/// Containers created, running, paused and stopped side by side: every `list --format
/// json` entry is `state`'s view of that container with the store's owner, and the table
/// says the same status and pid.
#[test]
fn list_of_many_containers_says_what_state_says() {
    let env = TestEnv::new("scalelist");
    let ids: Vec<String> = (0..6).map(|i| env.id(&format!("c{i}"))).collect();
    for id in &ids {
        env.create(id, &env.bundle(&Config::new(&["sleep", "1000"])));
    }
    for id in &ids[1..] {
        env.start(id);
    }
    env.berth(&["pause", &ids[2]]).ok();
    env.kill(&ids[3], Some("KILL"));
    env.wait_status(&ids[3], "stopped");
    let out = env.berth(&["list", "--format", "json"]);
    out.ok();
    let listed: Value = serde_json::from_str(&out.stdout).expect("list json");
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), ids.len(), "{}", out.stdout);
    let table = env.berth(&["list"]);
    table.ok();
    for (id, status) in ids.iter().zip(["created", "running", "paused", "stopped", "running"]) {
        let mut entry = listed
            .iter()
            .find(|e| e["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id}"))
            .clone();
        assert_eq!(entry["status"], status, "{id}: {entry}");
        assert_eq!(entry["owner"], "root", "{id}: {entry}");
        entry["owner"] = json!("");
        assert_eq!(entry, env.state(id), "{id}: list and state differ");
        let row = table
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|r| r[0] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not in the table:\n{}", table.stdout));
        assert_eq!((row[1], row[2]), (entry["pid"].to_string().as_str(), status), "{id}");
    }
    env.berth(&["resume", &ids[2]]).ok();
    for id in &ids {
        env.delete(id, true);
    }
}

/// Writes a state dir `other` holding `good` (a live container's state.json) with its id
/// replaced and then `edit` applied: a state file berth did not write.
fn forged_copy(env: &TestEnv, good: &Value, other: &str, edit: impl FnOnce(&mut Value)) {
    let store = berth::state::StateStore::new(&env.root);
    drop(store.create(&berth::state::ContainerId::parse(other).unwrap()).unwrap());
    let mut state = good.clone();
    state["id"] = json!(other);
    edit(&mut state);
    fs::write(env.root.join(other).join("state.json"), state.to_string()).unwrap();
}

/// A copy of a live container's state.json whose `cgroup_created` names a directory that
/// is not its cgroup (nor a parent of it): `state` and `list` report it (they use nothing
/// of a cgroup berth did not make), while `ps`, `kill --all` and `delete --force`, which
/// act on the cgroup, refuse it on one line naming the field, and the container the copy
/// was made from lives on. A copy naming only the container's own directories is accepted.
#[test]
fn a_foreign_created_cgroup_is_refused_where_it_is_used() {
    if reference_runc() {
        return; // The state.json format is berth's own.
    }
    let env = TestEnv::new("scalecg");
    let id = env.id("good");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "1000"])));
    let good: Value =
        serde_json::from_slice(&fs::read(env.root.join(&id).join("state.json")).unwrap()).unwrap();
    let paths: Vec<Value> =
        good["cgroup_paths"].as_object().expect("a cgroup").values().cloned().collect();
    let copy = |tag: &str, created: Value| {
        let other = env.id(tag);
        forged_copy(&env, &good, &other, |state| state["cgroup_created"] = created);
        other
    };
    let own = copy("own", json!(paths));
    env.berth(&["ps", &own]).ok();
    // The recorded cgroup's hierarchy mount: a cgroup directory, but not the container's.
    let first = paths[0].as_str().unwrap();
    let mount = std::path::Path::new(first)
        .ancestors()
        .find(|a| a.ends_with("berth-test"))
        .and_then(|a| a.parent())
        .unwrap();
    let foreign = copy("foreign", json!([first, mount.join("berth-test").join("elsewhere")]));
    assert_eq!(env.status(&foreign), "running", "a copy without the exec fifo");
    env.berth(&["list"]).ok();
    for args in [
        &["ps", &foreign][..],
        &["kill", "--all", &foreign, "KILL"],
        &["delete", "--force", &foreign],
    ] {
        let out = env.berth(args);
        out.fails_with_one_line();
        assert!(out.stderr.contains("cgroup_created[1]"), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("state.json"), "{args:?}: {}", out.stderr);
    }
    assert_eq!(env.status(&id), "created", "the container the copy was made from");
    for other in [&own, &foreign] {
        fs::remove_dir_all(env.root.join(other)).unwrap();
    }
    env.delete(&id, true);
}

/// `exec` joins the recorded cgroup's own directories, proven to lie below a cgroup mount,
/// and nothing else of state.json's cgroup record: a copy of a running container's state
/// whose `cgroup_paths` names a directory outside the cgroup hierarchies is refused on one
/// line naming the field, while one whose `cgroup_created` names a foreign directory (which
/// only `delete`, `kill --all`, `ps` and `pause` would act on) still execs, into the
/// container's own cgroup.
#[test]
fn exec_proves_the_cgroup_it_joins_and_only_that() {
    if reference_runc() {
        return; // The state.json format is berth's own.
    }
    let env = TestEnv::new("scaleexec");
    let id = env.id("run");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "1000"])));
    env.start(&id).ok();
    let good: Value =
        serde_json::from_slice(&fs::read(env.root.join(&id).join("state.json")).unwrap()).unwrap();
    let copy = |tag: &str, edit: &dyn Fn(&mut Value)| {
        let other = env.id(tag);
        forged_copy(&env, &good, &other, edit);
        other
    };
    let outside = env.root.join("not-a-cgroup");
    fs::create_dir(&outside).unwrap();
    let forged_paths = copy("paths", &|state| {
        let paths = state["cgroup_paths"].as_object_mut().expect("a cgroup");
        let key = paths.keys().next().unwrap().clone();
        paths.insert(key, json!(outside));
    });
    let out = env.berth(&["exec", &forged_paths, "true"]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("cgroup_paths."), "{}", out.stderr);
    let forged_created = copy("created", &|state| {
        state["cgroup_created"] = json!(["/sys/fs/cgroup/pids/berth-test/elsewhere"]);
    });
    let out = env.berth(&["exec", &forged_created, "cat", "/proc/self/cgroup"]);
    out.ok();
    let own = env.berth(&["exec", &id, "cat", "/proc/self/cgroup"]);
    assert_eq!(out.stdout, own.ok().stdout, "the container's own cgroup");
    for other in [&forged_paths, &forged_created] {
        fs::remove_dir_all(env.root.join(other)).unwrap();
    }
    fs::remove_dir(&outside).unwrap();
    env.delete(&id, true);
}

/// `list` proves the directory it reads a container's freezer state from, looking it up
/// from a parent directory it has already proven for another container: a frozen cgroup
/// directory reads as paused, and the same directory with a tmpfs mounted over it (in a
/// private mount namespace) holding a forged freezer file that says frozen does not.
#[test]
fn list_reads_no_freezer_state_from_a_covered_cgroup() {
    if reference_runc() {
        return; // The state.json format is berth's own.
    }
    let env = TestEnv::new("scalecover");
    let id = env.id("a");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "1000"])));
    let good: Value =
        serde_json::from_slice(&fs::read(env.root.join(&id).join("state.json")).unwrap()).unwrap();
    let recorded = good["cgroup_paths"].as_object().expect("a cgroup");
    let (key, file, frozen) = if recorded.contains_key("freezer") {
        ("freezer", "freezer.state", "FROZEN")
    } else {
        ("unified", "cgroup.freeze", "1")
    };
    let first = PathBuf::from(recorded[key].as_str().unwrap());
    // A sibling of the container's cgroup: same parent, which `list` proves first for the
    // good container (its id sorts first).
    let sibling = first.with_file_name(format!("{id}-sibling"));
    fs::create_dir(&sibling).unwrap();
    fs::write(sibling.join(file), frozen).unwrap();
    let other = format!("{id}-z");
    forged_copy(&env, &good, &other, |state| {
        state["cgroup_paths"] = json!({ key: sibling });
        state["cgroup_created"] = json!([sibling]);
    });
    let script = r#"
        status() { "$BERTH" --root "$ROOT" list --format json | tr '{' '\n' | grep "\"id\":\"$OTHER\"" | sed 's/.*"status":"\([a-z]*\)".*/\1/'; }
        echo "plain $(status)"
        mount -t tmpfs -o size=4k t "$SIBLING"
        echo "$FROZEN" > "$SIBLING/$FILE"
        echo "covered $(status)"
        umount "$SIBLING"
    "#;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("BERTH", env.binary())
        .env("ROOT", &env.root)
        .env("OTHER", &other)
        .env("SIBLING", &sibling)
        .env("FILE", file)
        .env("FROZEN", frozen)
        .output()
        .unwrap();
    fs::remove_dir_all(env.root.join(&other)).unwrap();
    fs::write(sibling.join(file), if key == "freezer" { "THAWED" } else { "0" }).unwrap();
    fs::remove_dir(&sibling).unwrap();
    env.delete(&id, true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "plain paused\ncovered running\n", "{stderr}");
}
