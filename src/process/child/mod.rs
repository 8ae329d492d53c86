//! The clone's side of process creation: everything that runs in the clone of the runtime,
//! from its first instruction to the execve of the container's program. It reports to the
//! runtime only through [`crate::process::sync`] and never imports the parent side.

pub mod first_stage;
pub mod init;
pub mod program;

use std::os::fd::{AsRawFd, OwnedFd};

use crate::cgroups::Entry;
use crate::namespaces::OpenedNamespace;
use crate::process::sync::{Channel, FromInit, Setup};
use crate::spec::ValidSpec;
use init::{Init, InitOptions, Stage};

/// What the clone takes over from the runtime's `spawn`.
pub struct CloneStart<'a> {
    /// The validated config.
    pub spec: &'a ValidSpec,
    /// The clone's end of the sync socket.
    pub channel: &'a Channel,
    /// exec.fifo, open read-write (a container's init only).
    pub fifo: Option<&'a OwnedFd>,
    /// The init's options.
    pub options: &'a InitOptions<'a>,
    /// Namespaces to join, opened by the runtime before the clone.
    pub joined: &'a [OpenedNamespace],
    /// The cgroup to be in before anything else.
    pub cgroup: Option<&'a Entry>,
    /// clone3 placed the clone in that cgroup already (v2).
    pub born_inside: bool,
    /// The clone is a first stage that forks the init (see `parent::spawn`'s plan).
    pub two_stage: bool,
    /// Whether the clone waits for the parent's setup (decided by `parent::setup`).
    pub setup: Setup,
}

/// The clone's life: join the cgroup, close what the runtime held, then become the init
/// (or the first stage that forks it). Never returns.
pub fn run(clone: CloneStart) -> ! {
    let CloneStart { spec, channel, fifo, options, joined, cgroup, born_inside, two_stage, setup } =
        clone;
    // First of all, so that everything the container does is in its cgroup.
    if let Some(Err(err)) = cgroup.map(|e| e.join_self(born_inside)) {
        fail(channel, &err);
    }
    // The clone holds copies of all the runtime's descriptors, the state dir's lock and the
    // cgroup files among them; only what the init uses may stay (or `start` would wait for
    // it).
    let mut keep = vec![channel.as_raw_fd()];
    keep.extend(fifo.map(|f| f.as_raw_fd()));
    keep.extend(joined.iter().map(|ns| ns.as_raw_fd()));
    keep.extend(options.idmapped.iter().flatten().map(|t| t.as_raw_fd()));
    if let Err(err) = crate::sys::process::close_all_except(3 + options.preserve_fds, &keep) {
        fail(channel, &err);
    }
    let init = Init::new(spec, channel, fifo, options, joined, Stage::Single(setup));
    if two_stage {
        first_stage::run(spec, init, joined, setup)
    }
    init.run()
}

/// Reports a failure of the clone before its init steps to the runtime, and ends the clone.
fn fail(channel: &Channel, err: &(dyn std::error::Error + 'static)) -> ! {
    let chain = crate::causes::chain(err);
    let _ = channel.send(&FromInit::Failed { chain }, None);
    crate::sys::init::exit_now(1)
}
