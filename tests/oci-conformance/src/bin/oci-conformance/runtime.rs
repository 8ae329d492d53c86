//! The runtime under test, driven through its runc-compatible CLI with a private `--root`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one runtime command may take before it is killed and counted as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// One runtime binary with its own state root and a directory for command output.
pub struct Runtime {
    /// The binary, as given on the command line.
    pub path: PathBuf,
    root: PathBuf,
    out_dir: PathBuf,
}

/// The end of one runtime command.
pub struct Outcome {
    /// Exit status; `None` when the command could not start or timed out.
    pub status: Option<ExitStatus>,
    /// What it wrote to stdout.
    pub stdout: String,
    /// What it wrote to stderr (or why it did not run).
    pub stderr: String,
}

impl Outcome {
    /// True for exit code 0.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// True for a non-zero exit code (not a crash by signal, not a timeout).
    pub fn failed_cleanly(&self) -> bool {
        self.status.is_some_and(|s| s.code().is_some_and(|c| c != 0))
    }

    /// The last line of stderr, for reports.
    pub fn why(&self) -> String {
        let line = self.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        let status = match self.status {
            Some(s) => s.to_string(),
            None => "no exit status".to_string(),
        };
        format!("{status}: {}", line.chars().take(200).collect::<String>())
    }
}

impl Runtime {
    /// The runtime at `path`, keeping its state and outputs under `work`.
    pub fn new(path: &Path, work: &Path) -> Self {
        let root = work.join("state");
        let out_dir = work.join("out");
        fs::create_dir_all(&out_dir).expect("creating the output dir");
        Runtime { path: path.to_path_buf(), root, out_dir }
    }

    /// True for crun, which refuses hybrid cgroup hosts unless the unified controllers are hidden.
    pub fn is_crun(&self) -> bool {
        let out = Command::new(&self.path).arg("--version").output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).starts_with("crun")).unwrap_or(false)
    }

    /// Runs `<runtime> --root <root> args…` with stdio on files (a created container keeps
    /// the runtime's stdout: a pipe would stay open) and stdout also copied to `stdout_to`.
    pub fn run_to(&self, args: &[&str], stdout_to: Option<&Path>) -> Outcome {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let out_path = match stdout_to {
            Some(p) => p.to_path_buf(),
            None => self.out_dir.join(format!("{n}.out")),
        };
        let err_path = self.out_dir.join(format!("{n}.err"));
        let files = fs::File::create(&out_path).and_then(|o| Ok((o, fs::File::create(&err_path)?)));
        let (out, err) = match files {
            Ok(f) => f,
            Err(e) => return not_run(format!("output files: {e}")),
        };
        let spawned = Command::new(&self.path)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => return not_run(format!("spawning {}: {e}", self.path.display())),
        };
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        Outcome {
            status,
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        }
    }

    /// Runs `<runtime> --root <root> args…`.
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.run_to(args, None)
    }

    /// The parsed `state ID`, or `None` when it fails.
    pub fn state(&self, id: &str) -> Option<Value> {
        let out = self.run(&["state", id]);
        out.ok().then(|| serde_json::from_str(&out.stdout).ok()).flatten()
    }

    /// The `status` of `state ID` (`None` when state fails).
    pub fn status(&self, id: &str) -> Option<String> {
        self.state(id)?["status"].as_str().map(str::to_string)
    }

    /// Polls `state ID` until it reports `status` (at most 10 s); returns the last status.
    pub fn wait_status(&self, id: &str, status: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.status(id);
            if got.as_deref() == Some(status) || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Best-effort removal of `id`, whatever state it is in, and of cgroups the runtime left.
    pub fn force_delete(&self, id: &str) {
        let _ = self.run(&["kill", id, "KILL"]);
        let _ = self.run(&["delete", "--force", id]);
        crate::bundle::remove_cgroups(id);
    }
}

fn not_run(why: String) -> Outcome {
    Outcome { status: None, stdout: String::new(), stderr: why }
}
