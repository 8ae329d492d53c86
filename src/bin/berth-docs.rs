//! `berth-docs <DIR>`: writes berth's man pages (DIR/man8: berth.8 and berth-<command>.8,
//! as runc ships) and shell completions (DIR/completions: berth.bash, _berth for zsh,
//! berth.fish) from the command line's own clap definitions. A binary of its own so that
//! clap_mangen and clap_complete never link into the runtime (`make install` runs it).

// The whole command-line module comes along for its definitions; its handlers stay unused.
#[allow(dead_code)]
#[path = "../cli/mod.rs"]
mod cli;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: berth-docs <DIR>");
        std::process::exit(2);
    };
    if let Err(err) = write_all(Path::new(&dir)) {
        eprintln!("berth-docs: {}: {err}", dir.to_string_lossy());
        std::process::exit(1);
    }
}

/// The examples closing `berth --help`, for berth.8.
const EXAMPLES: &str = "Examples:\n  berth run --bundle /var/lib/mybox mybox\n  \
                        berth --root /run/containerd/berth/k8s.io list";

/// Writes the man pages and the completions under `dir`.
fn write_all(dir: &Path) -> io::Result<()> {
    let mut cmd = cli::Cli::command();
    cmd.build();
    // berth.8 lists the global flags as options (`--help` describes them in a text of its own,
    // which a man page would wrap badly); the pages of the commands do not repeat them.
    let mut cmd = cmd
        .about("A fast, runc-compatible OCI container runtime")
        .after_help(EXAMPLES)
        .mut_args(|arg| arg.hide(false));
    let man = dir.join("man8");
    fs::create_dir_all(&man)?;
    write_page(&man.join("berth.8"), cmd.clone())?;
    // Hidden commands (criu's action script, `criu-hook`) are berth's own plumbing: no page.
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help" && !s.is_hide_set()) {
        // clap takes a name as &'static str; this program writes a page each and ends.
        let name: &'static str = format!("berth-{}", sub.get_name()).leak();
        let mut page = sub.clone().name(name);
        // "Global options: see `berth --help`." points at the man page instead.
        if let Some(after) = sub.get_after_help() {
            page = page.after_help(after.to_string().replace("`berth --help`", "berth(8)"));
        }
        write_page(&man.join(format!("{name}.8")), page)?;
    }
    let completions = dir.join("completions");
    fs::create_dir_all(&completions)?;
    for (shell, file) in
        [(Shell::Bash, "berth.bash"), (Shell::Zsh, "_berth"), (Shell::Fish, "berth.fish")]
    {
        let mut out = BufWriter::new(File::create(completions.join(file))?);
        clap_complete::generate(shell, &mut cmd, "berth", &mut out);
        out.flush()?;
    }
    Ok(())
}

/// Renders one man page of section 8 (system administration, as runc's).
fn write_page(path: &Path, cmd: clap::Command) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    clap_mangen::Man::new(cmd).section("8").render(&mut out)?;
    out.flush()
}
