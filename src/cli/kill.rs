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
    /// Signal name (KILL, SIGKILL, RTMIN+3) or number (9); 0 checks that the init is alive.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn execute(store: &StateStore, args: Args) -> Result<i32, Error> {
    // runc 1.1 takes 0 like any number; elsewhere (a config, `run`'s forwarding) 0 is no signal.
    let signal = match args.signal.as_str() {
        "0" => 0,
        text => parse_signal(text).map_err(Error::Usage)?,
    };
    berth::container::kill(store, &args.id, signal, args.all)?;
    Ok(0)
}
