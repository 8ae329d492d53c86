//! Hooks: run a config hook with the container's state JSON on stdin, its own args and
//! env, and its timeout; report failures with the hook's path and the end of its stderr.
//!
//! One poll loop feeds stdin, drains stderr and waits for the exit (no threads: berth is
//! single-threaded), so a hook that writes more than a pipe holds, or reads nothing, never
//! blocks the runtime. Only a bounded tail of stderr is kept.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

use crate::spec::Hook;

/// How much of the end of a hook's stderr is kept for the error message.
const STDERR_TAIL: usize = 4096;

/// The longest stderr line an error quotes.
const STDERR_LINE: usize = 200;

/// What one write to the hook's stdin hands over: PIPE_BUF, which a pipe that polls
/// writable takes without blocking.
const STDIN_CHUNK: usize = 4096;

/// How many reads of stderr follow the hook's exit: what it wrote before exiting is in the
/// pipe already, and a background child of the hook that keeps writing is not waited for.
const DRAIN_AFTER_EXIT: usize = 32;

/// A hook that could not run, failed, or ran out of time.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The program could not be started.
    #[error("{kind} hook {path}: starting it")]
    Spawn {
        /// Lifecycle point.
        kind: &'static str,
        /// The hook's path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It exited unsuccessfully.
    #[error("{kind} hook {path}: {}{stderr}", describe(.status))]
    Failed {
        /// Lifecycle point.
        kind: &'static str,
        /// The hook's path.
        path: String,
        /// How it ended.
        status: ExitStatus,
        /// `, stderr: …` with the last line it wrote, or empty.
        stderr: String,
    },
    /// It ran longer than its timeout and was killed.
    #[error("{kind} hook {path}: timed out after {seconds} s")]
    TimedOut {
        /// Lifecycle point.
        kind: &'static str,
        /// The hook's path.
        path: String,
        /// The timeout.
        seconds: u32,
    },
    /// Waiting for it failed.
    #[error("{kind} hook {path}: waiting for it")]
    Wait {
        /// Lifecycle point.
        kind: &'static str,
        /// The hook's path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What the forked hook runs last before its execve, e.g. installing the container's
/// seccomp filter. It runs in the child of a fork: it must not take locks.
pub type BeforeExec = Arc<dyn Fn() -> std::io::Result<()> + Send + Sync>;

/// Where and how a hook runs, beyond the hook's own fields.
#[derive(Default, Clone, Copy)]
struct Setting<'a> {
    /// Replaces an empty `env`.
    fallback_env: Option<&'a [String]>,
    /// The working directory.
    cwd: Option<&'a Path>,
    /// Run in the hook's process right before its execve.
    before_exec: Option<&'a BeforeExec>,
}

/// Runs `hooks` in order, stopping at the first failure.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    hooks.iter().try_for_each(|hook| run(kind, hook, state_json))
}

/// Runs `hooks` in order like [`run_all`], but a hook without `env` gets `process_env`, the
/// container process's environment: what runc, crun and youki give a startContainer hook,
/// which runs in the container just before its program. `before_exec`, when given, runs in
/// each hook's process before its execve: there the container's seccomp filter is installed,
/// so the hook runs confined as the program will be (as runc runs it).
pub fn run_all_in_container(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &[u8],
    process_env: &[String],
    before_exec: Option<&BeforeExec>,
) -> Result<(), HookError> {
    let setting = Setting { fallback_env: Some(process_env), before_exec, ..Setting::default() };
    hooks.iter().try_for_each(|hook| run_with(kind, hook, state_json, setting))
}

/// Runs createContainer `hooks` from the init (in the container's namespaces, before
/// pivot_root) as runc 1.1 does: in the rootfs directory `rootfs`, and a hook without `env`
/// gets `process_env`.
pub fn run_create_container(
    hooks: &[Hook],
    state_json: &[u8],
    process_env: &[String],
    rootfs: &Path,
) -> Result<(), HookError> {
    let setting =
        Setting { fallback_env: Some(process_env), cwd: Some(rootfs), ..Setting::default() };
    hooks.iter().try_for_each(|hook| run_with("createContainer", hook, state_json, setting))
}

/// Runs one hook to its end (or its timeout), with only its own `env`.
pub fn run(kind: &'static str, hook: &Hook, state_json: &[u8]) -> Result<(), HookError> {
    run_with(kind, hook, state_json, Setting::default())
}

/// Runs one hook as `setting` says.
fn run_with(
    kind: &'static str,
    hook: &Hook,
    state_json: &[u8],
    setting: Setting<'_>,
) -> Result<(), HookError> {
    let path = hook.path.display().to_string();
    let mut child = spawn(hook, setting).map_err(|source| HookError::Spawn {
        kind,
        path: path.clone(),
        source,
    })?;
    let deadline = hook.timeout.map(|s| Instant::now() + Duration::from_secs(s.into()));
    let mut io = HookIo {
        stdin: child.stdin.take(),
        input: state_json,
        stderr: child.stderr.take(),
        tail: Vec::new(),
    };
    let waited = io.run_until_exit(&mut child, deadline);
    let status = match waited {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::TimedOut { kind, path, seconds: hook.timeout.unwrap_or(0) });
        }
        Err(source) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Wait { kind, path, source });
        }
    };
    if status.success() {
        return Ok(());
    }
    Err(HookError::Failed { kind, path, status, stderr: last_line(&io.tail) })
}

/// Starts the hook with piped stdin and stderr, in the setting's `cwd` when given, and with
/// its `env` (or `fallback_env` when that is empty); with neither, it inherits the runtime's
/// environment, as runc's hooks do. It dies with the process that runs it.
fn spawn(hook: &Hook, setting: Setting<'_>) -> std::io::Result<Child> {
    let mut command = Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        command.arg0(argv0).args(rest);
    }
    if let Some(dir) = setting.cwd {
        command.current_dir(dir);
    }
    let env = match setting.fallback_env {
        Some(fallback) if hook.env.is_empty() => fallback,
        _ => &hook.env,
    };
    if !env.is_empty() {
        command.env_clear();
    }
    for entry in env {
        if let Some((key, value)) = entry.split_once('=') {
            command.env(key, value);
        }
    }
    let parent = nix::unistd::getpid();
    // SAFETY: prctl and getppid are async-signal-safe and touch no memory of the parent.
    unsafe {
        command.pre_exec(move || die_with_parent(parent));
    }
    if let Some(before_exec) = setting.before_exec.cloned() {
        // SAFETY: the caller promises a function fit for the child of a fork; it runs last.
        unsafe {
            command.pre_exec(move || before_exec());
        }
    }
    command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn()
}

/// In the forked hook: ask for SIGKILL when the runtime dies, and give up if it already
/// has (it may die between the fork and the prctl). A seccomp profile that refuses prctl
/// (startContainer hooks run under the container's filter) leaves the hook as it was.
fn die_with_parent(parent: Pid) -> std::io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    let set = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    if set == 0 && nix::unistd::getppid() != parent {
        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(())
}

/// How a hook ended: `exit status N`, or the signal that killed it with the C library's
/// description (`killed by signal 31 (SIGSYS: bad system call)`), which says what killed it.
fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    let Some(signal) = status.signal() else { return status.to_string() };
    let name = nix::sys::signal::Signal::try_from(signal).map(|s| s.as_str()).unwrap_or("?");
    // SAFETY: strsignal returns a NUL-terminated string (or null); berth is single-threaded,
    // so nothing overwrites it before it is copied.
    let text = unsafe { libc::strsignal(signal) };
    let text = if text.is_null() {
        String::new()
    } else {
        // SAFETY: non-null, NUL-terminated, copied at once.
        unsafe { std::ffi::CStr::from_ptr(text) }.to_string_lossy().to_lowercase()
    };
    let core = if status.core_dumped() { ", core dumped" } else { "" };
    format!("killed by signal {signal} ({name}: {text}{core})")
}

/// The hook's pipes while it runs: the state JSON still to write and the end of stderr.
struct HookIo<'a> {
    stdin: Option<ChildStdin>,
    input: &'a [u8],
    stderr: Option<ChildStderr>,
    tail: Vec<u8>,
}

impl HookIo<'_> {
    /// Feeds stdin and drains stderr until the hook exits; `None` once `deadline` passed.
    fn run_until_exit(
        &mut self,
        child: &mut Child,
        deadline: Option<Instant>,
    ) -> std::io::Result<Option<ExitStatus>> {
        let pidfd = crate::sys::process::pidfd_open(Pid::from_raw(child.id() as i32)).ok();
        loop {
            if let Some(status) = child.try_wait()? {
                self.stdin = None;
                self.drain_after_exit();
                return Ok(Some(status));
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) => left,
                    None => return Ok(None),
                },
                None => Duration::from_secs(60),
            };
            // Without a pidfd the exit is only seen by polling try_wait.
            let cap =
                if pidfd.is_some() { Duration::from_secs(60) } else { Duration::from_millis(5) };
            if self.poll_once(pidfd.as_ref(), left.min(cap)).is_err() {
                return self.finish_blocking(child).map(Some);
            }
        }
    }

    /// Where poll is refused (a seccomp profile, under which startContainer hooks run):
    /// the state whole, then stderr to its end, then the exit. Still no deadlock on a full
    /// stderr pipe, but no timeout, and a child holding stderr is waited for.
    fn finish_blocking(&mut self, child: &mut Child) -> std::io::Result<ExitStatus> {
        if let Some(mut stdin) = self.stdin.take() {
            // A hook need not read its stdin.
            let _ = stdin.write_all(self.input);
        }
        while self.read_stderr() {}
        child.wait()
    }

    /// One poll over the pidfd and the open pipes, then one write and one read as ready.
    fn poll_once(&mut self, pidfd: Option<&OwnedFd>, timeout: Duration) -> nix::Result<()> {
        let mut fds: Vec<PollFd> = Vec::with_capacity(3);
        if let Some(pidfd) = pidfd {
            slot(&mut fds, pidfd.as_fd(), PollFlags::POLLIN);
        }
        let stdin_at = self.stdin.as_ref().map(|s| slot(&mut fds, s.as_fd(), PollFlags::POLLOUT));
        let stderr_at = self.stderr.as_ref().map(|s| slot(&mut fds, s.as_fd(), PollFlags::POLLIN));
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
        let ready =
            |at: Option<usize>| at.and_then(|i| fds[i].revents()).is_some_and(|r| !r.is_empty());
        let (write_ready, read_ready) = (ready(stdin_at), ready(stderr_at));
        drop(fds);
        if write_ready {
            self.write_input();
        }
        if read_ready {
            self.read_stderr();
        }
        Ok(())
    }

    /// Writes the next chunk of the state JSON; closes stdin when all of it is written or
    /// the hook closed its end (a hook need not read its stdin).
    fn write_input(&mut self) {
        let Some(stdin) = self.stdin.as_mut() else { return };
        let chunk = &self.input[..self.input.len().min(STDIN_CHUNK)];
        match stdin.write(chunk) {
            Ok(n) if n > 0 => self.input = &self.input[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => self.input = &[],
        }
        if self.input.is_empty() {
            self.stdin = None;
        }
    }

    /// Reads what stderr holds into the tail; returns false at end of file.
    fn read_stderr(&mut self) -> bool {
        let Some(stderr) = self.stderr.as_mut() else { return false };
        let mut buf = [0u8; 8192];
        match stderr.read(&mut buf) {
            Ok(0) => {
                self.stderr = None;
                false
            }
            Ok(n) => {
                self.tail.extend_from_slice(&buf[..n]);
                let excess = self.tail.len().saturating_sub(STDERR_TAIL);
                self.tail.drain(..excess);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => true,
            Err(_) => {
                self.stderr = None;
                false
            }
        }
    }

    /// Reads what the exited hook left in its stderr pipe, never waiting for a writer that
    /// outlives it.
    fn drain_after_exit(&mut self) {
        for _ in 0..DRAIN_AFTER_EXIT {
            let Some(stderr) = self.stderr.as_ref() else { return };
            let mut fds = [PollFd::new(stderr.as_fd(), PollFlags::POLLIN)];
            let ready = matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0);
            if !ready || !self.read_stderr() {
                break;
            }
        }
        self.stderr = None;
    }
}

/// Adds `fd` to the poll set; its index there.
fn slot<'a>(fds: &mut Vec<PollFd<'a>>, fd: BorrowedFd<'a>, flags: PollFlags) -> usize {
    fds.push(PollFd::new(fd, flags));
    fds.len() - 1
}

/// `, stderr: <last non-empty line>` (at most [`STDERR_LINE`] characters), or empty.
fn last_line(tail: &[u8]) -> String {
    let text = String::from_utf8_lossy(tail);
    let Some(last) = text.lines().rev().map(str::trim).find(|l| !l.is_empty()) else {
        return String::new();
    };
    format!(", stderr: {}", crate::error::bounded(last, STDERR_LINE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Option<u32>) -> Hook {
        Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["MARK=m".into()],
            timeout,
        }
    }

    #[test]
    fn state_arrives_on_stdin_and_env_is_the_hooks_own() {
        let out = std::env::temp_dir().join(format!("berth-hook-{}", std::process::id()));
        let script = format!("cat > {0}; echo \" $MARK $HOME\" >> {0}", out.display());
        run("poststart", &sh(&script, None), b"{\"id\":\"x\"}").unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        assert_eq!(got, "{\"id\":\"x\"} m \n");
    }

    #[test]
    fn a_container_hook_without_env_gets_the_process_env() {
        let out = std::env::temp_dir().join(format!("berth-hook-env-{}", std::process::id()));
        let mut hook = sh(&format!("echo \"$MARK $FROM\" > {}", out.display()), None);
        let process_env = ["FROM=process".to_string()];
        run_all_in_container("startContainer", &[hook.clone()], b"{}", &process_env, None).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "m \n", "its own env wins");
        hook.env.clear();
        run_all_in_container("startContainer", &[hook], b"{}", &process_env, None).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), " process\n");
        std::fs::remove_file(&out).unwrap();
    }

    #[test]
    fn failure_names_the_hook_and_its_stderr() {
        let err = run("createRuntime", &sh("echo oops >&2; exit 3", None), b"{}").unwrap_err();
        assert_eq!(err.to_string(), "createRuntime hook /bin/sh: exit status: 3, stderr: oops");
    }

    #[test]
    fn timeout_kills_the_hook() {
        let start = Instant::now();
        let err = run("prestart", &sh("sleep 30", Some(1)), b"{}").unwrap_err();
        assert!(matches!(err, HookError::TimedOut { seconds: 1, .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_hook_flooding_stderr_fails_with_its_last_line() {
        let script = "head -c 300000 /dev/zero | tr '\\0' x >&2; echo >&2; echo end >&2; exit 2";
        let err = run("createRuntime", &sh(script, Some(20)), b"{}").unwrap_err();
        assert_eq!(err.to_string(), "createRuntime hook /bin/sh: exit status: 2, stderr: end");
        let long = "head -c 300000 /dev/zero | tr '\\0' x >&2; exit 2";
        let err = run("createRuntime", &sh(long, Some(20)), b"{}").unwrap_err().to_string();
        assert!(err.len() < 400 && err.contains("characters left out"), "{err}");
    }

    #[test]
    fn a_large_state_reaches_the_hook_whole() {
        let out = std::env::temp_dir().join(format!("berth-hook-big-{}", std::process::id()));
        let state = vec![b'x'; 300_000];
        run("poststart", &sh(&format!("wc -c > {}", out.display()), Some(20)), &state).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        assert_eq!(got.trim(), "300000");
        // A hook that reads none of it still succeeds.
        run("poststart", &sh("exit 0", Some(20)), &state).unwrap();
    }

    #[test]
    fn a_child_of_the_hook_holding_stderr_is_not_waited_for() {
        let pidfile = std::env::temp_dir().join(format!("berth-hook-bg-{}", std::process::id()));
        let script =
            format!("sleep 60 >&2 & echo $! > {}; echo bye >&2; exit 5", pidfile.display());
        let err = run("prestart", &sh(&script, Some(20)), b"{}").unwrap_err();
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        std::fs::remove_file(&pidfile).unwrap();
        // SAFETY: kill(2) of the sleep this test's hook started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert!(matches!(err, HookError::Failed { .. }), "{err}");
        assert!(err.to_string().ends_with("stderr: bye"), "{err}");
    }

    #[test]
    fn a_missing_program_fails_to_start() {
        let hook = Hook { path: "/no/such/hook".into(), args: vec![], env: vec![], timeout: None };
        assert!(matches!(run("poststop", &hook, b"{}"), Err(HookError::Spawn { .. })));
    }
}
