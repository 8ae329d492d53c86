//! Capabilities: the five sets of `process.capabilities`, applied with the `caps` crate.
//!
//! The bounding set is reduced while the init is still root (it needs CAP_SETPCAP); the
//! other sets after the uid/gid switch, in an order the kernel accepts: inheritable (may
//! still need CAP_SETPCAP in the effective set), effective (a subset of permitted), then
//! permitted, and ambient last (each ambient capability must be permitted and inheritable).

use caps::{CapSet, Capability, CapsHashSet};

use crate::spec::CapabilitySets;

/// A capability set the kernel refused.
#[derive(Debug, thiserror::Error)]
#[error("setting the {set} capability set")]
pub struct CapabilityError {
    /// Which set.
    pub set: &'static str,
    /// The cause from the `caps` crate.
    #[source]
    pub source: caps::errors::CapsError,
}

fn set_err(set: &'static str) -> impl FnOnce(caps::errors::CapsError) -> CapabilityError {
    move |source| CapabilityError { set, source }
}

fn to_set(caps: &[Capability]) -> CapsHashSet {
    caps.iter().copied().collect()
}

/// Drops every capability not in `sets.bounding` from the bounding set.
pub fn limit_bounding(sets: &CapabilitySets) -> Result<(), CapabilityError> {
    let keep = to_set(&sets.bounding);
    let current = caps::read(None, CapSet::Bounding).map_err(set_err("bounding"))?;
    for cap in current.difference(&keep) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(set_err("bounding"))?;
    }
    Ok(())
}

/// Sets inheritable, effective, permitted and ambient to exactly what `sets` lists.
pub fn apply(sets: &CapabilitySets) -> Result<(), CapabilityError> {
    caps::set(None, CapSet::Inheritable, &to_set(&sets.inheritable))
        .map_err(set_err("inheritable"))?;
    caps::set(None, CapSet::Effective, &to_set(&sets.effective)).map_err(set_err("effective"))?;
    caps::set(None, CapSet::Permitted, &to_set(&sets.permitted)).map_err(set_err("permitted"))?;
    caps::clear(None, CapSet::Ambient).map_err(set_err("ambient"))?;
    for cap in &sets.ambient {
        caps::raise(None, CapSet::Ambient, *cap).map_err(set_err("ambient"))?;
    }
    Ok(())
}
