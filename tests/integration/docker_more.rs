//! More of Docker's `docker run` through berth, on docker.rs's private dockerd: a terminal
//! (`-t`), a read-only rootfs with a writable tmpfs, exit code 0, and a memory limit that the
//! kernel enforces (the OOM kill Docker reports).

use crate::docker::{Dockerd, DOCKER, DOCKERD, IMAGE};
use std::path::Path;

/// `docker run --rm --runtime berth --network none args…` on `docker`'s daemon.
fn run(docker: &Dockerd, args: &[&str]) -> crate::harness::Out {
    let mut argv = vec!["run", "--rm", "--runtime", "berth", "--network", "none"];
    argv.extend_from_slice(args);
    docker.cli(&argv)
}

/// `-t`: the container's stdio is a terminal berth set up through the console socket; its
/// output (with the terminal's CRLF line ends) and its exit code come back through it.
/// `--read-only --tmpfs /run`: /run is a writable tmpfs on a read-only rootfs. `true` exits 0.
/// `--memory 32m`: a process growing past the limit is OOM-killed (137, `OOMKilled`).
#[test]
fn docker_runs_tty_tmpfs_and_memory_limited_containers_with_berth() {
    if !Path::new(DOCKERD).exists() || !Path::new(DOCKER).exists() {
        eprintln!("skipped: needs Debian's docker.io ({DOCKERD}, {DOCKER})");
        return;
    }
    let docker = Dockerd::start("dockermore");

    let out = run(&docker, &[IMAGE, "true"]);
    assert_eq!(out.code(), 0, "{out:#?}\n{}", docker.log());
    assert!(out.stdout.is_empty(), "{out:#?}");

    let script = "busybox tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; exit 5";
    let out = run(&docker, &["-t", IMAGE, "sh", "-c", script]);
    assert_eq!(out.code(), 5, "{out:#?}\n{}", docker.log());
    assert_eq!(out.stdout, "/dev/pts/0\r\nall-ttys\r\n", "{out:#?}");

    let script = "echo kept > /run/file && cat /run/file; grep ' /run ' /proc/mounts; \
                  touch /written 2>/dev/null && echo rootfs-writable || echo rootfs-read-only";
    let out = run(&docker, &["--read-only", "--tmpfs", "/run", IMAGE, "sh", "-c", script]);
    assert_eq!(out.code(), 0, "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:#?}");
    assert_eq!(lines[0], "kept", "{out:#?}");
    assert!(lines[1].starts_with("tmpfs /run tmpfs rw,"), "{out:#?}");
    assert_eq!(lines[2], "rootfs-read-only", "{out:#?}");

    // busybox tail keeps the one endless line of /dev/zero in memory. Not --rm: the state
    // says whether the kernel's OOM killer ended it.
    let name = docker.env.id("oom");
    let argv = ["run", "--name", &name, "--runtime", "berth", "--network", "none"];
    let limits = ["--memory", "32m", "--memory-swap", "32m"];
    let out = docker.cli(&[&argv[..], &limits, &[IMAGE, "busybox", "tail", "/dev/zero"]].concat());
    assert_eq!(out.code(), 137, "{out:#?}\n{}", docker.log());
    let state = docker.cli(&["inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", &name]);
    assert_eq!(state.ok().stdout.trim(), "true 137", "{state:#?}");
    docker.cli(&["rm", &name]).ok();
}
