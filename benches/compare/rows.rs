//! The rows of the benchmark, in groups `--rows` can select. A group writes the bundles it
//! needs before it times anything, then pushes its rows in table order.

use crate::bench::{Bench, Timed, THROUGHPUT_CONTAINERS, THROUGHPUT_IN_FLIGHT};
use crate::bundle::Variant;
use crate::host::{machine, mount_many, time_command, unmount_many};
use crate::report::{Cell, Report, Row, Unit};
use crate::Opts;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How many tmpfs mounts the "state with host mounts" row adds (a node with one overlay
/// mount per container has as many).
const HOST_MOUNTS: usize = 1000;

/// A group of rows: its name for `--rows`, and what measures it.
struct Group {
    name: &'static str,
    run: fn(&mut Bench, &Opts, &mut Measured),
}

/// What the groups have measured so far.
#[derive(Default)]
pub struct Measured {
    /// The rows, in table order.
    pub rows: Vec<Row>,
    /// The kernel floor, measured with the `run` row (core group).
    floor: Option<Cell>,
    /// One start of the rootfs's static /bin/true on the host (core group).
    start: Option<Cell>,
}

impl Measured {
    /// Adds a row at the end of the table.
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }
}

/// Every group, in table order.
const GROUPS: &[Group] = &[
    Group { name: "core", run: core },
    Group { name: "stock", run: crate::stock::stock },
    Group { name: "throughput", run: throughput },
    Group { name: "mounts", run: mounts },
    Group { name: "seccomp", run: seccomp },
    Group { name: "exec", run: |b, o, m| m.rows.extend(crate::exec::rows(b, o)) },
    Group { name: "scale", run: crate::scale::scale },
    Group { name: "cri", run: crate::cri::group },
    Group { name: "systemd", run: crate::systemd::rows },
];

/// The names `--rows` accepts.
pub fn group_names() -> Vec<&'static str> {
    GROUPS.iter().map(|g| g.name).collect()
}

/// Refuses a `--rows` list naming an unknown group.
pub fn check_groups(names: &[String]) -> Result<(), String> {
    match names.iter().find(|n| !GROUPS.iter().any(|g| g.name == n.as_str())) {
        Some(bad) => Err(format!("--rows: no row group {bad:?} ({})", group_names().join(","))),
        None => Ok(()),
    }
}

/// Runs the selected groups and gathers the report.
pub fn run_all(bench: &mut Bench, opts: &Opts) -> Report {
    let mut measured = Measured::default();
    for group in GROUPS.iter().filter(|g| opts.wants(g.name)) {
        (group.run)(bench, opts, &mut measured);
    }
    Report {
        machine: machine(),
        runtimes: bench
            .runtimes
            .iter()
            .map(|r| (r.name.to_string(), r.version.clone(), r.cgroups))
            .collect(),
        notes: bench.notes.clone(),
        iterations: opts.iterations,
        rows: measured.rows,
        floor: measured.floor.unwrap_or_else(|| Cell::NotAvailable("core rows not run".into())),
        start: measured.start.unwrap_or_else(|| Cell::NotAvailable("core rows not run".into())),
    }
}

/// Iterations of the rows that cost more per sample (mounts, seccomp).
pub fn few(opts: &Opts) -> usize {
    opts.iterations.div_ceil(3).max(3)
}

/// `run` and the floor, create+start+delete, `state` and `run` (also with many host
/// mounts), `exec`, peak RSS.
fn core(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    let n = opts.iterations;
    bench.prepare(0, &[Variant::True, Variant::Sleep]);
    let floor = Floor::new(&bench.rootfs);
    let (run, floor_stats) = row_run(bench, n, &floor);
    out.rows.push(run);
    out.floor = Some(floor_stats);
    out.start = Some(floor.process_start(&bench.dir, n));
    out.rows.push(
        bench.row("create + start + wait + delete", Unit::Millis, n, |b, rt| b.op_lifecycle(rt)),
    );
    out.rows.push(bench.row_on_sleeper("state of a running container", n, |b, rt, id| {
        b.invoke(rt, &["state", id])
    }));
    let host_mounts = bench.dir.join("host-mounts");
    match mount_many(&host_mounts, HOST_MOUNTS) {
        Ok(()) => {
            out.rows.push(bench.row_on_sleeper(
                &format!("state with {HOST_MOUNTS} host mounts"),
                n,
                |b, rt, id| b.invoke(rt, &["state", id]),
            ));
            // Each new mount namespace copies them, and a runtime reading mountinfo reads
            // them all: what a node with one overlay mount per container pays per start.
            out.rows.push(bench.row(
                &format!("run /bin/true with {HOST_MOUNTS} host mounts"),
                Unit::Millis,
                few(opts),
                |b, rt| b.op_run(rt, 0, Variant::True),
            ));
        }
        Err(e) => {
            let k = bench.runtimes.len();
            out.rows.push(Row::not_available("state with host mounts", k, &e));
            out.rows.push(Row::not_available("run with host mounts", k, &e));
        }
    }
    // Later rows run without them: every container's mount namespace would copy them.
    unmount_many(&host_mounts, HOST_MOUNTS);
    out.rows.push(bench.row_on_sleeper("exec /bin/true in a running container", n, |b, rt, id| {
        b.invoke(rt, &["exec", id, "/bin/true"])
    }));
    let rss_name = "peak RSS of `run` (runtime + what it reaps)";
    out.rows.push(bench.row(rss_name, Unit::Mebibytes, n, |b, rt| b.op_peak_rss(rt)));
}

/// Foreground runs, several in flight.
fn throughput(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    for slot in 0..THROUGHPUT_IN_FLIGHT {
        bench.prepare(slot, &[Variant::True]);
    }
    let rounds = (opts.iterations / 10).clamp(2, 5);
    out.rows.push(bench.row(
        &format!("{THROUGHPUT_CONTAINERS} × run, {THROUGHPUT_IN_FLIGHT} in flight"),
        Unit::PerSecond,
        rounds,
        |b, rt| b.op_throughput(rt),
    ));
}

/// `run` with 10, 100 and 1000 bind mounts.
fn mounts(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    let counts = [10, 100, 1000];
    let variants: Vec<Variant> = counts.iter().map(|&m| Variant::Mounts(m)).collect();
    bench.prepare(0, &variants);
    for mounts in counts {
        let iters = if mounts >= 1000 { few(opts).min(5) } else { few(opts) };
        out.rows.push(bench.row(
            &format!("run with {mounts} bind mounts"),
            Unit::Millis,
            iters,
            |b, rt| b.op_run(rt, 0, Variant::Mounts(mounts)),
        ));
    }
}

/// `run` under podman's default seccomp profile.
fn seccomp(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    let rules =
        bench.seccomp.as_ref().and_then(|p| p["syscalls"].as_array()).map_or(&[][..], |a| &a[..]);
    let names: usize = rules.iter().map(|r| r["names"].as_array().map_or(0, |n| n.len())).sum();
    let name = format!("run, podman seccomp ({} rules, {names} syscalls)", rules.len());
    if bench.seccomp.is_none() {
        out.rows.push(Row::not_available(&name, bench.runtimes.len(), "no profile"));
        return;
    }
    bench.prepare(0, &[Variant::Seccomp]);
    out.rows
        .push(bench.row(&name, Unit::Millis, few(opts), |b, rt| b.op_run(rt, 0, Variant::Seccomp)));
}

/// The `run` row, and the floor (interleaved with it).
fn row_run(bench: &Bench, n: usize, floor: &Floor) -> (Row, Cell) {
    let k = bench.runtimes.len();
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
            let result =
                if who == k { floor.run(&bench.dir) } else { bench.op_run(who, 0, Variant::True) };
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

/// The floor: `unshare` with the same namespaces, then chroot and exec of /bin/true.
struct Floor {
    rootfs: PathBuf,
}

impl Floor {
    fn new(rootfs: &Path) -> Self {
        Floor { rootfs: rootfs.to_path_buf() }
    }

    /// The rootfs's /bin/true (busybox, static glibc) started `n` times on the host: what
    /// every process start costs before it does anything. On a VM where CPUID traps (7 µs
    /// each here), glibc's start-up (~75 CPUIDs for the CPU's features and caches) is most
    /// of it; the floor starts three such programs, a runtime's `run` at least two.
    fn process_start(&self, dir: &Path, n: usize) -> Cell {
        let mut cell = Cell::Samples(Vec::new());
        for _ in 0..n {
            match time_command(Command::new(self.rootfs.join("bin/true")), dir, "/bin/true") {
                Ok(t) => cell.push(t.secs * 1e3),
                Err(e) => {
                    cell.fail(e);
                    break;
                }
            }
        }
        cell
    }

    fn run(&self, dir: &Path) -> Result<Timed, String> {
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount", "--ipc", "--uts", "--net", "--cgroup", "chroot"])
            .arg(&self.rootfs)
            .arg("/bin/true");
        time_command(cmd, dir, "unshare … chroot … /bin/true")
    }
}
