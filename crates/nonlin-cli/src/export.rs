//! `nonlin export RUN_DIR --out codes.json`: the trained integer codes of a run's power-of-two
//! (DenseShift) layers, without the training data. Weight (i, o) of a layer is
//! `sign[i·out + o] · 2^(−shift[i·out + o])`, in Burn's `[in, out]` layout, so x·W is a sum of
//! sign flips and shifts. The library side is `Network::shift_codes` on the unit's model.

use std::path::PathBuf;
use std::process::ExitCode;

use nonlin::lab::LabError;
use nonlin::lab::trained::TrainedUnit;
use nonlin::nn::neuron::ShiftCodes;
use nonlin::nn::{DeviceSpec, Network};
use serde_json::json;

/// The arguments of `nonlin export`.
#[derive(clap::Args)]
pub struct Args {
    /// The run folder.
    run: PathBuf,
    /// The arm whose model is exported (default: the first).
    #[arg(long)]
    arm: Option<String>,
    /// The seed whose model is exported (default: the first).
    #[arg(long)]
    seed: Option<u64>,
    /// Where the codes go (JSON).
    #[arg(long)]
    out: PathBuf,
}

/// The format tag of the file, for readers to check.
pub const FORMAT: &str = "nonlin-shift-codes-1";

/// Runs `nonlin export`.
pub fn export(args: Args) -> Result<ExitCode, LabError> {
    let device = DeviceSpec::Cpu.device()?;
    let unit = TrainedUnit::load(&args.run, args.arm.as_deref(), args.seed, &device)?;
    let layers: Vec<ShiftCodes> = unit.model.shift_codes();
    if layers.is_empty() {
        return Err(LabError::Other(format!(
            "arm `{}` of {} has no power-of-two (DenseShift) layers to export; its model is `{}`",
            unit.arm,
            args.run.display(),
            unit.config.model.name()
        )));
    }
    let doc = json!({
        "format": FORMAT,
        "run": args.run.display().to_string(),
        "arm": unit.arm,
        "seed": unit.seed,
        "finished": unit.finished,
        "weight": "sign * 2^(-shift), row-major [in, out]",
        "layers": layers,
    });
    let text = serde_json::to_vec_pretty(&doc).map_err(|e| LabError::Other(e.to_string()))?;
    nonlin::data::atomic::write_atomic(&args.out, &text).map_err(LabError::io(&args.out))?;
    let weights: usize = layers.iter().map(|l| l.sign.len()).sum();
    println!(
        "wrote {} layer(s), {weights} weights, {} bits each, to {}",
        layers.len(),
        layers[0].bits,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
