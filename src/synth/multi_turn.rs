//! Multi-turn tasks over the built-in tools: two or three user turns, each a request with its
//! expected calls, later turns acting on what earlier ones stored (the key-value store and the
//! files keep their state for the whole episode, so "What is my pet?" after "Remember that my
//! pet is a cat." reads `cat` back). The task's first request is its message; the later ones are
//! its `followups`, sent when the model ends a turn without calls. `awpo data synth --category
//! multi_turn` writes them; `data.synth_categories = ["multi_turn", …]` trains on them.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{FILES, KEYS, Split, UNITS, VALUES, args, pick, schemas};
use crate::data::answer::ExpectedCall;
use crate::data::task::{Message, Role, Task};

/// One user turn: the request and its expected calls.
type Turn = (String, Vec<ExpectedCall>);

fn call(name: &str, pairs: &[(&str, Value)]) -> Vec<ExpectedCall> {
    vec![(name.to_string(), args(pairs))]
}

/// One of `phrasings`, its `{k}`, `{v}` and `{f}` filled in.
fn say(rng: &mut ChaCha8Rng, phrasings: &[&str], (k, v, f): (&str, &str, &str)) -> String {
    pick(rng, phrasings).replace("{k}", k).replace("{v}", v).replace("{f}", f)
}

/// A conversation of two or three user turns.
fn conversation(rng: &mut ChaCha8Rng) -> Vec<Turn> {
    let (k, v, f) = (*pick(rng, &KEYS), *pick(rng, &VALUES), *pick(rng, &FILES));
    let kvf = (k, v, f);
    let remember = ["Remember that my {k} is {v}.", "Store {v} as my {k}.", "Please save {v} as my {k}."];
    let recall = ["What is my {k}?", "Remind me, what is my {k}?", "Look up my {k}."];
    let set = call("kv_set", &[("key", json!(k)), ("value", json!(v))]);
    let get = call("kv_get", &[("key", json!(k))]);
    match rng.random_range(0..6) {
        0 => vec![(say(rng, &remember, kvf), set), (say(rng, &recall, kvf), get)],
        1 => {
            let other = VALUES.iter().filter(|&&w| w != v).collect::<Vec<_>>();
            let w = **pick(rng, &other);
            let change = ["Actually, change my {k} to {v}.", "Update my {k} to {v}.", "My {k} is now {v}, save that."];
            let again = ["What is my {k} now?", "And what is my {k} now?"];
            let changed = call("kv_set", &[("key", json!(k)), ("value", json!(w))]);
            vec![(say(rng, &remember, kvf), set), (say(rng, &change, (k, w, f)), changed), (say(rng, &again, kvf), get)]
        }
        2 => {
            let write = ["Write {v} to {f}.", "Save the text {v} in {f}.", "Put {v} into the file {f}."];
            let read = ["What does {f} say?", "Read {f} back to me.", "Show me what is in {f}."];
            vec![
                (say(rng, &write, kvf), call("fs_write", &[("path", json!(f)), ("content", json!(v))])),
                (say(rng, &read, kvf), call("fs_read", &[("path", json!(f))])),
            ]
        }
        3 => {
            let write = ["Create {f} with the text {v}.", "Write {v} to {f}."];
            let delete = ["Now delete {f}.", "Remove {f}, please.", "I no longer need {f}: delete it."];
            vec![
                (say(rng, &write, kvf), call("fs_write", &[("path", json!(f)), ("content", json!(v))])),
                (say(rng, &delete, kvf), call("fs_delete", &[("path", json!(f))])),
            ]
        }
        4 => {
            let forget = ["Forget my {k}.", "Delete my {k} from the store.", "Please remove my {k}."];
            vec![(say(rng, &remember, kvf), set), (say(rng, &forget, kvf), call("kv_delete", &[("key", json!(k))]))]
        }
        _ => {
            let (from, to) = *pick(rng, &UNITS);
            let x = rng.random_range(1..100);
            let convert =
                call("convert_units", &[("value", json!(x)), ("from_unit", json!(from)), ("to_unit", json!(to))]);
            let (a, b) = (rng.random_range(2..100), rng.random_range(2..100));
            let op = *pick(rng, &["+", "-", "*"]);
            let expr = format!("{a} {op} {b}");
            let compute = [format!("Now compute {expr}."), format!("Next, what is {expr}?")];
            let compute = pick(rng, &compute).clone();
            vec![
                (format!("Convert {x} {from} to {to}."), convert),
                (compute, call("calculator", &[("expression", json!(expr))])),
            ]
        }
    }
}

/// `n` multi-turn tasks of `split` from `seed` (their own random streams), listing all nine
/// built-in tools.
pub fn tasks(seed: u64, split: Split, n: usize) -> Vec<Task> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(match split {
        Split::Train => 21,
        Split::HeldOut => 22,
    });
    let schemas = schemas();
    (0..n)
        .map(|i| {
            let mut turns = conversation(&mut rng).into_iter();
            let (first, calls) = turns.next().unwrap_or_default();
            let (followups, later): (Vec<String>, Vec<Vec<ExpectedCall>>) = turns.unzip();
            Task {
                id: format!("synth-{}-multi_turn-{i}", split.name()),
                messages: vec![Message { role: Role::User, content: first }],
                tools: schemas.clone(),
                answers: std::iter::once(calls).chain(later).collect(),
                followups,
                category: Some("synth_multi_turn".into()),
                ..Task::default()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::outcome::{Expectation, score};
    use crate::tools::parse::parse;

    #[test]
    fn every_turn_of_the_teachers_episode_is_right_and_reads_what_earlier_turns_stored() {
        let all = tasks(5, Split::Train, 300);
        assert_eq!(all, tasks(5, Split::Train, 300), "seeded");
        assert_ne!(all, tasks(5, Split::HeldOut, 300), "another stream for held-out");
        let (mut reads, mut three) = (0, 0);
        for t in &all {
            assert_eq!(t.answers.len(), t.followups.len() + 1, "{}", t.id);
            assert!(t.answers.iter().all(|a| !a.is_empty()), "{}: every turn calls", t.id);
            three += usize::from(t.answers.len() == 3);
            let episode = super::super::teacher_episode(t, false);
            // Per turn: the reply, one result per call, the closing message; a follow-up between.
            let users: Vec<&str> =
                episode.iter().filter(|m| m.role == Role::User).map(|m| m.content.as_str()).collect();
            assert_eq!(users, t.followups.iter().map(String::as_str).collect::<Vec<_>>(), "{}", t.id);
            let mut k = 0;
            for m in &episode {
                match m.role {
                    Role::User => k += 1,
                    Role::Tool => {
                        assert!(!m.content.starts_with("error:"), "{}: {episode:?}", t.id);
                        let read = matches!(t.answers[k][0].0.as_str(), "kv_get" | "fs_read");
                        reads += usize::from(read && m.content != "ok");
                    }
                    Role::Assistant if m.content.starts_with("<think>") => {
                        let want = Expectation {
                            functions: t.checker_functions(),
                            expected: &t.answers[k],
                            language: t.language,
                        };
                        assert_eq!(score(&parse(&m.content), want).bfcl, 1.0, "{}: turn {k}: {}", t.id, m.content);
                    }
                    Role::Assistant => assert_eq!(m.content, "Done.", "{}", t.id),
                    Role::System => panic!("{}: no system message", t.id),
                }
            }
            assert_eq!(k, t.followups.len(), "{}: every turn played", t.id);
        }
        assert!(reads > 30 && three > 30, "reads of stored values {reads}, three-turn tasks {three}");
    }
}
