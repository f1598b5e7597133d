//! The whole O1-Pruner pipeline on the embedded demo model, on the CPU, in a few minutes:
//!
//! 1. pre-sample K solutions per training problem from the demo model (o1p-sampler),
//!    graded by o1p-reward, and compute each problem's reference statistics;
//! 2. fine-tune with the length-harmonizing reward and the clipped off-policy objective
//!    (o1p-trainer, the `demo` preset);
//! 3. evaluate the base and the pruned model greedily on held-out problems (o1p-eval) and write
//!    report.json, report.md, the plots and the pruned model (`<out>/model`).
//!
//! ```text
//! cargo run --release --example quickstart [-- --out runs/quickstart --with-baselines]
//! ```
//!
//! `--with-baselines` also runs the paper's fast-solving prompt, SFT and DPO baselines from the
//! same pool and reports them in the same table.
//!
//! Run twice with the same flags, the second run reuses the samples, resumes training from its
//! last checkpoint and reuses the evaluations. With other flags into the same `--out`, the
//! first step whose inputs changed is refused (naming what changed); `--fresh` removes the
//! quickstart's files from `--out` first.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::DType;
use clap::Parser;
use o1_pruner::data::fingerprint::model_hash;
use o1_pruner::data::{Problem, PromptRenderer, demo, write_json_atomic};
use o1_pruner::eval::run::{
    Benchmark, EvalConfig, EvalModel, ModelRun, ReportOptions, evaluate, write_report,
};
use o1_pruner::model::{Backend, CausalLm, Tokenizer, load_pretrained};
use o1_pruner::reward::RewardKind;
use o1_pruner::sampler::presample::{self, PresampleConfig, presample};
use o1_pruner::sampler::{NativeGenerator, SamplingParams};
use o1_pruner::trainer::{Method, TrainConfig, remove_outputs, run as train_run};

#[derive(Parser, Debug)]
#[command(about = "O1-Pruner end to end on the embedded demo model")]
struct Args {
    /// The model to prune (Hugging Face layout).
    #[arg(long, default_value = "assets/demo-model")]
    model: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "runs/quickstart")]
    out: PathBuf,
    /// Training problems to pre-sample.
    #[arg(long, default_value_t = 128)]
    train_problems: usize,
    /// Samples per training problem (K).
    #[arg(long, default_value_t = 8)]
    k: usize,
    /// Held-out problems for the greedy evaluation (512: one problem is 0.2 points).
    #[arg(long, default_value_t = 512)]
    test_problems: usize,
    /// Sampling temperature of pre-sampling. The paper's 0.5 with top-p 0.8 suits large models;
    /// the tiny demo model is so peaked that those samples are near-greedy (pool mean 87.6
    /// tokens against 88 greedy) and carry little length spread to learn from: measured (eps 0.2,
    /// lr 7e-5), -12 % tokens for -2.5 accuracy points, against -29 % for -0.5 at 0.8 / 1.0.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Nucleus (top-p) mass of pre-sampling (the paper's 0.8; see --temperature).
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Most new tokens per response.
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Weight of the accuracy term of the reward.
    #[arg(long, default_value_t = 2.0)]
    lambda: f32,
    /// Learning rate. Measured on validation seeds 1 and 2 with --eps 0.05: 1e-4 prunes 66 / 65 %
    /// of the tokens for +0.4 / +1.8 accuracy points.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// PPO clip range of the objective's ratio. The tiny demo model needs a tighter trust region
    /// than PPO's 0.2. Measured on seeds 1 and 2: eps 0.2 at lr 8e-5 costs 2.7 / 2.5 accuracy
    /// points for -41 / -38 % tokens; at lr 1e-4, 0.1 costs 1.6 / 0.6 and 0.05 gains 0.4 / 1.8,
    /// both for about -65 %.
    #[arg(long, default_value_t = 0.05)]
    eps: f32,
    /// Training epochs over the pool.
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    /// Sequences per optimizer step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Sequences decoded together.
    #[arg(long, default_value_t = 64)]
    decode_batch: usize,
    /// Seed of problems, sampling and training.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Burn backend.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// Also run the fast-prompt, SFT and DPO baselines.
    #[arg(long)]
    with_baselines: bool,
    /// A run config (TOML, as for `prune`) to train with instead of the `demo` preset; its
    /// model, samples and out are replaced by the quickstart's, and the flags above still
    /// override lambda, lr, eps, epochs, batch size, seed and backend.
    #[arg(long)]
    train_config: Option<PathBuf>,
    /// Start over: remove the files of an earlier quickstart from --out first (samples,
    /// training run, baselines, evaluation results; nothing else).
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
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut stages: Vec<(&str, f64)> = Vec::new();
    let out = &args.out;
    if args.fresh {
        remove_quickstart_outputs(out)?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let device = args.backend.device()?;
    let (base, _) = load_pretrained(&args.model, &device, DType::F32)
        .with_context(|| format!("loading the demo model from {}", args.model.display()))?;
    let tokenizer = Tokenizer::from_dir(&args.model)?;

    // Disjoint train and test problems from one seeded stream.
    let all = demo::generate_problems(
        args.train_problems + args.test_problems,
        args.seed,
        &demo::DemoConfig::default(),
    );
    let (train, test): (Vec<Problem>, Vec<Problem>) = {
        let (a, b) = all.split_at(args.train_problems);
        (a.to_vec(), b.to_vec())
    };

    // 1. Pre-sampling.
    let t = Instant::now();
    eprintln!(
        "[1/3] pre-sampling {} problems x K={} ...",
        train.len(),
        args.k
    );
    let generator = NativeGenerator::new(base.clone(), Some(tokenizer.clone()), args.decode_batch);
    let presample_config = PresampleConfig {
        k: args.k,
        params: SamplingParams {
            max_new_tokens: args.max_new_tokens,
            temperature: args.temperature,
            top_p: args.top_p,
            ..Default::default()
        },
        seed: args.seed,
        batch_size: args.decode_batch,
        template: demo::prompt_template(),
        keep_token_ids: true,
        ..Default::default()
    };
    let pool_dir = out.join("presample");
    let summary = presample(
        &train,
        &PromptRenderer::Raw,
        &generator,
        &presample_config,
        &pool_dir,
    )?;
    stages.push(("pre-sampling", t.elapsed().as_secs_f64()));
    eprintln!(
        "      {} samples ({} reused), {} tokens",
        summary.written + summary.reused,
        summary.reused,
        summary.generated_tokens
    );

    // 2. O1-Pruner fine-tuning.
    let t = Instant::now();
    eprintln!("[2/3] O1-Pruner fine-tuning ...");
    let mut config = match &args.train_config {
        Some(path) => {
            let mut c = TrainConfig::from_file(path)?;
            c.model = args.model.clone();
            c.samples = pool_dir.clone();
            c.out = out.clone();
            c
        }
        None => TrainConfig::preset("demo", args.model.clone(), pool_dir.clone(), out.clone())?,
    };
    config.backend = args.backend.to_string();
    config.seed = args.seed;
    // --lambda is the length-harmonizing reward's; a --train-config with another kind keeps it.
    if let RewardKind::LengthHarmonizing { lambda, .. } = &mut config.reward.spec.kind {
        *lambda = args.lambda;
    }
    config.optim.lr = args.lr;
    config.loss.eps = args.eps;
    config.optim.epochs = args.epochs;
    config.optim.batch_size = args.batch_size;
    config.validate(Path::new("<quickstart flags>"))?;
    let report = train_run(&config, true)?;
    stages.push(("fine-tuning", t.elapsed().as_secs_f64()));
    eprintln!(
        "      {} steps, {:.0} tokens/s",
        report.steps, report.tokens_per_second
    );

    // Optional baselines from the same pool.
    let mut baseline_models: Vec<(String, PathBuf)> = Vec::new();
    if args.with_baselines {
        for (label, method) in [
            ("sft", Method::Sft { per_problem: 2 }),
            (
                "dpo",
                Method::Dpo {
                    beta: 0.1,
                    per_problem: 2,
                },
            ),
        ] {
            let t = Instant::now();
            eprintln!("      baseline {label} ...");
            let mut c = config.clone();
            c.method = method;
            c.out = out.join("baselines").join(label);
            match train_run(&c, true) {
                Ok(_) => {}
                // A pool with no correct sample has nothing to imitate: report, go on.
                Err(o1_pruner::trainer::TrainError::NoExamples(why)) => {
                    eprintln!("      skipping the {label} baseline: {why}");
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            stages.push((
                if label == "sft" {
                    "sft baseline"
                } else {
                    "dpo baseline"
                },
                t.elapsed().as_secs_f64(),
            ));
            baseline_models.push((label.to_string(), c.out.join("model")));
        }
    }

    // 3. Greedy evaluation of base and pruned (and baselines) on the held-out problems.
    let t = Instant::now();
    eprintln!("[3/3] evaluating on {} held-out problems ...", test.len());
    let benchmark = Benchmark::new("demo-test", test)?;
    let eval_config = EvalConfig {
        prompt: demo::prompt_template(),
        max_new_tokens: args.max_new_tokens,
        batch_size: args.decode_batch,
        ..Default::default()
    };
    let eval_dir = out.join("eval");
    let mut runs: Vec<ModelRun> = Vec::new();
    runs.push(evaluate(
        &hashed("base", &base, &tokenizer, &args.model)?,
        std::slice::from_ref(&benchmark),
        &eval_config,
        &eval_dir,
    )?);
    if args.with_baselines {
        let fast = EvalConfig {
            prompt: demo::prompt_template().with_fast_solving(true),
            ..eval_config.clone()
        };
        runs.push(evaluate(
            &hashed("fast-prompt", &base, &tokenizer, &args.model)?,
            std::slice::from_ref(&benchmark),
            &fast,
            &eval_dir,
        )?);
        for (label, dir) in &baseline_models {
            let (m, _) = load_pretrained(dir, &device, DType::F32)?;
            runs.push(evaluate(
                &hashed(label, &m, &tokenizer, dir)?,
                std::slice::from_ref(&benchmark),
                &eval_config,
                &eval_dir,
            )?);
        }
    }
    let (pruned, _) = load_pretrained(out.join("model"), &device, DType::F32)?;
    runs.push(evaluate(
        &hashed("o1-pruner", &pruned, &tokenizer, &out.join("model"))?,
        std::slice::from_ref(&benchmark),
        &eval_config,
        &eval_dir,
    )?);
    stages.push(("evaluation", t.elapsed().as_secs_f64()));

    let options = ReportOptions {
        summary: Some("o1-pruner".into()),
        ..ReportOptions::new("base")
    };
    let written = write_report(out, &runs, &options)?;
    let total = started.elapsed().as_secs_f64();
    stages.push(("total", total));

    // The stage timings join report.json, so the README's numbers come from one file.
    let report_path = out.join("report.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_path)?)?;
    let timings: serde_json::Map<String, serde_json::Value> = stages
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    json["wall_time_s"] = serde_json::Value::Object(timings);
    json["training"] = serde_json::to_value(&report)?;
    write_json_atomic(&report_path, &json)?;

    println!("{}", written.markdown);
    println!("| stage | wall time |\n|---|---|");
    for (name, secs) in &stages {
        println!("| {name} | {secs:.1} s |");
    }
    println!(
        "\nreport: {}  model: {}",
        report_path.display(),
        out.join("model").display()
    );
    Ok(())
}

/// A model evaluated from memory, carrying the hash of the directory it came from so that its
/// evaluation records are tied to it.
fn hashed<'a>(
    label: &str,
    model: &'a CausalLm,
    tokenizer: &'a Tokenizer,
    dir: &Path,
) -> anyhow::Result<EvalModel<'a>> {
    Ok(EvalModel::new(label, model, tokenizer).with_model_hash(model_hash(dir)?, dir))
}

/// `--fresh`: the files an earlier quickstart wrote into `out` (samples, training runs,
/// evaluation results, reports), and nothing else.
fn remove_quickstart_outputs(out: &Path) -> anyhow::Result<()> {
    let mut removed = presample::remove_outputs(&out.join("presample"))?;
    removed.extend(remove_outputs(out)?);
    for label in ["sft", "dpo"] {
        removed.extend(remove_outputs(&out.join("baselines").join(label))?);
    }
    for label in ["base", "fast-prompt", "sft", "dpo", "o1-pruner"] {
        removed.extend(o1_pruner::eval::run::remove_outputs(
            &out.join("eval"),
            label,
            "demo-test",
        )?);
    }
    for path in removed {
        eprintln!("--fresh: removed {}", path.display());
    }
    Ok(())
}
