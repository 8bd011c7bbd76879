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
            .timeout_global(Duration::try_from_secs_f64(cfg.timeout_s).ok())
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
                    backoff = backoff.saturating_mul(2);
                }
            }
        }
    }
}

/// Runs `f` over `items` on at most `workers` threads: slot `i` holds the result of `items[i]`,
/// or `None` when `f` panicked on it (the other items are still run, and stay in their slots).
pub fn concurrently<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<Option<R>> {
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.clamp(1, items.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(item) = items.get(i) else { break };
                        if let Ok(r) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(item))) {
                            done.push((i, r));
                        }
                    }
                    done
                })
            })
            .collect();
        for handle in handles {
            for (i, r) in handle.join().unwrap_or_default() {
                if let Some(slot) = slots.get_mut(i) {
                    *slot = Some(r);
                }
            }
        }
    });
    slots
}

/// One result per request: request `i` gets `scored[unique_of[i]]`; an empty slot is an error
/// for exactly the requests that map to it.
fn line_up(unique_of: &[usize], scored: &[Option<Result<f64, JudgeError>>], url: &str) -> Vec<Result<f64, JudgeError>> {
    unique_of
        .iter()
        .map(|&u| match scored.get(u) {
            Some(Some(result)) => result.clone(),
            _ => Err(JudgeError::Lost { url: url.to_string() }),
        })
        .collect()
}

impl Judge for HttpJudge {
    fn score(&self, requests: &[JudgeRequest]) -> Vec<Result<f64, JudgeError>> {
        // Identical requests in one batch are sent once: request i is unique prompt unique_of[i].
        let mut unique: Vec<(u64, String)> = Vec::new();
        let mut unique_of = Vec::with_capacity(requests.len());
        for r in requests {
            let (key, prompt) = self.keyed(r);
            let at = match unique.iter().position(|u| u.0 == key) {
                Some(at) => at,
                None => {
                    unique.push((key, prompt));
                    unique.len() - 1
                }
            };
            unique_of.push(at);
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
        line_up(&unique_of, &scored, &self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_stay_in_their_slots_when_an_item_fails() {
        let items: Vec<usize> = (0..40).collect();
        for workers in [1, 3, 8] {
            let out = concurrently(&items, workers, |&i| {
                assert!(i % 7 != 3, "item {i} fails");
                i * 10
            });
            assert_eq!(out.len(), items.len());
            for (i, slot) in out.iter().enumerate() {
                let want = if i % 7 == 3 { None } else { Some(i * 10) };
                assert_eq!(*slot, want, "slot {i} with {workers} workers");
            }
        }
        assert!(concurrently(&[] as &[usize], 4, |&i| i).is_empty());
    }

    #[test]
    fn a_missing_score_is_an_error_for_its_own_requests_only() {
        // Requests 0 and 2 share unique prompt 0; request 1 is prompt 1 (lost); request 3 is prompt 2.
        let scored = vec![Some(Ok(0.25)), None, Some(Ok(0.75))];
        let out = line_up(&[0, 1, 0, 2], &scored, "http://judge");
        assert_eq!(out.len(), 4);
        assert_eq!(
            (out[0].as_ref().ok(), out[2].as_ref().ok(), out[3].as_ref().ok()),
            (Some(&0.25), Some(&0.25), Some(&0.75))
        );
        let err = out[1].as_ref().expect_err("lost").to_string();
        assert!(err.contains("http://judge") && err.contains("no score"), "{err}");
    }
}
