//! The OpenAI-compatible HTTP judge against a real HTTP server on 127.0.0.1 started by the test:
//! success (and the content cache), an answer slower than the timeout, 500s then success,
//! a garbage body, a refused connection, a 401, a missing API key, a fallback, and the
//! concurrency limit; request counts are asserted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use awpo::judge::http::HttpJudge;
use awpo::judge::{Judge, JudgeConfig, JudgeError, JudgeKind, JudgeRequest};
use awpo::tools::ToolCall;

/// One scripted answer: status, body, delay before answering.
type Reply = (u16, String, Duration);

/// A loopback HTTP/1.1 server answering each request with the next scripted reply (the last
/// one repeats). Counts requests, keeps their bodies, tracks the most requests in flight.
struct Server {
    url: String,
    count: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<String>>>,
}

fn serve(replies: Vec<Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let count = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (c, inf, max, b) = (count.clone(), in_flight, max_in_flight.clone(), bodies.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let n = c.fetch_add(1, Ordering::SeqCst);
            let (status, body, delay) = replies[n.min(replies.len() - 1)].clone();
            let (inf, max, b) = (inf.clone(), max.clone(), b.clone());
            std::thread::spawn(move || {
                let now = inf.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut request = vec![0; length];
                let _ = reader.read_exact(&mut request);
                b.lock().expect("bodies").push(String::from_utf8_lossy(&request).into_owned());
                std::thread::sleep(delay);
                // Leave the count before answering: once the client has the answer it may send
                // its next request, which must not find this one still counted.
                inf.fetch_sub(1, Ordering::SeqCst);
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    Server { url, count, max_in_flight, bodies }
}

fn completion(text: &str) -> String {
    serde_json::json!({"choices": [{"message": {"role": "assistant", "content": text}}]}).to_string()
}

fn request(reasoning: &str) -> JudgeRequest {
    JudgeRequest {
        request: "Weather in Paris?".into(),
        tools: vec![serde_json::json!({"type": "function", "function": {"name": "get_weather"}})],
        reasoning: reasoning.into(),
        calls: vec![ToolCall { name: "get_weather".into(), arguments: Default::default() }],
    }
}

fn config(url: &str) -> JudgeConfig {
    JudgeConfig {
        kind: JudgeKind::Http,
        base_url: url.into(),
        model: "judge-model".into(),
        api_key_env: String::new(),
        timeout_s: 5.0,
        retries: 2,
        backoff_ms: 20,
        ..JudgeConfig::default()
    }
}

const OK: Duration = Duration::ZERO;

#[test]
fn http_judge_against_a_loopback_server() {
    // Success; the same request again is served from the cache.
    let s = serve(vec![(200, completion("Sound reasoning.\nScore: 7"), OK)]);
    let judge = HttpJudge::new(&config(&s.url)).expect("judge");
    let scores = judge.score(&[request("I call get_weather for Paris."), request("I call get_weather for Paris.")]);
    assert!(scores.iter().all(|r| matches!(r, Ok(x) if (x - 0.7).abs() < 1e-12)), "{scores:?}");
    assert_eq!(s.count.load(Ordering::SeqCst), 1, "the second request is a cache hit");
    let body: serde_json::Value = serde_json::from_str(&s.bodies.lock().expect("bodies")[0]).expect("JSON body");
    assert_eq!(body["model"], "judge-model");
    let prompt = body["messages"][0]["content"].as_str().expect("prompt");
    assert!(prompt.contains("Weather in Paris?") && prompt.contains("I call get_weather for Paris."), "{prompt}");

    // Slower than the timeout: each attempt times out; retries are bounded.
    let s = serve(vec![(200, completion("Score: 5"), Duration::from_secs(3))]);
    let judge = HttpJudge::new(&JudgeConfig { timeout_s: 0.3, retries: 1, ..config(&s.url) }).expect("judge");
    let start = Instant::now();
    let err = judge.score(&[request("a")]).remove(0).expect_err("timeout");
    assert!(matches!(err, JudgeError::Transport { attempts: 2, .. }) && err.to_string().contains("imeout"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert_eq!(s.count.load(Ordering::SeqCst), 2);

    // Two 500s, then success.
    let s = serve(vec![(500, "oops".into(), OK), (500, "oops".into(), OK), (200, completion("Score: 9"), OK)]);
    let judge = HttpJudge::new(&config(&s.url)).expect("judge");
    assert!(matches!(judge.score(&[request("b")])[0], Ok(x) if (x - 0.9).abs() < 1e-12));
    assert_eq!((s.count.load(Ordering::SeqCst), judge.requests_sent()), (3, 3));

    // Always 500: the last status is reported after retries + 1 attempts.
    let s = serve(vec![(503, "overloaded".into(), OK)]);
    let judge = HttpJudge::new(&config(&s.url)).expect("judge");
    let err = judge.score(&[request("c")]).remove(0).expect_err("503s");
    assert!(err.to_string().contains("HTTP 503 (after 3 attempts): overloaded"), "{err}");
    assert_eq!(s.count.load(Ordering::SeqCst), 3);

    // A garbage body and a reply without a score: errors at once, no retry; a fallback replaces them.
    let s = serve(vec![(200, "<html>not json</html>".into(), OK), (200, completion("I like it a lot"), OK)]);
    let judge = HttpJudge::new(&JudgeConfig { concurrency: 1, ..config(&s.url) }).expect("judge");
    let out = judge.score(&[request("d"), request("e")]);
    assert!(out[0].as_ref().is_err_and(|e| e.to_string().contains("not JSON")), "{out:?}");
    assert!(out[1].as_ref().is_err_and(|e| e.to_string().contains("no `Score: N`")), "{out:?}");
    assert_eq!(s.count.load(Ordering::SeqCst), 2);
    let s = serve(vec![(200, "garbage".into(), OK)]);
    let judge = HttpJudge::new(&JudgeConfig { fallback: Some(0.5), ..config(&s.url) }).expect("judge");
    assert!(matches!(judge.score(&[request("f")])[0], Ok(x) if x == 0.5));

    // 401: not retried.
    let s = serve(vec![(401, "bad key".into(), OK)]);
    let judge = HttpJudge::new(&config(&s.url)).expect("judge");
    assert!(judge.score(&[request("g")])[0].as_ref().is_err_and(|e| e.to_string().contains("HTTP 401")));
    assert_eq!(s.count.load(Ordering::SeqCst), 1);

    // Connection refused: a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let judge = HttpJudge::new(&config(&format!("http://127.0.0.1:{port}/v1"))).expect("judge");
    let err = judge.score(&[request("h")]).remove(0).expect_err("refused");
    assert!(matches!(err, JudgeError::Transport { attempts: 3, .. }), "{err}");

    // The API key variable must exist when named.
    let missing = JudgeConfig { api_key_env: "AWPO_TEST_SURELY_UNSET_KEY".into(), ..config(&s.url) };
    assert!(matches!(HttpJudge::new(&missing), Err(JudgeError::MissingKey(_))));

    // At most `concurrency` requests in flight.
    let s = serve(vec![(200, completion("Score: 3"), Duration::from_millis(150))]);
    let judge = HttpJudge::new(&JudgeConfig { concurrency: 2, ..config(&s.url) }).expect("judge");
    let many: Vec<JudgeRequest> = (0..6).map(|i| request(&format!("reason {i}"))).collect();
    assert!(judge.score(&many).iter().all(|r| matches!(r, Ok(x) if (x - 0.3).abs() < 1e-12)));
    assert_eq!(s.count.load(Ordering::SeqCst), 6);
    assert_eq!(s.max_in_flight.load(Ordering::SeqCst), 2, "two workers, six requests");
}

/// The local judge runs a model through awpo's own stack (the real SmolLM2-135M-Instruct GGUF
/// here, on the CPU backend): a batch of ragged prompts answered greedily and parsed. This model
/// is too small to follow the default prompt's `Score: N` format, which must surface as an
/// unparsable answer (text included) or the configured fallback, never as a made-up score.
#[test]
fn local_judge_runs_the_model_stack() {
    use awpo::judge::local::LocalJudge;
    let path = crate::common::generation::smollm2();
    let device = burn::tensor::Device::flex();
    let short = JudgeConfig {
        kind: JudgeKind::Local,
        local_model: path.display().to_string(),
        prompt: "Rate this reasoning from 0 to 10: '{reasoning}' Answer with a single number.".into(),
        max_tokens: 8,
        ..JudgeConfig::default()
    };
    let judge = LocalJudge::load(&short, &device).unwrap_or_else(|e| panic!("{e}"));
    let requests = [request("The user wants the weather in Paris, so I call get_weather."), request("ok")];
    let scores = judge.score(&requests);
    eprintln!("SmolLM2 as a judge, number prompt: {scores:?}");
    assert!(scores.iter().all(|s| matches!(s, Ok(x) if (0.0..=1.0).contains(x))), "{scores:?}");
    let default = JudgeConfig { prompt: JudgeConfig::default().prompt, max_tokens: 24, ..short.clone() };
    let judge = LocalJudge::load(&default, &device).expect("loads");
    for s in judge.score(&requests[..1]) {
        eprintln!("SmolLM2 as a judge, default prompt: {s:?}");
        match s {
            Ok(x) => assert!((0.0..=1.0).contains(&x)),
            Err(JudgeError::Unparsable { url, text, .. }) => assert!(url == "local" && !text.is_empty()),
            Err(e) => panic!("{e}"),
        }
    }
    let with_fallback = JudgeConfig { fallback: Some(0.5), prompt: "Say hello.".into(), ..default };
    let judge = LocalJudge::load(&with_fallback, &device).expect("loads");
    assert!(matches!(judge.score(&requests[..1])[0], Ok(x) if x == 0.5), "the fallback replaces an unparsable answer");
    let missing = JudgeConfig { local_model: "/nonexistent/judge.gguf".into(), ..short };
    assert!(
        LocalJudge::load(&missing, &device).err().is_some_and(|e| e.to_string().contains("/nonexistent/judge.gguf"))
    );
}
