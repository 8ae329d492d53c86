//! Device access rules: `linux.resources.devices`, then allows for the nodes every container
//! gets, as runc adds them. A container created without rules starts from deny-all (runc's
//! reading, too): otherwise it would inherit the host's access to every device, and with
//! CAP_MKNOD could make and open a node for the host's disks.
//!
//! A node listed in `linux.devices` is created, not allowed: access to it is what
//! `linux.resources.devices` says, as with runc (callers such as containerd and CRI-O add an
//! allow rule beside each node they list). Allowing it here would undo a deny rule the
//! config gives for it.

use std::collections::BTreeMap;

use oci_spec::runtime::LinuxResources;

use super::values::{self, InvalidValue};

/// One rule, in the terms of the v1 `devices.allow`/`devices.deny` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    /// Where the rule came from, for errors.
    pub config: String,
    /// Allow (true) or deny.
    pub allow: bool,
    /// `a` (all), `b` or `c`.
    pub typ: char,
    /// Major number; `None` is any.
    pub major: Option<i64>,
    /// Minor number; `None` is any.
    pub minor: Option<i64>,
    /// Some of `r`, `w`, `m`.
    pub access: String,
}

impl DeviceRule {
    /// The rule as a line for devices.allow / devices.deny: `c 1:3 rwm`.
    pub fn v1_line(&self) -> String {
        let n = |v: Option<i64>| v.map_or("*".to_owned(), |v| v.to_string());
        if self.typ == 'a' && self.major.is_none() && self.minor.is_none() {
            // "a" alone switches the default (and clears the exceptions), as runc writes it.
            return "a".into();
        }
        format!("{} {}:{} {}", self.typ, n(self.major), n(self.minor), self.access)
    }
}

/// Character devices runc allows in every container with device rules: any mknod, the
/// default nodes, /dev/console, ptys, /dev/ptmx and /dev/net/tun.
const DEFAULT_ALLOWED: &[(char, Option<i64>, Option<i64>, &str)] = &[
    ('c', None, None, "m"),
    ('b', None, None, "m"),
    ('c', Some(1), Some(3), "rwm"),
    ('c', Some(1), Some(5), "rwm"),
    ('c', Some(1), Some(7), "rwm"),
    ('c', Some(1), Some(8), "rwm"),
    ('c', Some(1), Some(9), "rwm"),
    ('c', Some(5), Some(0), "rwm"),
    ('c', Some(5), Some(1), "rwm"),
    ('c', Some(136), None, "rwm"),
    ('c', Some(5), Some(2), "rwm"),
    ('c', Some(10), Some(200), "rwm"),
];

/// The rules to apply, in order. Without rules in the config: every device denied but the
/// default nodes when `deny_by_default` (a cgroup `create` made), else none (access stays).
/// Each entry is parsed by [`values::device_rule`], as the spec's check parses it; the first
/// problem is the error.
pub fn rules(
    resources: &LinuxResources,
    deny_by_default: bool,
) -> Result<Vec<DeviceRule>, InvalidValue> {
    let list = resources.devices().as_deref().unwrap_or_default();
    if list.is_empty() && !deny_by_default {
        return Ok(Vec::new());
    }
    let mut out = (list.iter().enumerate())
        .map(|(i, d)| {
            let config = format!("linux.resources.devices[{i}]");
            values::device_rule(config.clone(), d).map_err(|problems| {
                let first = problems.into_iter().next().expect("a failed parse has a problem");
                first.at(&config)
            })
        })
        .collect::<Result<Vec<DeviceRule>, InvalidValue>>()?;
    if out.is_empty() {
        out.push(DeviceRule {
            config: "linux.resources.devices (none given: every device denied)".into(),
            allow: false,
            typ: 'a',
            major: None,
            minor: None,
            access: "rwm".into(),
        });
    }
    out.extend(DEFAULT_ALLOWED.iter().map(|&(typ, major, minor, access)| DeviceRule {
        config: "linux.resources.devices (default allowed devices)".into(),
        allow: true,
        typ,
        major,
        minor,
        access: access.into(),
    }));
    Ok(out)
}

/// A v1 exception's key: type, major and minor (`None` is `*`), matched exactly by the kernel.
type Key = (char, Option<i64>, Option<i64>);

/// The access letters in the order the kernel lists them.
const ACCESS: [char; 3] = ['r', 'w', 'm'];

/// Access letters as bits (r, w, m); other letters are not access.
fn bits(access: &str) -> u8 {
    ACCESS.iter().enumerate().filter(|(_, c)| access.contains(**c)).fold(0, |b, (i, _)| b | 1 << i)
}

fn letters(bits: u8) -> String {
    ACCESS.iter().enumerate().filter(|(i, _)| bits & 1 << i != 0).map(|(_, c)| *c).collect()
}

/// What a v1 devices cgroup holds: a default, and exceptions to it with their access bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceState {
    /// Every device is allowed unless excepted.
    pub default_allow: bool,
    /// The exceptions (allowed devices under a deny default, denied ones under allow).
    pub exceptions: BTreeMap<Key, u8>,
}

impl DeviceState {
    /// The state `devices.list` shows: `a *:* rwm` alone means allow by default (the kernel
    /// lists no exceptions then); otherwise deny by default with the listed allowances.
    /// None when a line does not parse.
    pub fn from_list(text: &str) -> Option<Self> {
        let mut state = DeviceState { default_allow: false, exceptions: BTreeMap::new() };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut fields = line.split_whitespace();
            let (typ, numbers, access) = (fields.next()?, fields.next()?, fields.next()?);
            let typ = typ.chars().next()?;
            if typ == 'a' {
                state.default_allow = true;
                continue;
            }
            let (major, minor) = numbers.split_once(':')?;
            let number = |n: &str| if n == "*" { Some(None) } else { n.parse().ok().map(Some) };
            state.exceptions.insert((typ, number(major)?, number(minor)?), bits(access));
        }
        Some(state)
    }

    /// The state `rules` leave whatever came before: only when the first one sets the
    /// default (an `a` rule), as every rule list of a config with a deny-all rule does.
    pub fn from_rules(rules: &[DeviceRule]) -> Option<Self> {
        let first = rules.first().filter(|r| r.typ == 'a')?;
        let mut state = DeviceState { default_allow: first.allow, exceptions: BTreeMap::new() };
        for rule in rules {
            state.write(rule);
        }
        Some(state)
    }

    /// Writes `rule` as the kernel takes it: an `a` rule sets the default and clears the
    /// exceptions; a rule against the default adds access to its exception, one with the
    /// default takes access away.
    fn write(&mut self, rule: &DeviceRule) {
        if rule.typ == 'a' {
            self.default_allow = rule.allow;
            self.exceptions.clear();
            return;
        }
        let key = (rule.typ, rule.major, rule.minor);
        let access = bits(&rule.access);
        let held = self.exceptions.get(&key).copied().unwrap_or(0);
        let now = if rule.allow == self.default_allow { held & !access } else { held | access };
        if now == 0 {
            self.exceptions.remove(&key);
        } else {
            self.exceptions.insert(key, now);
        }
    }

    /// The rules that take this state to `target` touching only what differs, access taken
    /// away first and then given: what both allow stays allowed throughout. None unless
    /// both deny by default (an allow default hides its exceptions from devices.list).
    pub fn changes_to(&self, target: &DeviceState) -> Option<Vec<DeviceRule>> {
        if self.default_allow || target.default_allow {
            return None;
        }
        let rule = |(typ, major, minor): Key, allow: bool, access: u8| DeviceRule {
            config: "linux.resources.devices".into(),
            allow,
            typ,
            major,
            minor,
            access: letters(access),
        };
        let mut out = Vec::new();
        for (key, held) in &self.exceptions {
            let gone = held & !target.exceptions.get(key).copied().unwrap_or(0);
            if gone != 0 {
                out.push(rule(*key, false, gone));
            }
        }
        for (key, wanted) in &target.exceptions {
            let new = wanted & !self.exceptions.get(key).copied().unwrap_or(0);
            if new != 0 {
                out.push(rule(*key, true, new));
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn no_rules_deny_all_only_by_default() {
        assert!(rules(&resources(serde_json::json!({})), false).unwrap().is_empty());
        assert!(rules(&resources(serde_json::json!({ "devices": [] })), false).unwrap().is_empty());
        for config in [serde_json::json!({}), serde_json::json!({ "devices": [] })] {
            let created = rules(&resources(config), true).unwrap();
            assert_eq!(created[0].v1_line(), "a");
            assert!(!created[0].allow);
            assert!(created[1..].iter().all(|r| r.allow));
            assert!(created.iter().any(|r| r.v1_line() == "c 1:3 rwm"));
        }
    }

    #[test]
    fn rules_then_defaults() {
        let r = resources(serde_json::json!({ "devices": [
            { "allow": false, "access": "rwm" },
            { "allow": false, "type": "c", "major": 1, "minor": 5, "access": "r" }
        ]}));
        let rules = rules(&r, true).unwrap();
        let lines: Vec<String> = rules.iter().map(DeviceRule::v1_line).collect();
        assert_eq!(lines[..3], ["a", "c 1:5 r", "c *:* m"]);
        assert!(!rules[0].allow && !rules[1].allow && rules[2].allow);
        assert_eq!(rules[1].config, "linux.resources.devices[1]");
        assert!(lines.contains(&"c 136:* rwm".to_owned()));
    }

    #[test]
    fn a_rule_that_does_not_parse_is_refused_at_its_path() {
        let r = resources(serde_json::json!({ "devices": [
            { "allow": false, "access": "rwm" },
            { "allow": true, "access": "rwx" }
        ]}));
        let err = rules(&r, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.resources.devices[1].access: \"rwx\" may only hold r, w and m"
        );
        let fifo = resources(serde_json::json!({ "devices": [{ "allow": true, "type": "p" }] }));
        assert_eq!(rules(&fifo, true).unwrap_err().config, "linux.resources.devices[0].type");
    }

    #[test]
    fn list_parses_as_the_kernel_shows_it() {
        let allow = DeviceState::from_list("a *:* rwm\n").unwrap();
        assert!(allow.default_allow && allow.exceptions.is_empty());
        let deny = DeviceState::from_list("c 1:3 rwm\nc *:* m\nb 8:0 r\n").unwrap();
        assert!(!deny.default_allow);
        assert_eq!(deny.exceptions[&('c', Some(1), Some(3))], 0b111);
        assert_eq!(deny.exceptions[&('c', None, None)], 0b100);
        assert_eq!(deny.exceptions[&('b', Some(8), Some(0))], 0b001);
        assert!(DeviceState::from_list("c x:3 rwm").is_none());
    }

    #[test]
    fn same_rules_need_no_change() {
        let r = resources(serde_json::json!({ "devices": [{ "allow": false, "access": "rwm" }] }));
        let target = DeviceState::from_rules(&rules(&r, true).unwrap()).unwrap();
        let list: String = target
            .exceptions
            .iter()
            .map(|((t, ma, mi), a)| {
                let n = |v: &Option<i64>| v.map_or("*".to_owned(), |v| v.to_string());
                format!("{t} {}:{} {}\n", n(ma), n(mi), letters(*a))
            })
            .collect();
        let current = DeviceState::from_list(&list).unwrap();
        assert_eq!(current, target);
        assert_eq!(current.changes_to(&target), Some(vec![]));
    }

    #[test]
    fn changes_take_away_then_give() {
        let current = DeviceState::from_list("c 1:3 rwm\nc 1:5 rw\nc 10:200 rwm\n").unwrap();
        let target = DeviceState::from_list("c 1:3 rwm\nc 1:5 r\nc 1:11 w\n").unwrap();
        let lines: Vec<(bool, String)> =
            current.changes_to(&target).unwrap().iter().map(|r| (r.allow, r.v1_line())).collect();
        assert_eq!(
            lines,
            [
                (false, "c 1:5 w".to_owned()),
                (false, "c 10:200 rwm".to_owned()),
                (true, "c 1:11 w".to_owned())
            ]
        );
        let allow = DeviceState::from_list("a *:* rwm").unwrap();
        assert_eq!(allow.changes_to(&target), None);
    }
}
