//! Hooks: run a config hook with the container's state JSON on stdin, its own args and
//! env, and its timeout; report failures with the hook's path and the end of its stderr.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

use crate::spec::Hook;

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
    #[error("{kind} hook {path}: {status}{stderr}")]
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
}

/// Runs `hooks` in order, stopping at the first failure.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    hooks.iter().try_for_each(|hook| run(kind, hook, state_json))
}

/// Runs `hooks` in order like [`run_all`], but a hook without `env` gets `process_env`, the
/// container process's environment: what runc, crun and youki give a startContainer hook,
/// which runs in the container just before its program.
pub fn run_all_in_container(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &[u8],
    process_env: &[String],
) -> Result<(), HookError> {
    hooks.iter().try_for_each(|hook| run_with_env(kind, hook, state_json, Some(process_env)))
}

/// Runs one hook to its end (or its timeout), with only its own `env`.
pub fn run(kind: &'static str, hook: &Hook, state_json: &[u8]) -> Result<(), HookError> {
    run_with_env(kind, hook, state_json, None)
}

/// Runs one hook; `fallback_env` replaces an empty `env` when given.
fn run_with_env(
    kind: &'static str,
    hook: &Hook,
    state_json: &[u8],
    fallback_env: Option<&[String]>,
) -> Result<(), HookError> {
    let path = hook.path.display().to_string();
    let mut command = Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        command.arg0(argv0).args(rest);
    }
    command.env_clear();
    let env = match fallback_env {
        Some(fallback) if hook.env.is_empty() => fallback,
        _ => &hook.env,
    };
    for entry in env {
        if let Some((key, value)) = entry.split_once('=') {
            command.env(key, value);
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HookError::Spawn { kind, path: path.clone(), source })?;
    // A hook that does not read its stdin must not make us fail: ignore EPIPE.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state_json);
    }
    let deadline = hook.timeout.map(|s| Instant::now() + Duration::from_secs(s.into()));
    let status = match wait_until(&mut child, deadline) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::TimedOut { kind, path, seconds: hook.timeout.unwrap_or(0) });
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    let stderr = if last.is_empty() { String::new() } else { format!(", stderr: {}", last.trim()) };
    Err(HookError::Failed { kind, path, status, stderr })
}

/// The child's exit status, or `None` once `deadline` passed. Waits on a pidfd, so no
/// signal handling or polling loop is needed.
fn wait_until(child: &mut std::process::Child, deadline: Option<Instant>) -> Option<ExitStatus> {
    let pidfd = crate::sys::process::pidfd_open(Pid::from_raw(child.id() as i32)).ok();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let left = match deadline {
            Some(d) => d.checked_duration_since(Instant::now())?,
            None => Duration::from_secs(3600),
        };
        let timeout =
            PollTimeout::try_from(left.min(Duration::from_secs(60))).unwrap_or(PollTimeout::MAX);
        match &pidfd {
            Some(fd) => {
                let _ = poll(&mut [PollFd::new(fd.as_fd(), PollFlags::POLLIN)], timeout);
            }
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
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
        run_all_in_container("startContainer", &[hook.clone()], b"{}", &process_env).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "m \n", "its own env wins");
        hook.env.clear();
        run_all_in_container("startContainer", &[hook], b"{}", &process_env).unwrap();
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
    fn a_missing_program_fails_to_start() {
        let hook = Hook { path: "/no/such/hook".into(), args: vec![], env: vec![], timeout: None };
        assert!(matches!(run("poststop", &hook, b"{}"), Err(HookError::Spawn { .. })));
    }
}
