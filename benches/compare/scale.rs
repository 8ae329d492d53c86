//! The "scale" group (issue 19): how each runtime's cost grows with what the node holds and
//! what the config carries. `state`, `kill ID 0` and `list` with 1 and with [`ALIVE`]
//! containers alive (each `sleep 3600` in its own cgroup, made outside the timing,
//! [`CREATE_IN_FLIGHT`] at a time); 100 foreground runs [`IN_FLIGHT`] at a time; and one
//! slope line each for seccomp rules, annotation bytes and containers alive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::bench::{Bench, THROUGHPUT_CONTAINERS};
use crate::bundle::Variant;
use crate::host::path_str;
use crate::report::{Cell, Row, Unit};
use crate::rows::{few, Measured};
use crate::Opts;

/// Containers alive per runtime in the "many alive" rows.
pub const ALIVE: usize = 500;
/// The middle point of the containers-alive slope.
const MIDDLE: usize = 100;
/// Containers made at once while filling the node (not timed).
const CREATE_IN_FLIGHT: usize = 6;
/// Foreground runs in flight in the throughput row.
const IN_FLIGHT: usize = 8;
/// The first bundle slot of the alive containers (one bundle, and cgroup, each).
const SLOT_BASE: usize = 1000;
/// Rules of the big generated seccomp filter.
const SECCOMP_RULES: usize = 10_000;
/// Annotation sizes of the annotation rows, in bytes.
const ANNOTATIONS: [usize; 3] = [0, 10 << 10, 1 << 20];

/// Runs the group's rows.
pub fn scale(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    alive_rows(bench, opts, out);
    throughput(bench, opts, out);
    seccomp_rows(bench, opts, out);
    annotation_rows(bench, opts, out);
}

/// One container made for [`Alive::grow`]: runtime, index, and its id or the error.
type Made = (usize, usize, Result<String, String>);

/// The containers each runtime has alive, or why it could not make them.
struct Alive {
    ids: Vec<Vec<String>>,
    failed: Vec<Option<String>>,
}

impl Alive {
    /// Makes runtime `rt`'s containers up to `count` (all runtimes, interleaved, in parallel).
    fn grow(&mut self, bench: &Bench, count: usize) {
        let k = bench.runtimes.len();
        let work: Vec<(usize, usize)> = (0..count)
            .flat_map(|i| (0..k).map(move |rt| (rt, i)))
            .filter(|&(rt, i)| i >= self.ids[rt].len() && self.failed[rt].is_none())
            .collect();
        let next = AtomicUsize::new(0);
        let made: Mutex<Vec<Made>> = Mutex::default();
        std::thread::scope(|s| {
            for _ in 0..CREATE_IN_FLIGHT {
                s.spawn(|| loop {
                    let Some(&(rt, i)) = work.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        return;
                    };
                    let r = start_sleeper(bench, rt, i);
                    made.lock().unwrap().push((rt, i, r));
                });
            }
        });
        let mut made = made.into_inner().unwrap();
        made.sort_by_key(|&(rt, i, _)| (rt, i));
        for (rt, _, r) in made {
            match r {
                Ok(id) => self.ids[rt].push(id),
                Err(e) if self.failed[rt].is_none() => self.failed[rt] = Some(e),
                Err(_) => {}
            }
        }
        for rt in 0..k {
            if self.failed[rt].is_none() && self.ids[rt].len() < count {
                self.failed[rt] = Some(format!("only {} containers made", self.ids[rt].len()));
            }
        }
    }

    /// A row of `op` on runtime `rt`'s first container, with `alive` containers alive.
    fn row(
        &self,
        bench: &Bench,
        name: &str,
        n: usize,
        op: impl Fn(&Bench, usize, &str) -> Result<crate::bench::Timed, String>,
    ) -> Row {
        bench.row(name, Unit::Millis, n, |b, rt| match &self.failed[rt] {
            Some(e) => Err(format!("making the containers: {e}")),
            None => op(b, rt, &self.ids[rt][0]),
        })
    }

    /// Force-deletes every container, [`CREATE_IN_FLIGHT`] at a time.
    fn remove_all(self, bench: &Bench) {
        let work: Vec<(usize, String)> = self
            .ids
            .into_iter()
            .enumerate()
            .flat_map(|(rt, ids)| ids.into_iter().map(move |id| (rt, id)))
            .collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..CREATE_IN_FLIGHT {
                s.spawn(|| {
                    while let Some((rt, id)) = work.get(next.fetch_add(1, Ordering::SeqCst)) {
                        bench.remove(*rt, id);
                    }
                });
            }
        });
    }
}

/// `run --detach` of container `i` of runtime `rt` (`sleep 3600`, its own bundle and cgroup).
fn start_sleeper(bench: &Bench, rt: usize, i: usize) -> Result<String, String> {
    let bundle = bench.bundle(rt, SLOT_BASE + i, Variant::Sleep)?;
    let id = bench.unique(&format!("alive{i}"));
    bench.track(rt, &id);
    bench.invoke(rt, &["run", "--detach", "--bundle", path_str(&bundle), &id])?;
    Ok(id)
}

/// The four operations of the alive rows.
const OPS: [(&str, &[&str]); 4] = [
    ("state", &["state"]),
    ("kill ID 0", &["kill"]),
    ("list", &["list"]),
    ("list --format json", &["list", "--format", "json"]),
];

/// Runs operation `op` (an index into [`OPS`]) on `id`.
fn invoke_op(bench: &Bench, rt: usize, op: usize, id: &str) -> Result<crate::bench::Timed, String> {
    match op {
        0 => bench.invoke(rt, &["state", id]),
        1 => bench.invoke(rt, &["kill", id, "0"]),
        _ => bench.invoke(rt, OPS[op].1),
    }
}

/// `state`, `kill ID 0`, `list` and `list --format json` with 1 and [`ALIVE`] containers
/// alive (row pairs side by side), and the slope of `state` over 1, [`MIDDLE`], [`ALIVE`].
fn alive_rows(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    let k = bench.runtimes.len();
    let n = opts.iterations;
    let mut alive = Alive { ids: vec![Vec::new(); k], failed: vec![None; k] };
    let mut at: Vec<Vec<Row>> = Vec::new();
    for count in [1, MIDDLE, ALIVE] {
        alive.grow(bench, count);
        let ops: &[usize] = if count == MIDDLE { &[0] } else { &[0, 1, 2, 3] };
        at.push(
            ops.iter()
                .map(|&op| {
                    let name = format!("{}, {count} alive", OPS[op].0);
                    alive.row(bench, &name, n, |b, rt, id| invoke_op(b, rt, op, id))
                })
                .collect(),
        );
    }
    alive.remove_all(bench);
    let [one, middle, many] = <[Vec<Row>; 3]>::try_from(at).ok().expect("three counts");
    let state = [&one[0], &middle[0], &many[0]];
    let slope = slope_row(
        &format!("slope: state, µs per container alive (1/{MIDDLE}/{ALIVE})"),
        state[0],
        state[2],
        1e3 / (ALIVE - 1) as f64,
    );
    for (a, b) in one.into_iter().zip(many) {
        out.rows.push(a);
        out.rows.push(b);
    }
    out.rows.extend(middle);
    out.rows.push(slope);
}

/// 100 foreground runs of /bin/true, [`IN_FLIGHT`] at a time.
fn throughput(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    for slot in 0..IN_FLIGHT {
        bench.prepare(slot, &[Variant::True]);
    }
    let rounds = (opts.iterations / 10).clamp(2, 5);
    out.rows.push(bench.row(
        &format!("{THROUGHPUT_CONTAINERS} × run, {IN_FLIGHT} in flight"),
        Unit::PerSecond,
        rounds,
        |b, rt| b.op_throughput_with(rt, IN_FLIGHT),
    ));
}

/// `run` with seccomp filters of 0 rules, podman's profile, and [`SECCOMP_RULES`] generated
/// rules with argument filters; the slope per 1,000 rules.
fn seccomp_rows(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    let variants =
        [Variant::SeccompRules(0), Variant::Seccomp, Variant::SeccompRules(SECCOMP_RULES)];
    let have_podman = bench.seccomp.is_some();
    bench.prepare(0, &variants);
    let podman_rules =
        bench.seccomp.as_ref().and_then(|p| p["syscalls"].as_array()).map_or(0, Vec::len);
    let iters = few(opts).min(10);
    let mut rows = Vec::new();
    for v in variants {
        let name = match v {
            Variant::Seccomp => format!("run, seccomp: podman's profile ({podman_rules} rules)"),
            Variant::SeccompRules(r) => format!("run, seccomp: {r} rules (arg filters)"),
            _ => unreachable!("seccomp variants only"),
        };
        if v == Variant::Seccomp && !have_podman {
            rows.push(Row::not_available(&name, bench.runtimes.len(), "no podman profile"));
            continue;
        }
        rows.push(bench.row(&name, Unit::Millis, iters, |b, rt| b.op_run(rt, 0, v)));
    }
    let slope = slope_row(
        "slope: run, ms per 1000 seccomp rules",
        &rows[0],
        &rows[2],
        1000.0 / SECCOMP_RULES as f64,
    );
    out.rows.extend(rows);
    out.rows.push(slope);
}

/// `run` with 0, 10 KiB and 1 MiB of annotations in config.json; the slope per MiB.
fn annotation_rows(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    let variants = ANNOTATIONS.map(Variant::Annotations);
    bench.prepare(0, &variants);
    let iters = few(opts).min(10);
    let rows: Vec<Row> = ANNOTATIONS
        .iter()
        .map(|&bytes| {
            let name = format!("run, {} of annotations", size_name(bytes));
            bench.row(&name, Unit::Millis, iters, |b, rt| {
                b.op_run(rt, 0, Variant::Annotations(bytes))
            })
        })
        .collect();
    let last = ANNOTATIONS[ANNOTATIONS.len() - 1];
    let slope = slope_row(
        "slope: run, ms per MiB of annotations",
        &rows[0],
        &rows[rows.len() - 1],
        (1 << 20) as f64 / last as f64,
    );
    out.rows.extend(rows);
    out.rows.push(slope);
}

/// `0 B`, `10 KiB`, `1 MiB`.
fn size_name(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// One line with each runtime's slope: (median of `high` − median of `low`) × `per`.
fn slope_row(name: &str, low: &Row, high: &Row, per: f64) -> Row {
    let cells = low
        .cells
        .iter()
        .zip(&high.cells)
        .map(|(l, h)| match (l.stats(), h.stats()) {
            (Some((l, _, _)), Some((h, _, _))) => Cell::Samples(vec![(h - l) * per]),
            _ => Cell::NotAvailable("a row it is made of has no result".into()),
        })
        .collect();
    Row { name: name.into(), unit: Unit::Slope, cells, warmup: 0 }
}
