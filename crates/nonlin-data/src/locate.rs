//! Where data sets live on disk, and which of them are present.
//!
//! Lookup order: an explicit folder (the command line's `--data-dir`), then the environment
//! variable `NONLIN_DATA`, then the user's data folder (`$XDG_DATA_HOME/nonlin`, by default
//! `~/.local/share/nonlin`; the platform equivalent elsewhere). In each place the data set is
//! looked for in the sub-folder named after it (`<place>/mnist/`), then in the place itself (so
//! `--data-dir path/to/mnist` works too). The first complete copy wins.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::DataError;

/// The environment variable naming a data folder.
pub const DATA_ENV_VAR: &str = "NONLIN_DATA";

/// A data set that can be found on disk and the files it needs (each accepted plain or `.gz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSetSpec {
    /// Its name, also the name of its sub-folder.
    pub name: &'static str,
    /// File names without `.gz`.
    pub files: &'static [&'static str],
}

/// The data sets nonlin reads from disk.
pub const DATA_SETS: [DataSetSpec; 3] = [
    DataSetSpec {
        name: "mnist",
        files: &[
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ],
    },
    DataSetSpec {
        name: "digits",
        files: &["digits.csv"],
    },
    DataSetSpec {
        name: "shakespeare",
        files: &["shakespeare.txt"],
    },
];

/// Where a search place came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// Given explicitly (`--data-dir`).
    Explicit,
    /// The `NONLIN_DATA` environment variable.
    Env,
    /// The user's data folder.
    UserDataDir,
}

/// One place to search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRoot {
    /// Where it came from.
    pub source: RootSource,
    /// The folder.
    pub path: PathBuf,
}

/// Whether a folder holds a data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// Every file is there.
    Complete,
    /// Some files are there; these (names without `.gz`) are missing.
    Partial {
        /// The missing files.
        missing: Vec<String>,
    },
    /// None of its files are there.
    Absent,
    /// Shipped inside the crate (the 8x8 digits); no file needed.
    Embedded,
}

/// One row of [`available`]: a data set, a place, and what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSetStatus {
    /// The data set.
    pub name: &'static str,
    /// Where that place came from; `None` for embedded data.
    pub source: Option<RootSource>,
    /// The folder checked (the complete one when there is one).
    pub folder: PathBuf,
    /// What the folder holds.
    pub status: Presence,
}

/// The places to search, in order, from the explicit folder and the real environment.
pub fn search_roots(explicit: Option<&Path>) -> Vec<SearchRoot> {
    search_roots_from(
        explicit,
        std::env::var_os(DATA_ENV_VAR),
        dirs::data_dir().map(|d| d.join("nonlin")),
    )
}

/// [`search_roots`] with the environment passed in, so tests need not change the process's.
fn search_roots_from(
    explicit: Option<&Path>,
    env: Option<OsString>,
    user: Option<PathBuf>,
) -> Vec<SearchRoot> {
    let mut roots = Vec::new();
    if let Some(p) = explicit {
        roots.push(SearchRoot {
            source: RootSource::Explicit,
            path: p.to_path_buf(),
        });
    }
    if let Some(v) = env.filter(|v| !v.is_empty()) {
        roots.push(SearchRoot {
            source: RootSource::Env,
            path: PathBuf::from(v),
        });
    }
    if let Some(p) = user {
        roots.push(SearchRoot {
            source: RootSource::UserDataDir,
            path: p,
        });
    }
    roots
}

/// The spec of a data set by name, or `Invalid` listing the known names.
pub fn spec(name: &str) -> Result<&'static DataSetSpec, DataError> {
    DATA_SETS.iter().find(|s| s.name == name).ok_or_else(|| {
        let known: Vec<&str> = DATA_SETS.iter().map(|s| s.name).collect();
        DataError::invalid(format!(
            "data set name {name:?} (known: {})",
            known.join(", ")
        ))
    })
}

/// Which of `spec`'s files `folder` holds, plain or `.gz`.
fn presence(folder: &Path, spec: &DataSetSpec) -> Presence {
    let missing: Vec<String> = spec
        .files
        .iter()
        .filter(|f| !folder.join(f).is_file() && !folder.join(format!("{f}.gz")).is_file())
        .map(|f| f.to_string())
        .collect();
    if missing.is_empty() {
        Presence::Complete
    } else if missing.len() == spec.files.len() {
        Presence::Absent
    } else {
        Presence::Partial { missing }
    }
}

/// The folders checked in `root` for `spec`: `root/<name>`, then `root`.
fn candidates(root: &Path, spec: &DataSetSpec) -> [PathBuf; 2] {
    [root.join(spec.name), root.to_path_buf()]
}

/// The first folder among `roots` holding the complete data set `name`.
pub fn locate_in(name: &str, roots: &[SearchRoot]) -> Result<PathBuf, DataError> {
    let spec = spec(name)?;
    let mut searched = Vec::new();
    for root in roots {
        for folder in candidates(&root.path, spec) {
            if presence(&folder, spec) == Presence::Complete {
                return Ok(folder);
            }
            searched.push(folder);
        }
    }
    Err(DataError::NotFound {
        what: format!(
            "data set {name} (files {}, each plain or .gz)",
            spec.files.join(", ")
        ),
        searched,
    })
}

/// The folder holding data set `name` (`"mnist"`, `"digits"`, `"shakespeare"`), searching the
/// explicit folder, `NONLIN_DATA` and the user's data folder in that order.
pub fn locate(name: &str, explicit: Option<&Path>) -> Result<PathBuf, DataError> {
    locate_in(name, &search_roots(explicit))
}

/// For `nonlin data info`: every data set in every search place, and what is there.
pub fn available(explicit: Option<&Path>) -> Vec<DataSetStatus> {
    available_in(&search_roots(explicit))
}

fn available_in(roots: &[SearchRoot]) -> Vec<DataSetStatus> {
    let mut rows = Vec::new();
    for spec in &DATA_SETS {
        if spec.name == "digits" {
            rows.push(DataSetStatus {
                name: spec.name,
                source: None,
                folder: PathBuf::from("nonlin-data/assets"),
                status: Presence::Embedded,
            });
        }
        for root in roots {
            let [sub, itself] = candidates(&root.path, spec);
            let (folder, status) = if presence(&itself, spec) == Presence::Complete
                && presence(&sub, spec) != Presence::Complete
            {
                (itself, Presence::Complete)
            } else {
                let status = presence(&sub, spec);
                (sub, status)
            };
            rows.push(DataSetStatus {
                name: spec.name,
                source: Some(root.source),
                folder,
                status,
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    }

    fn roots(paths: &[&Path]) -> Vec<SearchRoot> {
        paths
            .iter()
            .map(|p| SearchRoot {
                source: RootSource::Explicit,
                path: p.to_path_buf(),
            })
            .collect()
    }

    fn fill_mnist(folder: &Path) {
        for f in DATA_SETS[0].files {
            touch(&folder.join(format!("{f}.gz")));
        }
    }

    #[test]
    fn order_is_explicit_env_user_and_empty_env_is_ignored() {
        let r = search_roots_from(
            Some(Path::new("/a")),
            Some("/b".into()),
            Some("/c/nonlin".into()),
        );
        let got: Vec<(RootSource, PathBuf)> = r.into_iter().map(|r| (r.source, r.path)).collect();
        assert_eq!(
            got,
            vec![
                (RootSource::Explicit, "/a".into()),
                (RootSource::Env, "/b".into()),
                (RootSource::UserDataDir, "/c/nonlin".into()),
            ]
        );
        assert_eq!(search_roots_from(None, Some("".into()), None), vec![]);
    }

    #[test]
    fn first_complete_copy_wins() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        // a holds only half of MNIST, b all of it (plain files are fine too).
        touch(&a.path().join("mnist/train-images-idx3-ubyte.gz"));
        for f in DATA_SETS[0].files {
            touch(&b.path().join("mnist").join(f));
        }
        let found = locate_in("mnist", &roots(&[a.path(), b.path()])).unwrap();
        assert_eq!(found, b.path().join("mnist"));
    }

    #[test]
    fn the_place_itself_may_be_the_data_set_folder() {
        let a = tempfile::tempdir().unwrap();
        fill_mnist(a.path());
        assert_eq!(locate_in("mnist", &roots(&[a.path()])).unwrap(), a.path());
    }

    #[test]
    fn not_found_lists_every_place_searched() {
        let a = tempfile::tempdir().unwrap();
        let e = locate_in("shakespeare", &roots(&[a.path(), Path::new("/nowhere")])).unwrap_err();
        match &e {
            DataError::NotFound { searched, .. } => assert_eq!(
                searched,
                &vec![
                    a.path().join("shakespeare"),
                    a.path().to_path_buf(),
                    PathBuf::from("/nowhere/shakespeare"),
                    PathBuf::from("/nowhere"),
                ]
            ),
            other => panic!("expected NotFound, got {other}"),
        }
        assert!(e.to_string().contains("shakespeare.txt"));
        assert!(matches!(
            locate_in("cifar", &[]),
            Err(DataError::Invalid { .. })
        ));
    }

    #[test]
    fn availability_rows() {
        let a = tempfile::tempdir().unwrap();
        touch(&a.path().join("mnist/train-images-idx3-ubyte.gz"));
        touch(&a.path().join("shakespeare/shakespeare.txt.gz"));
        let rows = available_in(&roots(&[a.path()]));
        let find = |name: &str, embedded: bool| {
            rows.iter()
                .find(|r| r.name == name && (r.status == Presence::Embedded) == embedded)
                .unwrap()
                .clone()
        };
        assert_eq!(
            find("mnist", false).status,
            Presence::Partial {
                missing: vec![
                    "train-labels-idx1-ubyte".into(),
                    "t10k-images-idx3-ubyte".into(),
                    "t10k-labels-idx1-ubyte".into()
                ]
            }
        );
        assert_eq!(find("shakespeare", false).status, Presence::Complete);
        assert_eq!(find("digits", false).status, Presence::Absent);
        assert_eq!(find("digits", true).source, None);
        assert_eq!(rows.len(), 4);
    }

    #[test]
    fn shared_folder_is_found_when_present() {
        let Some(dir) = crate::testdata::require_shared("mnist") else {
            return;
        };
        let data = dir.parent().unwrap();
        assert_eq!(locate("mnist", Some(data)).unwrap(), dir);
        assert!(locate("shakespeare", Some(data)).is_ok());
    }
}
