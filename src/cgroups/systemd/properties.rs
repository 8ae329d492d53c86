//! The unit properties of a container: `linux.resources` in the terms systemd models
//! (systemd.resource-control(5)), device rules as DevicePolicy + DeviceAllow, and the
//! `org.systemd.property.<Name>` annotations (values in GVariant text, as runc takes them).

use std::collections::HashMap;

use oci_spec::runtime::LinuxResources;

use super::SystemdError;
use crate::cgroups::devices::DeviceRule;
use crate::sys::dbus::Value;

/// The annotation prefix that adds a unit property.
pub const ANNOTATION_PREFIX: &str = "org.systemd.property.";
/// systemd's "infinity" for limits.
const INFINITY: u64 = u64::MAX;
/// The CFS period the kernel uses when none is given (µs).
const DEFAULT_PERIOD: u64 = 100_000;

/// One property: its name and value.
pub type Property = (String, Value);

/// The properties as StartTransientUnit and SetUnitProperties take them: `a(sv)`.
pub fn to_value(props: &[Property]) -> Value {
    let items = props
        .iter()
        .map(|(name, v)| Value::Struct(vec![Value::str(name), Value::Variant(Box::new(v.clone()))]))
        .collect();
    Value::Array("(sv)".into(), items)
}

/// `props` with `extra` added, an extra one replacing a property of the same name.
pub fn merge(mut props: Vec<Property>, extra: Vec<Property>) -> Vec<Property> {
    for (name, value) in extra {
        props.retain(|(n, _)| *n != name);
        props.push((name, value));
    }
    props
}

fn limit(v: i64) -> u64 {
    if v < 0 {
        INFINITY
    } else {
        v as u64
    }
}

/// The resource properties of `r` (with runc's unset values already dropped) on cgroup
/// v2 (`v2`) or v1, with accounting on for every controller as runc turns it on.
pub fn resources(r: &LinuxResources, v2: bool) -> Result<Vec<Property>, SystemdError> {
    let mut p: Vec<Property> = vec![
        ("CPUAccounting".into(), Value::Bool(true)),
        (if v2 { "IOAccounting" } else { "BlockIOAccounting" }.into(), Value::Bool(true)),
        ("MemoryAccounting".into(), Value::Bool(true)),
        ("TasksAccounting".into(), Value::Bool(true)),
    ];
    let mut u64_prop = |name: &str, v: u64| p.push((name.into(), Value::U64(v)));
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit() {
            u64_prop(if v2 { "MemoryMax" } else { "MemoryLimit" }, limit(l));
        }
        if v2 {
            if let Some(low) = m.reservation() {
                u64_prop("MemoryLow", limit(low));
            }
            let swap = crate::cgroups::v2::swap_to_v2(m.swap(), m.limit()).map_err(|reason| {
                SystemdError::Resource { config: "linux.resources.memory.swap".into(), reason }
            })?;
            if let Some(s) = swap {
                u64_prop("MemorySwapMax", limit(s));
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares() {
            if v2 {
                u64_prop("CPUWeight", crate::cgroups::v2::shares_to_weight(shares));
            } else {
                u64_prop("CPUShares", shares);
            }
        }
        let (quota, period) = (c.quota().unwrap_or(0), c.period().unwrap_or(0));
        if quota != 0 || period != 0 {
            u64_prop("CPUQuotaPerSecUSec", quota_per_sec(quota, period));
        }
        if period != 0 {
            u64_prop("CPUQuotaPeriodUSec", period);
        }
        cpuset(&mut p, c.cpus().as_deref(), c.mems().as_deref());
    }
    let mut u64_prop = |name: &str, v: u64| p.push((name.into(), Value::U64(v)));
    if let Some(pids) = r.pids() {
        if pids.limit() > 0 || pids.limit() == -1 {
            u64_prop("TasksMax", limit(pids.limit()));
        }
    }
    if !v2 {
        if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
            u64_prop("BlockIOWeight", u64::from(w));
        }
    }
    if v2 {
        if let Some(unified) = r.unified() {
            p = merge(p, unified_properties(unified)?);
        }
    }
    Ok(p)
}

/// runc's CPUQuotaPerSecUSec: quota per period as µs of CPU per second, rounded up to
/// systemd's 10 ms granularity; infinity without a positive quota.
fn quota_per_sec(quota: i64, period: u64) -> u64 {
    if quota <= 0 {
        return INFINITY;
    }
    let period = if period == 0 { DEFAULT_PERIOD } else { period };
    let per_sec = (quota as u64).saturating_mul(1_000_000) / period;
    per_sec.div_ceil(10_000) * 10_000
}

fn cpuset(p: &mut Vec<Property>, cpus: Option<&str>, mems: Option<&str>) {
    for (name, list) in [("AllowedCPUs", cpus), ("AllowedMemoryNodes", mems)] {
        if let Some(list) = list.filter(|l| !l.trim().is_empty()) {
            p.push((name.into(), Value::bytes(&bitmask(list))));
        }
    }
}

/// A cpuset list (`0-3,8`) as systemd's bitmask: bit `n % 8` of byte `n / 8` for member `n`.
pub fn bitmask(list: &str) -> Vec<u8> {
    let members = crate::cgroups::stats::cpu_list(list);
    let len = members.iter().max().map_or(0, |m| usize::from(*m) / 8 + 1);
    let mut out = vec![0u8; len];
    for m in members {
        out[usize::from(m) / 8] |= 1 << (m % 8);
    }
    out
}

/// The `linux.resources.unified` files systemd has properties for.
fn unified_properties(unified: &HashMap<String, String>) -> Result<Vec<Property>, SystemdError> {
    let mut p = Vec::new();
    let mut keys: Vec<&String> = unified.keys().collect();
    keys.sort();
    for key in keys {
        let value = unified[key].trim();
        let bad = |reason: &str| SystemdError::Resource {
            config: format!("linux.resources.unified.{key:?}"),
            reason: reason.into(),
        };
        let num = || -> Result<u64, SystemdError> {
            if value == "max" {
                return Ok(INFINITY);
            }
            value.parse().map_err(|_| bad(&format!("{value:?} is not a number or \"max\"")))
        };
        let name = match key.as_str() {
            "memory.high" => "MemoryHigh",
            "memory.low" => "MemoryLow",
            "memory.min" => "MemoryMin",
            "memory.max" => "MemoryMax",
            "memory.swap.max" => "MemorySwapMax",
            "pids.max" => "TasksMax",
            "cpu.weight" => "CPUWeight",
            "cpuset.cpus" | "cpuset.mems" => {
                let name = if key == "cpuset.cpus" { "AllowedCPUs" } else { "AllowedMemoryNodes" };
                p.push((name.into(), Value::bytes(&bitmask(value))));
                continue;
            }
            "cpu.max" => {
                let mut f = value.split_whitespace();
                let quota = f.next().unwrap_or("max");
                let period: u64 = match f.next() {
                    Some(v) => v.parse().map_err(|_| bad("the period is not a number"))?,
                    None => DEFAULT_PERIOD,
                };
                let quota: i64 = match quota {
                    "max" => -1,
                    q => q.parse().map_err(|_| bad("the quota is not a number or \"max\""))?,
                };
                p.push(("CPUQuotaPerSecUSec".into(), Value::U64(quota_per_sec(quota, period))));
                p.push(("CPUQuotaPeriodUSec".into(), Value::U64(period)));
                continue;
            }
            _ => continue,
        };
        p.push((name.into(), Value::U64(num()?)));
    }
    Ok(p)
}

/// DevicePolicy and DeviceAllow for `rules` (in order, as devices.allow/deny take them):
/// `strict` with an allow list when the rules end up denying by default, else `auto` with no
/// list (systemd cannot express exceptions to allow-all; berth's own filter, installed as
/// well, enforces them). Nothing for no rules.
pub fn devices(rules: &[DeviceRule]) -> Vec<Property> {
    if rules.is_empty() {
        return Vec::new();
    }
    let mut deny_default = false;
    let mut allowed: Vec<(String, String)> = Vec::new();
    let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
    for rule in rules {
        if rule.typ == 'a' && rule.major.is_none() && rule.minor.is_none() {
            deny_default = !rule.allow;
            allowed.clear();
            continue;
        }
        let entries = device_entries(rule, &proc_devices);
        if rule.allow {
            for entry in entries {
                allowed.retain(|e| e.0 != entry.0);
                allowed.push(entry);
            }
        } else {
            allowed.retain(|e| !entries.iter().any(|d| d.0 == e.0));
        }
    }
    if !deny_default {
        return vec![("DevicePolicy".into(), Value::str("auto"))];
    }
    let list = allowed
        .into_iter()
        .map(|(path, access)| Value::Struct(vec![Value::Str(path), Value::Str(access)]))
        .collect();
    vec![
        ("DevicePolicy".into(), Value::str("strict")),
        ("DeviceAllow".into(), Value::Array("(ss)".into(), list)),
    ]
}

/// The DeviceAllow entries of one rule: `/dev/char/1:3` for one device, `char-pts` for a
/// major (its name from /proc/devices), `char-*` for every device of a type.
fn device_entries(rule: &DeviceRule, proc_devices: &str) -> Vec<(String, String)> {
    let access: String = rule.access.chars().filter(|c| "rwm".contains(*c)).collect();
    if access.is_empty() {
        return Vec::new();
    }
    let kinds: &[&str] = match rule.typ {
        'c' => &["char"],
        'b' => &["block"],
        'a' => &["char", "block"],
        _ => &[],
    };
    let mut out = Vec::new();
    for kind in kinds {
        let entry = match (rule.major, rule.minor) {
            (Some(major), Some(minor)) => Some(format!("/dev/{kind}/{major}:{minor}")),
            (Some(major), None) => {
                major_name(proc_devices, kind, major).map(|n| format!("{kind}-{n}"))
            }
            (None, _) => Some(format!("{kind}-*")),
        };
        out.extend(entry.map(|e| (e, access.clone())));
    }
    out
}

/// The driver name of `major` in the `kind` section of /proc/devices.
fn major_name(proc_devices: &str, kind: &str, major: i64) -> Option<String> {
    let header = if kind == "char" { "Character devices:" } else { "Block devices:" };
    proc_devices
        .lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| {
            let (num, name) = l.trim().split_once(' ')?;
            (num.parse::<i64>().ok()? == major).then(|| name.trim().to_owned())
        })
}

/// The properties the `org.systemd.property.<Name>` annotations add. A `<Name>Sec` with a
/// number of seconds becomes `<Name>USec` in microseconds, as runc converts it.
pub fn annotations(annotations: &HashMap<String, String>) -> Result<Vec<Property>, SystemdError> {
    let mut keys: Vec<&String> =
        annotations.keys().filter(|k| k.starts_with(ANNOTATION_PREFIX)).collect();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let name = &key[ANNOTATION_PREFIX.len()..];
        let bad = |reason: String| SystemdError::Resource {
            config: format!("annotations.{key:?}"),
            reason,
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad(format!("{name:?} is not a property name")));
        }
        let value = gvariant(&annotations[key]).map_err(bad)?;
        match name.strip_suffix("Sec").filter(|_| !name.ends_with("USec")) {
            Some(stem) => {
                let usec = seconds_to_usec(&value)
                    .ok_or_else(|| bad(format!("{name} takes a number of seconds")))?;
                out.push((format!("{stem}USec"), Value::U64(usec)));
            }
            None => out.push((name.to_owned(), value)),
        }
    }
    Ok(out)
}

fn seconds_to_usec(value: &Value) -> Option<u64> {
    let secs = match value {
        Value::Double(d) if *d >= 0.0 => return Some((*d * 1e6) as u64),
        Value::I32(v) => u64::try_from(*v).ok()?,
        Value::I64(v) => u64::try_from(*v).ok()?,
        other => other.as_u64()?,
    };
    secs.checked_mul(1_000_000)
}

/// A value in GVariant text format, the forms runc's users write: `true`, `false`,
/// `uint64 5` (and the other typed numbers), `5` (int32), `1.5` (double), `'text'` or
/// `"text"`, `objectpath '/x'`, and string arrays `['a', 'b']` or `@as []`.
pub fn gvariant(text: &str) -> Result<Value, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a value in GVariant text form");
    match text {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if let Some(s) = quoted(text) {
        return Ok(Value::Str(s));
    }
    if let Some(rest) = text.strip_prefix("@as") {
        return string_array(rest.trim()).ok_or_else(bad);
    }
    if text.starts_with('[') {
        return string_array(text).ok_or_else(bad);
    }
    if let Some((kind, rest)) = text.split_once(char::is_whitespace) {
        let rest = rest.trim();
        let n = |s: &str| s.parse::<i128>().ok();
        let value = match kind {
            "byte" => n(rest).and_then(|v| u8::try_from(v).ok()).map(Value::Byte),
            "int16" => n(rest).and_then(|v| i16::try_from(v).ok()).map(Value::I16),
            "uint16" => n(rest).and_then(|v| u16::try_from(v).ok()).map(Value::U16),
            "int32" => n(rest).and_then(|v| i32::try_from(v).ok()).map(Value::I32),
            "uint32" => n(rest).and_then(|v| u32::try_from(v).ok()).map(Value::U32),
            "int64" => n(rest).and_then(|v| i64::try_from(v).ok()).map(Value::I64),
            "uint64" => n(rest).and_then(|v| u64::try_from(v).ok()).map(Value::U64),
            "double" => rest.parse().ok().map(Value::Double),
            "objectpath" => quoted(rest).map(Value::Path),
            _ => None,
        };
        return value.ok_or_else(bad);
    }
    if let Ok(v) = text.parse::<i32>() {
        return Ok(Value::I32(v));
    }
    if text.contains(['.', 'e']) {
        if let Ok(d) = text.parse::<f64>() {
            return Ok(Value::Double(d));
        }
    }
    Err(bad())
}

/// The text of a single- or double-quoted string, with `\` escapes undone.
fn quoted(text: &str) -> Option<String> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = text.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            c if c == quote => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn string_array(text: &str) -> Option<Value> {
    let inner = text.strip_prefix('[')?.strip_suffix(']')?.trim();
    if inner.is_empty() {
        return Some(Value::Array("s".into(), Vec::new()));
    }
    // Items are quoted strings; a comma inside quotes is not expected in unit properties.
    let items =
        inner.split(',').map(|i| quoted(i.trim()).map(Value::Str)).collect::<Option<_>>()?;
    Some(Value::Array("s".into(), items))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(p: &'a [Property], name: &str) -> Option<&'a Value> {
        p.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn res(json: &str) -> LinuxResources {
        crate::cgroups::unset::effective(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn v2_resources_map_to_systemd_properties() {
        let r = res(r#"{"memory":{"limit":1073741824,"reservation":536870912,"swap":2147483648},
            "cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"0-1,9","mems":"0"},
            "pids":{"limit":100},"unified":{"memory.high":"900000000"}}"#);
        let p = resources(&r, true).unwrap();
        assert_eq!(get(&p, "MemoryAccounting"), Some(&Value::Bool(true)));
        assert_eq!(get(&p, "IOAccounting"), Some(&Value::Bool(true)));
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(1 << 30)));
        assert_eq!(get(&p, "MemoryLow"), Some(&Value::U64(1 << 29)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(1 << 30)));
        assert_eq!(get(&p, "MemoryHigh"), Some(&Value::U64(900_000_000)));
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(39)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert_eq!(get(&p, "AllowedCPUs"), Some(&Value::bytes(&[0b11, 0b10])));
        assert_eq!(get(&p, "AllowedMemoryNodes"), Some(&Value::bytes(&[1])));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(100)));
        assert_eq!(get(&p, "MemoryLimit"), None);
    }

    #[test]
    fn v1_resources_use_the_v1_properties() {
        let r = res(r#"{"memory":{"limit":-1},"cpu":{"shares":512},"pids":{"limit":-1},
            "blockIO":{"weight":300}}"#);
        let p = resources(&r, false).unwrap();
        assert_eq!(get(&p, "MemoryLimit"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "CPUShares"), Some(&Value::U64(512)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "BlockIOWeight"), Some(&Value::U64(300)));
        assert_eq!(get(&p, "BlockIOAccounting"), Some(&Value::Bool(true)));
        assert_eq!(get(&p, "MemoryMax"), None);
        assert_eq!(get(&p, "CPUWeight"), None);
    }

    #[test]
    fn zero_values_are_unset_and_quota_rounds_up() {
        let p = resources(&res(r#"{"cpu":{"shares":0,"quota":0},"pids":{"limit":0}}"#), true);
        let p = p.unwrap();
        assert_eq!(get(&p, "CPUWeight"), None);
        assert_eq!(get(&p, "TasksMax"), None);
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), None);
        assert_eq!(quota_per_sec(12345, 100_000), 130_000);
        assert_eq!(quota_per_sec(-1, 100_000), u64::MAX);
        assert_eq!(quota_per_sec(20_000, 0), 200_000);
    }

    #[test]
    fn swap_without_memory_limit_is_refused() {
        let err = resources(&res(r#"{"memory":{"swap":1000}}"#), true).unwrap_err();
        assert!(err.to_string().contains("linux.resources.memory.swap"), "{err}");
    }

    fn rule(allow: bool, typ: char, major: Option<i64>, minor: Option<i64>, a: &str) -> DeviceRule {
        DeviceRule { config: "x".into(), allow, typ, major, minor, access: a.into() }
    }

    #[test]
    fn deny_all_then_allows_is_a_strict_allow_list() {
        let rules = [
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', None, None, "m"),
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(true, 'c', Some(1), Some(5), "rwm"),
            rule(false, 'c', Some(1), Some(5), "rwm"),
        ];
        let p = devices(&rules);
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::str("strict")));
        let pair = |a: &str, b: &str| Value::Struct(vec![Value::str(a), Value::str(b)]);
        assert_eq!(
            get(&p, "DeviceAllow"),
            Some(&Value::Array(
                "(ss)".into(),
                vec![pair("char-*", "m"), pair("/dev/char/1:3", "rwm")]
            ))
        );
        assert!(devices(&[]).is_empty());
        let open = devices(&[rule(true, 'a', None, None, "rwm")]);
        assert_eq!(open, [("DevicePolicy".to_owned(), Value::str("auto"))]);
    }

    #[test]
    fn majors_are_named_from_proc_devices() {
        let text = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n";
        assert_eq!(major_name(text, "char", 136).as_deref(), Some("pts"));
        assert_eq!(major_name(text, "block", 8).as_deref(), Some("sd"));
        assert_eq!(major_name(text, "char", 8), None);
    }

    #[test]
    fn annotation_values_parse_as_runc_takes_them() {
        let a = HashMap::from([
            ("org.systemd.property.TimeoutStopUSec".to_owned(), "uint64 123456789".to_owned()),
            ("org.systemd.property.CollectMode".to_owned(), "'inactive-or-failed'".to_owned()),
            ("org.systemd.property.TimeoutStopSec".to_owned(), "2".to_owned()),
            ("org.systemd.property.RuntimeMaxSec".to_owned(), "uint64 3".to_owned()),
            ("org.systemd.property.SendSIGHUP".to_owned(), "true".to_owned()),
            ("org.systemd.property.After".to_owned(), "['a.service', \"b.target\"]".to_owned()),
            ("other.annotation".to_owned(), "ignored".to_owned()),
        ]);
        let p = annotations(&a).unwrap();
        assert_eq!(get(&p, "CollectMode"), Some(&Value::str("inactive-or-failed")));
        assert_eq!(get(&p, "RuntimeMaxUSec"), Some(&Value::U64(3_000_000)));
        assert_eq!(get(&p, "SendSIGHUP"), Some(&Value::Bool(true)));
        assert_eq!(get(&p, "After"), Some(&Value::strings(&["a.service", "b.target"])));
        // Both spellings name one property; the later (sorted) annotation wins on merge.
        let merged = merge(Vec::new(), p);
        let timeouts: Vec<_> = merged.iter().filter(|(n, _)| n == "TimeoutStopUSec").collect();
        assert_eq!(timeouts.len(), 1);
        assert_eq!(gvariant("1.5"), Ok(Value::Double(1.5)));
        assert_eq!(gvariant("int64 -3"), Ok(Value::I64(-3)));
        assert_eq!(gvariant("@as []"), Ok(Value::Array("s".into(), vec![])));
        assert!(gvariant("uint64 -1").is_err());
        assert!(gvariant("'unterminated").is_err());
        let bad = HashMap::from([("org.systemd.property.X-Y".to_owned(), "1".to_owned())]);
        assert!(annotations(&bad).is_err());
        let bad = HashMap::from([("org.systemd.property.TimeoutSec".to_owned(), "'x'".to_owned())]);
        assert!(annotations(&bad).unwrap_err().to_string().contains("seconds"));
    }

    #[test]
    fn merge_replaces_by_name() {
        let p = merge(
            vec![("A".into(), Value::U32(1)), ("B".into(), Value::U32(2))],
            vec![("A".into(), Value::U32(3))],
        );
        assert_eq!(p, [("B".into(), Value::U32(2)), ("A".into(), Value::U32(3))]);
        assert_eq!(to_value(&p).signature(), "a(sv)");
    }
}
