//! Generated functions (a name, a description, typed parameters) and calls to them with the
//! words a request uses for each argument.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::data::answer::ExpectedCall;

use super::said::{Said, joined, listed, lower_first, pick, value};
use super::vocab::{ASKED, CHANGE_VERBS, DOMAINS, PAIRS, PARAMS, Param, QUALIFIERS, Ty, VERBS};

/// Which functions a split may use: a name's hash decides, so the held-out split's functions
/// never appear in training tasks.
pub fn held_out_name(name: &str) -> bool {
    // FNV-1a: stable across platforms and releases.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash % 8 == 0
}

fn find_param(name: &str) -> Option<Param> {
    PARAMS.iter().find(|p| p.name == name).copied()
}

/// Whether several calls of one clause may differ in `a` alone, its values listed ("in Lyon,
/// Porto and Oslo"): a required string or number that is not one of a pair ([`PAIRS`]).
fn listable(a: &Arg) -> bool {
    let paired = PAIRS.iter().any(|(first, second)| a.param.name == *first || a.param.name == *second);
    a.required && !paired && matches!(a.param.ty, Ty::Str(..) | Ty::Int(..) | Ty::Num(..))
}

/// One function's parameter.
#[derive(Clone, Debug)]
pub struct Arg {
    /// What it is.
    pub param: Param,
    /// Whether the schema requires it.
    pub required: bool,
    /// Its default, for an optional one that has one.
    pub default: Option<Value>,
}

/// A generated function.
#[derive(Clone, Debug)]
pub struct Function {
    /// `verb_thing[_qualifier]`.
    pub name: String,
    /// Index into [`DOMAINS`].
    pub domain: usize,
    /// The verb in its name (one of [`VERBS`]).
    pub verb: &'static str,
    /// The thing it acts on (one of its domain's things).
    pub thing: &'static str,
    /// Its description's words for the verb and the thing ("Get the air quality").
    pub phrase: String,
    /// The thing (and qualifier) in words ("air quality report").
    pub object: String,
    /// Its parameters, the first required.
    pub args: Vec<Arg>,
}

/// What a generated function must be; the default is anything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Like<'a> {
    /// Not of these domains.
    pub not_domains: &'a [usize],
    /// Of this domain, acting on this thing.
    pub thing: Option<(usize, &'static str)>,
    /// Of this domain (when `thing` is not set).
    pub domain: Option<usize>,
    /// Whose verb changes something ([`CHANGE_VERBS`]), or whose verb does not.
    pub changes: Option<bool>,
}

impl Like<'_> {
    /// A function that acts on `f`'s thing but does another kind of action (it looks the thing
    /// up where `f` changes it, or the other way round): it cannot serve a request for `f`.
    pub fn other_action(f: &Function) -> Like<'static> {
        let changes = Some(!CHANGE_VERBS.contains(&f.verb));
        Like { thing: Some((f.domain, f.thing)), changes, ..Like::default() }
    }

    /// Whether a function of `domain` doing `verb` to `thing` fits; `exact`: the thing must be
    /// `self.thing`'s, else it must be another thing of its domain.
    fn allows(&self, domain: usize, thing: &str, verb: &str, exact: bool) -> bool {
        !self.not_domains.contains(&domain)
            && self.thing.is_none_or(|(d, t)| d == domain && (t == thing) == exact)
            && self.changes.is_none_or(|c| c == CHANGE_VERBS.contains(&verb))
    }
}

/// A function of `split` (`held_out`: only names [`held_out_name`] accepts; else only others)
/// that is `like` asks. Where no name of the split fits a fixed thing, another thing of the same
/// domain is taken (it still acts on something else than what `like` was made from).
pub fn function(rng: &mut ChaCha8Rng, held_out: bool, like: &Like) -> Function {
    let mut tries = 0usize;
    loop {
        tries += 1;
        let domain = match (like.thing, like.domain) {
            (Some((d, _)), _) | (None, Some(d)) => d,
            (None, None) => rng.random_range(0..DOMAINS.len()),
        };
        let dom = &DOMAINS[domain];
        let (verb, says) = *pick(rng, VERBS);
        let exact = tries < 500;
        let thing = match like.thing {
            Some((_, t)) if exact => t,
            _ => *pick(rng, dom.things),
        };
        if !like.allows(domain, thing, verb, exact) {
            continue;
        }
        let qualifier = *pick(rng, QUALIFIERS);
        // Three forms, none the bare `verb_thing` (the likeliest to match a name elsewhere).
        let name = match (qualifier.is_empty(), rng.random_bool(0.5)) {
            (false, _) => format!("{verb}_{thing}_{qualifier}"),
            (true, true) => format!("{}_{verb}_{thing}", dom.name),
            (true, false) => format!("{}.{verb}_{thing}", dom.name),
        };
        if held_out_name(&name) != held_out {
            continue;
        }
        let mut names: Vec<&str> = dom.params.to_vec();
        let n = rng.random_range(1..=names.len().min(4));
        let mut args = Vec::with_capacity(n);
        for k in 0..n {
            let name = names.swap_remove(rng.random_range(0..names.len()));
            // The second of a pair comes only right after its first.
            if PAIRS.iter().any(|(_, second)| *second == name) {
                continue;
            }
            let Some(param) = find_param(name) else { continue };
            let second = PAIRS.iter().find(|(first, _)| *first == name).and_then(|(_, s)| find_param(s));
            let required = k == 0 || second.is_some() || rng.random_bool(0.5);
            let default = match param.ty {
                _ if required => None,
                Ty::Int(lo, ..) => Some(json!(lo)),
                Ty::Bool(..) => Some(json!(false)),
                Ty::Enum(options) => Some(json!(options[0].0)),
                _ => None,
            };
            args.push(Arg { param, required, default });
            if let Some(param) = second {
                args.push(Arg { param, required: true, default: None });
            }
        }
        let words = thing.replace('_', " ");
        let object = if qualifier.is_empty() || qualifier == "v2" { words } else { format!("{words} {qualifier}") };
        let phrase = with_article(says, &object);
        return Function { name, domain, verb, thing, phrase, object, args };
    }
}

/// `says` then `object`, "a" made "an" before a vowel ("Book an appointment").
fn with_article(says: &str, object: &str) -> String {
    match says.strip_suffix(" a") {
        Some(head) if object.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("{head} an {object}"),
        _ => format!("{says} {object}"),
    }
}

impl Function {
    /// How a request asks for it: its own words ([`Function::phrase`]) half the time, else
    /// another way of asking for the same kind of action ([`ASKED`]: "Look up the air quality"
    /// for `get_air_quality`).
    pub fn asked(&self, rng: &mut ChaCha8Rng) -> String {
        let others: &[&str] = ASKED.iter().find(|(v, _)| *v == self.verb).map_or(&[], |(_, o)| o);
        if others.is_empty() || rng.random_bool(0.5) {
            return self.phrase.clone();
        }
        let says: &&str = pick(rng, others);
        with_article(says, &self.object)
    }

    /// Its schema as a task lists it: `{name, description, parameters}` (JSON Schema).
    pub fn schema(&self) -> Value {
        let mut properties = Map::new();
        for a in &self.args {
            let mut p = match a.param.ty {
                Ty::Str(..) => json!({"type": "string"}),
                Ty::Int(..) => json!({"type": "integer"}),
                Ty::Num(..) => json!({"type": "number"}),
                Ty::Bool(..) => json!({"type": "boolean"}),
                Ty::Enum(options) => json!({"type": "string", "enum": options.iter().map(|o| o.0).collect::<Vec<_>>()}),
                Ty::List(..) => json!({"type": "array", "items": {"type": "string"}}),
                Ty::Ints(..) => json!({"type": "array", "items": {"type": "integer"}}),
                Ty::Coords => json!({"type": "array", "items": {"type": "number"}}),
                Ty::Place => json!({"type": "object", "properties": {
                    "city": {"type": "string", "description": "City name."},
                    "country": {"type": "string", "description": "Country name."}},
                    "required": ["city", "country"]}),
            };
            let about = match &a.default {
                Some(d) => format!("{} Default: {d}.", a.param.about),
                None if !a.required => format!("{} Optional.", a.param.about),
                None => a.param.about.to_string(),
            };
            p["description"] = json!(about);
            if let Some(d) = &a.default {
                p["default"] = d.clone();
            }
            properties.insert(a.param.name.to_string(), p);
        }
        let required: Vec<&str> = self.args.iter().filter(|a| a.required).map(|a| a.param.name).collect();
        let domain = DOMAINS[self.domain].name.replace('_', " ");
        json!({
            "name": self.name,
            "description": format!("{} ({domain}).", self.phrase),
            "parameters": {"type": "object", "properties": properties, "required": required},
        })
    }
}

/// `arg`'s acceptable values: a value equal to its default may also be left out.
fn acceptable(arg: &Arg, mut values: Value) -> Value {
    if let (Some(d), Value::Array(list)) = (&arg.default, &mut values)
        && list.contains(d)
    {
        list.push(json!(""));
    }
    values
}

/// A call of `f`: the request's clause ("Get the forecast in Lyon for three days") and the
/// expected call (each argument's acceptable values; an optional one left unsaid may be
/// omitted or given its default).
pub fn call(rng: &mut ChaCha8Rng, f: &Function) -> (String, ExpectedCall) {
    let (clause, mut calls) = calls(rng, f, 1);
    (clause, calls.remove(0))
}

/// `n` calls of `f` (n ≥ 1) said in one clause: they share every argument but one, whose values
/// the clause lists ("Get the forecast in Lyon, Porto and Oslo for three days": three calls).
/// One call when `f` has no argument to list (a required string or number outside a pair).
pub fn calls(rng: &mut ChaCha8Rng, f: &Function, n: usize) -> (String, Vec<ExpectedCall>) {
    let symbols = rng.random_bool(0.5);
    let candidates: Vec<usize> = (0..f.args.len()).filter(|&i| listable(&f.args[i])).collect();
    let varied = (n > 1 && !candidates.is_empty()).then(|| candidates[rng.random_range(0..candidates.len())]);
    let mut words = vec![f.asked(rng)];
    let mut shared = Map::new();
    let mut values = Vec::new();
    for (i, a) in f.args.iter().enumerate() {
        if Some(i) == varied {
            let (said, v) = listed_values(rng, a, n, symbols);
            words.push(said);
            values = v;
        } else {
            say(rng, a, symbols, &mut words, &mut shared);
        }
    }
    let calls = match varied {
        Some(i) => spread(f, &shared, f.args[i].param.name, values),
        None => vec![(f.name.clone(), shared)],
    };
    (words.join(" "), calls)
}

/// Two functions of one domain, each called once per value of a parameter both require, the
/// values said once for both ("Get the rainfall for three days and book a hotel room in Lyon
/// and Oslo": four calls); each function's other arguments are said after its own words.
/// `None` when no such pair turns up in a few tries.
pub fn crossed(rng: &mut ChaCha8Rng, held_out: bool) -> Option<(Vec<Function>, String, Vec<ExpectedCall>)> {
    for _ in 0..50 {
        let f = function(rng, held_out, &Like::default());
        let candidates: Vec<&Arg> = f.args.iter().filter(|a| listable(a)).collect();
        let Some(&arg) = candidates.get(rng.random_range(0..candidates.len().max(1))) else { continue };
        let name = arg.param.name;
        let like = Like { domain: Some(f.domain), ..Like::default() };
        let Some(g) = (0..100)
            .map(|_| function(rng, held_out, &like))
            .find(|g| g.name != f.name && g.args.iter().any(|a| a.param.name == name && listable(a)))
        else {
            continue;
        };
        let symbols = rng.random_bool(0.5);
        let n = rng.random_range(2..=3);
        let (listed_words, values) = listed_values(rng, arg, n, symbols);
        let (mut words, mut calls) = (Vec::new(), Vec::new());
        for (k, h) in [&f, &g].into_iter().enumerate() {
            let asked = h.asked(rng);
            words.push(if k == 0 { asked } else { format!("and {}", lower_first(&asked)) });
            let mut shared = Map::new();
            for a in h.args.iter().filter(|a| a.param.name != name) {
                say(rng, a, symbols, &mut words, &mut shared);
            }
            calls.extend(spread(h, &shared, name, values.clone()));
        }
        words.push(listed_words);
        return Some((vec![f, g], words.join(" "), calls));
    }
    None
}

/// `n` distinct values of `a` listed in one phrase ("in Lyon, Porto and Oslo"), and each one's
/// acceptable values.
fn listed_values(rng: &mut ChaCha8Rng, a: &Arg, n: usize, symbols: bool) -> (String, Vec<Value>) {
    let mut said: Vec<Said> = Vec::with_capacity(n);
    for _ in 0..8 * n {
        // Listed numbers in digits: "1 and six results" reads badly.
        let s = value(rng, a.param.ty, symbols, false);
        if said.iter().all(|t| t.acceptable != s.acceptable) {
            said.push(s);
        }
        if said.len() == n {
            break;
        }
    }
    let items: Vec<&str> = said.iter().map(|s| s.words.as_str()).collect();
    let words = joined([said[0].prefix, &listed(&items), said[0].unit]);
    (words, said.into_iter().map(|s| acceptable(a, s.acceptable)).collect())
}

/// Says `a` (a required one always, an optional one half the time) into `words` and records its
/// acceptable values in `args`; an unsaid optional one may be omitted or given its default.
fn say(rng: &mut ChaCha8Rng, a: &Arg, symbols: bool, words: &mut Vec<String>, args: &mut Map<String, Value>) {
    let values = if a.required || rng.random_bool(0.5) {
        let s = value(rng, a.param.ty, symbols, true);
        words.push(joined([s.prefix, &s.words, s.unit]));
        acceptable(a, s.acceptable)
    } else {
        let mut unsaid = vec![json!("")];
        unsaid.extend(a.default.clone());
        Value::Array(unsaid)
    };
    args.insert(a.param.name.to_string(), values);
}

/// One call of `f` per value of `name`, each with `shared`'s other arguments.
fn spread(f: &Function, shared: &Map<String, Value>, name: &str, values: Vec<Value>) -> Vec<ExpectedCall> {
    values
        .into_iter()
        .map(|v| {
            let mut args = shared.clone();
            args.insert(name.to_string(), v);
            (f.name.clone(), args)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::corpus::vocab::NUMBER_WORDS;

    #[test]
    fn listed_calls_share_all_arguments_but_the_listed_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut listed_seen, mut symbols_seen) = (0, 0);
        for k in 0..400 {
            let f = function(&mut rng, k % 2 == 0, &Like::default());
            let n = 2 + k % 2;
            let (clause, calls) = calls(&mut rng, &f, n);
            assert!(calls.iter().all(|(name, _)| *name == f.name));
            if calls.len() == 1 {
                assert!(f.args.iter().all(|a| !listable(a)), "{f:?}");
                continue;
            }
            listed_seen += 1;
            assert_eq!(calls.len(), n, "{clause}");
            let differing: Vec<&String> =
                calls[0].1.keys().filter(|key| calls.iter().any(|(_, a)| a[*key] != calls[0].1[*key])).collect();
            assert_eq!(differing.len(), 1, "{clause}: {calls:?}");
            let key = differing[0];
            for (_, args) in &calls {
                let said = match &args[key][0] {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                // Numbers may be said in words; strings and most numbers appear as written.
                assert!(clause.contains(&said) || matches!(args[key][0], Value::Number(_)), "{said} not in {clause}");
            }
            symbols_seen += usize::from(clause.contains('$') || clause.contains('%'));
        }
        assert!(listed_seen > 150 && symbols_seen > 10, "{listed_seen} listed, {symbols_seen} with $ or %");
    }

    #[test]
    fn crossed_calls_give_each_function_every_listed_value_said_once() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let (mut made, mut strings_seen) = (0, 0);
        for k in 0..100 {
            let Some((fs, clause, calls)) = crossed(&mut rng, k % 2 == 0) else { continue };
            made += 1;
            let [f, g] = [&fs[0], &fs[1]];
            assert!(f.domain == g.domain && f.name != g.name, "{clause}");
            let of = |h: &Function| calls.iter().filter(|(n, _)| *n == h.name).map(|(_, a)| a).collect::<Vec<_>>();
            let (fc, gc) = (of(f), of(g));
            assert!(fc.len() == gc.len() && (2..=3).contains(&fc.len()) && calls.len() == 2 * fc.len(), "{clause}");
            // The listed parameter is the one key whose values differ among f's calls; g's
            // calls take the same values, in the same order, and each is said once.
            let varied: Vec<&String> = fc[0].keys().filter(|key| fc.iter().any(|a| a[*key] != fc[0][*key])).collect();
            assert_eq!(varied.len(), 1, "{clause}: {calls:?}");
            let key = varied[0];
            assert_eq!(fc.iter().map(|a| &a[key]).collect::<Vec<_>>(), gc.iter().map(|a| &a[key]).collect::<Vec<_>>());
            let strings: Vec<&str> = fc.iter().filter_map(|a| a[key][0].as_str()).collect();
            if strings.len() == fc.len() {
                // A string list ends the clause, said once for both functions.
                assert!(
                    clause.ends_with(&listed(&strings)) && clause.matches(&listed(&strings)).count() == 1,
                    "{clause}"
                );
                strings_seen += 1;
            }
            let same = |h: &[&Map<String, Value>]| h.iter().all(|b| b.keys().all(|k| k == key || b[k] == h[0][k]));
            assert!(same(&fc) && same(&gc), "{clause}: {calls:?}");
        }
        assert!(made > 80 && strings_seen > 20, "{made} of 100 tries made a pair, {strings_seen} listing strings");
    }

    #[test]
    fn the_two_numbers_of_a_pair_are_both_required_and_said_together_in_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let arithmetic = DOMAINS.iter().position(|d| d.name == "arithmetic").expect("the domain");
        let mut seen = 0;
        for k in 0..200 {
            let like = Like { thing: Some((arithmetic, "greatest_common_divisor")), ..Like::default() };
            let f = function(&mut rng, k % 2 == 0, &like);
            let Some(i) = f.args.iter().position(|a| a.param.name == "num1") else { continue };
            seen += 1;
            let (first, second) = (&f.args[i], &f.args.get(i + 1).expect("num2 after num1"));
            assert_eq!((second.param.name, first.required, second.required), ("num2", true, true), "{f:?}");
            assert_eq!(f.args.iter().filter(|a| a.param.name.starts_with("num")).count(), 2, "{f:?}");
            let (clause, calls) = calls(&mut rng, &f, 2);
            // Another argument may be listed ("rounded to 3 and 6 decimal places"), never the pair.
            for (_, args) in &calls {
                assert_eq!((&args["num1"], &args["num2"]), (&calls[0].1["num1"], &calls[0].1["num2"]), "{clause}");
            }
            let said = |key: &str| {
                let v = calls[0].1[key][0].as_i64().expect("an integer");
                let word = usize::try_from(v).ok().and_then(|i| NUMBER_WORDS.get(i)).copied();
                [Some(v.to_string()), word.map(str::to_string)].into_iter().flatten().collect::<Vec<_>>()
            };
            let together =
                said("num1").iter().any(|a| said("num2").iter().any(|b| clause.contains(&format!(" of {a} and {b}"))));
            assert!(together, "{clause}: {calls:?}");
        }
        assert!(seen > 100, "{seen} of 200 functions took the pair");
    }

    #[test]
    fn another_action_on_the_same_thing_keeps_the_split_and_flips_the_kind_of_verb() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut same_thing = 0;
        for k in 0..300 {
            let held_out = k % 3 == 0;
            let wanted = function(&mut rng, held_out, &Like::default());
            let other = function(&mut rng, held_out, &Like::other_action(&wanted));
            assert_eq!(held_out_name(&other.name), held_out);
            assert_eq!(other.domain, wanted.domain);
            assert_ne!(other.name, wanted.name);
            assert_ne!(
                CHANGE_VERBS.contains(&other.verb),
                CHANGE_VERBS.contains(&wanted.verb),
                "{wanted:?} / {other:?}"
            );
            same_thing += usize::from(other.thing == wanted.thing);
        }
        assert!(same_thing > 250, "{same_thing} of 300 on the same thing");
    }
}
