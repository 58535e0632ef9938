//! Atomic file writes: a temporary file in the target's folder, fsync, rename over the target,
//! fsync of the folder. A reader (or a run resumed after a crash) sees the old file or the new
//! one, never a torn one, and a write that fails or is abandoned leaves no temporary file behind.
//!
//! The one implementation for the workspace: downloads stream through [`AtomicFile`], and the lab
//! writes summaries, checkpoints and reports with [`write_atomic`].

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// Writes `bytes` to `path` atomically, creating its folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// A file written in pieces that appears under its name only when [`AtomicFile::commit`]ted.
/// Until then the bytes go to a hidden temporary file in the same folder (`.name.XXXXXX.tmp`),
/// which is removed if the `AtomicFile` is dropped uncommitted. Writes go straight to the file
/// (no user-space buffer); wrap it in a `BufWriter` for many small writes.
#[derive(Debug)]
pub struct AtomicFile {
    temp: NamedTempFile,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path`, creating its folder if needed. Nothing appears under `path` yet.
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let name = path.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} names no file", path.display()),
            )
        })?;
        let dir = folder_of(path);
        std::fs::create_dir_all(dir)?;
        // The same folder, so the rename never crosses file systems; a name that says whose it is,
        // in case a killed process leaves one behind.
        let prefix = format!(".{}.", name.to_string_lossy());
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // tempfile makes owner-only files (0600); a data file or run output should get the mode
        // any new file of the process gets (0666 less the umask), like the file it replaces.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let temp = builder.tempfile_in(dir)?;
        Ok(AtomicFile {
            temp,
            path: path.to_path_buf(),
        })
    }

    /// Where the bytes are being written until the commit, e.g. to verify them before it.
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// Syncs the bytes to disk, renames the temporary file over the target and syncs the folder
    /// so the rename survives a power cut too. On an error before the rename the temporary file
    /// is removed and the target is untouched; an error from the final folder sync means the new
    /// file is in place but its rename may not be durable yet.
    pub fn commit(self) -> io::Result<()> {
        // The data must be on disk before the rename, or a power cut could leave an empty file
        // under the real name.
        self.temp.as_file().sync_all()?;
        // On failure the PersistError's file is dropped here, which removes the temporary file.
        self.temp.persist(&self.path).map_err(|e| e.error)?;
        sync_folder(folder_of(&self.path))
    }
}

/// The folder `path` is in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
fn sync_folder(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Other platforms cannot open a folder as a file to sync it; their file systems journal the
/// rename themselves.
#[cfg(not(unix))]
fn sync_folder(_dir: &Path) -> io::Result<()> {
    Ok(())
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(listing(&dir.path().join("run")), ["a.json"]);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_gets_the_mode_of_any_new_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        std::fs::write(dir.path().join("plain"), b"x").unwrap();
        write_atomic(&dir.path().join("atomic"), b"x").unwrap();
        assert_eq!(
            mode(&dir.path().join("atomic")),
            mode(&dir.path().join("plain"))
        );
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_and_the_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty folder under the target's name: the rename over it fails.
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), b"keep").unwrap();
        assert!(write_atomic(&target, b"new").is_err());
        assert_eq!(listing(dir.path()), ["taken"]);
        assert_eq!(std::fs::read(target.join("inside")).unwrap(), b"keep");
        // A path without a file name is an error too, not a panic.
        assert!(write_atomic(Path::new("/"), b"x").is_err());
    }

    #[test]
    fn streaming_writer_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        std::fs::write(&path, b"old").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"chunk 1, ").unwrap();
        file.write_all(b"chunk 2").unwrap();
        // Before the commit the target still holds the old bytes; the new ones are readable in
        // the temporary file (fetch verifies them there).
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let temp = file.temp_path().to_path_buf();
        assert_eq!(temp.parent(), Some(dir.path()));
        assert_eq!(std::fs::read(&temp).unwrap(), b"chunk 1, chunk 2");
        file.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"chunk 1, chunk 2");
        assert_eq!(listing(dir.path()), ["data.bin"]);
    }

    #[test]
    fn dropping_an_uncommitted_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = AtomicFile::create(&dir.path().join("never.bin")).unwrap();
        file.write_all(b"abandoned").unwrap();
        assert_eq!(listing(dir.path()).len(), 1, "the temporary file exists");
        drop(file);
        assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    }
}
