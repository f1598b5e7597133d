//! o1p-sampler (being built).
