//! Finding the project's shared test data (`../shared/data` beside the workspace root).
//!
//! Tests that read real data sets call [`require_shared`]: on a developer machine without the
//! folder they are skipped with a note on stderr; in CI (environment variable `CI` set) a missing
//! folder fails the test, so a broken checkout cannot pass silently.

use std::path::PathBuf;

/// The shared data folder: the first `<ancestor>/../shared/data` that exists, walking up from this
/// crate's manifest folder (from the workspace root it is `../shared/data`).
pub fn shared_data_dir() -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .filter_map(|a| a.parent())
        .map(|p| p.join("shared").join("data"))
        .find(|p| p.is_dir())
}

/// The shared folder of data set `name` (e.g. `"mnist"`) if present.
///
/// # Panics
/// When the folder is missing and the environment variable `CI` is set: missing data is a failure
/// there. Otherwise prints a `skipped:` line to stderr and returns `None`.
pub fn require_shared(name: &str) -> Option<PathBuf> {
    if let Some(dir) = shared_data_dir()
        .map(|d| d.join(name))
        .filter(|d| d.is_dir())
    {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{name} data not found at ../shared/data (searched upwards from {}); \
             CI is set, so missing test data is a failure",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    eprintln!("skipped: {name} data not found at ../shared/data (set CI to make this a failure)");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_shared_folder_beside_the_workspace() {
        // In this repository the crate is <root>/crates/nonlin-data and the data <root>/../shared/data.
        if let Some(dir) = shared_data_dir() {
            assert!(dir.ends_with("shared/data"));
            assert!(dir.join("README.md").is_file() || dir.read_dir().is_ok());
        }
    }

    #[test]
    fn unknown_names_are_absent() {
        // With CI set this would panic by design; the test only runs the non-CI path.
        if std::env::var_os("CI").is_none() {
            assert_eq!(require_shared("no-such-data-set-here"), None);
        }
    }
}
