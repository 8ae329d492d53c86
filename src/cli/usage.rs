//! Bad command lines: one line naming the command and what is wrong, with runc's exit code.
//!
//! clap's own report is five lines (message, tip, usage, a pointer to --help) and exit code 2;
//! callers such as containerd and conmon keep the last line of stderr, and runc exits 1 for a
//! bad flag or argument and 3 for an unknown command.

use clap::error::ErrorKind;

/// runc's exit code for a command it does not know ("No help topic for …").
const UNKNOWN_COMMAND: i32 = 3;
/// runc's exit code for a bad flag or argument.
const BAD_USAGE: i32 = 1;

/// Prints `err` (help or version text on stdout, a usage error as one line on stderr) and
/// returns the exit code. `command` is the clap command parsed, to name the subcommand given.
pub fn report(err: &clap::Error, command: &clap::Command) -> i32 {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Output errors (a closed pipe after `berth --help | head`) are not worth a line.
            let _ = err.print();
            0
        }
        kind => {
            let args: Vec<String> = std::env::args().skip(1).collect();
            let name = subcommand_given(command, &args);
            eprintln!("{}", one_line(&err.render().to_string(), name));
            if kind == ErrorKind::InvalidSubcommand {
                UNKNOWN_COMMAND
            } else {
                BAD_USAGE
            }
        }
    }
}

/// `berth kill: unexpected argument '-9' found (see `berth kill --help`)`: clap's first
/// paragraph on one line without "error: ", naming the subcommand when one was given.
fn one_line(rendered: &str, subcommand: Option<&str>) -> String {
    // The first paragraph: "the following required arguments were not provided:" lists
    // them on indented lines below.
    let paragraph: Vec<&str> =
        rendered.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
    let first = paragraph.join(" ");
    let message = first.strip_prefix("error: ").unwrap_or(&first);
    let command = match subcommand {
        Some(name) => format!("berth {name}"),
        None => "berth".to_owned(),
    };
    format!("{command}: {message} (see `{command} --help`)")
}

/// The first argument that names a subcommand of `command` (clap's error does not say which
/// one it was parsing).
fn subcommand_given<'a>(command: &'a clap::Command, args: &[String]) -> Option<&'a str> {
    args.iter().find_map(|arg| {
        command.get_subcommands().map(clap::Command::get_name).find(|name| name == arg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_message_and_names_the_command() {
        let rendered = "error: unexpected argument '-9' found\n\n  tip: to pass '-9' as a \
                        value, use '-- -9'\n\nUsage: berth kill [OPTIONS] <ID> [SIGNAL]\n";
        assert_eq!(
            one_line(rendered, Some("kill")),
            "berth kill: unexpected argument '-9' found (see `berth kill --help`)"
        );
        assert_eq!(one_line("error: bad\n", None), "berth: bad (see `berth --help`)");
        let missing = "error: the following required arguments were not provided:\n  <ID>\n\n\
                       Usage: berth create <ID>\n";
        assert_eq!(
            one_line(missing, Some("create")),
            "berth create: the following required arguments were not provided: <ID> \
             (see `berth create --help`)"
        );
    }

    #[test]
    fn the_subcommand_is_the_first_argument_naming_one() {
        let cli = clap::Command::new("berth")
            .subcommand(clap::Command::new("list"))
            .subcommand(clap::Command::new("kill"));
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let given = subcommand_given(&cli, &args(&["--root", "/r", "kill", "list"]));
        assert_eq!(given, Some("kill"));
        assert_eq!(subcommand_given(&cli, &args(&["lsit"])), None);
    }
}
