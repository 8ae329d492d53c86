//! Checkpoint and restore through CRIU's command line (`criu dump`, `criu pre-dump`,
//! `criu restore`).
//!
//! Why the CLI and not `criu swrk` (protobuf RPC over a socketpair, what runc uses): the RPC
//! needs a protobuf crate and hand-written copies of criu's message definitions (rpc.proto
//! has over 60 fields in `criu_opts` alone) in a binary that has no other use for either,
//! while every option berth passes has a stable command-line flag since criu 3.x. What the
//! RPC adds — notifications during restore — the CLI gives through `--action-script`, which
//! runs `berth criu-hook` at `setup-namespaces` for the prestart and createRuntime hooks.
//!
//! [`locate`] finds criu (the global `--criu` flag, else `PATH`), [`Criu::check`] runs
//! `criu check` once per criu binary and kernel (the verdict cached in the state root), and
//! [`args`] builds the argument lists from [`options`].

pub mod args;
mod check;
mod check_cache;
pub mod options;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use check::{cached_check, CheckOutcome, Checked, Reuse};
pub use check_cache::CACHE_FILE as CHECK_CACHE_FILE;

/// The file, in the image directory, where `checkpoint` records the init's stdio targets
/// (`/proc/PID/fd/0..2`), read back by `restore` to reconnect pipes (runc's name).
pub const DESCRIPTORS_FILE: &str = "descriptors.json";
/// The file, in the image directory, where `checkpoint` lists the masked paths it passed to
/// criu as external /dev/null mounts, for `restore` to pass the same.
pub const MASKED_FILES: &str = "berth-masked-files.json";
/// criu's log of a dump, in the work directory.
pub const DUMP_LOG: &str = "dump.log";
/// criu's log of a pre-dump, in the work directory.
pub const PRE_DUMP_LOG: &str = "pre-dump.log";
/// criu's log of a restore, in the work directory.
pub const RESTORE_LOG: &str = "restore.log";

/// A checkpoint or restore failure.
#[derive(Debug, thiserror::Error)]
pub enum CriuError {
    /// No criu binary where berth looked.
    #[error("checkpoint/restore needs criu: {0}")]
    Missing(String),
    /// `criu check` says this kernel lacks what criu needs.
    #[error("criu check failed on this kernel ({criu}): {first_error}")]
    CheckFailed {
        /// The criu binary.
        criu: PathBuf,
        /// criu's first error line.
        first_error: String,
    },
    /// criu could not be run at all.
    #[error("running {criu}")]
    Spawn {
        /// The criu binary.
        criu: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// criu ran and failed.
    #[error("criu {action} failed ({status}): {first_error} (log: {log})")]
    Failed {
        /// dump, pre-dump or restore.
        action: &'static str,
        /// How criu ended.
        status: String,
        /// The first error line of criu's log, or of its stderr.
        first_error: String,
        /// criu's log file.
        log: PathBuf,
    },
    /// A flag that berth accepts for runc's callers but cannot honour.
    #[error("{0}")]
    Refused(String),
    /// A file or directory of the checkpoint could not be read or written.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A criu binary found on this host.
#[derive(Debug, Clone)]
pub struct Criu {
    /// Its path.
    pub path: PathBuf,
}

/// Finds criu: `explicit` (the global `--criu` flag) when given, else `criu` on `PATH`. Only
/// looks at the file system, so it is cheap when criu is absent.
pub fn locate(explicit: Option<&Path>) -> Result<Criu, CriuError> {
    if let Some(path) = explicit {
        if path.components().count() > 1 {
            return if is_executable(path) {
                Ok(Criu { path: path.to_path_buf() })
            } else {
                Err(CriuError::Missing(format!("{} is not an executable file", path.display())))
            };
        }
    }
    let name = explicit.unwrap_or(Path::new("criu"));
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
        .map(|path| Criu { path })
        .ok_or_else(|| {
            CriuError::Missing(format!("{} not found in PATH (install criu)", name.display()))
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Criu {
    /// `criu check`, its passing verdict cached in the state root `root`: an error with
    /// criu's first error line when this kernel does not suit it; else whether the cache
    /// answered (for the trace).
    pub fn check(&self, root: &Path) -> Result<bool, CriuError> {
        let Checked { outcome, cached } = cached_check(&self.path, root, Reuse::Passed);
        match outcome {
            CheckOutcome::Passed { .. } => Ok(cached),
            CheckOutcome::Failed { first_error } => {
                Err(CriuError::CheckFailed { criu: self.path.clone(), first_error })
            }
        }
    }

    /// A command running this criu with `args`, its output to the log only.
    pub fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        cmd
    }

    /// Runs criu with `args` for `action` and waits; on failure the error names its log.
    pub fn run(&self, mut cmd: Command, action: &'static str, log: &Path) -> Result<(), CriuError> {
        let output =
            cmd.output().map_err(|source| CriuError::Spawn { criu: self.path.clone(), source })?;
        if output.status.success() {
            return Ok(());
        }
        Err(self.failure(action, &output.status, &output.stderr, log))
    }

    /// The error for a criu run that ended with `status`.
    pub fn failure(
        &self,
        action: &'static str,
        status: &std::process::ExitStatus,
        stderr: &[u8],
        log: &Path,
    ) -> CriuError {
        let logged = std::fs::read(log).unwrap_or_default();
        let first_error = first_error_line(&logged)
            .or_else(|| first_error_line(stderr))
            .unwrap_or_else(|| "no error line in its log".into());
        CriuError::Failed {
            action,
            status: status.to_string(),
            first_error,
            log: log.to_path_buf(),
        }
    }
}

/// The first line of criu output that reports an error (`Error (file:line): …`), without
/// criu's timestamp prefix; else the first non-empty line. Bounded to 300 characters.
pub fn first_error_line(text: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(text);
    let lines = text.lines().map(strip_timestamp).filter(|l| !l.is_empty());
    let line = lines
        .clone()
        .find(|l| l.starts_with("Error") || l.contains("Error ("))
        .or_else(|| lines.clone().find(|l| l.contains("error") || l.contains("fail")))
        .or_else(|| lines.clone().next())?;
    Some(line.chars().take(300).collect())
}

/// `(00.012345) Error …` → `Error …`.
fn strip_timestamp(line: &str) -> &str {
    let line = line.trim();
    match line.strip_prefix('(').and_then(|rest| rest.split_once(')')) {
        Some((stamp, rest))
            if stamp.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ' ') =>
        {
            rest.trim()
        }
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_error_line_skips_timestamps_and_info() {
        let log = b"(00.000100) Version: 3.17.1\n(00.000200) Error (criu/cr-dump.c:12): Dumping FAILED.\n(00.1) Error (x): second\n";
        assert_eq!(
            first_error_line(log).as_deref(),
            Some("Error (criu/cr-dump.c:12): Dumping FAILED.")
        );
    }

    #[test]
    fn first_error_line_falls_back_to_first_line() {
        assert_eq!(first_error_line(b"\n  something odd\n").as_deref(), Some("something odd"));
        assert_eq!(first_error_line(b""), None);
    }

    #[test]
    fn locate_reports_a_missing_explicit_path() {
        let err = locate(Some(Path::new("/nonexistent/criu"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/criu is not an executable"), "{err}");
    }
}
