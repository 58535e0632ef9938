//! What the benchmark drivers in `benches/` share: each measurement runs in a child process (the
//! driver re-invokes itself as a worker, or runs a reference script) that prints one JSON line,
//! and tables report medians over rounds.

use std::process::Command;
use std::time::Instant;

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

/// What [`time_steps`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTiming {
    /// The value the first call returned (a loss).
    pub first: f64,
    /// The value the last call returned.
    pub last: f64,
    /// Milliseconds per call in each timed window.
    pub window_ms: Vec<f64>,
}

impl StepTiming {
    /// The median of the windows' milliseconds per call.
    pub fn ms_per_step(&self) -> f64 {
        median(&self.window_ms)
    }
}

/// Times a training step: `warmup` untimed calls (the first one's value kept), then `windows`
/// windows of `max(steps / windows, 1)` calls, each timed as a whole. `step` receives the call's
/// index, counted from 0 over all calls (for cycling through pre-made batches).
pub fn time_steps<E>(
    warmup: usize,
    windows: usize,
    steps: usize,
    mut step: impl FnMut(usize) -> Result<f64, E>,
) -> Result<StepTiming, E> {
    let first = step(0)?;
    for k in 1..warmup {
        step(k)?;
    }
    let per_window = (steps / windows.max(1)).max(1);
    let (mut k, mut last) = (warmup.max(1), first);
    let mut window_ms = Vec::with_capacity(windows);
    for _ in 0..windows {
        let start = Instant::now();
        for _ in 0..per_window {
            last = step(k)?;
            k += 1;
        }
        window_ms.push(start.elapsed().as_secs_f64() * 1e3 / per_window as f64);
    }
    Ok(StepTiming {
        first,
        last,
        window_ms,
    })
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

    /// Every call gets the next index; the first value is kept, the last is the last timed call's.
    #[test]
    fn time_steps_counts_calls_and_keeps_first_and_last() {
        let mut seen = Vec::new();
        let timing = time_steps::<()>(3, 2, 5, |k| {
            seen.push(k);
            Ok(k as f64)
        })
        .unwrap();
        // 3 warm-up calls, then 2 windows of 5 / 2 = 2 calls
        assert_eq!(seen, [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!((timing.first, timing.last), (0.0, 6.0));
        assert_eq!(timing.window_ms.len(), 2);
        assert!(timing.ms_per_step() >= 0.0);
        assert_eq!(
            time_steps(2, 1, 1, |k| if k == 1 { Err(k) } else { Ok(0.0) }),
            Err(1)
        );
    }
}
