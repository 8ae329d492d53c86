//! The "systemd" row group: `run` and create+start+wait+delete with `--systemd-cgroup`, each
//! runtime asking systemd (over D-Bus) for a transient scope unit in system.slice, as
//! containerd and CRI-O do with `SystemdCgroup = true`. Only meaningful on a host that runs
//! systemd with a system bus (the systemd guest of tests/vm, `make vm-bench`); elsewhere the
//! rows say n/a without running anything.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::bench::{Bench, Timed};
use crate::bundle::base_config;
use crate::host::{path_str, wait_exit};
use crate::report::{Row, Unit};
use crate::rows::Measured;
use crate::Opts;

/// The global option every invocation of this group carries.
const SYSTEMD: &[&str] = &["--systemd-cgroup"];

/// The slice and unit prefix of `linux.cgroupsPath` ("slice:prefix:name").
const SLICE: &str = "system.slice";
const PREFIX: &str = "berth-bench";

/// Both rows, interleaved like every other row.
pub fn rows(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    let n = opts.iterations;
    let run_name = "run /bin/true, --systemd-cgroup";
    // Shorter than the core row's name: the table's first column is 46 wide.
    let lifecycle_name = "create+start+wait+delete, --systemd-cgroup";
    // sd_booted(3)'s test: systemd as init creates this directory.
    if !Path::new("/run/systemd/system").is_dir() {
        let k = bench.runtimes.len();
        for name in [run_name, lifecycle_name] {
            out.push(Row::not_available(
                name,
                k,
                "not a systemd host (`make vm-bench` runs these)",
            ));
        }
        return;
    }
    out.push(bench.row(run_name, Unit::Millis, n, sd_run));
    out.push(bench.row(lifecycle_name, Unit::Millis, n, sd_lifecycle));
}

/// A bundle for container `id` of runtime `rt`: runc's default config with
/// `linux.cgroupsPath` "system.slice:berth-bench:<id>" (one scope unit per container, as the
/// CRI runtimes name them).
fn bundle(bench: &Bench, id: &str) -> Result<PathBuf, String> {
    let dir = bench.dir.join(format!("sd-{id}"));
    fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut cfg = base_config(&bench.rootfs);
    cfg["linux"]["cgroupsPath"] = json!(format!("{SLICE}:{PREFIX}:{id}"));
    let text = serde_json::to_vec_pretty(&cfg).expect("serialisable");
    fs::write(dir.join("config.json"), text).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Runs `op` on a fresh container id and bundle; on failure force-deletes the container (with
/// the same flag, so the runtime stops its unit), and removes the bundle either way.
fn with_container(
    bench: &Bench,
    rt: usize,
    tag: &str,
    op: impl FnOnce(&str, &str) -> Result<Timed, String>,
) -> Result<Timed, String> {
    let id = bench.unique(tag);
    let dir = bundle(bench, &id)?;
    let result = op(&id, path_str(&dir));
    if result.is_err() {
        let _ = bench.invoke_with(rt, SYSTEMD, &["delete", "--force", &id]);
    }
    let _ = fs::remove_dir_all(&dir);
    result
}

/// `--systemd-cgroup run ID` of /bin/true in the foreground.
fn sd_run(bench: &Bench, rt: usize) -> Result<Timed, String> {
    with_container(bench, rt, "sdrun", |id, dir| {
        bench.invoke_with(rt, SYSTEMD, &["run", "--bundle", dir, id])
    })
}

/// `--systemd-cgroup` create, start, wait for the exit, delete: four invocations.
fn sd_lifecycle(bench: &Bench, rt: usize) -> Result<Timed, String> {
    with_container(bench, rt, "sdlife", |id, dir| {
        let pid_file = bench.dir.join(format!("{id}.pid"));
        let begin = Instant::now();
        let create = ["create", "--bundle", dir, "--pid-file", path_str(&pid_file), id];
        bench.invoke_with(rt, SYSTEMD, &create)?;
        let pid: i32 = fs::read_to_string(&pid_file)
            .map_err(|e| format!("reading the pid file: {e}"))?
            .trim()
            .parse()
            .map_err(|_| "the pid file holds no pid".to_string())?;
        let _ = fs::remove_file(&pid_file);
        bench.invoke_with(rt, SYSTEMD, &["start", id])?;
        wait_exit(pid)?;
        bench.invoke_with(rt, SYSTEMD, &["delete", id])?;
        Ok(Timed { secs: begin.elapsed().as_secs_f64(), maxrss_kib: 0 })
    })
}
