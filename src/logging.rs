//! Logging: records to `--log` (or stderr), as logrus-style text or as runc's JSON lines
//! `{"level":"error","msg":"…","time":"…"}`, which containerd and podman read.
//!
//! `--debug` or `BERTH_TRACE=1` also turns on [`crate::trace`], whose record this module
//! writes ([`debug_fields`]).

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

/// Sets up logging once: `path` is `--log` (append), else records go to stderr. [`crate::trace`]
/// is on with `debug` or when `BERTH_TRACE=1`.
pub fn init(path: Option<&Path>, format: Format, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(path) => Some(File::options().create(true).append(true).open(path)?),
        None => None,
    };
    let _ = LOGGER.set(Logger { format, file, debug });
    if debug || std::env::var_os("BERTH_TRACE").is_some_and(|v| v == "1") {
        crate::trace::enable();
    }
    Ok(())
}

/// Writes one debug record `msg` with structured `fields` (an object) beside it, with or
/// without `--debug` (the trace record: asking for it was the choice).
pub fn debug_fields(msg: &str, fields: serde_json::Value) {
    let Some(logger) = LOGGER.get() else { return };
    write(logger, &format_fields(logger.format, msg, &now_rfc3339(), fields));
}

fn write(logger: &Logger, line: &str) {
    let _ = match &logger.file {
        Some(file) => (&*file).write_all(line.as_bytes()),
        None => std::io::stderr().write_all(line.as_bytes()),
    };
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
    write(logger, &format_record(logger.format, level, msg, &now_rfc3339()));
}

/// A debug record with structured `fields` (an object) beside `msg`.
fn format_fields(format: Format, msg: &str, time: &str, fields: serde_json::Value) -> String {
    let mut record =
        serde_json::json!({ "level": Level::Debug.as_str(), "msg": msg, "time": time });
    match format {
        Format::Json => {
            if let (Some(record), serde_json::Value::Object(fields)) =
                (record.as_object_mut(), fields)
            {
                record.extend(fields);
            }
            format!("{record}\n")
        }
        Format::Text => {
            let mut line = format_record(format, Level::Debug, msg, time);
            line.pop();
            if let serde_json::Value::Object(fields) = fields {
                for (key, value) in fields {
                    line.push_str(&format!(" {key}={value}"));
                }
            }
            line.push('\n');
            line
        }
    }
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
    fn trace_records_carry_their_fields() {
        let fields =
            serde_json::json!({ "command": "create", "phases": [{ "name": "clone", "us": 7 }] });
        let line = format_fields(Format::Json, "trace", "T", fields.clone());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!((v["level"].as_str(), v["msg"].as_str()), (Some("debug"), Some("trace")));
        assert_eq!(v["phases"][0]["us"], 7);
        let text = format_fields(Format::Text, "trace", "T", fields);
        assert!(
            text.starts_with("time=\"T\" level=debug msg=\"trace\" command=\"create\""),
            "{text}"
        );
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
    }

    #[test]
    fn text_records_quote_the_message() {
        let line = format_record(Format::Text, Level::Debug, "x y", "T");
        assert_eq!(line, "time=\"T\" level=debug msg=\"x y\"\n");
    }
}
