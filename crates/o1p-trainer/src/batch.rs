//! Micro-batches: packing a step's sequences under a token budget, and turning them into
//! right-padded tensors with a response mask.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::TrainExample;

/// Truncates every example to `max_seq_len` tokens (prompt + response) by shortening its
/// response; examples left with no response token are dropped. Returns how many were truncated
/// and how many dropped, for the run's report.
pub fn apply_cutoff(
    examples: &mut Vec<TrainExample>,
    max_seq_len: usize,
    keep_pairs: bool,
) -> (usize, usize) {
    let mut truncated = 0;
    for e in examples.iter_mut() {
        if e.len() > max_seq_len {
            truncated += 1;
            let room = max_seq_len.saturating_sub(e.prompt_ids.len());
            e.response_ids.truncate(room);
        }
    }
    let before = examples.len();
    if keep_pairs {
        // A DPO pair lives or dies together.
        let mut kept = Vec::with_capacity(examples.len());
        for pair in examples.chunks(2) {
            if pair.len() == 2 && pair.iter().all(|e| !e.response_ids.is_empty()) {
                kept.extend_from_slice(pair);
            }
        }
        *examples = kept;
    } else {
        examples.retain(|e| !e.response_ids.is_empty());
    }
    (truncated, before - examples.len())
}

/// Splits a step's rows into micro-batches whose padded size `rows * longest` stays within
/// `token_budget` (a single unit larger than the budget still gets a micro-batch of its own).
/// Units of `unit` consecutive rows (2 for DPO pairs) are never split. Rows are grouped by
/// length so that padding stays small; the order inside a step does not change its gradient.
pub fn pack(lengths: &[usize], unit: usize, token_budget: usize) -> Vec<Vec<usize>> {
    let mut units: Vec<Vec<usize>> = (0..lengths.len())
        .collect::<Vec<_>>()
        .chunks(unit)
        .map(<[usize]>::to_vec)
        .collect();
    let unit_len = |u: &Vec<usize>| u.iter().map(|&i| lengths[i]).max().unwrap_or(0);
    units.sort_by_key(|u| (std::cmp::Reverse(unit_len(u)), u[0]));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut longest = 0;
    for u in units {
        let l = unit_len(&u);
        let new_longest = longest.max(l);
        if !current.is_empty() && (current.len() + u.len()) * new_longest > token_budget {
            batches.push(std::mem::take(&mut current));
            longest = 0;
        }
        longest = longest.max(l);
        current.extend(u);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// The tensors of one micro-batch.
pub struct BatchTensors {
    /// Input tokens `[batch, longest - 1]`, right-padded.
    pub tokens: Tensor<2, Int>,
    /// Next-token targets `[batch, longest - 1]`.
    pub targets: Tensor<2, Int>,
    /// 1 on response targets, 0 on prompt and padding `[batch, longest - 1]`.
    pub mask: Tensor<2>,
    /// Advantages `[batch]`.
    pub advantages: Tensor<1>,
    /// Reference log-probs on response targets (0 elsewhere) `[batch, longest - 1]`, when given.
    pub ref_logp: Option<Tensor<2>>,
    /// Response tokens in the micro-batch.
    pub response_tokens: usize,
}

/// Builds the tensors of `rows`; `ref_logprobs[i]` holds one value per response token of
/// example `i`. Right padding needs no attention mask: causal attention never lets a real
/// token see the padding that follows it, and padded targets are masked out of the loss.
pub fn tensors(
    examples: &[TrainExample],
    rows: &[usize],
    ref_logprobs: Option<&[Vec<f32>]>,
    device: &Device,
) -> BatchTensors {
    let b = rows.len();
    let width = rows
        .iter()
        .map(|&i| examples[i].len())
        .max()
        .unwrap_or(1)
        .max(2)
        - 1;
    let mut tokens = vec![0i64; b * width];
    let mut targets = vec![0i64; b * width];
    let mut mask = vec![0f32; b * width];
    let mut refs = vec![0f32; b * width];
    let mut advantages = Vec::with_capacity(b);
    let mut response_tokens = 0;
    for (row, &i) in rows.iter().enumerate() {
        let e = &examples[i];
        let seq: Vec<u32> = e
            .prompt_ids
            .iter()
            .chain(&e.response_ids)
            .copied()
            .collect();
        let p = e.prompt_ids.len();
        for j in 0..seq.len() - 1 {
            tokens[row * width + j] = i64::from(seq[j]);
            targets[row * width + j] = i64::from(seq[j + 1]);
            if j + 1 >= p {
                mask[row * width + j] = 1.0;
                if let Some(r) = ref_logprobs {
                    refs[row * width + j] = r[i][j + 1 - p];
                }
            }
        }
        response_tokens += e.response_ids.len();
        advantages.push(e.advantage);
    }
    BatchTensors {
        tokens: Tensor::from_data(TensorData::new(tokens, [b, width]), device),
        targets: Tensor::from_data(TensorData::new(targets, [b, width]), device),
        mask: Tensor::from_data(TensorData::new(mask, [b, width]), device),
        advantages: Tensor::from_data(TensorData::new(advantages, [b]), device),
        ref_logp: ref_logprobs
            .map(|_| Tensor::from_data(TensorData::new(refs, [b, width]), device)),
        response_tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_respects_budget_units_and_covers_every_row() {
        let lengths = [10, 50, 20, 40, 30, 60];
        let batches = pack(&lengths, 2, 100);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..6).collect::<Vec<_>>());
        for b in &batches {
            let longest = b.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(b.len() * longest <= 100 || b.len() == 2, "{b:?}");
            // pairs stay together
            for pair in [(0, 1), (2, 3), (4, 5)] {
                assert_eq!(b.contains(&pair.0), b.contains(&pair.1));
            }
        }
    }

    #[test]
    fn cutoff_truncates_responses_and_drops_empty() {
        let ex = |p: usize, r: usize| TrainExample {
            problem_id: "p".into(),
            prompt_ids: vec![1; p],
            response_ids: vec![2; r],
            advantage: 0.0,
            reward: 0.0,
            sample_index: 0,
            components: Vec::new(),
        };
        let mut v = vec![ex(3, 5), ex(9, 4), ex(2, 2)];
        let (truncated, dropped) = apply_cutoff(&mut v, 6, false);
        assert_eq!((truncated, dropped), (2, 1));
        assert_eq!(v[0].response_ids.len(), 3);
    }
}
