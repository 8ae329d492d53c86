//! `checkpoint`: dump a running container's processes with criu, then (unless asked to
//! leave it running) remove it as runc does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{current_status, require, wait_gone};
use crate::checkpoint::args::{dump_args, DumpTarget};
use crate::checkpoint::options::CheckpointOptions;
use crate::checkpoint::{CriuError, DESCRIPTORS_FILE, MASKED_FILES};
use crate::spec::{NamespaceKind, ValidSpec};
use crate::state::{ContainerId, Op, State, StateStore, Status};
use crate::{trace, Error};

/// A terminal container's console: a bind mount of its pty slave, external to criu (the
/// master is not in the dumped tree); a restore binds the new pty's slave there.
pub(super) const CONSOLE: &str = "/dev/console";

/// How long a dumped container's init gets to disappear after criu killed it.
const GONE_WAIT: Duration = Duration::from_secs(10);

/// `berth checkpoint ID`.
pub fn checkpoint(store: &StateStore, id: &str, opts: &CheckpointOptions) -> Result<(), Error> {
    refuse_unsupported(opts)?;
    let dir = store.open(&ContainerId::parse(id)?)?;
    let state = dir.load()?;
    let status = current_status(&state, &dir.fifo_path());
    require(&state, status, Op::Checkpoint)?;
    trace::phase("reading state.json and the status")?;
    let criu = located_and_checked(opts.common.criu.as_deref(), store.root())?;
    let spec = crate::spec::load(&state.bundle)?;
    trace::phase("loading config.json")?;
    let target = dump_target(&spec, &state)?;
    trace::phase("finding external mounts")?;
    make_dir(&opts.common.image_path)?;
    make_dir(opts.common.work_dir())?;
    if !opts.pre_dump {
        save_descriptors(state.pid, &opts.common.image_path)?;
        save_json(&opts.common.image_path.join(MASKED_FILES), &target.masked_files)?;
    }
    trace::phase("writing the descriptors and masked files")?;
    let log = opts.common.work_dir().join(if opts.pre_dump {
        crate::checkpoint::PRE_DUMP_LOG
    } else {
        crate::checkpoint::DUMP_LOG
    });
    let args = dump_args(opts, &target);
    trace::phase("building criu's arguments")?;
    let action = if opts.pre_dump { "pre-dump" } else { "dump" };
    criu.run(criu.command(&args), action, &log)?;
    trace::phase(if opts.pre_dump { "criu pre-dump" } else { "criu dump" })?;
    if opts.leave_running || opts.pre_dump {
        return Ok(());
    }
    // criu killed the container's processes once the images were written.
    if !wait_gone(&state, GONE_WAIT) {
        return Err(Error::WrongStatus {
            id: state.id,
            status: Status::Running.to_string(),
            reason: "criu dumped it but its init did not exit",
        });
    }
    trace::phase("waiting for the dumped init to exit")?;
    super::delete::remove(dir, &state, None)?;
    // Not a fault point: the container is gone, there is nothing left to fail.
    trace::mark("removing the container");
    Ok(())
}

/// Finds criu and makes sure `criu check` passes, traced under a name that says whether the
/// verdict cached in the state root `root` answered or criu had to run.
pub(super) fn located_and_checked(
    explicit: Option<&Path>,
    root: &Path,
) -> Result<crate::checkpoint::Criu, Error> {
    let criu = crate::checkpoint::locate(explicit)?;
    let cached = criu.check(root)?;
    trace::phase(if cached { "criu check (cached verdict)" } else { "criu check (running criu)" })?;
    Ok(criu)
}

/// Flags runc has that this build cannot honour: refused before anything is done.
fn refuse_unsupported(opts: &CheckpointOptions) -> Result<(), CriuError> {
    if opts.lazy_pages {
        return Err(CriuError::Refused(
            "--lazy-pages is not supported: berth runs no criu page server; checkpoint without it"
                .into(),
        ));
    }
    if let Some(ns) = opts.empty_ns.iter().find(|ns| ns.as_str() != "network") {
        return Err(CriuError::Refused(format!(
            "--empty-ns {ns}: only the network namespace can be left out of a checkpoint"
        )));
    }
    check_parent_path(opts)
}

/// `--parent-path` names an earlier pre-dump relative to the image path (criu reads it so,
/// and the image directory need not exist yet): an absolute one is refused before criu
/// runs, in runc's words.
fn check_parent_path(opts: &CheckpointOptions) -> Result<(), CriuError> {
    match &opts.parent_path {
        Some(parent) if parent.is_absolute() => Err(CriuError::Refused(format!(
            "--parent-path must be relative (to --image-path): {}",
            parent.display()
        ))),
        _ => Ok(()),
    }
}

/// What criu must treat as outside the container: bind mounts, masked files, a joined
/// network namespace.
fn dump_target(spec: &ValidSpec, state: &State) -> Result<DumpTarget, Error> {
    let mut bind_destinations: Vec<String> = spec
        .mounts
        .iter()
        .filter(|m| is_bind(m))
        .map(|m| m.destination().display().to_string())
        .collect();
    if spec.process.terminal {
        // /dev/console is a bind of the pty slave, whose master is outside the container.
        bind_destinations.push(CONSOLE.to_owned());
    }
    let root = PathBuf::from(format!("/proc/{}/root", state.pid));
    let masked_files =
        spec.masked_paths.iter().filter(|p| is_dev_null(&root, p)).cloned().collect();
    let net_ns_inode = spec
        .namespaces
        .iter()
        .find(|ns| ns.kind == NamespaceKind::Network)
        .and_then(|ns| ns.path.as_ref())
        .map(|path| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(path).map(|m| m.ino()).map_err(|source| CriuError::Io {
                what: "reading the network namespace",
                path: path.clone(),
                source,
            })
        })
        .transpose()?;
    Ok(DumpTarget {
        pid: state.pid,
        rootfs: state.rootfs.clone(),
        bind_destinations,
        masked_files,
        net_ns_inode,
    })
}

/// A bind mount (criu dumps its source's content otherwise, or fails on it).
pub(super) fn is_bind(mount: &oci_spec::runtime::Mount) -> bool {
    mount.typ().as_deref() == Some("bind")
        || mount.options().iter().flatten().any(|o| o == "bind" || o == "rbind")
}

/// Whether `path` in the container (seen through `root`) is the null device: a masked file.
fn is_dev_null(root: &Path, path: &str) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(meta) = std::fs::metadata(root.join(path.trim_start_matches('/'))) else {
        return false;
    };
    meta.file_type().is_char_device() && meta.rdev() == libc::makedev(1, 3)
}

fn make_dir(path: &Path) -> Result<(), CriuError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(|source| {
        CriuError::Io {
            what: "creating the checkpoint directory",
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Records what the init's stdin, stdout and stderr are (`pipe:[…]`, `/dev/null`, …), so a
/// restore can hand criu its own descriptors for the pipes.
fn save_descriptors(pid: i32, image_dir: &Path) -> Result<(), CriuError> {
    let links: Vec<String> = (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    save_json(&image_dir.join(DESCRIPTORS_FILE), &links)
}

fn save_json(path: &Path, lines: &[String]) -> Result<(), CriuError> {
    let text = serde_json::to_string(lines).expect("strings serialize");
    std::fs::write(path, text).map_err(|source| CriuError::Io {
        what: "writing",
        path: path.to_path_buf(),
        source,
    })
}
