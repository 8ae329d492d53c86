//! Cause chains of errors as lines: each message of an error and its sources, bounded in
//! length. A leaf: every layer (the init reporting across the fork, the top-level error)
//! uses it, and it imports nothing of berth.

use std::borrow::Cow;
use std::error::Error as StdError;

/// The most characters one message of an error chain keeps: a config value, a hook's
/// stderr or a list echoed in an error must not make a line of hundreds of kilobytes.
pub const MAX_MESSAGE: usize = 400;

/// `text` if it has at most `max` characters; otherwise its start and its end (where serde
/// and the kernel put the position and the cause) around a note of how many were left out.
pub fn bounded(text: &str, max: usize) -> Cow<'_, str> {
    let count = text.chars().count();
    if count <= max {
        return Cow::Borrowed(text);
    }
    let (head, tail) = (max * 3 / 4, max / 4);
    let left_out = count - head - tail;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    Cow::Owned(format!("{start}… [{left_out} characters left out] …{end}"))
}

/// The messages of `err` and each of its sources, outermost first, with empty ones and
/// messages repeated verbatim by their wrapper dropped, each at most [`MAX_MESSAGE`]
/// characters (the one place error texts are bounded).
pub fn chain(err: &(dyn StdError + 'static)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut full: Option<String> = None;
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let msg = e.to_string();
        let repeated = full.as_ref().is_some_and(|prev| prev.ends_with(&msg));
        if !msg.is_empty() && !repeated {
            out.push(bounded(&msg, MAX_MESSAGE).into_owned());
            full = Some(msg);
        }
        cur = e.source();
    }
    out
}

/// `err` and all its causes on one line: `a: b: c`.
pub fn one_line(err: &(dyn StdError + 'static)) -> String {
    chain(err).join(": ").replace('\n', " ")
}
