//! The custom reward used the way the trainer uses any reward: grade once, build the
//! group's reference statistics, score, normalise. Public API only.

use custom_reward::HesitationPenalty;
use o1p_reward::{
    GradeOptions, LengthHarmonizing, Normalization, ReferenceStats, Reward, RewardContext,
    SampleOutcome, SuccessGated, WeightedSum, grade, score,
};

const GOLD: &str = "\\frac{3}{2}";

/// (response, length in tokens)
const GROUP: [(&str, usize); 4] = [
    ("x = 3/2, so \\boxed{\\frac{3}{2}}.", 200),
    (
        "Wait, hmm. Let me double-check. Wait... yes \\boxed{1.5}",
        400,
    ),
    ("Hmm, wait, wait. \\boxed{2}", 100),
    (
        "I think it is 3/2 but let me re-derive... (ran out of tokens)",
        800,
    ),
];

#[test]
fn custom_reward_through_public_api() {
    let opts = GradeOptions::default();
    let grades: Vec<_> = GROUP.iter().map(|(r, _)| grade(GOLD, r, &opts)).collect();
    assert_eq!(
        grades.iter().map(|g| g.correct).collect::<Vec<_>>(),
        [true, true, false, true]
    );

    let outcomes: Vec<SampleOutcome> = GROUP
        .iter()
        .zip(&grades)
        .map(|((_, length), g)| SampleOutcome {
            length: *length,
            correct: g.correct,
            truncated: false,
        })
        .collect();
    let stats = ReferenceStats::from_samples(&outcomes).expect("non-empty group");
    let contexts: Vec<RewardContext<'_>> = GROUP
        .iter()
        .zip(&grades)
        .map(|((response, length), g)| RewardContext {
            problem_id: "p0",
            gold: GOLD,
            response,
            length: *length,
            truncated: false,
            correct: g.correct,
            difficulty: None,
            reference: &stats,
        })
        .collect();

    let hesitation = HesitationPenalty::default();
    assert_eq!(hesitation.count(GROUP[1].0), 4);
    let r: Vec<Option<f32>> = contexts.iter().map(|c| hesitation.reward(c)).collect();
    assert_eq!(r[0], Some(1.0)); // correct, no hesitation
    assert!(r[1].is_some_and(|x| (0.0..1.0).contains(&x))); // correct but hesitant
    assert_eq!(r[2], Some(0.0)); // wrong: gated, however short
    assert_eq!(r[3], Some(1.0 - 0.1 * 1000.0 / 800.0));

    // Composed with the built-in rewards and normalised like any other reward.
    let combined = WeightedSum::new("lh_plus_hesitation")
        .with(
            1.0,
            SuccessGated::new(LengthHarmonizing::paper(2.0)).with_correctness(),
        )
        .with(0.5, HesitationPenalty::default());
    let scored = score(&combined, &contexts, Normalization::GroupZScore);
    assert!(scored.iter().all(Option::is_some));
    let best = scored
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.partial_cmp(b.1).expect("finite"))
        .map(|(i, _)| i);
    assert_eq!(
        best,
        Some(0),
        "the short, confident, correct sample scores best: {scored:?}"
    );
    // A boxed trait object works too.
    let dynamic: Box<dyn Reward + Send + Sync> = Box::new(HesitationPenalty::default());
    assert_eq!(dynamic.name(), "hesitation_penalty");
    let empty = RewardContext {
        length: 0,
        ..contexts[0]
    };
    assert_eq!(dynamic.reward(&empty), None);
}
