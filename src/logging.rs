//! Logging: records to `--log` (or stderr), as logrus-style text or as runc's JSON lines
//! `{"level":"error","msg":"…","time":"…"}`, which containerd and podman read.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use crate::state::now_rfc3339;

/// The record format of `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `time="…" level=error msg="…"`.
    Text,
    /// One JSON object a line.
    Json,
}

/// A record's level, lowercase on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A failure.
    Error,
    /// Something unusual that did not fail.
    Warning,
    /// Shown only with `--debug`.
    Debug,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Debug => "debug",
        }
    }
}

struct Logger {
    format: Format,
    file: Option<File>,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging once: `path` is `--log` (append), else records go to stderr.
pub fn init(path: Option<&Path>, format: Format, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(path) => Some(File::options().create(true).append(true).open(path)?),
        None => None,
    };
    let _ = LOGGER.set(Logger { format, file, debug });
    Ok(())
}

/// Whether `--log` names a file (errors then go both there and to stderr).
pub fn has_log_file() -> bool {
    LOGGER.get().is_some_and(|l| l.file.is_some())
}

/// Writes one record (debug records only with `--debug`).
pub fn log(level: Level, msg: &str) {
    let Some(logger) = LOGGER.get() else { return };
    if level == Level::Debug && !logger.debug {
        return;
    }
    let line = format_record(logger.format, level, msg, &now_rfc3339());
    let _ = match &logger.file {
        Some(file) => (&*file).write_all(line.as_bytes()),
        None => std::io::stderr().write_all(line.as_bytes()),
    };
}

fn format_record(format: Format, level: Level, msg: &str, time: &str) -> String {
    match format {
        Format::Json => {
            let record = serde_json::json!({ "level": level.as_str(), "msg": msg, "time": time });
            format!("{record}\n")
        }
        Format::Text => format!("time={time:?} level={} msg={msg:?}\n", level.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_records_are_runcs_shape() {
        let line = format_record(Format::Json, Level::Error, "a \"b\"", "2026-01-01T00:00:00Z");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "a \"b\"");
        assert_eq!(v["time"], "2026-01-01T00:00:00Z");
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
    }

    #[test]
    fn text_records_quote_the_message() {
        let line = format_record(Format::Text, Level::Debug, "x y", "T");
        assert_eq!(line, "time=\"T\" level=debug msg=\"x y\"\n");
    }
}
