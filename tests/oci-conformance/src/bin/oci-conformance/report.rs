//! Reports: TAP per runtime with a summary line, and the side-by-side table of several runtimes.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use berth_oci_conformance::tap::{Check, Outcome};

/// Marks the checks a TODO file lists (`name # reason`, or `prefix* # reason`) as known gaps.
pub fn apply_todo(checks: &mut [Check], file: &Path) -> Result<(), String> {
    let text = fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let entries: Vec<(&str, &str)> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(" # "))
        .map(|(n, r)| (n.trim(), r.trim()))
        .collect();
    for c in checks.iter_mut() {
        let hit = entries.iter().find(|(n, _)| match n.strip_suffix('*') {
            Some(prefix) => c.name.starts_with(prefix),
            None => c.name == *n,
        });
        if let Some((_, reason)) = hit {
            c.todo = Some(reason.to_string());
        }
    }
    Ok(())
}

/// Counts of one runtime's results.
#[derive(Default)]
pub struct Summary {
    /// Checks that held.
    pub ok: usize,
    /// Failures that fail the suite.
    pub not_ok: usize,
    /// Failures marked TODO.
    pub todo: usize,
    /// Checks that could not run.
    pub skip: usize,
}

impl Summary {
    /// Counts `checks`.
    pub fn of(checks: &[Check]) -> Self {
        let mut s = Summary::default();
        for c in checks {
            match (&c.outcome, &c.todo) {
                (Outcome::Pass, _) => s.ok += 1,
                (Outcome::Skip(_), _) => s.skip += 1,
                (Outcome::Fail(_), Some(_)) => s.todo += 1,
                (Outcome::Fail(_), None) => s.not_ok += 1,
            }
        }
        s
    }

    /// `ok 120, not ok 0, todo 1, skip 2`.
    pub fn text(&self) -> String {
        format!("ok {}, not ok {}, todo {}, skip {}", self.ok, self.not_ok, self.todo, self.skip)
    }
}

/// The TAP text of one runtime's checks, plan and summary line included.
pub fn tap(runtime: &str, checks: &[Check]) -> String {
    let mut out = String::from("TAP version 13\n");
    for (i, c) in checks.iter().enumerate() {
        out.push_str(&c.line(i + 1));
        out.push('\n');
    }
    out.push_str(&format!("1..{}\n# {runtime}: {}\n", checks.len(), Summary::of(checks).text()));
    out
}

fn cell(c: Option<&Check>) -> &'static str {
    match c.map(|c| (&c.outcome, c.todo.is_some())) {
        None => "-",
        Some((Outcome::Pass, _)) => "ok",
        Some((Outcome::Skip(_), _)) => "skip",
        Some((Outcome::Fail(_), true)) => "todo",
        Some((Outcome::Fail(_), false)) => "FAIL",
    }
}

/// A markdown table: one summary row per runtime, then every check that failed, was skipped or
/// is a TODO for one of them (every check with `all`); `-` marks a check a runtime never reached.
pub fn table(results: &[(String, Vec<Check>)], all: bool) -> String {
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    let mut out =
        format!("| check | {} |\n|---|{}\n", names.join(" | "), "---|".repeat(names.len()));
    let summaries: Vec<String> = results.iter().map(|(_, c)| Summary::of(c).text()).collect();
    out.push_str(&format!("| **summary** | {} |\n", summaries.join(" | ")));
    let by_name: Vec<BTreeMap<&str, &Check>> =
        results.iter().map(|(_, cs)| cs.iter().map(|c| (c.name.as_str(), c)).collect()).collect();
    let mut order: Vec<&str> = Vec::new();
    for (_, cs) in results {
        for c in cs {
            if !order.contains(&c.name.as_str()) {
                order.push(&c.name);
            }
        }
    }
    for name in order {
        let cells: Vec<&str> = by_name.iter().map(|m| cell(m.get(name).copied())).collect();
        if all || cells.iter().any(|c| !matches!(*c, "ok" | "-")) {
            out.push_str(&format!("| {} | {} |\n", name.replace('|', "\\|"), cells.join(" | ")));
        }
    }
    out
}
