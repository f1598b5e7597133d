//! Invariants over random inputs: quartile splits, AES, metrics and JSONL round trips.

use o1p_eval::{
    AesWeights, BootstrapConfig, EvalRecord, MetricsOptions, aes, compute_metrics,
    length_quartiles, quartile_of_rank, read_jsonl, write_jsonl,
};
use proptest::prelude::*;

/// Problems of 1..12 samples each, as (length, correct) pairs.
fn problems() -> impl Strategy<Value = Vec<Vec<(usize, bool)>>> {
    prop::collection::vec(
        prop::collection::vec((0usize..50, any::<bool>()), 1..12),
        1..8,
    )
}

fn records(problems: &[Vec<(usize, bool)>]) -> Vec<EvalRecord> {
    problems
        .iter()
        .enumerate()
        .flat_map(|(p, samples)| {
            samples
                .iter()
                .enumerate()
                .map(move |(i, &(len, ok))| EvalRecord {
                    problem_id: format!("p{p}"),
                    sample_index: i,
                    correct: ok,
                    extracted: ok.then(|| "1".to_string()),
                    num_tokens: len,
                    finish_reason: "eos".into(),
                    level: None,
                    difficulty: None,
                    reference_accuracy: None,
                })
        })
        .collect()
}

proptest! {
    #[test]
    fn quartile_sizes_differ_by_at_most_one(n in 4usize..200) {
        let mut sizes = [0usize; 4];
        let mut last = 0;
        for r in 0..n {
            let q = quartile_of_rank(r, n);
            prop_assert!(q >= last, "quartiles must not decrease with rank");
            last = q;
            sizes[q] += 1;
        }
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        prop_assert!(max - min <= 1 && *min >= 1);
    }

    #[test]
    fn quartiles_account_for_every_used_sample(ps in problems()) {
        let recs = records(&ps);
        let used: Vec<&Vec<(usize, bool)>> = ps.iter().filter(|p| p.len() >= 4).collect();
        match length_quartiles(&recs) {
            Err(_) => prop_assert!(used.is_empty()),
            Ok(q) => {
                let total: usize = used.iter().map(|p| p.len()).sum();
                let correct: usize = used.iter().flat_map(|p| p.iter()).filter(|s| s.1).count();
                prop_assert_eq!(q.counts.iter().sum::<usize>(), total);
                let pooled: f64 = (0..4).map(|k| q.accuracy[k] * q.counts[k] as f64).sum();
                prop_assert!((pooled - correct as f64).abs() < 1e-9);
                prop_assert_eq!(q.problems_used + q.problems_skipped, ps.len());
                // Shortest first: pooled quartile means never decrease when every problem
                // puts equally many samples in each quartile. (With uneven sizes a long
                // problem can weigh more in Q1 than in Q2, so pooled means need not be sorted.)
                if used.iter().all(|p| p.len().is_multiple_of(4)) {
                    prop_assert!(q.mean_tokens.windows(2).all(|w| w[0] <= w[1] + 1e-9));
                }
            }
        }
    }

    #[test]
    fn metrics_stay_in_range(ps in problems()) {
        let recs = records(&ps);
        let opts = MetricsOptions {
            bootstrap: Some(BootstrapConfig { resamples: 50, ..Default::default() }),
            timing: None,
        };
        let m = compute_metrics(&recs, &opts).unwrap();
        prop_assert!((0.0..=1.0).contains(&m.accuracy));
        prop_assert!((0.0..=1.0).contains(&m.maj_at_k));
        let ci = m.accuracy_ci.unwrap();
        prop_assert!(0.0 <= ci.lower && ci.lower <= ci.upper && ci.upper <= 1.0);
        prop_assert_eq!(m.num_responses, recs.len());
        prop_assert_eq!(m.num_problems, ps.len());
    }

    #[test]
    fn aes_branch_follows_the_sign_of_the_accuracy_change(
        acc_base in 0.01f64..1.0, acc in 0.0f64..1.0,
        len_base in 1.0f64..5000.0, len in 0.0f64..5000.0,
    ) {
        let w = AesWeights::default();
        let s = aes(acc_base, len_base, acc, len, &w).unwrap();
        let expected = if acc >= acc_base {
            s.delta_length + 3.0 * s.delta_accuracy.abs()
        } else {
            s.delta_length - 5.0 * s.delta_accuracy.abs()
        };
        prop_assert!((s.aes - expected).abs() < 1e-12);
        // Shorter at equal accuracy never scores lower.
        let shorter = aes(acc_base, len_base, acc, len * 0.5, &w).unwrap();
        prop_assert!(shorter.aes >= s.aes);
    }

    #[test]
    fn jsonl_round_trips(
        id in "\\PC{0,12}", answer in proptest::option::of("\\PC{0,8}"),
        idx in 0usize..1000, tokens in 0usize..100_000, ok in any::<bool>(),
        level in proptest::option::of("[A-Za-z ]{0,8}[0-9]{0,2}"),
        diff in proptest::option::of(-1e6f64..1e6), refacc in proptest::option::of(0.0f64..=1.0),
    ) {
        let r = EvalRecord {
            problem_id: id, sample_index: idx, correct: ok, extracted: answer,
            num_tokens: tokens, finish_reason: "length".into(), level,
            difficulty: diff, reference_accuracy: refacc,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        write_jsonl(&path, std::slice::from_ref(&r)).unwrap();
        prop_assert_eq!(read_jsonl(&path).unwrap(), vec![r]);
    }
}
