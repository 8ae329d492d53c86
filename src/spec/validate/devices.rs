//! `linux.devices`: each entry parsed once into a [`Device`], the node the clone makes as
//! it is. The check ([`check_devices`]) and the build ([`build_devices`]) share that parse,
//! so a device the clone could not make is refused before anything exists.

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Spec};

use super::root::is_clean_absolute;
use super::{invalid, Problems};
use crate::spec::SpecError;

/// The kind of a device node, from `linux.devices[].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A character device (`c`, and `u`, unbuffered, which Linux makes the same way).
    Char,
    /// A block device (`b`).
    Block,
    /// A FIFO (`p`); it has no device number.
    Fifo,
}

impl DeviceKind {
    /// The kind of the config's type; `None` for `a`, which names no node.
    pub fn of(typ: LinuxDeviceType) -> Option<Self> {
        match typ {
            LinuxDeviceType::C | LinuxDeviceType::U => Some(DeviceKind::Char),
            LinuxDeviceType::B => Some(DeviceKind::Block),
            LinuxDeviceType::P => Some(DeviceKind::Fifo),
            LinuxDeviceType::A => None,
        }
    }

    /// The file type bits of mknod(2)'s mode: `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub fn file_type(self) -> libc::mode_t {
        match self {
            DeviceKind::Char => libc::S_IFCHR,
            DeviceKind::Block => libc::S_IFBLK,
            DeviceKind::Fifo => libc::S_IFIFO,
        }
    }
}

/// A device node to make in the container: one `linux.devices` entry, or a default node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The path as the config gives it: absolute, without `..` (usually below /dev).
    pub path: PathBuf,
    /// The directory the node goes in, from `/` (`/dev` for `/dev/null`).
    pub dir: PathBuf,
    /// The node's file name in `dir`.
    pub name: PathBuf,
    /// What kind of node it is.
    pub kind: DeviceKind,
    /// The device number (major, minor); 0 for a FIFO.
    pub dev: libc::dev_t,
    /// The permission bits (`fileMode` less its file type; 0666 when not given).
    pub mode: libc::mode_t,
    /// The owner (`uid`, 0 when not given).
    pub uid: u32,
    /// The group (`gid`, 0 when not given).
    pub gid: u32,
}

impl Device {
    /// A character device at `path` with permissions 0666, owned by root: how the default
    /// nodes are made.
    pub fn char_node(path: &Path, major: u32, minor: u32) -> Self {
        let (dir, name) = location(path).expect("a default node's path names a file below /");
        Device {
            path: path.to_path_buf(),
            dir,
            name,
            kind: DeviceKind::Char,
            dev: libc::makedev(major, minor),
            mode: 0o666,
            uid: 0,
            gid: 0,
        }
    }

    /// mknod(2)'s mode: the file type bits with the permission bits.
    pub fn st_mode(&self) -> libc::mode_t {
        self.kind.file_type() | self.mode
    }

    /// Parses one `linux.devices` entry; on failure every problem, as (field, reason) in
    /// the order path, type, fileMode, major, minor.
    pub fn parse(d: &LinuxDevice) -> Result<Self, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let location = location(d.path()).map_err(|reason| problems.push(("path", reason)));
        let kind = DeviceKind::of(d.typ());
        if kind.is_none() {
            problems.push(("type", "\"a\" is not a device node type (b, c, u, p)".into()));
        }
        let mode = d.file_mode().unwrap_or(0o666);
        if let Some(reason) = kind.and_then(|kind| file_mode_problem(kind, mode)) {
            problems.push(("fileMode", reason));
        }
        let number = |field, n: i64| {
            u32::try_from(n)
                .map_err(|_| (field, format!("{n} is out of range (0 to {})", u32::MAX)))
        };
        let dev = match kind {
            Some(DeviceKind::Fifo) | None => 0,
            Some(_) => match (number("major", d.major()), number("minor", d.minor())) {
                (Ok(major), Ok(minor)) => libc::makedev(major, minor),
                (major, minor) => {
                    problems.extend(major.err().into_iter().chain(minor.err()));
                    0
                }
            },
        };
        match (location, kind) {
            (Ok((dir, name)), Some(kind)) if problems.is_empty() => Ok(Device {
                path: d.path().clone(),
                dir,
                name,
                kind,
                dev,
                mode: mode & 0o7777,
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            }),
            _ => Err(problems),
        }
    }
}

/// Splits a node's path into its directory (from `/`) and file name. The path must be
/// absolute, free of `..`, and name a file below `/`. Like runc and crun, a node may sit
/// outside /dev (the spec does not restrict it); the clone still resolves it in the rootfs.
fn location(path: &Path) -> Result<(PathBuf, PathBuf), String> {
    if !is_clean_absolute(path) {
        return Err(format!("{path:?} must be an absolute path without \"..\""));
    }
    let mut parts: Vec<_> = (path.components())
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part),
            _ => None,
        })
        .collect();
    let Some(name) = parts.pop() else {
        return Err(format!("{path:?} must name a file below /"));
    };
    let dir = std::iter::once(std::ffi::OsStr::new("/")).chain(parts).collect();
    Ok((dir, PathBuf::from(name)))
}

/// Bits above the permissions are allowed only when they are the node's own file type:
/// podman passes the host node's whole st_mode (0o20666 for a character device), as runc
/// accepts.
fn file_mode_problem(kind: DeviceKind, mode: u32) -> Option<String> {
    let (bits, own) = (mode & !0o7777, kind.file_type());
    (bits != 0 && bits != own)
        .then(|| format!("{mode:#o} has bits above 0o7777 that are not the node type's ({own:#o})"))
}

/// The entries of `linux.devices`.
fn entries(spec: &Spec) -> &[LinuxDevice] {
    spec.linux().as_ref().and_then(|l| l.devices().as_deref()).unwrap_or_default()
}

/// Every problem of every `linux.devices` entry, at `linux.devices[i].<field>`.
pub(super) fn check_devices(spec: &Spec, p: &mut Problems) {
    for (i, d) in entries(spec).iter().enumerate() {
        for (field, reason) in Device::parse(d).err().into_iter().flatten() {
            p.push(format!("linux.devices[{i}].{field}"), reason);
        }
    }
}

/// `linux.devices` of a checked spec, as the nodes the clone makes.
pub(super) fn build_devices(spec: &Spec) -> Result<Vec<Device>, SpecError> {
    (entries(spec).iter().enumerate())
        .map(|(i, d)| {
            Device::parse(d).map_err(|problems| {
                let (field, reason) = problems.into_iter().next().expect("a failed parse says why");
                invalid(format!("linux.devices[{i}].{field}"), reason)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceBuilder;

    fn entry(path: &str, typ: LinuxDeviceType, major: i64, minor: i64) -> LinuxDeviceBuilder {
        LinuxDeviceBuilder::default().path(path).typ(typ).major(major).minor(minor)
    }

    fn parse(b: LinuxDeviceBuilder) -> Result<Device, Vec<(&'static str, String)>> {
        Device::parse(&b.build().unwrap())
    }

    #[test]
    fn every_kind_is_its_node_type() {
        let kinds = [
            (LinuxDeviceType::C, DeviceKind::Char, libc::S_IFCHR),
            (LinuxDeviceType::U, DeviceKind::Char, libc::S_IFCHR),
            (LinuxDeviceType::B, DeviceKind::Block, libc::S_IFBLK),
            (LinuxDeviceType::P, DeviceKind::Fifo, libc::S_IFIFO),
        ];
        for (typ, kind, bits) in kinds {
            let d = parse(entry("/dev/x", typ, 8, 1)).unwrap();
            assert_eq!(d.kind, kind, "{typ:?}");
            assert_eq!(d.st_mode(), bits | 0o666, "{typ:?}");
            let dev = if kind == DeviceKind::Fifo { 0 } else { libc::makedev(8, 1) };
            assert_eq!(d.dev, dev, "{typ:?}: a FIFO has no number");
        }
        let all = parse(entry("/dev/x", LinuxDeviceType::A, 1, 3)).unwrap_err();
        assert_eq!(all, vec![("type", "\"a\" is not a device node type (b, c, u, p)".into())]);
    }

    #[test]
    fn an_entry_is_the_node_with_its_owner() {
        let b = entry("/dev/net/tun", LinuxDeviceType::C, 10, 200).file_mode(0o640u32);
        let d = parse(b.uid(1u32).gid(2u32)).unwrap();
        let expected = Device {
            path: "/dev/net/tun".into(),
            dir: "/dev/net".into(),
            name: "tun".into(),
            kind: DeviceKind::Char,
            dev: libc::makedev(10, 200),
            mode: 0o640,
            uid: 1,
            gid: 2,
        };
        assert_eq!(d, expected);
        let outside = parse(entry("/subdir/foo-dev", LinuxDeviceType::B, 8, 0)).unwrap();
        assert_eq!((outside.dir, outside.name), ("/subdir".into(), "foo-dev".into()));
        assert_eq!((outside.uid, outside.gid, outside.mode), (0, 0, 0o666));
        assert_eq!(
            Device::char_node(Path::new("/dev/null"), 1, 3).st_mode(),
            libc::S_IFCHR | 0o666
        );
    }

    #[test]
    fn mode_bits_keep_the_permissions_and_only_the_own_type() {
        let mode = |typ, m: u32| parse(entry("/dev/x", typ, 1, 3).file_mode(m));
        // podman's whole st_mode of a character device.
        assert_eq!(mode(LinuxDeviceType::C, 0o20620).unwrap().mode, 0o620);
        assert_eq!(mode(LinuxDeviceType::B, 0o60600).unwrap().mode, 0o600);
        assert_eq!(mode(LinuxDeviceType::P, 0o10644).unwrap().mode, 0o644);
        // setuid, setgid and sticky bits are permission bits.
        assert_eq!(mode(LinuxDeviceType::C, 0o7777).unwrap().st_mode(), libc::S_IFCHR | 0o7777);
        let wrong = mode(LinuxDeviceType::C, 0o60666).unwrap_err();
        let reason = "0o60666 has bits above 0o7777 that are not the node type's (0o20000)";
        assert_eq!(wrong, vec![("fileMode", reason.to_string())]);
        assert_eq!(mode(LinuxDeviceType::B, 0o100644).unwrap_err()[0].0, "fileMode");
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        let neg = parse(entry("/dev/x", LinuxDeviceType::C, -1, 3)).unwrap_err();
        assert_eq!(neg, vec![("major", "-1 is out of range (0 to 4294967295)".into())]);
        let both = parse(entry("/dev/x", LinuxDeviceType::B, 1 << 32, -5)).unwrap_err();
        let fields: Vec<_> = both.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["major", "minor"]);
        assert_eq!(both[0].1, "4294967296 is out of range (0 to 4294967295)");
        // The largest numbers fit; a FIFO's are not read.
        let max = parse(entry("/dev/x", LinuxDeviceType::C, u32::MAX.into(), 0)).unwrap();
        assert_eq!(max.dev, libc::makedev(u32::MAX, 0));
        assert!(parse(entry("/dev/p", LinuxDeviceType::P, -1, -1)).is_ok());
    }

    #[test]
    fn paths_must_be_absolute_clean_and_name_a_file() {
        let at = |path| parse(entry(path, LinuxDeviceType::C, 1, 3)).map(|d| (d.dir, d.name));
        assert_eq!(at("/dev/null").unwrap(), ("/dev".into(), "null".into()));
        assert_eq!(at("/dev/./net//tun").unwrap(), ("/dev/net".into(), "tun".into()));
        let relative = "\"dev/null\" must be an absolute path without \"..\"";
        assert_eq!(at("dev/null").unwrap_err(), vec![("path", relative.to_string())]);
        assert_eq!(at("/dev/../etc/passwd").unwrap_err()[0].0, "path");
        assert_eq!(at("/").unwrap_err(), vec![("path", "\"/\" must name a file below /".into())]);
        // Every problem of one entry, in config order.
        let all = parse(entry("x", LinuxDeviceType::A, -1, 0)).unwrap_err();
        assert_eq!(all.iter().map(|(f, _)| *f).collect::<Vec<_>>(), ["path", "type"]);
    }
}
