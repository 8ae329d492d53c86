//! cgroup ownership: berth kills, freezes and removes only what it created. A cgroup that
//! already exists (a stand-in for /system.slice, made by the test under /berth-test and
//! holding a `sleep` the test started) keeps its processes, its child cgroups and its
//! directories through delete, kill --all, delete --force and a failed or killed create.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{bin, proc_stat, reference_runc, wait_for, Config, TestEnv};

/// The cgroup hierarchies berth places a container in: the v2 root, or each v1 mount.
fn hierarchies() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.procs").exists() {
        return vec![base.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = fs::read_dir(base)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .filter(|p| !p.ends_with("unified") && !p.ends_with("systemd"))
        .collect();
    out.sort();
    out
}

/// A cgroup the test made at `<hierarchy>/<rel>` in every hierarchy, with a sleeping
/// process in it and another in a child cgroup `sub`: what berth must never touch.
struct Foreign {
    rel: String,
    made: Vec<PathBuf>,
    sleepers: Vec<(Child, u64)>,
}

impl Foreign {
    /// Makes `rel` (e.g. `berth-test/<unique>`), its child `sub`, and a sleeper in each.
    fn new(rel: &str) -> Self {
        let mut foreign = Foreign { rel: rel.to_owned(), made: Vec::new(), sleepers: Vec::new() };
        // runc 1.1 cannot deny all devices in a v1 cgroup that has children: no `sub` then.
        let subs = if reference_runc() { 0 } else { 1 };
        for leaf in [rel.to_owned(), format!("{rel}/sub")].into_iter().take(1 + subs) {
            let dirs = foreign.make(&leaf);
            let sleeper = Command::new("sleep").arg("1000").spawn().unwrap();
            let pid = sleeper.id();
            for dir in &dirs {
                fs::write(dir.join("cgroup.procs"), pid.to_string())
                    .unwrap_or_else(|e| panic!("moving {pid} into {}: {e}", dir.display()));
            }
            let start = proc_stat(pid as i32).unwrap().0;
            foreign.sleepers.push((sleeper, start));
        }
        foreign
    }

    /// Makes `rel` in every hierarchy (a v1 cpuset gets its parent's cpus and mems).
    fn make(&mut self, rel: &str) -> Vec<PathBuf> {
        let mut leaves = Vec::new();
        for hierarchy in hierarchies() {
            let mut dir = hierarchy.clone();
            for part in rel.split('/') {
                let parent = dir.clone();
                dir.push(part);
                if !dir.exists() {
                    fs::create_dir(&dir).unwrap();
                    self.made.push(dir.clone());
                }
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let own = fs::read_to_string(dir.join(file)).unwrap_or_default();
                    if own.trim().is_empty() && dir.join(file).exists() {
                        let value = fs::read_to_string(parent.join(file)).unwrap();
                        fs::write(dir.join(file), value.trim()).unwrap();
                    }
                }
            }
            leaves.push(dir);
        }
        leaves
    }

    /// The cgroup as linux.cgroupsPath names it.
    fn path(&self) -> String {
        format!("/{}", self.rel)
    }

    /// Asserts that every sleeper lives and every directory the test made is still there.
    #[track_caller]
    fn assert_untouched(&self, after: &str) {
        for (child, start) in &self.sleepers {
            let pid = child.id() as i32;
            let alive = proc_stat(pid).is_some_and(|(s, state)| s == *start && state != 'Z');
            assert!(alive, "{after}: the foreign process {pid} was killed");
        }
        for dir in &self.made {
            assert!(dir.exists(), "{after}: the foreign cgroup {} was removed", dir.display());
        }
    }

    /// The pids in the foreign cgroup (its children included) other than the sleepers.
    fn others(&self) -> Vec<i32> {
        let sleepers: Vec<i32> = self.sleepers.iter().map(|(c, _)| c.id() as i32).collect();
        let mut pids = Vec::new();
        for dir in self.made.iter().filter(|d| d.ends_with(&self.rel) || d.ends_with("sub")) {
            let text = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            pids.extend(text.lines().filter_map(|l| l.parse::<i32>().ok()));
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|p| !sleepers.contains(p));
        pids
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        // A runtime that froze the cgroup would leave the sleepers unable to die.
        for dir in &self.made {
            let _ = fs::write(dir.join("freezer.state"), "THAWED");
            let _ = fs::write(dir.join("cgroup.freeze"), "0");
        }
        for (child, _) in &mut self.sleepers {
            let _ = child.kill();
            let _ = child.wait();
        }
        for dir in self.made.iter().rev() {
            wait_for(Duration::from_secs(5), || fs::remove_dir(dir).is_ok() || !dir.exists());
        }
    }
}

/// A unique cgroup path under berth-test for this test.
fn unique_rel(env: &TestEnv, tag: &str) -> String {
    format!("berth-test/{}", env.id(tag))
}

/// A bundle running `cfg` in the foreign cgroup.
fn bundle_in(env: &TestEnv, cfg: Config, foreign: &Foreign) -> PathBuf {
    env.bundle(&cfg.set("/linux/cgroupsPath", json!(foreign.path())))
}

fn hook(script: &str) -> Value {
    json!({ "path": "/bin/sh", "args": ["sh", "-c", script] })
}

#[test]
fn delete_after_exit_spares_an_existing_cgroup() {
    let env = TestEnv::new("cgown-exit");
    let foreign = Foreign::new(&unique_rel(&env, "fg"));
    let bundle = bundle_in(&env, Config::new(&["true"]), &foreign);
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
    foreign.assert_untouched("delete");
}

#[test]
fn delete_spares_an_existing_cgroup_named_like_the_id() {
    if reference_runc() {
        return; // runc would kill nothing either, but removes the cgroup when it is empty
    }
    let env = TestEnv::new("cgown-id");
    // berth runs inside <runner>, so the id (no cgroupsPath) resolves to <runner>/<id>.
    let runner = unique_rel(&env, "runner");
    let id = env.id("c");
    let foreign = Foreign::new(&format!("{runner}/{id}"));
    let procs: Vec<String> = hierarchies()
        .iter()
        .map(|h| h.join(&runner).join("cgroup.procs").display().to_string())
        .collect();
    let wrapper = env.dir.join("berth-in-runner");
    let script = format!(
        "#!/bin/sh\nfor f in {}; do echo $$ > \"$f\"; done 2>/dev/null\nexec {} \"$@\"\n",
        procs.join(" "),
        bin().display()
    );
    fs::write(&wrapper, script).unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    env.use_binary(&wrapper);
    let bundle = env.bundle(&Config::new(&["true"]));
    let config = bundle.join("config.json");
    let mut v: Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    v["linux"].as_object_mut().unwrap().remove("cgroupsPath");
    fs::write(&config, serde_json::to_vec(&v).unwrap()).unwrap();
    env.create(&id, &bundle);
    let paths = fs::read_to_string(env.root.join(&id).join("state.json")).unwrap();
    assert!(paths.contains(&format!("{runner}/{id}")), "not in the runner's cgroup: {paths}");
    env.start(&id);
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
    foreign.assert_untouched("delete");
}

#[test]
fn failed_create_spares_an_existing_cgroup() {
    let env = TestEnv::new("cgown-hook");
    let foreign = Foreign::new(&unique_rel(&env, "fg"));
    let cfg = Config::new(&["true"]).set("/hooks", json!({ "createRuntime": [hook("exit 1")] }));
    let bundle = bundle_in(&env, cfg, &foreign);
    let id = env.id("c");
    let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_ne!(out.code(), 0, "create with a failing hook succeeded");
    foreign.assert_untouched("a failed create");
    assert!(env.root_entries().is_empty(), "state left: {:?}", env.root_entries());
}

#[test]
fn kill_all_spares_other_processes_in_an_existing_cgroup() {
    if reference_runc() {
        return; // runc 1.1 signals the whole cgroup here; berth spares what it did not start
    }
    let env = TestEnv::new("cgown-killall");
    let foreign = Foreign::new(&unique_rel(&env, "fg"));
    let bundle = bundle_in(&env, Config::sh("sleep 1000 & exec sleep 1000"), &foreign);
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    let container = wait_for(Duration::from_secs(10), || foreign.others().len() == 2);
    assert!(container, "container processes in the cgroup: {:?}", foreign.others());
    env.berth(&["kill", "--all", &id, "KILL"]).ok();
    env.wait_status(&id, "stopped");
    assert!(wait_for(Duration::from_secs(10), || foreign.others().is_empty()));
    foreign.assert_untouched("kill --all");
    env.delete(&id, false);
    foreign.assert_untouched("delete");
}

#[test]
fn kill_all_in_an_existing_cgroup_reaches_the_init_descendants() {
    if reference_runc() {
        return; // runc 1.1 signals the whole cgroup here; berth spares what it did not start
    }
    let env = TestEnv::new("cgown-killall2");
    let foreign = Foreign::new(&unique_rel(&env, "fg"));
    let cfg = Config::sh("sleep 1000 & exec sleep 1000").without_namespace("pid");
    let bundle = bundle_in(&env, cfg, &foreign);
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    let container = wait_for(Duration::from_secs(10), || foreign.others().len() == 2);
    assert!(container, "container processes in the cgroup: {:?}", foreign.others());
    env.berth(&["kill", "--all", &id, "KILL"]).ok();
    assert!(wait_for(Duration::from_secs(10), || foreign.others().is_empty()));
    foreign.assert_untouched("kill --all");
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
    foreign.assert_untouched("delete");
}

#[test]
fn delete_force_spares_other_processes_in_an_existing_cgroup() {
    if reference_runc() {
        return; // runc 1.1 signals the whole cgroup here; berth spares what it did not start
    }
    let env = TestEnv::new("cgown-force");
    let foreign = Foreign::new(&unique_rel(&env, "fg"));
    // No pid namespace: the init's child is found as its descendant.
    let cfg = Config::sh("sleep 1000 & exec sleep 1000").without_namespace("pid");
    let bundle = bundle_in(&env, cfg, &foreign);
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    let container = wait_for(Duration::from_secs(10), || foreign.others().len() == 2);
    assert!(container, "container processes in the cgroup: {:?}", foreign.others());
    for pid in foreign.others() {
        env.note_pid(pid);
    }
    env.delete(&id, true);
    assert!(wait_for(Duration::from_secs(10), || foreign.others().is_empty()));
    foreign.assert_untouched("delete --force");
}

#[test]
fn pause_refuses_and_ps_lists_only_the_container_in_an_existing_cgroup() {
    if reference_runc() {
        return; // runc freezes and lists the whole cgroup
    }
    let env = TestEnv::new("cgown-pause");
    let foreign = Foreign::new(&unique_rel(&env, "fg"));
    let bundle = bundle_in(&env, Config::new(&["sleep", "1000"]), &foreign);
    let id = env.id("c");
    env.create(&id, &bundle);
    env.start(&id);
    env.berth(&["pause", &id]).fails_with_one_line();
    assert_eq!(env.status(&id), "running");
    let ps = env.berth(&["ps", "--format", "json", &id]);
    ps.ok();
    let pids: Vec<i32> = serde_json::from_str(&ps.stdout).unwrap();
    assert_eq!(pids, [env.pid_of(&id)], "ps listed more than the container");
    env.delete(&id, true);
    foreign.assert_untouched("pause, ps and delete --force");
}

#[test]
fn check_warns_about_host_cgroups() {
    if reference_runc() {
        return; // `check` is berth's own
    }
    let env = TestEnv::new("cgown-check");
    for path in ["/system.slice", "/init.scope", "/user.slice/x.scope"] {
        let bundle = env.bundle(&Config::new(&["true"]).set("/linux/cgroupsPath", json!(path)));
        let out = env.berth(&["check", "--bundle", bundle.to_str().unwrap()]);
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(text.contains("linux.cgroupsPath"), "no warning for {path}: {text}");
        assert!(text.contains("warning"), "not a warning for {path}: {text}");
    }
}

#[test]
fn killed_create_in_an_existing_cgroup_is_removed_by_delete_force() {
    if reference_runc() {
        return; // runc's delete --force of a half-made container kills the whole cgroup
    }
    let env = TestEnv::new("cgown-killed");
    let foreign = Foreign::new(&unique_rel(&env, "fg"));
    let probe = env.probe_dir();
    let hook_pid = probe.join("hook.pid");
    let state = probe.join("state.json");
    let script =
        format!("cat > {}; echo $$ > {}; exec sleep 1000", state.display(), hook_pid.display());
    let cfg =
        Config::new(&["sleep", "1000"]).set("/hooks", json!({ "createRuntime": [hook(&script)] }));
    let bundle = bundle_in(&env, cfg, &foreign);
    let id = env.id("c");
    let create = env.spawn(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    let hooked = wait_for(Duration::from_secs(20), || {
        fs::read_to_string(&hook_pid).is_ok_and(|s| s.ends_with('\n'))
    });
    assert!(hooked, "the createRuntime hook never ran");
    let hook = fs::read_to_string(&hook_pid).unwrap().trim().parse::<i32>().unwrap();
    let hook_start = proc_stat(hook).map(|(start, _)| start);
    let seen: Value = serde_json::from_str(&fs::read_to_string(&state).unwrap()).unwrap();
    let init = seen["pid"].as_i64().unwrap() as i32;
    env.note_pid(init);
    drop(create); // SIGKILLs the runtime
    env.delete(&id, true);
    // The hook is the test's to end: it is neither the container's nor in its cgroup.
    if proc_stat(hook).map(|(start, _)| start) == hook_start {
        unsafe { libc::kill(hook, libc::SIGKILL) };
    }
    foreign.assert_untouched("delete --force after a killed create");
    assert!(env.root_entries().is_empty(), "state left: {:?}", env.root_entries());
}
