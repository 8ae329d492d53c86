//! The `berth` binary: parse, set up logging, run, map errors to one line and an exit code.

mod cli;

use berth::logging::{self, Level};

fn main() {
    let cli = cli::Cli::parse_args();
    // Before berth opens anything: its own descriptors must not fall into the passed range.
    if let Err(err) = berth::sys::process::fill_fd_gaps(3, cli.preserve_fds()) {
        eprintln!("berth: --preserve-fds: {}", berth::error::one_line(&err));
        std::process::exit(1);
    }
    if let Err(err) = cli.init_logging() {
        eprintln!("berth: opening log: {err}");
        std::process::exit(1);
    }
    let command = cli.command_name();
    let code = match cli.run() {
        Ok(code) => code,
        Err(err) => {
            let msg = berth::error::one_line(&err);
            if logging::has_log_file() {
                logging::log(Level::Error, &msg);
            }
            eprintln!("berth: {msg}");
            // runc's exec exits 255 for every failure of its own (the program's own status
            // passes through on success); callers tell 126/127 apart by the error's words.
            if command == "exec" {
                255
            } else {
                err.exit_code()
            }
        }
    };
    berth::trace::write_trace(command);
    std::process::exit(code);
}
