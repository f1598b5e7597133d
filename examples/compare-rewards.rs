//! Every length reward of the family, side by side on one pool: the demo model is pre-sampled
//! once, fine-tuned from that pool with O1-Pruner's length-harmonizing reward and with each
//! other reward of o1p-reward (the same clipped objective, lr, epochs and steps), and every
//! model is evaluated greedily on the same held-out problems.
//!
//! ```sh
//! cargo run --release --example compare-rewards      # about half an hour on 2 cores
//! ```
//!
//! Writes into `--out` (default `runs/compare-rewards`): `presample/` (the pool), `runs/<label>/`
//! (one training run per reward, its `run.toml` naming the reward), `eval/`, the evaluation
//! `report.json` / `report.md` of all models against the base, `compare.md` and
//! `compare.json` (the table below) and `accuracy_vs_length.{svg,png}`.
//!
//! The table: accuracy, mean tokens, length reduction and AES against the base model, and
//! accuracy by difficulty (demo step count). Each reward runs with its published parameters;
//! where a parameter is a length (DAPO's buffer, cosine's horizon, L1's target, ThinkPrune's
//! limit) it is scaled to the demo (`--max-new-tokens`, the pool's mean length), and the
//! rewards the family's papers train with group baselines (GRPO/RLOO) are normalised within
//! each problem's group (`group_z_score`). O1-Pruner runs as the `demo` preset does (raw
//! rewards, the paper's form). Everything is resumable: rerun the same command after a crash.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::DType;
use clap::Parser;
use o1_pruner::data::fingerprint::model_hash;
use o1_pruner::data::{Problem, PromptRenderer, demo, write_atomic, write_json_atomic};
use o1_pruner::eval::run::{
    Benchmark, EvalConfig, EvalModel, ModelRun, ReportOptions, auto_grouping, evaluate,
    write_report,
};
use o1_pruner::eval::{
    AccuracyLengthPoint, PlotSize, difficulty_breakdown, plot_accuracy_vs_length,
};
use o1_pruner::model::{Backend, CausalLm, Tokenizer, load_pretrained};
use o1_pruner::reward::{Normalization, RewardSpec};
use o1_pruner::sampler::presample::{PresampleConfig, ProblemReference, STATS_FILE, presample};
use o1_pruner::sampler::{NativeGenerator, SamplingParams};
use o1_pruner::trainer::{RewardConfig, TrainConfig, run as train_run};

#[derive(Parser, Debug)]
#[command(about = "Every length reward of the family trained from one pool of the demo model")]
struct Args {
    /// The model (Hugging Face layout).
    #[arg(long, default_value = "assets/demo-model")]
    model: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "runs/compare-rewards")]
    out: PathBuf,
    /// Training problems to pre-sample.
    #[arg(long, default_value_t = 128)]
    train_problems: usize,
    /// Samples per training problem (K).
    #[arg(long, default_value_t = 8)]
    k: usize,
    /// Held-out problems for the greedy evaluation.
    #[arg(long, default_value_t = 512)]
    test_problems: usize,
    /// Sampling temperature of pre-sampling (the quickstart's).
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Most new tokens per response; the length scale of DAPO's and cosine's rewards.
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Learning rate of every run (the `demo` preset's).
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// PPO clip range of every run (the `demo` preset's).
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
    /// Only these rewards (labels, comma-separated; see the table). Default: all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The rewards compared: a label, the `[reward]` table (TOML) and what it is.
fn rewards(max_new_tokens: usize, pool_mean: usize) -> Vec<(&'static str, String, String)> {
    let group = "normalization = \"group_z_score\"";
    let half_mean = (pool_mean / 2).max(1);
    let cache = (max_new_tokens / 5).max(1);
    vec![
        (
            "o1-pruner",
            "kind = \"length_harmonizing\"\nlambda = 2.0".into(),
            "Lbar_ref/L - 1 + 2 (c - Abar_ref), raw".into(),
        ),
        (
            "kimi",
            format!(
                "kind = \"weighted_sum\"\n{group}\n[[components]]\nkind = \"correctness\"\n\
                 [[components]]\nkind = \"kimi_length\""
            ),
            "c + Kimi k1.5 group length term".into(),
        ),
        (
            "dapo-overlong",
            format!(
                "kind = \"weighted_sum\"\n{group}\n[[components]]\nkind = \"correctness\"\n\
                 [[components]]\nkind = \"dapo_overlong\"\nmax_length = {max_new_tokens}\ncache = {cache}"
            ),
            format!("c + DAPO soft overlong ({max_new_tokens}, buffer {cache})"),
        ),
        (
            "cosine",
            format!("kind = \"cosine\"\nmax_length = {max_new_tokens}\n{group}"),
            format!("cosine (horizon {max_new_tokens})"),
        ),
        (
            "l1-exact",
            format!("kind = \"l1_exact\"\ntarget = {half_mean}\n{group}"),
            format!("L1 exact, target {half_mean} (half the pool mean)"),
        ),
        (
            "l1-max",
            format!("kind = \"l1_max\"\ntarget = {half_mean}\n{group}"),
            format!("L1 max, budget {half_mean}"),
        ),
        (
            "arora-zanette",
            format!("kind = \"arora_zanette\"\nalpha = 0.1\n{group}"),
            "c (1 - 0.1 sigmoid(z)), z over correct lengths".into(),
        ),
        (
            "shorter-better",
            format!("kind = \"shorter_better\"\nalpha = 2.0\nbeta = 0.001\n{group}"),
            "2c - 0.001 |SOL - L|".into(),
        ),
        (
            "thinkprune",
            format!("kind = \"thinkprune\"\nlimit = {pool_mean}\n{group}"),
            format!("c if complete within {pool_mean} tokens (the pool mean)"),
        ),
    ]
}

fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let device = args.backend.device()?;
    let (base, _) = load_pretrained(&args.model, &device, DType::F32)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let tokenizer = Tokenizer::from_dir(&args.model)?;
    let all = demo::generate_problems(
        args.train_problems + args.test_problems,
        args.seed,
        &demo::DemoConfig::default(),
    );
    let (train, test): (Vec<Problem>, Vec<Problem>) = {
        let (a, b) = all.split_at(args.train_problems);
        (a.to_vec(), b.to_vec())
    };

    // 1. One pool for every reward.
    let t = Instant::now();
    eprintln!("pre-sampling {} problems x K={} ...", train.len(), args.k);
    let generator = NativeGenerator::new(base.clone(), Some(tokenizer.clone()), args.decode_batch);
    let presample_config = PresampleConfig {
        k: args.k,
        params: SamplingParams {
            max_new_tokens: args.max_new_tokens,
            temperature: args.temperature,
            top_p: 1.0,
            ..Default::default()
        },
        seed: args.seed,
        batch_size: args.decode_batch,
        template: demo::prompt_template(),
        keep_token_ids: true,
        ..Default::default()
    };
    let pool_dir = out.join("presample");
    presample(
        &train,
        &PromptRenderer::Raw,
        &generator,
        &presample_config,
        &pool_dir,
    )?;
    let presampling_s = t.elapsed().as_secs_f64();
    let pool_mean = pool_mean_length(&pool_dir)?;

    // 2. One training run per reward, the same settings but the reward.
    let mut trained: Vec<(String, String, PathBuf, f64)> = Vec::new();
    for (label, table, what) in rewards(args.max_new_tokens, pool_mean.round() as usize) {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == label) {
            continue;
        }
        let t = Instant::now();
        eprintln!("training with {label}: {what} ...");
        let run_dir = out.join("runs").join(label);
        let mut config = TrainConfig::preset(
            "demo",
            args.model.clone(),
            pool_dir.clone(),
            run_dir.clone(),
        )?;
        config.backend = args.backend.to_string();
        config.seed = args.seed;
        config.optim.lr = args.lr;
        config.loss.eps = args.eps;
        config.optim.epochs = args.epochs;
        config.optim.batch_size = args.batch_size;
        config.reward =
            reward_config(&table).with_context(|| format!("the [reward] table of {label}"))?;
        config.validate(Path::new(label))?;
        let report = train_run(&config, true)?;
        let secs = t.elapsed().as_secs_f64();
        eprintln!("      {} steps in {secs:.0} s", report.steps);
        trained.push((label.to_string(), what, run_dir.join("model"), secs));
    }

    // 3. Greedy evaluation of the base and every trained model on the same problems.
    let t = Instant::now();
    eprintln!(
        "evaluating {} models on {} held-out problems ...",
        trained.len() + 1,
        test.len()
    );
    let benchmark = Benchmark::new("demo-test", test)?;
    let eval_config = EvalConfig {
        prompt: demo::prompt_template(),
        max_new_tokens: args.max_new_tokens,
        batch_size: args.decode_batch,
        ..Default::default()
    };
    let eval_dir = out.join("eval");
    let mut runs: Vec<ModelRun> = vec![evaluate(
        &hashed("base", &base, &tokenizer, &args.model)?,
        std::slice::from_ref(&benchmark),
        &eval_config,
        &eval_dir,
    )?];
    for (label, _, dir, _) in &trained {
        let (model, _) = load_pretrained(dir, &device, DType::F32)?;
        runs.push(evaluate(
            &hashed(label, &model, &tokenizer, dir)?,
            std::slice::from_ref(&benchmark),
            &eval_config,
            &eval_dir,
        )?);
    }
    let evaluation_s = t.elapsed().as_secs_f64();
    let written = write_report(out, &runs, &ReportOptions::new("base"))?;

    // 4. The table and the plot.
    let mut rows = Vec::new();
    let mut points = Vec::new();
    for (run, model_run) in written.report.runs.iter().zip(&runs) {
        let row = &run.per_benchmark[0];
        let records = &model_run.benchmarks[0].records;
        let by_difficulty: Vec<(String, f64)> = match auto_grouping(records) {
            Some(grouping) => difficulty_breakdown(records, &grouping)?
                .rows
                .into_iter()
                .map(|r| (r.label, 100.0 * r.accuracy))
                .collect(),
            None => Vec::new(),
        };
        let (what, train_s) = trained.iter().find(|(l, ..)| *l == run.label).map_or(
            ("the model before fine-tuning".to_string(), 0.0),
            |(_, w, _, s)| (w.clone(), *s),
        );
        points.push(AccuracyLengthPoint {
            label: run.label.clone(),
            mean_tokens: row.mean_tokens,
            accuracy: 100.0 * row.accuracy,
        });
        rows.push(serde_json::json!({
            "label": run.label,
            "reward": what,
            "accuracy": 100.0 * row.accuracy,
            "mean_tokens": row.mean_tokens,
            "length_reduction": row.length_reduction.map(|r| 100.0 * r),
            "aes": row.aes,
            "accuracy_by_difficulty": by_difficulty.iter().map(|(l, a)| serde_json::json!({"difficulty": l, "accuracy": a})).collect::<Vec<_>>(),
            "training_s": train_s,
        }));
    }
    for ext in ["svg", "png"] {
        plot_accuracy_vs_length(
            out.join(format!("accuracy_vs_length.{ext}")),
            "Length rewards on the demo model (greedy, held-out problems)",
            &points,
            PlotSize::default(),
        )?;
    }
    let total_s = started.elapsed().as_secs_f64();
    let json = serde_json::json!({
        "pool": {"problems": args.train_problems, "k": args.k, "mean_length": pool_mean},
        "test_problems": args.test_problems,
        "rows": rows,
        "wall_time_s": {"presampling": presampling_s, "evaluation": evaluation_s, "total": total_s},
    });
    write_json_atomic(out.join("compare.json"), &json)?;
    let markdown = markdown_table(&rows, total_s);
    write_atomic(out.join("compare.md"), markdown.as_bytes())?;
    println!("{markdown}");
    println!("written: {}", out.join("compare.md").display());
    Ok(())
}

/// A `[reward]` table (TOML text) as the run config reads it.
fn reward_config(table: &str) -> anyhow::Result<RewardConfig> {
    let config: RewardConfig = toml::from_str(table)?;
    // The same checks as a run config's, keys named under `reward.`.
    let spec: &RewardSpec = &config.spec;
    spec.check("reward").map_err(anyhow::Error::msg)?;
    debug_assert!(matches!(
        config.normalization,
        Normalization::None | Normalization::GroupZScore
    ));
    Ok(config)
}

/// The mean sample length of the pool (its reference statistics, weighted by K).
fn pool_mean_length(pool_dir: &Path) -> anyhow::Result<f64> {
    let path = pool_dir.join(STATS_FILE);
    let stats: Vec<ProblemReference> = serde_json::from_slice(&std::fs::read(&path)?)
        .with_context(|| format!("reading {}", path.display()))?;
    let (sum, n) = stats.iter().fold((0.0, 0usize), |(s, n), p| {
        (s + p.stats.mean_length * p.stats.k as f64, n + p.stats.k)
    });
    anyhow::ensure!(n > 0, "{} holds no samples", path.display());
    Ok(sum / n as f64)
}

/// The comparison as a Markdown table.
fn markdown_table(rows: &[serde_json::Value], total_s: f64) -> String {
    let mut difficulties: Vec<String> = Vec::new();
    for row in rows {
        for d in row["accuracy_by_difficulty"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let label = d["difficulty"].as_str().unwrap_or("").to_string();
            if !difficulties.contains(&label) {
                difficulties.push(label);
            }
        }
    }
    let mut md = String::from("| reward | accuracy % | mean tokens | length reduction % | AES |");
    for d in &difficulties {
        md.push_str(&format!(" acc. {d} |"));
    }
    md.push_str(" training s |\n|---|---|---|---|---|");
    md.push_str(&"---|".repeat(difficulties.len()));
    md.push_str("---|\n");
    let num = |v: &serde_json::Value, digits: usize| {
        v.as_f64()
            .map_or("-".to_string(), |x| format!("{x:.digits$}"))
    };
    for row in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |",
            row["label"].as_str().unwrap_or(""),
            num(&row["accuracy"], 1),
            num(&row["mean_tokens"], 1),
            num(&row["length_reduction"], 1),
            num(&row["aes"], 2),
        ));
        for d in &difficulties {
            let acc = row["accuracy_by_difficulty"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|x| x["difficulty"].as_str() == Some(d.as_str()))
                .map_or(serde_json::Value::Null, |x| x["accuracy"].clone());
            md.push_str(&format!(" {} |", num(&acc, 1)));
        }
        md.push_str(&format!(" {} |\n", num(&row["training_s"], 0)));
    }
    md.push_str(&format!(
        "\nTotal wall time {:.0} s.\n\nRewards:\n",
        total_s
    ));
    for row in rows {
        md.push_str(&format!(
            "- {}: {}\n",
            row["label"].as_str().unwrap_or(""),
            row["reward"].as_str().unwrap_or("")
        ));
    }
    md
}

/// A model evaluated from memory, carrying the hash of the directory it came from.
fn hashed<'a>(
    label: &str,
    model: &'a CausalLm,
    tokenizer: &'a Tokenizer,
    dir: &Path,
) -> anyhow::Result<EvalModel<'a>> {
    Ok(EvalModel::new(label, model, tokenizer).with_model_hash(model_hash(dir)?, dir))
}
