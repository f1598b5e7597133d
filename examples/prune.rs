//! O1-Pruner fine-tuning from a TOML run config.
//!
//! ```text
//! cargo run --release --example prune -- --config run.toml
//! cargo run --release --example prune -- --preset demo --model DIR --samples DIR --out DIR
//! ```
//!
//! The trained model lands in `<out>/model` (Hugging Face layout); metrics in
//! `<out>/metrics.jsonl`. Rerunning the same command after a crash resumes from the last
//! checkpoint. A rerun with any other setting, model or pool is refused before anything is
//! written, naming each changed field (`<out>/fingerprint.json` records them); `--fresh`
//! removes the run's files from `<out>` (run.toml, checkpoint/, model/, metrics.jsonl, ...)
//! and starts over.
//!
//! By default training is off-policy on the pre-sampled pool, as the paper's code does. With
//! `mode = "on_policy"` and an `[on_policy]` table in the config (problems file with the gold
//! answers, `rounds`, `samples_per_round`, sampling settings), it runs rounds of sampling from
//! the current policy instead, rewarded against the pool's reference statistics; each round
//! adds a line with a `round` field to `metrics.jsonl` (see `o1p_trainer::on_policy`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use o1_pruner::trainer::{Method, TrainConfig, remove_outputs, run};

#[derive(Parser, Debug)]
#[command(about = "Length-harmonizing fine-tuning (O1-Pruner)")]
struct Args {
    /// TOML run config.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// A preset instead of a config file: marco-o1-7b, qwq-32b, demo, or one of the paper's
    /// baselines: marco-o1-7b-sft, marco-o1-7b-dpo, qwq-32b-sft, qwq-32b-dpo.
    #[arg(long, requires_all = ["model", "samples", "out"])]
    preset: Option<String>,
    /// Model directory (with --preset).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Pre-sampling output (with --preset).
    #[arg(long)]
    samples: Option<PathBuf>,
    /// Run directory (with --preset).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the resolved config as TOML and exit.
    #[arg(long)]
    print_config: bool,
    /// Start over: remove the files of an earlier run from the run directory first (only the
    /// run's own: fingerprint.json, run.toml, checkpoint/, model/, metrics.jsonl, ...).
    #[arg(long)]
    fresh: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match run_cli(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cli(args: Args) -> anyhow::Result<()> {
    let config = match (&args.config, &args.preset) {
        (Some(path), _) => TrainConfig::from_file(path)?,
        (None, Some(name)) => TrainConfig::preset(
            name,
            args.model.clone().unwrap_or_default(),
            args.samples.clone().unwrap_or_default(),
            args.out.clone().unwrap_or_default(),
        )?,
        (None, None) => anyhow::bail!("give --config FILE or --preset NAME"),
    };
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    if config.method != Method::O1Pruner {
        eprintln!(
            "note: this config trains {:?}; `baseline` is the usual entry point for baselines",
            config.method
        );
    }
    if args.fresh {
        for path in remove_outputs(&config.out)? {
            eprintln!("--fresh: removed {}", path.display());
        }
    }
    let report = run(&config, true)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!("model written to {}", config.out.join("model").display());
    if config.lora.is_some() {
        eprintln!(
            "LoRA adapter (PEFT layout) written to {}",
            config.out.join(o1_pruner::trainer::ADAPTER_DIR).display()
        );
    }
    Ok(())
}
