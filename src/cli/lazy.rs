//! Subcommand flags declared to clap only for the subcommand being parsed.

use clap::builder::{Resettable, StyledStr};
use clap::{ArgMatches, Args, Command, FromArgMatches};

use super::GlobalOpts;

/// A subcommand's flags (`T`), added to its clap [`Command`] only when that subcommand is
/// parsed ([`Command::defer`]), with the global flags (hidden: given after the command name,
/// see [`GlobalOpts`]). clap's derive builds the flags of every subcommand on every
/// invocation: callgrind put that at over 40% of the instructions of a `berth run` (about
/// 0.8 M of 1.9 M), paid as well by each `state`, `kill` and `start` a shim makes. Help,
/// usage errors and `berth-docs` build the whole tree (`Command::build`), so they list
/// every flag as before.
#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T> std::ops::Deref for Lazy<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Args> Args for Lazy<T> {
    fn augment_args(cmd: Command) -> Command {
        cmd.defer(|cmd| keeping_about(cmd, |cmd| GlobalOpts::augment_args(T::augment_args(cmd))))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        cmd.defer(|cmd| {
            keeping_about(cmd, |cmd| GlobalOpts::augment_args(T::augment_args_for_update(cmd)))
        })
    }

    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

impl<T: FromArgMatches> FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Lazy)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Lazy)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

/// `augment(cmd)` with the subcommand's own description kept: the flags struct's doc comment
/// would otherwise replace it, as the deferred flags come after the subcommand's attributes.
fn keeping_about(cmd: Command, augment: fn(Command) -> Command) -> Command {
    let kept =
        |text: Option<&StyledStr>| text.cloned().map_or(Resettable::Reset, Resettable::Value);
    let (about, long_about) = (kept(cmd.get_about()), kept(cmd.get_long_about()));
    augment(cmd).about(about).long_about(long_about)
}
