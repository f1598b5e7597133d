//! Continuous batching: the native sampler's one decode loop.
//!
//! A [`Batcher`] decodes its sequences as the rows of one batch over one KV cache. A sequence
//! submitted while others run joins at the next step: its prompt is prefilled together with
//! the step's other newcomers, their cache rows are appended to the batch's, and from then on
//! it decodes in the same forward pass as the rest. A finished or cancelled sequence leaves
//! at once, so a step costs only the rows still running, and a queue of work keeps the batch
//! full however different the lengths are (a static batch runs half empty once its short
//! samples are done).
//!
//! Rows are left-padded to the cache's length and the padding is masked, as in a static
//! batch; padding that no row needs any more (the longer rows have left) is trimmed, so the
//! cache holds as many positions as the longest running row, never the whole history of a
//! long-running server.
//!
//! Every user of the native sampler goes through it: [`crate::generate`] is a batcher given
//! every prompt at once, [`crate::NativeGenerator`] refills one as its rows finish, and the
//! `serve` example feeds one the requests as they arrive and streams its tokens.
//!
//! ```
//! use std::sync::Arc;
//! use o1p_model::{Backend, CausalLm, ModelConfig};
//! use o1p_sampler::{Batcher, BatchEvent, SamplingParams};
//! let model = CausalLm::random(&ModelConfig::qwen2(16, 8, 16, 1, 2, 1), 0, &Backend::Flex.device().unwrap());
//! let params = Arc::new(SamplingParams { max_new_tokens: 4, ..Default::default() });
//! let mut batcher = Batcher::new(&model, None, 2);
//! batcher.submit(7, vec![1, 2, 3], 0, params.clone());
//! let mut events = Vec::new();
//! batcher.step(&mut events); // 7 is prefilled and gets its first token
//! batcher.submit(8, vec![4], 0, params); // 8 joins the running batch at the next step
//! while !batcher.is_idle() {
//!     batcher.step(&mut events);
//! }
//! let finished: Vec<u64> = events
//!     .iter()
//!     .filter_map(|e| match e {
//!         BatchEvent::Finished { id, .. } => Some(*id),
//!         _ => None,
//!     })
//!     .collect();
//! assert_eq!(finished, [7, 8]);
//! ```

use std::collections::VecDeque;
use std::sync::Arc;

use burn::tensor::{DType, Tensor, TensorData};
use o1p_model::{CausalLm, KvCache, Tokenizer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::generate::{
    Completion, FinishReason, SamplingParams, hits_stop_string, mask_tensor, pick_token,
};

/// The caller's name for a submitted sequence, reported with its events.
pub type SequenceId = u64;

/// What a [`Batcher::step`] produced.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchEvent {
    /// A sequence's next token, with its temperature-1 log-probability.
    Token {
        /// The sequence.
        id: SequenceId,
        /// The token.
        token: u32,
        /// Its log-probability under the model at temperature 1.
        logprob: f32,
    },
    /// A sequence is done; its last token was reported just before.
    Finished {
        /// The sequence.
        id: SequenceId,
        /// Every token, log-probability and why it stopped.
        completion: Completion,
    },
}

/// The forward passes one [`Batcher::step`] ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Rows whose prompts were prefilled (0: no prefill pass).
    pub prefill_rows: usize,
    /// Rows in the decoding pass (0: none ran, the batch emptied).
    pub decode_rows: usize,
}

/// A sequence waiting for a free row.
struct Pending {
    id: SequenceId,
    prompt: Vec<u32>,
    seed: u64,
    params: Arc<SamplingParams>,
}

/// A running sequence: one row of the batch and of the cache.
struct Row {
    id: SequenceId,
    params: Arc<SamplingParams>,
    rng: ChaCha8Rng,
    generated: Vec<u32>,
    logprobs: Vec<f32>,
    /// Position id of the next token fed to the model.
    next_pos: usize,
    /// Masked cache positions in front of the row's own.
    pad: usize,
}

/// Sequences decoded as one batch that they join and leave at any step; see the module docs.
pub struct Batcher<'m> {
    model: &'m CausalLm,
    tokenizer: Option<&'m Tokenizer>,
    capacity: usize,
    waiting: VecDeque<Pending>,
    rows: Vec<Row>,
    cache: KvCache,
    /// Next-token logits of every row (`rows.len() * vocab`, row-major), from the last pass.
    logits: Vec<f32>,
}

impl<'m> Batcher<'m> {
    /// A batcher of at most `capacity` running rows (0 is taken as 1). `tokenizer` is needed
    /// only for stop strings.
    pub fn new(model: &'m CausalLm, tokenizer: Option<&'m Tokenizer>, capacity: usize) -> Self {
        Batcher {
            model,
            tokenizer,
            capacity: capacity.max(1),
            waiting: VecDeque::new(),
            rows: Vec::new(),
            cache: model.new_cache(),
            logits: Vec::new(),
        }
    }

    /// Queues a sequence: it joins the batch at the next step with a free row, in submission
    /// order. `seed` seeds its own sampler (greedy decoding ignores it), so its tokens do not
    /// depend on which sequences share its steps.
    ///
    /// # Panics
    /// If the prompt is empty (callers validate user input first).
    pub fn submit(
        &mut self,
        id: SequenceId,
        prompt: Vec<u32>,
        seed: u64,
        params: Arc<SamplingParams>,
    ) {
        assert!(!prompt.is_empty(), "empty prompt");
        self.waiting.push_back(Pending {
            id,
            prompt,
            seed,
            params,
        });
    }

    /// Removes a sequence, waiting or running (its client has gone); false if there is none.
    pub fn cancel(&mut self, id: SequenceId) -> bool {
        if let Some(at) = self.waiting.iter().position(|p| p.id == id) {
            self.waiting.remove(at);
            return true;
        }
        let Some(at) = self.rows.iter().position(|r| r.id == id) else {
            return false;
        };
        let keep: Vec<usize> = (0..self.rows.len()).filter(|&r| r != at).collect();
        self.keep_rows(&keep, true);
        true
    }

    /// Whether nothing is running or waiting.
    pub fn is_idle(&self) -> bool {
        self.rows.is_empty() && self.waiting.is_empty()
    }

    /// Sequences decoding now.
    pub fn running(&self) -> usize {
        self.rows.len()
    }

    /// Sequences waiting for a row.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Positions held by the cache (the longest running row's, padding trimmed).
    pub fn cached_positions(&self) -> usize {
        self.cache.len()
    }

    /// One step: waiting sequences take the free rows (one prefill pass for them all), every
    /// row picks its next token (pushed to `events`, with a `Finished` event for each row that
    /// is done, which leaves the batch), then one decoding pass over the rows still running.
    pub fn step(&mut self, events: &mut Vec<BatchEvent>) -> StepReport {
        let prefill_rows = self.admit(events);
        if self.rows.is_empty() {
            return StepReport {
                prefill_rows,
                decode_rows: 0,
            };
        }
        let vocab = self.model.vocab_size();
        let mut keep = Vec::with_capacity(self.rows.len());
        for (r, row) in self.rows.iter_mut().enumerate() {
            let row_logits = &self.logits[r * vocab..(r + 1) * vocab];
            let (token, logprob) = pick_token(row_logits, &row.params, &mut row.rng);
            row.generated.push(token);
            row.logprobs.push(logprob);
            events.push(BatchEvent::Token {
                id: row.id,
                token,
                logprob,
            });
            let finish = if row.params.stop_ids.contains(&token) {
                Some(FinishReason::Eos)
            } else if hits_stop_string(&row.generated, &row.params, self.tokenizer) {
                Some(FinishReason::Stop)
            } else if row.generated.len() >= row.params.max_new_tokens {
                Some(FinishReason::Length)
            } else {
                None
            };
            match finish {
                Some(finish_reason) => events.push(BatchEvent::Finished {
                    id: row.id,
                    completion: Completion {
                        token_ids: std::mem::take(&mut row.generated),
                        logprobs: std::mem::take(&mut row.logprobs),
                        finish_reason,
                    },
                }),
                None => keep.push(r),
            }
        }
        // The picked logits are spent; the decoding pass below makes the next ones.
        self.logits.clear();
        self.keep_rows(&keep, false);
        let decode_rows = self.rows.len();
        if decode_rows > 0 {
            self.decode();
        }
        StepReport {
            prefill_rows,
            decode_rows,
        }
    }

    /// Moves waiting sequences into free rows and prefills them; returns how many.
    fn admit(&mut self, events: &mut Vec<BatchEvent>) -> usize {
        let mut newcomers = Vec::new();
        while self.rows.len() + newcomers.len() < self.capacity {
            let Some(p) = self.waiting.pop_front() else {
                break;
            };
            if p.params.max_new_tokens == 0 {
                events.push(BatchEvent::Finished {
                    id: p.id,
                    completion: Completion {
                        token_ids: Vec::new(),
                        logprobs: Vec::new(),
                        finish_reason: FinishReason::Length,
                    },
                });
                continue;
            }
            newcomers.push(p);
        }
        let n = newcomers.len();
        if n == 0 {
            return 0;
        }
        let device = self.model.model.embed_tokens.weight.device();
        // Left-pad the newcomers' prompts to the longest: row i has `pads[i]` masked
        // positions, then its prompt.
        let width = newcomers.iter().map(|p| p.prompt.len()).max().unwrap_or(0);
        let pads: Vec<usize> = newcomers.iter().map(|p| width - p.prompt.len()).collect();
        let mut tokens = Vec::with_capacity(n * width);
        let mut positions = Vec::with_capacity(n * width);
        for (p, &pad) in newcomers.iter().zip(&pads) {
            tokens.extend(std::iter::repeat_n(0i64, pad).chain(p.prompt.iter().map(|&t| t as i64)));
            positions.extend(std::iter::repeat_n(0i64, pad).chain(0..p.prompt.len() as i64));
        }
        let mask = pads
            .iter()
            .any(|&p| p > 0)
            .then(|| mask_tensor(&pads, width, &device));
        let mut cache = self.model.new_cache();
        let logits = self.model.forward_last(
            Tensor::from_data(TensorData::new(tokens, [n, width]), &device),
            Some(Tensor::from_data(
                TensorData::new(positions, [n, width]),
                &device,
            )),
            mask,
            Some(&mut cache),
        );
        self.append_logits(logits);
        let (pad_running, pad_new) = self.cache.append_rows(cache);
        for row in &mut self.rows {
            row.pad += pad_running;
        }
        for (p, pad) in newcomers.into_iter().zip(pads) {
            self.rows.push(Row {
                id: p.id,
                rng: ChaCha8Rng::seed_from_u64(p.seed),
                params: p.params,
                generated: Vec::new(),
                logprobs: Vec::new(),
                next_pos: p.prompt.len(),
                pad: pad + pad_new,
            });
        }
        n
    }

    /// Feeds every row its last token: one pass, one new cache position per row.
    fn decode(&mut self) {
        let device = self.model.model.embed_tokens.weight.device();
        let b = self.rows.len();
        let tokens: Vec<i64> = self
            .rows
            .iter()
            .map(|r| i64::from(*r.generated.last().expect("a running row has a token")))
            .collect();
        let positions: Vec<i64> = self.rows.iter().map(|r| r.next_pos as i64).collect();
        self.rows.iter_mut().for_each(|r| r.next_pos += 1);
        let pads: Vec<usize> = self.rows.iter().map(|r| r.pad).collect();
        let mask = pads
            .iter()
            .any(|&p| p > 0)
            .then(|| mask_tensor(&pads, self.cache.len() + 1, &device));
        let logits = self.model.forward_last(
            Tensor::from_data(TensorData::new(tokens, [b, 1]), &device),
            Some(Tensor::from_data(
                TensorData::new(positions, [b, 1]),
                &device,
            )),
            mask,
            Some(&mut self.cache),
        );
        self.append_logits(logits);
    }

    fn append_logits(&mut self, logits: Tensor<2>) {
        let host = logits.into_data().convert_dtype(DType::F32);
        self.logits
            .extend_from_slice(host.as_slice::<f32>().expect("f32 logits"));
    }

    /// Keeps the rows at `keep` (ascending) in the batch and the cache; `with_logits` keeps
    /// their logits too (a cancel between steps). Then trims the padding no row needs.
    fn keep_rows(&mut self, keep: &[usize], with_logits: bool) {
        if keep.len() == self.rows.len() {
            return;
        }
        if keep.is_empty() {
            self.rows.clear();
            self.logits.clear();
            self.cache.reset();
            return;
        }
        if with_logits && !self.logits.is_empty() {
            let vocab = self.model.vocab_size();
            let kept: Vec<f32> = keep
                .iter()
                .flat_map(|&r| self.logits[r * vocab..(r + 1) * vocab].iter().copied())
                .collect();
            self.logits = kept;
        }
        let device = self.model.model.embed_tokens.weight.device();
        let indices: Vec<i64> = keep.iter().map(|&r| r as i64).collect();
        self.cache.retain_rows(Tensor::from_data(
            TensorData::new(indices, [keep.len()]),
            &device,
        ));
        let mut rows: Vec<Option<Row>> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(Some)
            .collect();
        self.rows = keep.iter().filter_map(|&r| rows[r].take()).collect();
        let unneeded = self.rows.iter().map(|r| r.pad).min().unwrap_or(0);
        if unneeded > 0 {
            self.cache.trim_front(unneeded);
            self.rows.iter_mut().for_each(|r| r.pad -= unneeded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use o1p_model::{Backend, ModelConfig};

    fn model() -> CausalLm {
        CausalLm::random(
            &ModelConfig::qwen2(32, 16, 32, 2, 4, 2),
            3,
            &Backend::Flex.device().unwrap(),
        )
    }

    fn sampled(max_new_tokens: usize) -> Arc<SamplingParams> {
        Arc::new(SamplingParams {
            max_new_tokens,
            temperature: 0.8,
            ..Default::default()
        })
    }

    /// Runs to the end; completions by id.
    fn drain(batcher: &mut Batcher<'_>, events: &mut Vec<BatchEvent>) {
        while !batcher.is_idle() {
            batcher.step(events);
        }
    }

    fn finished(events: &[BatchEvent]) -> Vec<(SequenceId, Vec<u32>)> {
        let mut out: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                BatchEvent::Finished { id, completion } => {
                    Some((*id, completion.token_ids.clone()))
                }
                _ => None,
            })
            .collect();
        out.sort();
        out
    }

    fn alone(model: &CausalLm, prompt: &[u32], seed: u64, max: usize) -> Vec<u32> {
        let mut batcher = Batcher::new(model, None, 1);
        batcher.submit(0, prompt.to_vec(), seed, sampled(max));
        let mut events = Vec::new();
        drain(&mut batcher, &mut events);
        finished(&events).remove(0).1
    }

    #[test]
    fn sequences_joining_and_leaving_get_the_tokens_they_get_alone() {
        let model = model();
        let prompts: Vec<Vec<u32>> = vec![
            vec![1, 2, 3, 4, 5, 6, 7],
            vec![8],
            vec![9, 10, 11],
            vec![12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22],
            vec![23, 24],
        ];
        let lengths = [9, 3, 14, 5, 7];
        let mut batcher = Batcher::new(&model, None, 3);
        let mut events = Vec::new();
        // Two start; the others arrive while they run, one of them longer than the cache.
        for i in 0..2 {
            batcher.submit(
                i as u64,
                prompts[i].clone(),
                100 + i as u64,
                sampled(lengths[i]),
            );
        }
        let mut tokens_per_step = Vec::new();
        for step in 0.. {
            if step == 2 || step == 4 {
                let i = step / 2 + 1;
                batcher.submit(
                    i as u64,
                    prompts[i].clone(),
                    100 + i as u64,
                    sampled(lengths[i]),
                );
            }
            if step == 5 {
                batcher.submit(4, prompts[4].clone(), 104, sampled(lengths[4]));
            }
            if batcher.is_idle() && step > 5 {
                break;
            }
            assert!(batcher.running() <= 3);
            let before = events.len();
            batcher.step(&mut events);
            tokens_per_step.push(
                events[before..]
                    .iter()
                    .filter(|e| matches!(e, BatchEvent::Token { .. }))
                    .count(),
            );
        }
        let got = finished(&events);
        assert_eq!(got.len(), 5);
        for (id, tokens) in got {
            let i = id as usize;
            assert_eq!(tokens.len(), lengths[i]);
            assert_eq!(
                tokens,
                alone(&model, &prompts[i], 100 + id, lengths[i]),
                "row {i}"
            );
        }
        // The capacity was used: some steps decoded three rows at once.
        assert!(tokens_per_step.contains(&3), "{tokens_per_step:?}");
        // Everything left: no padding or positions stay behind.
        assert_eq!(batcher.cached_positions(), 0);
    }

    #[test]
    fn the_cache_holds_only_the_longest_running_row() {
        let model = model();
        let mut batcher = Batcher::new(&model, None, 2);
        let mut events = Vec::new();
        batcher.submit(0, vec![1; 20], 0, sampled(3));
        batcher.submit(1, vec![2; 2], 1, sampled(10));
        batcher.step(&mut events);
        // 20 prompt positions plus the first decoded one.
        assert_eq!(batcher.cached_positions(), 21);
        for _ in 0..3 {
            batcher.step(&mut events);
        }
        // Row 0 (the long one) is done: row 1's two prompt tokens plus its four decoded
        // positions are all that is left.
        assert_eq!(batcher.running(), 1);
        assert_eq!(batcher.cached_positions(), 2 + 4);
    }

    #[test]
    fn cancelled_sequences_leave_and_the_rest_go_on_unchanged() {
        let model = model();
        let mut batcher = Batcher::new(&model, None, 2);
        let mut events = Vec::new();
        batcher.submit(0, vec![5, 6, 7], 10, sampled(12));
        batcher.submit(1, vec![8, 9], 11, sampled(12));
        batcher.submit(2, vec![3], 12, sampled(4));
        batcher.step(&mut events);
        batcher.step(&mut events);
        assert!(batcher.cancel(0), "running");
        assert!(batcher.cancel(2), "waiting");
        assert!(!batcher.cancel(2), "already gone");
        drain(&mut batcher, &mut events);
        let got = finished(&events);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, alone(&model, &[8, 9], 11, 12));
    }

    #[test]
    fn zero_new_tokens_finish_at_once_without_a_pass() {
        let model = model();
        let mut batcher = Batcher::new(&model, None, 2);
        let mut events = Vec::new();
        batcher.submit(0, vec![1], 0, sampled(0));
        let report = batcher.step(&mut events);
        assert_eq!(report, StepReport::default());
        assert!(batcher.is_idle());
        assert!(
            matches!(&events[..], [BatchEvent::Finished { id: 0, completion }]
            if completion.token_ids.is_empty() && completion.finish_reason == FinishReason::Length)
        );
    }
}
