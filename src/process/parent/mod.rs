//! The runtime's side of process creation: clone into the init ([`spawn`]), follow it
//! through the protocol until it is ready ([`follow`]), doing for it only what must come
//! first (`setup`), read its last report ([`report`]),
//! and what a foreground `run` or `exec` needs around it ([`signals`]).

mod bind_sources;
pub mod follow;
pub mod report;
mod setup;
pub mod signals;
pub mod spawn;
