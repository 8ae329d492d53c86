//! The setuid helpers `newuidmap` and `newgidmap` (shadow's uidmap package): they write the
//! id map of a process's user namespace for an unprivileged caller, allowing the caller's
//! own id and the subordinate ranges /etc/subuid and /etc/subgid give it. See newuidmap(1).

use std::io;
use std::process::{Command, Stdio};

/// The most bytes of a helper's stderr kept in an error.
const MAX_STDERR: usize = 300;

/// A helper that could not map the ids.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// The helper is not installed (or not on PATH).
    #[error("{helper} not found on PATH (install the uidmap package)")]
    Missing {
        /// `newuidmap` or `newgidmap`.
        helper: &'static str,
        /// The exec failure.
        #[source]
        source: io::Error,
    },
    /// The helper could not be run.
    #[error("running {helper}")]
    Spawn {
        /// `newuidmap` or `newgidmap`.
        helper: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The helper refused, typically a range the caller is not given in /etc/subuid or
    /// /etc/subgid.
    #[error("{cmdline} failed ({status}): {stderr}")]
    Refused {
        /// The command line run.
        cmdline: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// What it said, on one line.
        stderr: String,
    },
}

/// Runs `helper pid <container host size>...` for the `(container, host, size)` triples
/// and waits for it.
pub fn map_ids(
    helper: &'static str,
    pid: i32,
    maps: &[(u32, u32, u32)],
) -> Result<(), HelperError> {
    let mut args = vec![pid.to_string()];
    for (container, host, size) in maps {
        args.extend([container.to_string(), host.to_string(), size.to_string()]);
    }
    let cmdline = format!("{helper} {}", args.join(" "));
    let output = Command::new(helper)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => HelperError::Missing { helper, source },
            _ => HelperError::Spawn { helper, source },
        })?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr);
    let mut stderr: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if stderr.len() > MAX_STDERR {
        let cut = (0..=MAX_STDERR).rev().find(|i| stderr.is_char_boundary(*i)).unwrap_or(0);
        stderr.truncate(cut);
        stderr.push('…');
    }
    Err(HelperError::Refused { cmdline, status: output.status, stderr })
}
