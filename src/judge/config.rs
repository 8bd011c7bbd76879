//! `[judge]`: which judge scores the reasoning, and its settings.

use serde::{Deserialize, Serialize};

use super::prompt::DEFAULT_PROMPT;

/// Which judge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JudgeKind {
    /// No model: [`super::heuristic`].
    #[default]
    Heuristic,
    /// An OpenAI-compatible chat-completions server.
    Http,
    /// A model loaded through awpo's own stack (`local_model`).
    Local,
}

/// The longest `timeout_s` accepted (a year, in seconds).
pub const MAX_TIMEOUT_S: f64 = 365.0 * 86_400.0;

/// `[judge]` keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JudgeConfig {
    /// heuristic | http | local.
    pub kind: JudgeKind,
    /// The prompt; `{request}`, `{tools}`, `{reasoning}` and `{calls}` are filled in. It must
    /// ask for a final line `Score: N` with N from 0 to `scale`.
    pub prompt: String,
    /// The top of the score scale the prompt asks for (scores are divided by it).
    pub scale: f64,
    /// http: the server's base URL (`…/v1`; `/chat/completions` is appended).
    pub base_url: String,
    /// http: the model name sent.
    pub model: String,
    /// http: the environment variable holding the API key ("" = send none).
    pub api_key_env: String,
    /// http: requests in flight at once.
    pub concurrency: usize,
    /// http: seconds per request.
    pub timeout_s: f64,
    /// http: retries after a transport error or a 429/5xx status.
    pub retries: u32,
    /// http: first backoff in milliseconds, doubled each retry.
    pub backoff_ms: u64,
    /// http/local: tokens the judge may write.
    pub max_tokens: usize,
    /// The score used when the judge fails (e.g. 0.5); unset makes a failure an error.
    pub fallback: Option<f64>,
    /// local: a Hugging Face directory or `.gguf` file.
    pub local_model: String,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            kind: JudgeKind::Heuristic,
            prompt: DEFAULT_PROMPT.into(),
            scale: 10.0,
            base_url: "http://127.0.0.1:8000/v1".into(),
            model: "judge".into(),
            api_key_env: "AWPO_JUDGE_API_KEY".into(),
            concurrency: 4,
            timeout_s: 60.0,
            retries: 3,
            backoff_ms: 500,
            max_tokens: 256,
            fallback: None,
            local_model: String::new(),
        }
    }
}

impl JudgeConfig {
    /// Every invalid key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(self.scale.is_finite() && self.scale > 0.0) {
            out.push(("judge.scale", format!("{:?} is invalid: must be > 0", self.scale)));
        }
        if self.concurrency == 0 {
            out.push(("judge.concurrency", "must be at least 1".into()));
        }
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0 && self.timeout_s <= MAX_TIMEOUT_S) {
            out.push((
                "judge.timeout_s",
                format!("{:?} is invalid: must be > 0 and at most {MAX_TIMEOUT_S}", self.timeout_s),
            ));
        }
        if let Some(f) = self.fallback.filter(|f| !(0.0..=1.0).contains(f)) {
            out.push(("judge.fallback", format!("{f:?} is invalid: must be in [0, 1]")));
        }
        if self.kind == JudgeKind::Local && self.local_model.is_empty() {
            out.push(("judge.local_model", "kind = \"local\" needs a model path".into()));
        }
        if self.kind == JudgeKind::Http && !self.base_url.starts_with("http") {
            out.push(("judge.base_url", format!("{:?} is not an http(s) URL", self.base_url)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_that_no_duration_holds_are_refused() {
        let keys = |timeout_s: f64| -> Vec<&'static str> {
            JudgeConfig { timeout_s, ..JudgeConfig::default() }.problems().into_iter().map(|(k, _)| k).collect()
        };
        assert!(keys(60.0).is_empty() && keys(MAX_TIMEOUT_S).is_empty());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300, MAX_TIMEOUT_S * 2.0] {
            assert_eq!(keys(bad), ["judge.timeout_s"], "{bad}");
        }
        // What is accepted converts to a Duration (which panics on values it cannot hold).
        assert!(std::time::Duration::try_from_secs_f64(MAX_TIMEOUT_S).is_ok());
    }
}
