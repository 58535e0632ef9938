//! Downloading data files over HTTP(S), verified by SHA-256 and placed atomically.
//!
//! Each file is streamed into a hidden temporary file in the target folder while its SHA-256 is
//! computed; only when the digest matches is the file synced and renamed to its final name, so a
//! failed, interrupted or corrupted download never leaves a file under the real name (and the
//! temporary file is removed on every error path; see [`crate::atomic::AtomicFile`]). Files
//! already present with the right digest are not downloaded again.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::atomic::AtomicFile;
use crate::error::DataError;

/// A public mirror of the original MNIST files (the one PyTorch's torchvision uses). Any other
/// mirror serving the same four original `.gz` files can be passed to [`fetch_files`] instead.
pub const MNIST_DEFAULT_URL: &str = "https://ossci-datasets.s3.amazonaws.com/mnist/";

/// Give up connecting after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Give up when no byte arrives for this long.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes read per step (and per progress report).
const CHUNK: usize = 64 * 1024;

/// A file to download: its name under the base URL (also its local name) and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, e.g. `train-images-idx3-ubyte.gz`; no `/` and not `.` or `..`.
    pub name: String,
    /// Lower-case hex SHA-256, of what [`RemoteFile::digest_of`] says.
    pub sha256: String,
    /// Whether the digest is of the bytes as served or of their gzip-decompressed content.
    pub digest_of: DigestOf,
}

/// What a [`RemoteFile`]'s SHA-256 is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestOf {
    /// The bytes exactly as served.
    Served,
    /// The content after gzip decompression (the bytes as served when they are not gzip), so a
    /// mirror that recompressed the files is accepted as long as their content is right.
    Content,
}

impl RemoteFile {
    /// A file with the expected digest of its bytes as served.
    pub fn new(name: impl Into<String>, sha256: impl Into<String>) -> Self {
        RemoteFile {
            name: name.into(),
            sha256: sha256.into(),
            digest_of: DigestOf::Served,
        }
    }

    /// A file with the expected digest of its decompressed content.
    pub fn content(name: impl Into<String>, sha256: impl Into<String>) -> Self {
        RemoteFile {
            digest_of: DigestOf::Content,
            ..RemoteFile::new(name, sha256)
        }
    }

    /// The digest of a local copy, computed as this file's digest is.
    fn digest_of_file(&self, path: &Path) -> Result<String, DataError> {
        match self.digest_of {
            DigestOf::Served => sha256_file(path),
            DigestOf::Content => Ok(hex(&Sha256::digest(crate::gzip::read_maybe_gzip(path)?))),
        }
    }
}

/// The four MNIST files, each with the SHA-256 of its decompressed IDX content.
///
/// The content digest rather than the `.gz` digest, because copies differ in compression: the
/// original LeCun `.gz` files (SHA-256 `440fcabf…3609` for the training images, as served by
/// [`MNIST_DEFAULT_URL`]) and the recompressed copies in `../shared/data/mnist` (`0b367032…5971`)
/// hold the same IDX bytes (see `shared_copy_holds_the_same_idx_bytes_as_the_mirror`).
pub fn mnist_files() -> Vec<RemoteFile> {
    vec![
        RemoteFile::content(
            "train-images-idx3-ubyte.gz",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        RemoteFile::content(
            "train-labels-idx1-ubyte.gz",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        RemoteFile::content(
            "t10k-images-idx3-ubyte.gz",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        RemoteFile::content(
            "t10k-labels-idx1-ubyte.gz",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ]
}

/// Lower-case hex of a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a file's bytes, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let mut f = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Download `files` from `base_url` into `dir` (created if needed), verifying each SHA-256 before
/// the file appears under its name. Returns the local paths in the order of `files`.
///
/// `progress(name, bytes_so_far, total)` is called as bytes arrive (`total` from the
/// `Content-Length` header when the server sends one) and once for each file already present.
/// Stops at the first failure; files finished before it stay (they are verified).
pub fn fetch_files(
    base_url: &str,
    files: &[RemoteFile],
    dir: &Path,
    progress: &mut dyn FnMut(&str, u64, Option<u64>),
) -> Result<Vec<PathBuf>, DataError> {
    for f in files {
        let bad_name =
            f.name.is_empty() || f.name == "." || f.name == ".." || f.name.contains(['/', '\\']);
        if bad_name {
            return Err(DataError::invalid(format!(
                "remote file name {:?} (must be a plain file name)",
                f.name
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(CONNECT_TIMEOUT)
        .timeout_read(READ_TIMEOUT)
        .build();
    let mut paths = Vec::with_capacity(files.len());
    for f in files {
        let dest = dir.join(&f.name);
        let expected = f.sha256.to_ascii_lowercase();
        if dest.is_file() && f.digest_of_file(&dest).ok().as_deref() == Some(expected.as_str()) {
            let size = dest.metadata().map_err(|e| DataError::io(&dest, e))?.len();
            progress(&f.name, size, Some(size));
            paths.push(dest);
            continue;
        }
        let url = format!("{}/{}", base_url.trim_end_matches('/'), f.name);
        download_one(&agent, &url, f, &expected, &dest, progress)?;
        paths.push(dest);
    }
    Ok(paths)
}

fn download_one(
    agent: &ureq::Agent,
    url: &str,
    file: &RemoteFile,
    expected: &str,
    dest: &Path,
    progress: &mut dyn FnMut(&str, u64, Option<u64>),
) -> Result<(), DataError> {
    let name = file.name.as_str();
    let download_error = |message: String| DataError::Download {
        url: url.to_string(),
        message,
    };
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => download_error(format!(
            "the server answered HTTP {code} {}",
            r.status_text()
        )),
        ureq::Error::Transport(t) => download_error(t.to_string()),
    })?;
    let total: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.trim().parse().ok());

    // Removed again on every error path below (dropped uncommitted).
    let mut out = AtomicFile::create(dest).map_err(|e| DataError::io(dest, e))?;
    let mut reader = response.into_reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut so_far = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            download_error(format!("reading the body failed after {so_far} bytes: {e}"))
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| DataError::io(out.temp_path(), e))?;
        so_far += n as u64;
        progress(name, so_far, total);
    }
    if let Some(t) = total.filter(|&t| t != so_far) {
        return Err(download_error(format!(
            "the server announced {t} bytes but sent {so_far}"
        )));
    }
    let found = match file.digest_of {
        DigestOf::Served => hex(&hasher.finalize()),
        DigestOf::Content => file
            .digest_of_file(out.temp_path())
            .map_err(|e| download_error(format!("the body does not decompress: {e}")))?,
    };
    if found != expected {
        return Err(DataError::HashMismatch {
            path: dest.to_path_buf(),
            expected: expected.to_string(),
            found,
        });
    }
    out.commit().map_err(|e| DataError::io(dest, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::BufRead;
    use std::net::TcpListener;
    use std::thread::JoinHandle;
    use std::time::Instant;

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    /// A minimal HTTP/1.1 server on 127.0.0.1 serving `files` by path (`/name`), 404 otherwise.
    /// Answers at most `max_requests` requests, and stops after 20 s in any case; the handle
    /// returns the paths requested.
    fn serve(
        files: HashMap<String, Vec<u8>>,
        max_requests: usize,
    ) -> (String, JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut seen = Vec::new();
            while seen.len() < max_requests && Instant::now() < deadline {
                let (stream, _) = match listener.accept() {
                    Ok(s) => s,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = std::io::BufReader::new(stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Skip the headers up to the blank line.
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line == "\r\n" || line == "\n" => break,
                        Ok(_) => {}
                    }
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                let mut stream = reader.into_inner();
                let (status, body): (&str, &[u8]) = match files.get(&path) {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"not found"),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
                let _ = stream.flush();
                seen.push(path);
            }
            seen
        });
        (base, handle)
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn downloads_verifies_and_skips_on_the_second_call() {
        let a: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let b = b"second file".to_vec();
        let files = vec![
            RemoteFile::new("a.bin", sha(&a)),
            RemoteFile::new("b.bin", sha(&b).to_uppercase()),
        ];
        let served = HashMap::from([
            ("/data/a.bin".to_string(), a.clone()),
            ("/data/b.bin".to_string(), b.clone()),
        ]);
        let (base, server) = serve(served, 2);
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("mnist");

        let mut reports: Vec<(String, u64, Option<u64>)> = Vec::new();
        let paths = fetch_files(&format!("{base}/data/"), &files, &target, &mut |n, s, t| {
            reports.push((n.to_string(), s, t))
        })
        .unwrap();
        assert_eq!(paths, vec![target.join("a.bin"), target.join("b.bin")]);
        assert_eq!(std::fs::read(&paths[0]).unwrap(), a);
        assert_eq!(std::fs::read(&paths[1]).unwrap(), b);
        assert_eq!(listing(&target), vec!["a.bin", "b.bin"]);
        // The last report of a file is its full size out of the announced total.
        let last_a = reports.iter().rev().find(|r| r.0 == "a.bin").unwrap();
        assert_eq!(last_a, &("a.bin".to_string(), 200_000, Some(200_000)));
        assert_eq!(server.join().unwrap(), vec!["/data/a.bin", "/data/b.bin"]);

        // Second call: both present with the right digest, so nothing is requested (no server runs).
        let mut calls = 0;
        let again = fetch_files(
            "http://127.0.0.1:9/unused",
            &files,
            &target,
            &mut |_, _, _| calls += 1,
        )
        .unwrap();
        assert_eq!(again, paths);
        assert_eq!(calls, 2);
    }

    fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
        use flate2::Compression;
        use flate2::write::GzEncoder;
        let mut enc = GzEncoder::new(Vec::new(), Compression::new(level));
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn content_digests_accept_any_compression_of_the_right_content() {
        let content = b"the same IDX bytes, compressed two ways".repeat(50);
        let (fast, best) = (gzip(&content, 1), gzip(&content, 9));
        let files = vec![
            RemoteFile::content("fast.gz", sha(&content)),
            RemoteFile::content("best.gz", sha(&content)),
            RemoteFile::content("wrong.gz", sha(&content)),
        ];
        let served = HashMap::from([
            ("/fast.gz".to_string(), fast.clone()),
            ("/best.gz".to_string(), best),
            ("/wrong.gz".to_string(), gzip(b"other content", 6)),
        ]);
        let (base, server) = serve(served, 3);
        let dir = tempfile::tempdir().unwrap();
        let e = fetch_files(&base, &files, dir.path(), &mut |_, _, _| {}).unwrap_err();
        assert!(
            matches!(&e, DataError::HashMismatch { path, .. } if path.ends_with("wrong.gz")),
            "{e}"
        );
        // The two good copies were verified by content and kept; the wrong one left nothing.
        assert_eq!(listing(dir.path()), vec!["best.gz", "fast.gz"]);
        assert_eq!(std::fs::read(dir.path().join("fast.gz")).unwrap(), fast);
        server.join().unwrap();
    }

    #[test]
    fn corrupted_file_is_a_hash_mismatch_and_leaves_nothing() {
        let good = b"the real bytes".to_vec();
        let files = vec![RemoteFile::new("c.gz", sha(&good))];
        let served = HashMap::from([("/c.gz".to_string(), b"the real bytez".to_vec())]);
        let (base, server) = serve(served, 1);
        let dir = tempfile::tempdir().unwrap();
        let e = fetch_files(&base, &files, dir.path(), &mut |_, _, _| {}).unwrap_err();
        match &e {
            DataError::HashMismatch {
                path,
                expected,
                found,
            } => {
                assert_eq!(path, &dir.path().join("c.gz"));
                assert_eq!(expected, &sha(&good));
                assert_eq!(found, &sha(b"the real bytez"));
            }
            other => panic!("expected HashMismatch, got {other}"),
        }
        assert!(e.to_string().contains("c.gz"));
        assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
        server.join().unwrap();
    }

    #[test]
    fn a_present_but_corrupt_file_is_replaced() {
        let good = b"fresh".to_vec();
        let files = vec![RemoteFile::new("d.bin", sha(&good))];
        let (base, server) = serve(HashMap::from([("/d.bin".to_string(), good.clone())]), 1);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("d.bin"), b"stale").unwrap();
        fetch_files(&base, &files, dir.path(), &mut |_, _, _| {}).unwrap();
        assert_eq!(std::fs::read(dir.path().join("d.bin")).unwrap(), good);
        assert_eq!(listing(dir.path()), vec!["d.bin"]);
        server.join().unwrap();
    }

    #[test]
    fn not_found_is_a_download_error_naming_the_url() {
        let files = vec![RemoteFile::new("missing.gz", sha(b""))];
        let (base, server) = serve(HashMap::new(), 1);
        let dir = tempfile::tempdir().unwrap();
        let e = fetch_files(&base, &files, dir.path(), &mut |_, _, _| {}).unwrap_err();
        match &e {
            DataError::Download { url, message } => {
                assert_eq!(url, &format!("{base}/missing.gz"));
                assert!(message.contains("404"), "{message}");
            }
            other => panic!("expected Download, got {other}"),
        }
        assert!(e.to_string().contains("/missing.gz"));
        assert!(listing(dir.path()).is_empty());
        server.join().unwrap();
    }

    #[test]
    fn unsafe_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["../x", "", "..", "a/b"] {
            let files = vec![RemoteFile::new(name, "00")];
            assert!(matches!(
                fetch_files("http://127.0.0.1:9", &files, dir.path(), &mut |_, _, _| {}),
                Err(DataError::Invalid { .. })
            ));
        }
    }

    #[test]
    fn mnist_files_match_the_loader_names() {
        let names: Vec<String> = mnist_files().into_iter().map(|f| f.name).collect();
        let expected: Vec<String> = crate::locate::DATA_SETS[0]
            .files
            .iter()
            .map(|f| format!("{f}.gz"))
            .collect();
        assert_eq!(names, expected);
        assert!(mnist_files().iter().all(|f| f.sha256.len() == 64));
    }

    #[test]
    fn shared_copy_holds_the_same_idx_bytes_as_the_mirror() {
        let Some(dir) = crate::testdata::require_shared("mnist") else {
            return;
        };
        // SHA-256 of the decompressed original files (the mirror's .gz files decompress to these;
        // published e.g. beside the .gz digests in several MNIST download scripts).
        let idx_sha = [
            (
                "train-images-idx3-ubyte.gz",
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            ),
            (
                "train-labels-idx1-ubyte.gz",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            ),
            (
                "t10k-images-idx3-ubyte.gz",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            ),
            (
                "t10k-labels-idx1-ubyte.gz",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
        ];
        for (name, want) in idx_sha {
            let bytes = crate::gzip::read_maybe_gzip(&dir.join(name)).unwrap();
            assert_eq!(sha(&bytes), want, "{name}");
        }
        // And the shared .gz files themselves have the digests listed in ../shared/data/README.md.
        assert_eq!(
            sha256_file(&dir.join("train-labels-idx1-ubyte.gz")).unwrap(),
            "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203"
        );
    }
}
