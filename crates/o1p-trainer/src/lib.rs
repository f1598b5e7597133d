//! o1p-trainer (being built).
