//! What `checkpoint` and `restore` are asked to do: runc's flags, parsed.

use std::path::PathBuf;

/// `--manage-cgroups-mode`: how criu treats the container's cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CgroupsMode {
    /// criu's default: restore cgroup properties only into cgroups it creates.
    #[default]
    Soft,
    /// Restore every property.
    Full,
    /// Fail when a cgroup exists with other properties.
    Strict,
    /// Leave cgroups alone.
    Ignore,
}

impl CgroupsMode {
    /// Parses runc's spelling.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "soft" => Ok(CgroupsMode::Soft),
            "full" => Ok(CgroupsMode::Full),
            "strict" => Ok(CgroupsMode::Strict),
            "ignore" => Ok(CgroupsMode::Ignore),
            other => Err(format!(
                "invalid --manage-cgroups-mode {other:?}: expected soft, full, strict or ignore"
            )),
        }
    }

    /// criu's spelling (the same words).
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupsMode::Soft => "soft",
            CgroupsMode::Full => "full",
            CgroupsMode::Strict => "strict",
            CgroupsMode::Ignore => "ignore",
        }
    }
}

/// Flags both commands share.
#[derive(Debug, Clone, Default)]
pub struct CommonOptions {
    /// `--image-path`: the checkpoint's images.
    pub image_path: PathBuf,
    /// `--work-path`: criu's logs and work files; the image path when `None`.
    pub work_path: Option<PathBuf>,
    /// `--tcp-established`.
    pub tcp_established: bool,
    /// `--ext-unix-sk`.
    pub ext_unix_sk: bool,
    /// `--shell-job`.
    pub shell_job: bool,
    /// `--file-locks`.
    pub file_locks: bool,
    /// `--manage-cgroups-mode`; criu's default when `None`.
    pub cgroups_mode: Option<CgroupsMode>,
    /// The global `--criu`: criu's path or name.
    pub criu: Option<PathBuf>,
}

impl CommonOptions {
    /// Where criu writes its logs.
    pub fn work_dir(&self) -> &std::path::Path {
        self.work_path.as_deref().unwrap_or(&self.image_path)
    }
}

/// The flags of `checkpoint`.
#[derive(Debug, Clone, Default)]
pub struct CheckpointOptions {
    /// Shared flags.
    pub common: CommonOptions,
    /// `--parent-path`: an earlier (pre-)dump, relative to the image path as criu takes it.
    pub parent_path: Option<PathBuf>,
    /// `--leave-running`.
    pub leave_running: bool,
    /// `--pre-dump`: dump memory only and leave the container running.
    pub pre_dump: bool,
    /// `--auto-dedup`.
    pub auto_dedup: bool,
    /// `--empty-ns`: namespaces criu should not dump (`network` only, as runc).
    pub empty_ns: Vec<String>,
    /// `--lazy-pages`: refused (no page server here).
    pub lazy_pages: bool,
}

/// The flags of `restore`.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Shared flags.
    pub common: CommonOptions,
    /// `--bundle`; the current directory when empty.
    pub bundle: PathBuf,
    /// `--detach`: return once restored instead of waiting for the container.
    pub detach: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--no-subreaper`: accepted; berth's restore never makes itself a subreaper (criu
    /// restores the init as berth's own child, `--restore-sibling`).
    pub no_subreaper: bool,
    /// `--no-pivot`: accepted; criu restores the mount tree itself.
    pub no_pivot: bool,
    /// `--lazy-pages`: refused.
    pub lazy_pages: bool,
}
