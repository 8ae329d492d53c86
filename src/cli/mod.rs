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

use clap::parser::ValueSource;
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
    /// Rootless mode: true, false or auto (auto: when not the host's root). Only before the
    /// command: `spec --rootless` is a flag of its own.
    #[arg(long, hide = true, value_name = "true|false|auto")]
    rootless: Option<String>,
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

/// Flags every command accepts, before the command name (as with runc) and, as berth always
/// has, after it too. Hidden from the generated lists: [`GLOBAL_OPTIONS`] describes them
/// once. Not clap `global` flags: clap copies those into each of the twenty commands on
/// every invocation (callgrind: ~180 K instructions of `state`'s ~610 K); [`Lazy`] adds them
/// to the command being parsed only, and [`GlobalOpts::given_after`] takes their values.
#[derive(Debug, clap::Args)]
pub struct GlobalOpts {
    /// Directory for the containers' state [default: /run/berth, or $XDG_RUNTIME_DIR/berth
    /// for an unprivileged user].
    #[arg(long, hide = true)]
    root: Option<PathBuf>,
    /// Append log records to this file (errors also go to stderr).
    #[arg(long, hide = true)]
    log: Option<PathBuf>,
    /// Log record format.
    #[arg(long, hide = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Also log debug records.
    #[arg(long, hide = true)]
    debug: bool,
    /// Manage cgroups through systemd: the container gets a transient unit (linux.cgroupsPath "slice:prefix:name").
    #[arg(long, hide = true)]
    systemd_cgroup: bool,
    /// Path to criu for checkpoint and restore [default: criu in PATH].
    #[arg(long, hide = true, value_name = "PATH")]
    criu: Option<PathBuf>,
}

impl GlobalOpts {
    /// Takes the flags given after the command name (`matches` are the command's), over
    /// those given before it, as clap's `global` flags did: the last one given wins.
    fn given_after(&mut self, matches: &clap::ArgMatches) {
        let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        let path = |id: &str| matches.get_one::<PathBuf>(id).cloned();
        if given("root") {
            self.root = path("root");
        }
        if given("log") {
            self.log = path("log");
        }
        if given("criu") {
            self.criu = path("criu");
        }
        if let Some(format) =
            matches.get_one::<LogFormat>("log_format").filter(|_| given("log_format"))
        {
            self.log_format = *format;
        }
        self.debug |= given("debug");
        self.systemd_cgroup |= given("systemd_cgroup");
    }
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
        let mut command = <Cli as clap::CommandFactory>::command();
        match Cli::parse_from_args(&mut command, std::env::args_os()) {
            Ok(cli) => {
                // clap's command tree is freed by nobody: the process is short-lived, and
                // dropping it was about a tenth of the instructions of `state` and `exec`
                // (callgrind: ~110 K of ~1 M), all free(3) calls for memory the exit returns.
                std::mem::forget(command);
                cli
            }
            Err(err) => std::process::exit(usage::report(&err, &command)),
        }
    }

    /// Parses `args` (the program name first) with `command`, the global flags given after
    /// the command name taken over those given before it.
    fn parse_from_args(
        command: &mut clap::Command,
        args: impl IntoIterator<Item = std::ffi::OsString>,
    ) -> Result<Self, clap::Error> {
        let matches = command.try_get_matches_from_mut(args)?;
        let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
            .map(|mut cli| {
                if let Some((_, sub)) = matches.subcommand() {
                    cli.global.given_after(sub);
                }
                cli
            })
            .map_err(|err| err.format(command));
        // Not dropped either: see parse_args.
        std::mem::forget(matches);
        cli
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
        let mode = self.rootless.as_deref().map(berth::rootless::Mode::parse);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// `berth ARGS…` parsed as `parse_args` does.
    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut command = <Cli as clap::CommandFactory>::command();
        let args = std::iter::once("berth").chain(args.iter().copied()).map(Into::into);
        Cli::parse_from_args(&mut command, args)
    }

    #[test]
    fn global_flags_are_taken_before_and_after_the_command() {
        let before = parse(&["--root", "/a", "--debug", "state", "id"]).unwrap();
        assert_eq!(before.global.root.as_deref(), Some(Path::new("/a")));
        assert!(before.global.debug && !before.global.systemd_cgroup);
        let after = parse(&["state", "--root", "/b", "--systemd-cgroup", "id"]).unwrap();
        assert_eq!(after.global.root.as_deref(), Some(Path::new("/b")));
        assert!(after.global.systemd_cgroup && !after.global.debug);
        let criu = parse(&["checkpoint", "--criu", "/usr/local/sbin/criu", "id"]).unwrap();
        assert_eq!(criu.global.criu.as_deref(), Some(Path::new("/usr/local/sbin/criu")));
    }

    #[test]
    fn a_global_flag_after_the_command_wins_over_the_same_flag_before_it() {
        let cli = parse(&["--root", "/a", "--log", "/l1", "kill", "--root", "/b", "id"]).unwrap();
        assert_eq!(cli.global.root.as_deref(), Some(Path::new("/b")));
        assert_eq!(cli.global.log.as_deref(), Some(Path::new("/l1")));
    }

    #[test]
    fn log_format_keeps_the_value_given_wherever_it_was_given() {
        let format = |args: &[&str]| parse(args).unwrap().global.log_format;
        assert!(matches!(format(&["state", "id"]), LogFormat::Text));
        assert!(matches!(format(&["--log-format", "json", "state", "id"]), LogFormat::Json));
        assert!(matches!(format(&["state", "--log-format", "json", "id"]), LogFormat::Json));
        // The default of the command's copy does not undo a value given before it.
        assert!(matches!(format(&["--log-format", "json", "delete", "id"]), LogFormat::Json));
        assert!(parse(&["state", "--log-format", "yaml", "id"]).is_err());
    }

    #[test]
    fn rootless_is_a_flag_before_the_command_and_spec_keeps_its_own() {
        let cli = parse(&["--rootless", "true", "state", "id"]).unwrap();
        assert_eq!(cli.rootless.as_deref(), Some("true"));
        assert!(parse(&["state", "--rootless", "true", "id"]).is_err());
        let spec = parse(&["spec", "--rootless"]).unwrap();
        assert!(spec.rootless.is_none());
        assert!(matches!(spec.command, Some(Command::Spec(ref a)) if a.rootless));
    }
}
