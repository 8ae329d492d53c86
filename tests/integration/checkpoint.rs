//! `checkpoint` and `restore` on this host: the errors (criu missing, `criu check` failing,
//! a failing dump pointing to its log, restore into an existing id, a container that is not
//! running, refused flags), and restore's bookkeeping through a stand-in criu (a shell
//! script that passes `check`, and for `restore` starts a process in criu's place, runs the
//! action script as criu does and writes the pid file). criu itself cannot work on this
//! host's kernel: the real dumps and restores are tests/integration/vm_criu.rs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{bin, pid_alive, proc_stat, Config, Out, TestEnv};

/// A stand-in criu in the test's dir. Marker files next to it change its behaviour:
/// `.check-fails`, `.restore-fails`. It appends its arguments to `<criu>.args`.
fn fake_criu(env: &TestEnv) -> PathBuf {
    let path = env.dir.join("criu");
    let script = r#"#!/bin/sh
echo "$@" >> "$0.args"
action=$1; shift
work= log= pidfile= script=
while [ $# -gt 0 ]; do
  case "$1" in
    --work-dir) work=$2; shift;;
    --log-file) log=$2; shift;;
    --pidfile) pidfile=$2; shift;;
    --action-script) script=$2; shift;;
  esac
  shift
done
case "$action" in
  check)
    if [ -e "$0.check-fails" ]; then
      echo "Warn (criu/fake.c:1): something odd" >&2
      echo "Error (criu/fake.c:2): fake check failure" >&2
      exit 1
    fi
    echo "Looks good."; exit 0;;
  --version) echo "Version: 9.9.9"; exit 0;;
  dump|pre-dump)
    echo "(00.000100) Version: 9.9.9" > "$work/$log"
    echo "(00.000200) Error (criu/fake.c:3): fake dump failure" >> "$work/$log"
    exit 1;;
  restore)
    if [ -e "$0.restore-fails" ]; then
      echo "(00.000200) Error (criu/fake.c:4): fake restore failure" > "$work/$log"
      exit 1
    fi
    sleep 1000 </dev/null >/dev/null 2>&1 &
    pid=$!
    if [ -n "$script" ]; then
      CRTOOLS_SCRIPT_ACTION=setup-namespaces CRTOOLS_INIT_PID=$pid sh -c "$script" || { kill -9 $pid; exit 1; }
    fi
    echo $pid > "$pidfile"
    exit 0;;
esac
exit 1
"#;
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `berth --root R --criu CRIU args…`.
fn with_criu(env: &TestEnv, criu: &Path, args: &[&str]) -> Out {
    let mut all = vec!["--criu", criu.to_str().unwrap()];
    all.extend_from_slice(args);
    env.berth(&all)
}

/// `berth restore -d -b BUNDLE --image-path IMAGE ID` with the stand-in `criu`.
fn restore_detached(env: &TestEnv, criu: &Path, bundle: &Path, image: &Path, id: &str) -> Out {
    let (bundle, image) = (bundle.to_str().unwrap(), image.to_str().unwrap());
    with_criu(env, criu, &["restore", "-d", "-b", bundle, "--image-path", image, id])
}

/// `sleep 1000` with a masked file and a masked directory, and a bind mount of the test's
/// dir at /data.
fn sleeper(env: &TestEnv) -> Config {
    Config::new(&["sleep", "1000"])
        .set("/linux/maskedPaths", json!(["/proc/keys", "/proc/acpi"]))
        .bind(&env.dir, "/data", true)
}

/// A running [`sleeper`] container.
fn running(env: &TestEnv, tag: &str) -> String {
    let bundle = env.bundle(&sleeper(env));
    let id = env.id(tag);
    env.create(&id, &bundle);
    env.start(&id);
    id
}

fn skip_for_runc(what: &str) -> bool {
    if crate::harness::reference_runc() {
        eprintln!("skipped against runc: {what} is berth's (runc speaks criu's RPC)");
        return true;
    }
    false
}

#[test]
fn checkpoint_without_criu_in_path_is_one_line() {
    if skip_for_runc("a criu-less PATH") {
        return;
    }
    let env = TestEnv::new("cpnocriu");
    let id = running(&env, "c");
    let image = env.dir.join("img");
    let mut cmd = Command::new(bin());
    cmd.arg("--root").arg(&env.root);
    cmd.args(["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    cmd.env("PATH", env.dir.join("empty"));
    let out = env.finish_within(cmd, "berth checkpoint", Duration::from_secs(30)).unwrap();
    out.fails_with_one_line();
    assert!(out.stderr.contains("criu not found in PATH"), "{out:#?}");
    assert!(!image.exists(), "the image dir was made");
    assert_eq!(env.status(&id), "running");
    env.delete(&id, true);
}

#[test]
fn criu_check_failure_is_reported_with_its_first_error() {
    if skip_for_runc("the stand-in criu") {
        return;
    }
    let env = TestEnv::new("cpcheck");
    let criu = fake_criu(&env);
    fs::write(criu.with_extension("check-fails"), "").unwrap();
    let id = running(&env, "c");
    let image = env.dir.join("img");
    let out = with_criu(&env, &criu, &["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("criu check failed"), "{out:#?}");
    assert!(out.stderr.contains("Error (criu/fake.c:2): fake check failure"), "{out:#?}");
    assert!(!image.exists(), "the image dir was made");
    // features leaves checkpoint out, and restore refuses the same way.
    let features: Value =
        serde_json::from_str(&with_criu(&env, &criu, &["features"]).ok().stdout).unwrap();
    assert!(features["annotations"]["org.berth.checkpoint"].is_null(), "{features}");
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let out = restore_detached(&env, &criu, &bundle, &image, &env.id("r"));
    out.fails_with_one_line();
    assert!(out.stderr.contains("fake check failure"), "{out:#?}");
    assert_eq!(env.root_entries(), vec![id.clone()]);
    env.delete(&id, true);
}

#[test]
fn real_criu_check_on_this_host_is_one_line_or_listed() {
    if skip_for_runc("criu check") {
        return;
    }
    let env = TestEnv::new("cprealcheck");
    let Some(criu) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("criu"))
        .find(|p| p.exists())
    else {
        eprintln!("skipped: criu is not installed");
        return;
    };
    let passes = Command::new(&criu).arg("check").output().unwrap().status.success();
    let features: Value = serde_json::from_str(&env.berth(&["features"]).ok().stdout).unwrap();
    let listed = &features["annotations"]["org.berth.checkpoint"];
    assert_eq!(listed.is_string(), passes, "criu check passes: {passes}; features: {features}");
    if passes {
        return;
    }
    let id = running(&env, "c");
    let image = env.dir.join("img");
    let out = env.berth(&["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    // criu's first error line when it printed one; some builds fail silently on a new kernel.
    let cause = out.stderr.contains("Error (") || out.stderr.contains("it exited with");
    assert!(out.stderr.contains("criu check failed") && cause, "{out:#?}");
    env.delete(&id, true);
}

#[test]
fn features_lists_checkpoint_when_criu_check_passes() {
    if skip_for_runc("the stand-in criu") {
        return;
    }
    let env = TestEnv::new("cpfeatures");
    let criu = fake_criu(&env);
    let features: Value =
        serde_json::from_str(&with_criu(&env, &criu, &["features"]).ok().stdout).unwrap();
    assert_eq!(features["annotations"]["org.berth.checkpoint"], json!("criu 9.9.9"));
}

#[test]
fn a_failing_dump_points_to_the_criu_log() {
    if skip_for_runc("the stand-in criu") {
        return;
    }
    let env = TestEnv::new("cpdumpfail");
    let criu = fake_criu(&env);
    let id = running(&env, "c");
    let image = env.dir.join("img");
    let work = env.dir.join("work");
    let out = with_criu(
        &env,
        &criu,
        &[
            "checkpoint",
            "--image-path",
            image.to_str().unwrap(),
            "--work-path",
            work.to_str().unwrap(),
            "--manage-cgroups-mode",
            "full",
            &id,
        ],
    );
    out.fails_with_one_line();
    let log = work.join("dump.log");
    assert!(out.stderr.contains(&format!("log: {}", log.display())), "{out:#?}");
    assert!(out.stderr.contains("Error (criu/fake.c:3): fake dump failure"), "{out:#?}");
    let args = fs::read_to_string(criu.with_extension("args")).unwrap();
    let dump = args.lines().find(|l| l.starts_with("dump ")).expect("criu dump ran");
    let pid = env.pid_of(&id);
    for expected in [
        format!("--tree {pid}"),
        format!("--images-dir {}", image.display()),
        "--manage-cgroups=full".into(),
        "--external mnt[/proc/keys]:/proc/keys".into(),
        "--external mnt[/data]:/data".into(),
    ] {
        assert!(dump.contains(&expected), "{expected} missing: {dump}");
    }
    assert!(!dump.contains("acpi"), "a masked directory is a tmpfs criu dumps: {dump}");
    // The container was not harmed, and its stdio is recorded for a restore.
    assert_eq!(env.status(&id), "running");
    assert!(image.join("descriptors.json").exists());
    assert_eq!(
        fs::read_to_string(image.join("berth-masked-files.json")).unwrap(),
        r#"["/proc/keys"]"#
    );
    env.delete(&id, true);
}

#[test]
fn checkpoint_of_a_container_that_is_not_running_is_refused() {
    let env = TestEnv::new("cpnotrunning");
    let criu = fake_criu(&env);
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("c");
    env.create(&id, &bundle);
    let image = env.dir.join("img");
    let out = with_criu(&env, &criu, &["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("created"), "{out:#?}");
    env.kill(&id, Some("KILL"));
    env.wait_status(&id, "stopped");
    let out = with_criu(&env, &criu, &["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    out.fails_with_one_line();
    assert!(!image.exists(), "the image dir was made");
    env.delete(&id, false);
    let out = with_criu(&env, &criu, &["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    out.fails_with_one_line();
}

#[test]
fn lazy_pages_unknown_modes_and_bad_parent_paths_are_refused() {
    if skip_for_runc("refusing --lazy-pages") {
        return;
    }
    let env = TestEnv::new("cplazy");
    let criu = fake_criu(&env);
    let id = running(&env, "c");
    let out = with_criu(&env, &criu, &["checkpoint", "--lazy-pages", &id]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("--lazy-pages is not supported"), "{out:#?}");
    let out = with_criu(&env, &criu, &["checkpoint", "--manage-cgroups-mode", "bogus", &id]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("soft, full, strict or ignore"), "{out:#?}");
    let out = with_criu(&env, &criu, &["checkpoint", "--empty-ns", "pid", &id]);
    out.fails_with_one_line();
    // --parent-path is relative to the image path.
    let image = env.dir.join("img");
    let image_arg = ["--image-path", image.to_str().unwrap()];
    let args = [&["checkpoint", "--pre-dump", "--parent-path", "/tmp"][..], &image_arg, &[&id]];
    let out = with_criu(&env, &criu, &args.concat());
    out.fails_with_one_line();
    assert!(out.stderr.contains("must be relative"), "--parent-path /tmp: {out:#?}");
    assert!(!image.exists(), "the image dir was made");
    assert_eq!(env.status(&id), "running");
    assert!(!criu.with_extension("args").exists(), "criu ran");
    env.delete(&id, true);
}

#[test]
fn restore_into_an_existing_id_is_refused_and_changes_nothing() {
    if skip_for_runc("the stand-in criu") {
        return;
    }
    let env = TestEnv::new("cpexists");
    let criu = fake_criu(&env);
    let id = running(&env, "c");
    let pid = env.pid_of(&id);
    let image = env.dir.join("img");
    fs::create_dir(&image).unwrap();
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let out = restore_detached(&env, &criu, &bundle, &image, &id);
    out.fails_with_one_line();
    assert!(out.stderr.contains("already exists"), "{out:#?}");
    assert_eq!(env.status(&id), "running");
    assert_eq!(env.pid_of(&id), pid);
    env.delete(&id, true);
}

#[test]
fn a_failing_restore_leaves_nothing_behind() {
    if skip_for_runc("the stand-in criu") {
        return;
    }
    let env = TestEnv::new("cprestorefail");
    let criu = fake_criu(&env);
    fs::write(criu.with_extension("restore-fails"), "").unwrap();
    let image = env.dir.join("img");
    fs::create_dir(&image).unwrap();
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    let id = env.id("r");
    let out = restore_detached(&env, &criu, &bundle, &image, &id);
    out.fails_with_one_line();
    assert!(out.stderr.contains("fake restore failure"), "{out:#?}");
    assert!(out.stderr.contains(&image.join("restore.log").display().to_string()), "{out:#?}");
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
    assert!(env.leaked_mounts().is_empty(), "{:?}", env.leaked_mounts());
    // A missing image directory fails before anything is made.
    let out = restore_detached(&env, &criu, &bundle, Path::new("/nonexistent/img"), &id);
    out.fails_with_one_line();
    assert!(out.stderr.contains("/nonexistent/img"), "{out:#?}");
}

#[test]
fn restored_container_runs_runs_its_hooks_and_can_be_killed_and_deleted() {
    if skip_for_runc("the stand-in criu") {
        return;
    }
    let env = TestEnv::new("cprestore");
    let criu = fake_criu(&env);
    let image = env.dir.join("img");
    fs::create_dir(&image).unwrap();
    fs::write(image.join("descriptors.json"), r#"["/dev/null","pipe:[77]","/dev/null"]"#).unwrap();
    fs::write(image.join("berth-masked-files.json"), r#"["/proc/keys"]"#).unwrap();
    let probe = env.probe_dir();
    let record = |name: &str| json!({ "path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/{name}.json", probe.display())] });
    let hooks = json!({ "prestart": [record("prestart")], "createRuntime": [record("createRuntime")], "poststop": [record("poststop")] });
    let bundle = env.bundle(&sleeper(&env).set("/hooks", hooks));
    let id = env.id("r");
    env.track(&id);
    let pid_file = env.dir.join("pid");
    let out = with_criu(
        &env,
        &criu,
        &[
            "restore",
            "--detach",
            "--bundle",
            bundle.to_str().unwrap(),
            "--image-path",
            image.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ],
    );
    out.ok();
    let state = env.state(&id);
    assert_eq!(state["status"], "running", "{state}");
    let pid = state["pid"].as_i64().unwrap() as i32;
    env.note_pid(pid);
    assert_eq!(fs::read_to_string(&pid_file).unwrap().trim(), pid.to_string());
    for name in ["prestart", "createRuntime"] {
        let seen: Value =
            serde_json::from_str(&fs::read_to_string(probe.join(format!("{name}.json"))).unwrap())
                .unwrap();
        assert_eq!(seen["pid"], json!(pid), "{name}: {seen}");
        assert_eq!(seen["id"], json!(id), "{name}: {seen}");
    }
    // criu ran in the container's cgroup, so what it started is there.
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let cg_path = env.state(&id)["cgroup_paths"].clone();
    let args = fs::read_to_string(criu.with_extension("args")).unwrap();
    let restore = args.lines().find(|l| l.starts_with("restore ")).expect("criu restore ran");
    let data = format!("--external mnt[/data]:{}", env.dir.display());
    for expected in [
        "--restore-detached",
        "--restore-sibling",
        "--inherit-fd fd[1]:pipe:[77]",
        "--external mnt[/proc/keys]:/dev/null",
        data.as_str(),
    ] {
        assert!(restore.contains(expected), "{expected} missing: {restore}");
    }
    assert!(restore.contains("--cgroup-root /berth-test/"), "{restore}");
    assert!(!restore.contains("acpi"), "{restore}");
    assert!(cgroup.contains("/berth-test/"), "{cgroup} {cg_path}");
    let (start, _) = proc_stat(pid).unwrap();
    env.kill(&id, Some("KILL"));
    env.wait_status(&id, "stopped");
    assert!(!pid_alive(pid, start));
    env.delete(&id, false);
    assert!(probe.join("poststop.json").exists(), "poststop did not run");
    assert!(env.leaked_mounts().is_empty(), "{:?}", env.leaked_mounts());
}
