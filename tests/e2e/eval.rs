//! `awpo eval` as a pipeline: the oracle pseudo-model (reference answers written as tool-call
//! text, parsed back, checked) scores 100% on BFCL's single-turn categories, a scripted wrong
//! model scores 0%, the multi-turn harness plays BFCL's ground truth to a pass and a truncated
//! ground truth to a fail, a killed eval resumes from its results file, and `--compare` sets
//! two results side by side.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use awpo::eval::items::{SINGLE_TURN, bfcl_data_dir, bfcl_items};
use awpo::eval::responder::render_calls;
use awpo::eval::results::{self, read};
use awpo::eval::{EvalOptions, ItemResult, Oracle, Reply, Request, Responder, run};
use awpo::model::ModelError;
use awpo::tools::ToolCall;

fn awpo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_awpo")).args(args).output().expect("the binary runs")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("awpo-eval-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn wheel() -> PathBuf {
    crate::common::asset("bfcl", "bfcl-eval-2026.3.23")
}

fn collect(items: &[awpo::eval::EvalItem], responder: &mut dyn Responder, opts: &EvalOptions) -> Vec<ItemResult> {
    let mut out = Vec::new();
    run(items, responder, opts, &mut |r| {
        out.push(r);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    out
}

/// Calls the wrong function: each reference call renamed; where no call is right, a call.
struct Wrong;

impl Responder for Wrong {
    fn respond(&mut self, requests: &[Request<'_>], samples: usize) -> Result<Vec<Reply>, ModelError> {
        Ok(requests
            .iter()
            .map(|r| {
                let calls: Vec<ToolCall> = if r.reference.is_empty() {
                    let name = r.tools.first().and_then(|t| t["name"].as_str()).unwrap_or("f").to_string();
                    vec![ToolCall { name, ..ToolCall::default() }]
                } else {
                    r.reference.iter().map(|c| ToolCall { name: format!("{}_x", c.name), ..c.clone() }).collect()
                };
                Reply { prompt: String::new(), texts: vec![render_calls(&calls); samples] }
            })
            .collect())
    }
}

/// Answers in prose, never calling.
struct Prose;

impl Responder for Prose {
    fn respond(&mut self, requests: &[Request<'_>], samples: usize) -> Result<Vec<Reply>, ModelError> {
        Ok(requests.iter().map(|_| Reply { prompt: String::new(), texts: vec!["It is 42.".into(); samples] }).collect())
    }
}

/// The oracle, but each step's last reference call is dropped.
struct Truncated;

impl Responder for Truncated {
    fn respond(&mut self, requests: &[Request<'_>], samples: usize) -> Result<Vec<Reply>, ModelError> {
        Ok(requests
            .iter()
            .map(|r| {
                let calls = &r.reference[..r.reference.len().saturating_sub(1)];
                let text = if calls.is_empty() { "Done.".to_string() } else { render_calls(calls) };
                Reply { prompt: String::new(), texts: vec![text; samples] }
            })
            .collect())
    }
}

#[test]
fn the_oracle_scores_everything_and_a_wrong_model_nothing() {
    let dir = bfcl_data_dir(&wheel());
    let categories: Vec<String> = SINGLE_TURN.iter().map(|c| c.to_string()).collect();
    let items = bfcl_items(&dir, &categories).unwrap_or_else(|e| panic!("{e}"));
    assert!(items.len() > 3600, "{} items", items.len());
    let opts = EvalOptions { batch: 64, ..EvalOptions::default() };
    let oracle = collect(&items, &mut Oracle, &opts);
    assert_eq!(oracle.len(), items.len(), "one result per item");
    // Ground truths BFCL's own checker rejects (its data, not the harness): mixed-type Java lists
    // BFCL's converter types as strings; required parameters whose acceptable lists are empty
    // (live_simple_112: `"acc_routing_start": []`); expected parameters the schema lacks
    // (live_multiple_862: `journey_start_time` is not a parameter of `Trains_1_FindTrains`).
    const UNPASSABLE: [&str; 7] = [
        "simple_java_36",
        "simple_java_65",
        "live_simple_106-63-0",
        "live_simple_112-68-0",
        "live_multiple_507-149-4",
        "live_multiple_862-181-3",
        "live_multiple_964-207-0",
    ];
    let mut misses: Vec<String> =
        oracle.iter().filter(|r| !r.correct).map(|r| format!("{} {:?} {:?}", r.id, r.error_type, r.reason)).collect();
    misses.sort();
    let missed: Vec<&str> = misses.iter().filter_map(|m| m.split(' ').next()).collect();
    let mut known = UNPASSABLE.to_vec();
    known.sort_unstable();
    assert_eq!(missed, known, "the oracle misses only BFCL's own unpassable items: {misses:#?}");
    let rows = results::table(&oracle);
    eprintln!("{}", results::format_table(&rows));
    for row in rows.iter().filter(|r| SINGLE_TURN.contains(&r.category.as_str())) {
        let unpassable =
            UNPASSABLE.iter().filter(|id| id.rsplit_once('_').is_some_and(|(c, _)| c == row.category)).count();
        assert_eq!(row.correct + unpassable, row.n, "{}: the oracle scores every passable item", row.category);
    }
    // Every reply went through the parser: the calls read back are the reference calls.
    let first = oracle.iter().find(|r| r.id == "simple_python_0").expect("simple_python_0");
    assert!(first.output[0].contains("<tool_call>") && first.calls[0].len() == 1, "{first:?}");
    // Relevance takes any call as right, so a wrong call scores there: prose is its wrong answer.
    let (relevance, others): (Vec<_>, Vec<_>) = items.into_iter().partition(|i| i.category() == "live_relevance");
    let wrong = collect(&others, &mut Wrong, &opts);
    let right: Vec<&str> = wrong.iter().filter(|r| r.correct).map(|r| r.id.as_str()).collect();
    assert!(right.is_empty(), "a wrong model scored on {right:?}");
    assert!(wrong.iter().all(|r| r.error_type.is_some() && r.reason.is_some()), "every miss says why");
    let prose = collect(&relevance, &mut Prose, &opts);
    assert!(!prose.is_empty() && prose.iter().all(|r| !r.correct), "no call is wrong on live_relevance");
}

#[test]
fn multi_turn_ground_truth_passes_and_a_truncated_one_fails() {
    let data = bfcl_data_dir(&wheel());
    let mut items = bfcl_items(&data, &["multi_turn_base".to_string()]).unwrap_or_else(|e| panic!("{e}"));
    items.truncate(4);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bfcl_env.py");
    let env = awpo::env::process::ProcessConfig {
        program: PathBuf::from("python3"),
        args: vec![script.into(), "--bfcl-dir".into(), wheel().display().to_string()],
        timeout: std::time::Duration::from_secs(120),
    };
    let opts = EvalOptions { env: Some(env), ..EvalOptions::default() };
    let oracle = collect(&items, &mut Oracle, &opts);
    for r in &oracle {
        assert!(r.correct, "{}: {:?} {:?}", r.id, r.error_type, r.reason);
        assert!(r.output.iter().any(|m| m.starts_with("tool: ")), "{}: tool results were seen", r.id);
    }
    let truncated = collect(&items, &mut Truncated, &opts);
    for r in &truncated {
        assert!(!r.correct && r.error_type.is_some(), "{}: a truncated trajectory fails", r.id);
        eprintln!("{}: {:?}", r.id, r.error_type);
    }
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).expect("results").lines().count()
}

#[test]
fn a_killed_eval_resumes_and_compare_reads_two_runs() {
    let dir = temp("resume");
    let out = dir.join("oracle.jsonl");
    let bfcl = wheel().display().to_string();
    let args = |out: &Path, model: &str| -> Vec<String> {
        ["eval", "--model", model, "--categories", "simple_python,irrelevance", "--limit", "12", "--bfcl-dir", &bfcl]
            .iter()
            .map(|s| s.to_string())
            .chain(["--out".to_string(), out.display().to_string()])
            .collect()
    };
    let run = |a: Vec<String>| awpo(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let first = run(args(&out, "oracle"));
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let table = String::from_utf8_lossy(&first.stdout);
    assert!(table.contains("simple_python") && table.contains("100.0%"), "{table}");
    let (_, full) = read(&out).expect("results");
    assert_eq!((full.len(), lines(&out)), (24, 25), "header + one line per item");
    // What a kill leaves: some complete lines and a torn one.
    let text = std::fs::read_to_string(&out).expect("results");
    let keep: Vec<&str> = text.lines().take(8).collect();
    std::fs::write(&out, format!("{}\n{{\"id\": \"simple_py", keep.join("\n"))).expect("truncate");
    let resumed = run(args(&out, "oracle"));
    let err = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success() && err.contains("7 items already scored, 17 to go"), "{err}");
    let (_, after) = read(&out).expect("results");
    let mut ids: Vec<&str> = after.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((after.len(), ids.len()), (24, 24), "every item once");
    // Other settings cannot continue the file; a missing model leaves no file behind.
    let other = run(args(&out, "oracle").into_iter().chain(["--max-new-tokens".into(), "64".into()]).collect());
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(!other.status.success() && err.contains("max_new_tokens") && !err.contains("panicked"), "{err}");
    let missing = dir.join("missing.jsonl");
    let bad = run(args(&missing, "/nonexistent/model"));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("/nonexistent/model") && !missing.exists(), "{err}");
    // A wrong answer per item: a results file in which B lost every simple_python item.
    let worse = dir.join("worse.jsonl");
    let header = std::fs::read_to_string(&out).expect("results").lines().next().expect("header").to_string();
    let body: Vec<String> = after
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.correct &= r.category != "simple_python";
            serde_json::to_string(&r).expect("json")
        })
        .collect();
    std::fs::write(&worse, format!("{header}\n{}\n", body.join("\n"))).expect("write");
    let cmp = awpo(&["eval", "--compare", &out.display().to_string(), &worse.display().to_string()]);
    let text = String::from_utf8_lossy(&cmp.stdout);
    assert!(cmp.status.success(), "{}", String::from_utf8_lossy(&cmp.stderr));
    let row = text.lines().find(|l| l.starts_with("simple_python")).unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("100.0%") && row.contains("-100.0%"), "{row}");
    assert!(text.lines().any(|l| l.starts_with("irrelevance") && l.contains("+0.0%")), "{text}");
}

/// The oracle on a conversation's first user turn, prose after.
struct FirstTurnOnly;

impl Responder for FirstTurnOnly {
    fn respond(&mut self, requests: &[Request<'_>], samples: usize) -> Result<Vec<Reply>, ModelError> {
        let first = |r: &Request<'_>| r.messages.iter().filter(|m| m.role == awpo::data::task::Role::User).count() == 1;
        Ok(requests
            .iter()
            .map(|r| {
                let text = if first(r) { render_calls(r.reference) } else { "It is 42.".into() };
                Reply { prompt: String::new(), texts: vec![text; samples] }
            })
            .collect())
    }
}

/// The oracle, counting its calls and the largest batch it was asked.
#[derive(Default)]
struct Counting {
    calls: usize,
    largest: usize,
}

impl Responder for Counting {
    fn respond(&mut self, requests: &[Request<'_>], samples: usize) -> Result<Vec<Reply>, ModelError> {
        self.calls += 1;
        self.largest = self.largest.max(requests.len());
        Oracle.respond(requests, samples)
    }
}

#[test]
fn multi_turn_task_files_are_played_turn_by_turn_on_the_builtin_tools() {
    let dir = temp("conversation");
    let file = dir.join("multi.jsonl");
    let made =
        awpo(&["data", "synth", "--category", "multi_turn", "--count", "24", "--out", &file.display().to_string()]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let items = awpo::eval::items::task_items(&file).unwrap_or_else(|e| panic!("{e}"));
    assert!(items.iter().all(|i| i.kind == awpo::eval::ItemKind::Conversation && !i.task.followups.is_empty()));
    let opts = EvalOptions::default();
    let oracle = collect(&items, &mut Oracle, &opts);
    assert_eq!(oracle.len(), items.len());
    for r in &oracle {
        assert!(r.correct, "{r:?}");
        assert!(r.output.iter().any(|m| m.starts_with("user: ")), "the follow-up is in the transcript: {r:?}");
    }
    // Played side by side in batches of 8: one call per round, the same results as one by one.
    let mut counting = Counting::default();
    let batched = collect(&items, &mut counting, &EvalOptions { batch: 8, ..EvalOptions::default() });
    let messages: usize = oracle.iter().map(|r| r.output.iter().filter(|m| m.starts_with("assistant")).count()).sum();
    assert!(
        counting.largest == 8 && counting.calls < messages / 4,
        "{} calls, largest {}, {messages} messages",
        counting.calls,
        counting.largest
    );
    let mut one = Counting::default();
    assert_eq!(collect(&items, &mut one, &EvalOptions { batch: 1, ..EvalOptions::default() }), batched);
    assert_eq!((one.largest, one.calls), (1, messages));
    // Values stored in one turn are read back in a later one.
    let read_back =
        oracle.iter().filter(|r| r.output.iter().any(|m| m.starts_with("tool: ") && m != "tool: ok")).count();
    assert!(read_back > 3, "{read_back}");
    for (responder, turn) in [(&mut Prose as &mut dyn Responder, "turn 0"), (&mut FirstTurnOnly, "turn 1")] {
        for r in collect(&items, responder, &opts) {
            assert!(!r.correct && r.reason.as_deref().is_some_and(|w| w.starts_with(turn)), "{turn}: {r:?}");
        }
    }
    // The command: 100% for the oracle.
    let out = dir.join("results.jsonl");
    let file = file.display().to_string();
    let ran =
        awpo(&["eval", "--model", "oracle", "--suite", "tasks", "--tasks", &file, "--out", &out.display().to_string()]);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let (_, scored) = read(&out).unwrap_or_else(|e| panic!("{e}"));
    assert!(scored.len() == items.len() && scored.iter().all(|r| r.correct));
    let _ = std::fs::remove_dir_all(dir);
}

/// A policy that splits each batch across threads (CPU backend) gives the replies one thread
/// gives, sampled ones included: SmolLM2 (GGUF), 5 requests × 2 samples at temperature 1, on 1
/// thread and on 3 (parts of 2, 2 and 1 requests).
#[test]
fn policy_replies_do_not_depend_on_the_threads_that_generate_them() {
    use awpo::data::task::{Message, Role};
    use awpo::eval::Policy;
    use awpo::model::CausalLm;
    use awpo::prompt::{PromptConfig, Prompter};
    use awpo::rollout::{GenerateOptions, Sampling};
    use awpo::tokenizer::TextTokenizer;
    use burn::tensor::Device;

    let path = crate::common::generation::smollm2();
    let model = CausalLm::load(&path, &Device::flex()).unwrap_or_else(|e| panic!("{e}"));
    let policy = |threads: usize| {
        let gguf = awpo::model::gguf::Gguf::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let tokenizer = TextTokenizer::from_gguf(&gguf, &path).unwrap_or_else(|e| panic!("{e}"));
        let prompter = Prompter::new(&tokenizer, &PromptConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        let options = GenerateOptions {
            sampling: Sampling { temperature: 1.0, ..Sampling::default() },
            max_new_tokens: 10,
            seed: 11,
            ..GenerateOptions::default()
        };
        Policy::new(model.clone(), tokenizer, prompter, options).with_threads(threads)
    };
    let tool = serde_json::json!({"name": "get_weather", "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}});
    let tools = [tool];
    let asks = ["Weather in Paris?", "Is it raining in Oslo?", "Hi!", "Weather in Lima and Quito?", "Tell me a joke."];
    let conversations: Vec<Vec<Message>> =
        asks.iter().map(|a| vec![Message { role: Role::User, content: (*a).into() }]).collect();
    let requests: Vec<Request<'_>> =
        conversations.iter().map(|m| Request { messages: m, tools: &tools, reference: &[] }).collect();
    let one = policy(1).respond(&requests, 2).unwrap_or_else(|e| panic!("{e}"));
    let three = policy(3).respond(&requests, 2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one, three, "the same replies on 1 and 3 threads");
    assert!(one.iter().all(|r| r.texts.len() == 2 && r.texts.iter().all(|t| !t.is_empty())), "{one:?}");
    assert!(one.iter().any(|r| r.texts[0] != r.texts[1]), "sampling is live: {one:?}");
    assert!(one.iter().zip(&asks).all(|(r, a)| r.prompt.contains(a)), "each reply answers its own request");
}
