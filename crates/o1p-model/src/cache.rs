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

    /// Puts `n` zero positions in front of every row (a longer prompt is joining the batch).
    /// The caller masks them, as it masks a row's left padding.
    pub fn pad_front(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        for layer in &mut self.layers {
            if let Some((k, v)) = layer.kv.take() {
                let zeros = |t: &Tensor<4>| {
                    let [b, h, _, d] = t.dims();
                    Tensor::<4>::zeros([b, h, n, d], (&t.device(), t.dtype()))
                };
                let (zk, zv) = (zeros(&k), zeros(&v));
                layer.kv = Some((Tensor::cat(vec![zk, k], 2), Tensor::cat(vec![zv, v], 2)));
            }
        }
        self.len += n;
    }

    /// Drops the first `n` positions of every row: padding no row needs any more once the
    /// rows that were longer have left the batch, so attention stops paying for it.
    ///
    /// # Panics
    /// If `n` exceeds [`KvCache::len`].
    pub fn trim_front(&mut self, n: usize) {
        assert!(n <= self.len, "trimming {n} of {} positions", self.len);
        if n == 0 {
            return;
        }
        for layer in &mut self.layers {
            if let Some((k, v)) = layer.kv.take() {
                let keep = |t: Tensor<4>| {
                    let [b, h, len, d] = t.dims();
                    t.slice([0..b, 0..h, n..len, 0..d])
                };
                layer.kv = Some((keep(k), keep(v)));
            }
        }
        self.len -= n;
    }

    /// Appends the rows of `other` after this cache's rows. The shorter of the two is first
    /// padded in front ([`KvCache::pad_front`]) so that both hold the same number of
    /// positions; returns the padding added to `(self's rows, other's rows)`, for the caller's
    /// masks. An empty cache takes `other` as it is.
    ///
    /// # Panics
    /// If the caches have different numbers of layers.
    pub fn append_rows(&mut self, mut other: KvCache) -> (usize, usize) {
        assert_eq!(self.layers.len(), other.layers.len(), "layer counts differ");
        if self.layers.iter().all(|l| l.kv.is_none()) {
            *self = other;
            return (0, 0);
        }
        let (pad_self, pad_other) = (
            other.len.saturating_sub(self.len),
            self.len.saturating_sub(other.len),
        );
        self.pad_front(pad_self);
        other.pad_front(pad_other);
        for (mine, theirs) in self.layers.iter_mut().zip(other.layers) {
            mine.kv = match (mine.kv.take(), theirs.kv) {
                (Some((k, v)), Some((ok, ov))) => {
                    Some((Tensor::cat(vec![k, ok], 0), Tensor::cat(vec![v, ov], 0)))
                }
                (mine, theirs) => mine.or(theirs),
            };
        }
        (pad_self, pad_other)
    }

    pub(crate) fn layer_mut(&mut self, i: usize) -> &mut LayerCache {
        &mut self.layers[i]
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Tensor, TensorData};

    fn cache_of(rows: &[Vec<f32>]) -> KvCache {
        let device = crate::Backend::Flex.device().unwrap();
        let (b, len) = (rows.len(), rows[0].len());
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let t = Tensor::<4>::from_data(TensorData::new(flat, [b, 1, len, 1]), &device);
        let mut cache = KvCache::new(1);
        cache.layer_mut(0).append(t.clone(), t);
        cache.advance(len);
        cache
    }

    fn keys(cache: &KvCache) -> Vec<f32> {
        let (k, _) = cache.layers[0].kv.clone().unwrap();
        k.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn rows_of_other_lengths_join_padded_in_front_and_trim_back() {
        let mut cache = cache_of(&[vec![1.0, 2.0], vec![3.0, 4.0]]);
        let (pad_self, pad_other) = cache.append_rows(cache_of(&[vec![5.0, 6.0, 7.0]]));
        assert_eq!((pad_self, pad_other, cache.len()), (1, 0, 3));
        assert_eq!(keys(&cache), [0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let (pad_self, pad_other) = cache.append_rows(cache_of(&[vec![8.0]]));
        assert_eq!((pad_self, pad_other, cache.len()), (0, 2, 3));
        assert_eq!(&keys(&cache)[9..], [0.0, 0.0, 8.0]);
        cache.trim_front(1);
        assert_eq!(cache.len(), 2);
        assert_eq!(&keys(&cache)[..4], [1.0, 2.0, 3.0, 4.0]);
        let mut empty = KvCache::new(1);
        assert_eq!(empty.append_rows(cache_of(&[vec![9.0]])), (0, 0));
        assert_eq!((empty.len(), keys(&empty)), (1, vec![9.0]));
    }
}
