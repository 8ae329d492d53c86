//! `berth exec`.

use std::path::PathBuf;

use berth::container::{ExecFlags, ExecOptions, ExecOutcome, ExecProcess};
use berth::state::StateStore;
use berth::Error;

/// Flags of `exec` (runc's).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Path to a process.json holding the whole process (instead of ARGS and flags).
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket that receives the pty master.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Add an environment variable (KEY=VALUE); repeatable.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// UID[:GID] to run as.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group id; repeatable.
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// Add a capability (CAP_NAME); repeatable.
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privs.
    #[arg(long)]
    pub no_new_privs: bool,
    /// AppArmor profile for the process (where AppArmor runs).
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label for the process (where SELinux runs).
    #[arg(long)]
    pub process_label: Option<String>,
    /// Return once the process runs.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid to this file.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Pass N extra file descriptors (3 .. 3+N-1).
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run in an existing sub-cgroup of the container's: PATH or CONTROLLER:PATH; repeatable.
    #[arg(long, value_name = "[CONTROLLER:]PATH")]
    pub cgroup: Vec<String>,
    /// Exec into a paused container too (the process stays frozen until `resume`).
    #[arg(long)]
    pub ignore_paused: bool,
    /// Container id.
    pub id: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn execute(store: &StateStore, args: Args) -> Result<i32, Error> {
    let options = ExecOptions {
        detach: args.detach,
        pid_file: args.pid_file.as_ref().map(std::path::absolute).transpose().map_err(
            |source| Error::Io {
                what: "resolving pid file",
                path: args.pid_file.clone().unwrap_or_default(),
                source,
            },
        )?,
        console_socket: args.console_socket.clone(),
        preserve_fds: args.preserve_fds,
        apparmor: args.apparmor.clone(),
        process_label: args.process_label.clone(),
        ignore_paused: args.ignore_paused,
        sub_cgroup: berth::cgroups::sub::parse(&args.cgroup)?,
    };
    let process = match args.process {
        Some(file) => ExecProcess::File(file),
        None => ExecProcess::Flags(ExecFlags {
            args: args.args,
            env: args.env,
            cwd: args.cwd,
            user: args.user.as_deref().map(parse_user).transpose()?,
            additional_gids: args.additional_gids,
            caps: args.cap.iter().filter_map(|c| parse_cap(c)).collect(),
            no_new_privs: args.no_new_privs,
            tty: args.tty,
        }),
    };
    match berth::container::exec(store, &args.id, process, &options)? {
        ExecOutcome::Detached => Ok(0),
        ExecOutcome::Exited(code) => Ok(code),
    }
}

/// `UID` or `UID:GID`, numeric as runc takes them.
fn parse_user(text: &str) -> Result<(u32, Option<u32>), Error> {
    let bad = || Error::Usage(format!("--user {text:?}: expected UID or UID:GID"));
    match text.split_once(':') {
        Some((uid, gid)) => {
            Ok((uid.parse().map_err(|_| bad())?, Some(gid.parse().map_err(|_| bad())?)))
        }
        None => Ok((text.parse().map_err(|_| bad())?, None)),
    }
}

/// The capability `--cap` names; an unknown name is ignored with a warning, as the runtime
/// spec asks for capabilities that cannot be granted (runc and crun do the same).
fn parse_cap(text: &str) -> Option<caps::Capability> {
    let name = text.to_ascii_uppercase();
    let name = if name.starts_with("CAP_") { name } else { format!("CAP_{name}") };
    let cap = name.parse().ok();
    if cap.is_none() {
        let shown: String = text.chars().take(64).collect();
        let msg = format!("--cap {shown:?}: unknown capability ignored");
        berth::logging::log(berth::logging::Level::Warning, &msg);
    }
    cap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_caps_parse() {
        assert_eq!(parse_user("1000").unwrap(), (1000, None));
        assert_eq!(parse_user("1000:100").unwrap(), (1000, Some(100)));
        assert!(parse_user("root").is_err());
        assert_eq!(parse_cap("net_admin").unwrap(), caps::Capability::CAP_NET_ADMIN);
        assert!(parse_cap("CAP_NOPE").is_none());
    }
}
