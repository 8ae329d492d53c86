//! Soak: many sequential create/start/delete cycles and foreground runs, measuring what a
//! leak would grow — open files on the host, mounts, cgroup directories, state entries —
//! and berth's own peak memory. The short soak runs in `make test` and asserts no growth
//! where the count is this test's alone; `make soak` runs the long one and prints a report.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use serde_json::json;

use crate::harness::{bin, peak_rss, reference_runc, Config, Out, TestEnv};

/// What the host looks like, by the measures a leak would grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    /// Allocated file handles, host-wide (first field of /proc/sys/fs/file-nr).
    host_files: u64,
    /// Lines of the host's mountinfo.
    host_mounts: usize,
    /// Mountinfo lines that mention the soak's temp dir.
    own_mounts: usize,
    /// Cgroup directories (in any hierarchy) of the soak's cgroup.
    own_cgroups: usize,
    /// Entries of the soak's state root.
    state_entries: usize,
}

fn snapshot(env: &TestEnv, cgroup: &str) -> Snapshot {
    let file_nr = fs::read_to_string("/proc/sys/fs/file-nr").unwrap();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let own_cgroups = fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("berth-test").join(cgroup))
        .chain([Path::new("/sys/fs/cgroup/berth-test").join(cgroup)])
        .filter(|d| d.exists())
        .count();
    Snapshot {
        host_files: file_nr.split_whitespace().next().unwrap().parse().unwrap(),
        host_mounts: mountinfo.lines().count(),
        own_mounts: env.leaked_mounts().len(),
        own_cgroups,
        state_entries: env.root_entries().len(),
    }
}

/// Runs berth to its end and returns its output and peak RSS in KiB: the maximum over it and
/// the processes it reaped, measured by scripts/peak-rss.c (not by our own wait4, which would
/// report at least this test's own peak; see there).
fn berth_measured(env: &TestEnv, args: &[&str]) -> (Out, i64) {
    let out = env.dir.join("soak.out");
    let err = env.dir.join("soak.err");
    let report = env.dir.join("soak.rss");
    let status = Command::new(peak_rss())
        .arg(&report)
        .arg(bin())
        .arg("--root")
        .arg(&env.root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "peak-rss failed: {}", fs::read_to_string(&err).unwrap_or_default());
    let report = fs::read_to_string(&report).unwrap();
    let (kib, wait_status) = report.trim().split_once(' ').expect("peak-rss: KiB and status");
    let out = Out {
        cmdline: format!("berth {}", args.join(" ")),
        status: ExitStatus::from_raw(wait_status.parse().unwrap()),
        stdout: fs::read_to_string(out).unwrap_or_default(),
        stderr: fs::read_to_string(err).unwrap_or_default(),
    };
    (out, kib.parse().unwrap())
}

/// Peak RSS (KiB) per command, over the first and the last `WINDOW` uses.
#[derive(Debug, Default)]
struct Memory {
    samples: Vec<(String, i64)>,
}

const WINDOW: usize = 10;

impl Memory {
    fn record(&mut self, command: &str, kib: i64) {
        self.samples.push((command.to_string(), kib));
    }

    fn first_and_last(&self, command: &str) -> (i64, i64) {
        let of: Vec<i64> =
            self.samples.iter().filter(|(c, _)| c == command).map(|(_, k)| *k).collect();
        let max = |s: &[i64]| s.iter().copied().max().unwrap_or(0);
        (max(&of[..WINDOW.min(of.len())]), max(&of[of.len().saturating_sub(WINDOW)..]))
    }
}

/// `cycles` create/start/wait/delete cycles, then `runs` foreground runs, on one bundle;
/// returns the snapshots before and after, and the memory samples.
fn soak(cycles: usize, runs: usize) -> Option<(Snapshot, Snapshot, Memory)> {
    if reference_runc() {
        return None;
    }
    let env = TestEnv::new("soak");
    let cgroup = env.id("cg");
    let probe = env.probe_dir();
    let cfg = Config::sh("echo $$ > /probe/last")
        .probe(&probe)
        .set("/linux/cgroupsPath", json!(format!("/berth-test/{cgroup}")));
    let bundle = env.bundle(&cfg);
    let b = bundle.to_str().unwrap();
    let mut memory = Memory::default();
    // One warm-up cycle: the state root and the berth-test parents exist from then on.
    let warm = env.id("warm");
    let _ = berth_measured(&env, &["run", "--bundle", b, &warm]).0.ok();
    let before = snapshot(&env, &cgroup);
    for i in 0..cycles {
        let id = format!("soak-{i}");
        env.track(&id);
        for args in [vec!["create", "--bundle", b, &id], vec!["start", &id]] {
            let (out, kib) = berth_measured(&env, &args);
            out.ok();
            memory.record(args[0], kib);
            if args[0] == "create" {
                env.pid_of(&id);
            }
        }
        env.wait_status(&id, "stopped");
        let (out, kib) = berth_measured(&env, &["delete", &id]);
        out.ok();
        memory.record("delete", kib);
    }
    for i in 0..runs {
        let id = format!("soak-run-{i}");
        env.track(&id);
        let (out, kib) = berth_measured(&env, &["run", "--bundle", b, &id]);
        out.ok();
        memory.record("run", kib);
    }
    let after = snapshot(&env, &cgroup);
    Some((before, after, memory))
}

/// Asserts no growth in what only this test creates (exact counts) and prints the rest.
fn check_and_report(before: Snapshot, after: Snapshot, memory: &Memory, label: &str) {
    eprintln!("{label}: before {before:?}");
    eprintln!("{label}: after  {after:?}");
    eprintln!(
        "{label}: host open files {:+}, host mounts {:+} (host-wide, shared with other work)",
        after.host_files as i64 - before.host_files as i64,
        after.host_mounts as i64 - before.host_mounts as i64
    );
    for command in ["create", "start", "delete", "run"] {
        let (first, last) = memory.first_and_last(command);
        eprintln!("{label}: berth {command} peak RSS, first {WINDOW}: {first} KiB, last {WINDOW}: {last} KiB");
    }
    assert_eq!(after.own_mounts, before.own_mounts, "mounts grew");
    assert_eq!(after.own_cgroups, before.own_cgroups, "cgroup directories grew");
    assert_eq!(after.state_entries, before.state_entries, "state entries grew");
}

#[test]
fn short_soak_grows_nothing() {
    if let Some((before, after, memory)) = soak(50, 10) {
        check_and_report(before, after, &memory, "soak 50+10");
    }
}

/// `make soak`: 1,000 cycles and 300 runs.
#[test]
#[ignore = "long; run with make soak"]
fn long_soak() {
    if let Some((before, after, memory)) = soak(1000, 300) {
        check_and_report(before, after, &memory, "soak 1000+300");
    }
}

/// The descriptors above stdio of `pid`: number and target.
fn descriptors(pid: u32) -> Vec<(i32, String)> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse::<i32>().ok().filter(|fd| *fd > 2)?;
            Some((fd, fs::read_link(e.path()).ok()?.to_string_lossy().into_owned()))
        })
        .collect()
}

/// The one long-lived runtime process, a foreground `run`, holds nothing of the setup while
/// it waits: no exec.fifo, sync socket, namespace, directory or state file — only stdio and
/// what the wait itself uses.
#[test]
fn foreground_run_keeps_no_setup_descriptors() {
    if reference_runc() {
        return; // runc's Go runtime holds its own descriptors (epoll, pipes).
    }
    let env = TestEnv::new("runfds");
    let probe = env.probe_dir();
    let cfg = Config::sh("touch /probe/up; exec sleep 1000").probe(&probe);
    let bundle = env.bundle(&cfg);
    let id = env.id("c");
    let run = env.spawn(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    let up =
        crate::harness::wait_for(crate::harness::COMMAND_TIMEOUT, || probe.join("up").exists());
    assert!(up, "the container never ran: {}", run.stdout_so_far());
    env.pid_of(&id);
    let runtime = run.pid();
    // Whatever this test process passes to every child (e.g. a jobserver pipe) is not berth's.
    let mut plain = Command::new("sleep").arg("1000").spawn().unwrap();
    let inherited = descriptors(plain.id());
    plain.kill().unwrap();
    plain.wait().unwrap();
    let fds: Vec<String> = descriptors(runtime)
        .into_iter()
        .filter(|fd| !inherited.contains(fd))
        .map(|(_, target)| target)
        .collect();
    let expected = |target: &String| target.starts_with("anon_inode:[signalfd]");
    assert!(fds.iter().all(expected), "run {runtime} holds more than its signalfd: {fds:?}");
    assert_eq!(fds.len(), 1, "run {runtime}: {fds:?}");
    env.kill(&id, Some("KILL"));
    assert_eq!(run.wait().code(), 137);
}
