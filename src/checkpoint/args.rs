//! criu's command lines for dump, pre-dump and restore, built from the options and what
//! berth knows of the container. Pure functions: the tests below pin every flag.

use std::path::{Path, PathBuf};

use super::options::{CheckpointOptions, CommonOptions, RestoreOptions};

/// The key criu records for an external network namespace (runc's word).
pub const EXTERNAL_NET_NS: &str = "extRootNetNS";

/// What criu needs to know of the container being dumped.
#[derive(Debug, Clone, Default)]
pub struct DumpTarget {
    /// Host pid of the container init.
    pub pid: i32,
    /// The container's root directory on the host.
    pub rootfs: PathBuf,
    /// Destinations of the bind mounts, dumped as external mounts keyed by destination.
    pub bind_destinations: Vec<String>,
    /// Masked paths covered by a bind of /dev/null, external as well.
    pub masked_files: Vec<String>,
    /// The inode of a network namespace the container joined (`path` in config.json).
    pub net_ns_inode: Option<u64>,
}

/// What criu needs to know to restore a container.
#[derive(Debug, Clone, Default)]
pub struct RestoreTarget {
    /// The rootfs, as a mount point of its own.
    pub root: PathBuf,
    /// Bind mounts: destination (the key of the dump) → source on this host.
    pub binds: Vec<(String, PathBuf)>,
    /// Masked paths to cover with /dev/null again.
    pub masked_files: Vec<String>,
    /// The descriptor (in criu) of the network namespace to put the container in.
    pub net_ns_fd: Option<i32>,
    /// Descriptors criu inherits for the init's pipes: (fd, `pipe:[ino]` as dumped).
    pub inherited: Vec<(i32, String)>,
    /// The cgroup criu moves the restored tasks into, relative to each hierarchy's root.
    pub cgroup_root: Option<String>,
    /// Where criu writes the restored init's pid.
    pub pid_file: PathBuf,
    /// The command criu runs at each restore stage (the hooks), when there are hooks.
    pub action_script: Option<String>,
}

fn flag(args: &mut Vec<String>, on: bool, name: &str) {
    if on {
        args.push(name.to_owned());
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// The flags dump and restore share: directories, log, and the behaviour switches.
fn common(args: &mut Vec<String>, opts: &CommonOptions, log: &str) {
    args.extend(["--images-dir".into(), path(&opts.image_path)]);
    args.extend(["--work-dir".into(), path(opts.work_dir())]);
    args.extend(["--log-file".into(), log.to_owned(), "-v4".into()]);
    flag(args, opts.tcp_established, "--tcp-established");
    flag(args, opts.ext_unix_sk, "--ext-unix-sk");
    flag(args, opts.shell_job, "--shell-job");
    flag(args, opts.file_locks, "--file-locks");
    if let Some(mode) = opts.cgroups_mode {
        args.push(format!("--manage-cgroups={}", mode.as_str()));
    }
}

/// `criu dump` or `criu pre-dump` for `target`.
pub fn dump_args(opts: &CheckpointOptions, target: &DumpTarget) -> Vec<String> {
    let (action, log) =
        if opts.pre_dump { ("pre-dump", super::PRE_DUMP_LOG) } else { ("dump", super::DUMP_LOG) };
    let mut args = vec![action.to_owned(), "--tree".into(), target.pid.to_string()];
    common(&mut args, &opts.common, log);
    args.extend(["--root".into(), path(&target.rootfs)]);
    if opts.common.cgroups_mode.is_none() {
        args.push("--manage-cgroups".into());
    }
    flag(&mut args, opts.leave_running && !opts.pre_dump, "--leave-running");
    flag(&mut args, opts.auto_dedup, "--auto-dedup");
    if let Some(parent) = &opts.parent_path {
        args.extend(["--prev-images-dir".into(), path(parent)]);
    }
    // Memory changes are tracked from a pre-dump on, so the next dump writes only those.
    flag(&mut args, opts.pre_dump || opts.parent_path.is_some(), "--track-mem");
    for dest in target.bind_destinations.iter().chain(&target.masked_files) {
        args.extend(["--external".into(), format!("mnt[{dest}]:{dest}")]);
    }
    if let Some(inode) = target.net_ns_inode {
        args.extend(["--external".into(), format!("net[{inode}]:{EXTERNAL_NET_NS}")]);
    }
    for ns in &opts.empty_ns {
        args.extend(["--empty-ns".into(), ns.clone()]);
    }
    args
}

/// `criu restore` for `target`: detached, the init restored as a sibling of criu (so a
/// child of berth), its pid written to the target's pid file.
pub fn restore_args(opts: &RestoreOptions, target: &RestoreTarget) -> Vec<String> {
    let mut args = vec!["restore".to_owned()];
    common(&mut args, &opts.common, super::RESTORE_LOG);
    args.extend(["--root".into(), path(&target.root)]);
    if opts.common.cgroups_mode.is_none() {
        args.push("--manage-cgroups".into());
    }
    args.extend(["--restore-detached".into(), "--restore-sibling".into()]);
    args.extend(["--pidfile".into(), path(&target.pid_file)]);
    if let Some(root) = &target.cgroup_root {
        args.extend(["--cgroup-root".into(), root.clone()]);
    }
    for (dest, source) in &target.binds {
        args.extend(["--external".into(), format!("mnt[{dest}]:{}", source.display())]);
    }
    for dest in &target.masked_files {
        args.extend(["--external".into(), format!("mnt[{dest}]:/dev/null")]);
    }
    if let Some(fd) = target.net_ns_fd {
        args.extend(["--inherit-fd".into(), format!("fd[{fd}]:{EXTERNAL_NET_NS}")]);
    }
    for (fd, key) in &target.inherited {
        args.extend(["--inherit-fd".into(), format!("fd[{fd}]:{key}")]);
    }
    if let Some(script) = &target.action_script {
        args.extend(["--action-script".into(), script.clone()]);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::super::options::CgroupsMode;
    use super::*;

    fn joined(args: &[String]) -> String {
        args.join(" ")
    }

    #[test]
    fn dump_passes_every_flag() {
        let opts = CheckpointOptions {
            common: CommonOptions {
                image_path: "/img".into(),
                work_path: Some("/work".into()),
                tcp_established: true,
                ext_unix_sk: true,
                shell_job: true,
                file_locks: true,
                cgroups_mode: Some(CgroupsMode::Full),
                criu: None,
            },
            parent_path: Some("../pre".into()),
            leave_running: true,
            auto_dedup: true,
            empty_ns: vec!["network".into()],
            ..Default::default()
        };
        let target = DumpTarget {
            pid: 42,
            rootfs: "/b/rootfs".into(),
            bind_destinations: vec!["/data".into()],
            masked_files: vec!["/proc/kcore".into()],
            net_ns_inode: Some(4026531992),
        };
        assert_eq!(
            joined(&dump_args(&opts, &target)),
            "dump --tree 42 --images-dir /img --work-dir /work --log-file dump.log -v4 \
             --tcp-established --ext-unix-sk --shell-job --file-locks --manage-cgroups=full \
             --root /b/rootfs --leave-running --auto-dedup --prev-images-dir ../pre --track-mem \
             --external mnt[/data]:/data --external mnt[/proc/kcore]:/proc/kcore \
             --external net[4026531992]:extRootNetNS --empty-ns network"
        );
    }

    #[test]
    fn pre_dump_tracks_memory_and_never_leaves_running_twice() {
        let opts = CheckpointOptions {
            common: CommonOptions { image_path: "/img".into(), ..Default::default() },
            pre_dump: true,
            leave_running: true,
            ..Default::default()
        };
        let args = joined(&dump_args(&opts, &DumpTarget { pid: 7, ..Default::default() }));
        assert!(args.starts_with("pre-dump --tree 7 --images-dir /img --work-dir /img"), "{args}");
        assert!(args.contains("--log-file pre-dump.log"), "{args}");
        assert!(args.contains("--track-mem") && !args.contains("--leave-running"), "{args}");
        assert!(args.contains("--manage-cgroups "), "{args}");
    }

    #[test]
    fn restore_maps_mounts_fds_and_cgroup() {
        let opts = RestoreOptions {
            common: CommonOptions { image_path: "/img".into(), ..Default::default() },
            ..Default::default()
        };
        let target = RestoreTarget {
            root: "/run/x/criu-root".into(),
            binds: vec![("/data".into(), "/srv/data".into())],
            masked_files: vec!["/proc/kcore".into()],
            net_ns_fd: Some(5),
            inherited: vec![(1, "pipe:[99]".into())],
            cgroup_root: Some("/berth-test/c1".into()),
            pid_file: "/img/restore.pid".into(),
            action_script: Some("'/usr/bin/berth' criu-hook '/img/hooks.json'".into()),
        };
        assert_eq!(
            joined(&restore_args(&opts, &target)),
            "restore --images-dir /img --work-dir /img --log-file restore.log -v4 \
             --root /run/x/criu-root --manage-cgroups --restore-detached --restore-sibling \
             --pidfile /img/restore.pid --cgroup-root /berth-test/c1 \
             --external mnt[/data]:/srv/data --external mnt[/proc/kcore]:/dev/null \
             --inherit-fd fd[5]:extRootNetNS --inherit-fd fd[1]:pipe:[99] \
             --action-script '/usr/bin/berth' criu-hook '/img/hooks.json'"
        );
    }
}
