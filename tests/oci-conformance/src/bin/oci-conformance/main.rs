//! The conformance runner: drives any runc-compatible runtime through the bundle variants the
//! probe checks from inside (configs.rs) and the host-side lifecycle checks of runtime.md
//! (lifecycle.rs), and prints TAP with one summary line per runtime; with several runtimes
//! also a table side by side. Exits 1 when a check fails that no TODO entry covers (always 0
//! with `--report`, which only compares).
//!
//! `oci-conformance --probe PATH --runtime PATH [--runtime PATH…] [--todo FILE] [--table-all]
//! [--report] [--tmp DIR] [--keep]`. Needs root. It runs in a private mount namespace of its own.

mod bundle;
mod configs;
mod lifecycle;
mod mountns;
mod report;
mod runtime;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_oci_conformance::tap::Check;

use bundle::{cgroups_left, namespace_inodes, remove_cgroup_parents, Workspace};
use runtime::Runtime;

/// Command-line options.
struct Options {
    runtimes: Vec<PathBuf>,
    probe: PathBuf,
    todo: Option<PathBuf>,
    tmp: PathBuf,
    table_all: bool,
    report: bool,
    keep: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        runtimes: Vec::new(),
        probe: PathBuf::new(),
        todo: None,
        tmp: std::env::temp_dir(),
        table_all: false,
        report: false,
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().map(PathBuf::from).ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--runtime" => o.runtimes.push(value()?),
            "--probe" => o.probe = value()?,
            "--todo" => o.todo = Some(value()?),
            "--tmp" => o.tmp = value()?,
            "--table-all" => o.table_all = true,
            "--report" => o.report = true,
            "--keep" => o.keep = true,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if o.runtimes.is_empty() || o.probe.as_os_str().is_empty() {
        return Err("usage: oci-conformance --probe PATH --runtime PATH [--runtime PATH…] \
                    [--todo FILE] [--table-all] [--report] [--tmp DIR] [--keep]"
            .into());
    }
    Ok(o)
}

fn main() {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("oci-conformance: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = mountns::enter_private() {
        eprintln!("oci-conformance: {e} (the suite needs root)");
        std::process::exit(2);
    }
    let mut results = Vec::new();
    for path in &opts.runtimes {
        let mut checks = run_suite(path, &opts);
        if let Some(todo) = &opts.todo {
            if let Err(e) = report::apply_todo(&mut checks, todo) {
                eprintln!("oci-conformance: {e}");
                std::process::exit(2);
            }
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        print!("{}", report::tap(&format!("{name} ({})", path.display()), &checks));
        results.push((name, checks));
    }
    if results.len() > 1 {
        println!("\n{}", report::table(&results, opts.table_all));
    }
    let failed = results.iter().flat_map(|(_, c)| c).any(Check::fails_suite);
    std::process::exit(i32::from(failed && !opts.report));
}

/// Every check against the runtime at `path`, in a work dir removed afterwards.
fn run_suite(path: &Path, opts: &Options) -> Vec<Check> {
    let tag = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ws = match Workspace::new(&opts.tmp, &tag, &opts.probe) {
        Ok(ws) => ws,
        Err(e) => return vec![Check::holds("work dir", false, e)],
    };
    let rt = Runtime::new(path, &ws.dir);
    let mut checks = Vec::new();
    let masked = if rt.is_crun() { mountns::mask_unified_controllers(&ws.dir) } else { Ok(None) };
    let shared = mountns::make_shared(&ws.dir);
    match (&masked, &shared) {
        (Ok(_), Ok(())) => checks = all_checks(&rt, &ws),
        (Err(e), _) | (_, Err(e)) => checks.push(Check::holds("mount namespace setup", false, e)),
    }
    mountns::unmount(&ws.dir);
    if let Ok(Some(m)) = masked {
        mountns::unmount(&m);
    }
    remove_cgroup_parents();
    if !opts.keep {
        let _ = fs::remove_dir_all(&ws.dir);
    }
    checks
}

fn all_checks(rt: &Runtime, ws: &Workspace) -> Vec<Check> {
    let host_ns = namespace_inodes("self");
    let mut checks = Vec::new();
    let bind_src = ws.scratch("bind");
    if let Err(e) = mountns::mount_tmpfs(&bind_src.join("sub")) {
        checks.push(Check::holds("full: a submount to bind", false, e));
    }
    checks.extend(probe_variant(rt, ws, "full", configs::full(&host_ns, &bind_src), None));
    let owner = Some(configs::USERNS_HOST_ID);
    checks.extend(probe_variant(rt, ws, "userns", configs::userns(&host_ns), owner));
    match IpcHolder::start() {
        Ok(holder) => {
            let path = PathBuf::from(format!("/proc/{}/ns/ipc", holder.child.id()));
            let joined = format!("ipc={}", fs::metadata(&path).map(|m| m.ino()).unwrap_or(0));
            let cfg = configs::readonly(&host_ns, &joined, &path);
            checks.extend(probe_variant(rt, ws, "readonly", cfg, None));
        }
        Err(e) => checks.push(Check::holds("readonly: an ipc namespace to join", false, e)),
    }
    // Not /dev/net/tun: runc (and berth, as runc) allow it by default.
    let device = ["/dev/fuse", "/dev/loop-control"].map(Path::new).into_iter().find(|d| d.exists());
    checks.extend(probe_variant(rt, ws, "extras", configs::extras(&host_ns, device), None));
    checks.extend(probe_variant(rt, ws, "timens", configs::timens(&host_ns), None));
    checks.extend(lifecycle::checks(rt, ws));
    checks
}

/// A `sleep` in an ipc namespace of its own, for a container to join by path.
struct IpcHolder {
    child: Child,
}

impl IpcHolder {
    fn start() -> Result<Self, String> {
        let own = fs::metadata("/proc/self/ns/ipc").map(|m| m.ino()).map_err(|e| e.to_string())?;
        let child = Command::new("unshare")
            .args(["--ipc", "sleep", "300"])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning unshare --ipc: {e}"))?;
        let holder = IpcHolder { child };
        let path = format!("/proc/{}/ns/ipc", holder.child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        // unshare switches namespaces before it execs sleep; wait until it has.
        while Instant::now() < deadline {
            if fs::metadata(&path).is_ok_and(|m| m.ino() != own) {
                return Ok(holder);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err("unshare --ipc did not enter a new ipc namespace".into())
    }
}

impl Drop for IpcHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the probe in a container made from `cfg` and turns its TAP lines into checks named
/// `<tag>: …`, plus checks that the container stops, deletes and leaves no cgroup.
fn probe_variant(
    rt: &Runtime,
    ws: &Workspace,
    tag: &str,
    cfg: serde_json::Value,
    owner: Option<u32>,
) -> Vec<Check> {
    let id = ws.id(tag);
    let bundle = ws.bundle(&id, cfg, owner);
    let output = ws.dir.join(format!("{id}.tap"));
    let named = |n: &str| format!("{tag}: {n}");
    let mut checks = Vec::new();
    let out = rt.run_to(&["create", "--bundle", &bundle.display().to_string(), &id], Some(&output));
    checks.push(Check::holds(named("create succeeds"), out.ok(), out.why()));
    if !out.ok() {
        rt.force_delete(&id);
        return checks;
    }
    let out = rt.run(&["start", &id]);
    checks.push(Check::holds(named("start succeeds"), out.ok(), out.why()));
    let stopped = rt.wait_status(&id, "stopped");
    checks.push(Check::compare(named("status after the probe exits"), stopped, Some("stopped")));
    let out = rt.run(&["delete", &id]);
    checks.push(Check::holds(named("delete succeeds"), out.ok(), out.why()));
    checks.push(Check::compare(
        named("delete removes the cgroup"),
        cgroups_left(&id),
        Vec::<PathBuf>::new(),
    ));
    rt.force_delete(&id);
    let text = fs::read_to_string(&output).unwrap_or_default();
    let mut probe: Vec<Check> = text.lines().filter_map(Check::parse).collect();
    for c in &mut probe {
        c.name = named(&c.name);
    }
    let finished = text.lines().any(|l| l.starts_with("1.."));
    let head: String = text.lines().take(3).collect::<Vec<_>>().join(" / ");
    checks.push(Check::holds(
        named("the probe ran to the end"),
        finished,
        format!("probe output: {head:?}"),
    ));
    checks.extend(probe);
    checks
}
