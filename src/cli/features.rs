//! `berth features`.

use berth::Error;

/// Flags of `features` (none).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn execute(_: Args) -> Result<i32, Error> {
    let text = serde_json::to_string_pretty(&berth::host::features::features())
        .expect("JSON values serialize");
    println!("{text}");
    Ok(0)
}
