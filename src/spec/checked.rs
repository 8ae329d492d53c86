//! config.json as `berth check` reads it: every field that does not parse is reported and left
//! out, so the rest can still be checked (serde stops at the first).
//!
//! Leaving out an array element shifts the ones after it; problems found later are mapped
//! back to the file's own indices, and problems about a field already reported are dropped.

use std::path::Path;

use oci_spec::runtime::Spec;
use serde::Deserialize;
use serde_json::Value;

use super::{json_pointer, load, locate, SpecError};

/// At most this many fields are reported as unparsable (a file of garbage has no end of them).
const MAX_UNPARSABLE: usize = 64;

/// config.json read for `check`.
pub(super) struct Checked {
    /// The spec without the fields that did not parse; None when one could not be named.
    pub spec: Option<Spec>,
    /// The fields that did not parse, by the file's own config paths.
    pub unparsable: Vec<SpecError>,
    /// Capability names nobody knows, dropped (warnings: the spec says to ignore them).
    pub dropped: Vec<SpecError>,
    /// Config paths left out (the file's own), to drop later problems about them.
    removed: Vec<String>,
    /// Array elements left out: the array's config path and the element's index in the file.
    gaps: Vec<(String, usize)>,
}

/// Reads `<bundle>/config.json` for `check`; Err only when there is no JSON tree to look at.
pub(super) fn read(bundle: &Path) -> Result<Checked, SpecError> {
    let (path, bytes) = load::read_config(bundle)?;
    // What `create` reports: check's line for the same field must be that very error.
    let mut first = load::parse(&path, &bytes).err();
    let mut tree: Value = match serde_json::from_slice(&bytes) {
        Ok(tree) => tree,
        Err(e) => {
            return Err(first.unwrap_or(SpecError::Parse {
                path,
                message: e.to_string(),
                field: None,
            }))
        }
    };
    let dropped = load::drop_unknown_capabilities(&mut tree);
    let mut checked = Checked {
        spec: None,
        unparsable: Vec::new(),
        dropped: Vec::new(),
        removed: Vec::new(),
        gaps: dropped.iter().filter_map(|(at, _)| split_index(at)).collect(),
    };
    checked.dropped =
        dropped.into_iter().map(|(path, reason)| SpecError::Invalid { path, reason }).collect();
    while checked.unparsable.len() < MAX_UNPARSABLE {
        let err = match Spec::deserialize(&tree) {
            Ok(spec) => {
                checked.spec = Some(spec);
                break;
            }
            Err(err) => err,
        };
        let found = locate::locate_with_reason(&tree);
        let Some(found) = found.filter(|f| remove(&mut tree, &f.path)) else {
            // Nothing to name: the whole-file message, and no spec to check further.
            let message = err.to_string();
            checked.unparsable.push(first.take().unwrap_or(SpecError::Parse {
                path,
                message,
                field: None,
            }));
            break;
        };
        checked.record(found, &mut first, &path);
    }
    Ok(checked)
}

impl Checked {
    /// Records the field `found` (named in the pruned tree) as left out, and reports it unless
    /// it lies inside one already reported; as `first` (create's error) when that names it.
    fn record(&mut self, found: locate::Unparsable, first: &mut Option<SpecError>, file: &Path) {
        let original = self.original(&found.path);
        self.gaps.extend(split_index(&original));
        // Once `a[6].type` is out, `a[6]` lacks a field: the same problem, not reported twice.
        let reported = self.removed.iter().any(|r| inside(r, &original));
        self.removed.push(original.clone());
        if reported {
            return;
        }
        let same_as_create =
            matches!(first, Some(SpecError::Parse { field: Some(f), .. }) if *f == original);
        let problem = match first.take() {
            Some(e) if same_as_create => e,
            other => {
                *first = other;
                let message = format!("{original}: {}", found.reason);
                SpecError::Parse { path: file.to_path_buf(), message, field: Some(original) }
            }
        };
        self.unparsable.push(problem);
    }

    /// `problem` with its config path as the file has it; None when it is about a field
    /// already reported as unparsable (or inside one).
    pub fn map(&self, problem: SpecError) -> Option<SpecError> {
        let SpecError::Invalid { path, reason } = problem else { return Some(problem) };
        let path = self.original(&path);
        if self.removed.iter().any(|r| path == *r || inside(&path, r)) {
            return None;
        }
        Some(SpecError::Invalid { path, reason })
    }

    /// The config path in the file of `path`, a path in the tree with elements left out.
    fn original(&self, path: &str) -> String {
        let mut out = String::new();
        let mut rest = path;
        while let Some((open, close)) = rest.find('[').zip(rest.find(']')) {
            let Ok(mut index) = rest[open + 1..close].parse::<usize>() else { break };
            out.push_str(&rest[..open]);
            let mut gone: Vec<usize> =
                self.gaps.iter().filter(|(a, _)| *a == out).map(|(_, i)| *i).collect();
            gone.sort_unstable();
            for g in gone {
                if g <= index {
                    index += 1;
                }
            }
            out.push_str(&format!("[{index}]"));
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Whether config path `inner` lies strictly inside `outer` (`a[6].type` inside `a[6]`).
fn inside(inner: &str, outer: &str) -> bool {
    inner.len() > outer.len()
        && inner.starts_with(outer)
        && inner[outer.len()..].starts_with(['.', '['])
}

/// `linux.namespaces[5]` → (`linux.namespaces`, 5); None for a path not ending in an index.
fn split_index(path: &str) -> Option<(String, usize)> {
    let open = path.strip_suffix(']')?.rfind('[')?;
    let index = path[open + 1..path.len() - 1].parse().ok()?;
    Some((path[..open].to_owned(), index))
}

/// Removes the field at config path `path` from `tree`; whether there was one.
fn remove(tree: &mut Value, path: &str) -> bool {
    let pointer = json_pointer(path);
    let Some((parent, last)) = pointer.rsplit_once('/') else { return false };
    let last = last.replace("~1", "/").replace("~0", "~");
    match tree.pointer_mut(parent) {
        Some(Value::Array(items)) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => {
                items.remove(i);
                true
            }
            _ => false,
        },
        Some(Value::Object(fields)) => fields.remove(&last).is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(gaps: &[(&str, usize)], removed: &[&str]) -> Checked {
        Checked {
            spec: None,
            unparsable: Vec::new(),
            dropped: Vec::new(),
            removed: removed.iter().map(|r| r.to_string()).collect(),
            gaps: gaps.iter().map(|(a, i)| (a.to_string(), *i)).collect(),
        }
    }

    #[test]
    fn indices_after_a_removed_element_map_back() {
        let c = checked(&[("mounts", 1), ("mounts", 3), ("linux.namespaces", 0)], &[]);
        assert_eq!(c.original("mounts[0].type"), "mounts[0].type");
        assert_eq!(c.original("mounts[1].type"), "mounts[2].type");
        assert_eq!(c.original("mounts[2]"), "mounts[4]");
        assert_eq!(c.original("linux.namespaces[0].path"), "linux.namespaces[1].path");
        assert_eq!(c.original("linux.sysctl"), "linux.sysctl");
    }

    #[test]
    fn problems_inside_a_reported_field_are_dropped() {
        let c = checked(&[], &["process.user.uid", "mounts[2]"]);
        let invalid = |p: &str| SpecError::Invalid { path: p.into(), reason: "r".into() };
        assert!(c.map(invalid("process.user.uid")).is_none());
        assert!(c.map(invalid("mounts[2].destination")).is_none());
        assert!(c.map(invalid("mounts[20]")).is_some());
        assert!(c.map(invalid("process.user.uidx")).is_some());
    }

    #[test]
    fn every_type_error_is_found() {
        let mut tree: Value = serde_json::from_str(&super::super::default_spec(false)).unwrap();
        tree["linux"]["namespaces"][1] = "x".into();
        tree["linux"]["namespaces"][3]["type"] = "foo".into();
        tree["process"]["user"]["uid"] = (-1).into();
        tree["process"]["capabilities"]["bounding"] = serde_json::json!(["CAP_FOO", 5]);
        let dir = crate::state::tempdir::TempDir::new("checked");
        std::fs::write(dir.path().join("config.json"), tree.to_string()).unwrap();
        let c = read(dir.path()).unwrap();
        let paths: Vec<String> = c
            .unparsable
            .iter()
            .map(|e| e.json_pointer().unwrap_or_else(|| e.to_string()))
            .collect();
        let want = [
            "/process/capabilities/bounding/1",
            "/process/user/uid",
            "/linux/namespaces/1",
            "/linux/namespaces/3/type",
        ];
        assert_eq!(paths, want);
        assert_eq!(c.dropped.len(), 1);
        assert_eq!(c.dropped[0].json_pointer().unwrap(), "/process/capabilities/bounding/0");
        assert!(c.spec.is_some());
    }
}
