//! Incremental detokenization: the text of a growing token sequence, decoding only a short window
//! of recent tokens per new token instead of the whole sequence. A window starts at the token
//! before the last text boundary, so byte-level pieces that complete a UTF-8 character later, and
//! decoders that treat a sequence's first token specially (SentencePiece's leading space), give
//! the same text as one decode of all tokens.

use super::TextTokenizer;
use crate::model::ModelError;

/// The text so far of one token sequence.
#[derive(Clone, Debug, Default)]
pub struct TextStream {
    tokens: Vec<u32>,
    text: String,
    /// Start of the decode window.
    prefix: usize,
    /// Tokens already turned into text.
    read: usize,
}

impl TextStream {
    /// Appends `token`; returns the new text (empty while a character is incomplete).
    ///
    /// # Errors
    /// The tokenizer cannot decode the ids.
    pub fn push(&mut self, tokenizer: &TextTokenizer, token: u32) -> Result<&str, ModelError> {
        self.tokens.push(token);
        let before = tokenizer.decode(&self.tokens[self.prefix..self.read], false)?;
        let now = tokenizer.decode(&self.tokens[self.prefix..], false)?;
        let start = self.text.len();
        if now.len() > before.len() && now.is_char_boundary(before.len()) && !now.ends_with('\u{FFFD}') {
            self.text.push_str(&now[before.len()..]);
            self.prefix = self.read;
            self.read = self.tokens.len();
        }
        Ok(&self.text[start..])
    }

    /// All text so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether one of `stops` ends within the text the last [`push`](Self::push) added.
    pub fn ends_a_stop(&self, added: usize, stops: &[String]) -> bool {
        let longest = stops.iter().map(String::len).max().unwrap_or(0);
        let mut from = self.text.len().saturating_sub(added + longest.saturating_sub(1));
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        added > 0 && stops.iter().any(|s| self.text[from..].contains(s.as_str()))
    }
}
