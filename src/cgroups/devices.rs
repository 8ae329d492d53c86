//! Device access rules: `linux.resources.devices`, then (when there are rules) allows for
//! the nodes every container gets, as runc adds them.
//!
//! A node listed in `linux.devices` is created, not allowed: access to it is what
//! `linux.resources.devices` says, as with runc (callers such as containerd and CRI-O add an
//! allow rule beside each node they list). Allowing it here would undo a deny rule the
//! config gives for it.

use oci_spec::runtime::{LinuxDeviceType, LinuxResources};

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

fn type_char(typ: Option<LinuxDeviceType>) -> char {
    match typ {
        None | Some(LinuxDeviceType::A) => 'a',
        Some(LinuxDeviceType::B) => 'b',
        Some(LinuxDeviceType::C | LinuxDeviceType::U) => 'c',
        Some(LinuxDeviceType::P) => 'p',
    }
}

/// The rules to apply, in order; empty when the config has none (access stays as it is).
pub fn rules(resources: &LinuxResources) -> Vec<DeviceRule> {
    let Some(list) = resources.devices().as_ref().filter(|l| !l.is_empty()) else {
        return Vec::new();
    };
    let mut out: Vec<DeviceRule> = list
        .iter()
        .enumerate()
        .map(|(i, d)| DeviceRule {
            config: format!("linux.resources.devices[{i}]"),
            allow: d.allow(),
            typ: type_char(d.typ()),
            major: d.major(),
            minor: d.minor(),
            access: d.access().clone().filter(|a| !a.is_empty()).unwrap_or_else(|| "rwm".into()),
        })
        .collect();
    out.extend(DEFAULT_ALLOWED.iter().map(|&(typ, major, minor, access)| DeviceRule {
        config: "linux.resources.devices (default allowed devices)".into(),
        allow: true,
        typ,
        major,
        minor,
        access: access.into(),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn no_rules_means_no_change() {
        assert!(rules(&resources(serde_json::json!({}))).is_empty());
    }

    #[test]
    fn rules_then_defaults() {
        let r = resources(serde_json::json!({ "devices": [
            { "allow": false, "access": "rwm" },
            { "allow": false, "type": "c", "major": 1, "minor": 5, "access": "r" }
        ]}));
        let rules = rules(&r);
        let lines: Vec<String> = rules.iter().map(DeviceRule::v1_line).collect();
        assert_eq!(lines[..3], ["a", "c 1:5 r", "c *:* m"]);
        assert!(!rules[0].allow && !rules[1].allow && rules[2].allow);
        assert_eq!(rules[1].config, "linux.resources.devices[1]");
        assert!(lines.contains(&"c 136:* rwm".to_owned()));
    }
}
