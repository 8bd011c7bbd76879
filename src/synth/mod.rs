//! A procedurally generated tool-use task set over the built-in tools (`env::builtin`): single
//! calls (calculator, unit conversion, key-value store, files) and two-call requests, in a few
//! phrasings each, and multi-turn conversations ([`multi_turn`]). The same seed gives the same
//! tasks; the train and held-out splits draw values from different streams, so held-out
//! requests are new combinations. The teachers' demonstrations of every task are here too.

pub mod multi_turn;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::corpus::Category;
use crate::data::answer::ExpectedCall;
use crate::data::task::{Message, Role, Task};
use crate::env::Environment;
use crate::env::builtin::{BuiltinEnv, tools};

/// Which split: the generated corpus's (held-out prompts come from another random stream).
pub use crate::corpus::Split;

const UNITS: [(&str, &str); 12] = [
    ("km", "m"),
    ("m", "cm"),
    ("mi", "km"),
    ("ft", "m"),
    ("in", "cm"),
    ("kg", "g"),
    ("lb", "kg"),
    ("oz", "g"),
    ("h", "min"),
    ("day", "h"),
    ("c", "f"),
    ("f", "c"),
];
const KEYS: [&str; 8] = ["color", "city", "pet", "car", "team", "food", "song", "book"];
const VALUES: [&str; 10] = ["red", "paris", "cat", "tesla", "ajax", "pasta", "hello", "dune", "blue", "rome"];
const FILES: [&str; 6] = ["notes.txt", "todo.txt", "plan.md", "log.txt", "a/b.txt", "list.md"];

fn args(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), json!([v.clone()]))).collect()
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// One request and its expected calls.
fn draw(rng: &mut ChaCha8Rng) -> (String, Vec<ExpectedCall>) {
    let kind = rng.random_range(0..6);
    let convert = |rng: &mut ChaCha8Rng| {
        let (from, to) = *pick(rng, &UNITS);
        let v = rng.random_range(1..100);
        (v, from, to)
    };
    let convert_call = |v: i64, from: &str, to: &str| -> ExpectedCall {
        ("convert_units".into(), args(&[("value", json!(v)), ("from_unit", json!(from)), ("to_unit", json!(to))]))
    };
    match kind {
        0 => {
            let (a, b) = (rng.random_range(2..100), rng.random_range(2..100));
            let op = *pick(rng, &["+", "-", "*"]);
            let expr = format!("{a} {op} {b}");
            let text = match rng.random_range(0..3) {
                0 => format!("What is {expr}?"),
                1 => format!("Compute {expr}."),
                _ => format!("calculate {expr}"),
            };
            (text, vec![("calculator".into(), args(&[("expression", json!(expr))]))])
        }
        1 => {
            let (v, from, to) = convert(rng);
            let text = match rng.random_range(0..2) {
                0 => format!("Convert {v} {from} to {to}."),
                _ => format!("How many {to} is {v} {from}?"),
            };
            (text, vec![convert_call(v, from, to)])
        }
        2 => {
            let (k, v) = (*pick(rng, &KEYS), *pick(rng, &VALUES));
            let text = match rng.random_range(0..2) {
                0 => format!("Remember that my {k} is {v}."),
                _ => format!("Store {v} as my {k}."),
            };
            (text, vec![("kv_set".into(), args(&[("key", json!(k)), ("value", json!(v))]))])
        }
        3 => {
            let k = *pick(rng, &KEYS);
            (format!("What is my {k}?"), vec![("kv_get".into(), args(&[("key", json!(k))]))])
        }
        4 => {
            let (f, v) = (*pick(rng, &FILES), *pick(rng, &VALUES));
            let (text, call) = match rng.random_range(0..2) {
                0 => (
                    format!("Write {v} to {f}."),
                    ("fs_write".into(), args(&[("path", json!(f)), ("content", json!(v))])),
                ),
                _ => (format!("Read the file {f}."), ("fs_read".into(), args(&[("path", json!(f))]))),
            };
            (text, vec![call])
        }
        _ => {
            let (a, b) = (convert(rng), convert(rng));
            let text = format!("Convert {} {} to {}, and {} {} to {}.", a.0, a.1, a.2, b.0, b.1, b.2);
            (text, vec![convert_call(a.0, a.1, a.2), convert_call(b.0, b.1, b.2)])
        }
    }
}

/// The built-in tools' schemas as tasks hold them: bare, as `task::load` stores them.
fn schemas() -> Vec<Value> {
    tools().into_iter().map(|t| t["function"].clone()).collect()
}

/// `n` tasks of `split` from `seed`.
pub fn tasks(seed: u64, split: Split, n: usize) -> Vec<Task> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(match split {
        Split::Train => 1,
        Split::HeldOut => 2,
    });
    let prefix = match split {
        Split::Train => "train",
        Split::HeldOut => "heldout",
    };
    let schemas = schemas();
    (0..n)
        .map(|i| {
            let (text, calls) = draw(&mut rng);
            Task {
                id: format!("{prefix}-{i}"),
                messages: vec![Message { role: Role::User, content: text }],
                tools: schemas.clone(),
                answers: vec![calls],
                category: Some("builtin".into()),
                ..Task::default()
            }
        })
        .collect()
}

/// `n` tasks of `split` from `seed`, categories drawn in turn from `categories` (the corpus's
/// five when empty): `multi_turn` from [`multi_turn::tasks`], the others from
/// [`crate::corpus::tasks`]. Without `multi_turn` these are exactly `corpus::tasks`'.
pub fn mixed(seed: u64, split: Split, n: usize, categories: &[Category]) -> Vec<Task> {
    let multi = |c: &Category| *c == Category::MultiTurn;
    if !categories.iter().any(multi) {
        return crate::corpus::tasks(seed, split, n, categories);
    }
    let is_multi = |i: usize| multi(&categories[i % categories.len()]);
    let n_multi = (0..n).filter(|&i| is_multi(i)).count();
    let mut turns = multi_turn::tasks(seed, split, n_multi).into_iter();
    // `corpus::tasks` takes the other categories in turn (it leaves `multi_turn` out).
    let mut others = crate::corpus::tasks(seed, split, n - n_multi, categories).into_iter();
    (0..n).filter_map(|i| if is_multi(i) { turns.next() } else { others.next() }).collect()
}

/// `tasks` whose prompts list `n` of the built-in tools instead of all nine: each task's own
/// tools, then others drawn at random (from `seed` and the task's index) up to `n`, in the order
/// of [`tools`]. A shorter prompt: a small model on a CPU trains several times faster on it.
/// `n = 0` keeps them all.
pub fn fewer_tools(mut tasks: Vec<Task>, n: usize, seed: u64) -> Vec<Task> {
    if n == 0 {
        return tasks;
    }
    for (i, t) in tasks.iter_mut().enumerate() {
        let name = |f: &Value| f["name"].as_str().unwrap_or_default().to_string();
        let mut keep: Vec<String> = t.answers.iter().flatten().map(|(n, _)| n.clone()).collect();
        let mut others: Vec<String> = t.tools.iter().map(name).filter(|n| !keep.contains(n)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xF7 ^ ((i as u64) << 20));
        let own = t.tools.iter().filter(|f| keep.contains(&name(f))).count();
        for _ in own..n {
            if others.is_empty() {
                break;
            }
            keep.push(others.swap_remove(rng.random_range(0..others.len())));
        }
        t.tools.retain(|f| keep.contains(&name(f)));
    }
    tasks
}

/// The demonstration reply of a task: a short reasoning naming the tool and the values it
/// passes (`<think>Use convert_units with 5, "km", "m".</think>`), then the calls with their first
/// acceptable values in the `<tool_call>` form.
pub fn demonstration(task: &Task) -> String {
    teacher_reply(task, false)
}

/// The name under which the careless teacher calls `convert_units`: a tool that does not exist.
pub const HALLUCINATED_TOOL: &str = "unit_converter";

/// The reply of the built-in warm-up's deliberately imperfect teacher: with `careless` set, its
/// reasoning names `convert_units` rightly, but its call names a tool that is not among the tools
/// ([`HALLUCINATED_TOOL`]), with the right arguments. Imitation learns to write the wrong name
/// as often as the teacher did; the outcome checker scores such a call 0, so RL has one known
/// mistake to unlearn: a single token (the call's name) whose right form imitation also saw, in
/// the same context. Replies without a `convert_units` call are always right.
pub fn teacher_reply(task: &Task, careless: bool) -> String {
    teacher_turn(task, 0, careless)
}

/// The teacher's first message of user turn `k` ([`teacher_reply`] for the turn's answers).
pub fn teacher_turn(task: &Task, k: usize, careless: bool) -> String {
    let turn = task.answers.get(k).map_or(&[][..], Vec::as_slice);
    // The checker's oracle: optional arguments left out, nested values unwrapped.
    let oracle = crate::reward::bfcl::first_acceptable(task.language, task.checker_functions(), turn);
    if oracle.is_empty() {
        return format!("<think>None of the offered tools fits this request.</think>\n{NO_TOOL_FITS}");
    }
    let mut think = Vec::new();
    let mut calls = Vec::new();
    for mut call in oracle {
        for v in call.arguments.values_mut() {
            whole_as_integer(v);
        }
        // Strings quoted as the call writes them: a model copies its reasoning's values into
        // the call, and values planned bare came out bare (`"place1":San Francisco`, invalid
        // JSON: 117 of BFCL's 1,000 call items for the e7 warm-up).
        let values: Vec<String> = call.arguments.values().map(Value::to_string).collect();
        think.push(format!("Use {} with {}.", call.name, values.join(", ")));
        if careless && call.name == "convert_units" {
            call.name = HALLUCINATED_TOOL.to_string();
        }
        calls.push(call.render());
    }
    format!("<think>{}</think>\n{}", think.join(" "), calls.join("\n"))
}

/// A whole number written as an integer (`80`, not `80.0`), as the request says it: the checker
/// takes an integer for a `number` parameter (Python promotes `int` to `float`), while an
/// integer parameter takes no `80.0`. A model that saw `80.0` for whole numbers writes it for
/// integer parameters too (BFCL `parallel_4`'s weight). Only top-level arguments: the checker
/// promotes no nested value.
fn whole_as_integer(v: &mut Value) {
    if let Some(x) = v.as_f64().filter(|x| v.is_f64() && x.fract() == 0.0 && x.abs() < 1e15) {
        *v = Value::from(x as i64);
    }
}

/// The teacher's answer when no offered tool serves the request.
pub const NO_TOOL_FITS: &str = "No tool fits this request.";

/// The teacher's episode of a task after the task's messages: per user turn, its reply
/// ([`teacher_turn`]), and when it has calls, the built-in tools' results (`tool` messages) and
/// its closing message ([`followup_reply`]); then the task's next follow-up (`user`), on one
/// environment's state throughout.
pub fn teacher_episode(task: &Task, careless: bool) -> Vec<Message> {
    let reply = teacher_reply(task, careless);
    // Tasks with other tools than the built-in ones are single messages (no environment).
    if !crate::env::builtin::serves(task) {
        return vec![Message { role: Role::Assistant, content: reply }];
    }
    let mut env = BuiltinEnv::default();
    let mut conversation = task.messages.clone();
    // The built-in environment accepts every task; a step only fails out of order.
    if env.reset(task).is_err() {
        return vec![Message { role: Role::Assistant, content: reply }];
    }
    for k in 0..task.answers.len().max(1) {
        let reply = teacher_turn(task, k, careless);
        let calls = crate::tools::parse::parse(&reply).calls;
        conversation.push(Message { role: Role::Assistant, content: reply });
        // A reply without calls ends the turn itself.
        if !calls.is_empty() {
            if let Ok(step) = env.step(&calls) {
                conversation.extend(step.messages);
            }
            conversation.push(Message { role: Role::Assistant, content: followup_reply(&conversation) });
        }
        match env.step(&[]) {
            Ok(step) if !step.done => conversation.extend(step.messages),
            _ => break,
        }
    }
    conversation.split_off(task.messages.len())
}

/// The teacher's message once the tools have answered: `The call failed.` when a result of the
/// last calls is an error (`error: …`), else `Done.`
pub fn followup_reply(conversation: &[Message]) -> String {
    let results = conversation.iter().rev().take_while(|m| m.role == Role::Tool);
    let failed = results.into_iter().any(|m| m.content.starts_with("error:"));
    if failed { "The call failed.".into() } else { "Done.".into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::outcome::{Expectation, score};
    use crate::tools::parse::parse;

    #[test]
    fn splits_are_seeded_disjoint_streams_and_demonstrations_score_full_marks() {
        let train = tasks(7, Split::Train, 300);
        assert_eq!(train, tasks(7, Split::Train, 300), "same seed, same tasks");
        let held = tasks(7, Split::HeldOut, 100);
        let texts: std::collections::HashSet<&str> = train.iter().map(|t| t.messages[0].content.as_str()).collect();
        let fresh = held.iter().filter(|t| !texts.contains(t.messages[0].content.as_str())).count();
        assert!(fresh > 50, "most held-out requests are new: {fresh}/100");
        for t in train.iter().chain(&held) {
            let parsed = parse(&demonstration(t));
            assert!(parsed.think.as_deref().is_some_and(|th| th.starts_with("Use ")), "{}", demonstration(t));
            let want = Expectation {
                functions: &t.tools,
                expected: &t.answers[0],
                language: crate::data::answer::Language::Python,
            };
            let s = score(&parsed, want);
            assert_eq!(s.bfcl, 1.0, "{}: {} → {:?}", t.id, demonstration(t), s);
            assert_eq!(teacher_reply(t, false), demonstration(t));
        }
    }

    #[test]
    fn demonstrations_write_whole_numbers_as_integers_and_still_score_full_marks() {
        use crate::corpus::{Category, tasks as corpus_tasks};
        let mut whole = 0;
        for t in corpus_tasks(3, Split::Train, 400, &Category::ALL) {
            let expected_floats: Vec<f64> = t.answers[0]
                .iter()
                .flat_map(|(_, args)| args.values())
                .filter_map(|acc| acc.as_array()?.first()?.as_f64().filter(|_| acc[0].is_f64()))
                .collect();
            whole += expected_floats.iter().filter(|x| x.fract() == 0.0).count();
            let demo = demonstration(&t);
            let parsed = parse(&demo);
            for call in &parsed.calls {
                for v in call.arguments.values() {
                    let x = v.as_f64().filter(|_| v.is_f64());
                    assert!(x.is_none_or(|x| x.fract() != 0.0), "{}: {demo}", t.id);
                }
            }
            let want = Expectation { functions: t.checker_functions(), expected: &t.answers[0], language: t.language };
            assert_eq!(score(&parsed, want).bfcl, 1.0, "{}: {demo}", t.id);
        }
        assert!(whole > 10, "the corpus has whole-number floats to write: {whole}");
    }

    #[test]
    fn the_reasoning_quotes_string_values_as_the_call_writes_them() {
        use crate::corpus::{Category, tasks as corpus_tasks};
        let mut strings = 0;
        for t in corpus_tasks(4, Split::Train, 200, &Category::ALL) {
            let demo = demonstration(&t);
            let think = demo.split("</think>").next().unwrap_or_default();
            for call in &parse(&demo).calls {
                for v in call.arguments.values() {
                    // Every value is planned in its JSON form: `"San Francisco"`, never bare.
                    assert!(think.contains(&v.to_string()), "{}: {v} not planned as written in {think}", t.id);
                    if let Value::String(s) = v {
                        assert!(!think.contains(&format!(" {s},")) && !think.contains(&format!(" {s}.")), "{think}");
                        strings += 1;
                    }
                }
            }
        }
        assert!(strings > 100, "the corpus has string arguments to plan: {strings}");
    }

    #[test]
    fn fewer_tools_keeps_each_tasks_own_and_fills_up_to_n() {
        let all = tasks(9, Split::Train, 200);
        assert_eq!(fewer_tools(all.clone(), 0, 9), all, "0 keeps every tool");
        let few = fewer_tools(all.clone(), 3, 9);
        assert_eq!(few, fewer_tools(all.clone(), 3, 9), "seeded");
        let order: Vec<Value> = tools().into_iter().map(|t| t["function"]["name"].clone()).collect();
        let mut distractors = std::collections::HashSet::new();
        for (t, f) in all.iter().zip(&few) {
            let names: Vec<Value> = f.tools.iter().map(|s| s["name"].clone()).collect();
            assert_eq!(names.len(), 3, "{}: {names:?}", t.id);
            for (name, _) in &t.answers[0] {
                assert!(names.contains(&json!(name)), "{}: its own tool {name} is listed", t.id);
            }
            let mut sorted = names.clone();
            sorted.sort_by_key(|n| order.iter().position(|o| o == n));
            assert_eq!(names, sorted, "{}: in the order of tools()", t.id);
            distractors.extend(names.iter().map(Value::to_string));
            let want = Expectation {
                functions: &f.tools,
                expected: &f.answers[0],
                language: crate::data::answer::Language::Python,
            };
            assert_eq!(score(&parse(&demonstration(f)), want).bfcl, 1.0, "{}", f.id);
        }
        assert_eq!(distractors.len(), order.len(), "every tool appears as a distractor somewhere");
    }

    #[test]
    fn the_careless_teacher_only_renames_convert_units() {
        let all = tasks(7, Split::Train, 100);
        for t in &all {
            let careless = parse(&teacher_reply(t, true));
            let right = parse(&demonstration(t));
            assert_eq!(careless.calls.len(), right.calls.len(), "{}", t.id);
            for (c, r) in careless.calls.iter().zip(&right.calls) {
                assert_eq!(c.arguments, r.arguments, "{}: same arguments", t.id);
                let want = if r.name == "convert_units" { HALLUCINATED_TOOL } else { r.name.as_str() };
                assert_eq!(c.name, want, "{}", t.id);
            }
            assert_eq!(careless.think, right.think, "{}: the reasoning names the right tool", t.id);
        }
        assert!(all.iter().any(|t| teacher_reply(t, true) != demonstration(t)), "some replies change");
        assert!(all.iter().any(|t| teacher_reply(t, true) == demonstration(t)), "others do not");
        for t in &all {
            let careful = teacher_episode(t, false);
            let n = t.answers[0].len();
            assert_eq!(careful.len(), n + 2, "{}: reply, one result per call, closing message", t.id);
            let results = &careful[1..=n];
            let failed = results.iter().any(|m| m.content.starts_with("error:"));
            let reads = t.answers[0].iter().any(|(name, _)| name == "kv_get" || name == "fs_read");
            assert_eq!(failed, reads, "{}: only reads of a fresh store fail: {results:?}", t.id);
            let closing = if failed { "The call failed." } else { "Done." };
            assert_eq!((careful[n + 1].role, careful[n + 1].content.as_str()), (Role::Assistant, closing));
            let careless = teacher_episode(t, true);
            let renamed = t.answers[0].iter().any(|(name, _)| name == "convert_units");
            assert_eq!(careless.iter().any(|m| m.content.contains("unknown tool")), renamed, "{}", t.id);
        }
        let names: Vec<Value> = tools().into_iter().map(|t| t["function"]["name"].clone()).collect();
        assert!(!names.contains(&json!(HALLUCINATED_TOOL)), "the hallucinated tool does not exist");
    }
}
