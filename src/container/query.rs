//! `state` and `list`: read state.json and derive the status; nothing else is touched.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::state::{CgroupPathCheck, ContainerId, State, StateError, StateStore, Status};
use crate::Error;

/// runc's `state` output (also one element of `list --format json`).
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    /// OCI version of the bundle.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the init; 0 once stopped.
    pub pid: i32,
    /// created, running, paused, stopped (or creating).
    pub status: Status,
    /// Bundle path.
    pub bundle: PathBuf,
    /// Rootfs path.
    pub rootfs: PathBuf,
    /// Creation time (RFC 3339).
    pub created: String,
    /// Owner; empty for root.
    pub owner: String,
    /// Annotations, when the config had any.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

impl StateView {
    /// The view of `state` with its derived `status`.
    pub(super) fn new(state: State, status: Status) -> Self {
        let pid = if status == Status::Stopped { 0 } else { state.pid };
        StateView {
            oci_version: state.oci_version,
            id: state.id,
            pid,
            status,
            bundle: state.bundle,
            rootfs: state.rootfs,
            created: state.created,
            owner: state.owner,
            annotations: state.annotations,
        }
    }

    /// A container whose `create` has not written state.json yet.
    fn creating(id: &ContainerId) -> Self {
        StateView {
            oci_version: crate::OCI_VERSION.into(),
            id: id.as_str().into(),
            pid: 0,
            status: Status::Creating,
            bundle: PathBuf::new(),
            rootfs: PathBuf::new(),
            created: String::new(),
            owner: String::new(),
            annotations: HashMap::new(),
        }
    }
}

/// The state JSON hooks get on stdin.
pub(super) fn hook_state_json(state: &State, status: Status) -> String {
    serde_json::to_string(&StateView::new(state.clone(), status)).unwrap_or_default()
}

/// `berth state ID`.
pub fn state(store: &StateStore, id: &str) -> Result<StateView, Error> {
    let id = ContainerId::parse(id)?;
    view(store, &id)
}

fn view(store: &StateStore, id: &ContainerId) -> Result<StateView, Error> {
    view_of(store, id, store.read(id), &mut CgroupPathCheck::default())
}

/// The view of container `id` from what reading its state gave; `check` proves the
/// directory its freezer state is read from.
fn view_of(
    store: &StateStore,
    id: &ContainerId,
    read: Result<State, StateError>,
    check: &mut CgroupPathCheck,
) -> Result<StateView, Error> {
    match read {
        Ok(state) => {
            let status = super::current_status_among(&state, &store.fifo_path(id), check);
            Ok(StateView::new(state, status))
        }
        Err(StateError::Creating(_)) => Ok(StateView::creating(id)),
        Err(err) => Err(err.into()),
    }
}

/// `berth list`: every container in the store; one vanishing meanwhile is skipped. As in
/// runc, `owner` is the user owning the container's state directory (`state` leaves it empty).
pub fn list(store: &StateStore) -> Result<Vec<StateView>, Error> {
    let mut views = Vec::new();
    // Read once for all the containers (usually all owned by one user), when one is there.
    let mut passwd = None;
    let mut check = CgroupPathCheck::default();
    for id in store.list()? {
        match view_of(store, &id, store.read(&id), &mut check) {
            Ok(mut v) => {
                v.owner =
                    owner_of(&store.root().join(id.as_str()), &mut passwd).unwrap_or_default();
                views.push(v)
            }
            Err(Error::State(StateError::NotFound(_))) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(views)
}

/// The name of the user owning `dir` (from /etc/passwd, read into `passwd` on first use),
/// or `#UID` as runc shows an unknown one; `None` when the directory is gone.
fn owner_of(dir: &std::path::Path, passwd: &mut Option<String>) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(dir).ok()?.uid();
    let passwd =
        passwd.get_or_insert_with(|| std::fs::read_to_string("/etc/passwd").unwrap_or_default());
    Some(user_name(passwd, uid).unwrap_or_else(|| format!("#{uid}")))
}

/// The name of `uid` in the text of an /etc/passwd (`name:x:uid:…` lines).
fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_names_come_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nbroken\nalice:x:1000:1000::/home/a:/bin/sh\n";
        assert_eq!(super::user_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(super::user_name(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(super::user_name(passwd, 5), None);
    }
}
