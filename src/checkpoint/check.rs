//! `criu check`: whether this kernel suits criu. It takes criu a noticeable time to probe
//! the kernel, and `features` is called by every container engine at start, so the verdict
//! is cached in the state root ([`super::check_cache`]).

use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::check_cache;

/// What `criu check` said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
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

/// Which cached verdicts a caller takes as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Any verdict (`features`: a stale failure only hides checkpoint support until criu,
    /// the kernel or the boot changes, or a checkpoint checks again).
    Any,
    /// Only a pass: after a cached failure `checkpoint` and `restore` check again, so a host
    /// fixed since (a module loaded) works at once, and a failure reports criu's current words.
    Passed,
}

/// A verdict and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// What `criu check` said.
    pub outcome: CheckOutcome,
    /// Whether the cache answered (criu was not run).
    pub cached: bool,
}

/// The outcome of `criu check` for `criu`, from the cache in the state root `root` when it is
/// current and `reuse` takes it; else criu is run and the cache rewritten (best effort: a
/// state root that cannot be written only costs the next caller a check).
pub fn cached_check(criu: &Path, root: &Path, reuse: Reuse) -> Checked {
    let key = check_cache::key(criu);
    let hit = key.as_ref().and_then(|key| check_cache::read(root, key));
    let usable = |o: &CheckOutcome| reuse == Reuse::Any || matches!(o, CheckOutcome::Passed { .. });
    if let Some(outcome) = hit.filter(usable) {
        return Checked { outcome, cached: true };
    }
    let outcome = run_check(criu);
    if let Some(key) = key {
        let _ = check_cache::write(root, &key, &outcome);
    }
    Checked { outcome, cached: false }
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

    use crate::state::tempdir::TempDir;

    /// A stand-in for criu that appends a line to `runs` each time it is run and whose
    /// `check` exits with `check_status`.
    fn fake_criu(dir: &Path, check_status: u8) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let runs = dir.join("runs");
        let script = format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\n[ \"$1\" = --version ] && echo 'Version: 3.17.1'\n[ \"$1\" = check ] && echo 'Error (cr-check.c:1): no tun' >&2\nexit {check_status}\n",
            runs.display()
        );
        // Written under another name and renamed: no descriptor open for writing on the
        // path that is executed (ETXTBSY from a test forking meanwhile).
        let tmp = dir.join("criu.tmp");
        std::fs::write(&tmp, script).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join("criu");
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    fn checks_run(dir: &Path) -> usize {
        let runs = std::fs::read_to_string(dir.join("runs")).unwrap_or_default();
        runs.lines().filter(|l| *l == "check").count()
    }

    #[test]
    fn only_the_first_check_runs_criu() {
        let dir = TempDir::new("criu-check-once");
        let root = dir.path().join("root");
        let criu = fake_criu(dir.path(), 0);
        let passed = CheckOutcome::Passed { version: "3.17.1".into() };
        let first = cached_check(&criu, &root, Reuse::Passed);
        assert_eq!(first, Checked { outcome: passed.clone(), cached: false });
        let second = cached_check(&criu, &root, Reuse::Passed);
        assert_eq!(second, Checked { outcome: passed, cached: true });
        assert_eq!(checks_run(dir.path()), 1);
    }

    #[test]
    fn a_malformed_cache_runs_criu_again_and_is_rewritten() {
        let dir = TempDir::new("criu-check-malformed");
        let criu = fake_criu(dir.path(), 0);
        std::fs::write(dir.path().join(check_cache::CACHE_FILE), "{\"key\":").unwrap();
        assert!(!cached_check(&criu, dir.path(), Reuse::Any).cached);
        assert!(cached_check(&criu, dir.path(), Reuse::Any).cached);
        assert_eq!(checks_run(dir.path()), 1);
    }

    #[test]
    fn a_cached_failure_serves_features_but_not_a_checkpoint() {
        let dir = TempDir::new("criu-check-failed");
        let root = dir.path().join("root");
        let criu = fake_criu(dir.path(), 1);
        let failed = CheckOutcome::Failed { first_error: "Error (cr-check.c:1): no tun".into() };
        assert_eq!(cached_check(&criu, &root, Reuse::Any).outcome, failed);
        assert!(cached_check(&criu, &root, Reuse::Any).cached);
        let again = cached_check(&criu, &root, Reuse::Passed);
        assert_eq!(again, Checked { outcome: failed, cached: false });
        assert_eq!(checks_run(dir.path()), 2);
    }

    #[test]
    fn version_is_read_from_criu_output() {
        assert_eq!(parse_version("Version: 3.17.1\nGitID: v3.17.1\n"), "3.17.1");
        assert_eq!(parse_version("garbage"), "");
    }
}
