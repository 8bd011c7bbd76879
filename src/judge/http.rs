//! A judge behind any OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp's
//! server, Ollama, …): `POST {base_url}/chat/completions` with the filled prompt, temperature 0.
//! At most `concurrency` requests in flight; each with a timeout; transport errors and 429/5xx
//! statuses retried with exponential backoff; other statuses and unparsable answers fail at
//! once. Scores are cached by content (model + prompt), so a repeated request is not sent again.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::prompt::{fill, parse_score};
use super::{Judge, JudgeConfig, JudgeError, JudgeRequest};

/// The HTTP judge.
pub struct HttpJudge {
    cfg: JudgeConfig,
    url: String,
    key: Option<String>,
    agent: ureq::Agent,
    cache: Mutex<HashMap<u64, f64>>,
    sent: AtomicUsize,
}

enum Attempt {
    Done(Result<f64, JudgeError>),
    Retry(JudgeError),
}

impl HttpJudge {
    /// A judge for `cfg` (`base_url`, `model`, `api_key_env`, limits).
    ///
    /// # Errors
    /// `api_key_env` names a variable that is not set.
    pub fn new(cfg: &JudgeConfig) -> Result<Self, JudgeError> {
        let key = if cfg.api_key_env.is_empty() {
            None
        } else {
            Some(std::env::var(&cfg.api_key_env).map_err(|_| JudgeError::MissingKey(cfg.api_key_env.clone()))?)
        };
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs_f64(cfg.timeout_s)))
            .http_status_as_error(false)
            .build();
        Ok(HttpJudge {
            cfg: cfg.clone(),
            url: format!("{}/chat/completions", cfg.base_url.trim_end_matches('/')),
            key,
            agent: config.into(),
            cache: Mutex::new(HashMap::new()),
            sent: AtomicUsize::new(0),
        })
    }

    /// HTTP requests sent so far (retries included; cache hits not).
    pub fn requests_sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    fn attempt(&self, body: &str, attempts: u32) -> Attempt {
        self.sent.fetch_add(1, Ordering::SeqCst);
        let mut request = self.agent.post(&self.url).content_type("application/json");
        if let Some(key) = &self.key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = match request.send(body) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry(JudgeError::Transport {
                    url: self.url.clone(),
                    reason: e.to_string(),
                    attempts,
                });
            }
        };
        let status = response.status().as_u16();
        let text = match response.body_mut().read_to_string() {
            Ok(t) => t,
            Err(e) => {
                return Attempt::Retry(JudgeError::Transport {
                    url: self.url.clone(),
                    reason: e.to_string(),
                    attempts,
                });
            }
        };
        if status != 200 {
            let err =
                JudgeError::Status { url: self.url.clone(), status, body: text.chars().take(200).collect(), attempts };
            return if status == 429 || status >= 500 { Attempt::Retry(err) } else { Attempt::Done(Err(err)) };
        }
        let unparsable = |reason: String| JudgeError::Unparsable {
            url: self.url.clone(),
            reason,
            text: text.chars().take(200).collect(),
        };
        let content = match serde_json::from_str::<Value>(&text) {
            Ok(v) => v["choices"][0]["message"]["content"].as_str().map(str::to_string),
            Err(e) => return Attempt::Done(Err(unparsable(format!("not JSON: {e}")))),
        };
        let Some(content) = content else {
            return Attempt::Done(Err(unparsable("no choices[0].message.content".into())));
        };
        Attempt::Done(parse_score(&content, self.cfg.scale).map_err(|reason| JudgeError::Unparsable {
            url: self.url.clone(),
            reason,
            text: content.chars().take(200).collect(),
        }))
    }

    /// The cache key and prompt of a request.
    fn keyed(&self, req: &JudgeRequest) -> (u64, String) {
        let prompt = fill(&self.cfg.prompt, req);
        let mut h = DefaultHasher::new();
        (&self.cfg.model, &prompt).hash(&mut h);
        (h.finish(), prompt)
    }

    /// One prompt, through the cache, with retries.
    fn one(&self, key: u64, prompt: &str) -> Result<f64, JudgeError> {
        if let Some(&hit) = self.cache.lock().ok().and_then(|c| c.get(&key).copied()).as_ref() {
            return Ok(hit);
        }
        let body = json!({
            "model": self.cfg.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": self.cfg.max_tokens,
            "temperature": 0,
        })
        .to_string();
        let mut backoff = Duration::from_millis(self.cfg.backoff_ms);
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.attempt(&body, attempts) {
                Attempt::Done(result) => {
                    if let (Ok(score), Ok(mut cache)) = (&result, self.cache.lock()) {
                        cache.insert(key, *score);
                    }
                    return result;
                }
                Attempt::Retry(err) if attempts > self.cfg.retries => return Err(err),
                Attempt::Retry(err) => {
                    tracing::warn!("{err}; retrying in {backoff:?}");
                    std::thread::sleep(backoff);
                    backoff *= 2;
                }
            }
        }
    }
}

/// Runs `f` over `items` on at most `workers` threads, results in input order.
pub fn concurrently<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    if let Ok(mut out) = results.lock() {
                        out[i] = Some(r);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default().into_iter().flatten().collect()
}

impl Judge for HttpJudge {
    fn score(&self, requests: &[JudgeRequest]) -> Vec<Result<f64, JudgeError>> {
        // Identical requests in one batch are sent once.
        let keyed: Vec<(u64, String)> = requests.iter().map(|r| self.keyed(r)).collect();
        let mut unique: Vec<&(u64, String)> = Vec::new();
        for k in &keyed {
            if !unique.iter().any(|u| u.0 == k.0) {
                unique.push(k);
            }
        }
        let scored = concurrently(&unique, self.cfg.concurrency, |(key, prompt)| {
            self.one(*key, prompt).or_else(|e| match self.cfg.fallback {
                Some(f) => {
                    tracing::warn!("{e}; using the fallback score {f}");
                    Ok(f)
                }
                None => Err(e),
            })
        });
        keyed
            .iter()
            .map(|(key, _)| {
                let at = unique.iter().position(|u| u.0 == *key).unwrap_or(0);
                scored.get(at).cloned().unwrap_or_else(|| {
                    Err(JudgeError::Transport { url: self.url.clone(), reason: "worker lost".into(), attempts: 0 })
                })
            })
            .collect()
    }
}
