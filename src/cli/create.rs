//! `berth create`.

use std::path::PathBuf;

use berth::container::{self, CreateOptions};
use berth::state::StateStore;
use berth::Error;

/// Flags of `create` (shared with `run`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub opts: CreateFlags,
    /// Container id.
    pub id: String,
}

/// The bundle and process flags `create` and `run` share.
#[derive(Debug, clap::Args)]
pub struct CreateFlags {
    /// Bundle directory (holds config.json).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container init's pid to this file.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is true.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long)]
    pub no_pivot: bool,
    /// Keep the caller's session keyring instead of a new one.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N extra file descriptors (3 .. 3+N-1) to the container.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

impl CreateFlags {
    /// The library's options, with an absolute bundle path; `systemd_cgroup` is the global flag.
    pub fn to_options(&self, systemd_cgroup: bool) -> Result<CreateOptions, Error> {
        let bundle = std::path::absolute(&self.bundle).map_err(|source| Error::Io {
            what: "resolving bundle",
            path: self.bundle.clone(),
            source,
        })?;
        Ok(CreateOptions {
            bundle,
            pid_file: self.pid_file.as_ref().map(std::path::absolute).transpose().map_err(
                |source| Error::Io {
                    what: "resolving pid file",
                    path: self.pid_file.clone().unwrap_or_default(),
                    source,
                },
            )?,
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            systemd_cgroup,
        })
    }
}

pub fn execute(store: &StateStore, args: Args, systemd_cgroup: bool) -> Result<i32, Error> {
    container::create(store, &args.id, &args.opts.to_options(systemd_cgroup)?)?;
    Ok(0)
}
