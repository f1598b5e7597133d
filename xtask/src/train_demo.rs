//! `cargo xtask train-demo`: pretrains the embedded demo model from scratch.
//!
//! ```text
//! cargo xtask train-demo                                  # the committed assets/demo-model
//! cargo xtask train-demo --max-iters 30 --out /tmp/demo   # a smoke run (~1 minute)
//! ```
//!
//! The file reads top to bottom like nanoGPT's `train.py`: the defaults ([`Args`], a comment on
//! every knob), the data (length-bucketed batches of demo examples, loss on response tokens
//! only), the model, the optimizer and `get_lr` (warmup, then cosine decay), then one loop:
//! set lr, periodic eval, forward/backward, clip, step, log. After the loop the model is
//! evaluated greedily on a held-out test split and written in Hugging Face layout together
//! with its tokenizer, a `train_report.json` and a model card (`README.md`) whose numbers come
//! from this run.
//!
//! Everything is seeded (weights, data stream, batch order, test split) and runs on the flex
//! CPU backend in f32, so the same command gives the same model on the same machine.
//! Training is short (minutes), so there is no resume: a checkpoint is written once, at the end.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use o1p_data::demo::{self, DemoConfig, DemoProblem, ReflectionRates};
use o1p_model::{Backend, CausalLm, ModelConfig, Tokenizer};
use o1p_sampler::{FinishReason, SamplingParams, generate};
use serde_json::json;

use crate::demo_tokenizer;

/// The defaults block: every knob of the run, with why it has its value.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    // --- I/O -------------------------------------------------------------------------------
    /// Where the model, tokenizer, report and model card are written.
    #[arg(long, default_value = "assets/demo-model")]
    pub out: PathBuf,
    /// Seeds the weights, the training stream and the batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    // --- model (a tiny Qwen2; ~0.8 M parameters) ------------------------------------------
    /// Decoder layers. 4 x 128 was the prototype's size that learned 1-4 step sums in budget.
    #[arg(long, default_value_t = 4)]
    pub n_layer: usize,
    /// Width of the residual stream.
    #[arg(long, default_value_t = 128)]
    pub n_embd: usize,
    /// Query heads (head width 32).
    #[arg(long, default_value_t = 4)]
    pub n_head: usize,
    /// Key/value heads: 2 makes it grouped-query attention like real Qwen2 checkpoints, so the
    /// demo exercises the same GQA path at a 2% cost in parameters.
    #[arg(long, default_value_t = 2)]
    pub n_kv_head: usize,
    /// SwiGLU hidden width (3 x n_embd; SwiGLU's three matrices make it ~4x of a plain MLP).
    #[arg(long, default_value_t = 384)]
    pub intermediate: usize,

    // --- data ------------------------------------------------------------------------------
    /// Fewest arithmetic steps of a training problem.
    #[arg(long, default_value_t = demo::MIN_STEPS)]
    pub min_steps: usize,
    /// Most steps; the number of steps is uniform in between, so the 4-step problems stay
    /// hard for this model and accuracy has something to protect during pruning.
    #[arg(long, default_value_t = demo::MAX_STEPS)]
    pub max_steps: usize,
    /// Largest operand. Single digits: two-digit operands were unlearnable in budget.
    #[arg(long, default_value_t = 9)]
    pub max_operand: u32,
    /// Sequences per batch (~150 tokens each, so ~5 k tokens per step).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,

    // --- optimizer (AdamW, warmup + cosine) -------------------------------------------------
    /// Optimizer steps. 1000 leaves the model imperfect on the harder problems (~89 % greedy,
    /// 77-82 % on 3-4 steps), so that O1-Pruner's accuracy term has something to protect; 1400
    /// reaches ~97 %, and 750 (~71 %) leaves its arithmetic so unsettled that any fine-tuning
    /// flips greedy answers. ~20 minutes on 2 cores.
    #[arg(long, default_value_t = 1000)]
    pub max_iters: usize,
    /// Peak learning rate; small models tolerate a large one (nanoGPT's char model: 1e-3).
    #[arg(long, default_value_t = 3e-3)]
    pub learning_rate: f64,
    /// Final learning rate of the cosine decay (~learning_rate / 10, as nanoGPT).
    #[arg(long, default_value_t = 3e-4)]
    pub min_lr: f64,
    /// Linear warmup steps: Adam's second moments are noisy at first.
    #[arg(long, default_value_t = 80)]
    pub warmup_iters: usize,
    /// Decoupled weight decay of matrices and the embedding (norm gains and biases get none).
    #[arg(long, default_value_t = 0.1)]
    pub weight_decay: f32,
    /// Adam beta1.
    #[arg(long, default_value_t = 0.9)]
    pub beta1: f32,
    /// Adam beta2: 0.99 rather than 0.999 because each step sees few tokens (nanoGPT's
    /// choice for its small char-level model).
    #[arg(long, default_value_t = 0.99)]
    pub beta2: f32,
    /// Clip the global gradient norm to this (0 disables).
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,

    // --- logging and evaluation ---------------------------------------------------------------
    /// Print the training loss every this many steps.
    #[arg(long, default_value_t = 25)]
    pub log_interval: usize,
    /// Validation loss and a quick greedy accuracy every this many steps.
    #[arg(long, default_value_t = 250)]
    pub eval_interval: usize,
    /// Problems per number of steps in the quick greedy check during training.
    #[arg(long, default_value_t = 16)]
    pub eval_per_steps: usize,
    /// Problems per number of steps in the final held-out test.
    #[arg(long, default_value_t = 100)]
    pub test_per_steps: usize,
    /// Seed of the held-out test split (drawn apart from the training stream).
    #[arg(long, default_value_t = 20250117)]
    pub test_seed: u64,
    /// Longest greedy response: the longest reference solution is ~200 characters.
    #[arg(long, default_value_t = 320)]
    pub max_new_tokens: usize,
}

impl Args {
    fn validate(&self) -> Result<()> {
        ensure!(
            self.n_layer > 0 && self.n_embd > 0 && self.intermediate > 0,
            "model sizes must be > 0"
        );
        ensure!(
            self.n_head > 0 && self.n_embd.is_multiple_of(self.n_head),
            "--n-embd must be a multiple of --n-head"
        );
        ensure!(
            (self.n_embd / self.n_head).is_multiple_of(2),
            "the head width (--n-embd / --n-head) must be even for RoPE"
        );
        ensure!(
            self.n_kv_head > 0 && self.n_head.is_multiple_of(self.n_kv_head),
            "--n-kv-head must divide --n-head"
        );
        ensure!(
            demo::MIN_STEPS <= self.min_steps
                && self.min_steps <= self.max_steps
                && self.max_steps <= demo::MAX_STEPS,
            "steps must satisfy {} <= --min-steps <= --max-steps <= {}",
            demo::MIN_STEPS,
            demo::MAX_STEPS
        );
        ensure!(
            (1..=9).contains(&self.max_operand),
            "--max-operand must be 1 to 9 (the demo alphabet and prompts assume digits)"
        );
        ensure!(
            self.batch_size > 0 && self.max_iters > 0,
            "--batch-size and --max-iters must be > 0"
        );
        ensure!(
            self.min_lr <= self.learning_rate && self.min_lr >= 0.0,
            "need 0 <= --min-lr <= --learning-rate"
        );
        ensure!(
            self.log_interval > 0 && self.eval_interval > 0,
            "intervals must be > 0"
        );
        ensure!(self.test_per_steps > 0, "--test-per-steps must be > 0");
        Ok(())
    }

    fn data_config(&self) -> DemoConfig {
        DemoConfig {
            min_steps: self.min_steps,
            max_steps: self.max_steps,
            max_operand: self.max_operand,
        }
    }
}

/// Distinct streams from one seed: training chunks, validation, quick eval, test.
const TRAIN_STREAM: u64 = 1;
const VAL_STREAM: u64 = 2;
const EVAL_STREAM: u64 = 3;
/// Batches per chunk of the training stream: each chunk is drawn, sorted by length, cut into
/// batches, and the batches are shuffled, so padding stays small without ordering the data.
const CHUNK_BATCHES: usize = 64;
/// Validation batches for the loss estimate.
const VAL_BATCHES: usize = 4;

/// Runs the whole thing: train, evaluate, save.
pub fn run(args: &Args) -> Result<()> {
    args.validate()?;
    let started = Instant::now();

    // --- tokenizer -------------------------------------------------------------------------
    // Written first and loaded back through the same path the quickstart uses.
    demo_tokenizer::write(&args.out)?;
    let tok = Tokenizer::from_dir(&args.out).with_context(|| {
        format!(
            "loading the tokenizer just written to {}",
            args.out.display()
        )
    })?;
    let ids = SpecialIds::of(&tok)?;

    // --- data ------------------------------------------------------------------------------
    let data = args.data_config();
    let rates = ReflectionRates::default();
    let mut train = TrainStream::new(args.seed, data, rates.clone(), args.batch_size, ids);
    let val: Vec<Batch> = {
        let examples = demo::training_examples(
            VAL_BATCHES * args.batch_size,
            derive(args.seed, VAL_STREAM, 0),
            &data,
            &rates,
        );
        let encoded = examples
            .iter()
            .map(|e| encode_example(&tok, &e.problem.question, &e.response, ids))
            .collect::<Result<Vec<_>>>()?;
        bucketed_batches(encoded, args.batch_size, ids.pad)
    };
    let eval_problems =
        split_by_steps(args, args.eval_per_steps, derive(args.seed, EVAL_STREAM, 0));
    let test_problems = split_by_steps(args, args.test_per_steps, args.test_seed);

    // --- model -----------------------------------------------------------------------------
    let device = Backend::Flex.autodiff_device()?;
    let config = ModelConfig::qwen2(
        tok.vocab_size(),
        args.n_embd,
        args.intermediate,
        args.n_layer,
        args.n_head,
        args.n_kv_head,
    )
    .with_special_tokens(Some(ids.bos), &[ids.eos], Some(ids.pad));
    let mut model = CausalLm::random(&config, args.seed, &device);
    println!(
        "model: qwen2, {} layers x {} wide, {} heads ({} kv), vocab {}, {} parameters",
        args.n_layer,
        args.n_embd,
        args.n_head,
        args.n_kv_head,
        tok.vocab_size(),
        model.num_params()
    );

    // --- optimizer ---------------------------------------------------------------------------
    // Like nanoGPT, decay only the matrices: shrinking norm gains or biases toward 0 is not
    // regularisation, it just fights the gradient.
    let no_decay = ParamGroup::from_any_regexes(vec!["norm", "bias"])
        .map_err(|e| anyhow::anyhow!("parameter group: {e:?}"))?;
    let adamw = |weight_decay: f32| {
        AdamWConfig::new()
            .with_beta_1(args.beta1)
            .with_beta_2(args.beta2)
            .with_epsilon(1e-8)
            .with_weight_decay(weight_decay)
    };
    let mut optim: ModuleOptimizer =
        adamw(args.weight_decay)
            .init()
            .with_group(no_decay, adamw(0.0).build(), None);
    let get_lr = |it: usize| -> f64 {
        // 1) linear warmup, 2) cosine decay to min_lr at max_iters.
        if it < args.warmup_iters {
            return args.learning_rate * (it + 1) as f64 / (args.warmup_iters + 1) as f64;
        }
        let span = args.max_iters.saturating_sub(args.warmup_iters).max(1) as f64;
        let ratio = ((it - args.warmup_iters) as f64 / span).min(1.0);
        let coeff = 0.5 * (1.0 + (std::f64::consts::PI * ratio).cos());
        args.min_lr + coeff * (args.learning_rate - args.min_lr)
    };

    // --- the loop ------------------------------------------------------------------------------
    let train_started = Instant::now();
    let mut tokens_seen = 0usize;
    let mut window = (Instant::now(), 0usize, 0.0f64, 0usize); // since last log: t, tokens, loss sum, steps
    let mut history = Vec::new();
    for it in 0..=args.max_iters {
        let lr = get_lr(it);

        // Evaluate now and then, and after the last step (the loop runs max_iters + 1 times so
        // that the final evaluation sees the finished model, as in nanoGPT).
        if it % args.eval_interval == 0 || it == args.max_iters {
            let inference = model.valid();
            let val_loss = mean_loss(&inference, &val)?;
            let quick = evaluate(&inference, &tok, &eval_problems, args.max_new_tokens)?;
            let acc = quick.accuracy();
            println!(
                "eval  step {it:5}: val loss {val_loss:.4}, greedy acc {:.1}% on {} problems, \
                 mean response {:.1} tokens ({:.0}s)",
                100.0 * acc,
                quick.rows.len(),
                quick.mean_tokens(),
                train_started.elapsed().as_secs_f64()
            );
            history.push(
                json!({"step": it, "val_loss": val_loss, "greedy_accuracy": acc,
                                "seconds": train_started.elapsed().as_secs_f64()}),
            );
        }
        if it == args.max_iters {
            break;
        }

        let batch = train.next_batch(&tok)?;
        let loss = batch.loss(&model, &device);
        let loss_value = f64::from(loss.clone().into_scalar::<f32>());
        if !loss_value.is_finite() {
            bail!("the loss became {loss_value} at step {it}; try a lower --learning-rate");
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let grad_norm = clip_grad_norm(&model, &mut grads, args.grad_clip);
        model = optim.step(lr, model, grads);

        tokens_seen += batch.rows * batch.cols;
        window.1 += batch.rows * batch.cols;
        window.2 += loss_value;
        window.3 += 1;
        if (it + 1) % args.log_interval == 0 {
            let secs = window.0.elapsed().as_secs_f64();
            println!(
                "train step {:5}: loss {:.4}, lr {lr:.2e}, grad norm {grad_norm:.2}, \
                 {:.0} tokens/s, {:.0}s",
                it + 1,
                window.2 / window.3 as f64,
                window.1 as f64 / secs,
                train_started.elapsed().as_secs_f64()
            );
            window = (Instant::now(), 0, 0.0, 0);
        }
    }
    let train_secs = train_started.elapsed().as_secs_f64();

    // --- held-out test -----------------------------------------------------------------------
    let eval_started = Instant::now();
    let model = model.valid();
    let test = evaluate(&model, &tok, &test_problems, args.max_new_tokens)?;
    let eval_secs = eval_started.elapsed().as_secs_f64();
    let seen: HashSet<&str> = train.questions.iter().map(String::as_str).collect();
    let overlap = test_problems
        .iter()
        .filter(|p| seen.contains(p.question().as_str()))
        .count() as f64
        / test_problems.len() as f64;
    println!(
        "\ntest split ({} problems, seed {}):",
        test.rows.len(),
        args.test_seed
    );
    println!("{}", test.table());

    // --- save ----------------------------------------------------------------------------------
    o1p_model::weights::save_pretrained(&model, &config, &args.out)?;
    let total_secs = started.elapsed().as_secs_f64();
    let report = json!({
        "command": command_line(),
        "args": format!("{args:?}"),
        "num_params": model.num_params(),
        "tokens_seen": tokens_seen,
        "train_seconds": train_secs,
        "test_eval_seconds": eval_secs,
        "total_seconds": total_secs,
        "test": test.to_json(),
        "test_questions_seen_in_training": overlap,
        "history": history,
    });
    let report_path = args.out.join("train_report.json");
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    std::fs::write(&report_path, text).with_context(|| report_path.display().to_string())?;
    let card_path = args.out.join("README.md");
    std::fs::write(
        &card_path,
        model_card(
            args,
            &model,
            tokens_seen,
            train_secs,
            total_secs,
            &test,
            overlap,
        ),
    )
    .with_context(|| card_path.display().to_string())?;
    println!(
        "wrote {} (training {train_secs:.0}s, total {total_secs:.0}s)",
        args.out.display()
    );
    Ok(())
}

/// The ids the data pipeline needs, read from the tokenizer files.
#[derive(Debug, Clone, Copy)]
struct SpecialIds {
    bos: u32,
    eos: u32,
    pad: u32,
    unk: Option<u32>,
}

impl SpecialIds {
    fn of(tok: &Tokenizer) -> Result<Self> {
        let s = tok.special();
        let (Some((bos, _)), Some((eos, _)), Some((pad, _))) = (&s.bos, &s.eos, &s.pad) else {
            bail!("the demo tokenizer must declare bos, eos and pad tokens");
        };
        Ok(SpecialIds {
            bos: *bos,
            eos: *eos,
            pad: *pad,
            unk: tok.token_to_id(demo_tokenizer::UNK),
        })
    }
}

/// One training sequence: `<bos> prompt response <eos>` and where the response starts.
struct Encoded {
    ids: Vec<u32>,
    /// Tokens of `<bos> prompt`; the loss covers the tokens from here on.
    prompt_len: usize,
}

fn encode_example(
    tok: &Tokenizer,
    question: &str,
    response: &str,
    ids: SpecialIds,
) -> Result<Encoded> {
    let prompt = demo::prompt_template().render_raw(question)?;
    let mut seq = tok.encode(&prompt, true)?;
    let prompt_len = seq.len();
    seq.extend(tok.encode(response, false)?);
    seq.push(ids.eos);
    // A character outside the alphabet would train the model on <unk>: a bug in the alphabet.
    if let Some(unk) = ids.unk {
        ensure!(
            !seq.contains(&unk),
            "demo text outside the tokenizer's alphabet: {prompt}{response}"
        );
    }
    Ok(Encoded {
        ids: seq,
        prompt_len,
    })
}

/// A right-padded batch of next-token prediction. Right padding needs no key mask: causal
/// attention never lets a real token see a later pad, and pad positions carry no loss.
struct Batch {
    /// `[rows, cols]` input ids.
    inputs: Vec<i64>,
    /// `[rows, cols]` next-token ids.
    targets: Vec<i64>,
    /// `[rows, cols]` 1 where the target is a response token (or eos), else 0.
    weights: Vec<f32>,
    rows: usize,
    cols: usize,
    /// Number of weighted targets.
    n_targets: usize,
}

impl Batch {
    fn new(seqs: &[&Encoded], pad: u32) -> Self {
        let rows = seqs.len();
        let cols = seqs.iter().map(|s| s.ids.len() - 1).max().unwrap_or(0);
        let mut b = Batch {
            inputs: vec![i64::from(pad); rows * cols],
            targets: vec![i64::from(pad); rows * cols],
            weights: vec![0.0; rows * cols],
            rows,
            cols,
            n_targets: 0,
        };
        for (r, s) in seqs.iter().enumerate() {
            for j in 0..s.ids.len() - 1 {
                b.inputs[r * cols + j] = i64::from(s.ids[j]);
                b.targets[r * cols + j] = i64::from(s.ids[j + 1]);
                // Target j is token j + 1: a response token when j + 1 >= prompt_len.
                if j + 1 >= s.prompt_len {
                    b.weights[r * cols + j] = 1.0;
                    b.n_targets += 1;
                }
            }
        }
        b
    }

    /// Mean negative log-likelihood of the response tokens.
    fn loss(&self, model: &CausalLm, device: &Device) -> Tensor<1> {
        let shape = [self.rows, self.cols];
        let inputs =
            Tensor::<2, Int>::from_data(TensorData::new(self.inputs.clone(), shape), device);
        let targets =
            Tensor::<2, Int>::from_data(TensorData::new(self.targets.clone(), shape), device);
        let weights = Tensor::<2>::from_data(TensorData::new(self.weights.clone(), shape), device);
        let hidden = model.hidden_states(inputs, None, None, None); // [rows, cols, hidden]
        let logprobs = model.target_logprobs(hidden, targets, model.logprob_chunk_positions()); // [rows, cols]
        (logprobs * weights).sum().neg() / self.n_targets.max(1) as f64
    }
}

/// Sorts by length, then cuts into batches of `batch_size` (the last may be smaller).
fn bucketed_batches(mut encoded: Vec<Encoded>, batch_size: usize, pad: u32) -> Vec<Batch> {
    encoded.sort_by_key(|e| e.ids.len());
    encoded
        .chunks(batch_size)
        .map(|chunk| Batch::new(&chunk.iter().collect::<Vec<_>>(), pad))
        .collect()
}

/// The endless, seeded training stream: chunk `c` holds `CHUNK_BATCHES` batches of fresh
/// examples drawn with a seed derived from (seed, c), bucketed by length, in shuffled order.
struct TrainStream {
    seed: u64,
    data: DemoConfig,
    rates: ReflectionRates,
    batch_size: usize,
    ids: SpecialIds,
    chunk: u64,
    queue: Vec<Batch>,
    /// Every question trained on (to report how many test questions were seen verbatim).
    questions: Vec<String>,
}

impl TrainStream {
    fn new(
        seed: u64,
        data: DemoConfig,
        rates: ReflectionRates,
        batch_size: usize,
        ids: SpecialIds,
    ) -> Self {
        TrainStream {
            seed,
            data,
            rates,
            batch_size,
            ids,
            chunk: 0,
            queue: Vec::new(),
            questions: Vec::new(),
        }
    }

    fn next_batch(&mut self, tok: &Tokenizer) -> Result<Batch> {
        if self.queue.is_empty() {
            let seed = derive(self.seed, TRAIN_STREAM, self.chunk);
            self.chunk += 1;
            let examples = demo::training_examples(
                CHUNK_BATCHES * self.batch_size,
                seed,
                &self.data,
                &self.rates,
            );
            let encoded = examples
                .iter()
                .map(|e| encode_example(tok, &e.problem.question, &e.response, self.ids))
                .collect::<Result<Vec<_>>>()?;
            self.questions
                .extend(examples.into_iter().map(|e| e.problem.question));
            let mut batches = bucketed_batches(encoded, self.batch_size, self.ids.pad);
            o1p_data::shuffle(&mut batches, seed);
            batches.reverse(); // popped from the end
            self.queue = batches;
        }
        self.queue.pop().context("an empty training chunk")
    }
}

/// Mean response loss over fixed validation batches, without gradients.
fn mean_loss(model: &CausalLm, batches: &[Batch]) -> Result<f64> {
    let device = model.model.embed_tokens.weight.device();
    let mut total = 0.0;
    for b in batches {
        total += f64::from(b.loss(model, &device).into_scalar::<f32>()) * b.n_targets as f64;
    }
    let n: usize = batches.iter().map(|b| b.n_targets).sum();
    Ok(total / n.max(1) as f64)
}

/// Clips the global L2 norm of all gradients to `max_norm` (0 disables) and returns the norm
/// before clipping. Burn's own clipping is per tensor; nanoGPT's (and PyTorch's) is global.
fn clip_grad_norm(model: &CausalLm, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    struct SumSquares<'a> {
        grads: &'a GradientsParams,
        total: f64,
    }
    impl ModuleVisitor for SumSquares<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                self.total += f64::from(g.square().sum().into_scalar::<f32>());
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, g.mul_scalar(self.factor));
            }
        }
    }
    let mut sq = SumSquares { grads, total: 0.0 };
    model.visit(&mut sq);
    let norm = sq.total.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        model.visit(&mut Scale {
            grads,
            factor: max_norm / (norm + 1e-6),
        });
    }
    norm
}

/// `per_steps` problems of each difficulty in the configured range, from `seed`.
pub fn split_by_steps(args: &Args, per_steps: usize, seed: u64) -> Vec<DemoProblem> {
    (args.min_steps..=args.max_steps)
        .flat_map(|s| {
            let config = DemoConfig {
                max_operand: args.max_operand,
                ..DemoConfig::steps(s)
            };
            demo::generate_demo_problems(per_steps, derive(seed, 0, s as u64), &config)
        })
        .collect()
}

/// One greedily answered problem.
#[derive(Debug, Clone)]
pub struct EvalRow {
    /// Number of arithmetic steps (difficulty).
    pub steps: usize,
    /// Whether the boxed answer is the gold answer.
    pub correct: bool,
    /// Response tokens, eos excluded.
    pub tokens: usize,
    /// Tokens of the shortest correct solution (`demo::minimal_cot`).
    pub minimal_tokens: usize,
    /// Hit `max_new_tokens` without eos.
    pub truncated: bool,
}

/// Greedy results on a set of problems.
#[derive(Debug, Clone, Default)]
pub struct EvalReport {
    /// One row per problem, in input order.
    pub rows: Vec<EvalRow>,
}

impl EvalReport {
    fn select(&self, steps: Option<usize>) -> Vec<&EvalRow> {
        self.rows
            .iter()
            .filter(|r| steps.is_none_or(|s| r.steps == s))
            .collect()
    }

    fn mean(rows: &[&EvalRow], f: impl Fn(&EvalRow) -> f64) -> f64 {
        rows.iter().map(|r| f(r)).sum::<f64>() / rows.len().max(1) as f64
    }

    /// Fraction correct.
    pub fn accuracy(&self) -> f64 {
        Self::mean(&self.select(None), |r| f64::from(u8::from(r.correct)))
    }

    /// Mean response tokens (eos excluded).
    pub fn mean_tokens(&self) -> f64 {
        Self::mean(&self.select(None), |r| r.tokens as f64)
    }

    /// Mean tokens of the shortest correct solutions.
    pub fn mean_minimal_tokens(&self) -> f64 {
        Self::mean(&self.select(None), |r| r.minimal_tokens as f64)
    }

    fn difficulties(&self) -> Vec<usize> {
        let mut d: Vec<usize> = self.rows.iter().map(|r| r.steps).collect();
        d.sort_unstable();
        d.dedup();
        d
    }

    /// (label, n, accuracy, mean tokens, mean minimal tokens, truncated) per difficulty and
    /// overall.
    fn lines(&self) -> Vec<(String, usize, f64, f64, f64, usize)> {
        let line = |label: String, rows: Vec<&EvalRow>| {
            (
                label,
                rows.len(),
                Self::mean(&rows, |r| f64::from(u8::from(r.correct))),
                Self::mean(&rows, |r| r.tokens as f64),
                Self::mean(&rows, |r| r.minimal_tokens as f64),
                rows.iter().filter(|r| r.truncated).count(),
            )
        };
        let mut out: Vec<_> = self
            .difficulties()
            .into_iter()
            .map(|s| line(s.to_string(), self.select(Some(s))))
            .collect();
        out.push(line("all".into(), self.select(None)));
        out
    }

    /// A Markdown table by number of steps.
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| steps | problems | greedy accuracy | mean response tokens | minimal solution tokens | ratio | truncated |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for (label, n, acc, tokens, minimal, truncated) in self.lines() {
            s.push_str(&format!(
                "| {label} | {n} | {:.1} % | {tokens:.1} | {minimal:.1} | {:.2}x | {truncated} |\n",
                100.0 * acc,
                tokens / minimal.max(1.0)
            ));
        }
        s
    }

    fn to_json(&self) -> serde_json::Value {
        let by_steps: serde_json::Map<String, serde_json::Value> = self
            .lines()
            .into_iter()
            .map(|(label, n, acc, tokens, minimal, truncated)| {
                (
                    label,
                    json!({"problems": n, "accuracy": acc, "mean_tokens": tokens,
                               "mean_minimal_tokens": minimal, "truncated": truncated}),
                )
            })
            .collect();
        serde_json::Value::Object(by_steps)
    }
}

/// Greedy decoding of every problem (prompts of one difficulty have one length, so each
/// difficulty is one batch without padding), graded with o1p-reward.
pub fn evaluate(
    model: &CausalLm,
    tok: &Tokenizer,
    problems: &[DemoProblem],
    max_new_tokens: usize,
) -> Result<EvalReport> {
    let params = SamplingParams {
        max_new_tokens,
        temperature: 0.0,
        stop_ids: tok.special().stop_ids.clone(),
        ..SamplingParams::default()
    };
    ensure!(
        !params.stop_ids.is_empty(),
        "the tokenizer declares no eos id to stop on"
    );
    let template = demo::prompt_template();
    let mut rows = Vec::with_capacity(problems.len());
    let mut by_steps: Vec<usize> = problems.iter().map(|p| p.steps.len()).collect();
    by_steps.sort_unstable();
    by_steps.dedup();
    let mut slots: Vec<Option<EvalRow>> = vec![None; problems.len()];
    for steps in by_steps {
        let idx: Vec<usize> = (0..problems.len())
            .filter(|&i| problems[i].steps.len() == steps)
            .collect();
        let prompts = idx
            .iter()
            .map(|&i| {
                let text = template.render_raw(&problems[i].question())?;
                Ok(tok.encode(&text, tok.special().add_bos)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let seeds = vec![0; prompts.len()];
        let completions = generate(model, &prompts, &seeds, &params, None);
        for (&i, c) in idx.iter().zip(completions) {
            let eos = c.finish_reason == FinishReason::Eos;
            let body = if eos {
                &c.token_ids[..c.token_ids.len() - 1]
            } else {
                &c.token_ids[..]
            };
            let text = tok.decode(body, true)?;
            let p = &problems[i];
            let grade = o1p_reward::grade(
                &p.answer().to_string(),
                &text,
                &o1p_reward::GradeOptions::default(),
            );
            slots[i] = Some(EvalRow {
                steps,
                correct: grade.correct,
                tokens: body.len(),
                minimal_tokens: tok.encode(&demo::minimal_cot(p), false)?.len(),
                truncated: c.finish_reason == FinishReason::Length,
            });
        }
    }
    for s in slots {
        rows.push(s.context("a problem was not evaluated")?);
    }
    Ok(EvalReport { rows })
}

/// A seed for stream `stream`, item `index` (SplitMix64 finalizer), so streams never collide.
fn derive(seed: u64, stream: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(index.wrapping_add(1).wrapping_mul(0x8CB9_2BA7_2F3D_8DD7));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

fn model_card(
    args: &Args,
    model: &CausalLm,
    tokens_seen: usize,
    train_secs: f64,
    total_secs: f64,
    test: &EvalReport,
    overlap: f64,
) -> String {
    format!(
        r#"# o1-pruner demo model

A tiny Qwen2 ({params} parameters) trained from scratch on the synthetic long-thought
arithmetic task of `o1p_data::demo`, so that O1-Pruner has an over-thinking reasoning model to
prune on any laptop. Generated by `{command}`; every number below comes from that run.

## The task and the model's habits

Prompts are `Q: <name> has <n> <objects>, gains <a>, loses <b>. How many?\n` with 1 to 4
steps of `+`/`-` on single digits. The reference solutions it was trained on write one line
per step, then **redundant reflection** (`Wait, check 3+4=7. Yes.`, `Wait, recheck: ...`) whose
amount (0 to 3 blocks, mean 2) does not depend on difficulty, and sometimes a
**second-guess** that flips a correct value into a wrong answer (about 14 % of reference
solutions are wrong). See the module docs of `o1p_data::demo` for the rates. The model inherits
both habits: its greedy responses are several times longer than the shortest correct solution,
which is what O1-Pruner should remove.

## Files

Hugging Face layout, loadable by `o1p_model::load_pretrained` + `o1p_model::Tokenizer::from_dir`
and by transformers (`AutoModelForCausalLM` / `AutoTokenizer.from_pretrained`):
`config.json`, `model.safetensors` (f32), `generation_config.json`, `tokenizer.json`,
`tokenizer_config.json`; `train_report.json` has the full numbers and the eval history.

Tokenizer: one token per character. It is a byte-level BPE with an empty merge list over the
57 characters of `o1p_data::demo::ALPHABET` (space and newline spelled `Ġ` and `Ċ`), wrapped in
Qwen2's own pipeline, because transformers 5 builds a `Qwen2Tokenizer` for any `qwen2` model
and keeps only the vocabulary and merges; so Rust and Python give the same ids. Ids 0-3 are
`<pad>`, `<bos>`, `<eos>`, `<unk>`. Prompts start with `<bos>` (`add_bos_token: true`);
responses end with `<eos>`. `xtask/python/demo_check_hf.py` checks the Python side.

## Training

- architecture: Qwen2, {n_layer} layers, hidden {n_embd}, {n_head} query heads / {n_kv_head}
  key-value heads (GQA), SwiGLU {inter}, RoPE theta 10000, tied embeddings, f32;
- data: a seeded endless stream of demo problems ({min_steps}-{max_steps} steps, operands
  1-{max_op}, steps uniform) with reference solutions; prompt `Q: {{question}}\n`, target the
  reference solution + `<eos>`, loss on response tokens only; batches of {batch} sequences,
  bucketed by length;
- optimizer: AdamW (betas {b1}, {b2}, weight decay {wd} on matrices), learning rate {lr:e}
  with {warmup} warmup steps and cosine decay to {min_lr:e}, global gradient clip {clip};
  {iters} steps, {tokens} tokens (padding included);
- seed {seed}; flex CPU backend (Burn 0.22.1); training {train_min:.1} min, {total_min:.1} min in
  all, on a 2-core machine shared with other jobs.

## Greedy accuracy on the held-out test split

{n_test} problems ({per} per number of steps, `--test-seed {test_seed}`; {overlap:.1} % of the
test questions also occur verbatim in the training stream, mostly 1-step ones, of which there
are few distinct). Tokens exclude `<eos>`; "minimal" is `demo::minimal_cot`, the step lines and
the box.

{table}
Reproduce with `{command}`.
"#,
        params = model.num_params(),
        command = command_line(),
        n_layer = args.n_layer,
        n_embd = args.n_embd,
        n_head = args.n_head,
        n_kv_head = args.n_kv_head,
        inter = args.intermediate,
        min_steps = args.min_steps,
        max_steps = args.max_steps,
        max_op = args.max_operand,
        batch = args.batch_size,
        b1 = args.beta1,
        b2 = args.beta2,
        wd = args.weight_decay,
        lr = args.learning_rate,
        warmup = args.warmup_iters,
        min_lr = args.min_lr,
        clip = args.grad_clip,
        iters = args.max_iters,
        tokens = tokens_seen,
        seed = args.seed,
        train_min = train_secs / 60.0,
        total_min = total_secs / 60.0,
        n_test = test.rows.len(),
        per = args.test_per_steps,
        test_seed = args.test_seed,
        overlap = 100.0 * overlap,
        table = test.table(),
    )
}
