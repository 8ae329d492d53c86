//! `berth resume`.

use berth::state::StateStore;
use berth::Error;

/// Flags of `resume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
}

pub fn execute(store: &StateStore, args: Args) -> Result<i32, Error> {
    berth::container::resume(store, &args.id)?;
    Ok(0)
}
