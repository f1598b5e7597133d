//! Demo problems: their structure, their text, and a seeded generator.

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{MAX_STEPS, MIN_STEPS};
use crate::problem::Problem;
use crate::rng;

/// Names all have 3 letters and objects 5, so the question length depends on the number of
/// steps only.
const NAMES: [&str; 8] = ["Sam", "Bob", "Tom", "Ann", "Ben", "Sue", "Amy", "Tim"];
const OBJECTS: [&str; 6] = ["coins", "pears", "cakes", "books", "plums", "cards"];

/// An arithmetic operation of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `+`, worded "gains".
    Add,
    /// `-`, worded "loses".
    Sub,
}

impl Op {
    /// `'+'` or `'-'`.
    pub fn symbol(self) -> char {
        match self {
            Op::Add => '+',
            Op::Sub => '-',
        }
    }

    fn word(self) -> &'static str {
        match self {
            Op::Add => "gains",
            Op::Sub => "loses",
        }
    }

    /// `a op b`, or `None` when a subtraction would go below zero.
    pub fn apply(self, a: u32, b: u32) -> Option<u32> {
        match self {
            Op::Add => a.checked_add(b),
            Op::Sub => a.checked_sub(b),
        }
    }
}

/// One step: an operation and its operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Step {
    /// The operation.
    pub op: Op,
    /// The operand (1 to 9 by default).
    pub operand: u32,
}

/// A demo problem with its structure, from which its question and any chain of thought are
/// derived.
///
/// ```
/// use o1p_data::demo::{DemoProblem, Op, Step};
/// let p = DemoProblem {
///     name: "Sam".into(), object: "coins".into(), start: 3,
///     steps: vec![Step { op: Op::Add, operand: 4 }, Step { op: Op::Sub, operand: 2 }],
/// };
/// assert_eq!(p.question(), "Sam has 3 coins, gains 4, loses 2. How many?");
/// assert_eq!(p.values(), vec![3, 7, 5]);
/// assert_eq!(DemoProblem::parse(&p.question()), Some(p));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DemoProblem {
    /// Who (3 letters).
    pub name: String,
    /// What is counted (5 letters, plural).
    pub object: String,
    /// The starting count.
    pub start: u32,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl DemoProblem {
    /// A random problem with `num_steps` steps, start in 2..=9 and operands in
    /// 1..=`max_operand`; subtraction is only drawn where it keeps the count non-negative.
    pub fn random(rng: &mut impl RngCore, num_steps: usize, max_operand: u32) -> Self {
        let max_operand = max_operand.max(1);
        let name = NAMES[rng::below(rng, NAMES.len() as u64) as usize].to_string();
        let object = OBJECTS[rng::below(rng, OBJECTS.len() as u64) as usize].to_string();
        let start = 2 + rng::below(rng, 8) as u32;
        let mut value = start;
        let mut steps = Vec::with_capacity(num_steps);
        for _ in 0..num_steps {
            let operand = 1 + rng::below(rng, u64::from(max_operand)) as u32;
            // Always draw the coin, so the stream does not depend on the value.
            let want_sub = rng::below(rng, 2) == 1;
            let op = if want_sub && value >= operand {
                Op::Sub
            } else {
                Op::Add
            };
            value = op.apply(value, operand).unwrap_or(value);
            steps.push(Step { op, operand });
        }
        DemoProblem {
            name,
            object,
            start,
            steps,
        }
    }

    /// The question text, e.g. `"Sam has 3 coins, gains 4, loses 2. How many?"`.
    pub fn question(&self) -> String {
        let mut q = format!("{} has {} {}", self.name, self.start, self.object);
        for s in &self.steps {
            q.push_str(&format!(", {} {}", s.op.word(), s.operand));
        }
        q.push_str(". How many?");
        q
    }

    /// The running values: the start, then the value after each step.
    pub fn values(&self) -> Vec<u32> {
        let mut values = vec![self.start];
        let mut v = self.start;
        for s in &self.steps {
            // Hand-built problems may subtract too much; saturate rather than panic.
            v = s.op.apply(v, s.operand).unwrap_or(0);
            values.push(v);
        }
        values
    }

    /// The correct final answer.
    pub fn answer(&self) -> u32 {
        self.values().last().copied().unwrap_or(self.start)
    }

    /// As a [`Problem`] with the given id; difficulty = number of steps, source `"demo"`.
    pub fn to_problem(&self, id: impl Into<String>) -> Problem {
        Problem {
            id: id.into(),
            question: self.question(),
            gold: self.answer().to_string(),
            difficulty: Some(self.steps.len() as f64),
            level: None,
            subject: None,
            source: Some("demo".to_string()),
        }
    }

    /// Reads a question written by [`DemoProblem::question`] back into its structure.
    pub fn parse(question: &str) -> Option<Self> {
        let body = question.strip_suffix(". How many?")?;
        let mut parts = body.split(", ");
        let mut head = parts.next()?.split(' ');
        let name = head.next()?.to_string();
        if head.next()? != "has" {
            return None;
        }
        let start = head.next()?.parse().ok()?;
        let object = head.next()?.to_string();
        if head.next().is_some() {
            return None;
        }
        let steps = parts
            .map(|p| {
                let (word, n) = p.split_once(' ')?;
                let op = match word {
                    "gains" => Op::Add,
                    "loses" => Op::Sub,
                    _ => return None,
                };
                Some(Step {
                    op,
                    operand: n.parse().ok()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(DemoProblem {
            name,
            object,
            start,
            steps,
        })
    }
}

/// Settings of the problem generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DemoConfig {
    /// Fewest steps (difficulty), at least 1.
    pub min_steps: usize,
    /// Most steps; the number of steps is uniform in `min_steps..=max_steps`.
    pub max_steps: usize,
    /// Largest operand. Keep 9: two-digit operands are unlearnable by the demo model.
    pub max_operand: u32,
}

impl Default for DemoConfig {
    /// 1 to 4 steps, operands 1 to 9.
    fn default() -> Self {
        DemoConfig {
            min_steps: MIN_STEPS,
            max_steps: MAX_STEPS,
            max_operand: 9,
        }
    }
}

impl DemoConfig {
    /// Exactly `n` steps (prompts of one length).
    pub fn steps(n: usize) -> Self {
        DemoConfig {
            min_steps: n,
            max_steps: n,
            ..DemoConfig::default()
        }
    }
}

/// `n` demo problems from `seed`, with their structure. Prefix-stable: the first `k` of `n`
/// are the `k` generated for `k`.
pub fn generate_demo_problems(n: usize, seed: u64, config: &DemoConfig) -> Vec<DemoProblem> {
    let lo = config.min_steps.max(1);
    let hi = config.max_steps.max(lo);
    let mut rng = rng::seeded(seed);
    (0..n)
        .map(|_| {
            let steps = lo + rng::below(&mut rng, (hi - lo + 1) as u64) as usize;
            DemoProblem::random(&mut rng, steps, config.max_operand)
        })
        .collect()
}

/// `n` demo problems from `seed` as [`Problem`]s with ids `demo-<seed>-<index>`.
///
/// ```
/// use o1p_data::demo::{generate_problems, DemoConfig};
/// let a = generate_problems(5, 1, &DemoConfig::default());
/// assert_eq!(a, generate_problems(5, 1, &DemoConfig::default()));
/// assert_eq!(a[0].id, "demo-1-0");
/// assert_eq!(a[0].source.as_deref(), Some("demo"));
/// ```
pub fn generate_problems(n: usize, seed: u64, config: &DemoConfig) -> Vec<Problem> {
    generate_demo_problems(n, seed, config)
        .iter()
        .enumerate()
        .map(|(i, p)| p.to_problem(format!("demo-{seed}-{i}")))
        .collect()
}
