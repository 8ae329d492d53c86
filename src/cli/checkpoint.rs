//! `berth checkpoint`.

use std::path::PathBuf;

use berth::checkpoint::options::{CgroupsMode, CheckpointOptions, CommonOptions};
use berth::state::StateStore;
use berth::Error;

/// Flags of `checkpoint` (runc's).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// An earlier pre-dump, relative to the image path.
    #[arg(long, value_name = "DIR")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long)]
    pub leave_running: bool,
    /// Dump memory only, leaving the container running (for a later --parent-path).
    #[arg(long)]
    pub pre_dump: bool,
    /// A namespace to leave out of the checkpoint (network).
    #[arg(long, value_name = "NS")]
    pub empty_ns: Vec<String>,
    /// Deduplicate memory pages against the parent checkpoint.
    #[arg(long)]
    pub auto_dedup: bool,
    /// Not used; runc's page server address flag is accepted and refused with --lazy-pages.
    #[arg(long, hide = true, value_name = "ADDR")]
    pub page_server: Option<String>,
    /// Container id.
    pub id: String,
}

/// The flags `checkpoint` and `restore` share (runc's), as criu takes them.
#[derive(Debug, clap::Args)]
pub struct CriuArgs {
    /// Directory of the checkpoint's images.
    #[arg(long, value_name = "DIR", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Directory for criu's logs and work files [default: the image path].
    #[arg(long, value_name = "DIR")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow a shell job (a process attached to the caller's terminal).
    #[arg(long)]
    pub shell_job: bool,
    /// Dump or restore file locks.
    #[arg(long)]
    pub file_locks: bool,
    /// How criu treats cgroups: soft, full, strict or ignore.
    #[arg(long, value_name = "MODE")]
    pub manage_cgroups_mode: Option<String>,
    /// Lazy migration through a page server: refused, not supported.
    #[arg(long)]
    pub lazy_pages: bool,
}

impl CriuArgs {
    /// The options both commands hand to criu, paths made absolute (criu runs elsewhere).
    pub fn common(&self, criu: Option<PathBuf>) -> Result<CommonOptions, Error> {
        Ok(CommonOptions {
            image_path: absolute(&self.image_path)?,
            work_path: self.work_path.as_deref().map(absolute).transpose()?,
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            cgroups_mode: cgroups_mode(self.manage_cgroups_mode.as_deref())?,
            criu,
        })
    }
}

/// `--manage-cgroups-mode`, parsed.
fn cgroups_mode(text: Option<&str>) -> Result<Option<CgroupsMode>, Error> {
    text.map(CgroupsMode::parse).transpose().map_err(Error::Usage)
}

/// `path` made absolute against the current directory (criu runs elsewhere).
pub fn absolute(path: &std::path::Path) -> Result<PathBuf, Error> {
    std::path::absolute(path).map_err(|source| Error::Io {
        what: "resolving",
        path: path.to_path_buf(),
        source,
    })
}

pub fn execute(store: &StateStore, args: Args, criu: Option<PathBuf>) -> Result<i32, Error> {
    if args.page_server.is_some() {
        return Err(Error::Unsupported("checkpoint --page-server"));
    }
    let opts = CheckpointOptions {
        common: args.criu.common(criu)?,
        parent_path: args.parent_path,
        leave_running: args.leave_running,
        pre_dump: args.pre_dump,
        auto_dedup: args.auto_dedup,
        empty_ns: args.empty_ns,
        lazy_pages: args.criu.lazy_pages,
    };
    berth::container::checkpoint(store, &args.id, &opts)?;
    Ok(0)
}
