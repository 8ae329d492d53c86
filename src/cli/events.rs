//! `berth events`: runc's JSON records, one per line.

use std::io::Write;
use std::time::Duration;

use berth::state::StateStore;
use berth::Error;

/// Flags of `events`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one stats record and exit.
    #[arg(long)]
    pub stats: bool,
    /// Time between stats records, e.g. 5s, 500ms, 1m.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Container id.
    pub id: String,
}

/// A Go-style duration: a number followed by ns, us, ms, s, m or h.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration such as 5s"))?;
    let seconds = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?}")),
    };
    let d = Duration::try_from_secs_f64(number * seconds).map_err(|e| format!("{text:?}: {e}"))?;
    if d.is_zero() {
        return Err("the interval must be more than 0".into());
    }
    Ok(d)
}

pub fn execute(store: &StateStore, args: Args) -> Result<i32, Error> {
    let stdout = std::io::stdout();
    // Each record is ONE line of JSON, `--stats` included: containerd and other callers
    // read the stream line by line. A reader that goes away ends the stream; that is not
    // an error.
    let print = |event: &berth::container::Event| {
        let Ok(line) = serde_json::to_string(event) else { return false };
        let mut out = stdout.lock();
        writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
    };
    if args.stats {
        print(&berth::container::stats(store, &args.id)?);
        return Ok(0);
    }
    berth::container::events(store, &args.id, args.interval, &mut |event| print(&event))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
