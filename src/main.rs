//! The `berth` binary: parse, set up logging, run, map errors to one line and an exit code.
//!
//! No Rust runtime start-up (`no_main`): glibc calls `main` below, which does only the part
//! of it berth needs ([`berth::sys::process::start_up`]); the arguments still reach
//! `std::env::args` (on glibc, std reads them at load time).

// The test harness brings its own `main` for the unit tests of this binary.
#![cfg_attr(not(test), no_main)]

mod cli;

use berth::logging::{self, Level};

/// The C entry point glibc calls.
#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    if let Err(err) = berth::sys::process::start_up() {
        eprintln!("berth: starting: {}", berth::error::one_line(&err));
        std::process::exit(1);
    }
    run()
}

/// Parses the command line, runs the command and exits with its code.
#[cfg_attr(test, allow(dead_code))]
fn run() -> ! {
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
