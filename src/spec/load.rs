//! Read config.json and turn it into a [`ValidSpec`].
//!
//! The spec module's file access happens here (the bundle and rootfs stats, the read of
//! config.json) and in validate/ (the rootfs, and what the host offers).

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::runtime::Spec;

use super::validate::{self, HostFacts, Scope};
use super::{checked, config_path, locate, SpecError, ValidProcess, ValidSpec};

/// The largest config.json berth parses; real ones are a few kilobytes.
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Reads `<bundle>/config.json`, validates it against this host and returns the validated
/// spec: the first of the problems [`check`] lists, if any.
pub fn load(bundle: &Path) -> Result<ValidSpec, SpecError> {
    load_for(bundle, &crate::host::Probe, Scope::Create)
}

/// [`load`] of the config of a container that exists (for `exec`): the host checks leave
/// out what `create` took from the host (network devices now inside the container).
pub fn load_existing(bundle: &Path) -> Result<ValidSpec, SpecError> {
    load_for(bundle, &crate::host::Probe, Scope::Exec)
}

fn load_for(bundle: &Path, host: &dyn HostFacts, scope: Scope) -> Result<ValidSpec, SpecError> {
    let bundle = bundle_dir(bundle)?;
    let spec = read_spec(&bundle)?;
    if let Some(first) = validate::problems(&spec, &bundle, host, scope).into_iter().next() {
        return Err(first);
    }
    let root = validate::rootfs(&bundle, &spec)?;
    validate::build(spec, bundle, root)
}

/// Reads and validates a lone `process` object from `path` (`exec --process`), its labels
/// against this host.
pub fn load_process(path: &Path) -> Result<ValidProcess, SpecError> {
    let read_err = |source| SpecError::Read { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        let size = bytes.len() as u64;
        return Err(SpecError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_CONFIG_BYTES,
        });
    }
    let parse_err = |e: serde_json::Error| SpecError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
        field: None,
    };
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).map_err(parse_err)?;
    default_user(&mut value);
    validate::process(serde_json::from_value(value).map_err(parse_err)?, &crate::host::Probe)
}

/// A process file without `user` runs as root (uid 0, gid 0), as runc runs it: exec callers
/// and runc's own tests send files with only `args`, `cwd` and the terminal settings.
fn default_user(process: &mut serde_json::Value) {
    if let Some(fields) = process.as_object_mut() {
        fields.entry("user").or_insert_with(|| serde_json::json!({ "uid": 0, "gid": 0 }));
    }
}

/// Every problem of the bundle's config.json (empty when [`load`] would succeed): every field
/// of the wrong type, then the spec's and this host's checks on the rest.
pub fn check(bundle: &Path) -> Vec<SpecError> {
    let read = bundle_dir(bundle).and_then(|b| checked::read(&b).map(|checked| (b, checked)));
    let (bundle, mut checked) = match read {
        Ok(read) => read,
        Err(e) => return vec![e],
    };
    let mut problems = std::mem::take(&mut checked.unparsable);
    let Some(spec) = checked.spec.take() else { return problems };
    let later = validate::problems(&spec, &bundle, &crate::host::Probe, Scope::Create);
    problems.extend(later.into_iter().filter_map(|p| checked.map(p)));
    problems
}

/// What in the bundle's config.json works but may not do what its author meant (unknown
/// capability names, unknown seccomp syscall names, missing poststart/poststop programs,
/// ambient capabilities that cannot be raised); empty when the config cannot be read.
pub fn warnings(bundle: &Path) -> Vec<SpecError> {
    let Ok(mut checked) = bundle_dir(bundle).and_then(|b| checked::read(&b)) else {
        return Vec::new();
    };
    let mut found = std::mem::take(&mut checked.dropped);
    if let Some(spec) = checked.spec.take() {
        let later = validate::warnings(&spec, &crate::host::Probe);
        found.extend(later.into_iter().filter_map(|w| checked.map(w)));
    }
    found
}

/// The bundle as an absolute path, after checking that it is a directory.
fn bundle_dir(bundle: &Path) -> Result<PathBuf, SpecError> {
    let fail = |source| SpecError::Bundle { path: bundle.to_path_buf(), source };
    let meta = fs::metadata(bundle).map_err(fail)?;
    if !meta.is_dir() {
        return Err(fail(io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    std::path::absolute(bundle).map_err(fail)
}

/// The bytes of `<bundle>/config.json` and its path, read with a size bound.
pub(super) fn read_config(bundle: &Path) -> Result<(PathBuf, Vec<u8>), SpecError> {
    let path = config_path(bundle);
    let read_err = |source| SpecError::Read { path: path.clone(), source };
    // Non-blocking: a FIFO planted as config.json must not hang the runtime in open.
    let opened = File::options().read(true).custom_flags(libc::O_NONBLOCK).open(&path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SpecError::NoConfig { bundle: bundle.to_path_buf() })
        }
        Err(e) => return Err(read_err(e)),
    };
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(read_err(io::Error::other("not a regular file")));
    }
    let size = meta.len();
    let too_large =
        |size| SpecError::TooLarge { path: path.clone(), size, limit: MAX_CONFIG_BYTES };
    if size > MAX_CONFIG_BYTES {
        return Err(too_large(size));
    }
    // Bounded read: the file may grow between the stat and the read.
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok((path, bytes))
}

fn read_spec(bundle: &Path) -> Result<Spec, SpecError> {
    let (path, bytes) = read_config(bundle)?;
    let (spec, dropped) = parse(&path, &bytes)?;
    for (at, warning) in dropped {
        crate::logging::log(crate::logging::Level::Warning, &format!("{at}: {warning}"));
    }
    Ok(spec)
}

/// Parses config.json's bytes (`path` names the file in errors); unknown capability names are
/// dropped and returned (config path, warning). The error is the one `create` reports.
pub(super) fn parse(path: &Path, bytes: &[u8]) -> Result<(Spec, Vec<(String, String)>), SpecError> {
    let path = path.to_path_buf();
    let parse_err = |e: serde_json::Error, value: Option<&serde_json::Value>| {
        // Only a type error in valid JSON has a config path worth naming; the message is then
        // about that field (serde may have stopped at another one first).
        let at = match e.classify() {
            serde_json::error::Category::Data => value.and_then(locate::locate_with_reason),
            _ => None,
        };
        let message = match &at {
            // serde's own message adds the line and column, when it is about that field.
            Some(at) if e.to_string().starts_with(&at.reason) => format!("{}: {e}", at.path),
            Some(at) => format!("{}: {}", at.path, at.reason),
            None => e.to_string(),
        };
        SpecError::Parse { path: path.clone(), message, field: at.map(|at| at.path) }
    };
    match serde_json::from_slice(bytes) {
        Ok(spec) => Ok((spec, Vec::new())),
        // The fast path failed: read the JSON as a tree to name the field, and to drop
        // capability names this build does not know, as the spec asks.
        Err(e) => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Err(_) => Err(parse_err(e, None)),
            Ok(original) => {
                let mut value = original.clone();
                let dropped = drop_unknown_capabilities(&mut value);
                if dropped.is_empty() {
                    return Err(parse_err(e, Some(&original)));
                }
                // Errors name the field as the file has it, so locate them in the original.
                let spec =
                    serde_json::from_value(value).map_err(|e| parse_err(e, Some(&original)))?;
                Ok((spec, dropped))
            }
        },
    }
}

/// Removes the names in `process.capabilities` that no kernel interface maps to, and returns
/// a warning for each (the element's config path, what happened): the runtime spec says such a value "MUST be logged as a warning by the
/// runtime" and the runtime "SHOULD NOT fail" (runc and crun ignore them too). Nothing is
/// granted for a dropped name.
pub(super) fn drop_unknown_capabilities(config: &mut serde_json::Value) -> Vec<(String, String)> {
    let mut warnings = Vec::new();
    let Some(sets) = config.pointer_mut("/process/capabilities").and_then(|c| c.as_object_mut())
    else {
        return warnings;
    };
    for (set, names) in sets.iter_mut() {
        let Some(names) = names.as_array_mut() else { continue };
        let mut index = 0;
        names.retain(|name| {
            let at = format!("process.capabilities.{set}[{index}]");
            index += 1;
            let Some(text) = name.as_str() else { return true };
            let known = caps::Capability::from_str(text).is_ok();
            if !known {
                let shown: String = text.chars().take(64).collect();
                warnings.push((at, format!("unknown capability {shown:?} ignored")));
            }
            known
        });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{default_spec, NamespaceKind};
    use crate::state::tempdir::TempDir;

    fn bundle_with(config: &str) -> TempDir {
        let dir = TempDir::new("bundle");
        fs::create_dir(dir.path().join("rootfs")).unwrap();
        fs::write(dir.path().join("config.json"), config).unwrap();
        dir
    }

    fn message(e: &SpecError) -> String {
        crate::error::one_line(e)
    }

    #[test]
    fn default_spec_passes_validation() {
        let bundle = bundle_with(&default_spec(false));
        let spec = load(bundle.path()).unwrap();
        assert_eq!(spec.oci_version, crate::OCI_VERSION);
        assert_eq!(spec.root, bundle.path().join("rootfs"));
        assert!(spec.root_readonly);
        assert_eq!(spec.process.args, ["sh"]);
        assert!(spec.process.terminal && spec.process.no_new_privileges);
        assert_eq!(spec.hostname.as_deref(), Some("berth"));
        assert_eq!(spec.mounts.len(), 7);
        assert!(spec.creates_namespace(NamespaceKind::Network));
        assert!(spec.namespace(NamespaceKind::User).is_none());
        assert!(check(bundle.path()).is_empty());
    }

    #[test]
    fn rootless_default_spec_passes_validation() {
        let bundle = bundle_with(&default_spec(true));
        let spec = load(bundle.path()).unwrap();
        assert!(spec.creates_namespace(NamespaceKind::User));
        assert!(spec.namespace(NamespaceKind::Network).is_none());
        let euid = nix::unistd::geteuid().as_raw();
        assert_eq!(
            spec.uid_mappings,
            [crate::spec::IdMap { container_id: 0, host_id: euid, size: 1 }]
        );
        let sys = spec.mounts.iter().find(|m| m.destination() == Path::new("/sys")).unwrap();
        assert!(sys.options().as_ref().unwrap().contains(&"rbind".to_owned()));
        let no_gid_option = spec
            .mounts
            .iter()
            .flat_map(|m| m.options().iter().flatten())
            .all(|o| !o.starts_with("gid="));
        assert!(no_gid_option);
    }

    #[test]
    fn missing_bundle_is_named() {
        let dir = TempDir::new("bundle");
        let missing = dir.path().join("nope");
        let err = load(&missing).unwrap_err();
        assert!(matches!(err, SpecError::Bundle { .. }));
        assert!(message(&err).contains(&*missing.to_string_lossy()), "{}", message(&err));
    }

    #[test]
    fn bundle_must_be_a_directory() {
        let dir = TempDir::new("bundle");
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let err = load(&file).unwrap_err();
        assert!(message(&err).contains("Not a directory"), "{}", message(&err));
    }

    #[test]
    fn missing_config_says_so() {
        let dir = TempDir::new("bundle");
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, SpecError::NoConfig { .. }));
        assert!(message(&err).contains("has no config.json"));
    }

    #[test]
    fn parse_error_has_line_and_column() {
        let bundle =
            bundle_with("{\n  \"ociVersion\": \"1.2.0\",\n  \"process\": { \"args\": \"sh\" }\n}");
        let err = load(bundle.path()).unwrap_err();
        let msg = message(&err);
        assert!(matches!(err, SpecError::Parse { .. }));
        assert!(msg.contains("config.json") && msg.contains("line 3"), "{msg}");
        assert!(msg.contains(": process.args: invalid type"), "{msg}");
    }

    #[test]
    fn huge_config_is_refused_before_parsing() {
        let bundle = bundle_with("");
        let file = File::options().write(true).open(bundle.path().join("config.json")).unwrap();
        file.set_len(MAX_CONFIG_BYTES + 1).unwrap();
        let err = load(bundle.path()).unwrap_err();
        assert!(matches!(err, SpecError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn rootfs_must_exist_and_be_a_directory() {
        let mut config: serde_json::Value = serde_json::from_str(&default_spec(false)).unwrap();
        config["root"]["path"] = "missing".into();
        let bundle = bundle_with(&config.to_string());
        let err = load(bundle.path()).unwrap_err();
        assert!(matches!(&err, SpecError::Invalid { path, .. } if path == "root.path"), "{err}");
        assert_eq!(check(bundle.path()).len(), 1);

        fs::write(bundle.path().join("missing"), "").unwrap();
        let err = load(bundle.path()).unwrap_err();
        assert!(message(&err).contains("not a directory"), "{err}");
    }

    #[test]
    fn absolute_root_path_is_kept() {
        let other = TempDir::new("rootfs");
        let mut config: serde_json::Value = serde_json::from_str(&default_spec(false)).unwrap();
        config["root"]["path"] = other.path().to_str().unwrap().into();
        let bundle = bundle_with(&config.to_string());
        assert_eq!(load(bundle.path()).unwrap().root, other.path());
    }

    #[test]
    fn first_problem_is_returned() {
        let mut config: serde_json::Value = serde_json::from_str(&default_spec(false)).unwrap();
        config["process"]["cwd"] = "rel".into();
        config["linux"]["sysctl"] = serde_json::json!({ "kernel.x": "1" });
        let bundle = bundle_with(&config.to_string());
        let err = load(bundle.path()).unwrap_err();
        assert!(matches!(&err, SpecError::Invalid { path, .. } if path == "process.cwd"), "{err}");
        assert_eq!(check(bundle.path()).len(), 2);
    }
}
