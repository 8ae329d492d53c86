//! Side-by-side benchmark of berth, crun and runc (`make bench`, or `cargo bench --bench
//! compare -- [--json] [--iterations N] [--quick] [--rows GROUP,…]`). Run as root.
//!
//! Every runtime gets the same bundle (runc's default `runc spec` config running /bin/true,
//! on a static busybox rootfs) and a cgroup under `/berth-test/`. Each iteration runs the
//! runtimes one after another in a rotating order, so machine noise falls on all of them
//! alike; warm-up runs come first and are not counted. The whole benchmark runs in a private
//! mount namespace of its own, where an empty file masks
//! `/sys/fs/cgroup/unified/cgroup.controllers` (crun 1.8 refuses hybrid hosts that list a
//! controller there); the host's mounts are never changed. Everything it creates (temp dir,
//! state roots, containers, cgroups) is removed at the end.
//!
//! Layout: `bench.rs` (the runtimes, bundles, invoking and the interleaved row loops),
//! `rows.rs` (the row groups, selectable with `--rows`; `exec.rs` holds the exec group),
//! `bundle.rs` (rootfs and configs),
//! `host.rs` (timing, mounts and cgroups of the benchmark itself), `report.rs` (statistics,
//! table and JSON), `cri.rs` (the cri rows: pod start and teardown through containerd's CRI).

mod bench;
mod bundle;
mod cri;
mod exec;
mod host;
mod report;
mod rows;
mod scale;
mod stock;
mod systemd;

use std::path::PathBuf;

use bench::Bench;

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
    // Ctrl-C ends the rows early; everything made so far is still removed below.
    host::catch_interrupts();
    let mut bench = match Bench::setup(&opts) {
        Ok(b) => b,
        Err(msg) => {
            eprintln!("bench: setting up: {msg}");
            std::process::exit(1);
        }
    };
    let report = rows::run_all(&mut bench, &opts);
    bench.cleanup();
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json()).expect("serialisable"));
    } else {
        print!("{}", report.to_table());
    }
}

/// Command-line options.
pub struct Opts {
    json: bool,
    /// Iterations of each timed row.
    pub iterations: usize,
    /// The berth binary under test.
    pub berth: PathBuf,
    /// The row groups to run (`--rows a,b`); empty means all.
    pub rows: Vec<String>,
}

impl Opts {
    fn parse() -> Result<Self, String> {
        // The berth binary cargo built alongside this benchmark (same profile and target).
        let berth = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
        let mut opts = Opts { json: false, iterations: 50, berth, rows: Vec::new() };
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
                "--rows" => {
                    let list = args.next().ok_or("--rows needs a list of row groups")?;
                    opts.rows = list.split(',').map(str::to_string).collect();
                    rows::check_groups(&opts.rows)?;
                }
                // cargo bench passes --bench to harness-less benches.
                "--bench" => {}
                other => {
                    return Err(format!(
                        "unknown argument {other:?} (--json, --iterations N, --quick, --berth PATH, --rows {})",
                        rows::group_names().join(",")
                    ))
                }
            }
        }
        if opts.iterations == 0 {
            return Err("--iterations must be at least 1".into());
        }
        Ok(opts)
    }

    /// Whether the row group `name` is to run.
    pub fn wants(&self, name: &str) -> bool {
        self.rows.is_empty() || self.rows.iter().any(|r| r == name)
    }
}
