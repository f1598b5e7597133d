//! The synthetic long-thought task of the embedded demo.
//!
//! # The task
//! Word problems of 1 to 4 steps of `+` / `-` on single-digit operands (two-digit operands
//! were unlearnable for the ~1 M-parameter demo model in the prototype, see
//! DEMO-NOTES.md); the number of steps is the difficulty knob:
//!
//! ```text
//! Q: Sam has 3 coins, gains 4, loses 2. How many?
//! ```
//!
//! Names have 3 letters and objects 5, so every prompt with the same number of steps has the
//! same length: a batch of one difficulty needs no padding. Running values never go below 0.
//!
//! # The reference chain of thought
//! What the demo model is pretrained on: one line per step, then `\boxed{answer}`, plus
//! *reflection blocks* whose number is drawn per sample and does not depend on difficulty:
//!
//! ```text
//! 3+4=7
//! 7-2=5
//! Wait, check 3+4=7. Yes.
//! Wait, recheck: 3+4=7, 7-2=5. Yes.
//! \boxed{5}
//! ```
//!
//! The prototype (DEMO-NOTES.md) placed re-statements of a result *before* the step that used
//! it, and the tiny model learned to lean on them as a scratchpad, so pruning them cost
//! accuracy. Here every block is redundant for the computation by construction:
//! - an *inline check* of step j is written only after step j+1, i.e. after its result was
//!   used; no later step needs it;
//! - *final blocks* come after the last step, when the answer is already known: a check of
//!   one step, or a recheck of all steps.
//!
//! And, as in the paper's Table 1 (on one problem, longer samples are less accurate), some
//! over-thinking hurts: a final block may *second-guess* a correct step into a wrong value
//! (off by one), redo the later steps from it and box the wrong answer:
//!
//! ```text
//! Wait, maybe 3+4=8, 8-2=6. So 6.
//! \boxed{6}
//! ```
//!
//! # Rates ([`ReflectionRates::default`])
//! - blocks per sample: 0, 1, 2, 3 with probabilities 0.10, 0.20, 0.30, 0.40 (mean 2.0), the
//!   same at every difficulty; a per-sample draw, so the trained model, sampled at
//!   temperature, writes a spread of lengths on one problem (what O1-Pruner learns from),
//!   while greedy decoding tends to take the likelier "keep reflecting" branch and over-think;
//! - each block is an inline check with probability 0.30 (when there are at least 2 steps),
//!   otherwise a final block;
//! - a final block is a second-guess with probability 0.10, otherwise a recheck of all steps
//!   with probability 0.40, else a check of one step. Blocks after a second-guess still
//!   follow (over-thinking goes on), and the last second-guess gives the boxed answer.
//!
//! Measured by `tests/demo.rs` (40 000 reference solutions): 14 % are wrong; accuracy by
//! number of blocks 0/1/2/3 is 100 / 92.5 / 85 / 79 %; 64 samples of each of 200 problems,
//! split into length quartiles within each problem as in the paper's Table 1, give
//! 95.8 / 88.2 / 82.0 / 75.7 % (shortest first; Marco-o1: 81.1 / 80.2 / 78.8 / 75.3 %).
//! Mean blocks per sample are 2.0 at every difficulty; reflection is 69 % of the characters
//! (mean response 84 characters), so there is ample room for pruning.
//!
//! # Character set
//! [`ALPHABET`] lists every character the task can produce, plus those of the paper's
//! fast-solving suffix, so a character-level tokenizer built from it covers all demo prompts.

mod cot;
mod task;

pub use cot::{DemoExample, ReflectionRates, minimal_cot, reference_cot, training_examples};
pub use task::{DemoConfig, DemoProblem, Op, Step, generate_demo_problems, generate_problems};

use crate::prompt::PromptTemplate;

/// Every character of demo prompts and reference solutions (and of
/// [`crate::FAST_SOLVING_SUFFIX`]), in a fixed order a tokenizer may use for its ids: 57
/// symbols.
pub const ALPHABET: &str = "\n !+,-.:=?ABHQSTWY\\{}0123456789abcdefghijklmnopqrstuvwxyz";

/// Fewest steps of a demo problem.
pub const MIN_STEPS: usize = 1;
/// Most steps of a demo problem.
pub const MAX_STEPS: usize = 4;

/// The demo's prompt: no system message, `"Q: {question}\n"`; the response starts on the
/// next line.
///
/// ```
/// let t = o1p_data::demo::prompt_template();
/// assert_eq!(t.render_raw("Sam has 3 coins, gains 4. How many?").unwrap(),
///            "Q: Sam has 3 coins, gains 4. How many?\n");
/// ```
pub fn prompt_template() -> PromptTemplate {
    PromptTemplate {
        system: None,
        user: "Q: {question}\n".to_string(),
        fast_solving: false,
    }
}

/// Length in characters of a rendered demo prompt with `steps` steps (all such prompts have
/// this length): `"Q: "` + `"Nam has d objts"` + `", gains d"` per step + `". How many?"` +
/// newline.
///
/// ```
/// use o1p_data::demo;
/// let p = &demo::generate_problems(1, 3, &demo::DemoConfig::steps(2))[0];
/// assert_eq!(demo::prompt_template().render_raw(&p.question).unwrap().len(), demo::prompt_len(2));
/// ```
pub fn prompt_len(steps: usize) -> usize {
    3 + 15 + 9 * steps + 11 + 1
}
