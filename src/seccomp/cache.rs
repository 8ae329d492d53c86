//! The on-disk cache of compiled programs, under the state root: reading podman's default
//! profile back takes well under a millisecond, compiling it about 11.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;

use super::compile::{decode, finish, program, INSN, MAX_INSTRUCTIONS};
use super::{Filter, SeccompError};

/// The cache's directory under the state root: `@` is not allowed in a container id, so no
/// container can claim the name and `list` skips it.
pub const CACHE_DIR: &str = "@seccomp-cache";

/// [`compile`], reusing the program built earlier for an identical profile.
///
/// Building podman's default profile (three x86 architectures) takes libseccomp about 11 ms,
/// half of a whole `run` without seccomp; reading it back takes well under one. Each file in
/// `cache_dir` holds the whole key (profile, libseccomp version, berth version) next to the
/// program, and a hit needs the key to match byte for byte: the hash only names the file.
/// Failing to write the cache never fails the caller.
pub fn compile_cached(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Filter, SeccompError> {
    let key = cache_key(profile);
    let path = cache_dir.join(format!("{:016x}", fnv1a(&key)));
    if let Some(program) = read_cached(&path, &key) {
        return finish(profile, program);
    }
    let program = program(profile)?;
    let _ = write_cached(cache_dir, &path, &key, &program);
    finish(profile, program)
}

/// What makes two compiled programs identical.
fn cache_key(profile: &LinuxSeccomp) -> Vec<u8> {
    let version = libseccomp::ScmpVersion::current().map(|v| (v.major, v.minor, v.micro)).ok();
    let mut key =
        format!("berth {} libseccomp {version:?} enosys\n", env!("CARGO_PKG_VERSION")).into_bytes();
    key.extend(serde_json::to_vec(profile).expect("a profile always serializes"));
    key
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// The cached program at `path` if the file's key is `key`: `[key length: u64 LE][key][program]`.
fn read_cached(path: &Path, key: &[u8]) -> Option<Vec<libc::sock_filter>> {
    let bytes = std::fs::read(path).ok()?;
    let len = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let rest = bytes.get(8..)?;
    if len != key.len() || rest.get(..len)? != key {
        return None;
    }
    let program = &rest[len..];
    if program.is_empty() || program.len() % INSN != 0 || program.len() / INSN > MAX_INSTRUCTIONS {
        return None;
    }
    Some(decode(program))
}

/// Writes the cache file whole (temp file + rename), so a reader never sees half of it.
fn write_cached(
    dir: &Path,
    path: &Path,
    key: &[u8],
    program: &[libc::sock_filter],
) -> std::io::Result<()> {
    // The cache may be the first thing under a new state root: every directory made here is
    // 0700 as the state store makes the root, or container ids would be listable by all users.
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mut bytes = (key.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(key);
    for insn in program {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.extend_from_slice(&[insn.jt, insn.jf]);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::super::compile;
    use super::*;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_cache_returns_the_same_program_and_only_for_the_same_profile() {
        let base = std::env::temp_dir().join(format!("berth-seccomp-cache-{}", std::process::id()));
        // A state root that does not exist yet: the cache makes it, private as the store would.
        let dir = base.join("root").join(CACHE_DIR);
        let a = profile(serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }] }));
        let b = profile(serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["rmdir"], "action": "SCMP_ACT_ERRNO" }] }));
        let fresh = compile(&a).unwrap().program;
        let first = compile_cached(&a, &dir).unwrap().program;
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1);
        for made in [base.join("root"), dir.clone()] {
            let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&made).unwrap());
            assert_eq!(mode & 0o777, 0o700, "{}", made.display());
        }
        let second = compile_cached(&a, &dir).unwrap().program;
        let words = |p: &[libc::sock_filter]| -> Vec<(u16, u8, u8, u32)> {
            p.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
        };
        assert_eq!(words(&first), words(&fresh));
        assert_eq!(words(&second), words(&fresh));
        // A file whose key differs (a hash collision, or tampering) is not used.
        let path = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
        let key_b = cache_key(&b);
        write_cached(&dir, &path, &key_b, &first).unwrap();
        assert!(read_cached(&path, &cache_key(&a)).is_none());
        assert_eq!(
            words(&compile_cached(&b, &dir).unwrap().program),
            words(&compile(&b).unwrap().program)
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
