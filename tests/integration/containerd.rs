//! containerd 1.6 drives the binary under test through its runc v2 shim, as `ctr run
//! --runc-binary` asks it to: every scenario runs a task of the locally made busybox image in
//! a private containerd (containerd_daemon.rs) and asserts what the task printed or the state
//! containerd and the runtime report.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::containerd_daemon::{Containerd, IMAGE};
use crate::harness::{bin, pid_alive, proc_stat, wait_for};

/// The containerd namespace of these tests.
const NS: &str = "berth";

/// `ctr run` flags that route the task to the binary under test, with its state under the
/// daemon's runtime root and its cgroup under the daemon's `berth-test` parent.
fn runtime_flags(ctd: &Containerd, id: &str) -> Vec<String> {
    vec![
        "--runc-binary".into(),
        bin().display().to_string(),
        "--runc-root".into(),
        ctd.runc_root.display().to_string(),
        "--cgroup".into(),
        ctd.cgroup_for(id),
    ]
}

/// `ctr run [flags] <routing flags> IMAGE id command…`.
fn run_args(ctd: &Containerd, flags: &[&str], id: &str, command: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["run".into()];
    args.extend(flags.iter().map(|s| s.to_string()));
    args.extend(runtime_flags(ctd, id));
    args.extend([IMAGE.to_string(), id.to_string()]);
    args.extend(command.iter().map(|s| s.to_string()));
    args
}

/// Borrows owned arguments for `Containerd::ctr`.
fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Starts a detached task running `command`; returns its pid as `ctr task ls` shows it.
fn run_detached(ctd: &Containerd, id: &str, command: &[&str]) -> i32 {
    ctd.ctr(NS, &strs(&run_args(ctd, &["-d"], id, command))).ok();
    ctd.wait_task_status(NS, id, "RUNNING");
    let ls = ctd.ctr(NS, &["task", "ls"]);
    ls.stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&id))
        .and_then(|f| f.get(1)?.parse().ok())
        .unwrap_or_else(|| panic!("no pid for {id} in {ls:#?}"))
}

/// `berth list --format json` of the daemon's runtime root for `NS`, as (id, pid, status).
fn runtime_list(ctd: &Containerd) -> Vec<(String, i64, String)> {
    let out = ctd.runtime(NS, &["list", "--format", "json"]);
    out.ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("list output is not JSON ({e}): {out:#?}"));
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                    (s("id"), c["pid"].as_i64().unwrap_or(-1), s("status"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Deletes the stopped task and the container `id`; returns what `task delete` printed.
fn delete(ctd: &Containerd, id: &str) -> String {
    let out = ctd.ctr(NS, &["task", "delete", id]);
    out.ok();
    ctd.ctr(NS, &["container", "delete", id]).ok();
    format!("{}{}", out.stdout, out.stderr)
}

#[test]
fn ctr_run_rm_shows_the_output_and_leaves_nothing() {
    let ctd = Containerd::start("ctr-run", &[NS]);
    let id = ctd.env().id("run");
    let out =
        ctd.ctr(NS, &strs(&run_args(&ctd, &["--rm"], &id, &["sh", "-c", "echo hello pid $$"])));
    out.ok();
    assert_eq!(out.stdout, "hello pid 1\n", "{out:#?}");
    assert!(ctd.ctr(NS, &["container", "ls", "-q"]).stdout.trim().is_empty());
    assert!(runtime_list(&ctd).is_empty(), "the runtime still lists a container");
}

#[test]
fn ctr_run_returns_the_exit_code() {
    let ctd = Containerd::start("ctr-exit", &[NS]);
    for code in [7, 255] {
        let id = ctd.env().id(&format!("exit{code}"));
        let cmd = format!("echo leaving; exit {code}");
        let out = ctd.ctr(NS, &strs(&run_args(&ctd, &["--rm"], &id, &["sh", "-c", &cmd])));
        assert_eq!(out.code(), code, "{out:#?}");
        assert_eq!(out.stdout, "leaving\n", "{out:#?}");
    }
}

#[test]
fn detached_task_is_the_runtimes_and_takes_exec_ps_and_kill() {
    let ctd = Containerd::start("ctr-task", &[NS]);
    let id = ctd.env().id("task");
    let script = "trap 'exit 42' TERM; while :; do sleep 1; done";
    let pid = run_detached(&ctd, &id, &["sh", "-c", script]);

    // The shim's runtime is the binary under test: its own state lists the task.
    let listed = runtime_list(&ctd);
    assert_eq!(listed, vec![(id.clone(), pid as i64, "running".to_string())]);

    let exec = ctd.ctr(
        NS,
        &[
            "task",
            "exec",
            "--exec-id",
            "e1",
            &id,
            "sh",
            "-c",
            "echo exec pid $$ in $(cat /proc/1/comm); exit 5",
        ],
    );
    assert_eq!(exec.code(), 5, "{exec:#?}");
    assert!(exec.stdout.starts_with("exec pid ") && exec.stdout.ends_with(" in sh\n"), "{exec:#?}");

    let ps = ctd.ctr(NS, &["task", "ps", &id]);
    ps.ok();
    let pids: Vec<&str> =
        ps.stdout.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert!(pids.contains(&pid.to_string().as_str()), "{pid} not in {ps:#?}");

    // The default signal is TERM: the trap's exit status shows it arrived.
    ctd.ctr(NS, &["task", "kill", &id]).ok();
    ctd.wait_task_status(NS, &id, "STOPPED");
    assert_eq!(runtime_list(&ctd)[0].2, "stopped");
    let said = delete(&ctd, &id);
    assert!(said.contains("exit code 42"), "task delete said {said:?}");
    assert!(runtime_list(&ctd).is_empty(), "the runtime still lists the task");
}

#[test]
fn pause_and_resume_freeze_and_thaw_the_task() {
    let ctd = Containerd::start("ctr-pause", &[NS]);
    let id = ctd.env().id("pause");
    let pid = run_detached(&ctd, &id, &["sleep", "1000"]);
    ctd.ctr(NS, &["task", "pause", &id]).ok();
    assert_eq!(ctd.task_status(NS, &id), "PAUSED");
    assert_eq!(runtime_list(&ctd), vec![(id.clone(), pid as i64, "paused".to_string())]);
    ctd.ctr(NS, &["task", "resume", &id]).ok();
    assert_eq!(ctd.task_status(NS, &id), "RUNNING");
    let exec = ctd.ctr(NS, &["task", "exec", "--exec-id", "after", &id, "echo", "thawed"]);
    exec.ok();
    assert_eq!(exec.stdout, "thawed\n");
    ctd.ctr(NS, &["task", "kill", "-s", "KILL", &id]).ok();
    ctd.wait_task_status(NS, &id, "STOPPED");
    let said = delete(&ctd, &id);
    assert!(said.contains("exit code 137"), "task delete said {said:?}");
}

#[test]
fn task_metrics_come_from_the_tasks_cgroup() {
    let ctd = Containerd::start("ctr-metrics", &[NS]);
    let id = ctd.env().id("metrics");
    run_detached(&ctd, &id, &["sleep", "1000"]);
    let out = ctd.ctr(NS, &["task", "metrics", &id]);
    out.ok();
    let value = |name: &str| -> Option<u64> {
        out.stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| f.get(1)?.parse().ok())
    };
    assert_eq!(value("pids.current"), Some(1), "one process (sleep) in {out:#?}");
    let memory = value("memory.usage_in_bytes").or_else(|| value("memory.usage"));
    assert!(memory.is_some_and(|m| m > 0), "no memory usage in {out:#?}");
    ctd.ctr(NS, &["task", "kill", "-s", "KILL", &id]).ok();
    ctd.wait_task_status(NS, &id, "STOPPED");
    delete(&ctd, &id);
}

#[test]
fn tty_task_runs_on_a_terminal() {
    let ctd = Containerd::start("ctr-tty", &[NS]);
    let id = ctd.env().id("tty");
    let script = "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-terminal; exit 3";
    let out = ctd
        .ctr_on_terminal(NS, &strs(&run_args(&ctd, &["--rm", "-t"], &id, &["sh", "-c", script])));
    assert_eq!(out.code(), 3, "{out:#?}");
    assert!(out.stdout.contains("/dev/pts/0"), "{out:#?}");
    assert!(out.stdout.contains("stdio-is-a-terminal"), "{out:#?}");
}

#[test]
fn a_failing_create_reports_the_runtimes_error_and_leaves_nothing() {
    let ctd = Containerd::start("ctr-fail", &[NS]);
    let id = ctd.env().id("fail");
    let out = ctd.ctr(NS, &strs(&run_args(&ctd, &["--rm"], &id, &["/bin/no-such-program"])));
    assert!(!out.status.success(), "{out:#?}");
    // containerd passes on the last error record of the runtime's --log (log.json).
    assert!(out.stderr.contains("OCI runtime create failed"), "{out:#?}");
    assert!(out.stderr.contains("/bin/no-such-program"), "{out:#?}");
    assert!(runtime_list(&ctd).is_empty(), "the runtime still lists the failed container");
}

#[test]
fn exec_on_a_terminal_and_kill_all_reach_every_process() {
    let ctd = Containerd::start("ctr-all", &[NS]);
    let id = ctd.env().id("all");
    run_detached(&ctd, &id, &["sh", "-c", "sleep 1000 & sleep 1000 & wait"]);
    let mut pids: Vec<i32> = Vec::new();
    let listed = wait_for(Duration::from_secs(10), || {
        let ps = ctd.ctr(NS, &["task", "ps", &id]);
        pids = ps
            .stdout
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        pids.len() == 3
    });
    assert!(listed, "task ps should list sh and two sleeps, got {pids:?}");

    // The shim hands the exec a pty through the runtime's --console-socket.
    let exec = ctd.ctr_on_terminal(
        NS,
        &["task", "exec", "-t", "--exec-id", "tty", &id, "sh", "-c", "tty; exit 4"],
    );
    assert_eq!(exec.code(), 4, "{exec:#?}");
    assert!(exec.stdout.contains("/dev/pts/"), "{exec:#?}");

    let starts: Vec<(i32, u64)> =
        pids.iter().filter_map(|p| Some((*p, proc_stat(*p)?.0))).collect();
    ctd.ctr(NS, &["task", "kill", "--all", "-s", "KILL", &id]).ok();
    ctd.wait_task_status(NS, &id, "STOPPED");
    for (pid, start) in starts {
        assert!(
            wait_for(Duration::from_secs(5), || !pid_alive(pid, start)),
            "{pid} survived kill --all"
        );
    }
    let said = delete(&ctd, &id);
    assert!(said.contains("exit code 137"), "task delete said {said:?}");
}

#[test]
fn resource_flags_reach_the_tasks_cgroup() {
    let ctd = Containerd::start("ctr-limits", &[NS]);
    let id = ctd.env().id("limits");
    let flags = ["-d", "--memory-limit", "33554432", "--cpus", "0.5"];
    ctd.ctr(NS, &strs(&run_args(&ctd, &flags, &id, &["sleep", "1000"]))).ok();
    ctd.wait_task_status(NS, &id, "RUNNING");
    let cgroup = ctd.cgroup_for(&id);
    let rel = cgroup.trim_start_matches('/');
    let v1 = Path::new("/sys/fs/cgroup/memory").join(rel);
    let (memory, cpu) = if v1.exists() {
        let cpu_dir = Path::new("/sys/fs/cgroup/cpu").join(rel);
        (
            read(&v1.join("memory.limit_in_bytes")),
            read(&cpu_dir.join("cpu.cfs_quota_us"))
                + " "
                + &read(&cpu_dir.join("cpu.cfs_period_us")),
        )
    } else {
        let dir = Path::new("/sys/fs/cgroup").join(rel);
        (read(&dir.join("memory.max")), read(&dir.join("cpu.max")))
    };
    assert_eq!(memory, "33554432");
    assert_eq!(cpu, "50000 100000");
    ctd.ctr(NS, &["task", "kill", "-s", "KILL", &id]).ok();
    ctd.wait_task_status(NS, &id, "STOPPED");
    delete(&ctd, &id);
}

#[test]
fn privileged_and_default_seccomp_tasks_run() {
    let ctd = Containerd::start("ctr-priv", &[NS]);
    let id = ctd.env().id("priv");
    let probe = "grep -E '^(CapEff|Seccomp):' /proc/self/status; ls /dev | grep -c .";
    let out =
        ctd.ctr(NS, &strs(&run_args(&ctd, &["--rm", "--privileged"], &id, &["sh", "-c", probe])));
    out.ok();
    // --privileged: every capability of the host's bounding set, and the host's devices.
    let host_bounding =
        status_field(&std::fs::read_to_string("/proc/self/status").unwrap(), "CapBnd");
    assert_eq!(status_field(&out.stdout, "CapEff"), host_bounding, "{out:#?}");
    let devices: usize = out.stdout.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    assert!(devices > 20, "a privileged task sees the host's devices: {out:#?}");

    // --seccomp: containerd's default profile, installed as a filter (mode 2).
    let id = ctd.env().id("seccomp");
    let out =
        ctd.ctr(NS, &strs(&run_args(&ctd, &["--rm", "--seccomp"], &id, &["sh", "-c", probe])));
    out.ok();
    assert_eq!(status_field(&out.stdout, "Seccomp"), "2", "{out:#?}");
}

/// The value of `Name:` in /proc/<pid>/status text.
fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .trim()
        .to_string()
}
