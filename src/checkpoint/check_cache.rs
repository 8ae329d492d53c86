//! `criu check`'s verdict kept in the state root as [`CACHE_FILE`], so that only the first
//! `checkpoint`, `restore` or `features` after criu or the kernel changed pays for the probe.
//!
//! The file holds the whole [`CacheKey`] beside the verdict, and a hit needs every field to
//! match: a file with another key, or one that does not parse, is ignored and replaced.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::check::CheckOutcome;

/// The cache file in the state root. `@` is not allowed in a container id, so no container
/// can claim the name, and `list` skips it (a file, and not an id).
pub const CACHE_FILE: &str = "@criu-check";

/// What a verdict depends on: the criu binary (a new package changes its inode, size or
/// mtime) and the kernel it probed (release and build string, and the boot: a reboot may
/// bring another command line or other modules, such as `tun`, which `criu check` needs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    criu: PathBuf,
    inode: u64,
    size: u64,
    mtime_ns: i128,
    kernel_release: String,
    kernel_version: String,
    boot_id: String,
}

/// The file's content.
#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    key: CacheKey,
    outcome: CheckOutcome,
}

/// The key for `criu` on the running kernel; `None` when criu cannot be stat'ed (then
/// nothing is cached: there is nothing to tell a new binary by).
pub fn key(criu: &Path) -> Option<CacheKey> {
    let meta = std::fs::metadata(criu).ok()?;
    let kernel = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    Some(CacheKey {
        criu: criu.to_path_buf(),
        inode: meta.ino(),
        size: meta.size(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        kernel_release: kernel("osrelease"),
        kernel_version: kernel("version"),
        boot_id: kernel("random/boot_id"),
    })
}

/// The verdict cached in `root` for `key`; `None` when there is none, it is for another
/// key, or the file does not parse.
pub fn read(root: &Path, key: &CacheKey) -> Option<CheckOutcome> {
    let text = std::fs::read(root.join(CACHE_FILE)).ok()?;
    let cached: Cached = serde_json::from_slice(&text).ok()?;
    (cached.key == *key).then_some(cached.outcome)
}

/// Writes `outcome` for `key` into `root`, whole (temp file + rename), so a concurrent
/// reader sees the old file or the new one, never half of one. Not fsync'ed: a file torn
/// by a crash does not parse and is only checked again.
pub fn write(root: &Path, key: &CacheKey, outcome: &CheckOutcome) -> std::io::Result<()> {
    // The cache may be the first thing under a new state root (`features`, or `restore` on a
    // fresh host): made 0700 as the state store makes it.
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(root)?;
    let cached = Cached { key: key.clone(), outcome: outcome.clone() };
    let text = serde_json::to_vec(&cached).map_err(std::io::Error::other)?;
    // The pid keeps two writers apart; `@` keeps the temp file out of `list` as well.
    let tmp = root.join(format!("{CACHE_FILE}.{}", std::process::id()));
    let written =
        std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, root.join(CACHE_FILE)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tempdir::TempDir;

    fn passed() -> CheckOutcome {
        CheckOutcome::Passed { version: "3.17.1".into() }
    }

    /// A file standing for criu: only its identity matters here.
    fn fake_criu(dir: &Path, content: &str) -> PathBuf {
        let path = dir.join("criu");
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn a_fresh_entry_is_read_back() {
        let dir = TempDir::new("criu-cache-hit");
        let key = key(&fake_criu(dir.path(), "v1")).unwrap();
        assert_eq!(read(dir.path(), &key), None, "nothing cached yet");
        write(dir.path(), &key, &passed()).unwrap();
        assert_eq!(read(dir.path(), &key), Some(passed()));
        let failed = CheckOutcome::Failed { first_error: "Error (cr-check.c:1): no tun".into() };
        write(dir.path(), &key, &failed).unwrap();
        assert_eq!(read(dir.path(), &key), Some(failed), "a newer verdict replaces the old");
        let names: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "the binary and the cache, no temp file left: {names:?}");
    }

    #[test]
    fn a_new_criu_binary_makes_the_entry_stale() {
        let dir = TempDir::new("criu-cache-binary");
        let criu = fake_criu(dir.path(), "v1");
        let old = key(&criu).unwrap();
        write(dir.path(), &old, &passed()).unwrap();
        // Another size: a different binary whatever the clock's granularity.
        fake_criu(dir.path(), "version 2");
        let new = key(&criu).unwrap();
        assert_ne!(old, new);
        assert_eq!(read(dir.path(), &new), None);
    }

    #[test]
    fn another_kernel_makes_the_entry_stale() {
        let dir = TempDir::new("criu-cache-kernel");
        let key = key(&fake_criu(dir.path(), "v1")).unwrap();
        write(dir.path(), &key, &passed()).unwrap();
        let other_release =
            CacheKey { kernel_release: "6.1.0-99-cloud-amd64".into(), ..key.clone() };
        assert_eq!(read(dir.path(), &other_release), None);
        let other_boot = CacheKey { boot_id: "another boot".into(), ..key.clone() };
        assert_eq!(read(dir.path(), &other_boot), None);
    }

    #[test]
    fn a_malformed_file_is_ignored_and_replaced() {
        let dir = TempDir::new("criu-cache-malformed");
        let key = key(&fake_criu(dir.path(), "v1")).unwrap();
        for junk in ["", "{", "not json", r#"{"key": 1, "outcome": "passed"}"#] {
            std::fs::write(dir.path().join(CACHE_FILE), junk).unwrap();
            assert_eq!(read(dir.path(), &key), None, "{junk:?}");
        }
        write(dir.path(), &key, &passed()).unwrap();
        assert_eq!(read(dir.path(), &key), Some(passed()));
    }

    #[test]
    fn the_file_name_is_never_a_container_id() {
        assert!(crate::state::ContainerId::parse(CACHE_FILE).is_err());
    }
}
