//! Resource figures of a training unit: wall time, throughput and the peak resident memory of the
//! process while the unit ran. They are kept apart from the metrics, which are reproducible bit for
//! bit, and reported beside them (claims may use them: several papers claim memory savings).
//!
//! Peak memory on Linux: the kernel's high-water mark of resident memory (`VmHWM` in
//! `/proc/self/status`) is reset at the start of a unit by writing `5` to `/proc/self/clear_refs`,
//! so the figure belongs to this unit rather than to the largest unit so far. Where the reset is
//! not possible the figure is the process's peak so far, and says so; where the system has no
//! `/proc` it is NaN.

use std::time::Instant;

/// How the peak memory figure was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeakSource {
    /// Reset at the unit's start: the unit's own peak.
    Unit,
    /// The process's peak since it started (the reset was not possible).
    Process,
}

/// Measures one unit.
#[derive(Debug)]
pub struct ResourceMeter {
    started: Instant,
    source: PeakSource,
}

impl ResourceMeter {
    /// Starts measuring: resets the memory high-water mark where the system allows.
    pub fn start() -> Self {
        let source = if reset_peak() {
            PeakSource::Unit
        } else {
            PeakSource::Process
        };
        Self {
            started: Instant::now(),
            source,
        }
    }

    /// Seconds since the start.
    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The peak resident memory in MiB (NaN where the system does not report it), and how it
    /// was measured.
    pub fn peak_rss_mb(&self) -> (f64, PeakSource) {
        let mib = read_status_kib("VmHWM:").map_or(f64::NAN, |kib| kib as f64 / 1024.0);
        (mib, self.source)
    }
}

/// Resets the kernel's resident-memory high-water mark of this process (Linux 4.0+).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok() && read_status_kib("VmHWM:").is_some()
}

/// A `kB` field of `/proc/self/status`.
fn read_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peak grows when the unit allocates and touches memory, and a new meter starts lower
    /// than the old peak once that memory is freed (where the reset works).
    #[test]
    fn peak_memory_follows_the_unit() {
        let meter = ResourceMeter::start();
        let (before, source) = meter.peak_rss_mb();
        let big: Vec<u8> = vec![1; 200 << 20];
        std::hint::black_box(&big);
        let (during, _) = meter.peak_rss_mb();
        if cfg!(target_os = "linux") {
            assert!(during >= before + 150.0, "{before} -> {during}");
        }
        drop(big);
        let next = ResourceMeter::start();
        let (after, _) = next.peak_rss_mb();
        if source == PeakSource::Unit {
            assert!(
                after < during - 150.0,
                "reset did not lower the peak: {during} -> {after}"
            );
        }
        assert!(next.elapsed_s() >= 0.0);
    }
}
