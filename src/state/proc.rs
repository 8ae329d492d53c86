//! Whether the process a state.json names is still the same process: /proc/<pid>/stat.

use std::fs;
use std::path::Path;

use super::{State, Status};

/// The fields of /proc/<pid>/stat berth uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: `R`, `S`, `D`, `Z`, `X`, ….
    pub state: char,
    /// Field 4: the parent's pid.
    pub ppid: i32,
    /// Field 22: start time in clock ticks since boot.
    pub start_time: u64,
}

/// Whether the process `state` names is still that process (same start time) and has not
/// exited: a zombie has, and `X` is the instant of its reaping. One read of its stat file.
pub fn alive(state: &State) -> bool {
    process_stat(state.pid)
        .is_some_and(|s| s.start_time == state.pid_start_time && !matches!(s.state, 'Z' | 'X'))
}

/// The status of the container described by `state` ([`Status::derive`]): `Stopped` when
/// its pid is gone or is now another process, else `Paused` when `frozen` says so,
/// `Created` while `exec.fifo` still exists, else `Running`.
pub fn status(state: &State, fifo: &Path, frozen: impl FnOnce() -> bool) -> Status {
    Status::derive(alive(state), || fs::symlink_metadata(fifo).is_ok(), frozen)
}

/// Start time (field 22 of /proc/<pid>/stat, in clock ticks since boot) of `pid`, if it lives.
pub fn process_start_time(pid: i32) -> Option<u64> {
    process_stat(pid).map(|s| s.start_time)
}

/// State and start time of `pid` from /proc/<pid>/stat, if the process exists.
pub fn process_stat(pid: i32) -> Option<ProcStat> {
    // A corrupt or zeroed state.json must not make berth look at /proc/0 or /proc/-1.
    if pid <= 0 {
        return None;
    }
    parse_stat(&read_stat_file(pid)?)
}

/// Whether a process has executed a program since it was forked, and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecStat {
    /// Field 3.
    pub state: char,
    /// Field 22.
    pub start_time: u64,
    /// PF_FORKNOEXEC of field 9 (the task's flags) is clear: it called execve since.
    pub executed: bool,
    /// Field 52: its wait status, once it exited (a zombie).
    pub exit_code: i32,
}

/// The text of /proc/<pid>/stat (one line, a few hundred bytes; `state` and `list` read it
/// for every container).
fn read_stat_file(pid: i32) -> Option<String> {
    crate::sys::file::read_small(Path::new(&format!("/proc/{pid}/stat")), 1024)
}

/// [`ExecStat`] of `pid`, if the process (or its zombie) exists.
pub fn exec_stat(pid: i32) -> Option<ExecStat> {
    if pid <= 0 {
        return None;
    }
    parse_exec_stat(&read_stat_file(pid)?)
}

fn parse_exec_stat(text: &str) -> Option<ExecStat> {
    const PF_FORKNOEXEC: u64 = 0x40;
    let stat = parse_stat(text)?;
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    // fields[0] is field 3.
    let flags: u64 = fields.get(9 - 3)?.parse().ok()?;
    let exit_code = fields.get(52 - 3).and_then(|f| f.parse().ok()).unwrap_or(0);
    Some(ExecStat {
        state: stat.state,
        start_time: stat.start_time,
        executed: flags & PF_FORKNOEXEC == 0,
        exit_code,
    })
}

/// Parses the text of /proc/<pid>/stat (see proc_pid_stat(5)).
fn parse_stat(text: &str) -> Option<ProcStat> {
    // Field 2 is the command name in parentheses and may itself contain spaces and `)`;
    // nothing after it can contain `)`, so the last one closes it.
    let after_comm = &text[text.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    // Fields 5..=21 lie between the parent (4) and the start time (22).
    let start_time = fields.nth(22 - 5)?.parse().ok()?;
    Some(ProcStat { state, ppid, start_time })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tempdir::TempDir;

    fn stat_line(comm: &str, state: char, start: u64) -> String {
        let mut fields = vec![state.to_string()];
        // Fields 4..=21, then 22 (start time), then a few trailing ones.
        fields.extend((4..=21).map(|n| n.to_string()));
        fields.push(start.to_string());
        fields.extend(["23", "24", "25"].map(str::to_owned));
        format!("1234 ({comm}) {}\n", fields.join(" "))
    }

    #[test]
    fn parses_plain_stat() {
        let stat = parse_stat(&stat_line("sh", 'S', 987654)).unwrap();
        assert_eq!(stat, ProcStat { state: 'S', ppid: 4, start_time: 987654 });
    }

    #[test]
    fn parses_comm_with_parens_and_spaces() {
        let stat = parse_stat(&stat_line("a) (b Z 1 2", 'R', 42)).unwrap();
        assert_eq!(stat, ProcStat { state: 'R', ppid: 4, start_time: 42 });
    }

    #[test]
    fn exec_stat_tells_forked_from_executed() {
        // This test process was executed; a fork of it that waits has not.
        let me = exec_stat(std::process::id() as i32).unwrap();
        assert!(me.executed);
        // SAFETY: the child only sleeps and exits.
        match unsafe { libc::fork() } {
            0 => unsafe {
                libc::pause();
                libc::_exit(0)
            },
            pid => {
                let child = exec_stat(pid).unwrap();
                unsafe { libc::kill(pid, libc::SIGKILL) };
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                assert!(!child.executed, "{child:?}");
            }
        }
    }

    #[test]
    fn refuses_truncated_stat() {
        assert_eq!(parse_stat("1 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("no parens here"), None);
    }

    #[test]
    fn reads_own_stat() {
        let me = std::process::id() as i32;
        let stat = process_stat(me).unwrap();
        assert!(stat.start_time > 0);
        assert_eq!(process_start_time(me), Some(stat.start_time));
        assert_eq!(process_stat(0), None);
        assert_eq!(process_stat(-1), None);
    }

    fn state_for(pid: i32, start: u64) -> State {
        State {
            oci_version: crate::OCI_VERSION.into(),
            id: "c".into(),
            pid,
            pid_start_time: start,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00Z".into(),
            owner: String::new(),
            annotations: Default::default(),
            cgroup_paths: Default::default(),
            cgroup_created: Default::default(),
            poststart: vec![],
            poststop: vec![],
            intel_rdt_path: None,
            systemd_unit: None,
        }
    }

    #[test]
    fn own_process_is_created_or_running_by_fifo() {
        let dir = TempDir::new("status");
        let fifo = dir.path().join("exec.fifo");
        let me = std::process::id() as i32;
        let state = state_for(me, process_start_time(me).unwrap());
        assert_eq!(status(&state, &fifo, || false), Status::Running);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(status(&state, &fifo, || false), Status::Created);
    }

    #[test]
    fn other_start_time_is_stopped() {
        let me = std::process::id() as i32;
        let state = state_for(me, process_start_time(me).unwrap() + 1);
        assert_eq!(status(&state, Path::new("/nonexistent"), || false), Status::Stopped);
    }

    #[test]
    fn dead_pid_is_stopped() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert_eq!(
            status(&state_for(pid, 0), Path::new("/nonexistent"), || false),
            Status::Stopped
        );
    }

    #[test]
    fn zombie_is_stopped() {
        use nix::sys::wait::waitpid;
        use nix::unistd::{fork, ForkResult};
        // SAFETY: the child only calls _exit, which is async-signal-safe.
        let child = match unsafe { fork() }.unwrap() {
            ForkResult::Child => unsafe { libc::_exit(0) },
            ForkResult::Parent { child } => child,
        };
        let pid = child.as_raw();
        let mut stat = process_stat(pid).unwrap();
        for _ in 0..1000 {
            if stat.state == 'Z' {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            stat = process_stat(pid).unwrap();
        }
        assert_eq!(stat.state, 'Z');
        let state = state_for(pid, stat.start_time);
        assert_eq!(status(&state, Path::new("/nonexistent"), || false), Status::Stopped);
        waitpid(child, None).unwrap();
    }
}
