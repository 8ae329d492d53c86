//! The last steps before execve: find the executable the way runc does (PATH lookup of
//! `args[0]`), build argv and envp, and hand over to the container's program.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::shim::{Report, Shim};
use crate::spec::ValidProcess;

/// PATH used when `process.env` has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the container's program cannot be executed. The texts follow runc's, because
/// podman maps them to exit codes 127 (not found) and 126 (not executable).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No such file on PATH.
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    /// The file given with a `/` does not exist or cannot be inspected.
    #[error("exec: {name:?}: stat {name}: {source}")]
    Stat {
        /// args[0].
        name: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but cannot be executed.
    #[error("exec: {0:?}: permission denied")]
    NotExecutable(String),
    /// An argument or environment entry contains a NUL byte.
    #[error("process.{0} contains a NUL byte")]
    Nul(&'static str),
}

/// What execve needs, prepared before the init blocks on exec.fifo so nothing can fail
/// between `start` and the exec but the exec itself.
#[derive(Debug)]
pub struct Program {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Program {
    /// Resolves `process.args[0]` and prepares argv and envp (adding HOME when missing).
    pub fn prepare(process: &ValidProcess) -> Result<Self, ExecError> {
        let path = resolve(&process.args[0], path_var(&process.env))?;
        let mut env = process.env.clone();
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={}", home_of(process.uid)));
        }
        let cstr = |s: &str, what| CString::new(s).map_err(|_| ExecError::Nul(what));
        Ok(Program {
            path: cstr(path.to_str().unwrap_or_default(), "args")?,
            argv: process.args.iter().map(|a| cstr(a, "args")).collect::<Result<_, _>>()?,
            envp: env.iter().map(|e| cstr(e, "env")).collect::<Result<_, _>>()?,
        })
    }

    /// Executes the program through the exec shim (see [`Shim::exec`] for `report`);
    /// returns only when the shim itself could not be executed.
    pub fn exec(&self, shim: &Shim, report: Report) -> nix::errno::Errno {
        shim.exec(report, &self.path, &self.argv, &self.envp)
    }
}

fn path_var(env: &[String]) -> &str {
    env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH)
}

/// `name` as is when it holds a `/`, else the first executable regular file on `path_var`.
fn resolve(name: &str, path_var: &str) -> Result<PathBuf, ExecError> {
    if name.contains('/') {
        let meta = std::fs::metadata(name)
            .map_err(|source| ExecError::Stat { name: name.into(), source })?;
        return if is_executable(&meta) {
            Ok(name.into())
        } else {
            Err(ExecError::NotExecutable(name.into()))
        };
    }
    let mut found_unexecutable = false;
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            if is_executable(&meta) {
                return Ok(candidate);
            }
            found_unexecutable |= meta.is_file();
        }
    }
    Err(if found_unexecutable {
        ExecError::NotExecutable(name.into())
    } else {
        ExecError::NotFound(name.into())
    })
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// The home directory of `uid` from the container's /etc/passwd, `/` when unknown.
fn home_of(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid))
        .map(|f| f[5].to_string())
        .filter(|home| !home.is_empty())
        .unwrap_or_else(|| "/".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lookup_finds_first_executable() {
        assert_eq!(resolve("sh", "/nonexistent:/bin").unwrap(), PathBuf::from("/bin/sh"));
        assert!(matches!(resolve("no-such-program-x", "/bin"), Err(ExecError::NotFound(_))));
        assert!(matches!(resolve("passwd", "/etc"), Err(ExecError::NotExecutable(_))));
        assert!(matches!(resolve("/no/such", "/bin"), Err(ExecError::Stat { .. })));
    }

    #[test]
    fn messages_match_runc_for_podman() {
        assert_eq!(
            ExecError::NotFound("foo".into()).to_string(),
            "exec: \"foo\": executable file not found in $PATH"
        );
    }

    #[test]
    fn last_path_wins() {
        assert_eq!(path_var(&["PATH=/a".into(), "PATH=/b".into()]), "/b");
        assert_eq!(path_var(&[]), DEFAULT_PATH);
    }
}
