//! `berth run`.

use berth::container::{RunFlags, RunOutcome};
use berth::state::StateStore;
use berth::Error;

use super::create::CreateFlags;

/// Flags of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub opts: CreateFlags,
    /// Return once the container runs instead of waiting for it.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container after it exits (status stopped) until `delete` removes it.
    #[arg(long)]
    pub keep: bool,
    /// Leave orphaned container processes to the host's init (not when the init is
    /// berth's grandchild: a joined user or pid namespace, time offsets).
    #[arg(long)]
    pub no_subreaper: bool,
    /// Container id.
    pub id: String,
}

pub fn execute(store: &StateStore, args: Args, systemd_cgroup: bool) -> Result<i32, Error> {
    let flags = RunFlags { detach: args.detach, keep: args.keep, no_subreaper: args.no_subreaper };
    match berth::container::run(store, &args.id, &args.opts.to_options(systemd_cgroup)?, flags)? {
        RunOutcome::Detached => Ok(0),
        RunOutcome::Exited(code) => Ok(code),
    }
}
