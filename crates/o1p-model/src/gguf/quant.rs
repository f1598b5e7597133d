//! Dequantisation of GGML blocks to f32, value for value as ggml's reference
//! `dequantize_row_*` functions (ggml-quants.c) and gguf-py's `gguf.quants.dequantize`.
//!
//! Every quantised type stores a fixed number of elements per block: little-endian f16 scales
//! next to packed integers. The arithmetic below is written in the same order as the reference
//! (a product of f32 values, then one subtraction or addition, never a fused multiply-add), so
//! the results are bit-identical to gguf-py's numpy implementation; the committed fixtures in
//! `tests/fixtures/gguf_quant` check that for every type.

use half::f16;

use super::GgmlType;

/// Why a buffer could not be dequantised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DequantError {
    /// The type has no dequantiser here.
    #[error(
        "GGML type {0} is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K)"
    )]
    Unsupported(String),
    /// The element count is not a whole number of blocks.
    #[error("{n} elements of {ty} are not a whole number of {block}-element blocks")]
    PartialBlock {
        /// The type's name.
        ty: String,
        /// Elements asked for.
        n: usize,
        /// Elements per block.
        block: usize,
    },
    /// The buffer does not hold exactly the bytes `n` elements take.
    #[error("{n} elements of {ty} take {expected} bytes, the buffer has {found}")]
    ByteCount {
        /// The type's name.
        ty: String,
        /// Elements asked for.
        n: usize,
        /// Bytes `n` elements take.
        expected: usize,
        /// Bytes given.
        found: usize,
    },
}

/// Dequantises `n` elements of type `ty` stored in `bytes` (exactly `ty.bytes_for(n)` bytes).
///
/// ```
/// use o1p_model::gguf::{GgmlType, dequantize};
///
/// // One Q8_0 block: scale 0.5 (f16 0x3800), then 32 signed bytes.
/// let mut block = vec![0x00, 0x38];
/// block.extend((0..32).map(|i| (i as i8 - 16) as u8));
/// let values = dequantize(GgmlType::Q8_0, &block, 32).unwrap();
/// assert_eq!(values[0], -8.0);
/// assert_eq!(values[31], 7.5);
/// ```
pub fn dequantize(ty: GgmlType, bytes: &[u8], n: usize) -> Result<Vec<f32>, DequantError> {
    let (block, size) = ty
        .block_geometry()
        .ok_or_else(|| DequantError::Unsupported(ty.name()))?;
    if !n.is_multiple_of(block) {
        return Err(DequantError::PartialBlock {
            ty: ty.name(),
            n,
            block,
        });
    }
    let expected = n / block * size;
    if bytes.len() != expected {
        return Err(DequantError::ByteCount {
            ty: ty.name(),
            n,
            expected,
            found: bytes.len(),
        });
    }
    let mut out = vec![0f32; n];
    let blocks = bytes.chunks_exact(size).zip(out.chunks_exact_mut(block));
    match ty {
        GgmlType::F32 => {
            blocks.for_each(|(b, y)| y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        GgmlType::F16 => blocks.for_each(|(b, y)| y[0] = half(b, 0)),
        // bf16 is the upper half of an f32.
        GgmlType::BF16 => blocks.for_each(|(b, y)| {
            y[0] = f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)
        }),
        GgmlType::Q8_0 => blocks.for_each(|(b, y)| q8_0(b, y)),
        GgmlType::Q4_0 => blocks.for_each(|(b, y)| q4_0(b, y)),
        GgmlType::Q4_1 => blocks.for_each(|(b, y)| q4_1(b, y)),
        GgmlType::Q4K => blocks.for_each(|(b, y)| q4_k(b, y)),
        GgmlType::Q6K => blocks.for_each(|(b, y)| q6_k(b, y)),
        GgmlType::Other(_) => return Err(DequantError::Unsupported(ty.name())),
    }
    Ok(out)
}

/// The little-endian f16 at `at`, widened to f32 (exact).
fn half(b: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// `d: f16, qs: [i8; 32]`; `y = qs * d`.
fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    for (y, &q) in y.iter_mut().zip(&b[2..34]) {
        *y = f32::from(q as i8) * d;
    }
}

/// `d: f16, qs: [u8; 16]`; element `j` is the low nibble of byte `j`, element `j + 16` the high
/// nibble; `y = (q - 8) * d`.
fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    let (lo, hi) = y.split_at_mut(16);
    for (j, &q) in b[2..18].iter().enumerate() {
        lo[j] = f32::from((q & 0x0F) as i8 - 8) * d;
        hi[j] = f32::from((q >> 4) as i8 - 8) * d;
    }
}

/// `d: f16, m: f16, qs: [u8; 16]`, nibbles as in Q4_0; `y = q * d + m`.
fn q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half(b, 0), half(b, 2));
    let (lo, hi) = y.split_at_mut(16);
    for (j, &q) in b[4..20].iter().enumerate() {
        lo[j] = f32::from(q & 0x0F) * d + m;
        hi[j] = f32::from(q >> 4) * d + m;
    }
}

/// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0..8) from the 12
/// packed bytes. Sub-blocks 0..4 keep theirs in the low 6 bits of bytes `j` and `j + 4`;
/// sub-blocks 4..8 combine a nibble of byte `j + 4` with the top 2 bits of bytes `j - 4` / `j`.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// `d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128]`: 8 sub-blocks of 32; each group of
/// 32 bytes holds two sub-blocks (low nibbles, then high nibbles);
/// `y = (d * sc) * q - (dmin * m)`.
fn q4_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (half(b, 0), half(b, 2));
    let scales = &b[4..16];
    let qs = &b[16..144];
    for (chunk, (q, y)) in qs.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, min1) = (d * f32::from(sc1), dmin * f32::from(m1));
        let (d2, min2) = (d * f32::from(sc2), dmin * f32::from(m2));
        let (lo, hi) = y.split_at_mut(32);
        for l in 0..32 {
            lo[l] = d1 * f32::from(q[l] & 0x0F) - min1;
            hi[l] = d2 * f32::from(q[l] >> 4) - min2;
        }
    }
}

/// `ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16`: two halves of 128 elements; in each,
/// element `l + 32 k` (k = 0..4) takes 4 low bits from `ql` (low or high nibble of byte `l` or
/// `l + 32`) and 2 high bits from `qh[l]` (bits `2k..2k+2`), minus 32;
/// `y = (d * scale) * q` with one scale per 16 elements.
fn q6_k(b: &[u8], y: &mut [f32]) {
    let d = half(b, 208);
    for half_block in 0..2 {
        let ql = &b[64 * half_block..64 * half_block + 64];
        let qh = &b[128 + 32 * half_block..128 + 32 * half_block + 32];
        let sc = &b[192 + 8 * half_block..192 + 8 * half_block + 8];
        let y = &mut y[128 * half_block..128 * half_block + 128];
        for l in 0..32 {
            let is = l / 16;
            let q = [
                (ql[l] & 0x0F) | ((qh[l] & 3) << 4),
                (ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4),
                (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4),
            ];
            for (k, &q) in q.iter().enumerate() {
                let scale = f32::from(sc[is + 2 * k] as i8);
                y[l + 32 * k] = d * scale * f32::from(q as i8 - 32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_partial_blocks_wrong_sizes_and_unknown_types() {
        assert!(matches!(
            dequantize(GgmlType::Q4_0, &[0; 18], 16),
            Err(DequantError::PartialBlock { .. })
        ));
        let err = dequantize(GgmlType::Q6K, &[0; 209], 256).unwrap_err();
        assert!(err.to_string().contains("210 bytes"), "{err}");
        assert!(matches!(
            dequantize(GgmlType::Other(10), &[], 0),
            Err(DequantError::Unsupported(_))
        ));
    }

    #[test]
    fn k_quant_scale_unpacking_matches_the_bit_layout() {
        // Sub-block 5: low nibble of byte 9 plus the top two bits of byte 1 (scale), high
        // nibble of byte 9 plus the top two bits of byte 5 (min).
        let mut q = [0u8; 12];
        q[9] = 0xA7;
        q[1] = 0b1100_0000;
        q[5] = 0b0100_0000;
        assert_eq!(scale_min_k4(5, &q), (0x07 | 0x30, 0x0A | 0x10));
        q[2] = 0b1010_1010;
        q[6] = 0b0001_0101;
        assert_eq!(scale_min_k4(2, &q), (0b10_1010, 0b01_0101));
    }
}
