//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup is a transient
//! unit systemd creates over D-Bus (StartTransientUnit with the init's pid, Delegate=yes and
//! the resource properties systemd models), then the cgroupfs files systemd does not model
//! are written on the unit's cgroup as without systemd, so the files end up as runc's.
//!
//! Only `--systemd-cgroup` reaches this module: the cgroupfs path opens no socket.

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::{Cgroup, CgroupError};
use crate::sys::dbus::{Connection, DbusError, Message, Value};

pub mod properties;
pub mod unit;

pub use unit::{is_systemd_form, Unit};

/// The system bus; `DBUS_SYSTEM_BUS_ADDRESS` overrides it, as for every D-Bus client.
const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";
/// Present on a host booted with systemd (sd_booted(3)).
const SYSTEMD_RUNNING: &str = "/run/systemd/system";
/// How long a start or stop job may take (runc waits as long).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);
const SYSTEMD: &str = "org.freedesktop.systemd1";
const SYSTEMD_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// A failure of the systemd driver; each names the unit it was about.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    /// `linux.cgroupsPath` is not a systemd unit path.
    #[error("linux.cgroupsPath {path:?}: {reason}")]
    Path {
        /// The path given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A resource value systemd cannot take.
    #[error("{config}: {reason}")]
    Resource {
        /// The config path of the value.
        config: String,
        /// What is wrong.
        reason: String,
    },
    /// The host does not run systemd.
    #[error("--systemd-cgroup: cannot create unit {unit}: systemd is not running on this host (no {SYSTEMD_RUNNING})")]
    NotRunning {
        /// The unit.
        unit: String,
    },
    /// The system bus could not be reached.
    #[error("--systemd-cgroup: unit {unit}: cannot reach the system bus")]
    NoBus {
        /// The unit.
        unit: String,
        /// The connection failure.
        #[source]
        source: DbusError,
    },
    /// A unit of that name exists already.
    #[error("unit {unit} already exists (is the container id reused?)")]
    Exists {
        /// The unit.
        unit: String,
        /// systemd's answer.
        #[source]
        source: DbusError,
    },
    /// systemd (or the bus) refused us.
    #[error("unit {unit}: permission denied by systemd")]
    Denied {
        /// The unit.
        unit: String,
        /// The answer.
        #[source]
        source: DbusError,
    },
    /// A job ended with another result than `done`.
    #[error("unit {unit}: {action} job failed with result {result:?}")]
    JobFailed {
        /// The unit.
        unit: String,
        /// `start` or `stop`.
        action: &'static str,
        /// systemd's job result (`failed`, `timeout`, `canceled`, `dependency`…).
        result: String,
    },
    /// A job did not end in time.
    #[error("unit {unit}: {action} job did not finish within {JOB_TIMEOUT:?}")]
    JobTimeout {
        /// The unit.
        unit: String,
        /// `start` or `stop`.
        action: &'static str,
    },
    /// Another failure of a call to systemd.
    #[error("unit {unit}: {action}")]
    Bus {
        /// The unit.
        unit: String,
        /// The call.
        action: &'static str,
        /// The cause.
        #[source]
        source: DbusError,
    },
    /// Writing the cgroup files of the unit's cgroup.
    #[error("unit {unit}")]
    Cgroup {
        /// The unit.
        unit: String,
        /// The cause.
        #[source]
        source: CgroupError,
    },
}

/// Refuses, naming `unit`, on a host that was not booted with systemd.
pub fn check_running(unit: &str) -> Result<(), SystemdError> {
    if Path::new(SYSTEMD_RUNNING).is_dir() {
        Ok(())
    } else {
        Err(SystemdError::NotRunning { unit: unit.to_owned() })
    }
}

/// A connection to systemd's manager, on behalf of one unit.
pub struct Manager {
    conn: Connection,
    unit: String,
}

impl Manager {
    /// Connects to systemd over the system bus, for work on `unit`.
    pub fn connect(unit: &str) -> Result<Self, SystemdError> {
        check_running(unit)?;
        let no_bus = |source| SystemdError::NoBus { unit: unit.to_owned(), source };
        let conn = match std::env::var("DBUS_SYSTEM_BUS_ADDRESS") {
            Ok(address) if !address.is_empty() => Connection::open_address(&address),
            _ => Connection::open(Path::new(SYSTEM_BUS)),
        };
        let mut manager = Manager { conn: conn.map_err(no_bus)?, unit: unit.to_owned() };
        // JobRemoved reaches subscribers (and the client that queued the job); subscribing
        // makes sure of it on every systemd version. Already subscribed is fine.
        let _ = manager.call("Subscribe", vec![]);
        let rule = format!(
            "type='signal',sender='{SYSTEMD}',path='{SYSTEMD_PATH}',interface='{MANAGER}',member='JobRemoved'"
        );
        manager.conn.add_match(&rule).map_err(|e| manager.error("adding a match", e))?;
        Ok(manager)
    }

    fn call(&mut self, member: &str, args: Vec<Value>) -> Result<Message, DbusError> {
        let mut msg = Message::call(SYSTEMD, SYSTEMD_PATH, MANAGER, member);
        msg.body = args;
        self.conn.call(msg)
    }

    fn error(&self, action: &'static str, source: DbusError) -> SystemdError {
        classify(&self.unit, action, source)
    }

    /// Queues the start of the transient unit with `props`; returns the job's path. Once
    /// this returns, the unit exists (also when its job fails) and is ours to stop.
    pub fn start_unit(&mut self, props: &[properties::Property]) -> Result<String, SystemdError> {
        let args = vec![
            Value::str(&self.unit),
            Value::str("replace"),
            properties::to_value(props),
            Value::Array("(sa(sv))".into(), Vec::new()),
        ];
        let reply = self.call("StartTransientUnit", args).map_err(|e| self.error("starting", e))?;
        Ok(reply.arg_str(0).unwrap_or_default().to_owned())
    }

    /// Waits for the JobRemoved signal of `job` and checks its result is `done`.
    pub fn wait_job(&mut self, job: &str, action: &'static str) -> Result<(), SystemdError> {
        let deadline = Instant::now() + JOB_TIMEOUT;
        loop {
            let signal = self.conn.next_signal(deadline).map_err(|e| self.error(action, e))?;
            let Some(signal) = signal else {
                return Err(SystemdError::JobTimeout { unit: self.unit.clone(), action });
            };
            if signal.member.as_deref() != Some("JobRemoved") || signal.arg_str(1) != Some(job) {
                continue;
            }
            return match signal.arg_str(3) {
                Some("done") => Ok(()),
                result => Err(SystemdError::JobFailed {
                    unit: self.unit.clone(),
                    action,
                    result: result.unwrap_or_default().to_owned(),
                }),
            };
        }
    }

    /// Stops the unit and waits for it, then clears a failed state; a unit already gone is
    /// fine.
    pub fn stop_unit(&mut self) -> Result<(), SystemdError> {
        let args = vec![Value::str(&self.unit), Value::str("replace")];
        match self.call("StopUnit", args) {
            Ok(reply) => {
                let job = reply.arg_str(0).unwrap_or_default().to_owned();
                self.wait_job(&job, "stop")?;
            }
            Err(DbusError::Remote { name, .. })
                if name == "org.freedesktop.systemd1.NoSuchUnit" => {}
            Err(e) => return Err(self.error("stopping", e)),
        }
        // Only a failed unit stays loaded; for any other there is nothing to reset.
        let _ = self.call("ResetFailedUnit", vec![Value::str(&self.unit)]);
        Ok(())
    }

    /// Changes properties of the running unit (not persisted beyond its life).
    pub fn set_properties(&mut self, props: &[properties::Property]) -> Result<(), SystemdError> {
        let args = vec![Value::str(&self.unit), Value::Bool(true), properties::to_value(props)];
        self.call("SetUnitProperties", args).map(drop).map_err(|e| self.error("updating", e))
    }
}

/// The cgroup of `unit` in every hierarchy: on v1 (systemd's hybrid or legacy layout) each
/// controller's directory and also systemd's own `name=systemd` hierarchy and, on hybrid
/// hosts, its cgroup2 one, so that a process joining the container (exec) is in the unit for
/// systemd too.
pub fn unit_cgroup(unit: &Unit, id: &str) -> Result<Cgroup, CgroupError> {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
    let path = unit.cgroup_path();
    let mut paths = match Cgroup::resolve(Some(&path), id)? {
        Cgroup::V1(paths) => paths,
        v2 => return Ok(v2),
    };
    let own = [
        ("name=systemd", "/sys/fs/cgroup/systemd", CGROUP_SUPER_MAGIC),
        (super::UNIFIED_KEY, "/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC),
    ];
    for (key, mount, magic) in own {
        if statfs(mount).is_ok_and(|s| s.filesystem_type() == magic) {
            paths.insert(key.to_owned(), Path::new(mount).join(path.trim_start_matches('/')));
        }
    }
    Ok(Cgroup::V1(paths))
}

/// systemd's answer to `action` on `unit`, sorted into what callers tell apart.
fn classify(unit: &str, action: &'static str, source: DbusError) -> SystemdError {
    let unit = unit.to_owned();
    let DbusError::Remote { name, .. } = &source else {
        return SystemdError::Bus { unit, action, source };
    };
    match name.as_str() {
        "org.freedesktop.systemd1.UnitExists" => SystemdError::Exists { unit, source },
        "org.freedesktop.DBus.Error.AccessDenied"
        | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" => {
            SystemdError::Denied { unit, source }
        }
        "org.freedesktop.DBus.Error.ServiceUnknown"
        | "org.freedesktop.DBus.Error.NameHasNoOwner" => SystemdError::NoBus { unit, source },
        _ => SystemdError::Bus { unit, action, source },
    }
}

/// The unit properties for a new container: placement, delegation, the init's pid, the
/// resources and device rules, then the annotations (which may override any of them).
pub fn unit_properties(
    unit: &Unit,
    id: &str,
    pid: u32,
    resources: &LinuxResources,
    annotations: &std::collections::HashMap<String, String>,
) -> Result<Vec<properties::Property>, SystemdError> {
    let mut props: Vec<properties::Property> =
        vec![("Description".into(), Value::Str(format!("berth container {id}")))];
    if unit.is_slice() {
        // A slice's parent follows from its name; Wants= orders it after that slice.
        props.push(("Wants".into(), Value::strings(&[&unit.slice])));
    } else {
        props.push(("Slice".into(), Value::str(&unit.slice)));
        props.push(("Delegate".into(), Value::Bool(true)));
        props.push(("PIDs".into(), Value::Array("u".into(), vec![Value::U32(pid)])));
    }
    props.push(("DefaultDependencies".into(), Value::Bool(false)));
    let resources = super::unset::effective(resources);
    props.extend(properties::resources(&resources, super::is_unified())?);
    // The unit is berth's: without rules every device is denied but the default nodes.
    props.extend(properties::devices(&super::devices::rules(&resources, true)));
    Ok(properties::merge(props, properties::annotations(annotations)?))
}

/// Starts the container's unit with the process `pid` in it (a slice holds it directly),
/// then places the process in the hierarchies systemd leaves alone and applies `resources`
/// through the cgroup files. `on_started` runs once the unit exists (it is then ours to
/// stop, whatever follows).
pub fn start(
    unit: &Unit,
    cgroup: &Cgroup,
    id: &str,
    pid: i32,
    resources: &LinuxResources,
    annotations: &std::collections::HashMap<String, String>,
    on_started: &dyn Fn(),
) -> Result<(), SystemdError> {
    let props = unit_properties(unit, id, pid as u32, resources, annotations)?;
    let mut manager = Manager::connect(&unit.name)?;
    let job = manager.start_unit(&props)?;
    on_started();
    manager.wait_job(&job, "start")?;
    let files = || -> Result<(), CgroupError> {
        // Parents enable their controllers on v2; v1 hierarchies systemd does not manage
        // (cpuset, net_cls…) get the unit's directory here.
        cgroup.create(&mut Vec::new())?;
        cgroup.add_pid(pid)?;
        cgroup.apply(resources, super::Applying::CreateOwned)
    };
    files().map_err(|source| SystemdError::Cgroup { unit: unit.name.clone(), source })
}

/// `update` of a container in `unit`: the properties systemd models, then the files.
pub fn update(unit: &str, cgroup: &Cgroup, resources: &LinuxResources) -> Result<(), SystemdError> {
    let effective = super::unset::effective(resources);
    let props = properties::resources(&effective, super::is_unified())?;
    Manager::connect(unit)?.set_properties(&props)?;
    cgroup
        .apply(resources, super::Applying::Update)
        .map_err(|source| SystemdError::Cgroup { unit: unit.to_owned(), source })
}

/// Stops `unit` (the container's processes must be gone already) and clears it.
pub fn stop(unit: &str) -> Result<(), SystemdError> {
    Manager::connect(unit)?.stop_unit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_properties_place_and_delegate() {
        let unit = Unit::parse(Some("machine.slice:p:c"), "c").unwrap();
        let annotations = std::collections::HashMap::from([(
            "org.systemd.property.Delegate".to_owned(),
            "false".to_owned(),
        )]);
        let r = LinuxResources::default();
        let p = unit_properties(&unit, "c", 42, &r, &annotations).unwrap();
        let get = |n: &str| p.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("Slice"), Some(Value::str("machine.slice")));
        assert_eq!(get("PIDs"), Some(Value::Array("u".into(), vec![Value::U32(42)])));
        assert_eq!(get("DefaultDependencies"), Some(Value::Bool(false)));
        assert_eq!(get("Description"), Some(Value::str("berth container c")));
        // The annotation overrides berth's own value.
        assert_eq!(get("Delegate"), Some(Value::Bool(false)));
        assert_eq!(get("Wants"), None);
    }

    #[test]
    fn slice_properties_want_the_parent() {
        let unit = Unit::parse(Some(":p:a-b.slice"), "c").unwrap();
        let r = LinuxResources::default();
        let p = unit_properties(&unit, "c", 42, &r, &Default::default()).unwrap();
        let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"Wants"), "{names:?}");
        assert!(!names.contains(&"PIDs") && !names.contains(&"Slice"), "{names:?}");
    }

    #[test]
    fn systemd_errors_are_one_line_naming_the_unit() {
        let remote = |name: &str| DbusError::Remote { name: name.into(), message: "m".into() };
        let cases = [
            ("org.freedesktop.systemd1.UnitExists", "u.scope already exists"),
            ("org.freedesktop.DBus.Error.AccessDenied", "u.scope: permission denied"),
            ("org.freedesktop.DBus.Error.ServiceUnknown", "u.scope: cannot reach the system bus"),
            ("org.freedesktop.DBus.Error.InvalidArgs", "u.scope: starting"),
        ];
        for (name, want) in cases {
            let err = classify("u.scope", "starting", remote(name));
            let line = crate::error::one_line(&err);
            assert!(line.contains(want) && line.contains(name), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
        let failed = SystemdError::JobFailed {
            unit: "u.scope".into(),
            action: "start",
            result: "dependency".into(),
        };
        assert_eq!(failed.to_string(), "unit u.scope: start job failed with result \"dependency\"");
    }

    /// Without systemd (this project's host): one error naming the unit, and no bus touched.
    #[test]
    fn no_systemd_is_one_error_naming_the_unit() {
        if Path::new(SYSTEMD_RUNNING).is_dir() {
            eprintln!("skipped: systemd runs here");
            return;
        }
        let err = Manager::connect("x-1.scope").err().expect("refused");
        assert!(err.to_string().contains("x-1.scope"), "{err}");
        assert!(err.to_string().contains("not running"), "{err}");
    }
}
