//! Read config.json and turn it into a [`ValidSpec`].

use std::path::Path;

use super::{SpecError, ValidSpec};

/// Reads `<bundle>/config.json`, validates it and returns the validated spec.
pub fn load(bundle: &Path) -> Result<ValidSpec, SpecError> {
    let _ = bundle;
    todo!("spec::load")
}
