//! What the benchmark does to itself and the host around the runtimes: timing a command,
//! waiting for an exit, its private mount namespace and tmpfs mounts, its cgroups.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bench::Timed;

/// Set by SIGINT or SIGTERM: no runtime command but `delete` runs after it, so the rows end
/// at once and the benchmark's cleanup removes what it made.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches SIGINT (Ctrl-C) and SIGTERM into [`interrupted`] (system calls restart).
pub fn catch_interrupts() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic; the struct is fully initialised.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Whether the benchmark was interrupted (see [`catch_interrupts`]).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The cgroup parent every container of the benchmark goes under.
pub const CGROUP_PARENT: &str = "berth-test";

pub fn time_command(mut cmd: Command, dir: &Path, what: &str) -> Result<Timed, String> {
    // A file, not a pipe: a created container inherits stderr and would hold a pipe open.
    let err_path =
        dir.join(format!("stderr-{:?}", std::thread::current().id()).replace(['(', ')'], ""));
    let err = File::create(&err_path).map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
    let begin = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{what}: spawning: {e}"))?;
    let status = child.wait().map_err(|e| format!("{what}: waiting: {e}"))?;
    let secs = begin.elapsed().as_secs_f64();
    if !status.success() {
        let stderr = fs::read_to_string(&err_path).unwrap_or_default();
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        return Err(format!("{what}: failed ({status}): {first}"));
    }
    Ok(Timed { secs, maxrss_kib: 0 })
}

/// Waits until `pid` has exited: reaps it when it is our child (reparented to us as
/// subreaper), else polls a pidfd.
pub fn wait_exit(pid: i32) -> Result<(), String> {
    let mut status = 0;
    loop {
        // SAFETY: waits for one pid.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Ok(());
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => break,
            _ => return Err(format!("waitpid({pid}): {}", std::io::Error::last_os_error())),
        }
    }
    // SAFETY: pidfd_open takes a pid and flags; the returned fd is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        // Already gone.
        return Ok(());
    }
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let deadline = Instant::now() + Duration::from_secs(30);
    // SAFETY: one pollfd.
    while unsafe { libc::poll(&mut pfd, 1, 100) } == 0 {
        if Instant::now() > deadline {
            unsafe { libc::close(fd) };
            return Err(format!("container process {pid} did not exit"));
        }
    }
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    Ok(())
}

/// Enters a private mount namespace and masks the unified hierarchy's controller list.
/// Returns the masked path (to unmount at the end) when a mask was needed.
pub fn private_mount_namespace(
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<PathBuf>, String> {
    // SAFETY: unshare and mount with constant arguments; we are single-threaded here.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(format!("unshare(CLONE_NEWNS): {}", std::io::Error::last_os_error()));
        }
        if libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!(
                "mount(/, MS_REC|MS_PRIVATE): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    let controllers = Path::new("/sys/fs/cgroup/unified/cgroup.controllers");
    let listed = fs::read_to_string(controllers).unwrap_or_default();
    if listed.trim().is_empty() {
        return Ok(None);
    }
    let empty = dir.join("empty-controllers");
    File::create(&empty).map_err(|e| e.to_string())?;
    let src = std::ffi::CString::new(path_str(&empty)).expect("no NUL");
    let dst = std::ffi::CString::new(path_str(controllers)).expect("no NUL");
    // SAFETY: both paths are NUL-terminated; a bind mount in our own namespace.
    if unsafe {
        libc::mount(src.as_ptr(), dst.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null())
    } != 0
    {
        return Err(format!(
            "bind-mounting over {}: {}",
            controllers.display(),
            std::io::Error::last_os_error()
        ));
    }
    notes.push(format!(
        "hybrid host: {} lists {:?}; masked by an empty file in the benchmark's own mount namespace (crun 1.8 refuses otherwise)",
        controllers.display(),
        listed.trim()
    ));
    Ok(Some(controllers.to_path_buf()))
}

/// The state roots live on a tmpfs, as `/run` is on most hosts (not here: /run is on the
/// root disk, where each fsync of a state file costs milliseconds).
pub fn mount_tmpfs(dir: &Path) -> Result<(), String> {
    fs::create_dir(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let c = std::ffi::CString::new(path_str(dir)).expect("no NUL");
    // SAFETY: NUL-terminated strings; a tmpfs in the benchmark's own mount namespace.
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"mode=755".as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(format!(
            "mounting a tmpfs on {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Mounts `count` small tmpfs at `dir/0`, `dir/1`, … in the benchmark's own mount namespace.
pub fn mount_many(dir: &Path, count: usize) -> Result<(), String> {
    fs::create_dir(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for i in 0..count {
        let point = dir.join(i.to_string());
        fs::create_dir(&point).map_err(|e| format!("creating {}: {e}", point.display()))?;
        let c = std::ffi::CString::new(path_str(&point)).expect("no NUL");
        // SAFETY: NUL-terminated strings; a tmpfs in the benchmark's own mount namespace.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                c.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"size=4k".as_ptr().cast(),
            )
        };
        if r != 0 {
            return Err(format!(
                "mounting {}: {}",
                point.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// Undoes [`mount_many`] (what it managed to mount) and removes the directories.
pub fn unmount_many(dir: &Path, count: usize) {
    for i in 0..count {
        let point = dir.join(i.to_string());
        let c = std::ffi::CString::new(path_str(&point)).expect("no NUL");
        // SAFETY: a NUL-terminated path; only our own mounts live there (EINVAL otherwise).
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = fs::remove_dir_all(dir);
}

pub fn bench_cgroup() -> String {
    format!("bench-{}", std::process::id())
}

/// `/sys/fs/cgroup/berth-test/<cg>` and `/sys/fs/cgroup/<hierarchy>/berth-test/<cg>`.
pub fn cgroup_dirs(cg: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut out = vec![base.join(CGROUP_PARENT).join(cg)];
    if let Ok(rd) = fs::read_dir(base) {
        out.extend(rd.flatten().map(|e| e.path().join(CGROUP_PARENT).join(cg)));
    }
    out.retain(|d| d.is_dir());
    out
}

pub fn which(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).ok_or_else(|| {
        format!("{name} not found in PATH (apt-get install {name}; `make bench` does)")
    })
}

pub fn first_line(bin: &Path, args: &[&str]) -> String {
    Command::new(bin)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown version".into())
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("the benchmark's paths are UTF-8")
}

/// nproc, CPU model and kernel.
pub fn machine() -> Value {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let kernel =
        fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    json!({ "nproc": nproc, "cpu": model, "kernel": kernel })
}
