//! Bug 8: documentation and benchmarks named paths of one machine (`/root/.cache/...`,
//! `/work/...`). Every tracked text file under docs/, benches/, experiments/ and the README must
//! use paths relative to the repository (or variables such as `$CARGO_TARGET_DIR`).

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name == "target" || name == "__pycache__" {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else if ["md", "toml", "rs", "py", "sh"]
            .iter()
            .any(|e| path.extension().is_some_and(|x| x == *e))
        {
            out.push(path);
        }
    }
}

#[test]
fn docs_and_benches_hold_no_machine_paths() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut found = Vec::new();
    files(&root.join("docs"), &mut found);
    files(&root.join("benches"), &mut found);
    files(&root.join("experiments"), &mut found);
    found.push(root.join("README.md"));
    assert!(found.len() > 5, "{found:?}");
    let machine = ["/root/", "/work/", "/home/", "/Users/"];
    let mut bad = Vec::new();
    for path in &found {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            if machine.iter().any(|m| line.contains(m)) {
                bad.push(format!("{}:{}: {line}", path.display(), i + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "machine-specific paths:\n{}",
        bad.join("\n")
    );
}
