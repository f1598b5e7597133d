//! Reference chains of thought for the demo task, with redundant reflection.

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::task::{DemoConfig, DemoProblem, generate_demo_problems};
use crate::problem::Problem;
use crate::rng;

/// How much, and what kind of, reflection the reference solutions carry. See the rates in
/// the [module docs](super).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReflectionRates {
    /// Relative weights of 0, 1, 2, ... reflection blocks per sample (any length).
    pub block_weights: Vec<f64>,
    /// Probability that a block is an inline check (needs at least 2 steps).
    pub inline_prob: f64,
    /// Probability that a final block second-guesses a step into a wrong answer (the last
    /// second-guess gives the boxed answer).
    pub flip_prob: f64,
    /// Probability that a (non-flip) final block rechecks all steps rather than one.
    pub recheck_all_prob: f64,
}

impl Default for ReflectionRates {
    fn default() -> Self {
        ReflectionRates {
            block_weights: vec![0.10, 0.20, 0.30, 0.40],
            inline_prob: 0.30,
            flip_prob: 0.10,
            recheck_all_prob: 0.40,
        }
    }
}

impl ReflectionRates {
    /// No reflection at all: the shortest correct solution.
    pub fn none() -> Self {
        ReflectionRates {
            block_weights: vec![1.0],
            ..ReflectionRates::default()
        }
    }
}

fn step_eq(p: &DemoProblem, values: &[u32], i: usize) -> String {
    let s = p.steps[i];
    format!(
        "{}{}{}={}",
        values[i],
        s.op.symbol(),
        s.operand,
        values[i + 1]
    )
}

fn check_line(p: &DemoProblem, values: &[u32], i: usize) -> String {
    format!("Wait, check {}. Yes.\n", step_eq(p, values, i))
}

/// The second-guess: step `j` comes out off by one, later steps are redone from it, and the
/// wrong result becomes the answer. Returns the block and the wrong answer.
fn flip_block(p: &DemoProblem, values: &[u32], j: usize, rng: &mut impl RngCore) -> (String, u32) {
    // Try the drawn direction first; +1 always works (no step can go below 0).
    let first: i64 = if rng::below(rng, 2) == 0 { -1 } else { 1 };
    let wrong = [first, 1]
        .iter()
        .find_map(|&d| {
            let w0 = i64::from(values[j + 1]) + d;
            let mut w = vec![u32::try_from(w0).ok()?];
            for s in &p.steps[j + 1..] {
                let prev = *w.last()?;
                w.push(s.op.apply(prev, s.operand)?);
            }
            Some(w)
        })
        .unwrap_or_else(|| values[j + 1..].iter().map(|v| v + 1).collect());
    let mut eqs = Vec::new();
    let mut prev = values[j];
    for (k, w) in wrong.iter().enumerate() {
        let s = p.steps[j + k];
        eqs.push(format!("{prev}{}{}={w}", s.op.symbol(), s.operand));
        prev = *w;
    }
    (
        format!("Wait, maybe {}. So {prev}.\n", eqs.join(", ")),
        prev,
    )
}

/// A reference solution of `problem`, its reflection drawn from `rates` with `seed`, and
/// whether its boxed answer is correct (a second-guess makes it wrong).
///
/// ```
/// use o1p_data::demo::{reference_cot, DemoProblem, ReflectionRates};
/// let p = DemoProblem::parse("Sam has 3 coins, gains 4, loses 2. How many?").unwrap();
/// let (text, correct) = reference_cot(&p, &ReflectionRates::none(), 0);
/// assert_eq!((text.as_str(), correct), ("3+4=7\n7-2=5\n\\boxed{5}", true));
/// ```
pub fn reference_cot(problem: &DemoProblem, rates: &ReflectionRates, seed: u64) -> (String, bool) {
    let mut rng = rng::seeded(seed);
    let values = problem.values();
    let n = problem.steps.len();
    let blocks = rng::weighted(&mut rng, &rates.block_weights);
    // inline[i]: how many checks of step i-1 follow the line of step i.
    let mut inline = vec![0usize; n];
    let mut finals = 0;
    for _ in 0..blocks {
        if n >= 2 && rng::chance(&mut rng, rates.inline_prob) {
            inline[1 + rng::below(&mut rng, (n - 1) as u64) as usize] += 1;
        } else {
            finals += 1;
        }
    }
    let mut out = String::new();
    for (i, &checks) in inline.iter().enumerate() {
        out.push_str(&step_eq(problem, &values, i));
        out.push('\n');
        for _ in 0..checks {
            // Step i-1's result was just used by step i, so nothing later reads this line.
            out.push_str(&check_line(problem, &values, i - 1));
        }
    }
    let mut answer = values[n];
    for _ in 0..finals {
        if n > 0 && rng::chance(&mut rng, rates.flip_prob) {
            let j = rng::below(&mut rng, n as u64) as usize;
            let (block, wrong) = flip_block(problem, &values, j, &mut rng);
            out.push_str(&block);
            // Over-thinking does not stop at the wrong turn: later blocks still run (and
            // re-confirm the written steps), so a wrong sample is never shorter than the
            // same draw without the second-guess.
            answer = wrong;
        } else if n > 0 && rng::chance(&mut rng, rates.recheck_all_prob) {
            let all: Vec<String> = (0..n).map(|i| step_eq(problem, &values, i)).collect();
            out.push_str(&format!("Wait, recheck: {}. Yes.\n", all.join(", ")));
        } else if n > 0 {
            let i = rng::below(&mut rng, n as u64) as usize;
            out.push_str(&check_line(problem, &values, i));
        }
    }
    out.push_str(&format!("\\boxed{{{answer}}}"));
    (out, answer == values[n])
}

/// The shortest correct solution: the step lines and the box.
pub fn minimal_cot(problem: &DemoProblem) -> String {
    reference_cot(problem, &ReflectionRates::none(), 0).0
}

/// One pretraining example of the demo model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoExample {
    /// The problem (its question goes through [`super::prompt_template`]).
    pub problem: Problem,
    /// The reference solution (no end-of-sequence marker; the tokenizer adds one).
    pub response: String,
    /// Whether the solution's boxed answer is the gold answer.
    pub correct: bool,
}

/// `n` pretraining examples from `seed`: problems as [`super::generate_problems`] makes them
/// (same ids), each with a reference solution drawn with its own derived seed.
///
/// ```
/// use o1p_data::demo::{training_examples, DemoConfig, ReflectionRates};
/// let ex = training_examples(3, 9, &DemoConfig::default(), &ReflectionRates::default());
/// assert!(ex.iter().all(|e| e.response.ends_with(&format!("}}"))));
/// assert_eq!(ex, training_examples(3, 9, &DemoConfig::default(), &ReflectionRates::default()));
/// ```
pub fn training_examples(
    n: usize,
    seed: u64,
    config: &DemoConfig,
    rates: &ReflectionRates,
) -> Vec<DemoExample> {
    generate_demo_problems(n, seed, config)
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (response, correct) = reference_cot(p, rates, mix(seed, i as u64));
            DemoExample {
                problem: p.to_problem(format!("demo-{seed}-{i}")),
                response,
                correct,
            }
        })
        .collect()
}

/// A seed per example that differs from the problem stream's (SplitMix64 finalizer).
fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
