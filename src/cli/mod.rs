//! The command line, runc-compatible: global flags, one file per subcommand. The only code
//! that prints results.

mod check;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use berth::logging::{self, Format};
use berth::state::StateStore;
use berth::Error;

/// berth — a fast, runc-compatible OCI container runtime.
#[derive(Debug, Parser)]
#[command(name = "berth", disable_version_flag = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    /// Print the version and the OCI spec version.
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Flags every command accepts, before the command name (as with runc).
#[derive(Debug, clap::Args)]
pub struct GlobalOpts {
    /// Directory for the containers' state [default: /run/berth, or $XDG_RUNTIME_DIR/berth
    /// for an unprivileged user].
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Append log records to this file (errors also go to stderr).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log record format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Also log debug records.
    #[arg(long, global = true)]
    debug: bool,
    /// Manage cgroups through systemd (needs a running systemd; its D-Bus API is not used yet).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Path to criu (runc's flag). Accepted and ignored: berth has no checkpoint/restore
    /// yet, so it never runs criu.
    #[arg(long, global = true, value_name = "PATH")]
    criu: Option<PathBuf>,
    /// Rootless mode: true, false or auto (auto: when not the host's root). Not global, as
    /// `spec --rootless` is a flag of its own.
    #[arg(long, value_name = "true|false|auto")]
    rootless: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a container; its process waits for `start`.
    Create(create::Args),
    /// Start the process of a created container.
    Start(start::Args),
    /// Print a container's state as JSON.
    State(state::Args),
    /// Send a signal to a container's init (or all its processes).
    Kill(kill::Args),
    /// Delete a container.
    Delete(delete::Args),
    /// Run another process in a running container.
    Exec(exec::Args),
    /// Create and start a container, and wait for it unless detached.
    Run(run::Args),
    /// List containers.
    List(list::Args),
    /// Write a default config.json.
    Spec(spec::Args),
    /// Change the cgroup resources of a container.
    Update(update::Args),
    /// Freeze every process of a container.
    Pause(pause::Args),
    /// Thaw a paused container.
    Resume(resume::Args),
    /// Print a container's stats and OOM events as JSON records.
    Events(events::Args),
    /// List the processes of a container.
    Ps(ps::Args),
    /// Print the OCI runtime-features document: what this build of berth supports.
    Features(features::Args),
    /// Print every problem of a bundle's config.json, against the spec and this host.
    Check(check::Args),
}

impl Cli {
    /// Parses the command line (exits with clap's message on bad usage).
    pub fn parse_args() -> Self {
        Cli::parse()
    }

    /// `--preserve-fds` of the command, if it has one.
    pub fn preserve_fds(&self) -> u32 {
        match &self.command {
            Some(Command::Create(a)) => a.opts.preserve_fds,
            Some(Command::Run(a)) => a.opts.preserve_fds,
            Some(Command::Exec(a)) => a.preserve_fds,
            _ => 0,
        }
    }

    /// Sets up logging from the global flags.
    pub fn init_logging(&self) -> std::io::Result<()> {
        let format = match self.global.log_format {
            LogFormat::Text => Format::Text,
            LogFormat::Json => Format::Json,
        };
        logging::init(self.global.log.as_deref(), format, self.global.debug)
    }

    /// The subcommand's name, for the trace record.
    pub fn command_name(&self) -> &'static str {
        match self.command {
            None => "",
            Some(Command::Create(_)) => "create",
            Some(Command::Start(_)) => "start",
            Some(Command::State(_)) => "state",
            Some(Command::Kill(_)) => "kill",
            Some(Command::Delete(_)) => "delete",
            Some(Command::Run(_)) => "run",
            Some(Command::Exec(_)) => "exec",
            Some(Command::List(_)) => "list",
            Some(Command::Spec(_)) => "spec",
            Some(Command::Update(_)) => "update",
            Some(Command::Pause(_)) => "pause",
            Some(Command::Resume(_)) => "resume",
            Some(Command::Events(_)) => "events",
            Some(Command::Ps(_)) => "ps",
            Some(Command::Features(_)) => "features",
            Some(Command::Check(_)) => "check",
        }
    }

    /// Runs the command; the process exit code on success.
    pub fn run(self) -> Result<i32, Error> {
        if self.version {
            // runc's first three lines (version, commit, spec): go-runc's Version() parses
            // exactly those; berth has no build-time commit, so the line names the release.
            let version = env!("CARGO_PKG_VERSION");
            println!("berth version {version}\ncommit: v{version}\nspec: {}", berth::OCI_VERSION);
            return Ok(0);
        }
        let mode = self.global.rootless.as_deref().map(berth::rootless::Mode::parse);
        berth::rootless::set_mode(mode.transpose()?.unwrap_or_default());
        let store = match (&self.global.root, &self.command) {
            (Some(root), _) => StateStore::new(root),
            // These never touch the state root.
            (None, Some(Command::Spec(_) | Command::Features(_) | Command::Check(_))) => {
                StateStore::new("/run/berth")
            }
            (None, _) => StateStore::new(berth::rootless::default_root()?),
        };
        match self.command {
            None => Err(Error::Usage("no command given; see `berth --help`".into())),
            Some(Command::Create(args)) => {
                create::execute(&store, args, self.global.systemd_cgroup)
            }
            Some(Command::Start(args)) => start::execute(&store, args),
            Some(Command::State(args)) => state::execute(&store, args),
            Some(Command::Kill(args)) => kill::execute(&store, args),
            Some(Command::Delete(args)) => delete::execute(&store, args),
            Some(Command::Exec(args)) => exec::execute(&store, args),
            Some(Command::Run(args)) => run::execute(&store, args, self.global.systemd_cgroup),
            Some(Command::List(args)) => list::execute(&store, args),
            Some(Command::Spec(args)) => spec::execute(args),
            Some(Command::Update(args)) => update::execute(&store, args),
            Some(Command::Pause(args)) => pause::execute(&store, args),
            Some(Command::Resume(args)) => resume::execute(&store, args),
            Some(Command::Events(args)) => events::execute(&store, args),
            Some(Command::Ps(args)) => ps::execute(&store, args),
            Some(Command::Features(args)) => features::execute(args),
            Some(Command::Check(args)) => check::execute(args),
        }
    }
}

/// Prints `value` as JSON on stdout, pretty like runc's `state`.
fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Usage(e.to_string()))?;
    // A reader that went away (`berth events --stats ID | head`) is not an error, nor a panic.
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Io { what: "writing", path: "stdout".into(), source: e })
        }
        _ => Ok(()),
    }
}
