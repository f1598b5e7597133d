//! On-policy rounds on a tiny random model: the old policy is the round's sampler, the reward's
//! reference is the pool's, resumption after an interruption reaches the same model and never
//! redoes a finished round, and `mode = "on_policy"` works through a TOML run config. Also
//! (reusing the fixture) on-policy rounds with a user's own reward, and the run fingerprint: an off-policy rerun with another setting or
//! another pool is refused before it writes anything.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::DType;
use o1p_data::{Problem, PromptRenderer, PromptTemplate};
use o1p_model::{Backend, CausalLm, ModelConfig, Tokenizer, load_pretrained, weights};
use o1p_sampler::presample::{PresampleConfig, presample};
use o1p_sampler::testing::write_tiny_model;
use o1p_sampler::{NativeGenerator, SamplingParams};
use o1p_trainer::on_policy::round_problems;
use o1p_trainer::pool::{load_pool, pool_prompts, reference_stats};
use o1p_trainer::{
    OnPolicySpec, OptimConfig, RewardConfig, RoundProblem, TrainConfig, TrainReport, TrainSettings,
    train_on_policy,
};

const ALPHABET: &str = "12+\n";

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("o1p-onpolicy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn problems() -> Vec<Problem> {
    (0..4)
        .map(|i| Problem {
            id: format!("p{i}"),
            question: ["1+1", "2+1", "1+2", "11+1"][i].into(),
            gold: ["2", "3", "3", "12"][i].into(),
            difficulty: None,
            level: None,
            subject: None,
            source: None,
        })
        .collect()
}

fn sampling() -> SamplingParams {
    SamplingParams {
        max_new_tokens: 10,
        temperature: 1.0,
        ..Default::default()
    }
}

/// A tiny model directory and its pre-sampled pool (K = 4), shared by the tests of one process.
struct Fixture {
    model_dir: PathBuf,
    pool_dir: PathBuf,
    problems_file: PathBuf,
}

fn fixture(name: &str) -> Fixture {
    let root = tmp(name);
    let model_dir = root.join("model");
    write_tiny_model(&model_dir, ALPHABET, 2, 16, 3).unwrap();
    let (model, _) =
        load_pretrained(&model_dir, &Backend::Flex.device().unwrap(), DType::F32).unwrap();
    let tokenizer = Tokenizer::from_dir(&model_dir).unwrap();
    let pool_dir = root.join("pool");
    let config = PresampleConfig {
        k: 4,
        params: sampling(),
        seed: 1,
        batch_size: 16,
        template: PromptTemplate {
            system: None,
            user: "{question}=".into(),
            fast_solving: false,
        },
        keep_token_ids: true,
        progress: false,
        ..Default::default()
    };
    let generator = NativeGenerator::new(model, Some(tokenizer), 16);
    presample(
        &problems(),
        &PromptRenderer::Raw,
        &generator,
        &config,
        &pool_dir,
    )
    .unwrap();
    let problems_file = root.join("problems.jsonl");
    let lines: Vec<String> = problems()
        .iter()
        .map(|p| {
            serde_json::json!({"id": p.id, "question": p.question, "answer": p.gold}).to_string()
        })
        .collect();
    std::fs::write(&problems_file, lines.join("\n")).unwrap();
    Fixture {
        model_dir,
        pool_dir,
        problems_file,
    }
}

fn load(dir: &Path) -> (CausalLm, ModelConfig, Tokenizer) {
    let device = Backend::Flex.device().unwrap().autodiff();
    let (model, config) = load_pretrained(dir, &device, DType::F32).unwrap();
    (model, config, Tokenizer::from_dir(dir).unwrap())
}

fn round_problems_of(f: &Fixture, tokenizer: &Tokenizer) -> Vec<RoundProblem> {
    let pool = load_pool(&f.pool_dir, tokenizer).unwrap();
    let stats = reference_stats(&f.pool_dir, &pool).unwrap();
    let prompts = pool_prompts(&f.pool_dir).unwrap();
    let (kept, missing) = round_problems(&prompts, &stats, &problems());
    assert!(missing.is_empty(), "{missing:?}");
    kept
}

fn spec() -> OnPolicySpec {
    OnPolicySpec {
        rounds: 3,
        samples_per_round: 3,
        problems_per_round: 0,
        sampling: sampling(),
        decode_batch: 8,
        grade: Default::default(),
        loss: Default::default(),
    }
}

fn settings() -> TrainSettings {
    TrainSettings {
        optim: OptimConfig {
            lr: 3e-3,
            warmup_ratio: 0.0,
            batch_size: 4, // 12 samples per round: 3 steps per round
            token_budget: 10_000,
            epochs: 1,
            max_seq_len: 64,
            max_grad_norm: 0.0,
            ..Default::default()
        },
        seed: 5,
        checkpoint_every: 2,
        ..Default::default()
    }
}

fn run(f: &Fixture, settings: &TrainSettings, dir: &Path) -> (CausalLm, TrainReport) {
    let (model, config, tokenizer) = load(&f.model_dir);
    let problems = round_problems_of(f, &tokenizer);
    train_on_policy(
        model,
        &config,
        &tokenizer,
        &problems,
        &spec(),
        &RewardConfig::default().scorer(),
        settings,
        dir,
    )
    .unwrap()
}

fn flat_params(model: &CausalLm) -> Vec<(String, Vec<f32>)> {
    weights::named_tensors(&model.valid())
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.convert_dtype(DType::F32).try_into_vec::<f32>().unwrap(),
            )
        })
        .collect()
}

fn max_diff(a: &CausalLm, b: &CausalLm) -> f32 {
    flat_params(a)
        .iter()
        .zip(&flat_params(b))
        .flat_map(|((_, x), (_, y))| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

fn metric_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn rounds_sample_the_current_policy_and_log_each_round() {
    let f = fixture("rounds");
    let (initial, _, _) = load(&f.model_dir);
    let dir = tmp("rounds-run");
    let (trained, report) = run(&f, &settings(), &dir);
    assert_eq!((report.rounds, report.steps), (3, 9));
    assert!(max_diff(&initial, &trained) > 1e-4, "the policy moved");

    let lines = metric_lines(&dir);
    let rounds: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("round").is_some()).collect();
    let steps: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("round").is_none()).collect();
    assert_eq!(rounds.len(), 3);
    assert_eq!(steps.len(), 9);
    // The reward's reference is the pool's: every round reports the pool's mean Lbar_ref.
    let pool_lbar = {
        let (_, _, tokenizer) = load(&f.model_dir);
        let p = round_problems_of(&f, &tokenizer);
        p.iter().map(|p| p.reference.mean_length).sum::<f64>() / p.len() as f64
    };
    for r in &rounds {
        assert_eq!(r["samples"], 12);
        let lbar = r["reference/mean_length"].as_f64().unwrap();
        assert!((lbar - pool_lbar).abs() < 1e-9, "{lbar} vs {pool_lbar}");
        assert!(r["completions/mean_length"].as_f64().unwrap() > 0.0);
    }
    // The first step of every round starts at the sampling policy: ratio 1 before its update
    // (the second round's policy is not the initial model, so a pool-style reference would
    // not give 1 there).
    for first in [0, 3, 6] {
        let r = steps[first]["ratio_mean"].as_f64().unwrap();
        assert!((r - 1.0).abs() < 1e-4, "step {}: ratio {r}", first + 1);
    }
    // Each round sampled its own responses from a different policy.
    let round_samples = |r: usize| {
        std::fs::read_to_string(dir.join(format!("rounds/{r:04}/samples.jsonl"))).unwrap()
    };
    assert_ne!(round_samples(0), round_samples(1));
}

#[test]
fn an_interrupted_run_resumes_to_the_same_model_without_redoing_a_round() {
    let f = fixture("resume");
    let (straight, _) = run(&f, &settings(), &tmp("resume-straight"));

    // Stop mid-round 2 (step 5; the checkpoint is at step 4), as a kill would.
    let dir = tmp("resume-mid");
    let mut interrupted = settings();
    interrupted.stop_after = Some(5);
    run(&f, &interrupted, &dir);
    let (resumed, report) = run(&f, &settings(), &dir);
    assert_eq!(report.resumed_from, 4);
    let d = max_diff(&straight, &resumed);
    assert!(d < 1e-6, "resumed mid-round: max parameter difference {d}");
    let lines = metric_lines(&dir);
    assert_eq!(
        lines.len(),
        9 + 3,
        "one line per step and per round, none repeated"
    );

    // Stop exactly at the end of round 1, then delete that round's files: the resumed run
    // must not need them (a finished round is never redone).
    let dir = tmp("resume-boundary");
    let mut interrupted = settings();
    interrupted.stop_after = Some(3);
    run(&f, &interrupted, &dir);
    std::fs::remove_dir_all(dir.join("rounds/0000")).unwrap();
    let (resumed, report) = run(&f, &settings(), &dir);
    assert_eq!((report.resumed_from, report.rounds), (3, 3));
    assert!(
        !dir.join("rounds/0000").exists(),
        "round 1 was sampled again"
    );
    let d = max_diff(&straight, &resumed);
    assert!(
        d < 1e-6,
        "resumed at a round boundary: max parameter difference {d}"
    );
}

/// An on-policy run config over the fixture: 2 rounds of 2 samples per problem, batches of 4,
/// with `extra` (tables) appended.
fn on_policy_toml(
    f: &Fixture,
    out: &Path,
    checkpoint_every: usize,
    lr: &str,
    extra: &str,
) -> String {
    format!(
        r#"
model = {model:?}
samples = {pool:?}
out = {out:?}
mode = "on_policy"
checkpoint_every = {checkpoint_every}

[on_policy]
problems = {problems:?}
rounds = 2
samples_per_round = 2
decode_batch = 8

[optim]
lr = {lr}
batch_size = 4
max_seq_len = 64

{extra}"#,
        model = f.model_dir,
        pool = f.pool_dir,
        problems = f.problems_file,
    )
}

#[test]
fn on_policy_mode_runs_from_a_toml_config() {
    let f = fixture("toml");
    let out = tmp("toml-run");
    let text = on_policy_toml(&f, &out, 0, "1e-3", "");
    let config = TrainConfig::from_toml(&text, "run.toml").unwrap();
    let report = o1p_trainer::run(&config, false).unwrap();
    assert_eq!(report.rounds, 2);
    assert_eq!(
        report.steps, 4,
        "4 problems x 2 samples, batches of 4, 2 rounds"
    );
    assert!(out.join("model/model.safetensors").is_file());
    // Sampling settings left out come from the pool's presample.json.
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("rounds/0000/presample.json")).unwrap())
            .unwrap();
    assert_eq!(stored["max_new_tokens"], 10);
    assert_eq!(stored["temperature"], 1.0);
    assert_eq!(stored["k"], 2);

    // A problems file that matches none of the pool's ids is refused, naming the file.
    let other = out.with_extension("other.jsonl");
    std::fs::write(
        &other,
        "{\"id\": \"zz\", \"question\": \"1\", \"answer\": \"1\"}\n",
    )
    .unwrap();
    let mut bad = config.clone();
    bad.on_policy.problems = Some(other.clone());
    bad.out = tmp("toml-bad");
    let err = o1p_trainer::run(&bad, false).unwrap_err().to_string();
    assert!(
        err.contains("gold answer") && err.contains("other.jsonl"),
        "{err}"
    );
}

/// On-policy rounds take a user's reward too: it sees each round's fresh responses and the
/// problems' gold answers, and each round logs its rewards.
#[test]
fn on_policy_rounds_train_with_a_custom_reward() {
    use std::sync::{Arc, Mutex};
    let f = fixture("custom");
    let out = tmp("custom-run");
    let text = format!(
        "model = {model:?}\nsamples = {pool:?}\nout = {out:?}\nmode = \"on_policy\"\n\
         checkpoint_every = 0\n[on_policy]\nproblems = {problems:?}\nrounds = 1\n\
         samples_per_round = 2\n[optim]\nlr = 1e-3\nbatch_size = 4\nmax_seq_len = 64\n",
        model = f.model_dir,
        pool = f.pool_dir,
        problems = f.problems_file,
    );
    let config = TrainConfig::from_toml(&text, "run.toml").unwrap();
    let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let reward = o1p_reward::FnReward::new("short_text", move |ctx| {
        record.lock().unwrap().push((
            ctx.problem_id.to_string(),
            ctx.response.to_string(),
            ctx.gold.to_string(),
        ));
        Some(-(ctx.response.len() as f32))
    });
    let scorer = o1p_reward::Scorer::new(reward, o1p_reward::Normalization::GroupZScore);
    let report = o1p_trainer::run_with_reward(&config, &scorer, false).unwrap();
    assert_eq!(report.rounds, 1);

    let records: Vec<o1p_data::SampleRecord> =
        o1p_data::SampleStore::read(out.join("rounds/0000/samples.jsonl")).unwrap();
    let gold = |id: &str| problems().into_iter().find(|p| p.id == id).unwrap().gold;
    let mut want: Vec<(String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r.problem_id.clone(),
                r.response.clone(),
                gold(&r.problem_id),
            )
        })
        .collect();
    let mut got = seen.lock().unwrap().clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    let logged = std::fs::read_to_string(out.join("rounds/0000/rewards.jsonl")).unwrap();
    assert_eq!(logged.lines().count(), 8, "4 problems x 2 samples");
    assert!(logged.contains("\"short_text\""), "{logged}");
}

#[test]
fn a_run_removes_the_temporaries_an_interrupted_run_left() {
    let f = fixture("stale");
    let out = tmp("stale-run");
    let text = format!(
        "model = {:?}\nsamples = {:?}\nout = {:?}\ncheckpoint_every = 0\n[optim]\nlr = 1e-3\nbatch_size = 4\nmax_seq_len = 64\n",
        f.model_dir, f.pool_dir, out
    );
    let config = TrainConfig::from_toml(&text, "run.toml").unwrap();
    o1p_trainer::run(&config, false).unwrap();
    // What a run killed (or out of disk space) while writing leaves behind.
    let stale = [
        out.join("checkpoint.tmp/model/model.safetensors"),
        out.join(".run.toml.tmp-4242-0"),
        out.join("model/model.safetensors.tmp"),
        out.join("model/.config.json.tmp-4242-1"),
    ];
    for path in &stale {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"half-written").unwrap();
    }
    // Files that only look alike are not ours to delete.
    let foreign = [out.join("notes.tmp"), out.join("model/.draft.tmp-x")];
    for path in &foreign {
        std::fs::write(path, b"keep").unwrap();
    }
    // Rerun with the same settings: the directory is this run's (its fingerprint matches), so
    // the leftovers are cleaned up.
    o1p_trainer::run(&config, false).unwrap();
    assert!(!out.join("checkpoint.tmp").exists());
    for path in &stale[1..] {
        assert!(!path.exists(), "{} is still there", path.display());
    }
    for path in &foreign {
        assert!(path.exists(), "{} was removed", path.display());
    }
    let (model, _, _) = load(&out.join("model"));
    assert!(model.num_layers() > 0);
}

/// Issue 16: a rerun into an existing `out` with another lr or another pool used to resume the
/// old checkpoint, train the last steps with the new settings and overwrite the model and
/// run.toml. It is refused, naming the field, and touches nothing; `remove_outputs` (the
/// binaries' `--fresh`) then lets it start over.
#[test]
fn a_rerun_with_other_settings_or_pool_is_refused_untouched() {
    let f = fixture("rerun");
    let out = tmp("rerun-run");
    let config = |lr: &str, pool: &Path| {
        let text = format!(
            "model = {model:?}\nsamples = {pool:?}\nout = {out:?}\ncheckpoint_every = 1\n\n\
             [optim]\nlr = {lr}\nbatch_size = 4\nmax_seq_len = 64\nwarmup_ratio = 0.0\n",
            model = f.model_dir,
        );
        TrainConfig::from_toml(&text, "run.toml").unwrap()
    };
    let first = o1p_trainer::run(&config("1e-3", &f.pool_dir), false).unwrap();
    assert!(first.steps >= 2, "{first:?}");
    let kept = [
        "run.toml",
        "model/model.safetensors",
        "train_report.json",
        "fingerprint.json",
    ];
    let snapshot = || -> Vec<Vec<u8>> {
        kept.iter()
            .map(|p| std::fs::read(out.join(p)).unwrap())
            .collect()
    };
    let before = snapshot();

    let err = o1p_trainer::run(&config("2e-3", &f.pool_dir), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("optim.lr: 0.001 -> 0.002"), "{err}");
    assert!(err.contains("--fresh"), "{err}");
    assert_eq!(snapshot(), before, "a refused run wrote: {err}");

    // Another pool: the same pre-sampling output less its last record.
    let other_pool = tmp("rerun-pool");
    std::fs::create_dir_all(&other_pool).unwrap();
    for name in ["samples.jsonl", "reference_stats.json", "presample.json"] {
        std::fs::copy(f.pool_dir.join(name), other_pool.join(name)).unwrap();
    }
    let samples = std::fs::read_to_string(other_pool.join("samples.jsonl")).unwrap();
    let fewer: String = samples.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(other_pool.join("samples.jsonl"), fewer).unwrap();
    let err = o1p_trainer::run(&config("1e-3", &other_pool), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("pool ("), "{err}");
    assert!(!err.contains("optim.lr"), "{err}");
    assert_eq!(snapshot(), before, "a refused run wrote: {err}");

    // Run files without a fingerprint are of unknown origin: an error, not a fresh start.
    std::fs::remove_file(out.join("fingerprint.json")).unwrap();
    let err = o1p_trainer::run(&config("1e-3", &f.pool_dir), false).unwrap_err();
    assert!(
        matches!(
            err,
            o1p_trainer::TrainError::Data(o1p_data::DataError::MissingFingerprint { .. })
        ),
        "{err}"
    );

    // --fresh: the run's own files go, and the new settings train from step 0.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    o1p_trainer::remove_outputs(&out).unwrap();
    let again = o1p_trainer::run(&config("2e-3", &f.pool_dir), false).unwrap();
    assert_eq!(again.resumed_from, 0);
    assert!(out.join("notes.txt").is_file());
    assert!(
        std::fs::read_to_string(out.join("run.toml"))
            .unwrap()
            .contains("lr = 0.002")
    );
}

/// A `[lora]` table trains adapters on-policy (sampling from the merged policy each round)
/// and the run writes them in PEFT's layout beside the merged model: the base model with the
/// written adapter attached and the merged export give the same logits.
#[test]
fn a_lora_run_writes_a_peft_adapter_and_the_merged_model() {
    let f = fixture("lora");
    let out = tmp("lora-run");
    let lora = "[lora]\nrank = 2\nalpha = 4.0\ntargets = [\"q_proj\", \"v_proj\", \"down_proj\"]\n";
    let text = on_policy_toml(&f, &out, 1, "5e-2", lora);
    let config = TrainConfig::from_toml(&text, "run.toml").unwrap();
    let report = o1p_trainer::run(&config, false).unwrap();
    assert_eq!((report.rounds, report.steps), (2, 4));
    let run_toml = std::fs::read_to_string(out.join("run.toml")).unwrap();
    assert!(run_toml.contains("[lora]"), "{run_toml}");

    let device = Backend::Flex.device().unwrap();
    let (base, _) = load_pretrained(&f.model_dir, &device, DType::F32).unwrap();
    let (adapted, spec) = o1p_model::lora::load_adapter(base.clone(), out.join("adapter")).unwrap();
    assert_eq!(Some(&spec), config.lora.as_ref());
    let peft: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            out.join("adapter")
                .join(o1p_model::lora::ADAPTER_CONFIG_FILE),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(peft["peft_type"], "LORA");
    assert_eq!(
        peft["base_model_name_or_path"],
        f.model_dir.display().to_string()
    );
    let (merged, _) = load_pretrained(out.join("model"), &device, DType::F32).unwrap();
    let logits = |m: &CausalLm| {
        let ids = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
            burn::tensor::TensorData::new(vec![1i64, 2, 3, 0, 1], [1, 5]),
            &device,
        );
        m.forward(ids, None, None, None)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    };
    let (a, b, c) = (logits(&adapted), logits(&merged), logits(&base));
    let gap = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    let moved = a
        .iter()
        .zip(&c)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(gap < 1e-5, "merged export vs adapter: {gap}");
    assert!(moved > 1e-3, "training moved the adapter: {moved}");

    // LoRA and freeze-tuning choose what trains in two ways: one of them.
    let both = format!("{text}\n").replace(
        "max_seq_len = 64",
        "max_seq_len = 64\ntrainable_last_layers = 1",
    );
    let err = TrainConfig::from_toml(&both, "run.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("trainable_last_layers") && err.contains("[lora]"),
        "{err}"
    );
    let bad = text.replace("rank = 2", "rank = 0");
    let err = TrainConfig::from_toml(&bad, "run.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("lora.rank"), "{err}");
}
