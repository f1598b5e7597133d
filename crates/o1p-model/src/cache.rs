//! The key/value cache for incremental decoding.
//!
//! Not a parameter: the caller owns it and passes it to each forward, as in llama-burn and
//! candle's llama. Keys and values are stored after RoPE, so a cached position is never
//! recomputed; each decoding step costs one new position plus attention over the cache.

use burn::tensor::{Int, Tensor};

/// Keys and values of one layer.
///
/// # Shapes
/// - keys, values: `[batch, kv_heads, cached_len, head_dim]`
#[derive(Clone, Debug, Default)]
pub struct LayerCache {
    kv: Option<(Tensor<4>, Tensor<4>)>,
}

impl LayerCache {
    /// Appends new keys and values and returns the whole cached sequence.
    pub fn append(&mut self, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let (k, v) = match self.kv.take() {
            Some((ck, cv)) => (Tensor::cat(vec![ck, k], 2), Tensor::cat(vec![cv, v], 2)),
            None => (k, v),
        };
        self.kv = Some((k.clone(), v.clone()));
        (k, v)
    }
}

/// The cache of every layer plus the number of positions it holds.
#[derive(Clone, Debug)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
}

impl KvCache {
    /// An empty cache for `num_layers` layers.
    pub fn new(num_layers: usize) -> Self {
        KvCache {
            layers: vec![LayerCache::default(); num_layers],
            len: 0,
        }
    }

    /// Number of cached positions (the same for every row of the batch).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the cache.
    pub fn reset(&mut self) {
        self.layers.iter_mut().for_each(|l| l.kv = None);
        self.len = 0;
    }

    /// Keeps only the given batch rows, in the given order (drops finished sequences).
    pub fn retain_rows(&mut self, rows: Tensor<1, Int>) {
        for layer in &mut self.layers {
            if let Some((k, v)) = layer.kv.take() {
                layer.kv = Some((k.select(0, rows.clone()), v.select(0, rows.clone())));
            }
        }
    }

    pub(crate) fn layer_mut(&mut self, i: usize) -> &mut LayerCache {
        &mut self.layers[i]
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}
