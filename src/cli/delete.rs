//! `berth delete`.

use berth::state::{StateError, StateStore};
use berth::Error;

/// Flags of `delete`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kill the container first if it still runs; no error if it does not exist.
    #[arg(short, long)]
    pub force: bool,
    /// Container id.
    pub id: String,
}

pub fn execute(store: &StateStore, args: Args) -> Result<i32, Error> {
    match berth::container::delete(store, &args.id, args.force) {
        Err(Error::State(StateError::NotFound(_))) if args.force => Ok(0),
        other => other.map(|()| 0),
    }
}
