//! The runtimes under test, their bundles and state roots, one timed invocation, and the
//! interleaved loops every row is made of.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Value};

use crate::bundle::{
    annotations, base_config, build_rootfs, generated_seccomp, podman_seccomp, stock_config,
    Variant, PODMAN_SECCOMP,
};
use crate::host::{
    bench_cgroup, cgroup_dirs, first_line, interrupted, mount_tmpfs, path_str,
    private_mount_namespace, time_command, wait_exit, which, CGROUP_PARENT,
};
use crate::report::{Cell, Row, Unit};
use crate::Opts;

/// Containers in the throughput row, and how many are in flight at once.
pub const THROUGHPUT_CONTAINERS: usize = 100;
pub const THROUGHPUT_IN_FLIGHT: usize = 4;

/// The peak-RSS meter: `BERTH_BENCH_PEAK_RSS` when set (a copy built beforehand, for a guest
/// without a C compiler: tests/vm/bench.sh), else scripts/peak-rss.c (a bench tool, not part
/// of berth's build) compiled with the system C compiler into `dir`.
fn build_peak_rss(dir: &Path) -> Result<PathBuf, String> {
    if let Some(tool) = std::env::var_os("BERTH_BENCH_PEAK_RSS") {
        return Ok(PathBuf::from(tool));
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peak-rss.c");
    let tool = dir.join("peak-rss");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-O2", "-static", "-Wall", "-Werror", "-o"])
        .arg(&tool)
        .arg(&source)
        .status()
        .map_err(|e| format!("running {cc}: {e}"))?;
    if !status.success() {
        return Err(format!("{cc} failed to build {} ({status})", source.display()));
    }
    Ok(tool)
}

/// A runtime under test.
pub struct Runtime {
    pub name: &'static str,
    pub bin: PathBuf,
    /// Its own `--root` state dir.
    pub root: PathBuf,
    pub version: String,
    /// Whether its bundles carry `linux.cgroupsPath`.
    pub cgroups: bool,
}

/// The benchmark: its temp dir, rootfs, runtimes and what must be removed at the end.
pub struct Bench {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub volume: PathBuf,
    /// scripts/peak-rss.c, compiled into the bench's temp dir.
    pub peak_rss: PathBuf,
    pub mask: Option<PathBuf>,
    /// Podman's default profile as OCI `linux.seccomp`, when installed.
    pub seccomp: Option<Value>,
    pub runtimes: Vec<Runtime>,
    pub notes: Vec<String>,
    pub seq: AtomicUsize,
    /// Cgroup paths (relative to a hierarchy root) handed out, removed at the end.
    pub cgroups: Mutex<Vec<String>>,
    /// Containers that may still exist, by runtime index, force-deleted at the end.
    pub live: Mutex<Vec<(usize, String)>>,
}

/// One measured invocation: its wall time, or (op_peak_rss) its peak RSS in KiB with what it reaped.
pub struct Timed {
    pub secs: f64,
    pub maxrss_kib: i64,
}

impl Bench {
    pub fn setup(opts: &Opts) -> Result<Self, String> {
        let base = std::env::var_os("BERTH_BENCH_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("berth-bench-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
        let mut notes = Vec::new();
        let mask = private_mount_namespace(&dir, &mut notes)?;
        // Containers made by `create` are reparented to us when the runtime exits, so the
        // lifecycle row can wait for them directly.
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(format!(
                "prctl(PR_SET_CHILD_SUBREAPER): {}",
                std::io::Error::last_os_error()
            ));
        }
        let rootfs = dir.join("rootfs");
        build_rootfs(&rootfs)?;
        let volume = dir.join("volume");
        fs::create_dir(&volume).map_err(|e| e.to_string())?;
        let peak_rss = build_peak_rss(&dir)?;
        notes.extend(std::env::var("BERTH_BENCH_NOTE").ok());

        let run = dir.join("run");
        mount_tmpfs(&run)?;
        notes.push("state roots (--root) on a tmpfs, as /run is on most hosts".into());
        let berth = opts
            .berth
            .canonicalize()
            .map_err(|e| format!("{}: {e} (run `make build`)", opts.berth.display()))?;
        let mut runtimes = Vec::new();
        for (name, bin) in [("berth", berth), ("crun", which("crun")?), ("runc", which("runc")?)] {
            let root = run.join(format!("state-{name}"));
            let version = first_line(&bin, &["--version"]);
            runtimes.push(Runtime { name, bin, root, version, cgroups: true });
        }
        let seccomp = match podman_seccomp(Path::new(PODMAN_SECCOMP)) {
            Ok(profile) => Some(profile),
            Err(e) => {
                notes.push(format!("no seccomp row: {e}"));
                None
            }
        };
        let mut bench = Bench {
            seccomp,
            dir,
            rootfs,
            volume,
            peak_rss,
            mask,
            runtimes,
            notes,
            seq: AtomicUsize::new(0),
            cgroups: Mutex::default(),
            live: Mutex::default(),
        };
        bench.probe_cgroups();
        Ok(bench)
    }

    /// berth takes `linux.cgroupsPath` only once its cgroup support has landed; until then it
    /// runs without one, and the table says the comparison is not like for like.
    pub fn probe_cgroups(&mut self) {
        let probe = self.bundle(0, 99, Variant::True).and_then(|b| {
            let id = self.unique("probe");
            self.track(0, &id);
            let r = self.invoke(0, &["run", "--bundle", path_str(&b), &id]);
            self.untrack(0, &id);
            r
        });
        if let Err(e) = probe {
            self.runtimes[0].cgroups = false;
            self.notes.push(format!(
                "NOT LIKE FOR LIKE: berth refuses linux.cgroupsPath here ({e}); berth runs without a cgroup, crun and runc each create one"
            ));
        }
    }

    pub fn unique(&self, tag: &str) -> String {
        format!("bench-{}-{tag}-{}", std::process::id(), self.seq.fetch_add(1, Ordering::SeqCst))
    }

    /// Writes a bundle for runtime `rt` (its own cgroup, `slot` for concurrent use).
    pub fn bundle(&self, rt: usize, slot: usize, variant: Variant) -> Result<PathBuf, String> {
        let runtime = &self.runtimes[rt];
        let dir = self.dir.join(format!("bundle-{}-{}-{slot}", runtime.name, variant.tag()));
        if dir.exists() {
            return Ok(dir);
        }
        fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let mut cfg = if variant.is_stock() {
            stock_config(&self.runtimes[0].bin, &self.rootfs, &self.dir)?
        } else {
            base_config(&self.rootfs)
        };
        match variant {
            Variant::True | Variant::Stock => {}
            Variant::StockSleep => cfg["process"]["args"] = json!(["/bin/sleep", "3600"]),
            Variant::Sleep => cfg["process"]["args"] = json!(["/bin/sleep", "3600"]),
            Variant::Mounts(n) => {
                let mounts = cfg["mounts"].as_array_mut().expect("mounts is an array");
                for i in 0..n {
                    mounts.push(json!({
                        "destination": format!("/mnt/vol{i}"), "type": "bind",
                        "source": self.volume, "options": ["rbind", "rw"]
                    }));
                }
            }
            Variant::Seccomp => {
                cfg["linux"]["seccomp"] = self.seccomp.clone().ok_or("no seccomp profile")?;
            }
            Variant::SleepSeccomp => {
                cfg["process"]["args"] = json!(["/bin/sleep", "3600"]);
                cfg["linux"]["seccomp"] = self.seccomp.clone().ok_or("no seccomp profile")?;
            }
            Variant::SeccompRules(n) => cfg["linux"]["seccomp"] = generated_seccomp(n),
            Variant::Annotations(bytes) => cfg["annotations"] = annotations(bytes),
        }
        if runtime.cgroups && !variant.is_stock() {
            // A parent of our own: the shared `berth-test` stays non-empty while we run, so
            // another user's cleanup (rmdir of an empty `berth-test`) cannot race our mkdirs.
            let cg = format!("{}/{}", bench_cgroup(), self.unique(runtime.name));
            cfg["linux"]["cgroupsPath"] = json!(format!("/{CGROUP_PARENT}/{cg}"));
            self.cgroups.lock().unwrap().push(cg);
        }
        let text = serde_json::to_vec_pretty(&cfg).expect("serialisable");
        fs::write(dir.join("config.json"), text).map_err(|e| e.to_string())?;
        Ok(dir)
    }

    /// Writes every runtime's bundles for `variants` in `slot` before a group times anything
    /// (cgroup paths are chosen there too); a failure becomes a note and the rows say n/a.
    pub fn prepare(&mut self, slot: usize, variants: &[Variant]) {
        for rt in 0..self.runtimes.len() {
            for &v in variants {
                if let Err(e) = self.bundle(rt, slot, v) {
                    self.notes.push(format!("writing a bundle: {e}"));
                }
            }
        }
    }

    /// Runs `rt`'s binary with `args` to its end, timing it.
    pub fn invoke(&self, rt: usize, args: &[&str]) -> Result<Timed, String> {
        self.invoke_with(rt, &[], args)
    }

    /// Like [`Bench::invoke`], with global options (`--systemd-cgroup`) before the command.
    pub fn invoke_with(&self, rt: usize, global: &[&str], args: &[&str]) -> Result<Timed, String> {
        let runtime = &self.runtimes[rt];
        if interrupted() && args.first() != Some(&"delete") {
            return Err("interrupted".into());
        }
        let mut cmd = Command::new(&runtime.bin);
        cmd.arg("--root").arg(&runtime.root).args(global).args(args);
        let what = format!(
            "{} {}",
            runtime.name,
            global.iter().chain(args).copied().collect::<Vec<_>>().join(" ")
        );
        time_command(cmd, &self.dir, &what)
    }

    pub fn track(&self, rt: usize, id: &str) {
        self.live.lock().unwrap().push((rt, id.to_string()));
    }

    pub fn untrack(&self, rt: usize, id: &str) {
        self.live.lock().unwrap().retain(|(r, i)| !(*r == rt && i == id));
    }

    /// `run ID` of /bin/true in the foreground (which deletes the container at its end).
    pub fn op_run(&self, rt: usize, slot: usize, variant: Variant) -> Result<Timed, String> {
        let bundle = self.bundle(rt, slot, variant)?;
        let id = self.unique("run");
        self.track(rt, &id);
        let t = self.invoke(rt, &["run", "--bundle", path_str(&bundle), &id])?;
        self.untrack(rt, &id);
        Ok(t)
    }

    /// `run ID` of /bin/true through scripts/peak-rss.c: its peak RSS and what it reaped.
    pub fn op_peak_rss(&self, rt: usize) -> Result<Timed, String> {
        let runtime = &self.runtimes[rt];
        let bundle = self.bundle(rt, 0, Variant::True)?;
        let id = self.unique("rss");
        self.track(rt, &id);
        let report = self.dir.join(format!("peak-rss-{id}"));
        let mut cmd = Command::new(&self.peak_rss);
        cmd.arg(&report).arg(&runtime.bin).arg("--root").arg(&runtime.root);
        cmd.args(["run", "--bundle", path_str(&bundle), &id]);
        let what = format!("{} run (peak RSS)", runtime.name);
        time_command(cmd, &self.dir, &what)?;
        let text = fs::read_to_string(&report).map_err(|e| format!("{what}: {e}"))?;
        let _ = fs::remove_file(&report);
        let bad = || format!("{what}: peak-rss reported {text:?}");
        let (kib, status) = text.trim().split_once(' ').ok_or_else(bad)?;
        if status != "0" {
            return Err(format!("{what}: failed (wait status {status})"));
        }
        self.untrack(rt, &id);
        Ok(Timed { secs: 0.0, maxrss_kib: kib.parse().map_err(|_| bad())? })
    }

    /// `create`, `start`, wait for the container's exit, `delete`: four invocations.
    pub fn op_lifecycle(&self, rt: usize) -> Result<Timed, String> {
        self.op_lifecycle_of(rt, Variant::True)
    }

    /// [`Bench::op_lifecycle`] with the bundle `variant`.
    pub fn op_lifecycle_of(&self, rt: usize, variant: Variant) -> Result<Timed, String> {
        let bundle = self.bundle(rt, 0, variant)?;
        let id = self.unique("life");
        let pid_file = self.dir.join(format!("{id}.pid"));
        let begin = Instant::now();
        self.track(rt, &id);
        self.invoke(
            rt,
            &["create", "--bundle", path_str(&bundle), "--pid-file", path_str(&pid_file), &id],
        )?;
        let pid: i32 = fs::read_to_string(&pid_file)
            .map_err(|e| format!("reading the pid file: {e}"))?
            .trim()
            .parse()
            .map_err(|_| "the pid file holds no pid".to_string())?;
        self.invoke(rt, &["start", &id])?;
        wait_exit(pid)?;
        self.invoke(rt, &["delete", &id])?;
        let secs = begin.elapsed().as_secs_f64();
        self.untrack(rt, &id);
        let _ = fs::remove_file(&pid_file);
        Ok(Timed { secs, maxrss_kib: 0 })
    }

    /// A running container (`sleep 3600`, the bundle `variant`) for the `state` and `exec` rows.
    pub fn start_sleeper(&self, rt: usize, variant: Variant) -> Result<String, String> {
        let bundle = self.bundle(rt, 0, variant)?;
        let id = self.unique("sleep");
        self.track(rt, &id);
        self.invoke(rt, &["run", "--detach", "--bundle", path_str(&bundle), &id])?;
        Ok(id)
    }

    pub fn remove(&self, rt: usize, id: &str) {
        let _ = self.invoke(rt, &["delete", "--force", id]);
        self.untrack(rt, id);
    }

    /// `rounds` rounds of [`THROUGHPUT_CONTAINERS`] foreground runs, [`THROUGHPUT_IN_FLIGHT`]
    /// at a time; one sample per round in containers per second.
    pub fn op_throughput(&self, rt: usize) -> Result<Timed, String> {
        self.op_throughput_with(rt, THROUGHPUT_IN_FLIGHT)
    }

    /// [`Bench::op_throughput`] with `in_flight` runs at a time (bundle slots `0..in_flight`).
    pub fn op_throughput_with(&self, rt: usize, in_flight: usize) -> Result<Timed, String> {
        let next = AtomicUsize::new(0);
        let failure = Mutex::new(None);
        let begin = Instant::now();
        std::thread::scope(|s| {
            for slot in 0..in_flight {
                let (next, failure) = (&next, &failure);
                s.spawn(move || {
                    while next.fetch_add(1, Ordering::SeqCst) < THROUGHPUT_CONTAINERS {
                        if let Err(e) = self.op_run(rt, slot, Variant::True) {
                            *failure.lock().unwrap() = Some(e);
                            return;
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().unwrap() {
            return Err(e);
        }
        Ok(Timed {
            secs: THROUGHPUT_CONTAINERS as f64 / begin.elapsed().as_secs_f64(),
            maxrss_kib: 0,
        })
    }

    pub fn row(
        &self,
        name: &str,
        unit: Unit,
        n: usize,
        op: impl Fn(&Self, usize) -> Result<Timed, String>,
    ) -> Row {
        let k = self.runtimes.len();
        let mut cells: Vec<Cell> = (0..k).map(|_| Cell::Samples(Vec::new())).collect();
        let warmup = if unit == Unit::PerSecond { 0 } else { 2 };
        for i in 0..warmup + n {
            for j in 0..k {
                let rt = (i + j) % k;
                if cells[rt].failed() {
                    continue;
                }
                match op(self, rt) {
                    Ok(t) if i >= warmup => cells[rt].push(match unit {
                        Unit::Millis | Unit::Slope => t.secs * 1e3,
                        Unit::PerSecond => t.secs,
                        Unit::Mebibytes => t.maxrss_kib as f64 / 1024.0,
                    }),
                    Ok(_) => {}
                    Err(e) => cells[rt].fail(e),
                }
            }
        }
        Row { name: name.into(), unit, cells, warmup }
    }

    /// Like [`Bench::row`], on one running container per runtime made beforehand.
    pub fn row_on_sleeper(
        &self,
        name: &str,
        n: usize,
        op: impl Fn(&Self, usize, &str) -> Result<Timed, String>,
    ) -> Row {
        self.row_on_sleeper_of(Variant::Sleep, name, n, op)
    }

    /// [`Bench::row_on_sleeper`] with the sleeper's bundle `variant`.
    pub fn row_on_sleeper_of(
        &self,
        variant: Variant,
        name: &str,
        n: usize,
        op: impl Fn(&Self, usize, &str) -> Result<Timed, String>,
    ) -> Row {
        let ids: Vec<Result<String, String>> =
            (0..self.runtimes.len()).map(|rt| self.start_sleeper(rt, variant)).collect();
        let row = self.row(name, Unit::Millis, n, |b, rt| match &ids[rt] {
            Ok(id) => op(b, rt, id),
            Err(e) => Err(format!("starting the container: {e}")),
        });
        for (rt, id) in ids.iter().enumerate() {
            if let Ok(id) = id {
                self.remove(rt, id);
            }
        }
        row
    }

    /// Force-deletes what is left, removes the cgroups, the mask and the temp dir.
    pub fn cleanup(&self) {
        let live = self.live.lock().unwrap().clone();
        for (rt, id) in live {
            self.remove(rt, &id);
        }
        for cg in self.cgroups.lock().unwrap().iter() {
            for d in cgroup_dirs(cg) {
                // A stopped container's cgroup is empty; rmdir never removes a busy one.
                let _ = fs::remove_dir(d);
            }
        }
        for d in cgroup_dirs(&bench_cgroup()).into_iter().chain(cgroup_dirs("")) {
            // Our parent, then the shared one: each goes only when empty (rmdir of a cgroup
            // with children fails).
            let _ = fs::remove_dir(d);
        }
        for mounted in self.mask.iter().chain([&self.dir.join("run")]) {
            // SAFETY: the path is NUL-terminated below; umount2 reads it only.
            let c = std::ffi::CString::new(path_str(mounted)).expect("no NUL");
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("bench: removing {}: {e}", self.dir.display());
        }
    }
}
