//! The default config.json written by `berth spec`.

/// The default spec as pretty JSON; `rootless` adapts it for an unprivileged user.
pub fn default_spec(rootless: bool) -> String {
    let _ = rootless;
    todo!("spec::default_spec")
}
