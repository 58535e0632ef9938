//! `nonlin predict RUN_DIR --input X.npy --output Y.npy`: the trained model of one unit of a run
//! (as its learning rule predicts), applied to inputs from a `.npy` file, without loading the
//! training data. The library side is `nonlin::lab::trained::TrainedUnit`.

use std::path::PathBuf;
use std::process::ExitCode;

use nonlin::burn::tensor::{Int, Tensor, TensorData};
use nonlin::data::{NpyData, read_npy, write_npy_f32};
use nonlin::lab::LabError;
use nonlin::lab::trained::TrainedUnit;
use nonlin::nn::{DeviceSpec, InputSpec, ModelInput};

/// The arguments of `nonlin predict`.
#[derive(clap::Args)]
pub struct Args {
    /// The run folder.
    run: PathBuf,
    /// The arm whose model predicts (default: the first).
    #[arg(long)]
    arm: Option<String>,
    /// The seed whose model predicts (default: the first).
    #[arg(long)]
    seed: Option<u64>,
    /// Inputs, one sample per row: `[n, ..sample shape]` (or `[n, features]`) of f32/f64 for
    /// real inputs, `[n, context]` of integers for token models.
    #[arg(long)]
    input: PathBuf,
    /// Where the predictions go: `[n, ..output shape]` f32 (logits for classifiers and language
    /// models, values for regression).
    #[arg(long)]
    output: PathBuf,
    /// Samples per forward pass.
    #[arg(long, default_value = "1000")]
    batch_size: usize,
    /// Where to run: cpu, vulkan[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Runs `nonlin predict`.
pub fn predict(args: Args) -> Result<ExitCode, LabError> {
    let device = args.device.parse::<DeviceSpec>()?.device()?;
    let unit = TrainedUnit::load(&args.run, args.arm.as_deref(), args.seed, &device)?;
    let array = read_npy(&args.input)?;
    let bad = |reason: String| LabError::Other(format!("{}: {reason}", args.input.display()));
    if array.shape.is_empty() || array.shape[0] == 0 {
        return Err(bad(format!(
            "expected rows of samples, got shape {:?}",
            array.shape
        )));
    }
    if args.batch_size == 0 {
        return Err(LabError::Other("--batch-size must be at least 1".into()));
    }
    let n = array.shape[0];
    let row: usize = array.shape[1..].iter().product();
    let io = &unit.task.io;
    let mut outputs: Vec<f32> = Vec::new();
    match &io.input {
        InputSpec::Graph { .. } => {
            return Err(LabError::Other(
                "this model classifies the nodes of its training graph; predictions of new graphs are not supported (its test metrics are in the run's results)".into(),
            ));
        }
        InputSpec::Real { shape } => {
            let want: usize = shape.iter().product();
            if row != want {
                return Err(bad(format!(
                    "each sample has {row} values; the model reads samples of shape {shape:?} ({want} values)"
                )));
            }
            let values = array.to_f32();
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!("value {i} (row {}) is not finite", i / row)));
            }
            for start in (0..n).step_by(args.batch_size) {
                let end = (start + args.batch_size).min(n);
                let x = Tensor::<2>::from_data(
                    TensorData::new(values[start * row..end * row].to_vec(), [end - start, row]),
                    &device,
                );
                outputs.extend(rows_of(unit.predict(&ModelInput::Real(x))?)?);
            }
        }
        InputSpec::Tokens { vocab, context } => {
            if row != *context {
                return Err(bad(format!(
                    "each row has {row} tokens; the model reads contexts of {context}"
                )));
            }
            let ids: Vec<i64> = match &array.data {
                NpyData::I64(v) => v.clone(),
                _ => array
                    .to_f64()
                    .iter()
                    .map(|&v| if v.fract() == 0.0 { v as i64 } else { -1 })
                    .collect(),
            };
            if let Some(i) = ids.iter().position(|&t| t < 0 || t as usize >= *vocab) {
                return Err(bad(format!(
                    "value {i} (row {}) is not a token id below {vocab}",
                    i / row
                )));
            }
            for start in (0..n).step_by(args.batch_size) {
                let end = (start + args.batch_size).min(n);
                let x = Tensor::<2, Int>::from_data(
                    TensorData::new(ids[start * row..end * row].to_vec(), [end - start, row]),
                    &device,
                );
                outputs.extend(rows_of(unit.predict(&ModelInput::Tokens(x))?)?);
            }
        }
    }
    let per_sample = outputs.len() / n;
    let shape: Vec<usize> = if per_sample == io.output_width() {
        std::iter::once(n)
            .chain(io.output.iter().copied())
            .collect()
    } else {
        vec![n, per_sample / io.output_width(), io.output_width()]
    };
    write_npy_f32(&args.output, &shape, &outputs)?;
    eprintln!(
        "{} {}/seed {}{}: {n} predictions of shape {:?} -> {}",
        args.run.display(),
        unit.arm,
        unit.seed,
        if unit.finished {
            ""
        } else {
            " (unfinished: latest checkpoint)"
        },
        &shape[1..],
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn rows_of(t: Tensor<2>) -> Result<Vec<f32>, LabError> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| LabError::Other(format!("{e:?}")))
}
