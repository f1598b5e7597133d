//! The committed demo model (assets/demo-model) loads through the public loaders and reaches
//! its stated greedy accuracy band on a small split, with responses longer than needed.

use std::path::PathBuf;

use burn::tensor::DType;
use o1p_data::demo::{self, DemoConfig, DemoProblem};
use o1p_model::{Backend, Tokenizer, load_pretrained};
use xtask::train_demo::evaluate;

/// 15 problems per number of steps: 60 in all, from a seed of their own.
const PER_STEPS: usize = 15;
const SEED: u64 = 7;
/// The band the issue asks of the demo model: imperfect, with something for the accuracy term
/// to protect, yet good enough to be worth pruning. The committed model scores 88.8 % on the
/// 400-problem test split of its model card (86.7 % on this split; greedy decoding makes it
/// deterministic); the band is the model card's claim, not this sample's.
const ACCURACY_BAND: (f64, f64) = (0.50, 0.90);

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/demo-model")
}

fn problems() -> Vec<DemoProblem> {
    (demo::MIN_STEPS..=demo::MAX_STEPS)
        .flat_map(|s| {
            demo::generate_demo_problems(PER_STEPS, SEED + s as u64, &DemoConfig::steps(s))
        })
        .collect()
}

#[test]
fn committed_demo_model_reaches_its_accuracy_band_and_over_thinks() {
    let dir = model_dir();
    let device = Backend::Flex.device().unwrap();
    let (model, config) = load_pretrained(&dir, &device, DType::F32).unwrap();
    let tok = Tokenizer::from_dir(&dir).unwrap();
    assert_eq!(config.vocab_size, tok.vocab_size());
    assert!(config.tie_word_embeddings);

    let report = evaluate(&model, &tok, &problems(), 320).unwrap();
    let acc = report.accuracy();
    println!("{}", report.table());
    let (lo, hi) = ACCURACY_BAND;
    assert!(
        (lo..=hi).contains(&acc),
        "greedy accuracy {acc:.3} outside [{lo}, {hi}]"
    );
    // "Visibly longer than needed": well beyond the step lines and the box.
    assert!(
        report.mean_tokens() > 2.0 * report.mean_minimal_tokens(),
        "mean response {:.1} tokens vs minimal {:.1}",
        report.mean_tokens(),
        report.mean_minimal_tokens()
    );
}

#[test]
fn committed_demo_model_files_are_small_and_complete() {
    let dir = model_dir();
    let mut total = 0;
    for file in [
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "README.md",
    ] {
        let meta = std::fs::metadata(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        total += meta.len();
    }
    assert!(
        total < 20 * 1024 * 1024,
        "assets/demo-model is {total} bytes"
    );
}
