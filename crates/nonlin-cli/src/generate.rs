//! `nonlin generate RUN_DIR --prompt "..." --tokens N`: a sample from a trained language model.

use std::path::PathBuf;
use std::process::ExitCode;

use nonlin::data::Vocab;
use nonlin::lab::LabError;
use nonlin::lab::trained::TrainedUnit;
use nonlin::learn::TaskKind;
use nonlin::learn::generate::{Sampling, generate as sample_text, generate_stream};
use nonlin::nn::{DeviceSpec, InputSpec, Network};

/// The arguments of `nonlin generate`.
#[derive(clap::Args)]
pub struct Args {
    /// The run folder of a language model.
    run: PathBuf,
    /// The text to continue (may be empty).
    #[arg(long, default_value = "")]
    prompt: String,
    /// Tokens to generate.
    #[arg(long, default_value = "200")]
    tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value = "1.0")]
    temperature: f64,
    /// Sample among the k most likely tokens only.
    #[arg(long)]
    top_k: Option<usize>,
    /// Seed of the sampling.
    #[arg(long, default_value = "0")]
    seed: u64,
    /// The arm whose model generates (default: the first).
    #[arg(long)]
    arm: Option<String>,
    /// The training seed whose model generates (default: the first).
    #[arg(long)]
    unit_seed: Option<u64>,
    /// Where to run: cpu, vulkan[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Runs `nonlin generate`: prints the prompt and its continuation.
pub fn generate(args: Args) -> Result<ExitCode, LabError> {
    let device = args.device.parse::<DeviceSpec>()?.device()?;
    let unit = TrainedUnit::load(&args.run, args.arm.as_deref(), args.unit_seed, &device)?;
    if unit.task.kind != TaskKind::LanguageModel {
        return Err(LabError::Other(format!(
            "{} trained a {:?} model; generate needs a language model",
            args.run.display(),
            unit.task.kind
        )));
    }
    let InputSpec::Tokens { context, .. } = unit.task.io.input else {
        unreachable!("language models read tokens")
    };
    let vocab = match &unit.task.vocab {
        Some(chars) => Vocab::chars_of(&chars.iter().collect::<String>()),
        None => Vocab::bytes(),
    };
    let prompt = vocab.encode(&args.prompt)?;
    // A prompt shorter than a fixed context is left-padded with a newline (the start of a line),
    // or token 0 when the vocabulary has no newline.
    let pad = vocab
        .encode("\n")
        .ok()
        .and_then(|t| t.first().copied())
        .unwrap_or(0);
    let sampling = Sampling {
        temperature: args.temperature,
        top_k: args.top_k,
        seed: args.seed,
    };
    // A model with a recurrent form (BDH) generates through it: constant work per token and no
    // window, rather than a forward pass over the last `context` tokens for every new one.
    let model = nonlin::burn::module::Module::valid(&unit.model);
    let ids = match model.token_stream() {
        Some(mut stream) => {
            eprintln!(
                "generating through the model's recurrent form (one step per token, no window)"
            );
            generate_stream(&prompt, args.tokens, pad, stream.as_mut(), &sampling)?
        }
        None => {
            eprintln!("generating through a window of the last {context} tokens");
            let mut predict = |input: &nonlin::nn::ModelInput| {
                unit.predict(input)
                    .map_err(|e| nonlin::learn::LearnError::Batch(e.to_string()))
            };
            sample_text(
                &prompt,
                args.tokens,
                context,
                unit.model.predicts_every_position(),
                pad,
                &mut predict,
                &sampling,
                &device,
            )?
        }
    };
    println!("{}{}", args.prompt, vocab.decode(&ids)?);
    Ok(ExitCode::SUCCESS)
}
