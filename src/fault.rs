//! Test-only fault injection: named points on the setup path of `create` (the runtime's
//! phases and each init step) that a test can make fail, pause, or report.
//!
//! Compiled in only with the cargo feature `fault-injection`; without it [`point`] is an
//! inlined `Ok(())` and no environment variable is read, so a release build that real
//! callers use cannot trip it. With the feature, three variables drive it:
//! - `BERTH_FAULT_TRACE=1`: every point reached writes `berth fault point: NAME` (a runtime
//!   phase) or `berth fault step: NAME` (an init step) to stderr, so a test can ask the
//!   binary which points a config passes through;
//! - `BERTH_FAULT_FAIL=NAME`: the point NAME returns [`Injected`];
//! - `BERTH_FAULT_PAUSE=NAME`: at NAME the process writes `berth fault paused: NAME` to
//!   stderr and sleeps until killed (a test SIGKILLs the runtime there to simulate a crash).

/// The error a failing point returns.
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

/// A runtime phase named `name`: fails, pauses or reports as the test asked.
#[inline(always)]
pub fn point(name: &'static str) -> Result<(), Injected> {
    reach("point", name).map_err(|()| Injected { point: Some(name) })
}

/// The start of the init step `name` (the step error names it).
#[inline(always)]
pub fn step(name: &'static str) -> Result<(), Injected> {
    reach("step", name).map_err(|()| Injected { point: None })
}

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
}
