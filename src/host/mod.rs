//! Host features: the modules that apply a config field only some hosts offer (LSM labels,
//! network devices, Intel RDT), what `berth features` reports, and [`Probe`], the answers
//! to [`crate::spec::HostFacts`] that validation asks this host.

pub mod features;
pub mod lsm;
pub mod netdev;
mod probe;
pub mod resctrl;

pub use probe::Probe;
