//! Rootless mode: whether berth runs without the host's root privileges (runc's
//! `--rootless auto|true|false`), and where such a caller keeps its containers' state.
//!
//! The mode ([`active`]) decides whether a cgroup the caller cannot write (not delegated to
//! it) is skipped with a warning instead of failing `create`; the privilege actually held
//! ([`detected`]) decides how a new user namespace's maps are written and joined. Both are
//! worked out on first use only, so a root `state` or `kill` never reads `/proc/self/uid_map`.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The value of `--rootless`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Rootless when the effective uid is not 0, or when running as root of a user
    /// namespace that does not map the whole id range.
    #[default]
    Auto,
    /// Always rootless (cgroup permission errors are tolerated even as root).
    On,
    /// Never rootless.
    Off,
}

impl Mode {
    /// Parses `true`, `false` or `auto`, as runc does.
    pub fn parse(text: &str) -> Result<Self, crate::Error> {
        match text {
            "auto" => Ok(Mode::Auto),
            "true" => Ok(Mode::On),
            "false" => Ok(Mode::Off),
            other => Err(crate::Error::Usage(format!(
                "--rootless takes true, false or auto, not {other:?}"
            ))),
        }
    }
}

static MODE: OnceLock<Mode> = OnceLock::new();
static DETECTED: OnceLock<bool> = OnceLock::new();

/// Records the command line's `--rootless` (once, before any operation runs).
pub fn set_mode(mode: Mode) {
    let _ = MODE.set(mode);
}

/// Whether this process runs rootless, by `--rootless` (auto when not set): decides whether
/// a cgroup the caller may not write is skipped.
pub fn active() -> bool {
    match MODE.get().copied().unwrap_or_default() {
        Mode::On => true,
        Mode::Off => false,
        Mode::Auto => detected(),
    }
}

/// Whether this process lacks the host's root privileges, whatever `--rootless` says: its
/// effective uid is not 0, or it is root of a user namespace with a partial map. Decides how
/// the id maps of a new user namespace are written.
pub fn detected() -> bool {
    *DETECTED.get_or_init(|| !nix::unistd::geteuid().is_root() || in_user_namespace())
}

/// Whether this process is in a user namespace other than the initial one: its uid_map is
/// not the identity map of the whole range (`0 0 4294967295`) that only the initial user
/// namespace has.
pub fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => !is_full_identity(&map),
        // No /proc to tell: the host's root, as runc assumes.
        Err(_) => false,
    }
}

fn is_full_identity(map: &str) -> bool {
    let lines: Vec<Vec<&str>> = map.lines().map(|l| l.split_whitespace().collect()).collect();
    matches!(lines.as_slice(), [fields] if fields.as_slice() == ["0", "0", "4294967295"])
}

/// Where containers' state goes without `--root`: `/run/berth` for the host's root,
/// `$XDG_RUNTIME_DIR/berth` for an unprivileged user (runc: `$XDG_RUNTIME_DIR/runc`), and for
/// root of a user namespace too unless `$USER` says `root` (runc's rule).
pub fn default_root() -> Result<PathBuf, crate::Error> {
    const SYSTEM: &str = "/run/berth";
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    let unprivileged = !nix::unistd::geteuid().is_root();
    // Evaluated only with XDG_RUNTIME_DIR set: the host's root without it reads nothing.
    let honour_xdg = || {
        unprivileged
            || (in_user_namespace() && std::env::var_os("USER").is_none_or(|u| u != "root"))
    };
    match xdg {
        Some(dir) if honour_xdg() => {
            let root = PathBuf::from(dir).join("berth");
            keep_from_cleanup(&root)?;
            Ok(root)
        }
        None if unprivileged => Err(crate::Error::Usage(
            "XDG_RUNTIME_DIR is not set: berth keeps an unprivileged user's containers in \
             $XDG_RUNTIME_DIR/berth; set it or pass --root"
                .into(),
        )),
        _ => Ok(PathBuf::from(SYSTEM)),
    }
}

/// Makes the state root under `$XDG_RUNTIME_DIR` (mode 0700) and sets its sticky bit: the XDG
/// Base Directory spec lets a cleaner remove files there untouched for 6 hours unless they
/// have it (runc sets it too).
fn keep_from_cleanup(root: &std::path::Path) -> Result<(), crate::Error> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let io = |source| crate::Error::Io { what: "creating state root", path: root.into(), source };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(root).map_err(io)?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o1700)).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_whole_range_is_the_initial_namespace() {
        assert!(is_full_identity("         0          0 4294967295\n"));
        assert!(!is_full_identity("         0       1000          1\n"));
        assert!(!is_full_identity("0 0 4294967295\n1 1 1\n"));
        assert!(!is_full_identity("0 0 65536\n"));
        assert!(!is_full_identity(""));
    }

    #[test]
    fn mode_takes_runc_words() {
        assert_eq!(Mode::parse("auto").unwrap(), Mode::Auto);
        assert_eq!(Mode::parse("true").unwrap(), Mode::On);
        assert_eq!(Mode::parse("false").unwrap(), Mode::Off);
        assert!(Mode::parse("yes").is_err());
    }
}
