//! A procedural corpus of tool-use tasks for training (`awpo data synth`): thousands of distinct
//! generated functions across 25 domains, with typed parameters (string, integer, number,
//! boolean, enum, array, nested object, optional with a default), and requests whose values
//! the calls must copy or convert (small numbers in words, money as "$12", rates as "4.5%",
//! enum values from phrases, lists from "a, b and c", objects from "city, country") and that
//! ask for the action in the function's own words or in others of the same kind ("Look up the
//! forecast" for `get_forecast`: `vocab::ASKED`), sometimes as a question. Five
//! categories mirror BFCL's non-live ones: one call (`simple`), a choice among offered functions
//! (`multiple`), one function called several times (`parallel`: a clause per call, or one
//! clause listing the values that differ, "in Lyon, Porto and Oslo"), several functions each
//! called once or more (`parallel_multiple`), and a request that no offered function serves
//! (`irrelevance`: the right answer is no call; half the time one offered function acts on the
//! very thing asked about but does another kind of action, "Cancel the order" with only
//! `get_order_status`).
//!
//! The vocabularies (`vocab`) are this module's own; BFCL's data is never read here. The
//! held-out split uses other functions than the training split (by a hash of the name) and
//! another random stream.

pub mod function;
mod said;
pub mod vocab;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::data::answer::ExpectedCall;
use crate::data::task::{Message, Role, Task};
use function::{Function, Like, call, function};
use said::lower_first;

/// Which split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Training tasks.
    Train,
    /// Held-out tasks: other functions, another random stream.
    HeldOut,
}

impl Split {
    /// Its name in task ids (`train`, `heldout`).
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::HeldOut => "heldout",
        }
    }
}

/// A task category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// One function offered, one call.
    Simple,
    /// Two to four functions offered, one call to the right one.
    Multiple,
    /// One function, called two or three times.
    Parallel,
    /// Two functions (and up to two more offered), each called once or twice.
    ParallelMultiple,
    /// Functions that cannot serve the request: no call.
    Irrelevance,
    /// Two or three user turns on the built-in tools, later turns acting on what earlier ones
    /// stored (`synth::multi_turn`; not drawn here, nor in the default mix).
    MultiTurn,
}

impl Category {
    /// All, in order.
    pub const ALL: [Category; 5] =
        [Category::Simple, Category::Multiple, Category::Parallel, Category::ParallelMultiple, Category::Irrelevance];

    /// Its name (`simple`, `multiple`, `parallel`, `parallel_multiple`, `irrelevance`).
    pub fn name(self) -> &'static str {
        match self {
            Category::Simple => "simple",
            Category::Multiple => "multiple",
            Category::Parallel => "parallel",
            Category::ParallelMultiple => "parallel_multiple",
            Category::Irrelevance => "irrelevance",
            Category::MultiTurn => "multi_turn",
        }
    }

    /// The category named `name`.
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().chain([Category::MultiTurn]).find(|c| c.name() == name)
    }
}

/// How a request opens.
const OPENINGS: [&str; 6] = ["", "Please ", "Can you ", "I need you to ", "Could you ", "Hey, "];

/// Whether a clause asks a question ("What is the forecast in Lyon").
fn question(clause: &str) -> bool {
    ["What ", "Where ", "Roughly what "].iter().any(|q| clause.starts_with(q))
}

/// The request for `clauses` (each "Get the forecast in Lyon ..."), with an opening (none
/// before a question); it ends in "?" when it asks something.
fn request(rng: &mut ChaCha8Rng, clauses: &[String]) -> String {
    let drawn = OPENINGS[rng.random_range(0..OPENINGS.len())];
    let opening = if question(&clauses[0]) { "" } else { drawn };
    let mut text =
        if opening.is_empty() { clauses[0].clone() } else { format!("{opening}{}", lower_first(&clauses[0])) };
    for (k, clause) in clauses.iter().enumerate().skip(1) {
        let joint = if k + 1 == clauses.len() { ", and also " } else { ", then " };
        text.push_str(joint);
        text.push_str(&lower_first(clause));
    }
    let asks = opening.starts_with("Can") || opening.starts_with("Could") || clauses.iter().any(|c| question(c));
    let end = if asks { "?" } else { "." };
    text + end
}

/// `n` distinct functions of `split`, none of a domain in `not_domains`.
fn functions(rng: &mut ChaCha8Rng, split: Split, n: usize, not_domains: &[usize]) -> Vec<Function> {
    let mut out: Vec<Function> = Vec::with_capacity(n);
    while out.len() < n {
        let f = function(rng, split == Split::HeldOut, &Like { not_domains, ..Like::default() });
        if out.iter().all(|g| g.name != f.name) {
            out.push(f);
        }
    }
    out
}

/// Adds a clause asking for `per_clause` calls of `f` ([`function::calls`]) unless one of them
/// is already expected: a request never asks for the same call twice ("cancel the goal on
/// 2025-09-23, and also call off the goal on 2025-09-23"). False when 20 draws all repeat one.
fn add_clause(
    rng: &mut ChaCha8Rng,
    f: &Function,
    per_clause: usize,
    clauses: &mut Vec<String>,
    calls: &mut Vec<ExpectedCall>,
) -> bool {
    for _ in 0..20 {
        let (clause, expected) = function::calls(rng, f, per_clause);
        if expected.iter().all(|c| !calls.contains(c)) {
            clauses.push(clause);
            calls.extend(expected);
            return true;
        }
    }
    false
}

/// One task of `category`: its request, offered schemas and expected calls.
fn draw(rng: &mut ChaCha8Rng, split: Split, category: Category) -> (String, Vec<Value>, Vec<ExpectedCall>) {
    let mut clauses = Vec::new();
    let mut calls = Vec::new();
    let (offered, request_text) = match category {
        // `multi_turn` never comes here (`tasks` leaves it to `synth::multi_turn`).
        Category::Simple | Category::Multiple | Category::MultiTurn => {
            let extra = if category == Category::Multiple { rng.random_range(1..=3) } else { 0 };
            let fs = functions(rng, split, 1 + extra, &[]);
            let (clause, expected) = call(rng, &fs[0]);
            clauses.push(clause);
            calls.push(expected);
            (fs, None)
        }
        Category::Parallel => {
            let fs = functions(rng, split, 1, &[]);
            let n = rng.random_range(2..=3);
            // Half the time one clause lists the values ("in Lyon, Porto and Oslo").
            let clauses_of_one = if rng.random_bool(0.5) { n } else { 1 };
            while calls.len() < n && add_clause(rng, &fs[0], clauses_of_one, &mut clauses, &mut calls) {}
            (fs, None)
        }
        Category::ParallelMultiple => 'drawn: {
            // A third of the time two functions over the same listed values ("... in Lyon and
            // Oslo": each function once per value).
            if rng.random_bool(1.0 / 3.0)
                && let Some((mut fs, clause, expected)) = function::crossed(rng, split == Split::HeldOut)
            {
                let extra = rng.random_range(0..=2);
                for f in functions(rng, split, extra + 2, &[]) {
                    if fs.len() < 2 + extra && fs.iter().all(|g| g.name != f.name) {
                        fs.push(f);
                    }
                }
                clauses.push(clause);
                calls.extend(expected);
                break 'drawn (fs, None);
            }
            let n = 2 + rng.random_range(0..=2);
            let fs = functions(rng, split, n, &[]);
            for f in &fs[..2] {
                let k = rng.random_range(1..=2);
                // Two calls said in one clause half the time, else one clause each.
                let per_clause = if rng.random_bool(0.5) { k } else { 1 };
                let before = calls.len();
                while calls.len() < before + k && add_clause(rng, f, per_clause, &mut clauses, &mut calls) {}
            }
            (fs, None)
        }
        Category::Irrelevance => {
            let wanted = functions(rng, split, 1, &[]).remove(0);
            let (clause, _) = call(rng, &wanted);
            let n = rng.random_range(1..=3);
            let mut fs = functions(rng, split, n, &[wanted.domain]);
            // Half the time one offered function acts on the very thing asked about, but does
            // another kind of action ("Cancel the order" with only `get_order_status`).
            if rng.random_bool(0.5) {
                fs[0] = function(rng, split == Split::HeldOut, &Like::other_action(&wanted));
            }
            (fs, Some(request(rng, &[clause])))
        }
    };
    let text = request_text.unwrap_or_else(|| request(rng, &clauses));
    let mut schemas: Vec<Value> = offered.iter().map(Function::schema).collect();
    // The right function is not always listed first.
    let len = schemas.len();
    schemas.rotate_left(rng.random_range(0..len.max(1)));
    (text, schemas, calls)
}

/// `n` tasks of `split` from `seed`, categories drawn in turn from `categories` (all five when
/// empty, or when it names only `multi_turn`, which is `synth::multi_turn`'s and skipped here:
/// `synth::mixed` draws every category). The same arguments give the same tasks.
pub fn tasks(seed: u64, split: Split, n: usize, categories: &[Category]) -> Vec<Task> {
    let single: Vec<Category> = categories.iter().copied().filter(|&c| c != Category::MultiTurn).collect();
    let categories = if single.is_empty() { &Category::ALL[..] } else { &single[..] };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(match split {
        Split::Train => 11,
        Split::HeldOut => 12,
    });
    (0..n)
        .map(|i| {
            let category = categories[i % categories.len()];
            let (text, tools, calls) = draw(&mut rng, split, category);
            Task {
                id: format!("synth-{}-{}-{i}", split.name(), category.name()),
                messages: vec![Message { role: Role::User, content: text }],
                tools,
                answers: vec![calls],
                category: Some(format!("synth_{}", category.name())),
                ..Task::default()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_use_disjoint_functions_and_the_same_seed_gives_the_same_tasks() {
        let names = |split| {
            let mut names: Vec<String> = tasks(3, split, 400, &[])
                .iter()
                .flat_map(|t| t.tools.iter().filter_map(|s| s["name"].as_str().map(str::to_string)).collect::<Vec<_>>())
                .collect();
            names.sort();
            names.dedup();
            names
        };
        let (train, held) = (names(Split::Train), names(Split::HeldOut));
        assert!(train.len() > 300 && held.len() > 150, "{} / {}", train.len(), held.len());
        assert!(train.iter().all(|n| !function::held_out_name(n)) && held.iter().all(|n| function::held_out_name(n)));
        assert_eq!(tasks(3, Split::Train, 50, &[]), tasks(3, Split::Train, 50, &[]));
        assert_ne!(tasks(3, Split::Train, 50, &[]), tasks(4, Split::Train, 50, &[]));
    }

    #[test]
    fn requests_ask_in_other_words_than_the_functions_own_and_questions_end_in_a_question_mark() {
        let (mut other_words, mut questions) = (0, 0);
        let all = tasks(5, Split::Train, 400, &[Category::Simple]);
        for t in &all {
            let text = &t.messages[0].content;
            let description = t.tools[0]["description"].as_str().unwrap_or_default();
            // The description's phrase, less the " (domain)." it ends with.
            let phrase = description.rsplit_once(" (").map_or(description, |(p, _)| p);
            let lower = |s: &str| s.to_lowercase();
            other_words += usize::from(!lower(text).contains(&lower(phrase)));
            if super::question(text) {
                questions += 1;
                assert!(text.ends_with('?'), "{text}");
            }
            assert!(!["Please what", "Can you what", "Hey, what"].iter().any(|o| text.starts_with(o)), "{text}");
        }
        assert!(other_words > 120 && other_words < 280, "{other_words} of 400 in other words");
        assert!(questions > 20, "{questions} questions");
    }

    #[test]
    fn each_category_has_its_shape() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.name()), Some(c));
            for t in tasks(9, Split::Train, 60, &[c]) {
                let calls = &t.answers[0];
                let names: Vec<&str> = t.tools.iter().filter_map(|s| s["name"].as_str()).collect();
                assert!(calls.iter().enumerate().all(|(i, c)| !calls[..i].contains(c)), "a call asked twice: {t:?}");
                let mut called: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
                assert!(called.iter().all(|n| names.contains(n)), "{t:?}");
                called.dedup();
                let (n_calls, n_tools, distinct) = (calls.len(), names.len(), called.len());
                let ok = match c {
                    Category::Simple => n_calls == 1 && n_tools == 1,
                    Category::Multiple => n_calls == 1 && (2..=4).contains(&n_tools),
                    Category::Parallel => (2..=3).contains(&n_calls) && n_tools == 1,
                    Category::ParallelMultiple => (2..=6).contains(&n_calls) && distinct == 2,
                    Category::Irrelevance => n_calls == 0 && (1..=3).contains(&n_tools),
                    Category::MultiTurn => false,
                };
                assert!(ok, "{c:?}: {t:?}");
            }
        }
    }
}
