//! Generated functions (a name, a description, typed parameters) and calls to them with the
//! words a request uses for each argument.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use super::vocab::{DOMAINS, NUMBER_WORDS, PARAMS, Param, QUALIFIERS, Ty, VERBS};

/// Which functions a split may use: a name's hash decides, so the held-out split's functions
/// never appear in training tasks.
pub fn held_out_name(name: &str) -> bool {
    // FNV-1a: stable across platforms and releases.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash % 8 == 0
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
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
    /// The request's words for the verb and the thing ("Get the air quality").
    pub phrase: String,
    /// Its parameters, the first required.
    pub args: Vec<Arg>,
}

/// A function of `split` (`held_out`: only names [`held_out_name`] accepts; else only others);
/// `not_domains` are excluded.
pub fn function(rng: &mut ChaCha8Rng, held_out: bool, not_domains: &[usize]) -> Function {
    loop {
        let domain = rng.random_range(0..DOMAINS.len());
        if not_domains.contains(&domain) {
            continue;
        }
        let dom = &DOMAINS[domain];
        let (verb, says) = *pick(rng, VERBS);
        let thing = *pick(rng, dom.things);
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
            let Some(param) = PARAMS.iter().find(|p| p.name == name).copied() else { continue };
            let required = k == 0 || rng.random_bool(0.5);
            let default = match param.ty {
                _ if required => None,
                Ty::Int(lo, ..) => Some(json!(lo)),
                Ty::Bool(..) => Some(json!(false)),
                Ty::Enum(options) => Some(json!(options[0].0)),
                _ => None,
            };
            args.push(Arg { param, required, default });
        }
        let words = thing.replace('_', " ");
        let says = match says.strip_suffix(" a") {
            Some(head) if words.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("{head} an"),
            _ => says.to_string(),
        };
        let phrase = if qualifier.is_empty() || qualifier == "v2" {
            format!("{says} {words}")
        } else {
            format!("{says} {words} {qualifier}")
        };
        return Function { name, domain, phrase, args };
    }
}

impl Function {
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

/// A value of `ty` (as its list of acceptable values) and the words that say it.
fn value(rng: &mut ChaCha8Rng, ty: Ty) -> (Value, String) {
    match ty {
        Ty::Str(pool, prefix) => {
            let v = *pick(rng, pool);
            (json!([v]), format!("{prefix} {v}"))
        }
        Ty::Int(lo, hi, prefix, unit) => {
            let v = rng.random_range(lo..=hi);
            let said = match usize::try_from(v).ok().and_then(|i| NUMBER_WORDS.get(i)) {
                Some(w) if rng.random_bool(0.4) => (*w).to_string(),
                _ => v.to_string(),
            };
            (json!([v]), format!("{prefix} {said} {unit}").trim_end().to_string())
        }
        Ty::Num(lo, hi, prefix, unit) => {
            let cents = rng.random_range((lo * 100.0) as i64..=(hi * 100.0) as i64);
            let v = if rng.random_bool(0.5) { (cents / 100 * 100) as f64 / 100.0 } else { cents as f64 / 100.0 };
            (json!([v]), format!("{prefix} {v} {unit}"))
        }
        Ty::Bool(on, off) => {
            let v = rng.random_bool(0.5);
            (json!([v]), (if v { on } else { off }).to_string())
        }
        Ty::Enum(options) => {
            let (v, words) = *pick(rng, options);
            (json!([v]), words.to_string())
        }
        Ty::List(pool, prefix) => {
            let mut items: Vec<&str> = pool.to_vec();
            let n = rng.random_range(2..=3);
            let chosen: Vec<&str> = (0..n).map(|_| items.swap_remove(rng.random_range(0..items.len()))).collect();
            let said = match chosen.as_slice() {
                [a, b] => format!("{a} and {b}"),
                [a, b, c] => format!("{a}, {b} and {c}"),
                _ => chosen.join(", "),
            };
            (json!([chosen]), format!("{prefix} {said}"))
        }
        Ty::Place => {
            let (city, country) = (*pick(rng, super::vocab::CITIES), *pick(rng, super::vocab::COUNTRIES));
            (json!([{"city": [city], "country": [country]}]), format!("in {city}, {country}"))
        }
    }
}

/// A call of `f`: the request's clause ("Get the forecast in Lyon for three days") and the
/// expected call (each argument's acceptable values; an optional one left unsaid may be
/// omitted or given its default).
pub fn call(rng: &mut ChaCha8Rng, f: &Function) -> (String, (String, Map<String, Value>)) {
    let mut words = vec![f.phrase.clone()];
    let mut expected = Map::new();
    for a in &f.args {
        if a.required || rng.random_bool(0.5) {
            let (mut acceptable, said) = value(rng, a.param.ty);
            words.push(said);
            // A value equal to the default may also be left out.
            if let (Some(d), Value::Array(values)) = (&a.default, &mut acceptable)
                && values.contains(d)
            {
                values.push(json!(""));
            }
            expected.insert(a.param.name.to_string(), acceptable);
        } else {
            let mut acceptable = vec![json!("")];
            acceptable.extend(a.default.clone());
            expected.insert(a.param.name.to_string(), Value::Array(acceptable));
        }
    }
    (words.join(" "), (f.name.clone(), expected))
}
