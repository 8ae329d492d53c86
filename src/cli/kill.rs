//! `berth kill`.

use berth::process::signals::parse_signal;
use berth::state::StateStore;
use berth::Error;

/// Flags of `kill`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Signal every process of the container, not only its init.
    #[arg(short, long)]
    pub all: bool,
    /// Container id.
    pub id: String,
    /// Signal name (KILL, SIGKILL) or number (9).
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn execute(store: &StateStore, args: Args) -> Result<i32, Error> {
    let signal = parse_signal(&args.signal).map_err(Error::Usage)?;
    berth::container::kill(store, &args.id, signal, args.all)?;
    Ok(0)
}
