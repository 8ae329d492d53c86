//! One hint per kind of config problem, for `berth check`: what a valid value looks like.

use super::SpecError;

/// Hints by config path prefix; the longest matching prefix wins.
const HINTS: &[(&str, &str)] = &[
    ("ociVersion", "the version of the runtime spec the config follows, e.g. \"1.2.0\""),
    ("root", "a directory inside the bundle such as \"rootfs\", or an absolute path"),
    ("process", "see the `process` object of the OCI runtime spec"),
    ("process.args", "a non-empty JSON array of strings, e.g. [\"sh\", \"-c\", \"echo hi\"]"),
    ("process.cwd", "an absolute directory inside the container, e.g. \"/\""),
    ("process.env", "entries of the form KEY=VALUE"),
    ("process.rlimits", "RLIMIT_* types with soft <= hard, within the host's limits"),
    ("process.capabilities", "capability names such as \"CAP_NET_BIND_SERVICE\""),
    (
        "process.capabilities.ambient",
        "capability names such as \"CAP_NET_BIND_SERVICE\", each also permitted and inheritable",
    ),
    ("process.user", "uid and gid numbers from 0 to 2147483647; setresuid(2) reads -1 as \"unchanged\""),
    ("process.oomScoreAdj", "a number from -1000 to 1000"),
    ("process.apparmorProfile", "leave it out, or run on a host whose kernel has that LSM"),
    ("process.selinuxLabel", "leave it out, or run on a host whose kernel has that LSM"),
    ("hostname", "a UTS namespace in linux.namespaces, or no hostname"),
    ("domainname", "a UTS namespace in linux.namespaces, or no domainname"),
    ("mounts", "an absolute destination inside the container, without \"..\""),
    ("mounts[].source", "for a bind mount, a path that exists on the host; else the filesystem's source, e.g. \"tmpfs\""),
    ("hooks", "an absolute path to an executable file on the host"),
    ("annotations", "a JSON object of string keys and string values"),
    ("linux", "see the `linux` object of the OCI runtime spec"),
    ("linux.namespaces", "each of pid, network, mount, ipc, uts, user, cgroup, time at most once"),
    ("linux.namespaces[", "a type from /proc/self/ns; a path must be that type's namespace file, e.g. /proc/<pid>/ns/net"),
    ("linux.uidMappings", "at most 340 non-overlapping ranges, with a user namespace of its own"),
    ("linux.gidMappings", "at most 340 non-overlapping ranges, with a user namespace of its own"),
    ("linux.cgroupsPath", "a cgroup path such as \"/mygroup/container1\", without \"..\""),
    ("linux.resources", "-1 means unlimited; the cgroup documentation of the kernel gives each file's range"),
    ("linux.sysctl", "only sysctls of a namespace the container has its own of (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)"),
    ("linux.seccomp", "`berth features` lists the actions, architectures and flags berth applies"),
    ("linux.devices", "absolute paths (usually under /dev) and types c, b, u or p"),
    ("linux.devices[].major", "a device number from 0 to 4294967295, as /proc/devices lists majors"),
    ("linux.devices[].minor", "a device number from 0 to 4294967295"),
    ("linux.maskedPaths", "absolute paths inside the container"),
    ("linux.readonlyPaths", "absolute paths inside the container"),
    ("linux.rootfsPropagation", "one of shared, slave, private, unbindable (or their r-forms)"),
    ("linux.mountLabel", "leave it out, or run on a host whose kernel has SELinux"),
];

/// A hint for `err`: how to fix it.
pub fn hint(err: &SpecError) -> &'static str {
    match err {
        SpecError::Bundle { .. } => "pass an existing bundle directory with --bundle",
        SpecError::NoConfig { .. } => "write one with `berth spec`",
        SpecError::TooLarge { .. } => "a real config.json is a few kilobytes",
        SpecError::Read { .. } => "make the file readable by the runtime",
        SpecError::Parse { field: None, .. } => "fix the JSON at the line and column given",
        SpecError::Parse { field: Some(path), .. } | SpecError::Invalid { path, .. } => {
            let path = without_indices(path);
            HINTS
                .iter()
                .filter(|(prefix, _)| path.starts_with(prefix))
                .max_by_key(|(prefix, _)| prefix.len())
                .map_or("see the OCI runtime spec for this field", |(_, hint)| hint)
        }
    }
}

/// `mounts[7].source` → `mounts[].source`: a hint is about a field of any element.
fn without_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            _ if in_index => continue,
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(path: &str) -> SpecError {
        SpecError::Invalid { path: path.into(), reason: "x".into() }
    }

    #[test]
    fn the_longest_prefix_wins() {
        assert!(hint(&invalid("process.cwd")).contains("absolute directory"));
        assert!(hint(&invalid("process.user.uid")).contains("2147483647"));
        assert!(hint(&invalid("process.terminal")).contains("`process` object"));
        assert!(hint(&invalid("linux.namespaces[2].type")).contains("/proc/self/ns"));
        assert!(hint(&invalid("vm")).contains("OCI runtime spec"));
        assert!(hint(&invalid("mounts[7].source")).contains("exists on the host"));
        assert!(hint(&invalid("mounts[7].destination")).contains("absolute destination"));
    }
}
