//! `berth features`.

use berth::Error;

/// Flags of `features` (none).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Prints the features; `root` holds the cached `criu check` verdict.
pub fn execute(
    _: Args,
    criu: Option<&std::path::Path>,
    root: &std::path::Path,
) -> Result<i32, Error> {
    let mut features = berth::host::features::features();
    berth::host::features::add_checkpoint(&mut features, criu, root);
    let text = serde_json::to_string_pretty(&features).expect("JSON values serialize");
    println!("{text}");
    Ok(0)
}
