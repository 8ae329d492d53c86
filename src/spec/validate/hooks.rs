//! `hooks`: every hook has an absolute path and a sane timeout.

use oci_spec::runtime::Spec;

use super::Problems;
use crate::spec::{Hook, Hooks};

pub(super) fn hook_lists(
    spec: &Spec,
) -> [(&'static str, Option<&Vec<oci_spec::runtime::Hook>>); 6] {
    let hooks = spec.hooks().as_ref();
    #[allow(deprecated)]
    [
        ("prestart", hooks.and_then(|h| h.prestart().as_ref())),
        ("createRuntime", hooks.and_then(|h| h.create_runtime().as_ref())),
        ("createContainer", hooks.and_then(|h| h.create_container().as_ref())),
        ("startContainer", hooks.and_then(|h| h.start_container().as_ref())),
        ("poststart", hooks.and_then(|h| h.poststart().as_ref())),
        ("poststop", hooks.and_then(|h| h.poststop().as_ref())),
    ]
}

pub(super) fn check_hooks(spec: &Spec, p: &mut Problems) {
    for (name, list) in hook_lists(spec) {
        for (i, hook) in list.into_iter().flatten().enumerate() {
            let at = format!("hooks.{name}[{i}]");
            if !hook.path().is_absolute() {
                p.push(format!("{at}.path"), format!("{:?} must be an absolute path", hook.path()));
            }
            if let Some(timeout) = hook.timeout() {
                if timeout <= 0 || timeout > i64::from(u32::MAX) {
                    p.push(
                        format!("{at}.timeout"),
                        format!("{timeout} must be a positive number of seconds"),
                    );
                }
            }
            for (j, entry) in hook.env().iter().flatten().enumerate() {
                if !entry.contains('=') {
                    p.push(format!("{at}.env[{j}]"), format!("{entry:?} is not KEY=VALUE"));
                }
            }
        }
    }
}

pub(super) fn build_hooks(spec: &Spec) -> Hooks {
    let [prestart, create_runtime, create_container, start_container, poststart, poststop] =
        hook_lists(spec).map(|(_, list)| {
            list.into_iter()
                .flatten()
                .map(|h| Hook {
                    path: h.path().clone(),
                    args: h.args().clone().unwrap_or_default(),
                    env: h.env().clone().unwrap_or_default(),
                    timeout: h.timeout().and_then(|t| u32::try_from(t).ok()),
                })
                .collect()
        });
    Hooks { prestart, create_runtime, create_container, start_container, poststart, poststop }
}
