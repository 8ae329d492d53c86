//! The program to execute: find the executable the way runc does (PATH lookup of
//! `args[0]`), build argv and envp, and execve it through the exec shim. Its errors are
//! worded as runc's, which callers map to exit codes.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::process::shim::{Report, Shim};
use crate::spec::ValidProcess;

/// PATH used when `process.env` has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the container's program cannot be executed. The texts follow runc's, because
/// dockerd and podman map them to exit codes: 127 when they hold "no such file or directory"
/// or "executable file not found", 126 for "permission denied".
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
        source: RuncErrno,
    },
    /// execve of the program failed (after `start`, through the exec shim); runc's wording.
    #[error("exec {path}: {source}")]
    Exec {
        /// The program's path.
        path: String,
        /// The kernel's answer.
        #[source]
        source: RuncErrno,
    },
    /// The file exists but cannot be executed.
    #[error("exec: {0:?}: permission denied")]
    NotExecutable(String),
    /// An argument or environment entry contains a NUL byte.
    #[error("process.{0} contains a NUL byte")]
    Nul(&'static str),
}

/// An errno in runc's (Go's) words: strerror in lower case, without Rust's
/// "(os error N)", e.g. `no such file or directory`, `exec format error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.0.desc().to_lowercase())]
pub struct RuncErrno(pub nix::errno::Errno);

impl From<&std::io::Error> for RuncErrno {
    fn from(e: &std::io::Error) -> Self {
        RuncErrno(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }
}

/// A failure the exec shim reported: the program's execve failure in runc's words
/// ([`ExecError::Exec`]), the shim's own failures as they are.
pub fn in_runc_words(err: crate::sys::SysError) -> Box<dyn std::error::Error + Send + Sync> {
    match err.call {
        "execve" => Box::new(ExecError::Exec { path: err.target, source: RuncErrno(err.errno) }),
        _ => Box::new(err),
    }
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
    /// Resolves `process.args[0]` and prepares argv and envp (one entry per name, adding
    /// HOME when missing).
    pub fn prepare(process: &ValidProcess) -> Result<Self, ExecError> {
        let path = resolve(&process.args[0], path_var(&process.env))?;
        let mut env = dedup_env(&process.env);
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

/// One entry per name, at the place the name first appears, holding its last value: a later
/// `K=V` replaces an earlier one (`exec --env` over the config's, or a repeat within one
/// list), as runc, crun and youki do. getenv(3) would otherwise return the first.
fn dedup_env(env: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    let name = |e: &str| e.split_once('=').map_or(e.len(), |(k, _)| k.len());
    for entry in env {
        let key = &entry[..name(entry)];
        match out.iter_mut().find(|e| e[..name(e)] == *key) {
            Some(seen) => seen.clone_from(entry),
            None => out.push(entry.clone()),
        }
    }
    out
}

fn path_var(env: &[String]) -> &str {
    env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH)
}

/// `name` as is when it holds a `/`, else the first executable regular file on `path_var`.
fn resolve(name: &str, path_var: &str) -> Result<PathBuf, ExecError> {
    if name.contains('/') {
        let meta = std::fs::metadata(name)
            .map_err(|e| ExecError::Stat { name: name.into(), source: (&e).into() })?;
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

    /// dockerd and podman pick exit codes 127/126 by these lower-case phrases.
    #[test]
    fn errors_read_like_runc() {
        let err = resolve("/no/such", "/bin").unwrap_err();
        assert_eq!(
            crate::causes::one_line(&err),
            "exec: \"/no/such\": stat /no/such: no such file or directory"
        );
        let exec = |errno| ExecError::Exec { path: "/bin/x".into(), source: RuncErrno(errno) };
        let text = |errno| crate::causes::one_line(&exec(errno));
        assert_eq!(text(nix::errno::Errno::ENOEXEC), "exec /bin/x: exec format error");
        assert_eq!(text(nix::errno::Errno::EACCES), "exec /bin/x: permission denied");
    }

    #[test]
    fn messages_match_runc_for_podman() {
        assert_eq!(
            ExecError::NotFound("foo".into()).to_string(),
            "exec: \"foo\": executable file not found in $PATH"
        );
    }

    #[test]
    fn a_later_entry_replaces_an_earlier_one_in_place() {
        let env: Vec<String> =
            ["PATH=/bin", "K=spec", "A=1", "K=flag", "KEY=x", "A=2"].map(String::from).into();
        assert_eq!(dedup_env(&env), ["PATH=/bin", "K=flag", "A=2", "KEY=x"]);
        assert_eq!(dedup_env(&["K=".into(), "K==x".into()]), ["K==x"]);
    }

    #[test]
    fn last_path_wins() {
        assert_eq!(path_var(&["PATH=/a".into(), "PATH=/b".into()]), "/b");
        assert_eq!(path_var(&[]), DEFAULT_PATH);
    }
}
