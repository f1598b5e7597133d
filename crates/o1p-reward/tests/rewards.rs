//! Rewards: closed forms (proptest), the REWARDS.md traps, combinators and normalisation.

use o1p_reward::{
    AroraZanette, Correctness, Cosine, DapoOverlong, KimiLength, L1Exact, L1Max, LengthHarmonizing,
    Normalization, ReferenceStats, Reward, RewardContext, SampleOutcome, ShorterBetter,
    SuccessGated, TargetLength, ThinkPruneCap, WeightedSum, score, z_scores,
};
use proptest::prelude::*;
use std::collections::HashMap;

fn outcome(length: usize, correct: bool) -> SampleOutcome {
    SampleOutcome {
        length,
        correct,
        truncated: false,
    }
}

fn ctx<'a>(s: &SampleOutcome, stats: &'a ReferenceStats) -> RewardContext<'a> {
    RewardContext {
        problem_id: "p",
        gold: "1",
        response: "",
        length: s.length,
        truncated: s.truncated,
        correct: s.correct,
        difficulty: None,
        reference: stats,
    }
}

fn close(a: Option<f32>, b: f64) -> bool {
    a.is_some_and(|a| (f64::from(a) - b).abs() <= 1e-4 * b.abs().max(1.0))
}

/// A group of 2..16 samples with lengths in 1..8192.
fn group() -> impl Strategy<Value = Vec<SampleOutcome>> {
    prop::collection::vec(
        (1usize..8192, any::<bool>(), prop::bool::weighted(0.1)),
        2..16,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(length, correct, truncated)| SampleOutcome {
                length,
                correct,
                truncated,
            })
            .collect()
    })
}

#[test]
fn reference_stats() {
    let s = ReferenceStats::from_samples(&[
        outcome(100, true),
        outcome(300, true),
        outcome(800, false),
    ])
    .unwrap();
    assert_eq!(s.k, 3);
    assert_eq!(s.mean_length, 400.0);
    assert_eq!(
        (s.shortest_correct, s.longest_correct),
        (Some(100), Some(300))
    );
    assert_eq!(
        (s.correct_length_mean, s.correct_length_std),
        (Some(200.0), Some(100.0))
    );
    let none = ReferenceStats::from_samples(&[outcome(10, false)]).unwrap();
    assert_eq!(
        (
            none.shortest_correct,
            none.correct_length_mean,
            none.mean_accuracy
        ),
        (None, None, 0.0)
    );
    assert_eq!(ReferenceStats::from_samples(&[]), None);
    // Serde round trip; older JSON without min/max still loads.
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<ReferenceStats>(&json).unwrap(), s);
    let old = r#"{"k":2,"mean_length":5.0,"mean_accuracy":0.5,"shortest_correct":4,"longest_correct":4,
                  "correct_length_mean":4.0,"correct_length_std":0.0}"#;
    let old: ReferenceStats = serde_json::from_str(old).unwrap();
    assert_eq!(old.min_length, None);
    // Kimi needs min/max and skips the sample without them.
    assert_eq!(KimiLength.reward(&ctx(&outcome(4, true), &old)), None);
}

#[test]
fn length_harmonizing_worked_example() {
    // Lbar = 400, Abar = 0.5.
    let stats = ReferenceStats::from_samples(&[outcome(200, true), outcome(600, false)]).unwrap();
    let paper = LengthHarmonizing::paper(2.0);
    assert_eq!(paper.reward(&ctx(&outcome(200, true), &stats)), Some(2.0)); // 2 - 1 + 1
    assert_eq!(
        paper.reward(&ctx(&outcome(600, false), &stats)),
        Some(-1.0 / 3.0 - 1.0)
    ); // 2/3 - 1 - 1
    assert_eq!(paper.reward(&ctx(&outcome(0, true), &stats)), None);
    let reference = LengthHarmonizing::reference_code(2.0);
    assert_eq!(
        reference.reward(&ctx(&outcome(10, true), &stats)),
        Some(4.0)
    ); // 40 - 1 + 1, clipped
    assert_eq!(
        reference.default_normalization(),
        Normalization::DatasetZScore
    );
    assert_eq!(paper.default_normalization(), Normalization::None);
    // Reference-code form over a dataset: clip then z-score with the population std.
    let contexts: Vec<_> = [outcome(10, true), outcome(200, true), outcome(600, false)]
        .iter()
        .map(|s| ctx(s, &stats))
        .collect::<Vec<_>>();
    let r = score(&reference, &contexts, Normalization::DatasetZScore);
    let raw = [4.0f64, 2.0, -4.0 / 3.0];
    let mean = raw.iter().sum::<f64>() / 3.0;
    let std = (raw.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 3.0).sqrt();
    for (got, x) in r.iter().zip(raw) {
        assert!(close(*got, (x - mean) / std), "{got:?}");
    }
}

#[test]
fn normalization_helpers() {
    let r = [
        ("a", Some(1.0)),
        ("a", Some(3.0)),
        ("b", Some(5.0)),
        ("b", None),
        ("b", Some(5.0)),
    ];
    assert_eq!(
        Normalization::GroupZScore.apply(&r),
        vec![Some(-1.0), Some(1.0), Some(0.0), None, Some(0.0)]
    );
    let d = Normalization::DatasetZScore.apply(&r);
    let vals: Vec<f32> = d.iter().flatten().copied().collect();
    let mean: f32 = vals.iter().sum::<f32>() / vals.len() as f32;
    assert!(mean.abs() < 1e-6);
    assert_eq!(d[3], None);
    assert_eq!(
        z_scores(&[Some(2.0), Some(2.0)]),
        vec![Some(0.0), Some(0.0)]
    );
    assert_eq!(z_scores(&[None, None]), vec![None, None]);
    assert_eq!(
        z_scores(&[Some(f32::NAN), Some(1.0)]),
        vec![None, Some(0.0)]
    );
}

#[test]
fn dapo_and_cosine_and_thinkprune_points() {
    let stats = ReferenceStats::from_samples(&[outcome(10, true)]).unwrap();
    let d = DapoOverlong::new(1000, 200);
    for (len, want) in [
        (0, 0.0),
        (800, 0.0),
        (900, -0.5),
        (1000, -1.0),
        (5000, -1.0),
    ] {
        assert!(
            close(d.reward(&ctx(&outcome(len, true), &stats)), want),
            "{len}"
        );
    }
    let c = Cosine::new(1000);
    assert!(close(c.reward(&ctx(&outcome(0, true), &stats)), 2.0));
    assert!(close(c.reward(&ctx(&outcome(1000, true), &stats)), 1.0));
    assert!(close(c.reward(&ctx(&outcome(500, true), &stats)), 1.5));
    assert!(close(c.reward(&ctx(&outcome(0, false), &stats)), -10.0));
    assert!(close(c.reward(&ctx(&outcome(1000, false), &stats)), 0.0));
    let truncated = SampleOutcome {
        length: 900,
        correct: true,
        truncated: true,
    };
    assert!(close(c.reward(&ctx(&truncated, &stats)), -10.0));
    let t = ThinkPruneCap { limit: 500 };
    assert_eq!(t.reward(&ctx(&outcome(400, true), &stats)), Some(1.0));
    assert_eq!(t.reward(&ctx(&outcome(600, true), &stats)), Some(0.0));
    assert_eq!(
        t.reward(&ctx(
            &SampleOutcome {
                length: 100,
                correct: true,
                truncated: true
            },
            &stats
        )),
        Some(0.0)
    );
    assert_eq!(
        ThinkPruneCap::schedule(4000, 2000, 3),
        vec![4000, 3000, 2000]
    );
    assert_eq!(ThinkPruneCap::schedule(4000, 2000, 1), vec![2000]);
}

#[test]
fn l1_targets_per_problem() {
    let stats = ReferenceStats::from_samples(&[outcome(10, true)]).unwrap();
    let mut m = HashMap::new();
    m.insert("p".to_string(), 1000);
    let exact = L1Exact::new(TargetLength::PerProblem(m.clone()));
    assert!(close(
        exact.reward(&ctx(&outcome(1500, true), &stats)),
        1.0 - 0.0003 * 500.0
    ));
    let mut other = ctx(&outcome(1500, true), &stats);
    other.problem_id = "unknown";
    assert_eq!(exact.reward(&other), None);
    let max = L1Max::new(TargetLength::Fixed(1000));
    assert!(close(max.reward(&ctx(&outcome(1000, true), &stats)), 0.5));
    assert!(close(max.reward(&ctx(&outcome(0, true), &stats)), 0.8));
    assert!(close(max.reward(&ctx(&outcome(3000, true), &stats)), 0.0));
    assert!(close(max.reward(&ctx(&outcome(10, false), &stats)), 0.0));
}

#[test]
fn combinators() {
    let stats = ReferenceStats::from_samples(&[outcome(100, true), outcome(300, false)]).unwrap();
    let sum = WeightedSum::new("mix")
        .with(2.0, Correctness)
        .with(0.5, DapoOverlong::new(200, 100));
    assert!(close(
        sum.reward(&ctx(&outcome(150, true), &stats)),
        2.0 - 0.25
    ));
    // A term that skips the sample makes the sum skip it.
    let skip = WeightedSum::new("skip")
        .with(1.0, Correctness)
        .with(1.0, LengthHarmonizing::paper(2.0));
    assert_eq!(skip.reward(&ctx(&outcome(0, true), &stats)), None);
    let gated = SuccessGated::new(DapoOverlong::new(200, 100)).with_wrong(-0.5);
    assert_eq!(gated.reward(&ctx(&outcome(300, false), &stats)), Some(-0.5));
    assert!(close(gated.reward(&ctx(&outcome(150, true), &stats)), -0.5));
    assert_eq!(gated.name(), "gated_dapo_overlong");
    // Boxed and borrowed rewards are rewards.
    let boxed: Box<dyn Reward> = Box::new(Correctness);
    assert_eq!(boxed.reward(&ctx(&outcome(1, true), &stats)), Some(1.0));
}

/// The REWARDS.md trap: the paper form is not gated, so a very short wrong answer can beat
/// a long right one. Kept on purpose (it is the paper's formula) and documented.
#[test]
fn paper_form_is_ungated_by_design() {
    let stats = ReferenceStats::from_samples(&[outcome(1000, true), outcome(1000, false)]).unwrap();
    let lh = LengthHarmonizing::paper(0.5);
    let short_wrong = lh.reward(&ctx(&outcome(50, false), &stats)).unwrap();
    let long_right = lh.reward(&ctx(&outcome(2000, true), &stats)).unwrap();
    assert!(short_wrong > long_right);
    // Gated plus correctness fixes it.
    let safe = SuccessGated::new(lh).with_correctness();
    assert!(
        safe.reward(&ctx(&outcome(50, false), &stats))
            < safe.reward(&ctx(&outcome(2000, true), &stats))
    );
    // Kimi's bare length term has the same trap; with correctness it does not.
    let stats = ReferenceStats::from_samples(&[outcome(100, false), outcome(1000, true)]).unwrap();
    let k = KimiLength;
    assert!(
        k.reward(&ctx(&outcome(100, false), &stats)) > k.reward(&ctx(&outcome(1000, true), &stats))
    );
    let kc = KimiLength::with_correctness(1.0);
    assert!(
        kc.reward(&ctx(&outcome(100, false), &stats))
            < kc.reward(&ctx(&outcome(1000, true), &stats))
    );
}

/// Rewards that must never let a shorter wrong sample outscore a longer right one of the
/// same group.
fn gated_rewards(alpha: f32, weight: f32) -> Vec<Box<dyn Reward>> {
    vec![
        Box::new(Cosine::new(8192)),
        Box::new(L1Max::new(TargetLength::Fixed(2000))),
        Box::new(AroraZanette { alpha }),
        Box::new(ThinkPruneCap { limit: 4000 }),
        Box::new(KimiLength::with_correctness(weight)),
        Box::new(SuccessGated::new(LengthHarmonizing::paper(2.0)).with_correctness()),
        Box::new(SuccessGated::new(LengthHarmonizing::reference_code(5.0)).with_correctness()),
        Box::new(
            WeightedSum::new("dapo")
                .with(1.0, Correctness)
                .with(1.0, DapoOverlong::new(8192, 2048)),
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn short_wrong_never_beats_long_right(samples in group(), alpha in 0.0f32..0.99, weight in 0.0f32..=1.0) {
        let stats = ReferenceStats::from_samples(&samples).unwrap();
        for r in gated_rewards(alpha, weight) {
            for w in samples.iter().filter(|s| !s.correct) {
                // A truncated "right" sample is an over-long one: Cosine gives it `exceed` on purpose.
                for c in samples.iter().filter(|s| s.correct && !s.truncated && s.length > w.length) {
                    let (rw, rc) = (r.reward(&ctx(w, &stats)), r.reward(&ctx(c, &stats)));
                    prop_assert!(rw <= rc, "{}: wrong {:?} -> {:?} beats right {:?} -> {:?}", r.name(), w, rw, c, rc);
                }
            }
        }
    }

    /// Gated rewards give a wrong answer nothing for being short ("fail fast" never pays).
    #[test]
    fn gated_wrong_reward_ignores_length(samples in group(), l1 in 1usize..8192, l2 in 1usize..8192) {
        let stats = ReferenceStats::from_samples(&samples).unwrap();
        let gated: Vec<Box<dyn Reward>> = vec![
            Box::new(L1Max::new(TargetLength::Fixed(2000))),
            Box::new(AroraZanette::default()),
            Box::new(ThinkPruneCap { limit: 4000 }),
            Box::new(SuccessGated::new(LengthHarmonizing::paper(2.0))),
        ];
        for r in gated {
            prop_assert_eq!(r.reward(&ctx(&outcome(l1, false), &stats)), r.reward(&ctx(&outcome(l2, false), &stats)));
        }
        // Cosine goes further: a shorter wrong answer is punished more.
        let c = Cosine::new(8192);
        let (short, long) = (l1.min(l2), l1.max(l2));
        prop_assert!(c.reward(&ctx(&outcome(short, false), &stats)) <= c.reward(&ctx(&outcome(long, false), &stats)));
    }

    #[test]
    fn closed_forms(samples in group(), lambda in 0.0f32..10.0, alpha in 0.0f32..1.0, beta in 0.0f32..0.01) {
        let stats = ReferenceStats::from_samples(&samples).unwrap();
        let lbar = samples.iter().map(|s| s.length as f64).sum::<f64>() / samples.len() as f64;
        let abar = samples.iter().filter(|s| s.correct).count() as f64 / samples.len() as f64;
        let correct: Vec<f64> = samples.iter().filter(|s| s.correct).map(|s| s.length as f64).collect();
        let (lmin, lmax) = (
            samples.iter().map(|s| s.length).min().unwrap() as f64,
            samples.iter().map(|s| s.length).max().unwrap() as f64,
        );
        for s in &samples {
            let cx = ctx(s, &stats);
            let (l, c) = (s.length as f64, if s.correct { 1.0 } else { 0.0 });
            let lh = lbar / l - 1.0 + f64::from(lambda) * (c - abar);
            prop_assert!(close(LengthHarmonizing::paper(lambda).reward(&cx), lh));
            prop_assert!(close(LengthHarmonizing::reference_code(lambda).reward(&cx), lh.clamp(-2.0, 4.0)));

            let lam = if lmax > lmin { 0.5 - (l - lmin) / (lmax - lmin) } else { 0.0 };
            let want = if s.correct { lam } else { lam.min(0.0) };
            prop_assert!(close(KimiLength.reward(&cx), want));

            let d = DapoOverlong::new(6000, 1000);
            let want = if l <= 5000.0 { 0.0 } else if l <= 6000.0 { (5000.0 - l) / 1000.0 } else { -1.0 };
            prop_assert!(close(d.reward(&cx), want));

            let cos = Cosine::new(8192);
            let (r0, rt) = if s.correct { (2.0, 1.0) } else { (-10.0, 0.0) };
            let want = if s.truncated { -10.0 } else { rt + (r0 - rt) * (1.0 + (std::f64::consts::PI * l / 8192.0).cos()) / 2.0 };
            prop_assert!(close(cos.reward(&cx), want));

            let n = 3000.0;
            let e = L1Exact { alpha, target: TargetLength::Fixed(3000) };
            prop_assert!(close(e.reward(&cx), c - f64::from(alpha) * (n - l).abs()));
            let m = L1Max { alpha, delta: 0.5, target: TargetLength::Fixed(3000) };
            prop_assert!(close(m.reward(&cx), c * (f64::from(alpha) * (n - l) + 0.5).clamp(0.0, 1.0)));

            let az = AroraZanette { alpha };
            let want = if s.correct {
                let mean = correct.iter().sum::<f64>() / correct.len() as f64;
                let std = (correct.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / correct.len() as f64).sqrt();
                let z = if std > 0.0 { (l - mean) / std } else { 0.0 };
                1.0 - f64::from(alpha) / (1.0 + (-z).exp())
            } else {
                0.0
            };
            prop_assert!(close(az.reward(&cx), want));

            let sb = ShorterBetter { alpha: 2.0, beta };
            let sol = correct.iter().copied().fold(f64::INFINITY, f64::min);
            let sol = if sol.is_finite() { sol } else { lbar };
            prop_assert!(close(sb.reward(&cx), 2.0 * c - f64::from(beta) * (sol - l).abs()));

            let tp = ThinkPruneCap { limit: 4000 };
            let want = if s.correct && !s.truncated && l <= 4000.0 { 1.0 } else { 0.0 };
            prop_assert_eq!(tp.reward(&cx), Some(want as f32));
        }
    }

    #[test]
    fn z_scores_have_zero_mean_unit_std(v in prop::collection::vec(-1000.0f32..1000.0, 2..64)) {
        let z: Vec<f64> = z_scores(&v.iter().map(|x| Some(*x)).collect::<Vec<_>>()).into_iter().flatten().map(f64::from).collect();
        let n = z.len() as f64;
        let mean = z.iter().sum::<f64>() / n;
        let var = z.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        prop_assert!(mean.abs() < 1e-4);
        prop_assert!(var < 1e-9 || (var - 1.0).abs() < 1e-3);
    }
}
