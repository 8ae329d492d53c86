//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup is a transient
//! unit systemd creates over D-Bus (StartTransientUnit with the init's pid, Delegate=yes and
//! the resource properties systemd models), then the cgroupfs files systemd does not model
//! are written on the unit's cgroup as without systemd, so the files end up as runc's.
//!
//! Only `--systemd-cgroup` reaches this module: the cgroupfs path opens no socket.
//!
//! An unprivileged (rootless) caller talks to its own user manager (`user@UID.service`) on
//! its user bus instead, as runc does with `--rootless --systemd-cgroup`: the unit goes in
//! that manager's `user.slice` by default, its cgroup lies in the subtree systemd delegates
//! to the user (cgroup v2 only), and the limits systemd does not model are written there.

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
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// The systemd instance a container's unit belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    /// The system manager (PID 1), on the system bus.
    System,
    /// The caller's own user manager, on the caller's user bus.
    User,
}

impl Instance {
    /// The caller's: its own user manager when it runs rootless without the host's root
    /// privileges (runc: `--rootless` with `--systemd-cgroup`), else the system manager.
    pub fn of_caller() -> Self {
        if crate::rootless::active() && crate::rootless::detected() {
            Instance::User
        } else {
            Instance::System
        }
    }
}

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
    /// The caller's user bus could not be reached.
    #[error(
        "--systemd-cgroup: unit {unit}: cannot reach the user's systemd on the bus {bus} \
         (rootless, berth uses the user manager user@{uid}.service: it runs while the user is \
         logged in or has lingering enabled, `loginctl enable-linger`; XDG_RUNTIME_DIR or \
         DBUS_SESSION_BUS_ADDRESS must name its bus)"
    )]
    NoUserBus {
        /// The unit.
        unit: String,
        /// The bus address or socket tried.
        bus: String,
        /// The caller's uid.
        uid: u32,
        /// The connection failure.
        #[source]
        source: DbusError,
    },
    /// The user manager's cgroup is not one berth can use.
    #[error("--systemd-cgroup: unit {unit}: {reason}")]
    NotDelegated {
        /// The unit.
        unit: String,
        /// What is missing.
        reason: String,
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

/// A connection to systemd's manager, on behalf of one unit: one per berth invocation,
/// made for the create and kept for a foreground `run`'s delete (or a failed create's
/// cleanup), so the handshake is paid once.
#[derive(Debug)]
pub struct Manager {
    conn: Connection,
    unit: String,
    instance: Instance,
    /// Whether the bus routes JobRemoved to us now (see [`Manager::idle`]).
    matching: bool,
}

/// The match rule for systemd's JobRemoved signals.
fn job_rule() -> String {
    format!(
        "type='signal',sender='{SYSTEMD}',path='{SYSTEMD_PATH}',interface='{MANAGER}',member='JobRemoved'"
    )
}

/// systemd's error for a unit that is not loaded.
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";

/// Connects to the system bus.
fn system_bus(unit: &str) -> Result<Connection, SystemdError> {
    let no_bus = |source| SystemdError::NoBus { unit: unit.to_owned(), source };
    let conn = match std::env::var("DBUS_SYSTEM_BUS_ADDRESS") {
        Ok(address) if !address.is_empty() => Connection::open_address(&address),
        _ => Connection::open(Path::new(SYSTEM_BUS)),
    };
    conn.map_err(no_bus)
}

/// Connects to the caller's user bus ([`user_bus_location`]), authenticating as the
/// caller's uid.
fn user_bus(unit: &str) -> Result<Connection, SystemdError> {
    let (bus, is_address) = user_bus_location();
    let conn =
        if is_address { Connection::open_address(&bus) } else { Connection::open(Path::new(&bus)) };
    conn.map_err(|source| SystemdError::NoUserBus {
        unit: unit.to_owned(),
        bus,
        uid: nix::unistd::geteuid().as_raw(),
        source,
    })
}

/// The caller's user bus: `$DBUS_SESSION_BUS_ADDRESS` (an address: true), else the socket
/// `bus` in `$XDG_RUNTIME_DIR` (else in `/run/user/UID`).
fn user_bus_location() -> (String, bool) {
    match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(address) if !address.is_empty() => (address, true),
        _ => {
            let uid = nix::unistd::geteuid().as_raw();
            let path = user_bus_path(std::env::var_os("XDG_RUNTIME_DIR"), uid);
            (path.display().to_string(), false)
        }
    }
}

/// The user bus socket: `bus` in the runtime dir, `/run/user/UID` when none is set.
fn user_bus_path(runtime_dir: Option<std::ffi::OsString>, uid: u32) -> std::path::PathBuf {
    let dir = runtime_dir
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| format!("/run/user/{uid}").into());
    dir.join("bus")
}

impl Manager {
    /// Connects to the caller's systemd instance ([`Instance::of_caller`]), for work on
    /// `unit`.
    pub fn connect(unit: &str) -> Result<Self, SystemdError> {
        Self::connect_to(unit, Instance::of_caller())
    }

    /// Connects to systemd's `instance` (the system bus, or the caller's user bus), for
    /// work on `unit`.
    pub fn connect_to(unit: &str, instance: Instance) -> Result<Self, SystemdError> {
        check_running(unit)?;
        let conn = match instance {
            Instance::System => system_bus(unit)?,
            Instance::User => user_bus(unit)?,
        };
        let mut manager = Manager { conn, unit: unit.to_owned(), instance, matching: false };
        manager.match_jobs();
        Ok(manager)
    }

    /// Has the bus route systemd's JobRemoved signals to us, queued with the next call (the
    /// bus applies it before it passes that call on). systemd sends JobRemoved on the bus
    /// whenever the client that queued the job is still connected (it tracks a job's
    /// requester), so no Subscribe: that would also make it send every unit's and job's
    /// changes for as long as we are connected.
    fn match_jobs(&mut self) {
        self.conn.add_match(&job_rule());
        self.matching = true;
    }

    /// Before a long wait with the connection open (a foreground `run`): stops the routing
    /// of JobRemoved to us, which nobody would read meanwhile (the bus would queue every
    /// job's signal for us); [`Manager::stop_unit`] asks for it again. Nothing is awaited.
    pub fn idle(&mut self) {
        if !self.matching {
            return;
        }
        self.conn.remove_match(&job_rule());
        // Written now, so the bus stops queueing for us at once; its reply is read (and
        // dropped) with the next call's.
        let _ = self.conn.flush();
        self.matching = false;
    }

    fn call(&mut self, member: &str, args: Vec<Value>) -> Result<Message, DbusError> {
        let mut msg = Message::call(SYSTEMD, SYSTEMD_PATH, MANAGER, member);
        msg.body = args;
        self.conn.call(msg)
    }

    fn error(&self, action: &'static str, source: DbusError) -> SystemdError {
        // The connection's handshake is answered with the first call: a refusal there is
        // the bus's, as it was when the handshake was awaited on its own.
        if let DbusError::Auth(_) = source {
            let unit = self.unit.clone();
            return match self.instance {
                Instance::System => SystemdError::NoBus { unit, source },
                Instance::User => SystemdError::NoUserBus {
                    unit,
                    bus: user_bus_location().0,
                    uid: nix::unistd::geteuid().as_raw(),
                    source,
                },
            };
        }
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

    /// Stops the unit and waits for its job. A unit systemd no longer has needs nothing
    /// more; after a stop job the unit is collected, unless it ended failed, which only a
    /// reset unloads.
    pub fn stop_unit(&mut self) -> Result<(), SystemdError> {
        if !self.matching {
            self.match_jobs();
        }
        let args = vec![Value::str(&self.unit), Value::str("replace")];
        let job = match self.call("StopUnit", args) {
            Ok(reply) => reply.arg_str(0).unwrap_or_default().to_owned(),
            Err(DbusError::Remote { name, .. }) if name == NO_SUCH_UNIT => {
                crate::trace::mark("systemd: StopUnit (the unit was gone)");
                return Ok(());
            }
            Err(e) => return Err(self.error("stopping", e)),
        };
        crate::trace::mark("systemd: StopUnit");
        self.wait_job(&job, "stop")?;
        crate::trace::mark("systemd: waiting for the stop job");
        self.reset_failed();
        Ok(())
    }

    /// Unloads the unit if it is failed; for one systemd has collected already (the
    /// answer is then NoSuchUnit) there is nothing to reset.
    fn reset_failed(&mut self) {
        let _ = self.call("ResetFailedUnit", vec![Value::str(&self.unit)]);
        crate::trace::mark("systemd: ResetFailedUnit");
    }

    /// The manager's own cgroup (its `ControlGroup` property): where a user manager's
    /// slices nest, e.g. `/user.slice/user-1000.slice/user@1000.service`.
    pub fn control_group(&mut self) -> Result<String, SystemdError> {
        let mut msg = Message::call(SYSTEMD, SYSTEMD_PATH, PROPERTIES, "Get");
        msg.body = vec![Value::str(MANAGER), Value::str("ControlGroup")];
        let reply = self.conn.call(msg).map_err(|e| self.error("reading ControlGroup", e))?;
        let group = match reply.body.first() {
            Some(Value::Variant(v)) => v.as_str().unwrap_or_default().to_owned(),
            _ => String::new(),
        };
        Ok(group)
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
/// systemd too. `mountinfo` is the text of /proc/self/mountinfo ([`super::read_mountinfo`]).
pub fn unit_cgroup(unit: &Unit, id: &str, mountinfo: &str) -> Result<Cgroup, CgroupError> {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
    let path = unit.cgroup_path();
    let mut paths = match Cgroup::resolve_in(mountinfo, Some(&path), id)? {
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
    // The unit is berth's: without rules every device is denied but the default nodes. A
    // user manager cannot filter devices (nor could the user make device nodes).
    if !unit.in_user_manager() {
        props.extend(properties::devices(&super::devices::rules(&resources, true)?));
    }
    Ok(properties::merge(props, properties::annotations(annotations)?))
}

/// The unit of a container's `linux.cgroupsPath` with `--systemd-cgroup`, in the caller's
/// systemd instance (an empty slice part is `system.slice`, or `user.slice` in a user's
/// manager). Whether systemd runs is told first: without it no path could work. A user
/// manager's unit nests under that manager's cgroup, which it asks for; that needs cgroup v2,
/// the only hierarchy systemd delegates to users.
pub fn container_unit(cgroups_path: Option<&str>, id: &str) -> Result<Unit, SystemdError> {
    let instance = Instance::of_caller();
    let unit = match instance {
        Instance::System => Unit::parse(cgroups_path, id),
        Instance::User => Unit::parse_in(cgroups_path, id, unit::DEFAULT_USER_SLICE),
    };
    let name = match &unit {
        Ok(unit) => unit.name.clone(),
        Err(_) => cgroups_path.unwrap_or_default().to_owned(),
    };
    check_running(&name)?;
    let mut unit = unit?;
    if instance == Instance::User {
        let refuse = |reason: &str| SystemdError::NotDelegated {
            unit: name.clone(),
            reason: reason.to_owned(),
        };
        if !super::is_unified() {
            return Err(refuse(
                "an unprivileged user's unit needs cgroup v2 (systemd delegates cgroups to \
                 users only on the unified hierarchy); without --systemd-cgroup the cgroup is \
                 skipped",
            ));
        }
        let root = Manager::connect_to(&name, Instance::User)?.control_group()?;
        if root.is_empty() || root == "/" {
            return Err(refuse("the user manager reports no cgroup of its own (ControlGroup)"));
        }
        unit.root = root;
    }
    Ok(unit)
}

/// Starts the container's unit with the process `pid` in it (a slice holds it directly),
/// then places the process in the hierarchies systemd leaves alone and applies `resources`
/// through the cgroup files. The connection it makes is left in `bus`, whatever the outcome,
/// for the same invocation's [`stop`]. `on_started` runs once the unit exists (it is then
/// ours to stop, whatever follows).
#[allow(clippy::too_many_arguments)]
pub fn start(
    unit: &Unit,
    cgroup: &Cgroup,
    id: &str,
    pid: i32,
    resources: &LinuxResources,
    annotations: &std::collections::HashMap<String, String>,
    bus: &mut Option<Manager>,
    on_started: &dyn Fn(),
) -> Result<(), SystemdError> {
    let props = unit_properties(unit, id, pid as u32, resources, annotations)?;
    // In a user's delegated subtree the device rules stay as the owner set them: cgroup
    // v2 takes them only from CAP_SYS_ADMIN (as for rootless without systemd).
    let (instance, applying) = if unit.in_user_manager() {
        (Instance::User, super::Applying::CreateExisting)
    } else {
        (Instance::System, super::Applying::CreateOwned)
    };
    if bus.is_none() {
        *bus = Some(Manager::connect_to(&unit.name, instance)?);
    }
    let manager = bus.as_mut().expect("connected above");
    // The bus handshake and the match go out with the call: one round trip for all three.
    let job = manager.start_unit(&props)?;
    crate::trace::mark("systemd: connecting, StartTransientUnit");
    on_started();
    manager.wait_job(&job, "start")?;
    crate::trace::mark("systemd: waiting for the start job");
    let resources = without_devices_for(instance, resources);
    let files = || -> Result<(), CgroupError> {
        // Parents enable their controllers on v2; v1 hierarchies systemd does not manage
        // (cpuset, net_cls…) get the unit's directory here.
        cgroup.create(&mut Vec::new())?;
        // On v2 systemd has placed it (the unit's PIDs): no second migration.
        if !cgroup.holds(pid) {
            cgroup.add_pid(pid)?;
        }
        cgroup.apply(&resources, applying)
    };
    let placed = files().map_err(|source| SystemdError::Cgroup { unit: unit.name.clone(), source });
    crate::trace::mark("systemd: the unit's cgroup files");
    placed
}

/// `update` of a container in `unit`: the properties systemd models, then the files.
pub fn update(unit: &str, cgroup: &Cgroup, resources: &LinuxResources) -> Result<(), SystemdError> {
    let effective = super::unset::effective(resources);
    let props = properties::resources(&effective, super::is_unified())?;
    let instance = Instance::of_caller();
    Manager::connect_to(unit, instance)?.set_properties(&props)?;
    cgroup
        .apply(&without_devices_for(instance, resources), super::Applying::Update)
        .map_err(|source| SystemdError::Cgroup { unit: unit.to_owned(), source })
}

/// `resources` as the cgroup files of `instance`'s unit take them: in a user's delegated
/// subtree without device rules (cgroup v2 takes them only from CAP_SYS_ADMIN).
fn without_devices_for(
    instance: Instance,
    resources: &LinuxResources,
) -> std::borrow::Cow<'_, LinuxResources> {
    if instance == Instance::System {
        return std::borrow::Cow::Borrowed(resources);
    }
    let mut without = resources.clone();
    without.set_devices(None);
    std::borrow::Cow::Owned(without)
}

/// Stops `unit` (the container's processes must be gone already) and clears it, over `bus`
/// when this invocation has a connection for that unit already (a foreground `run`, a
/// failed create), else over a new one. A kept connection that broke meanwhile is replaced
/// once.
pub fn stop(unit: &str, bus: Option<&mut Manager>) -> Result<(), SystemdError> {
    let Some(manager) = bus.filter(|m| m.unit == unit) else {
        return Manager::connect(unit)?.stop_unit();
    };
    match manager.stop_unit() {
        Err(SystemdError::Bus { source: DbusError::Io { .. }, .. }) => {
            Manager::connect_to(unit, manager.instance)?.stop_unit()
        }
        stopped => stopped,
    }
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
    fn user_units_have_no_device_properties() {
        let mut unit = Unit::parse_in(None, "c", unit::DEFAULT_USER_SLICE).unwrap();
        let r = LinuxResources::default();
        let names = |unit: &Unit| -> Vec<String> {
            let p = unit_properties(unit, "c", 42, &r, &Default::default()).unwrap();
            p.into_iter().map(|(n, _)| n).collect()
        };
        assert!(names(&unit).iter().any(|n| n == "DevicePolicy"), "{:?}", names(&unit));
        unit.root = "/user.slice/user-1000.slice/user@1000.service".into();
        let user = names(&unit);
        assert!(!user.iter().any(|n| n.starts_with("Device")), "{user:?}");
        assert!(user.iter().any(|n| n == "Delegate"), "{user:?}");
    }

    #[test]
    fn user_bus_is_in_the_runtime_dir() {
        let path = user_bus_path(Some("/run/user/1000".into()), 1000);
        assert_eq!(path, Path::new("/run/user/1000/bus"));
        assert_eq!(user_bus_path(None, 7), Path::new("/run/user/7/bus"));
        assert_eq!(user_bus_path(Some("".into()), 7), Path::new("/run/user/7/bus"));
    }

    #[test]
    fn no_user_bus_is_one_line_with_the_bus_and_a_hint() {
        let err = SystemdError::NoUserBus {
            unit: "berth-c.scope".into(),
            bus: "/run/user/1000/bus".into(),
            uid: 1000,
            source: DbusError::Auth("x".into()),
        };
        let line = crate::error::one_line(&err);
        for want in ["berth-c.scope", "/run/user/1000/bus", "enable-linger", "XDG_RUNTIME_DIR"] {
            assert!(line.contains(want), "{line}");
        }
        assert!(!line.contains('\n'), "{line}");
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
        let err = Manager::connect("x-1.scope").expect_err("refused");
        assert!(err.to_string().contains("x-1.scope"), "{err}");
        assert!(err.to_string().contains("not running"), "{err}");
    }
}
