//! The `tmpcopyup` mount option (runc's and crun's; podman puts it on every tmpfs of a
//! `--read-only` container): the tmpfs starts as a copy of the image's directory beneath it,
//! owners and modes included, symlinks copied as symlinks, and the image stays untouched.

use std::fs;
use std::os::unix::fs::{chown, symlink, PermissionsExt};

use serde_json::{json, Value};

use crate::harness::{reference_runc, Config, TestEnv};

/// `cfg` with `mount` appended to its mounts (as mounts[6], after the harness's six).
fn with_mount(mut cfg: Config, mount: Value) -> Config {
    cfg.0["mounts"].as_array_mut().unwrap().push(mount);
    cfg
}

#[test]
fn tmpcopyup_fills_the_tmpfs_with_the_images_files() {
    let env = TestEnv::new("copyup");
    let script = "cat /data/a.txt; stat -c '%a %u:%g' /data/a.txt /data/sub; cat /data/sub/b; \
                  readlink /data/link; readlink /data/escape; grep ' /data ' /proc/mounts | cut -d' ' -f3; \
                  echo new > /data/new && echo writable";
    let cfg = with_mount(
        Config::sh(script).readonly_root(true),
        json!({ "destination": "/data", "type": "tmpfs", "source": "tmpfs",
                "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"] }),
    );
    let bundle = env.bundle(&cfg);
    let data = bundle.join("rootfs/data");
    fs::create_dir_all(data.join("sub")).unwrap();
    fs::write(data.join("a.txt"), "from-the-image\n").unwrap();
    fs::set_permissions(data.join("a.txt"), fs::Permissions::from_mode(0o604)).unwrap();
    chown(data.join("a.txt"), Some(1000), Some(1000)).unwrap();
    fs::set_permissions(data.join("sub"), fs::Permissions::from_mode(0o751)).unwrap();
    chown(data.join("sub"), Some(65534), Some(1000)).unwrap();
    fs::write(data.join("sub/b"), "nested\n").unwrap();
    symlink("a.txt", data.join("link")).unwrap();
    // Copied as a link; following it would copy the host's root.
    symlink("/", data.join("escape")).unwrap();

    let id = env.id("c");
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(
        out.stdout,
        "from-the-image\n604 1000:1000\n751 65534:1000\nnested\na.txt\n/\ntmpfs\nwritable\n"
    );
    assert!(!data.join("new").exists(), "the write went to the image, not the tmpfs");
}

#[test]
fn tmpcopyup_on_another_filesystem_is_refused() {
    if reference_runc() {
        return; // runc ignores the option there; berth refuses what it would not apply.
    }
    let env = TestEnv::new("copyupbind");
    let cfg = with_mount(
        Config::sh("true"),
        json!({ "destination": "/data", "type": "proc", "source": "proc",
                "options": ["tmpcopyup"] }),
    );
    let bundle = env.bundle(&cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("c")]);
    out.fails_with_one_line();
    assert!(
        out.stderr.contains("mounts[6] (/data)") && out.stderr.contains("tmpcopyup"),
        "{out:#?}"
    );
}
