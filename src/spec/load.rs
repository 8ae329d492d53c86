//! Read config.json and turn it into a [`ValidSpec`].
//!
//! The only system access of the spec module happens here: the bundle and rootfs stats and
//! the read of config.json.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::{config_path, validate, SpecError, ValidSpec};

/// The largest config.json berth parses; real ones are a few kilobytes.
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Reads `<bundle>/config.json`, validates it and returns the validated spec.
pub fn load(bundle: &Path) -> Result<ValidSpec, SpecError> {
    let bundle = bundle_dir(bundle)?;
    let spec = read_spec(&bundle)?;
    if let Some(first) = validate::problems(&spec).into_iter().next() {
        return Err(first);
    }
    let root = rootfs(&bundle, &spec)?;
    validate::build(spec, bundle, root)
}

/// Every problem of the bundle's config.json (empty when [`load`] would succeed).
pub fn check(bundle: &Path) -> Vec<SpecError> {
    let read = bundle_dir(bundle).and_then(|b| read_spec(&b).map(|spec| (b, spec)));
    let (bundle, spec) = match read {
        Ok(read) => read,
        Err(e) => return vec![e],
    };
    let mut problems = validate::problems(&spec);
    let root_given = spec.root().as_ref().is_some_and(|r| !r.path().as_os_str().is_empty());
    if root_given {
        if let Err(e) = rootfs(&bundle, &spec) {
            problems.push(e);
        }
    }
    problems
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

fn read_spec(bundle: &Path) -> Result<Spec, SpecError> {
    let path = config_path(bundle);
    let read_err = |source| SpecError::Read { path: path.clone(), source };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SpecError::NoConfig { bundle: bundle.to_path_buf() })
        }
        Err(e) => return Err(read_err(e)),
    };
    let size = file.metadata().map_err(read_err)?.len();
    let too_large = |size| SpecError::TooLarge { path: path.clone(), size, limit: MAX_CONFIG_BYTES };
    if size > MAX_CONFIG_BYTES {
        return Err(too_large(size));
    }
    // Bounded read: the file may grow between the stat and the read.
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| SpecError::Parse { path: path.clone(), message: e.to_string() })
}

/// `root.path` resolved against the bundle, checked to be a directory.
fn rootfs(bundle: &Path, spec: &Spec) -> Result<PathBuf, SpecError> {
    let given = spec.root().as_ref().map(|r| r.path().as_path()).unwrap_or(Path::new(""));
    if given.as_os_str().is_empty() {
        return Err(SpecError::Invalid { path: "root.path".into(), reason: "missing".into() });
    }
    let root = bundle.join(given);
    let invalid = |reason: String| SpecError::Invalid { path: "root.path".into(), reason };
    match fs::metadata(&root) {
        Ok(meta) if meta.is_dir() => Ok(root),
        Ok(_) => Err(invalid(format!("{} is not a directory", root.display()))),
        Err(e) => Err(invalid(format!("{}: {e}", root.display()))),
    }
}
