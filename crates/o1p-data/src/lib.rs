//! o1p-data (being built).
