//! What the benchmark drivers in `benches/` share: each measurement runs in a child process (the
//! driver re-invokes itself as a worker, or runs a reference script) that prints one JSON line,
//! and tables report medians over rounds.

use std::process::Command;

use serde_json::Value;

/// The median of `values` (the mean of the two middle ones for an even count; NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Runs a child measurement and parses the last JSON line it printed; a failure names the command
/// and the tail of its error output.
pub fn run_json(mut cmd: Command) -> Result<Value, String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(format!("{shown} failed: {}", tail.join(" | ")));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("{shown} printed no JSON line"))?;
    serde_json::from_str(line).map_err(|e| format!("{shown}: {e}"))
}

/// A command for `program`, pinned to core 0 with `taskset` when one thread is asked for.
pub fn pinned(threads: usize, program: &str) -> Command {
    if threads == 1 {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0", program]);
        cmd
    } else {
        Command::new(program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn the_last_json_line_is_read() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo noise; echo '{\"a\": 1}'; echo '{\"a\": 2}'; echo done",
        ]);
        assert_eq!(run_json(cmd).unwrap()["a"], 2);
        let mut bad = Command::new("sh");
        bad.args(["-c", "echo oops >&2; exit 3"]);
        assert!(run_json(bad).unwrap_err().contains("oops"));
    }
}
