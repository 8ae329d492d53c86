//! `berth spec`.

use std::path::PathBuf;

use berth::Error;

/// Flags of `spec`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write config.json into.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// A config for an unprivileged user (user namespace, no network namespace).
    #[arg(long)]
    pub rootless: bool,
}

/// Writes the default config.json; one that exists is left alone ("remove it first", as runc).
pub fn execute(args: Args) -> Result<i32, Error> {
    let path = berth::spec::config_path(&args.bundle);
    let io = |source| Error::Io { what: "writing", path: path.clone(), source };
    let opened = std::fs::File::options().write(true).create_new(true).open(&path);
    let mut file = match opened {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Usage(format!("{} exists; remove it first", path.display())))
        }
        other => other.map_err(io)?,
    };
    std::io::Write::write_all(&mut file, berth::spec::default_spec(args.rootless).as_bytes())
        .map_err(io)?;
    Ok(0)
}
