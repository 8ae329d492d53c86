//! `criu check`, cached: it takes criu a few hundred milliseconds to probe the kernel, and
//! `features` is called by every container engine at start. The answer is kept in
//! [`CACHE_FILE`] (on tmpfs, so gone at reboot), keyed by the criu binary (path, inode,
//! size, mtime) and the boot id, so a new criu or a new kernel is checked again.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Where the answer is cached (root only; an unprivileged user checks each time).
const CACHE_FILE: &str = "/run/berth/criu-check";

/// What `criu check` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// It passed; criu's version (`3.17.1`), when it printed one.
    Passed {
        /// `criu --version`'s version.
        version: String,
    },
    /// It failed.
    Failed {
        /// Its first error line.
        first_error: String,
    },
}

/// The outcome of `criu check` for `criu`, from the cache when it is current.
pub fn cached_check(criu: &Path) -> CheckOutcome {
    let key = cache_key(criu);
    if let (Some(key), Ok(text)) = (&key, std::fs::read_to_string(CACHE_FILE)) {
        if let Some(outcome) = parse_cache(&text, key) {
            return outcome;
        }
    }
    let outcome = run_check(criu);
    if let Some(key) = key {
        // Best effort: a missing or read-only /run/berth only costs the next caller a check.
        let _ = std::fs::create_dir_all("/run/berth");
        let tmp = format!("{CACHE_FILE}.{}", std::process::id());
        if std::fs::write(&tmp, format_cache(&key, &outcome)).is_ok() {
            let _ = std::fs::rename(&tmp, CACHE_FILE).map_err(|_| std::fs::remove_file(&tmp));
        }
    }
    outcome
}

/// Identifies the binary and the boot; `None` when criu cannot be stat'ed.
fn cache_key(criu: &Path) -> Option<String> {
    let meta = std::fs::metadata(criu).ok()?;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    Some(format!(
        "{} {} {} {}.{} {}",
        criu.display(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        boot.trim()
    ))
}

fn format_cache(key: &str, outcome: &CheckOutcome) -> String {
    match outcome {
        CheckOutcome::Passed { version } => format!("{key}\npassed\n{version}\n"),
        CheckOutcome::Failed { first_error } => format!("{key}\nfailed\n{first_error}\n"),
    }
}

fn parse_cache(text: &str, key: &str) -> Option<CheckOutcome> {
    let mut lines = text.lines();
    if lines.next()? != key {
        return None;
    }
    let verdict = lines.next()?;
    let detail = lines.next().unwrap_or_default().to_owned();
    match verdict {
        "passed" => Some(CheckOutcome::Passed { version: detail }),
        "failed" => Some(CheckOutcome::Failed { first_error: detail }),
        _ => None,
    }
}

/// Runs `criu check` (and `criu --version` when it passes).
fn run_check(criu: &Path) -> CheckOutcome {
    let output = Command::new(criu).arg("check").stdin(Stdio::null()).output();
    let output = match output {
        Ok(output) => output,
        Err(err) => return CheckOutcome::Failed { first_error: format!("running it: {err}") },
    };
    if !output.status.success() {
        let mut text = output.stderr;
        text.extend_from_slice(&output.stdout);
        let first_error = super::first_error_line(&text)
            .unwrap_or_else(|| format!("it exited with {}", output.status));
        return CheckOutcome::Failed { first_error };
    }
    let version = Command::new(criu)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    CheckOutcome::Passed { version: parse_version(&version) }
}

/// `Version: 3.17.1\n…` → `3.17.1`.
fn parse_version(text: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Version:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trips_and_ignores_other_keys() {
        let passed = CheckOutcome::Passed { version: "3.17.1".into() };
        let text = format_cache("k 1", &passed);
        assert_eq!(parse_cache(&text, "k 1"), Some(passed));
        assert_eq!(parse_cache(&text, "k 2"), None);
        let failed = CheckOutcome::Failed { first_error: "Error (x): y".into() };
        assert_eq!(parse_cache(&format_cache("k", &failed), "k"), Some(failed));
    }

    #[test]
    fn version_is_read_from_criu_output() {
        assert_eq!(parse_version("Version: 3.17.1\nGitID: v3.17.1\n"), "3.17.1");
        assert_eq!(parse_version("garbage"), "");
    }
}
