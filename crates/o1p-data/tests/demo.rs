//! The demo task: determinism, character set, prompt lengths, and the reflection design.

use o1p_data::FAST_SOLVING_SUFFIX;
use o1p_data::demo::{
    self, ALPHABET, DemoConfig, DemoProblem, ReflectionRates, generate_demo_problems, minimal_cot,
    reference_cot, training_examples,
};

#[test]
fn generator_is_deterministic_and_prefix_stable() {
    let cfg = DemoConfig::default();
    let a = demo::generate_problems(50, 123, &cfg);
    assert_eq!(a, demo::generate_problems(50, 123, &cfg));
    assert_eq!(a[..20], demo::generate_problems(20, 123, &cfg)[..]);
    assert_ne!(a, demo::generate_problems(50, 124, &cfg));
    // Pinned: a change of generator would silently change every user's demo.
    assert_eq!(a[0].question, PINNED_FIRST_QUESTION);
}

const PINNED_FIRST_QUESTION: &str =
    "Bob has 8 pears, gains 2, loses 5, gains 2, loses 2. How many?";

#[test]
fn problems_are_well_formed() {
    let problems = generate_demo_problems(2000, 5, &DemoConfig::default());
    let mut per_steps = [0usize; 5];
    for p in &problems {
        let n = p.steps.len();
        assert!((1..=4).contains(&n));
        per_steps[n] += 1;
        assert!((2..=9).contains(&p.start));
        assert!(p.steps.iter().all(|s| (1..=9).contains(&s.operand)));
        // Values never go negative (checked arithmetic in values() would saturate at 0).
        let mut v = i64::from(p.start);
        for s in &p.steps {
            v += match s.op {
                demo::Op::Add => i64::from(s.operand),
                demo::Op::Sub => -i64::from(s.operand),
            };
            assert!(v >= 0, "{p:?}");
        }
        assert_eq!(p.answer() as i64, v);
        assert_eq!(DemoProblem::parse(&p.question()).as_ref(), Some(p));
        let prompt = demo::prompt_template().render_raw(&p.question()).unwrap();
        assert_eq!(prompt.len(), demo::prompt_len(n), "{prompt}");
    }
    // Uniform over difficulties.
    assert!(
        per_steps[1..].iter().all(|&c| (400..600).contains(&c)),
        "{per_steps:?}"
    );
}

#[test]
fn alphabet_covers_everything() {
    let mut sorted: Vec<char> = ALPHABET.chars().collect();
    let n = sorted.len();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), n, "duplicate symbols");
    assert_eq!(n, 57);
    let examples = training_examples(
        3000,
        77,
        &DemoConfig::default(),
        &ReflectionRates::default(),
    );
    for e in &examples {
        let prompt = demo::prompt_template()
            .with_fast_solving(true)
            .render_raw(&e.problem.question)
            .unwrap();
        for c in prompt.chars().chain(e.response.chars()) {
            assert!(ALPHABET.contains(c), "{c:?} missing from ALPHABET");
        }
    }
    assert!(FAST_SOLVING_SUFFIX.chars().all(|c| ALPHABET.contains(c)));
}

#[test]
fn minimal_and_flip_solutions() {
    let p = DemoProblem::parse("Sam has 3 coins, gains 4, loses 2. How many?").unwrap();
    assert_eq!(minimal_cot(&p), "3+4=7\n7-2=5\n\\boxed{5}");
    let always_flip = ReflectionRates {
        block_weights: vec![0.0, 1.0],
        inline_prob: 0.0,
        flip_prob: 1.0,
        ..ReflectionRates::default()
    };
    for seed in 0..20 {
        let (text, correct) = reference_cot(&p, &always_flip, seed);
        assert!(!correct);
        let last = text.lines().nth_back(1).unwrap();
        assert!(last.starts_with("Wait, maybe "), "{text}");
        let boxed: u32 = text
            .rsplit_once("\\boxed{")
            .unwrap()
            .1
            .trim_end_matches('}')
            .parse()
            .unwrap();
        assert!(boxed == 4 || boxed == 6, "{text}");
        assert!(last.ends_with(&format!("So {boxed}.")), "{text}");
    }
}

/// Inline checks come only after the step that used the checked result: the line after a
/// check never needs the checked value as its left operand.
#[test]
fn inline_checks_follow_the_use() {
    let heavy = ReflectionRates {
        block_weights: vec![0.0, 0.0, 0.0, 1.0],
        inline_prob: 1.0,
        ..ReflectionRates::default()
    };
    for (i, p) in generate_demo_problems(300, 9, &DemoConfig::steps(4))
        .iter()
        .enumerate()
    {
        let (text, correct) = reference_cot(p, &heavy, i as u64);
        assert!(correct);
        let lines: Vec<&str> = text.lines().collect();
        let values = p.values();
        let step_lines: Vec<usize> = (0..lines.len())
            .filter(|&k| !lines[k].starts_with("Wait") && !lines[k].starts_with("\\boxed"))
            .collect();
        assert_eq!(step_lines.len(), 4, "{text}");
        for (k, l) in lines.iter().enumerate() {
            if let Some(eq) = l.strip_prefix("Wait, check ") {
                // The checked step j must be at least two step lines before the next step.
                let checked = eq.trim_end_matches(". Yes.");
                let j = (0..4)
                    .find(|&j| {
                        checked
                            == format!(
                                "{}{}{}={}",
                                values[j],
                                p.steps[j].op.symbol(),
                                p.steps[j].operand,
                                values[j + 1]
                            )
                    })
                    .unwrap();
                let steps_before = step_lines.iter().filter(|&&s| s < k).count();
                assert!(
                    steps_before >= j + 2,
                    "check of step {j} before its use:\n{text}"
                );
            }
        }
    }
}

/// The statistics the module docs quote; printed with `--nocapture`.
#[test]
fn reflection_rates_statistics() {
    let n = 40_000;
    let ex = training_examples(n, 2024, &DemoConfig::default(), &ReflectionRates::default());
    let problems = generate_demo_problems(n, 2024, &DemoConfig::default());
    let mut by_blocks = [[0usize; 2]; 4];
    let mut blocks_by_steps = [[0usize; 2]; 5];
    let (mut chars, mut min_chars) = (0usize, 0usize);
    for (e, p) in ex.iter().zip(&problems) {
        let blocks = e.response.matches("Wait").count();
        by_blocks[blocks][0] += usize::from(e.correct);
        by_blocks[blocks][1] += 1;
        blocks_by_steps[p.steps.len()][0] += blocks;
        blocks_by_steps[p.steps.len()][1] += 1;
        chars += e.response.len();
        min_chars += minimal_cot(p).len();
        // Correctness flag agrees with the box.
        let boxed = e
            .response
            .rsplit_once("\\boxed{")
            .unwrap()
            .1
            .trim_end_matches('}');
        assert_eq!(boxed == e.problem.gold, e.correct);
    }
    let acc: Vec<f64> = by_blocks
        .iter()
        .map(|[c, t]| *c as f64 / *t as f64)
        .collect();
    let wrong = 1.0 - ex.iter().filter(|e| e.correct).count() as f64 / n as f64;
    let mean_blocks: Vec<f64> = blocks_by_steps[1..]
        .iter()
        .map(|[b, t]| *b as f64 / *t as f64)
        .collect();
    let reflection_share = 1.0 - min_chars as f64 / chars as f64;
    println!(
        "accuracy by blocks {acc:.3?}; wrong {wrong:.3}; blocks by steps {mean_blocks:.2?}; reflection share {reflection_share:.3}; mean chars {:.1}",
        chars as f64 / n as f64
    );
    assert_eq!(acc[0], 1.0);
    assert!(
        acc.windows(2).all(|w| w[1] < w[0]),
        "longer must be less accurate: {acc:?}"
    );
    assert!((0.10..0.18).contains(&wrong), "{wrong}");
    // Reflection does not track difficulty.
    assert!(
        mean_blocks.iter().all(|b| (mean_blocks[0] - b).abs() < 0.1),
        "{mean_blocks:?}"
    );
    assert!(
        (0.6..0.75).contains(&reflection_share),
        "{reflection_share}"
    );
}

/// The paper's Table 1 on the demo: many samples of each problem, split into length quartiles
/// within the problem; shorter quartiles must be more accurate.
#[test]
fn length_quartiles_like_table_1() {
    let problems = generate_demo_problems(200, 31, &DemoConfig::default());
    let rates = ReflectionRates::default();
    let mut acc = [[0usize; 2]; 4];
    for (i, p) in problems.iter().enumerate() {
        let mut samples: Vec<(usize, bool)> = (0..64)
            .map(|k| {
                let (text, correct) = reference_cot(p, &rates, (i * 1000 + k) as u64);
                (text.len(), correct)
            })
            .collect();
        samples.sort_by_key(|s| s.0);
        for (rank, (_, correct)) in samples.iter().enumerate() {
            acc[rank / 16][0] += usize::from(*correct);
            acc[rank / 16][1] += 1;
        }
    }
    let acc: Vec<f64> = acc.iter().map(|[c, t]| *c as f64 / *t as f64).collect();
    println!("accuracy by length quartile, shortest first: {acc:.3?}");
    assert!(acc.windows(2).all(|w| w[1] < w[0]), "{acc:?}");
}
