//! A uniquely named directory under the system temp dir, removed on drop (tests only).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh directory for one test.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/berth-<tag>-<pid>-<n>`.
    pub(crate) fn new(tag: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("berth-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir(&path).expect("creating test directory");
        TempDir(path)
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
