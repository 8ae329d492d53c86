//! Tracing: one set of named points on the path of `create` (and `exec`, `run`, `checkpoint`,
//! `restore`), each both a traced phase and, in a test build, a fault-injection point.
//!
//! **Phases** (`--debug` or `BERTH_TRACE=1`): [`phase`] ends the phase that began at the
//! previous point and names it; the init's step durations cross in the sync protocol's
//! `Ready` ([`init_steps`]); [`write_trace`] writes them all as one debug record through
//! [`crate::logging`]. When tracing is off a point costs one relaxed load.
//!
//! **Faults** (cargo feature `fault-injection` only): every [`phase`] and every init [`step`]
//! is also a point a test can make fail, pause, or report. Without the feature that part is
//! an inlined `Ok(())` and no environment variable is read, so a release build that real
//! callers use cannot trip it. With the feature, three variables drive it:
//! - `BERTH_FAULT_TRACE=1`: every point reached writes `berth fault point: NAME` (a runtime
//!   phase) or `berth fault step: NAME` (an init step) to stderr, so a test can ask the
//!   binary which points a config passes through;
//! - `BERTH_FAULT_FAIL=NAME`: the point NAME returns [`Injected`];
//! - `BERTH_FAULT_PAUSE=NAME`: at NAME the process writes `berth fault paused: NAME` to
//!   stderr and sleeps until killed (a test SIGKILLs the runtime there to simulate a crash).
//!
//! [`mark`] ends a phase of `run` after the container exists (start, wait, delete): traced,
//! but no fault point, since `create` alone never reaches it and failing there would leave
//! the started container behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Whether phases are traced; set once by [`enable`].
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

/// Starts tracing phases from now on (`--debug` or `BERTH_TRACE=1`; see
/// [`crate::logging::init`]).
pub fn enable() {
    let now = Instant::now();
    *TRACE.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(Trace { start: now, last: now, phases: Vec::new(), init_steps: Vec::new() });
    TRACING.store(true, Ordering::Relaxed);
}

/// Whether phases are traced (`--debug` or `BERTH_TRACE=1`).
pub fn tracing() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// The runtime reached the point `name`: ends the phase that began at the previous point
/// (traced under that name), and is the fault point `name` (fails, pauses or reports as a
/// test asked; always `Ok` without the `fault-injection` feature).
#[inline(always)]
pub fn phase(name: &'static str) -> Result<(), Injected> {
    mark(name);
    reach("point", name).map_err(|()| Injected { point: Some(name) })
}

/// The start of the init step `name`: a fault point only (the init times its steps itself
/// and reports them in `Ready`; the step error names the step).
#[inline(always)]
pub fn step(name: &'static str) -> Result<(), Injected> {
    reach("step", name).map_err(|()| Injected { point: None })
}

/// Ends the phase that began at the previous point and names it, without a fault point.
pub fn mark(name: &'static str) {
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
    crate::logging::debug_fields("trace", fields);
}

/// The error a failing fault point returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injected {
    /// The point, when the error has to name it itself (a runtime phase); `None` inside an
    /// init step, whose name the step error already carries.
    point: Option<&'static str>,
}

impl std::fmt::Display for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.point {
            Some(point) => write!(f, "{point}: injected fault"),
            None => f.write_str("injected fault"),
        }
    }
}

impl std::error::Error for Injected {}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
fn reach(_: &'static str, _: &'static str) -> Result<(), ()> {
    Ok(())
}

#[cfg(feature = "fault-injection")]
fn reach(kind: &'static str, name: &'static str) -> Result<(), ()> {
    use std::io::Write;
    let is = |var: &str| std::env::var_os(var).is_some_and(|v| v == name);
    // One write each: the init shares stderr with the runtime, and lines must not interleave.
    if std::env::var_os("BERTH_FAULT_TRACE").is_some() {
        let _ = std::io::stderr().write_all(format!("berth fault {kind}: {name}\n").as_bytes());
    }
    if is("BERTH_FAULT_PAUSE") {
        let _ = std::io::stderr().write_all(format!("berth fault paused: {name}\n").as_bytes());
        loop {
            // SAFETY: pause only waits for a signal; SIGKILL ends the process.
            unsafe { libc::pause() };
        }
    }
    if is("BERTH_FAULT_FAIL") {
        return Err(());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_point_only_where_needed() {
        assert_eq!(Injected { point: Some("a phase") }.to_string(), "a phase: injected fault");
        assert_eq!(Injected { point: None }.to_string(), "injected fault");
    }

    #[test]
    fn phases_and_marks_are_traced_in_order() {
        enable();
        phase("one").unwrap();
        mark("two");
        let trace = TRACE.lock().unwrap().take().unwrap();
        let names: Vec<&str> = trace.phases.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["one", "two"]);
    }
}
