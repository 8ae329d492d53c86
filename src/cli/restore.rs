//! `berth restore`, and `berth criu-hook` (hidden: criu's action script during a restore).

use std::path::PathBuf;

use berth::checkpoint::options::{CommonOptions, RestoreOptions};
use berth::container::RunOutcome;
use berth::state::StateStore;
use berth::Error;

/// Flags of `restore` (runc's).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Path to the bundle [default: the current directory].
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,
    /// Directory of the checkpoint's images.
    #[arg(long, value_name = "DIR", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Directory for criu's logs and work files [default: the image path].
    #[arg(long, value_name = "DIR")]
    pub work_path: Option<PathBuf>,
    /// Return once restored instead of waiting for the container.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the restored init's pid to this file.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket to send the new pty master to (process.terminal).
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc's callers: the restored init is berth's own child.
    #[arg(long)]
    pub no_subreaper: bool,
    /// Accepted for runc's callers: criu restores the mount tree itself.
    #[arg(long)]
    pub no_pivot: bool,
    /// How criu treats cgroups: soft, full, strict or ignore.
    #[arg(long, value_name = "MODE")]
    pub manage_cgroups_mode: Option<String>,
    /// Allow open TCP connections.
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow a shell job (attached to the caller's terminal).
    #[arg(long)]
    pub shell_job: bool,
    /// Restore file locks.
    #[arg(long)]
    pub file_locks: bool,
    /// Lazy migration: refused, not supported.
    #[arg(long)]
    pub lazy_pages: bool,
    /// Container id.
    pub id: String,
}

pub fn execute(
    store: &StateStore,
    args: Args,
    criu: Option<PathBuf>,
    systemd_cgroup: bool,
) -> Result<i32, Error> {
    let opts = RestoreOptions {
        common: CommonOptions {
            image_path: super::checkpoint::absolute(&args.image_path)?,
            work_path: args.work_path.as_deref().map(super::checkpoint::absolute).transpose()?,
            tcp_established: args.tcp_established,
            ext_unix_sk: args.ext_unix_sk,
            shell_job: args.shell_job,
            file_locks: args.file_locks,
            cgroups_mode: super::checkpoint::cgroups_mode(args.manage_cgroups_mode.as_deref())?,
            criu,
        },
        bundle: super::checkpoint::absolute(&args.bundle)?,
        detach: args.detach,
        pid_file: args.pid_file.as_deref().map(super::checkpoint::absolute).transpose()?,
        console_socket: args.console_socket,
        no_subreaper: args.no_subreaper,
        no_pivot: args.no_pivot,
        lazy_pages: args.lazy_pages,
    };
    match berth::container::restore(store, &args.id, &opts, systemd_cgroup)? {
        RunOutcome::Detached => Ok(0),
        RunOutcome::Exited(code) => Ok(code),
    }
}

/// Flags of the hidden `criu-hook`.
#[derive(Debug, clap::Args)]
pub struct HookArgs {
    /// The hook plan restore wrote.
    pub plan: PathBuf,
}

pub fn execute_hook(args: HookArgs) -> Result<i32, Error> {
    berth::container::criu_hook(&args.plan)?;
    Ok(0)
}
