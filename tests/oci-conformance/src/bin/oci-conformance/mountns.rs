//! The runner's private mount namespace: mounts made for the suite never reach the host, a
//! shared mount makes slave/shared root propagation observable, and crun gets the unified
//! hierarchy's controller list hidden (crun 1.8 refuses hybrid hosts otherwise).

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};

/// The file crun reads to decide the host is cgroup v2 with controllers.
const UNIFIED_CONTROLLERS: &str = "/sys/fs/cgroup/unified/cgroup.controllers";

fn mount(src: &Path, dst: &Path, flags: libc::c_ulong) -> Result<(), String> {
    let c = |p: &Path| CString::new(p.as_os_str().as_encoded_bytes()).expect("path without NUL");
    let (s, d) = (c(src), c(dst));
    let rc =
        unsafe { libc::mount(s.as_ptr(), d.as_ptr(), std::ptr::null(), flags, std::ptr::null()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "mount {} on {}: {}",
            src.display(),
            dst.display(),
            std::io::Error::last_os_error()
        ))
    }
}

/// Moves this (still single-threaded) process into a new mount namespace where every mount
/// is private, so nothing mounted from now on propagates to the host.
pub fn enter_private() -> Result<(), String> {
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(format!("unshare(CLONE_NEWNS): {}", std::io::Error::last_os_error()));
    }
    mount(Path::new("none"), Path::new("/"), libc::MS_REC | libc::MS_PRIVATE)
}

/// Makes `dir` a shared mount of its own: a container root bound from below it then has a
/// peer group to be a slave of (or to share with), as on a host where / is shared.
pub fn make_shared(dir: &Path) -> Result<(), String> {
    mount(dir, dir, libc::MS_BIND)?;
    mount(Path::new("none"), dir, libc::MS_SHARED)
}

/// Mounts a small tmpfs at `dir` (created), in the runner's own mount namespace.
pub fn mount_tmpfs(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let d = CString::new(dir.as_os_str().as_encoded_bytes()).expect("path without NUL");
    let (t, opts) = (c"tmpfs", c"size=64k");
    // SAFETY: NUL-terminated strings that outlive the call.
    let rc = unsafe { libc::mount(t.as_ptr(), d.as_ptr(), t.as_ptr(), 0, opts.as_ptr().cast()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("mount tmpfs on {}: {}", dir.display(), std::io::Error::last_os_error()))
    }
}

/// Undoes `make_shared` (lazily: containers' leftovers may still sit below).
pub fn unmount(dir: &Path) {
    let p = CString::new(dir.as_os_str().as_encoded_bytes()).expect("path without NUL");
    unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
}

/// Hides the unified hierarchy's controller list behind an empty file (when the host has one);
/// returns the masked path so it can be unmounted when the runtime is done.
pub fn mask_unified_controllers(work: &Path) -> Result<Option<PathBuf>, String> {
    let target = Path::new(UNIFIED_CONTROLLERS);
    if !target.exists() {
        return Ok(None);
    }
    let empty = work.join("empty-cgroup.controllers");
    fs::write(&empty, "").map_err(|e| format!("{}: {e}", empty.display()))?;
    mount(&empty, target, libc::MS_BIND)?;
    Ok(Some(target.to_path_buf()))
}
