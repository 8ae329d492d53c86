//! `berth check`: every problem of a bundle's config.json, against the spec and this host.

use std::io::Write;
use std::path::PathBuf;

use berth::spec::{self, SpecError};
use berth::Error;

/// Flags of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle directory (holds config.json).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
}

/// `<JSON pointer>: <problem> (hint: …)`, the problem worded exactly as `create` words it
/// (which names the field in berth's dotted form, e.g. `/linux/namespaces/2/type:
/// linux.namespaces[2].type: …`); whole-file problems have no pointer.
fn line(err: &SpecError, warning: bool) -> String {
    let kind = if warning { "warning; " } else { "" };
    let pointer = err.json_pointer().map(|p| format!("{p}: ")).unwrap_or_default();
    format!("{pointer}{} ({kind}hint: {})", berth::error::one_line(err), spec::hint(err))
}

/// Prints every problem and warning; exit code 1 when there is a problem, 0 otherwise.
pub fn execute(args: Args) -> Result<i32, Error> {
    let problems = spec::check(&args.bundle);
    let warnings = spec::warnings(&args.bundle);
    let mut text = String::new();
    for (err, warning) in
        problems.iter().map(|e| (e, false)).chain(warnings.iter().map(|e| (e, true)))
    {
        text.push_str(&line(err, warning));
        text.push('\n');
    }
    // A reader that went away (`berth check | head`) is not an error.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(Error::Io { what: "writing", path: "stdout".into(), source: e })
        }
        _ => {}
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}
