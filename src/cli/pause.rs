//! `berth pause`.

use berth::state::StateStore;
use berth::Error;

/// Flags of `pause`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
}

pub fn execute(store: &StateStore, args: Args) -> Result<i32, Error> {
    berth::container::pause(store, &args.id)?;
    Ok(0)
}
