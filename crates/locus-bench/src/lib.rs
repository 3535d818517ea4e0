//! Benchmarks live in `benches/`; see docs/benchmarks.md for how to run them
//! and what they measured.
