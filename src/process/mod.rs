//! The container process, in three parts:
//!
//! - [`parent`]: the runtime's side — clone into the init ([`parent::spawn`]), write the id
//!   maps, follow the init through the protocol ([`parent::follow`]), read its last report
//!   ([`parent::report`]), and the signal handling of a foreground `run`/`exec`.
//! - [`child`]: the clone's side — the first stage of the two-stage path
//!   ([`child::first_stage`]), the init's named steps ([`child::init`]) and the program it
//!   executes ([`child::program`]).
//! - shared by both: the protocol between them ([`sync`]), the exec shim ([`shim`]: the
//!   child loads it, the parent reads its reports), socket activation ([`activation`]), and
//!   the parent side's one error type ([`ProcessError`]).
//!
//! Arrows run parent → child → sync: the child never imports the parent, and [`sync`]
//! imports neither.

pub mod activation;
pub mod child;
mod error;
pub mod parent;
pub mod shim;
pub mod sync;
#[cfg(test)]
mod testing;

pub use child::init::{ContainerFlags, InitOptions};
pub use error::{BoxError, ProcessError, SetupError, EXECUTING};
pub use parent::report::{parse_fifo_report, FifoReport};
pub use parent::signals;
pub use parent::spawn::{init_is_grandchild, spawn, SpawnOptions, Spawned};
