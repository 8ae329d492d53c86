//! The command line, runc-compatible: global flags, one file per subcommand. The only code
//! that prints results.

mod check;
mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod lazy;
mod list;
mod pause;
mod ps;
mod restore;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;
mod usage;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use berth::logging::{self, Format};
use berth::state::StateStore;
use berth::Error;
use lazy::Lazy;

/// berth — a fast, runc-compatible OCI container runtime.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    disable_version_flag = true,
    override_usage = "berth [GLOBAL OPTIONS] <COMMAND> [OPTIONS] [ARGS]",
    after_help = GLOBAL_OPTIONS,
    // No wrapping: one flag a line, its help beside it, in every command (clap otherwise
    // moves all help texts below their flags in commands where one is long).
    term_width = 0
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    /// Print the version, commit, OCI spec and libseccomp versions.
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The global flags, listed once in `berth --help` (hidden from each command's own list).
const GLOBAL_OPTIONS: &str = "\
Global options (before the command, as with runc):
      --root <DIR>                  Directory for the containers' state [default: /run/berth;
                                    $XDG_RUNTIME_DIR/berth for an unprivileged user]
      --log <FILE>                  Append log records to FILE (errors also go to stderr)
      --log-format <text|json>      Log record format [default: text]
      --debug                       Also log debug records and the time each step took
      --systemd-cgroup              Manage the cgroup through systemd: a transient unit,
                                    linux.cgroupsPath slice:prefix:name
      --criu <PATH>                 criu for checkpoint and restore [default: criu in PATH]
      --rootless <true|false|auto>  Rootless mode [default: auto: when not the host's root]

Example:
  berth run --bundle /var/lib/mybox mybox
  berth --root /run/containerd/berth/k8s.io list";

/// Flags every command accepts, before the command name (as with runc). Hidden from the
/// generated lists: [`GLOBAL_OPTIONS`] describes them once.
#[derive(Debug, clap::Args)]
pub struct GlobalOpts {
    /// Directory for the containers' state [default: /run/berth, or $XDG_RUNTIME_DIR/berth
    /// for an unprivileged user].
    #[arg(long, global = true, hide = true)]
    root: Option<PathBuf>,
    /// Append log records to this file (errors also go to stderr).
    #[arg(long, global = true, hide = true)]
    log: Option<PathBuf>,
    /// Log record format.
    #[arg(long, global = true, hide = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Also log debug records.
    #[arg(long, global = true, hide = true)]
    debug: bool,
    /// Manage cgroups through systemd: the container gets a transient unit (linux.cgroupsPath "slice:prefix:name").
    #[arg(long, global = true, hide = true)]
    systemd_cgroup: bool,
    /// Path to criu for checkpoint and restore [default: criu in PATH].
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    criu: Option<PathBuf>,
    /// Rootless mode: true, false or auto (auto: when not the host's root). Not global:
    /// `spec --rootless` is a flag of its own.
    #[arg(long, hide = true, value_name = "true|false|auto")]
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
    #[command(
        after_help = "Example:\n  berth create --bundle /var/lib/mybox --pid-file /run/mybox.pid mybox\n\nGlobal options: see `berth --help`."
    )]
    Create(Lazy<create::Args>),
    /// Start the process of a created container.
    #[command(after_help = "Example:\n  berth start mybox\n\nGlobal options: see `berth --help`.")]
    Start(Lazy<start::Args>),
    /// Print a container's state as JSON.
    #[command(after_help = "Example:\n  berth state mybox\n\nGlobal options: see `berth --help`.")]
    State(Lazy<state::Args>),
    /// Send a signal to a container's init (or all its processes).
    #[command(
        after_help = "Example:\n  berth kill mybox KILL          (or 9, SIGKILL; --all for every process)\n\nGlobal options: see `berth --help`."
    )]
    Kill(Lazy<kill::Args>),
    /// Delete a container.
    #[command(
        after_help = "Example:\n  berth delete --force mybox\n\nGlobal options: see `berth --help`."
    )]
    Delete(Lazy<delete::Args>),
    /// Run another process in a running container.
    #[command(
        after_help = "Example:\n  berth exec -t --console-socket /tmp/pty.sock mybox sh\n\nGlobal options: see `berth --help`."
    )]
    Exec(Lazy<exec::Args>),
    /// Create and start a container, and wait for it unless detached.
    #[command(
        after_help = "Example:\n  berth run --bundle /var/lib/mybox mybox\n\nGlobal options: see `berth --help`."
    )]
    Run(Lazy<run::Args>),
    /// List containers.
    #[command(
        after_help = "Example:\n  berth list --format json\n\nGlobal options: see `berth --help`."
    )]
    List(Lazy<list::Args>),
    /// Write a default config.json.
    #[command(
        after_help = "Example:\n  mkdir -p mybox/rootfs && berth spec --bundle mybox\n\nGlobal options: see `berth --help`."
    )]
    Spec(Lazy<spec::Args>),
    /// Change the cgroup resources of a container.
    #[command(
        after_help = "Example:\n  berth update --memory 512m --pids-limit 100 mybox\n\nGlobal options: see `berth --help`."
    )]
    Update(Lazy<update::Args>),
    /// Freeze every process of a container.
    #[command(after_help = "Example:\n  berth pause mybox\n\nGlobal options: see `berth --help`.")]
    Pause(Lazy<pause::Args>),
    /// Thaw a paused container.
    #[command(
        after_help = "Example:\n  berth resume mybox\n\nGlobal options: see `berth --help`."
    )]
    Resume(Lazy<resume::Args>),
    /// Print a container's stats and OOM events as JSON records.
    #[command(
        after_help = "Example:\n  berth events --stats mybox     (one JSON line)\n\nGlobal options: see `berth --help`."
    )]
    Events(Lazy<events::Args>),
    /// List the processes of a container.
    #[command(
        after_help = "Example:\n  berth ps mybox -o pid,comm\n\nGlobal options: see `berth --help`."
    )]
    Ps(Lazy<ps::Args>),
    /// Print the OCI runtime-features document: what this build of berth supports.
    #[command(after_help = "Example:\n  berth features\n\nGlobal options: see `berth --help`.")]
    Features(Lazy<features::Args>),
    /// Print every problem of a bundle's config.json, against the spec and this host.
    #[command(
        after_help = "Example:\n  berth check --bundle /var/lib/mybox\n\nGlobal options: see `berth --help`."
    )]
    Check(Lazy<check::Args>),
    /// Checkpoint a running container with criu.
    #[command(
        after_help = "Example:\n  berth checkpoint --image-path /var/lib/cp/mybox mybox\n\nGlobal options: see `berth --help`."
    )]
    Checkpoint(Lazy<checkpoint::Args>),
    /// Restore a container from a checkpoint with criu.
    #[command(
        after_help = "Example:\n  berth restore --detach --bundle /var/lib/mybox --image-path /var/lib/cp/mybox mybox\n\nGlobal options: see `berth --help`."
    )]
    Restore(Lazy<restore::Args>),
    /// criu's action script during a restore (runs the prestart and createRuntime hooks).
    #[command(hide = true)]
    CriuHook(Lazy<restore::HookArgs>),
}

impl Cli {
    /// Parses the command line. Help and bad usage end the process here: help on stdout
    /// (exit 0), a usage error as one line on stderr with runc's exit code (see [`usage`]).
    pub fn parse_args() -> Self {
        match Cli::try_parse() {
            Ok(cli) => cli,
            Err(err) => {
                std::process::exit(usage::report(&err, &<Cli as clap::CommandFactory>::command()))
            }
        }
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
            Some(Command::Checkpoint(_)) => "checkpoint",
            Some(Command::Restore(_)) => "restore",
            Some(Command::CriuHook(_)) => "criu-hook",
        }
    }

    /// Runs the command; the process exit code on success.
    pub fn run(self) -> Result<i32, Error> {
        if self.version {
            print_version();
            return Ok(0);
        }
        let Some(command) = self.command else {
            // As runc: no command prints the help, and that is not an error.
            let help = <Cli as clap::CommandFactory>::command().render_help();
            return match write!(std::io::stdout().lock(), "{help}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(Error::Io { what: "writing", path: "stdout".into(), source: e })
                }
                _ => Ok(0),
            };
        };
        let mode = self.global.rootless.as_deref().map(berth::rootless::Mode::parse);
        berth::rootless::set_mode(mode.transpose()?.unwrap_or_default());
        let store = match (&self.global.root, &command) {
            (Some(root), _) => StateStore::new(root),
            // These never touch the state root.
            (None, Command::Spec(_) | Command::Check(_) | Command::CriuHook(_)) => {
                StateStore::new("/run/berth")
            }
            // Only for the cached `criu check` verdict: `features` must not fail for want of
            // XDG_RUNTIME_DIR (an unwritable root only means criu is checked each time).
            (None, Command::Features(_)) => StateStore::new(
                berth::rootless::default_root().unwrap_or_else(|_| "/run/berth".into()),
            ),
            (None, _) => StateStore::new(berth::rootless::default_root()?),
        };
        match command {
            Command::Create(args) => create::execute(&store, args.0, self.global.systemd_cgroup),
            Command::Start(args) => start::execute(&store, args.0),
            Command::State(args) => state::execute(&store, args.0),
            Command::Kill(args) => kill::execute(&store, args.0),
            Command::Delete(args) => delete::execute(&store, args.0),
            Command::Exec(args) => exec::execute(&store, args.0),
            Command::Run(args) => run::execute(&store, args.0, self.global.systemd_cgroup),
            Command::List(args) => list::execute(&store, args.0),
            Command::Spec(args) => spec::execute(args.0),
            Command::Update(args) => update::execute(&store, args.0),
            Command::Pause(args) => pause::execute(&store, args.0),
            Command::Resume(args) => resume::execute(&store, args.0),
            Command::Events(args) => events::execute(&store, args.0),
            Command::Ps(args) => ps::execute(&store, args.0),
            Command::Features(args) => {
                features::execute(args.0, self.global.criu.as_deref(), store.root())
            }
            Command::Check(args) => check::execute(args.0),
            Command::Checkpoint(args) => checkpoint::execute(&store, args.0, self.global.criu),
            Command::Restore(args) => {
                restore::execute(&store, args.0, self.global.criu, self.global.systemd_cgroup)
            }
            Command::CriuHook(args) => restore::execute_hook(args.0),
        }
    }
}

/// `--version`, runc's lines: version, commit, spec (the three go-runc's Version() reads,
/// first and in this order), then the libseccomp berth was linked with.
fn print_version() {
    let version = env!("CARGO_PKG_VERSION");
    let commit = option_env!("BERTH_COMMIT").map_or_else(|| format!("v{version}"), str::to_owned);
    println!("berth version {version}\ncommit: {commit}\nspec: {}", berth::OCI_VERSION);
    if let Some(v) = berth::seccomp::library_version() {
        println!("libseccomp: {v}");
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
