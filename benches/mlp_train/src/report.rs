//! The comparison table: median ms/step over rounds, and the median over rounds of each round's
//! ratio to PyTorch eager at the same thread count (both measured back to back, so the ratio is
//! less sensitive than the times to other load on a shared machine).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::json;

use crate::Run;
use crate::nonlin_step::median;

/// The engine every ratio is taken against.
const BASELINE: &str = "torch-eager";

/// One engine at one thread count, over all rounds.
#[derive(Debug)]
pub struct SummaryRow {
    pub threads: usize,
    pub engine: String,
    /// ms/step of each round, `None` where the run failed.
    pub per_round: Vec<Option<f64>>,
    pub median_ms: Option<f64>,
    /// Median over rounds of `ms / torch-eager ms` of the same round.
    pub ratio: Option<f64>,
    pub loss_first: Option<f64>,
    pub loss_last: Option<f64>,
    /// Why the last failed run failed.
    pub failure: Option<String>,
}

impl SummaryRow {
    pub fn to_json(&self) -> String {
        json!({
            "summary": true, "engine": self.engine, "threads": self.threads,
            "ms_per_step_median": self.median_ms, "per_round": self.per_round,
            "ratio_vs_torch_eager": self.ratio, "failure": self.failure,
        })
        .to_string()
    }
}

/// Groups the runs by thread count and engine, in the order they were first run.
pub fn summarize(runs: &[Run]) -> Vec<SummaryRow> {
    let rounds = runs.iter().map(|r| r.round).max().unwrap_or(0);
    let mut keys: Vec<(usize, String)> = Vec::new();
    for r in runs {
        let key = (r.threads, r.engine.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.sort_by_key(|(threads, _)| *threads); // stable: engines keep their run order
    let ms = |round: usize, threads: usize, engine: &str| {
        runs.iter()
            .find(|r| r.round == round && r.threads == threads && r.engine == engine)
            .and_then(|r| r.result.as_ref().ok())
            .map(|m| m.ms_per_step)
    };
    keys.into_iter()
        .map(|(threads, engine)| {
            let per_round: Vec<Option<f64>> = (1..=rounds)
                .map(|round| ms(round, threads, &engine))
                .collect();
            let mut ok: Vec<f64> = per_round.iter().flatten().copied().collect();
            let mut ratios: Vec<f64> = (1..=rounds)
                .filter_map(|round| {
                    Some(ms(round, threads, &engine)? / ms(round, threads, BASELINE)?)
                })
                .collect();
            let mine = || {
                runs.iter()
                    .filter(|r| r.threads == threads && r.engine == engine)
            };
            let last_ok = mine().filter_map(|r| r.result.as_ref().ok()).next_back();
            SummaryRow {
                threads,
                median_ms: (!ok.is_empty()).then(|| median(&mut ok)),
                ratio: (!ratios.is_empty()).then(|| median(&mut ratios)),
                loss_first: last_ok.map(|m| m.loss_first),
                loss_last: last_ok.map(|m| m.loss_last),
                failure: mine()
                    .filter_map(|r| r.result.as_ref().err())
                    .next_back()
                    .map(|e| e.to_string()),
                per_round,
                engine,
            }
        })
        .collect()
}

/// The table as text (markdown, so it can be pasted into `docs/performance.md`).
pub fn table(
    rows: &[SummaryRow],
    rounds: usize,
    cores: usize,
    pinned: bool,
    versions: &BTreeMap<String, String>,
) -> String {
    let mut out = String::new();
    let versions: Vec<String> = versions.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        out,
        "\nMLP 784-256-256-10, batch 128, Adam lr 1e-3; {cores} cores visible; {rounds} round(s); \
         {}; {}",
        if pinned {
            "runs below the core count pinned with taskset"
        } else {
            "no pinning"
        },
        versions.join(", ")
    );
    let _ = writeln!(
        out,
        "ratio = median over rounds of (engine ms / {BASELINE} ms of the same round); < 1 is faster\n"
    );
    let _ = writeln!(
        out,
        "| threads | engine | ms/step (median) | per round | ratio vs {BASELINE} | loss first -> last |"
    );
    let _ = writeln!(out, "|---:|---|---:|---|---:|---|");
    for r in rows {
        let fmt =
            |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
        let rounds: Vec<String> = r.per_round.iter().map(|v| fmt(*v, 2)).collect();
        let losses = match (r.loss_first, r.loss_last) {
            (Some(a), Some(b)) => format!("{a:.3} -> {b:.3}"),
            _ => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.threads,
            r.engine,
            fmt(r.median_ms, 2),
            rounds.join(" / "),
            fmt(r.ratio, 2),
            losses
        );
    }
    for r in rows.iter().filter(|r| r.failure.is_some()) {
        let _ = writeln!(
            out,
            "\n{} at {} threads failed: {}",
            r.engine,
            r.threads,
            r.failure.as_deref().unwrap_or("")
        );
    }
    out
}
