//! Side-by-side benchmark of berth, crun and runc (`make bench`, or `cargo bench --bench
//! compare -- [--json] [--iterations N] [--quick]`). Run as root.
//!
//! Every runtime gets the same bundle (runc's default `runc spec` config running /bin/true,
//! on a static busybox rootfs) and a cgroup under `/berth-test/`. Each iteration runs the
//! runtimes one after another in a rotating order, so machine noise falls on all of them
//! alike; warm-up runs come first and are not counted. The whole benchmark runs in a private
//! mount namespace of its own, where an empty file masks
//! `/sys/fs/cgroup/unified/cgroup.controllers` (crun 1.8 refuses hybrid hosts that list a
//! controller there); the host's mounts are never changed. Everything it creates (temp dir,
//! state roots, containers, cgroups) is removed at the end.

use std::fs::{self, File};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Containers in the throughput row, and how many are in flight at once.
const THROUGHPUT_CONTAINERS: usize = 100;
const THROUGHPUT_IN_FLIGHT: usize = 4;
/// Podman's default seccomp profile (Debian's golang-github-containers-common).
const PODMAN_SECCOMP: &str = "/usr/share/containers/seccomp.json";
/// The capabilities of the benchmark's containers (runc's default set).
const CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
/// The cgroup parent every container of the benchmark goes under.
const CGROUP_PARENT: &str = "berth-test";

/// Compiles scripts/peak-rss.c (the peak-RSS meter; a bench tool, not part of berth's build)
/// with the system C compiler into `dir`.
fn build_peak_rss(dir: &Path) -> Result<PathBuf, String> {
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

fn main() {
    let opts = match Opts::parse() {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("bench: {msg}");
            std::process::exit(2);
        }
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("bench: run as root (containers, namespaces and cgroups need it)");
        std::process::exit(2);
    }
    let mut bench = match Bench::setup(&opts) {
        Ok(b) => b,
        Err(msg) => {
            eprintln!("bench: setting up: {msg}");
            std::process::exit(1);
        }
    };
    let report = bench.run_all(&opts);
    bench.cleanup();
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json()).expect("serialisable"));
    } else {
        print!("{}", report.to_table());
    }
}

/// Command-line options.
struct Opts {
    json: bool,
    iterations: usize,
    berth: PathBuf,
}

impl Opts {
    fn parse() -> Result<Self, String> {
        // The berth binary cargo built alongside this benchmark (same profile and target).
        let berth = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
        let mut opts = Opts { json: false, iterations: 50, berth };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--json" => opts.json = true,
                "--quick" => opts.iterations = 5,
                "--iterations" => {
                    let n = args.next().ok_or("--iterations needs a number")?;
                    opts.iterations =
                        n.parse().map_err(|_| format!("--iterations: bad number {n:?}"))?;
                }
                "--berth" => opts.berth = args.next().ok_or("--berth needs a path")?.into(),
                // cargo bench passes --bench to harness-less benches.
                "--bench" => {}
                other => {
                    return Err(format!(
                    "unknown argument {other:?} (--json, --iterations N, --quick, --berth PATH)"
                ))
                }
            }
        }
        if opts.iterations == 0 {
            return Err("--iterations must be at least 1".into());
        }
        Ok(opts)
    }
}

/// A runtime under test.
struct Runtime {
    name: &'static str,
    bin: PathBuf,
    /// Its own `--root` state dir.
    root: PathBuf,
    version: String,
    /// Whether its bundles carry `linux.cgroupsPath`.
    cgroups: bool,
}

/// The bundle variants the rows use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Variant {
    True,
    Sleep,
    Mounts(usize),
    /// Podman's default seccomp profile.
    Seccomp,
}

impl Variant {
    fn tag(self) -> String {
        match self {
            Variant::True => "true".into(),
            Variant::Sleep => "sleep".into(),
            Variant::Mounts(n) => format!("mounts{n}"),
            Variant::Seccomp => "seccomp".into(),
        }
    }
}

struct Bench {
    dir: PathBuf,
    rootfs: PathBuf,
    volume: PathBuf,
    /// scripts/peak-rss.c, compiled into the bench's temp dir.
    peak_rss: PathBuf,
    mask: Option<PathBuf>,
    /// Podman's default profile as OCI `linux.seccomp`, when installed.
    seccomp: Option<Value>,
    runtimes: Vec<Runtime>,
    notes: Vec<String>,
    seq: AtomicUsize,
    /// Cgroup paths (relative to a hierarchy root) handed out, removed at the end.
    cgroups: Mutex<Vec<String>>,
    /// Containers that may still exist, by runtime index, force-deleted at the end.
    live: Mutex<Vec<(usize, String)>>,
}

/// One measured invocation: its wall time, or (op_peak_rss) its peak RSS in KiB with what it reaped.
struct Timed {
    secs: f64,
    maxrss_kib: i64,
}

impl Bench {
    fn setup(opts: &Opts) -> Result<Self, String> {
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
    fn probe_cgroups(&mut self) {
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

    fn unique(&self, tag: &str) -> String {
        format!("bench-{}-{tag}-{}", std::process::id(), self.seq.fetch_add(1, Ordering::SeqCst))
    }

    /// Writes a bundle for runtime `rt` (its own cgroup, `slot` for concurrent use).
    fn bundle(&self, rt: usize, slot: usize, variant: Variant) -> Result<PathBuf, String> {
        let runtime = &self.runtimes[rt];
        let dir = self.dir.join(format!("bundle-{}-{}-{slot}", runtime.name, variant.tag()));
        if dir.exists() {
            return Ok(dir);
        }
        fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let mut cfg = base_config(&self.rootfs);
        match variant {
            Variant::True => {}
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
        }
        if runtime.cgroups {
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

    /// Runs `rt`'s binary with `args` to its end, timing it.
    fn invoke(&self, rt: usize, args: &[&str]) -> Result<Timed, String> {
        let runtime = &self.runtimes[rt];
        let mut cmd = Command::new(&runtime.bin);
        cmd.arg("--root").arg(&runtime.root).args(args);
        time_command(cmd, &self.dir, &format!("{} {}", runtime.name, args.join(" ")))
    }

    fn track(&self, rt: usize, id: &str) {
        self.live.lock().unwrap().push((rt, id.to_string()));
    }

    fn untrack(&self, rt: usize, id: &str) {
        self.live.lock().unwrap().retain(|(r, i)| !(*r == rt && i == id));
    }

    /// `run ID` of /bin/true in the foreground (which deletes the container at its end).
    fn op_run(&self, rt: usize, slot: usize, variant: Variant) -> Result<Timed, String> {
        let bundle = self.bundle(rt, slot, variant)?;
        let id = self.unique("run");
        self.track(rt, &id);
        let t = self.invoke(rt, &["run", "--bundle", path_str(&bundle), &id])?;
        self.untrack(rt, &id);
        Ok(t)
    }

    /// `run ID` of /bin/true through scripts/peak-rss.c: its peak RSS and what it reaped.
    fn op_peak_rss(&self, rt: usize) -> Result<Timed, String> {
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
    fn op_lifecycle(&self, rt: usize) -> Result<Timed, String> {
        let bundle = self.bundle(rt, 0, Variant::True)?;
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

    /// A running container (`sleep 3600`) for the `state` and `exec` rows.
    fn start_sleeper(&self, rt: usize) -> Result<String, String> {
        let bundle = self.bundle(rt, 0, Variant::Sleep)?;
        let id = self.unique("sleep");
        self.track(rt, &id);
        self.invoke(rt, &["run", "--detach", "--bundle", path_str(&bundle), &id])?;
        Ok(id)
    }

    fn remove(&self, rt: usize, id: &str) {
        let _ = self.invoke(rt, &["delete", "--force", id]);
        self.untrack(rt, id);
    }

    /// `rounds` rounds of [`THROUGHPUT_CONTAINERS`] foreground runs, [`THROUGHPUT_IN_FLIGHT`]
    /// at a time; one sample per round in containers per second.
    fn op_throughput(&self, rt: usize) -> Result<Timed, String> {
        let next = AtomicUsize::new(0);
        let failure = Mutex::new(None);
        let begin = Instant::now();
        std::thread::scope(|s| {
            for slot in 0..THROUGHPUT_IN_FLIGHT {
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

    fn run_all(&mut self, opts: &Opts) -> Report {
        let n = opts.iterations;
        let few = n.div_ceil(3).max(3);
        let mut rows = Vec::new();
        // Bundles are written (and cgroup paths chosen) before timing starts.
        for rt in 0..self.runtimes.len() {
            let variants = [
                Variant::True,
                Variant::Sleep,
                Variant::Mounts(10),
                Variant::Mounts(100),
                Variant::Mounts(1000),
                Variant::Seccomp,
            ];
            let slots = (1..THROUGHPUT_IN_FLIGHT).map(|slot| (slot, Variant::True));
            let variants =
                variants.into_iter().filter(|v| *v != Variant::Seccomp || self.seccomp.is_some());
            for (slot, v) in variants.map(|v| (0, v)).chain(slots) {
                if let Err(e) = self.bundle(rt, slot, v) {
                    self.notes.push(format!("writing a bundle: {e}"));
                }
            }
        }
        let floor = Floor::new(&self.rootfs);

        let (run, floor_stats) = self.row_run(n, &floor);
        rows.push(run);
        rows.push(
            self.row("create + start + wait + delete", Unit::Millis, n, |b, rt| b.op_lifecycle(rt)),
        );
        rows.push(self.row_on_sleeper("state of a running container", n, |b, rt, id| {
            b.invoke(rt, &["state", id])
        }));
        let host_mounts = self.dir.join("host-mounts");
        match mount_many(&host_mounts, HOST_MOUNTS) {
            Ok(()) => rows.push(self.row_on_sleeper(
                &format!("state with {HOST_MOUNTS} host mounts"),
                n,
                |b, rt, id| b.invoke(rt, &["state", id]),
            )),
            Err(e) => {
                rows.push(Row::not_available("state with host mounts", self.runtimes.len(), &e))
            }
        }
        // Later rows run without them: every container's mount namespace would copy them.
        unmount_many(&host_mounts, HOST_MOUNTS);
        rows.push(self.row_on_sleeper("exec /bin/true in a running container", n, |b, rt, id| {
            b.invoke(rt, &["exec", id, "/bin/true"])
        }));
        let rss_name = "peak RSS of `run` (runtime + what it reaps)";
        rows.push(self.row(rss_name, Unit::Mebibytes, n, |b, rt| b.op_peak_rss(rt)));
        let rounds = (n / 10).clamp(2, 5);
        let tp = self.row(
            &format!("{THROUGHPUT_CONTAINERS} × run, {THROUGHPUT_IN_FLIGHT} in flight"),
            Unit::PerSecond,
            rounds,
            |b, rt| b.op_throughput(rt),
        );
        rows.push(tp);
        for mounts in [10, 100, 1000] {
            let iters = if mounts >= 1000 { few.min(5) } else { few };
            rows.push(self.row(
                &format!("run with {mounts} bind mounts"),
                Unit::Millis,
                iters,
                |b, rt| b.op_run(rt, 0, Variant::Mounts(mounts)),
            ));
        }
        let rules = self
            .seccomp
            .as_ref()
            .and_then(|p| p["syscalls"].as_array())
            .map_or(&[][..], |a| &a[..]);
        let names: usize = rules.iter().map(|r| r["names"].as_array().map_or(0, |n| n.len())).sum();
        let name = format!("run, podman seccomp ({} rules, {names} syscalls)", rules.len());
        rows.push(match self.seccomp {
            Some(_) => {
                self.row(&name, Unit::Millis, few, |b, rt| b.op_run(rt, 0, Variant::Seccomp))
            }
            None => Row::not_available(&name, self.runtimes.len(), "no profile"),
        });
        Report {
            machine: machine(),
            runtimes: self
                .runtimes
                .iter()
                .map(|r| (r.name.to_string(), r.version.clone(), r.cgroups))
                .collect(),
            notes: self.notes.clone(),
            iterations: n,
            rows,
            floor: floor_stats,
        }
    }

    /// The `run` row, and the floor (interleaved with it).
    fn row_run(&self, n: usize, floor: &Floor) -> (Row, Cell) {
        let k = self.runtimes.len();
        let mut times: Vec<Cell> = (0..k).map(|_| Cell::Samples(Vec::new())).collect();
        let mut floor_cell = Cell::Samples(Vec::new());
        let warmup = 3;
        for i in 0..warmup + n {
            for j in 0..=k {
                // Rotate the order, the floor included.
                let who = (i + j) % (k + 1);
                if (who == k && floor_cell.failed()) || (who < k && times[who].failed()) {
                    continue;
                }
                let result = if who == k {
                    floor.run(&self.dir)
                } else {
                    self.op_run(who, 0, Variant::True)
                };
                let cell = if who == k { &mut floor_cell } else { &mut times[who] };
                match result {
                    Ok(t) if i >= warmup => cell.push(t.secs * 1e3),
                    Ok(_) => {}
                    Err(e) => cell.fail(e),
                }
            }
        }
        let run = Row {
            name: "run /bin/true (foreground; deletes itself)".into(),
            unit: Unit::Millis,
            cells: times,
            warmup,
        };
        (run, floor_cell)
    }

    /// A row timing `op` for every runtime, interleaved, after warm-up runs.
    fn row(
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
                        Unit::Millis => t.secs * 1e3,
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
    fn row_on_sleeper(
        &self,
        name: &str,
        n: usize,
        op: impl Fn(&Self, usize, &str) -> Result<Timed, String>,
    ) -> Row {
        let ids: Vec<Result<String, String>> =
            (0..self.runtimes.len()).map(|rt| self.start_sleeper(rt)).collect();
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
    fn cleanup(&self) {
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

/// The floor: `unshare` with the same namespaces, then chroot and exec of /bin/true.
struct Floor {
    rootfs: PathBuf,
}

impl Floor {
    fn new(rootfs: &Path) -> Self {
        Floor { rootfs: rootfs.to_path_buf() }
    }

    fn run(&self, dir: &Path) -> Result<Timed, String> {
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount", "--ipc", "--uts", "--net", "--cgroup", "chroot"])
            .arg(&self.rootfs)
            .arg("/bin/true");
        time_command(cmd, dir, "unshare … chroot … /bin/true")
    }
}

/// Spawns `cmd` (stdio to /dev/null and a file), waits for it, returns the wall time. (Not
/// its peak RSS: our wait4 would report at least our own; see scripts/peak-rss.c.)
fn time_command(mut cmd: Command, dir: &Path, what: &str) -> Result<Timed, String> {
    // A file, not a pipe: a created container inherits stderr and would hold a pipe open.
    let err_path =
        dir.join(format!("stderr-{:?}", std::thread::current().id()).replace(['(', ')'], ""));
    let err = File::create(&err_path).map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
    let begin = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{what}: spawning: {e}"))?;
    let status = child.wait().map_err(|e| format!("{what}: waiting: {e}"))?;
    let secs = begin.elapsed().as_secs_f64();
    if !status.success() {
        let stderr = fs::read_to_string(&err_path).unwrap_or_default();
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        return Err(format!("{what}: failed ({status}): {first}"));
    }
    Ok(Timed { secs, maxrss_kib: 0 })
}

/// Waits until `pid` has exited: reaps it when it is our child (reparented to us as
/// subreaper), else polls a pidfd.
fn wait_exit(pid: i32) -> Result<(), String> {
    let mut status = 0;
    loop {
        // SAFETY: waits for one pid.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Ok(());
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => break,
            _ => return Err(format!("waitpid({pid}): {}", std::io::Error::last_os_error())),
        }
    }
    // SAFETY: pidfd_open takes a pid and flags; the returned fd is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        // Already gone.
        return Ok(());
    }
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let deadline = Instant::now() + Duration::from_secs(30);
    // SAFETY: one pollfd.
    while unsafe { libc::poll(&mut pfd, 1, 100) } == 0 {
        if Instant::now() > deadline {
            unsafe { libc::close(fd) };
            return Err(format!("container process {pid} did not exit"));
        }
    }
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    Ok(())
}

/// Enters a private mount namespace and masks the unified hierarchy's controller list.
/// Returns the masked path (to unmount at the end) when a mask was needed.
fn private_mount_namespace(dir: &Path, notes: &mut Vec<String>) -> Result<Option<PathBuf>, String> {
    // SAFETY: unshare and mount with constant arguments; we are single-threaded here.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(format!("unshare(CLONE_NEWNS): {}", std::io::Error::last_os_error()));
        }
        if libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!(
                "mount(/, MS_REC|MS_PRIVATE): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    let controllers = Path::new("/sys/fs/cgroup/unified/cgroup.controllers");
    let listed = fs::read_to_string(controllers).unwrap_or_default();
    if listed.trim().is_empty() {
        return Ok(None);
    }
    let empty = dir.join("empty-controllers");
    File::create(&empty).map_err(|e| e.to_string())?;
    let src = std::ffi::CString::new(path_str(&empty)).expect("no NUL");
    let dst = std::ffi::CString::new(path_str(controllers)).expect("no NUL");
    // SAFETY: both paths are NUL-terminated; a bind mount in our own namespace.
    if unsafe {
        libc::mount(src.as_ptr(), dst.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null())
    } != 0
    {
        return Err(format!(
            "bind-mounting over {}: {}",
            controllers.display(),
            std::io::Error::last_os_error()
        ));
    }
    notes.push(format!(
        "hybrid host: {} lists {:?}; masked by an empty file in the benchmark's own mount namespace (crun 1.8 refuses otherwise)",
        controllers.display(),
        listed.trim()
    ));
    Ok(Some(controllers.to_path_buf()))
}

/// The state roots live on a tmpfs, as `/run` is on most hosts (not here: /run is on the
/// root disk, where each fsync of a state file costs milliseconds).
fn mount_tmpfs(dir: &Path) -> Result<(), String> {
    fs::create_dir(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let c = std::ffi::CString::new(path_str(dir)).expect("no NUL");
    // SAFETY: NUL-terminated strings; a tmpfs in the benchmark's own mount namespace.
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"mode=755".as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(format!(
            "mounting a tmpfs on {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// How many tmpfs mounts the "state with host mounts" row adds (a node with one overlay
/// mount per container has as many).
const HOST_MOUNTS: usize = 1000;

/// Mounts `count` small tmpfs at `dir/0`, `dir/1`, … in the benchmark's own mount namespace.
fn mount_many(dir: &Path, count: usize) -> Result<(), String> {
    fs::create_dir(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for i in 0..count {
        let point = dir.join(i.to_string());
        fs::create_dir(&point).map_err(|e| format!("creating {}: {e}", point.display()))?;
        let c = std::ffi::CString::new(path_str(&point)).expect("no NUL");
        // SAFETY: NUL-terminated strings; a tmpfs in the benchmark's own mount namespace.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                c.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"size=4k".as_ptr().cast(),
            )
        };
        if r != 0 {
            return Err(format!(
                "mounting {}: {}",
                point.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// Undoes [`mount_many`] (what it managed to mount) and removes the directories.
fn unmount_many(dir: &Path, count: usize) {
    for i in 0..count {
        let point = dir.join(i.to_string());
        let c = std::ffi::CString::new(path_str(&point)).expect("no NUL");
        // SAFETY: a NUL-terminated path; only our own mounts live there (EINVAL otherwise).
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = fs::remove_dir_all(dir);
}

/// A static busybox root with the applets the bundles run.
fn build_rootfs(rootfs: &Path) -> Result<(), String> {
    let io = |e: std::io::Error| format!("building the rootfs: {e}");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt"] {
        fs::create_dir_all(rootfs.join(d)).map_err(io)?;
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).map_err(io)?;
    fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .map_err(|e| format!("copying /bin/busybox (apt-get install busybox-static): {e}"))?;
    fs::set_permissions(rootfs.join("bin/busybox"), fs::Permissions::from_mode(0o755))
        .map_err(io)?;
    for applet in ["sh", "true", "sleep"] {
        symlink("busybox", rootfs.join("bin").join(applet)).map_err(io)?;
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").map_err(io)?;
    fs::write(rootfs.join("etc/group"), "root:x:0:\n").map_err(io)?;
    Ok(())
}

/// runc's default config (`runc spec`), running /bin/true without a terminal on a
/// writable rootfs (so the runtimes can make mount points). ociVersion 1.0.2, which all three
/// accept (crun 1.8 refuses 1.2.0).
fn base_config(rootfs: &Path) -> Value {
    let caps = json!(CAPS);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/bin/true"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": rootfs, "readonly": false },
        "hostname": "bench",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi", "/sys/devices/virtual/powercap"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// Turns podman's profile (Docker's format) into OCI `linux.seccomp` for this machine the way
/// podman does: keep the rules whose `includes` (architectures, capabilities) hold and whose
/// `excludes` do not, and list the native architecture with its sub-architectures.
fn podman_seccomp(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| {
        format!("{}: {e} (apt-get install golang-github-containers-common)", path.display())
    })?;
    let profile: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let (go_arch, scmp_arch) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        other => return Err(format!("no architecture mapping for {other}")),
    };
    let has =
        |list: &Value, item: &str| list.as_array().is_some_and(|a| a.iter().any(|v| v == item));
    let all_caps = |list: &Value| {
        list.as_array().is_none_or(|a| a.iter().all(|c| CAPS.iter().any(|k| c == k)))
    };
    let any_cap = |list: &Value| {
        list.as_array().is_some_and(|a| a.iter().any(|c| CAPS.iter().any(|k| c == k)))
    };
    let mut syscalls = Vec::new();
    for rule in profile["syscalls"].as_array().ok_or("no syscalls list")? {
        let (inc, exc) = (&rule["includes"], &rule["excludes"]);
        if (inc["arches"].is_array() && !has(&inc["arches"], go_arch))
            || !all_caps(&inc["caps"])
            || has(&exc["arches"], go_arch)
            || any_cap(&exc["caps"])
        {
            continue;
        }
        let mut oci = json!({ "names": rule["names"], "action": rule["action"] });
        for key in ["args", "errnoRet"] {
            if !rule[key].is_null() {
                oci[key] = rule[key].clone();
            }
        }
        syscalls.push(oci);
    }
    let mut arches = vec![json!(scmp_arch)];
    if let Some(entry) = profile["archMap"]
        .as_array()
        .and_then(|m| m.iter().find(|e| e["architecture"] == scmp_arch))
    {
        arches.extend(entry["subArchitectures"].as_array().cloned().unwrap_or_default());
    }
    let mut oci = json!({ "defaultAction": profile["defaultAction"], "architectures": arches, "syscalls": syscalls });
    if !profile["defaultErrnoRet"].is_null() {
        oci["defaultErrnoRet"] = profile["defaultErrnoRet"].clone();
    }
    Ok(oci)
}

/// The benchmark's own cgroup under `berth-test`.
fn bench_cgroup() -> String {
    format!("bench-{}", std::process::id())
}

/// `/sys/fs/cgroup/berth-test/<cg>` and `/sys/fs/cgroup/<hierarchy>/berth-test/<cg>`.
fn cgroup_dirs(cg: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut out = vec![base.join(CGROUP_PARENT).join(cg)];
    if let Ok(rd) = fs::read_dir(base) {
        out.extend(rd.flatten().map(|e| e.path().join(CGROUP_PARENT).join(cg)));
    }
    out.retain(|d| d.is_dir());
    out
}

fn which(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).ok_or_else(|| {
        format!("{name} not found in PATH (apt-get install {name}; `make bench` does)")
    })
}

fn first_line(bin: &Path, args: &[&str]) -> String {
    Command::new(bin)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown version".into())
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("the benchmark's paths are UTF-8")
}

/// nproc, CPU model and kernel.
fn machine() -> Value {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let kernel =
        fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    json!({ "nproc": nproc, "cpu": model, "kernel": kernel })
}

/// What a row reports in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Unit {
    Millis,
    Mebibytes,
    PerSecond,
}

impl Unit {
    fn suffix(self) -> &'static str {
        match self {
            Unit::Millis => "ms",
            Unit::Mebibytes => "MiB",
            Unit::PerSecond => "/s",
        }
    }
}

/// One runtime's samples in a row, or why it has none.
#[derive(Clone, Debug)]
enum Cell {
    Samples(Vec<f64>),
    NotAvailable(String),
}

impl Cell {
    fn push(&mut self, v: f64) {
        if let Cell::Samples(s) = self {
            s.push(v);
        }
    }

    fn fail(&mut self, why: String) {
        if !self.failed() {
            *self = Cell::NotAvailable(why);
        }
    }

    fn failed(&self) -> bool {
        matches!(self, Cell::NotAvailable(_))
    }

    /// (median, min, max).
    fn stats(&self) -> Option<(f64, f64, f64)> {
        let Cell::Samples(s) = self else { return None };
        if s.is_empty() {
            return None;
        }
        let mut v = s.clone();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 0 { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] };
        Some((median, v[0], v[v.len() - 1]))
    }
}

/// One line of the table.
struct Row {
    name: String,
    unit: Unit,
    /// Indexed like the runtimes.
    cells: Vec<Cell>,
    warmup: usize,
}

impl Row {
    fn not_available(name: &str, k: usize, why: &str) -> Self {
        Row {
            name: name.into(),
            unit: Unit::Millis,
            cells: vec![Cell::NotAvailable(why.into()); k],
            warmup: 0,
        }
    }

    /// berth's median over runtime `other`'s.
    fn ratio(&self, other: usize) -> Option<f64> {
        Some(self.cells[0].stats()?.0 / self.cells[other].stats()?.0)
    }
}

struct Report {
    machine: Value,
    /// (name, version, uses cgroupsPath).
    runtimes: Vec<(String, String, bool)>,
    notes: Vec<String>,
    iterations: usize,
    rows: Vec<Row>,
    floor: Cell,
}

fn fmt_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_cell(cell: &Cell) -> String {
    match cell.stats() {
        Some((med, min, max)) => {
            format!("{} ({}–{})", fmt_value(med), fmt_value(min), fmt_value(max))
        }
        None => "n/a".into(),
    }
}

impl Report {
    fn to_table(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "berth benchmark: {} × {}, kernel {}; {} iterations a row (fewer for the mount and throughput rows), interleaved, after warm-up\n",
            m["nproc"], m["cpu"].as_str().unwrap_or(""), m["kernel"].as_str().unwrap_or(""), self.iterations
        );
        for (name, version, _) in &self.runtimes {
            out.push_str(&format!("  {name}: {version}\n"));
        }
        out.push_str("median (min–max); ratios are berth's median over the other's\n\n");
        let names: Vec<&str> = self.runtimes.iter().map(|r| r.0.as_str()).collect();
        let w = 46;
        out.push_str(&format!(
            "{:<w$} {:>5} {:>22} {:>22} {:>22} {:>10} {:>10}\n",
            "",
            "unit",
            names[0],
            names[1],
            names[2],
            format!("{}/{}", names[0], names[1]),
            format!("{}/{}", names[0], names[2])
        ));
        for row in &self.rows {
            let ratio = |o| row.ratio(o).map_or("n/a".to_string(), |r| format!("{r:.2}"));
            out.push_str(&format!(
                "{:<w$} {:>5} {:>22} {:>22} {:>22} {:>10} {:>10}\n",
                row.name,
                row.unit.suffix(),
                fmt_cell(&row.cells[0]),
                fmt_cell(&row.cells[1]),
                fmt_cell(&row.cells[2]),
                ratio(1),
                ratio(2)
            ));
        }
        if let (Some((fmed, fmin, fmax)), Some((bmed, _, _))) =
            (self.floor.stats(), self.rows[0].cells[0].stats())
        {
            out.push_str(&format!(
                "\nfloor (unshare -pfmiun -C + chroot + exec /bin/true): {} ms ({}–{}); berth run / floor = {:.2}\n",
                fmt_value(fmed), fmt_value(fmin), fmt_value(fmax), bmed / fmed
            ));
        }
        let mut notes = self.notes.clone();
        for row in &self.rows {
            for (i, cell) in row.cells.iter().enumerate() {
                if let Cell::NotAvailable(why) = cell {
                    notes.push(format!("{} / {}: n/a: {why}", row.name, names[i]));
                }
            }
        }
        if let Cell::NotAvailable(why) = &self.floor {
            notes.push(format!("floor: n/a: {why}"));
        }
        if !notes.is_empty() {
            out.push_str("\nnotes:\n");
            for n in notes {
                out.push_str(&format!("- {n}\n"));
            }
        }
        out
    }

    fn to_json(&self) -> Value {
        let stats = |c: &Cell| match c {
            Cell::Samples(s) => match c.stats() {
                Some((med, min, max)) => {
                    json!({ "median": med, "min": min, "max": max, "n": s.len() })
                }
                None => Value::Null,
            },
            Cell::NotAvailable(why) => json!({ "na": why }),
        };
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut results = serde_json::Map::new();
                for (i, (name, _, _)) in self.runtimes.iter().enumerate() {
                    results.insert(name.clone(), stats(&row.cells[i]));
                }
                json!({
                    "name": row.name, "unit": row.unit.suffix(), "warmup": row.warmup,
                    "results": results, "berth_over_crun": row.ratio(1), "berth_over_runc": row.ratio(2),
                })
            })
            .collect();
        let runtimes: Vec<Value> = self
            .runtimes
            .iter()
            .map(|(n, v, cg)| json!({ "name": n, "version": v, "cgroups_path": cg }))
            .collect();
        json!({
            "machine": self.machine, "iterations": self.iterations, "runtimes": runtimes,
            "notes": self.notes, "rows": rows, "floor": stats(&self.floor),
        })
    }
}
