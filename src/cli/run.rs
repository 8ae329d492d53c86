//! `berth run`.

use berth::container::RunOutcome;
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
    /// Container id.
    pub id: String,
}

pub fn execute(store: &StateStore, args: Args, systemd_cgroup: bool) -> Result<i32, Error> {
    match berth::container::run(
        store,
        &args.id,
        &args.opts.to_options(systemd_cgroup)?,
        args.detach,
    )? {
        RunOutcome::Detached => Ok(0),
        RunOutcome::Exited(code) => Ok(code),
    }
}
