//! Task data. Leaf module (std + serde): no tensors.
//!
//! So far: [`bfcl`], the BFCL v4 single-turn loader.

pub mod bfcl;
