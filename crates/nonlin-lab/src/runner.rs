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

use burn::module::Module;
use burn::tensor::Device;
use nonlin_data::{Rng, derive_seed, epoch_batches};
use nonlin_learn::task::{EvalOptions, Predict, Split, Task};
use nonlin_learn::{EpochEnd, LearningRule, Metrics, RuleContext, Target, evaluate};
use nonlin_nn::weights::{ImportMap, import_safetensors};
use nonlin_nn::{DeviceSpec, Model, Network, engine};

use crate::atomic::write_atomic;
use crate::checkpoint::{self, Accumulator, CheckpointMeta};
use crate::data::load_task;
use crate::metric::{Derived, FEATURE_ITEMS, FeatureStat, ParamStat};
use crate::metrics_log::{MetricRecord, MetricsLog};
use crate::provenance::Provenance;
use crate::resources::{PeakSource, ResourceMeter};
use crate::spec::{DataConfig, Experiment, RunConfig};
use crate::summary::{Summary, UnitResources, UnitResult};
use crate::tensorboard::EventWriter;
use crate::{LabError, report};

use crate::checkpoint::TASK_FILE;

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
    /// The held-out splits were evaluated at `step` (during `epoch`, 0-based).
    fn evaluation(&mut self, step: u64, epoch: usize, evals: &[(&str, Metrics)]);
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
    fn evaluation(&mut self, _: u64, _: usize, _: &[(&str, Metrics)]) {}
    fn unit_end(&mut self, _: &str, _: u64, _: &BTreeMap<String, f64>) {}
    fn note(&mut self, _: &str) {}
}

/// The tasks of an experiment, one per distinct data config and split seed.
type TaskCache = Vec<(DataConfig, u64, Box<dyn Task>)>;

fn task_for<'a>(cache: &'a TaskCache, config: &RunConfig) -> &'a dyn Task {
    cache
        .iter()
        .find(|(d, s, _)| d == &config.data && *s == config.train.split_seed)
        .map(|(_, _, t)| t.as_ref())
        .expect("every arm's task was loaded first")
}

/// Runs every arm and seed of `experiment`, writing the run folder, and returns the summary.
pub fn run_experiment(
    experiment: &Experiment,
    options: &RunOptions,
    progress: &mut dyn Progress,
) -> Result<Summary, LabError> {
    let out = &options.out_dir;
    // Everything that can fail on a bad config comes before the run folder exists: the device,
    // the data (once per distinct data config), and every arm's model and rule.
    let device = options.device.device()?;
    let mut cache: TaskCache = Vec::new();
    for (_, config) in &experiment.arms {
        let split_seed = config.train.split_seed;
        if !cache
            .iter()
            .any(|(d, s, _)| d == &config.data && *s == split_seed)
        {
            let task = load_task(&config.data, split_seed, options.data_dir.as_deref())?;
            cache.push((config.data.clone(), split_seed, task));
        }
    }
    for (arm, config) in &experiment.arms {
        let task = task_for(&cache, config);
        let model = build_model(config, task, &device)
            .map_err(|e| LabError::Other(format!("arm `{arm}`: {e}")))?;
        build_rule(config, &model, task, &device)
            .map_err(|e| LabError::Other(format!("arm `{arm}`: {e}")))?;
    }
    prepare_folder(experiment, options)?;
    let mut log = MetricsLog::open(out, options.resume)?;
    let derived = experiment.derived_metrics();
    let param_metrics = experiment.param_metrics();
    let feature_metrics = experiment.feature_metrics();
    let mut units = Vec::new();
    let mut resources = Vec::new();

    for (arm, config) in &experiment.arms {
        let task = task_for(&cache, config);
        for &seed in &experiment.seeds {
            let unit = Unit {
                arm,
                seed,
                config,
                task,
                device: &device,
                out,
                derived: &derived,
                param_metrics: &param_metrics,
                feature_metrics: &feature_metrics,
            };
            let (result, figures) = unit.run(&mut log, options.resume, progress)?;
            progress.unit_end(arm, seed, &result.metrics);
            resources.push(UnitResources {
                arm: arm.clone(),
                seed,
                values: figures,
            });
            units.push(result);
        }
    }
    log.finish()?;

    let summary = Summary::new(experiment, units, resources);
    summary.write(out)?;
    report::write_plots(out, experiment)?;
    // The shape plots read the checkpoints back; they illustrate the run, so a failure to draw
    // them is reported, not a failed run.
    if let Err(e) = crate::activation_plots::write_activation_plots(out, experiment) {
        progress.note(&format!("activation shape plots not written: {e}"));
    }
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
    task: &'a dyn Task,
    device: &'a Device,
    out: &'a Path,
    derived: &'a [Derived],
    param_metrics: &'a [ParamStat],
    feature_metrics: &'a [FeatureStat],
}

/// Where a unit's training loop stands; all of it is saved in checkpoints.
#[derive(Debug)]
struct LoopState {
    /// Draws each epoch's shuffle seed.
    rng: Rng,
    step: u64,
    /// Epochs completed.
    epoch: usize,
    /// Batches of the epoch in progress done.
    batches_done: u64,
    /// The shuffle seed of the epoch in progress.
    epoch_seed: Option<u64>,
    window: Accumulator,
    /// The training metrics of the current (or last completed) epoch.
    epoch_train: Accumulator,
    last_eval: Option<u64>,
    elapsed_before_s: f64,
    train_s: f64,
    units_trained: u64,
    /// The model's probes at the last evaluation (`Network::probe`), reported as `train_<name>`.
    probes: BTreeMap<String, f64>,
}

impl LoopState {
    fn new(seed: u64) -> Self {
        Self {
            rng: Rng::seed(seed),
            step: 0,
            epoch: 0,
            batches_done: 0,
            epoch_seed: None,
            window: Accumulator::default(),
            epoch_train: Accumulator::default(),
            last_eval: None,
            elapsed_before_s: 0.0,
            train_s: 0.0,
            units_trained: 0,
            probes: BTreeMap::new(),
        }
    }

    /// Moves on to the next epoch.
    fn finish_epoch(&mut self) {
        self.epoch += 1;
        self.batches_done = 0;
        self.epoch_seed = None;
    }
}

/// What a unit's checkpoints need besides the loop state.
struct CheckpointContext<'a> {
    dir: &'a Path,
    config_hash: &'a str,
    meter: &'a ResourceMeter,
}

/// Per-step reseeding of the engine's RNG: a rule's noise at step `t` is a function of the run
/// seed and `t` alone, so a resumed run draws exactly the same noise.
const STEP_STREAM: u64 = 0x5eed_57e9;

impl Unit<'_> {
    fn name(&self) -> String {
        format!("{}-seed{}", self.arm, self.seed)
    }

    fn run(
        &self,
        log: &mut MetricsLog,
        resume: bool,
        progress: &mut dyn Progress,
    ) -> Result<(UnitResult, BTreeMap<String, f64>), LabError> {
        let task = self.task;
        let t = &self.config.train;
        let steps_per_epoch = task.train_len().div_ceil(t.batch_size) as u64;
        let total_steps = match (t.steps, t.epochs) {
            (Some(steps), _) => steps,
            (None, Some(epochs)) => epochs as u64 * steps_per_epoch,
            (None, None) => unreachable!("the spec requires a budget"),
        };
        let config_hash = crate::summary::config_hash(self.config);
        let ckpt_dir = self.out.join("checkpoints").join(self.name());
        let meter = ResourceMeter::start();

        engine::seed(self.device, self.seed);
        let mut model = build_model(self.config, task, self.device)?;
        let mut rule = build_rule(self.config, &model, task, self.device)?;
        let mut state = LoopState::new(self.seed);

        if resume && let Some(meta) = checkpoint::read_meta(&ckpt_dir)? {
            if meta.config_hash != config_hash {
                return Err(LabError::Resume {
                    dir: ckpt_dir,
                    reason: "the checkpoint was written for a different config".into(),
                });
            }
            if meta.finished {
                progress.note(&format!("{}: finished earlier, skipped", self.name()));
                return Ok((
                    UnitResult {
                        arm: self.arm.to_string(),
                        seed: self.seed,
                        metrics: meta.final_metrics,
                        diverged_at: meta.diverged_at,
                    },
                    meta.resources,
                ));
            }
            model = checkpoint::load_weights(&ckpt_dir, &meta, model)?;
            rule.load_state(checkpoint::load_rule_state(&ckpt_dir, &meta)?)?;
            state = LoopState {
                rng: Rng::restore(meta.rng)?,
                step: meta.step,
                epoch: meta.epochs_done,
                batches_done: meta.batches_done,
                epoch_seed: meta.epoch_seed,
                window: meta.window,
                epoch_train: meta.epoch_train,
                last_eval: meta.last_eval_step,
                elapsed_before_s: meta.elapsed_s,
                train_s: meta.train_s,
                units_trained: meta.units_trained,
                probes: BTreeMap::new(),
            };
            progress.note(&format!(
                "{}: resumed at epoch {}, step {}",
                self.name(),
                state.epoch,
                state.step
            ));
        }
        // Whatever was logged after the checkpoint is logged again below.
        let (arm, seed) = (self.arm.to_string(), self.seed);
        log.retain(|r| !(r.arm == arm && r.seed == seed && r.step > state.step))?;
        let description = serde_json::to_vec_pretty(&task.describe())
            .map_err(|e| LabError::Other(e.to_string()))?;
        std::fs::create_dir_all(&ckpt_dir).map_err(LabError::io(&ckpt_dir))?;
        write_atomic(&ckpt_dir.join(TASK_FILE), &description)
            .map_err(LabError::io(ckpt_dir.join(TASK_FILE)))?;

        let ctx = CheckpointContext {
            dir: &ckpt_dir,
            config_hash: &config_hash,
            meter: &meter,
        };
        let mut tb = EventWriter::create(&self.out.join("tb").join(self.name()))
            .map_err(LabError::io(self.out))?;
        progress.unit_start(self.arm, self.seed, state.step, total_steps);
        let mut diverged_at = None;
        let mut last_evals: Vec<(&str, Metrics)> = Vec::new();
        let step_stream = derive_seed(self.seed, STEP_STREAM);

        'training: while state.step < total_steps {
            let epoch_seed = match state.epoch_seed {
                Some(seed) => seed,
                None => state.rng.next_u64(),
            };
            state.epoch_seed = Some(epoch_seed);
            let order = epoch_batches(
                task.train_len(),
                t.batch_size,
                epoch_seed,
                state.epoch as u64,
                true,
                false,
            )?;
            for indices in order.into_iter().skip(state.batches_done as usize) {
                if state.batches_done == 0 {
                    state.epoch_train = Accumulator::default();
                }
                engine::seed(self.device, derive_seed(step_stream, state.step));
                let batch = task.train_batch(&indices, self.device)?;
                let lr = t.schedule.lr(t.lr, state.step, total_steps);
                let started = Instant::now();
                // A model whose structure follows training (KAN grids, S-KAN phases) moves first.
                let model_now = model.before_step(state.step, &batch.input)?;
                let (next, metrics) = rule.step(model_now, &batch, lr)?;
                state.train_s += started.elapsed().as_secs_f64();
                model = next;
                state.step += 1;
                state.batches_done += 1;
                state.units_trained += (indices.len() * task.units_per_item()) as u64;
                if metrics.get("loss").is_some_and(|l| !l.is_finite()) {
                    diverged_at = Some(state.step);
                }
                state.window.add(&metrics);
                state.epoch_train.add(&metrics);
                if state.step.is_multiple_of(t.log_every) || diverged_at.is_some() {
                    let mut values = state.window.take();
                    values.insert("lr".into(), lr);
                    self.record(log, &mut tb, state.epoch, state.step, "train", &values)?;
                    progress.train(state.step, &values);
                }
                if diverged_at.is_some() || state.step == total_steps {
                    break 'training;
                }
                if t.eval_every.is_some_and(|n| state.step.is_multiple_of(n)) {
                    last_evals =
                        self.evaluate_all(&*rule, &model, log, &mut tb, &mut state, progress)?;
                }
                if t.checkpoint_every_steps
                    .is_some_and(|n| state.step.is_multiple_of(n))
                {
                    self.checkpoint(&ctx, &model, &*rule, &state, None)?;
                }
            }
            state.finish_epoch();
            model = self.end_epoch(&mut *rule, model, state.epoch, false)?;
            if rule.finished() {
                break 'training;
            }
            if t.eval_each_epoch && state.last_eval != Some(state.step) {
                last_evals =
                    self.evaluate_all(&*rule, &model, log, &mut tb, &mut state, progress)?;
            }
            log.write_csv()?;
            tb.flush().map_err(LabError::io(self.out))?;
            if t.checkpoint_every > 0 && state.epoch.is_multiple_of(t.checkpoint_every) {
                self.checkpoint(&ctx, &model, &*rule, &state, None)?;
            }
        }
        // The budget is spent (or the loss diverged), possibly mid-epoch.
        if state.batches_done == steps_per_epoch {
            state.finish_epoch();
            if diverged_at.is_none() {
                model = self.end_epoch(&mut *rule, model, state.epoch, true)?;
            }
        }
        if state.last_eval != Some(state.step) || last_evals.is_empty() {
            last_evals = self.evaluate_all(&*rule, &model, log, &mut tb, &mut state, progress)?;
        }
        log.write_csv()?;
        tb.flush().map_err(LabError::io(self.out))?;

        let mut final_metrics = BTreeMap::new();
        for (split, metrics) in &last_evals {
            for (k, v) in metrics {
                final_metrics.insert(format!("{split}_{k}"), *v);
            }
        }
        for (k, v) in state.epoch_train.clone().take() {
            final_metrics.insert(format!("train_{k}"), v);
        }
        for (k, v) in &state.probes {
            final_metrics.insert(format!("train_{k}"), *v);
        }
        final_metrics.insert("steps".into(), state.step as f64);
        final_metrics.insert(
            "diverged".into(),
            f64::from(u8::from(diverged_at.is_some())),
        );
        for d in self.derived {
            final_metrics.insert(d.to_string(), d.compute(log.records(), self.arm, self.seed));
        }
        for p in self.param_metrics {
            final_metrics.insert(p.to_string(), p.compute(&model));
        }
        if !self.feature_metrics.is_empty() {
            let items: Vec<usize> = (0..task.train_len().min(FEATURE_ITEMS)).collect();
            let batch = task.train_batch(&items, self.device)?;
            let features = model.valid().features(&batch.input)?.unwrap_or_default();
            for p in self.feature_metrics {
                final_metrics.insert(p.to_string(), p.compute(&features));
            }
        }
        let figures = self.resources(rule.as_ref(), &model, &state, &meter);
        let finished = Finished {
            metrics: final_metrics.clone(),
            resources: figures.clone(),
            diverged_at,
        };
        self.checkpoint(&ctx, &model, &*rule, &state, Some(finished))?;
        Ok((
            UnitResult {
                arm: self.arm.to_string(),
                seed: self.seed,
                metrics: final_metrics,
                diverged_at,
            },
            figures,
        ))
    }

    /// Tells the rule that an epoch is complete, with the validation split to score its own
    /// predictors on (early stopping of local phases).
    fn end_epoch(
        &self,
        rule: &mut dyn LearningRule<Model>,
        model: Model,
        epochs_done: usize,
        last: bool,
    ) -> Result<Model, LabError> {
        let options = EvalOptions {
            device: self.device,
            batch_size: self.config.train.eval_batch_size,
            every_position: model.predicts_every_position(),
        };
        let task = self.task;
        let mut validate =
            |predict: &mut Predict<'_>| task.evaluate(Split::Validation, predict, &options);
        let end = EpochEnd {
            epochs_done,
            last,
            validate: if task.has_validation() {
                Some(&mut validate)
            } else {
                None
            },
        };
        Ok(rule.end_epoch(model, end)?)
    }

    /// Evaluates every held-out split, records and reports the metrics.
    fn evaluate_all(
        &self,
        rule: &dyn LearningRule<Model>,
        model: &Model,
        log: &mut MetricsLog,
        tb: &mut EventWriter,
        state: &mut LoopState,
        progress: &mut dyn Progress,
    ) -> Result<Vec<(&'static str, Metrics)>, LabError> {
        let options = EvalOptions {
            device: self.device,
            batch_size: self.config.train.eval_batch_size,
            every_position: model.predicts_every_position(),
        };
        let mut evals = Vec::new();
        let splits = if self.task.has_validation() {
            vec![Split::Validation, Split::Test]
        } else {
            vec![Split::Test]
        };
        // An evaluation belongs to the epoch it happens in (the last completed one at a boundary).
        let epoch = if state.batches_done == 0 {
            state.epoch.saturating_sub(1)
        } else {
            state.epoch
        };
        for split in splits {
            let metrics = evaluate(self.task, rule, model, split, &options)?;
            self.record(log, tb, epoch, state.step, split.name(), &metrics)?;
            evals.push((split.name(), metrics));
        }
        progress.evaluation(state.step, epoch, &evals);
        state.last_eval = Some(state.step);
        let probes = self.probe(model)?;
        if !probes.is_empty() {
            self.record(log, tb, epoch, state.step, "train", &probes)?;
        }
        state.probes = probes;
        Ok(evals)
    }

    /// The model's probes (`Network::probe`: activation densities, weight statistics; and on
    /// classification tasks `Network::probe_labelled`) on a fixed batch of training items spread
    /// over the split, in inference mode; empty for models without probes.
    fn probe(&self, model: &Model) -> Result<BTreeMap<String, f64>, LabError> {
        let len = self.task.train_len();
        let n = self.config.train.batch_size.min(len).max(1);
        let indices: Vec<usize> = (0..n).map(|i| i * len / n).collect();
        let batch = self.task.train_batch(&indices, self.device)?;
        let model = model.valid();
        let mut probes: BTreeMap<String, f64> = model.probe(&batch.input)?.into_iter().collect();
        if let Target::Classes(labels) = &batch.target {
            probes.extend(model.probe_labelled(&batch.input, labels.clone())?);
        }
        Ok(probes)
    }

    /// The unit's resource figures so far (`params`: what the rule trains, see
    /// [`LearningRule::trained_params`]).
    fn resources(
        &self,
        rule: &dyn LearningRule<Model>,
        model: &Model,
        state: &LoopState,
        meter: &ResourceMeter,
    ) -> BTreeMap<String, f64> {
        let (peak, source) = meter.peak_rss_mb();
        let unit = self.task.kind().unit();
        let mut figures = BTreeMap::from([
            (
                "params".to_string(),
                rule.trained_params(nonlin_nn::weights::trainable_params(model)) as f64,
            ),
            (
                "wall_s".to_string(),
                state.elapsed_before_s + meter.elapsed_s(),
            ),
            ("train_s".to_string(), state.train_s),
            ("steps_per_s".to_string(), state.step as f64 / state.train_s),
            (
                format!("{unit}_per_s"),
                state.units_trained as f64 / state.train_s,
            ),
            ("peak_rss_mb".to_string(), peak),
        ]);
        if source == PeakSource::Process {
            figures.insert("peak_rss_is_process_peak".into(), 1.0);
        }
        figures
    }

    fn checkpoint(
        &self,
        ctx: &CheckpointContext<'_>,
        model: &Model,
        rule: &dyn LearningRule<Model>,
        state: &LoopState,
        finished: Option<Finished>,
    ) -> Result<(), LabError> {
        let done = finished.is_some();
        let finished = finished.unwrap_or_default();
        let meta = CheckpointMeta {
            format: checkpoint::FORMAT,
            arm: self.arm.to_string(),
            seed: self.seed,
            epochs_done: state.epoch,
            batches_done: state.batches_done,
            epoch_seed: if state.batches_done > 0 {
                state.epoch_seed
            } else {
                None
            },
            step: state.step,
            config_hash: ctx.config_hash.to_string(),
            rng: state.rng.checkpoint(),
            rule: rule.name().to_string(),
            rule_state: String::new(),
            rule_modules: Vec::new(),
            window: state.window.clone(),
            epoch_train: state.epoch_train.clone(),
            last_eval_step: state.last_eval,
            weights: String::new(),
            weights_sha256: String::new(),
            finished: done,
            final_metrics: finished.metrics,
            resources: finished.resources,
            diverged_at: finished.diverged_at,
            param_ids: Vec::new(),
            elapsed_s: state.elapsed_before_s + ctx.meter.elapsed_s(),
            train_s: state.train_s,
            units_trained: state.units_trained,
        };
        checkpoint::save(ctx.dir, model, &rule.save_state()?, meta)
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

/// What a finished unit's last checkpoint records.
#[derive(Debug, Default)]
struct Finished {
    metrics: BTreeMap<String, f64>,
    resources: BTreeMap<String, f64>,
    diverged_at: Option<u64>,
}

/// Builds the model an arm names for its task, initialised from `init_from` when given.
pub fn build_model(
    config: &RunConfig,
    task: &dyn Task,
    device: &Device,
) -> Result<Model, LabError> {
    let model = config.model.build(task.io(), device)?;
    match &config.init_from {
        None => Ok(model),
        Some(init) => {
            let map = ImportMap {
                rename: init
                    .rename
                    .iter()
                    .map(|[a, b]| (a.clone(), b.clone()))
                    .collect(),
                pytorch: init.pytorch,
                allow_partial: init.allow_partial,
            };
            Ok(import_safetensors(model, Path::new(&init.path), &map)?)
        }
    }
}

/// Builds the learning rule an arm names for its model and task.
pub fn build_rule(
    config: &RunConfig,
    model: &Model,
    task: &dyn Task,
    device: &Device,
) -> Result<Box<dyn LearningRule<Model>>, LabError> {
    let setup = config.optimizer_setup();
    let steps_per_epoch = task.train_len().div_ceil(config.train.batch_size) as u64;
    let context = RuleContext {
        model,
        io: task.io(),
        task: task.kind(),
        optimizer: &setup,
        device,
        steps_per_epoch,
        total_steps: match (config.train.steps, config.train.epochs) {
            (Some(steps), _) => steps,
            (None, Some(epochs)) => epochs as u64 * steps_per_epoch,
            (None, None) => 0,
        },
        data: Some(task),
    };
    Ok(config.rule.build(&context)?)
}
