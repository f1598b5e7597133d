//! The tensor element types of GGML / GGUF files and their block geometry.

/// A GGML tensor type, by its id in the GGUF tensor-info table.
///
/// Quantised types store elements in blocks: `block_size` elements share `type_size` bytes
/// (scales plus packed values). Only the types this crate can dequantise have a name; any other
/// id is kept as [`GgmlType::Other`] so that the error names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// 32 values: f16 scale + 16 bytes of 4-bit values (offset 8).
    Q4_0,
    /// 32 values: f16 scale, f16 min + 16 bytes of 4-bit values.
    Q4_1,
    /// 32 values: f16 scale + 32 signed bytes.
    Q8_0,
    /// 256 values in 8 sub-blocks with 6-bit scales and mins (llama.cpp's Q4_K).
    Q4K,
    /// 256 values, 6-bit quants in 16 sub-blocks with 8-bit scales (llama.cpp's Q6_K).
    Q6K,
    /// Any other GGML type id (not supported for reading tensor data).
    Other(u32),
}

impl GgmlType {
    /// The type with GGUF id `id`.
    pub fn from_id(id: u32) -> Self {
        match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4K,
            14 => GgmlType::Q6K,
            30 => GgmlType::BF16,
            other => GgmlType::Other(other),
        }
    }

    /// The GGUF id of this type.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q8_0 => 8,
            GgmlType::Q4K => 12,
            GgmlType::Q6K => 14,
            GgmlType::BF16 => 30,
            GgmlType::Other(id) => id,
        }
    }

    /// llama.cpp's name for the type (`Q4_K`, `F16`, ...), for messages.
    pub fn name(self) -> String {
        match self {
            GgmlType::F32 => "F32".into(),
            GgmlType::F16 => "F16".into(),
            GgmlType::BF16 => "BF16".into(),
            GgmlType::Q4_0 => "Q4_0".into(),
            GgmlType::Q4_1 => "Q4_1".into(),
            GgmlType::Q8_0 => "Q8_0".into(),
            GgmlType::Q4K => "Q4_K".into(),
            GgmlType::Q6K => "Q6_K".into(),
            GgmlType::Other(id) => format!("type id {id}"),
        }
    }

    /// `(elements per block, bytes per block)`, or `None` for an unsupported type.
    pub fn block_geometry(self) -> Option<(usize, usize)> {
        Some(match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::BF16 => (1, 2),
            GgmlType::Q4_0 => (32, 2 + 16),
            GgmlType::Q4_1 => (32, 2 + 2 + 16),
            GgmlType::Q8_0 => (32, 2 + 32),
            GgmlType::Q4K => (256, 2 + 2 + 12 + 128),
            GgmlType::Q6K => (256, 128 + 64 + 16 + 2),
            GgmlType::Other(_) => return None,
        })
    }

    /// Bytes taken by `n` elements, or `None` for an unsupported type or a count that is not a
    /// whole number of blocks.
    pub fn bytes_for(self, n: usize) -> Option<usize> {
        let (block, size) = self.block_geometry()?;
        n.is_multiple_of(block).then(|| n / block * size)
    }
}

#[cfg(test)]
mod tests {
    use super::GgmlType;

    #[test]
    fn ids_round_trip_and_geometry_matches_llama_cpp() {
        for id in 0..40 {
            assert_eq!(GgmlType::from_id(id).id(), id);
        }
        // Sizes from ggml.c's type_traits.
        assert_eq!(GgmlType::Q4K.block_geometry(), Some((256, 144)));
        assert_eq!(GgmlType::Q6K.block_geometry(), Some((256, 210)));
        assert_eq!(GgmlType::Q8_0.bytes_for(64), Some(68));
        assert_eq!(GgmlType::Q4_0.bytes_for(33), None);
        assert_eq!(GgmlType::Other(10).block_geometry(), None);
    }
}
