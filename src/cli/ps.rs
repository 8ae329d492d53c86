//! `berth ps`: the processes of a container, as runc shows them (`ps` output filtered to
//! the container's pids, or a JSON array of pids).

use std::process::Command;

use berth::state::StateStore;
use berth::Error;
use clap::ValueEnum;

/// Flags of `ps`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: PsFormat,
    /// Container id.
    pub id: String,
    /// Options for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PsFormat {
    // ps(1) output for the container's processes.
    Table,
    // A JSON array of pids.
    Json,
}

pub fn execute(store: &StateStore, args: Args) -> Result<i32, Error> {
    let pids = berth::container::pids(store, &args.id)?;
    if let PsFormat::Json = args.format {
        println!("{}", serde_json::to_string(&pids).map_err(|e| Error::Usage(e.to_string()))?);
        return Ok(0);
    }
    let ps_args = if args.ps_args.is_empty() { vec!["-ef".to_owned()] } else { args.ps_args };
    let output = Command::new("ps").args(&ps_args).output().map_err(|source| Error::Io {
        what: "running",
        path: "ps".into(),
        source,
    })?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(Error::Usage(format!(
            "ps {}: {}",
            ps_args.join(" "),
            err.trim().replace('\n', " ")
        )));
    }
    print!("{}", filter(&String::from_utf8_lossy(&output.stdout), &pids)?);
    Ok(0)
}

/// The header of `table` and the lines whose PID column holds one of `pids`.
fn filter(table: &str, pids: &[i32]) -> Result<String, Error> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Usage("the ps output has no PID column".into()))?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line.split_whitespace().nth(column).and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_header_and_the_containers_lines() {
        let table = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:01 ? 00:00:00 sleep 10\n";
        assert_eq!(
            filter(table, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:01 ? 00:00:00 sleep 10\n"
        );
        assert!(filter("USER COMMAND\n", &[1]).is_err());
    }
}
