//! Progress of a run on the terminal: a bar when stderr is a terminal, plain lines otherwise
//! (pipes, log files, and whenever `CI` is set).

use std::collections::BTreeMap;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use nonlin::lab::Progress;
use nonlin::learn::Metrics;

/// Reports a run's progress on stderr.
pub struct Reporter {
    bar: Option<ProgressBar>,
    interactive: bool,
    unit: String,
}

impl Reporter {
    pub fn new() -> Self {
        let interactive = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Reporter {
            bar: None,
            interactive,
            unit: String::new(),
        }
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Progress for Reporter {
    fn unit_start(&mut self, arm: &str, seed: u64, done: u64, total: u64) {
        self.finish();
        self.unit = format!("{arm} seed {seed}");
        if self.interactive {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} steps {elapsed}<{eta} {msg}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar.set_prefix(self.unit.clone());
            bar.set_position(done);
            self.bar = Some(bar);
        } else {
            eprintln!(
                "{}: {total} steps{}",
                self.unit,
                if done > 0 {
                    format!(", resuming at {done}")
                } else {
                    String::new()
                }
            );
        }
    }

    fn train(&mut self, step: u64, metrics: &Metrics) {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
            if let Some(loss) = metrics.get("loss") {
                bar.set_message(format!("loss {loss:.4}"));
            }
        }
    }

    fn evaluation(&mut self, step: u64, epoch: usize, evals: &[(&str, Metrics)]) {
        let parts: Vec<String> = evals
            .iter()
            .map(|(split, metrics)| {
                let values: Vec<String> = metrics
                    .iter()
                    .map(|(name, value)| format!("{name} {value:.4}"))
                    .collect();
                format!("{split} {}", values.join(" "))
            })
            .collect();
        self.line(&format!(
            "{} epoch {} step {step}: {}",
            self.unit,
            epoch + 1,
            parts.join(", ")
        ));
    }

    fn unit_end(&mut self, _arm: &str, _seed: u64, _metrics: &BTreeMap<String, f64>) {
        self.finish();
    }

    fn note(&mut self, text: &str) {
        self.line(text);
    }
}
