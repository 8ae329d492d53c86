//! systemd socket activation (`LISTEN_FDS`/`LISTEN_PID`, sd_listen_fds(3)) across the
//! runtime: fds passed to berth reach the container, and `LISTEN_PID` names the process
//! that will really read them — the container's, not the runtime's.

/// The number of activation fds the runtime itself was given: `LISTEN_FDS` from its own
/// environment, only when `LISTEN_PID` names the runtime (as sd_listen_fds(3) requires), so
/// variables a caller merely inherited never pass its descriptors into a container.
pub fn inherited_listen_fds() -> Option<u32> {
    let count: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    (pid == std::process::id() && count > 0).then_some(count)
}

/// Passes the runtime's own activation fds on: at least `count` fds are preserved and the
/// process gets `LISTEN_FDS=count` (replacing one from the config).
pub fn pass_on(count: u32, preserve_fds: &mut u32, env: &mut Vec<String>) {
    *preserve_fds = (*preserve_fds).max(count);
    env.retain(|e| !e.starts_with("LISTEN_FDS="));
    env.push(format!("LISTEN_FDS={count}"));
}

/// With `LISTEN_FDS` in `env`, sets `LISTEN_PID` to `pid` (the process about to exec), so
/// sd_listen_fds(3) in the container accepts the fds.
pub fn set_listen_pid(env: &mut Vec<String>, pid: u32) {
    if !env.iter().any(|e| e.starts_with("LISTEN_FDS=")) {
        return;
    }
    env.retain(|e| !e.starts_with("LISTEN_PID="));
    env.push(format!("LISTEN_PID={pid}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_pid_follows_listen_fds() {
        let mut env = vec!["A=1".to_string(), "LISTEN_FDS=2".into(), "LISTEN_PID=99".into()];
        set_listen_pid(&mut env, 1);
        assert_eq!(env, ["A=1", "LISTEN_FDS=2", "LISTEN_PID=1"]);
        let mut env = vec!["A=1".to_string()];
        set_listen_pid(&mut env, 1);
        assert_eq!(env, ["A=1"]);
    }

    #[test]
    fn passing_on_raises_preserve_fds() {
        let (mut preserve, mut env) = (1, vec!["LISTEN_FDS=9".to_string()]);
        pass_on(3, &mut preserve, &mut env);
        assert_eq!((preserve, env), (3, vec!["LISTEN_FDS=3".to_string()]));
    }
}
