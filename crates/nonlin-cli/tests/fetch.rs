//! `nonlin data fetch mnist` against a local HTTP server on 127.0.0.1 that serves the MNIST files
//! from ../shared/data (recompressed copies: the content digest accepts them) and, on a second
//! server, a corrupted training-label file.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::thread::JoinHandle;

const NAMES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// Serves `files` (path -> body) for at most `requests` requests, then stops.
fn serve(files: HashMap<String, Vec<u8>>, requests: usize) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            match files.get(&path) {
                Some(body) => {
                    write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .unwrap();
                    stream.write_all(body).unwrap();
                }
                None => write!(
                    stream,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .unwrap(),
            }
        }
    });
    (base, handle)
}

fn shared_files(mnist: &Path) -> HashMap<String, Vec<u8>> {
    NAMES
        .iter()
        .map(|n| (format!("/{n}"), std::fs::read(mnist.join(n)).unwrap()))
        .collect()
}

#[test]
fn fetch_mnist_verifies_and_places_the_files() {
    let Some(mnist) = nonlin::data::testdata::require_shared("mnist") else {
        return;
    };
    let (base, server) = serve(shared_files(&mnist), 4);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mnist");
    let out = Command::new(env!("CARGO_BIN_EXE_nonlin"))
        .args(["data", "fetch", "mnist", "--url", &base, "--dir"])
        .arg(&target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.join().unwrap();
    for name in NAMES {
        assert_eq!(
            std::fs::read(target.join(name)).unwrap(),
            std::fs::read(mnist.join(name)).unwrap()
        );
    }
    // The fetched folder is a usable data folder.
    let info = Command::new(env!("CARGO_BIN_EXE_nonlin"))
        .args(["data", "info", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.lines()
            .any(|l| l.starts_with("mnist") && l.contains("Complete")),
        "{info}"
    );
}

#[test]
fn a_corrupted_download_is_refused_and_not_kept() {
    let Some(mnist) = nonlin::data::testdata::require_shared("mnist") else {
        return;
    };
    let mut files = shared_files(&mnist);
    let labels = files.get_mut("/train-labels-idx1-ubyte.gz").unwrap();
    let last = labels.len() - 1;
    labels[last] ^= 0x55; // breaks the gzip trailer (CRC/size) of the label file
    // The first file downloads fine, the second is corrupt and stops the fetch.
    let (base, server) = serve(files, 2);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nonlin"))
        .args(["data", "fetch", "mnist", "--url", &base, "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("train-labels-idx1-ubyte.gz"), "{err}");
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec!["train-images-idx3-ubyte.gz"],
        "only the verified file stays"
    );
}
