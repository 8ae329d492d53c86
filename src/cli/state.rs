//! `berth state`.

use berth::state::StateStore;
use berth::Error;

/// Flags of `state`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
}

pub fn execute(store: &StateStore, args: Args) -> Result<i32, Error> {
    super::print_json(&berth::container::state(store, &args.id)?)?;
    Ok(0)
}
