//! The operations that act on a container's cgroup: `pause`, `resume`, `update`, `events`
//! and `ps`.

use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use serde::Serialize;

use super::{cgroup_of, current_status, owned_cgroup, require, require_alive, still_running};
use crate::cgroups::stats::Stats;
use crate::state::{ContainerId, Op, State, StateStore};
use crate::Error;

/// How often `events` looks for new OOM kills between stats records.
const OOM_POLL: Duration = Duration::from_millis(50);

/// `berth pause ID`: freezes every process of a running (or created) container.
pub fn pause(store: &StateStore, id: &str) -> Result<(), Error> {
    let dir = store.open(&ContainerId::parse(id)?)?;
    let state = dir.load()?;
    let status = current_status(&state, &dir.fifo_path());
    require(&state, status, Op::Pause)?;
    Ok(freezable(&state)?.freeze(true)?)
}

/// `berth resume ID`: thaws a paused container.
pub fn resume(store: &StateStore, id: &str) -> Result<(), Error> {
    let dir = store.open(&ContainerId::parse(id)?)?;
    let state = dir.load()?;
    let status = current_status(&state, &dir.fifo_path());
    require(&state, status, Op::Resume)?;
    Ok(freezable(&state)?.freeze(false)?)
}

/// The container's cgroup, when berth made it: freezing a cgroup that existed before
/// would freeze the host's processes in it too.
fn freezable(state: &State) -> Result<crate::cgroups::Cgroup, Error> {
    if state.cgroup_paths.is_empty() {
        return Err(Error::WrongStatus {
            id: state.id.clone(),
            status: "without a cgroup".into(),
            reason: "pause and resume need the cgroup freezer; rootless, the cgroup was not \
                     writable by its user (not delegated)",
        });
    }
    owned_cgroup(state)?.ok_or_else(|| Error::WrongStatus {
        id: state.id.clone(),
        status: "in a cgroup berth did not create".into(),
        reason: "berth freezes only cgroups it created (linux.cgroupsPath named an existing one)",
    })
}

/// `berth update ID`: applies `resources` to the container's cgroup.
pub fn update(store: &StateStore, id: &str, resources: &LinuxResources) -> Result<(), Error> {
    let dir = store.open(&ContainerId::parse(id)?)?;
    let state = dir.load()?;
    require_alive(&state, Op::Update)?;
    let cgroup = cgroup_of(&state)?;
    match &state.systemd_unit {
        Some(unit) => Ok(crate::cgroups::systemd::update(unit, &cgroup, resources)?),
        None => Ok(cgroup.apply(resources, crate::cgroups::Applying::Update)?),
    }
}

/// The pids of every process of the container (`berth ps`): all of its cgroup when berth
/// made it, else (or without a cgroup) those [`super::kill::container_pids`] finds.
pub fn pids(store: &StateStore, id: &str) -> Result<Vec<i32>, Error> {
    let state = store.read(&ContainerId::parse(id)?)?;
    let recorded = super::recorded_cgroup(&state)?;
    if let Some((cgroup, _)) = recorded.as_ref().filter(|(c, created)| c.is_owned(created)) {
        return Ok(cgroup.pids()?);
    }
    let cgroup = recorded.as_ref().map(|(cgroup, _)| cgroup);
    let mut pids = super::kill::container_pids(cgroup, state.pid, state.pid_start_time)?;
    pids.sort_unstable();
    Ok(pids)
}

/// One record of `berth events`, in runc's schema.
#[derive(Debug, Serialize)]
pub struct Event {
    /// `stats` or `oom`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The container id.
    pub id: String,
    /// The statistics of a `stats` record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

/// One `stats` record of a running container (`berth events --stats`).
pub fn stats(store: &StateStore, id: &str) -> Result<Event, Error> {
    let id = ContainerId::parse(id)?;
    let state = store.read(&id)?;
    require_alive(&state, Op::Stats)?;
    Ok(Event { kind: "stats", id: state.id.clone(), data: Some(cgroup_of(&state)?.stats()) })
}

/// `berth events ID`: hands `sink` a `stats` record every `interval` and an `oom` record
/// for each OOM kill, until the container stops or `sink` returns false.
pub fn events(
    store: &StateStore,
    id: &str,
    interval: Duration,
    sink: &mut dyn FnMut(Event) -> bool,
) -> Result<(), Error> {
    let id = ContainerId::parse(id)?;
    let state = store.read(&id)?;
    require_alive(&state, Op::Events)?;
    let cgroup = cgroup_of(&state)?;
    let mut ooms = cgroup.oom_kills();
    let mut next_stats = Instant::now() + interval;
    loop {
        let now = Instant::now();
        std::thread::sleep(OOM_POLL.min(next_stats.saturating_duration_since(now)));
        let running = still_running(&state);
        let count = cgroup.oom_kills();
        for _ in ooms..count {
            if !sink(Event { kind: "oom", id: state.id.clone(), data: None }) {
                return Ok(());
            }
        }
        ooms = ooms.max(count);
        if !running {
            return Ok(());
        }
        if Instant::now() >= next_stats {
            next_stats += interval;
            if !sink(Event { kind: "stats", id: state.id.clone(), data: Some(cgroup.stats()) }) {
                return Ok(());
            }
        }
    }
}
