//! A drawn value put into words as a request says it ("for three days", "$200,000", "in Lyon,
//! Porto and Oslo"), with the values a call may give for it.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::vocab::{CITIES, COUNTRIES, NUMBER_WORDS, Ty};

/// `s` with its first letter lower-cased ("Get the" → "get the").
pub(super) fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect::<String>()).unwrap_or_default()
}

pub(super) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A value put into words: its acceptable values, and the words before it, for it and after it
/// ("for", "three", "days").
pub(super) struct Said {
    pub acceptable: Value,
    pub prefix: &'static str,
    pub words: String,
    pub unit: &'static str,
}

pub(super) fn joined(parts: [&str; 3]) -> String {
    parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A value of `ty` and its words; `symbols`: money as "$12" and rates as "4.5%" rather than
/// "12 dollars" and "4.5 percent"; `spelled`: small integers sometimes in words ("three").
pub(super) fn value(rng: &mut ChaCha8Rng, ty: Ty, symbols: bool, spelled: bool) -> Said {
    let said = |acceptable, prefix, words, unit| Said { acceptable, prefix, words, unit };
    match ty {
        Ty::Str(pool, prefix) => {
            let v = *pick(rng, pool);
            said(json!([v]), prefix, v.to_string(), "")
        }
        Ty::Int(lo, hi, prefix, unit) => {
            let v = rng.random_range(lo..=hi);
            let words = match usize::try_from(v).ok().and_then(|i| NUMBER_WORDS.get(i)) {
                Some(w) if spelled && rng.random_bool(0.4) => (*w).to_string(),
                // "80,000 square feet"; never a year or a floor (no unit).
                _ if spelled && !unit.is_empty() && v >= 1000 && rng.random_bool(0.5) => thousands(v),
                _ => v.to_string(),
            };
            said(json!([v]), prefix, words, unit)
        }
        Ty::Num(lo, hi, prefix, unit) => {
            let cents = rng.random_range((lo * 100.0) as i64..=(hi * 100.0) as i64);
            let v = if rng.random_bool(0.5) { (cents / 100 * 100) as f64 / 100.0 } else { cents as f64 / 100.0 };
            let digits = if spelled && v >= 1000.0 && v.fract() == 0.0 && rng.random_bool(0.5) {
                thousands(v as i64)
            } else {
                v.to_string()
            };
            match unit {
                "dollars" if symbols => said(json!([v]), prefix, format!("${digits}"), ""),
                "percent" if symbols => said(json!([v]), prefix, format!("{digits}%"), ""),
                _ => said(json!([v]), prefix, digits, unit),
            }
        }
        Ty::Ints(lo, hi, prefix) => {
            let mut items: Vec<i64> = Vec::new();
            let n = rng.random_range(2..=4);
            while items.len() < n {
                let v = rng.random_range(lo..=hi);
                if !items.contains(&v) {
                    items.push(v);
                }
            }
            let words: Vec<String> = items.iter().map(i64::to_string).collect();
            said(json!([items]), prefix, listed(&words), "")
        }
        Ty::Coords => {
            // Never a whole degree (the demonstration writes the value as the request does),
            // and never past `max`.
            let degree = |rng: &mut ChaCha8Rng, max: i64| {
                let v = rng.random_range(-max * 10_000..=max * 10_000);
                let v = match v % 10_000 {
                    0 if v > 0 => v - 1,
                    0 => v + 1,
                    _ => v,
                };
                v as f64 / 10_000.0
            };
            let (lat, lon) = (degree(rng, 70), degree(rng, 179));
            said(json!([[lat, lon]]), "at coordinates", format!("{lat}, {lon}"), "")
        }
        Ty::Bool(on, off) => {
            let v = rng.random_bool(0.5);
            said(json!([v]), "", (if v { on } else { off }).to_string(), "")
        }
        Ty::Enum(options) => {
            let (v, words) = *pick(rng, options);
            said(json!([v]), "", words.to_string(), "")
        }
        Ty::List(pool, prefix) => {
            let mut items: Vec<&str> = pool.to_vec();
            let n = rng.random_range(2..=3);
            let chosen: Vec<&str> = (0..n).map(|_| items.swap_remove(rng.random_range(0..items.len()))).collect();
            said(json!([chosen]), prefix, listed(&chosen), "")
        }
        Ty::Place => {
            let (city, country) = (*pick(rng, CITIES), *pick(rng, COUNTRIES));
            said(json!([{"city": [city], "country": [country]}]), "in", format!("{city}, {country}"), "")
        }
    }
}

/// `1234567` as "1,234,567".
fn thousands(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 { format!("-{out}") } else { out }
}

/// "a and b", "a, b and c".
pub(super) fn listed<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [a] => a.as_ref().to_string(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", init.join(", "), last.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn number_lists_coordinates_and_thousands_are_said_as_their_values() {
        assert_eq!(
            (thousands(999), thousands(80_000), thousands(-1_234_567)),
            ("999".into(), "80,000".into(), "-1,234,567".into())
        );
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut seen = [0usize; 3];
        for ty in [Ty::Ints(-50, 100, "of"), Ty::Coords, Ty::Int(1000, 5_000_000, "of", "people")]
            .into_iter()
            .cycle()
            .take(600)
        {
            let s = value(&mut rng, ty, false, true);
            let v = &s.acceptable[0];
            match ty {
                Ty::Ints(..) => {
                    let items = v.as_array().expect("a list");
                    assert!((2..=4).contains(&items.len()), "{v}");
                    let words: Vec<String> = items.iter().map(Value::to_string).collect();
                    assert_eq!(s.words, listed(&words));
                    seen[0] += 1;
                }
                Ty::Coords => {
                    let [lat, lon] = [0, 1].map(|i| v[i].as_f64().expect("a number"));
                    assert!(lat.abs() <= 70.0 && lon.abs() <= 179.0 && lat.fract() != 0.0 && lon.fract() != 0.0, "{v}");
                    assert_eq!(s.words, format!("{lat}, {lon}"));
                }
                _ => {
                    let n = v.as_i64().expect("an integer");
                    assert_eq!(s.words.replace(',', ""), n.to_string());
                    seen[1 + usize::from(s.words.contains(','))] += 1;
                }
            }
        }
        assert!(seen[1] > 50 && seen[2] > 50, "digits {} and with commas {}", seen[1], seen[2]);
    }
}
