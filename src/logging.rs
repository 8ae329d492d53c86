//! Logging: records to `--log` (or stderr), as logrus-style text or as runc's JSON lines
//! `{"level":"error","msg":"…","time":"…"}`, which containerd and podman read.
//!
//! Tracing (`--debug` or `BERTH_TRACE=1`): the runtime marks the end of each of its phases
//! with [`phase`], the init's step durations cross in the sync protocol's `Ready`, and
//! [`write_trace`] writes them all as one debug record. When off, a mark is one relaxed load.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

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

/// Whether phases are traced; set once by [`init`].
static TRACING: AtomicBool = AtomicBool::new(false);

/// The phases traced so far in this process.
static TRACE: Mutex<Option<Trace>> = Mutex::new(None);

struct Trace {
    start: Instant,
    last: Instant,
    /// The runtime's phases: name, microseconds.
    phases: Vec<(&'static str, u64)>,
    /// The init's steps as it reported them: name, microseconds.
    init_steps: Vec<(String, u64)>,
}

/// Sets up logging once: `path` is `--log` (append), else records go to stderr. Tracing is
/// on with `debug` or when `BERTH_TRACE=1`.
pub fn init(path: Option<&Path>, format: Format, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(path) => Some(File::options().create(true).append(true).open(path)?),
        None => None,
    };
    let _ = LOGGER.set(Logger { format, file, debug });
    if debug || std::env::var_os("BERTH_TRACE").is_some_and(|v| v == "1") {
        let now = Instant::now();
        *TRACE.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Trace { start: now, last: now, phases: Vec::new(), init_steps: Vec::new() });
        TRACING.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// Whether phases are traced (`--debug` or `BERTH_TRACE=1`).
pub fn tracing() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// Ends the phase that began at the previous mark (or when logging was set up) and names it.
pub fn phase(name: &'static str) {
    if !tracing() {
        return;
    }
    let now = Instant::now();
    if let Some(trace) = TRACE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        trace.phases.push((name, micros(now - trace.last)));
        trace.last = now;
    }
}

/// Keeps the init's step durations (microseconds) for the trace record.
pub fn init_steps(steps: Vec<(String, u64)>) {
    if let Some(trace) = TRACE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        trace.init_steps = steps;
    }
}

/// Microseconds, saturating.
pub fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Writes the trace of `command` as one debug record (with or without `--debug`), if tracing.
pub fn write_trace(command: &str) {
    let Some(logger) = LOGGER.get() else { return };
    let Some(trace) = TRACE.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
    let list = |items: Vec<(String, u64)>| -> serde_json::Value {
        items.into_iter().map(|(name, us)| serde_json::json!({ "name": name, "us": us })).collect()
    };
    let phases = trace.phases.iter().map(|(n, us)| (n.to_string(), *us)).collect();
    let fields = serde_json::json!({
        "command": command,
        "total_us": micros(trace.start.elapsed()),
        "phases": list(phases),
        "init_steps": list(trace.init_steps),
    });
    write(logger, &format_fields(logger.format, "trace", &now_rfc3339(), fields));
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
