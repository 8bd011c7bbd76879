//! Rewards from transcripts. Leaf module (std + serde): no tensors.
//!
//! So far: [`bfcl`], BFCL's AST checker for the Python-typed categories.

pub mod bfcl;
