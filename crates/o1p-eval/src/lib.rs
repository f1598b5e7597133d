//! o1p-eval (being built).
