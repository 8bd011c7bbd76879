//! What a task's turn expects: calls (name → argument → acceptable values) and the literal
//! language their arguments are written in. The checker (`reward::bfcl`) scores against these;
//! the task loaders produce them.

use serde_json::{Map, Value};

/// One expected call: function name → argument → acceptable values (`""` = may be omitted).
pub type ExpectedCall = (String, Map<String, Value>);

/// The language whose literals a category's arguments are written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Language {
    /// Arguments are JSON values, compared as Python values.
    #[default]
    Python,
    /// Arguments are strings of Java source.
    Java,
    /// Arguments are strings of JavaScript source.
    JavaScript,
}

impl Language {
    /// The language of a BFCL category name (`simple_java`, `simple_javascript`, else Python).
    pub fn of_category(category: &str) -> Self {
        if category.contains("javascript") {
            Language::JavaScript
        } else if category.contains("java") {
            Language::Java
        } else {
            Language::Python
        }
    }
}
