//! The paper's training baselines from the same pre-sampled pool.
//!
//! ```text
//! cargo run --release --example baseline -- --method sft|dpo --model DIR --samples DIR --out DIR
//!     [--config run.toml | --preset NAME] [--lr F] [--epochs N] [--fresh]
//! ```
//!
//! `--preset` takes the paper's baseline settings (the reference code's configs):
//! `marco-o1-7b-sft` (lr 1e-6, 2 epochs), `marco-o1-7b-dpo` (lr 5e-8), `qwq-32b-sft` (lr 5e-6,
//! last 48 layers), `qwq-32b-dpo` (lr 2e-7, 2 epochs, last 36 layers); its method must be the
//! one `--method` names.
//!
//! Like `prune`, a rerun resumes, and a rerun with other settings or inputs is refused before
//! anything is written; `--fresh` removes the run's files from `--out` and starts over.
//!
//! SFT trains on the 2 shortest correct samples per problem; DPO prefers each of them over the
//! problem's longest sample (beta 0.1). The fast-solving prompt baseline needs no training:
//! evaluate the base model with `evaluate --prompt fast`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use o1_pruner::trainer::{Method, TrainConfig, remove_outputs, run};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BaselineMethod {
    Sft,
    Dpo,
}

#[derive(Parser, Debug)]
#[command(about = "SFT / DPO baselines of O1-Pruner")]
struct Args {
    /// Which baseline.
    #[arg(long)]
    method: BaselineMethod,
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// Pre-sampling output (samples.jsonl or its directory).
    #[arg(long)]
    samples: PathBuf,
    /// Run directory; the model lands in <out>/model.
    #[arg(long)]
    out: PathBuf,
    /// Start from a TOML config (its method is replaced); else the demo preset's optimisation.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// Start from a baseline preset (marco-o1-7b-sft, marco-o1-7b-dpo, qwq-32b-sft,
    /// qwq-32b-dpo); its method must match --method.
    #[arg(long)]
    preset: Option<String>,
    /// Learning rate override.
    #[arg(long)]
    lr: Option<f64>,
    /// Epochs override.
    #[arg(long)]
    epochs: Option<usize>,
    /// Start over: remove the files of an earlier run from --out first (only the run's own).
    #[arg(long)]
    fresh: bool,
}

fn main() -> ExitCode {
    match run_cli(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cli(args: Args) -> anyhow::Result<()> {
    let mut config = match (&args.config, &args.preset) {
        (Some(path), _) => TrainConfig::from_file(path)?,
        (None, name) => TrainConfig::preset(
            name.as_deref().unwrap_or("demo"),
            args.model.clone(),
            args.samples.clone(),
            args.out.clone(),
        )?,
    };
    if let Some(name) = &args.preset {
        let matches = matches!(
            (args.method, config.method),
            (BaselineMethod::Sft, Method::Sft { .. }) | (BaselineMethod::Dpo, Method::Dpo { .. })
        );
        if !matches {
            anyhow::bail!(
                "--preset {name} trains {:?}, not --method {:?}",
                config.method,
                args.method
            );
        }
    }
    config.model = args.model;
    config.samples = args.samples;
    config.out = args.out;
    if args.preset.is_none() {
        config.method = match args.method {
            BaselineMethod::Sft => Method::Sft { per_problem: 2 },
            BaselineMethod::Dpo => Method::Dpo {
                beta: 0.1,
                per_problem: 2,
            },
        };
    }
    if let Some(lr) = args.lr {
        config.optim.lr = lr;
    }
    if let Some(epochs) = args.epochs {
        config.optim.epochs = epochs;
    }
    config.validate(std::path::Path::new("<command line>"))?;
    if args.fresh {
        for path in remove_outputs(&config.out)? {
            eprintln!("--fresh: removed {}", path.display());
        }
    }
    let report = run(&config, true)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
