//! Task data. Leaf module (std + serde): no tensors.
//!
//! [`task`]: the project's JSONL task format and its loader; [`answer`]: the expected calls of a
//! task and the literal language of their arguments; [`bfcl`]: the BFCL v4 single-turn loader;
//! [`schema`]: BFCL function docs → the JSON Schema tools BFCL's prompts show.

pub mod answer;
pub mod bfcl;
pub mod error;
pub mod lines;
pub mod schema;
pub mod task;

pub use error::DataError;
