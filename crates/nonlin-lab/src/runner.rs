//! The experiment runner: trains and evaluates every arm x seed, writes the run folder, and
//! resumes from checkpoints after an interruption.
//!
//! Run folder layout:
//! - `config.json` (the resolved experiment), `spec.toml` (the file as given), `run.json`
//!   (seeds, git revision, versions, device, command line)
//! - `metrics.jsonl`, `metrics.csv`, `tb/<arm>-seed<k>/events.out.tfevents.*`
//! - `checkpoints/<arm>-seed<k>/` (safetensors + `state.json`)
//! - `summary.json`, `plots/*.svg`, `report.md`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use nonlin_data::{Dataset, Rng, epoch_batches};
use nonlin_learn::{Backprop, Evaluation, LearningRule, Metrics, TensorBatch, evaluate};
use nonlin_nn::{ConvNetConfig, DeviceSpec, MlpConfig, Model, engine};

use crate::atomic::write_atomic;
use crate::checkpoint::{self, CheckpointMeta};
use crate::data_split::{Splits, load_splits};
use crate::metrics_log::{MetricRecord, MetricsLog};
use crate::provenance::Provenance;
use crate::spec::{DataConfig, Experiment, ModelConfig, RuleConfig, RunConfig};
use crate::summary::{Summary, UnitResult};
use crate::tensorboard::EventWriter;
use crate::{LabError, report};

/// How to run an experiment.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run folder.
    pub out_dir: PathBuf,
    pub device: DeviceSpec,
    /// Where to look for data first (`--data-dir`).
    pub data_dir: Option<PathBuf>,
    /// Continue the run in `out_dir` from its checkpoints.
    pub resume: bool,
    /// The command line, for `run.json`.
    pub command: Vec<String>,
    /// The spec file's text, kept in the run folder as `spec.toml`.
    pub spec_text: Option<String>,
}

/// What the runner reports while it works; the CLI draws a progress bar or prints lines.
pub trait Progress {
    /// A training unit (arm, seed) starts; `done` of `total` steps are already behind it.
    fn unit_start(&mut self, arm: &str, seed: u64, done: u64, total: u64);
    /// A logging window ended at `step` with these averaged training metrics.
    fn train(&mut self, step: u64, metrics: &Metrics);
    /// An epoch ended with these evaluations (`val`, `test`).
    fn epoch(&mut self, epoch: usize, evals: &[(&str, Evaluation)]);
    /// The unit is done with these final metrics.
    fn unit_end(&mut self, arm: &str, seed: u64, metrics: &BTreeMap<String, f64>);
    /// A free-form note (skips, resumes).
    fn note(&mut self, text: &str);
}

/// A progress sink that reports nothing (for tests and library use).
pub struct Silent;

impl Progress for Silent {
    fn unit_start(&mut self, _: &str, _: u64, _: u64, _: u64) {}
    fn train(&mut self, _: u64, _: &Metrics) {}
    fn epoch(&mut self, _: usize, _: &[(&str, Evaluation)]) {}
    fn unit_end(&mut self, _: &str, _: u64, _: &BTreeMap<String, f64>) {}
    fn note(&mut self, _: &str) {}
}

/// Runs every arm and seed of `experiment`, writing the run folder, and returns the summary.
pub fn run_experiment(
    experiment: &Experiment,
    options: &RunOptions,
    progress: &mut dyn Progress,
) -> Result<Summary, LabError> {
    let out = &options.out_dir;
    // The device first: a missing GPU must not leave a half-made run folder behind.
    let device = options.device.device()?;
    // The data too, once per distinct data config: missing files must not leave a run folder.
    let mut cache: Vec<(DataConfig, u64, Splits)> = Vec::new();
    for (_, config) in &experiment.arms {
        let split_seed = config.train.split_seed;
        if !cache
            .iter()
            .any(|(d, s, _)| d == &config.data && *s == split_seed)
        {
            let splits = load_splits(&config.data, split_seed, options.data_dir.as_deref())?;
            cache.push((config.data.clone(), split_seed, splits));
        }
    }
    prepare_folder(experiment, options)?;
    let mut log = MetricsLog::open(out, options.resume)?;
    let mut units = Vec::new();
    let mut timing = BTreeMap::new();

    for (arm, config) in &experiment.arms {
        let splits = &cache
            .iter()
            .find(|(d, s, _)| d == &config.data && *s == config.train.split_seed)
            .expect("every arm's data was loaded above")
            .2;
        for &seed in &experiment.seeds {
            let started = Instant::now();
            let unit = Unit {
                arm,
                seed,
                config,
                splits,
                device: &device,
                out,
            };
            let result = unit.run(&mut log, options.resume, progress)?;
            progress.unit_end(arm, seed, &result.metrics);
            timing.insert(format!("{arm}/seed{seed}"), started.elapsed().as_secs_f64());
            units.push(result);
        }
    }
    log.finish()?;

    let summary = Summary::new(experiment, units, timing);
    summary.write(out)?;
    report::write_plots(out, experiment)?;
    report::write_report(out, experiment, &summary)?;
    Ok(summary)
}

/// A new run folder under `parent`: `<stem>-<unix seconds>`, with `-2`, `-3`, ... appended when
/// that name is taken (two runs started in the same second).
pub fn unique_run_dir(parent: &Path, stem: &str) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = parent.join(format!("{stem}-{stamp}"));
    let mut candidate = base.clone();
    let mut k = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{}-{k}", base.display()));
        k += 1;
    }
    candidate
}

/// Creates the folder and its provenance files, or checks them when resuming.
fn prepare_folder(experiment: &Experiment, options: &RunOptions) -> Result<(), LabError> {
    let out = &options.out_dir;
    let config_path = out.join("config.json");
    let resolved =
        serde_json::to_vec_pretty(experiment).map_err(|e| LabError::Other(e.to_string()))?;
    if options.resume {
        let stored = Experiment::read_run(out)?;
        if stored.arms != experiment.arms || stored.seeds != experiment.seeds {
            return Err(LabError::Resume {
                dir: out.clone(),
                reason: "the experiment's arms, configs or seeds differ from the run's config.json"
                    .into(),
            });
        }
        return Ok(());
    }
    if config_path.exists() {
        return Err(LabError::Other(format!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(LabError::io(out))?;
    write_atomic(&config_path, &resolved).map_err(LabError::io(&config_path))?;
    if let Some(text) = &options.spec_text {
        let path = out.join("spec.toml");
        write_atomic(&path, text.as_bytes()).map_err(LabError::io(path))?;
    }
    let provenance = Provenance::collect(experiment, &options.device, &options.command);
    provenance.write(out)?;
    Ok(())
}

/// One arm trained from one seed.
struct Unit<'a> {
    arm: &'a str,
    seed: u64,
    config: &'a RunConfig,
    splits: &'a Splits,
    device: &'a Device,
    out: &'a Path,
}

impl Unit<'_> {
    fn name(&self) -> String {
        format!("{}-seed{}", self.arm, self.seed)
    }

    fn run(
        &self,
        log: &mut MetricsLog,
        resume: bool,
        progress: &mut dyn Progress,
    ) -> Result<UnitResult, LabError> {
        let train = &self.splits.train;
        let t = &self.config.train;
        let batches_per_epoch = train.len().div_ceil(t.batch_size) as u64;
        let total_steps = batches_per_epoch * t.epochs as u64;
        let config_hash = crate::summary::config_hash(self.config);
        let ckpt_dir = self.out.join("checkpoints").join(self.name());

        engine::seed(self.device, self.seed);
        let mut rng = Rng::seed(self.seed);
        let mut model = build_model(&self.config.model, train, self.device)?;
        let mut rule = build_rule(&self.config.rule, self.config)?;
        let mut step = 0u64;
        let mut start_epoch = 0usize;

        if resume && let Some(meta) = checkpoint::read_meta(&ckpt_dir)? {
            if meta.config_hash != config_hash {
                return Err(LabError::Resume {
                    dir: ckpt_dir,
                    reason: "the checkpoint was written for a different config".into(),
                });
            }
            if meta.finished {
                progress.note(&format!("{}: finished earlier, skipped", self.name()));
                return Ok(UnitResult {
                    arm: self.arm.to_string(),
                    seed: self.seed,
                    metrics: meta.final_metrics,
                    diverged_at: meta.diverged_at,
                });
            }
            model = checkpoint::load_weights(&ckpt_dir, &meta, model)?;
            rule.load_state(meta.rule_state_bytes(&ckpt_dir)?)?;
            rng = Rng::restore(meta.rng)?;
            step = meta.step;
            start_epoch = meta.epochs_done;
            progress.note(&format!(
                "{}: resumed at epoch {start_epoch}, step {step}",
                self.name()
            ));
        }
        // Whatever was logged after the checkpoint is logged again below.
        let (arm, seed) = (self.arm.to_string(), self.seed);
        log.retain(|r| !(r.arm == arm && r.seed == seed && r.step > step))?;

        let mut tb = EventWriter::create(&self.out.join("tb").join(self.name()))
            .map_err(LabError::io(self.out))?;
        progress.unit_start(self.arm, self.seed, step, total_steps);
        let mut diverged_at = None;

        for epoch in start_epoch..t.epochs {
            let order = epoch_batches(
                train.len(),
                t.batch_size,
                rng.next_u64(),
                epoch as u64,
                true,
                false,
            )?;
            let mut window = Averager::default();
            let mut whole_epoch = Averager::default();
            for indices in order {
                let batch = TensorBatch::from_batch(&train.batch(&indices), self.device)?;
                let lr = t.schedule.lr(t.lr, step, total_steps);
                let (next, metrics) = rule.step(model, &batch, lr)?;
                model = next;
                step += 1;
                if metrics.get("loss").is_some_and(|l| !l.is_finite()) {
                    diverged_at = Some(step);
                }
                window.add(&metrics);
                whole_epoch.add(&metrics);
                if step.is_multiple_of(t.log_every) || diverged_at.is_some() {
                    let mut values = window.take();
                    values.insert("lr".into(), lr);
                    self.record(log, &mut tb, epoch, step, "train", &values)?;
                    progress.train(step, &values);
                }
                if diverged_at.is_some() {
                    break;
                }
            }
            let epoch_train = whole_epoch.take();

            let mut evals = Vec::new();
            if let Some(val) = &self.splits.validation {
                evals.push(("val", self.evaluate(&model, val)?));
            }
            evals.push(("test", self.evaluate(&model, &self.splits.test)?));
            for (split, e) in &evals {
                let values = BTreeMap::from([
                    ("loss".to_string(), e.loss),
                    ("accuracy".to_string(), e.accuracy),
                ]);
                self.record(log, &mut tb, epoch, step, split, &values)?;
            }
            progress.epoch(epoch, &evals);
            log.write_csv()?;
            tb.flush().map_err(LabError::io(self.out))?;

            let last = epoch + 1 == t.epochs || diverged_at.is_some();
            let due = t.checkpoint_every > 0 && (epoch + 1).is_multiple_of(t.checkpoint_every);
            let mut final_metrics = BTreeMap::new();
            if last {
                for (split, e) in &evals {
                    final_metrics.insert(format!("{split}_loss"), e.loss);
                    final_metrics.insert(format!("{split}_accuracy"), e.accuracy);
                }
                for (k, v) in &epoch_train {
                    final_metrics.insert(format!("train_{k}"), *v);
                }
                final_metrics.insert("steps".into(), step as f64);
            }
            if due || last {
                let meta = CheckpointMeta {
                    format: 1,
                    arm: self.arm.to_string(),
                    seed: self.seed,
                    epochs_done: epoch + 1,
                    step,
                    config_hash: config_hash.clone(),
                    rng: rng.checkpoint(),
                    rule: rule.name().to_string(),
                    rule_state: CheckpointMeta::encode_rule_state(&rule.save_state()?),
                    weights: String::new(),
                    weights_sha256: String::new(),
                    finished: last,
                    final_metrics: final_metrics.clone(),
                    diverged_at,
                    param_ids: Vec::new(),
                };
                checkpoint::save(&ckpt_dir, &model, meta)?;
            }
            if last {
                return Ok(UnitResult {
                    arm: self.arm.to_string(),
                    seed: self.seed,
                    metrics: final_metrics,
                    diverged_at,
                });
            }
        }
        unreachable!("the last epoch returns")
    }

    fn evaluate(&self, model: &Model, data: &Dataset) -> Result<Evaluation, LabError> {
        let size = self.config.train.eval_batch_size;
        let batches: Vec<TensorBatch> = (0..data.len())
            .step_by(size)
            .map(|start| {
                let idx: Vec<usize> = (start..(start + size).min(data.len())).collect();
                TensorBatch::from_batch(&data.batch(&idx), self.device)
            })
            .collect::<Result<_, _>>()?;
        Ok(evaluate(model, batches))
    }

    fn record(
        &self,
        log: &mut MetricsLog,
        tb: &mut EventWriter,
        epoch: usize,
        step: u64,
        split: &str,
        values: &BTreeMap<String, f64>,
    ) -> Result<(), LabError> {
        for (name, value) in values {
            tb.scalar(&format!("{split}/{name}"), step as i64, *value as f32)
                .map_err(LabError::io(self.out))?;
        }
        log.append(MetricRecord {
            arm: self.arm.to_string(),
            seed: self.seed,
            epoch,
            step,
            split: split.to_string(),
            values: values.clone(),
        })?;
        Ok(())
    }
}

/// Running means of step metrics.
#[derive(Default)]
struct Averager {
    sums: BTreeMap<String, f64>,
    count: f64,
}

impl Averager {
    fn add(&mut self, metrics: &Metrics) {
        for (k, v) in metrics {
            *self.sums.entry(k.clone()).or_default() += v;
        }
        self.count += 1.0;
    }

    fn take(&mut self) -> BTreeMap<String, f64> {
        let n = self.count.max(1.0);
        let out = self.sums.iter().map(|(k, v)| (k.clone(), v / n)).collect();
        *self = Averager::default();
        out
    }
}

/// Builds the model a config names, sized to the data.
pub fn build_model(
    config: &ModelConfig,
    data: &Dataset,
    device: &Device,
) -> Result<Model, LabError> {
    Ok(match config {
        ModelConfig::Mlp {
            hidden,
            activation,
            bias,
        } => Model::Mlp(
            MlpConfig::new(data.sample_len(), hidden.clone(), data.classes)
                .with_activation(activation.clone())
                .with_bias(*bias)
                .init(device)?,
        ),
        ModelConfig::ConvNet {
            channels,
            activation,
        } => {
            let shape: [usize; 3] = data.sample_shape.as_slice().try_into().map_err(|_| {
                LabError::Nn(nonlin_nn::NnError::BadConfig(format!(
                    "conv_net needs image data shaped [channels, height, width]; {} samples are shaped {:?}",
                    data.name, data.sample_shape
                )))
            })?;
            Model::ConvNet(
                ConvNetConfig::new(shape, data.classes)
                    .with_channels(channels.clone())
                    .with_activation(activation.clone())
                    .init(device)?,
            )
        }
    })
}

/// Builds the learning rule a config names.
pub fn build_rule(
    rule: &RuleConfig,
    config: &RunConfig,
) -> Result<Box<dyn LearningRule<Model>>, LabError> {
    Ok(match rule {
        RuleConfig::Backprop => Box::new(Backprop::new(&config.optimizer)?),
    })
}
