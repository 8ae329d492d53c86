//! TAP 13 lines: `ok N - name`, `not ok N - name # got X want Y`, `# SKIP` and `# TODO`
//! directives. The probe prints them; the runner parses, renumbers and prints them again.

use std::fmt;

/// How one check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The check held.
    Pass,
    /// The check failed; the text says what was seen and what was expected.
    Fail(String),
    /// The check could not run here (the reason says why); counts as neither.
    Skip(String),
}

/// One named check and its outcome; `todo` marks a known gap that does not fail the suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// Stable name, the same for every runtime (the runner's table is keyed by it).
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
    /// The reason of a `# TODO` directive, when the check is a known gap.
    pub todo: Option<String>,
}

impl Check {
    /// A check that passes when `got == want`, failing with both values otherwise.
    pub fn compare(name: impl Into<String>, got: impl fmt::Debug, want: impl fmt::Debug) -> Self {
        let (got, want) = (format!("{got:?}"), format!("{want:?}"));
        let outcome = if got == want {
            Outcome::Pass
        } else {
            Outcome::Fail(format!("got {got} want {want}"))
        };
        Check { name: name.into(), outcome, todo: None }
    }

    /// A check from a condition, with `detail` explaining a failure.
    pub fn holds(name: impl Into<String>, ok: bool, detail: impl fmt::Display) -> Self {
        let outcome = if ok { Outcome::Pass } else { Outcome::Fail(detail.to_string()) };
        Check { name: name.into(), outcome, todo: None }
    }

    /// A skipped check.
    pub fn skip(name: impl Into<String>, why: impl fmt::Display) -> Self {
        Check { name: name.into(), outcome: Outcome::Skip(why.to_string()), todo: None }
    }

    /// True for a failure that is not marked TODO: this fails the suite.
    pub fn fails_suite(&self) -> bool {
        matches!(self.outcome, Outcome::Fail(_)) && self.todo.is_none()
    }

    /// The TAP line for test number `n`.
    pub fn line(&self, n: usize) -> String {
        let name = one_line(&self.name);
        let mut s = match &self.outcome {
            Outcome::Pass => format!("ok {n} - {name}"),
            Outcome::Fail(why) => format!("not ok {n} - {name} # {}", one_line(why)),
            Outcome::Skip(why) => format!("ok {n} - {name} # SKIP {}", one_line(why)),
        };
        if let Some(why) = &self.todo {
            s.push_str(&format!(" # TODO {}", one_line(why)));
        }
        s
    }

    /// Parses a line printed by `line` (the number is dropped); `None` for other lines.
    pub fn parse(line: &str) -> Option<Check> {
        let (failed, rest) = if let Some(r) = line.strip_prefix("not ok ") {
            (true, r)
        } else {
            (false, line.strip_prefix("ok ")?)
        };
        let rest = rest.split_once(" - ")?.1;
        let (rest, todo) = match rest.split_once(" # TODO ") {
            Some((r, t)) => (r, Some(t.to_string())),
            None => (rest, None),
        };
        let (name, directive) = match rest.split_once(" # ") {
            Some((n, d)) => (n, Some(d)),
            None => (rest, None),
        };
        let outcome = match (failed, directive) {
            (true, d) => Outcome::Fail(d.unwrap_or("").to_string()),
            (false, Some(d)) if d.starts_with("SKIP") => {
                Outcome::Skip(d.trim_start_matches("SKIP").trim().to_string())
            }
            (false, _) => Outcome::Pass,
        };
        Some(Check { name: name.to_string(), outcome, todo })
    }
}

/// Keeps a TAP line one line, and keeps ` # ` out of names and reasons (it starts a directive).
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ").replace(" # ", " #")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_back() {
        let mut todo = Check::holds("a b", false, "got 1 want 2");
        todo.todo = Some("later".into());
        for c in
            [Check::compare("x", 1, 1), Check::compare("y", 1, 2), Check::skip("z", "n/a"), todo]
        {
            assert_eq!(Check::parse(&c.line(7)), Some(c.clone()), "{}", c.line(7));
        }
    }
}
