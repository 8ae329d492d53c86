//! `berth restore`, and `berth criu-hook` (hidden: criu's action script during a restore).

use std::path::PathBuf;

use berth::checkpoint::options::RestoreOptions;
use berth::container::RunOutcome;
use berth::state::StateStore;
use berth::Error;

/// Flags of `restore` (runc's).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Path to the bundle [default: the current directory].
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub criu: super::checkpoint::CriuArgs,
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
        common: args.criu.common(criu)?,
        bundle: super::checkpoint::absolute(&args.bundle)?,
        detach: args.detach,
        pid_file: args.pid_file.as_deref().map(super::checkpoint::absolute).transpose()?,
        console_socket: args.console_socket,
        no_subreaper: args.no_subreaper,
        no_pivot: args.no_pivot,
        lazy_pages: args.criu.lazy_pages,
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
