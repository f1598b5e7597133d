//! o1p-reward (being built).
