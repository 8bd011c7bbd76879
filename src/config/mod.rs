//! `RunConfig`: every module's section + the seed; TOML file, `--set key=value` overrides,
//! validation that names every bad key at once.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::algo::AlgoConfig;
use crate::device::DeviceConfig;
use crate::judge::JudgeConfig;
use crate::model::LoraConfig;
use crate::prompt::PromptConfig;
use crate::reward::RewardConfig;
pub mod sections;

pub use sections::{
    DataSection, EnvMode, ModelSection, OptimSection, RolloutSection, Schedule, TrainSection, problems,
};

/// The resolved configuration of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Seed of every random stream of the run.
    pub seed: u64,
    /// `[device]`.
    pub device: DeviceConfig,
    /// `[algo]`.
    pub algo: AlgoConfig,
    /// `[lora]`.
    pub lora: LoraConfig,
    /// `[reward]`.
    pub reward: RewardConfig,
    /// `[prompt]`: how conversations and tools become prompt text.
    pub prompt: PromptConfig,
    /// `[judge]`: the reasoning reward's judge.
    pub judge: JudgeConfig,
    /// `[model]`: the policy.
    pub model: ModelSection,
    /// `[data]`: training and held-out tasks.
    pub data: DataSection,
    /// `[rollout]`: sampling.
    pub rollout: RolloutSection,
    /// `[optim]`: AdamW and the schedule.
    pub optim: OptimSection,
    /// `[train]`: steps, checkpoints, records.
    pub train: TrainSection,
}

/// A configuration problem; the message names the file, key or override.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type, on one line.
    #[error("{origin}: {message}")]
    Parse {
        /// The file (`path:line:column` where the parser gave a position), or the overrides.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// A `--set` argument that is not `section.key=value`.
    #[error("--set {arg}: {reason}")]
    Override {
        /// The argument.
        arg: String,
        /// Why.
        reason: String,
    },
    /// Values out of range, all of them, on one line.
    #[error("{origin}: invalid configuration: {}", .problems.iter().map(|(k, r)| format!("{k}: {r}")).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// Where the values came from (a file, overrides, the defaults).
        origin: String,
        /// Each bad key and what is wrong with it.
        problems: Vec<(&'static str, String)>,
    },
}

/// A TOML error as one [`ConfigError::Parse`] (toml's own rendering spans several lines, with a
/// source excerpt): `origin:line:column` when the error has a position in `text`, then the key
/// it was at (`optim.lr`) or, when the parser names none, the start of the offending line.
fn toml_error(origin: &str, text: Option<&str>, e: &toml::de::Error) -> ConfigError {
    let mut plain = e.clone();
    plain.set_input(None);
    let rendered = plain.to_string();
    let key = rendered.lines().find_map(|l| l.strip_prefix("in ")).map(str::to_string);
    let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    let (position, line) = match (text, e.span()) {
        (Some(text), Some(span)) => {
            let before = text.get(..span.start).unwrap_or(text);
            let number = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let line: String = text.lines().nth(number - 1).unwrap_or("").trim().chars().take(60).collect();
            (format!(":{number}:{column}"), Some(line).filter(|l| !l.is_empty()))
        }
        _ => (String::new(), None),
    };
    let message = match (key, line) {
        (Some(key), _) => format!("{key}: {message}"),
        (None, Some(line)) => format!("{message} (at `{line}`)"),
        (None, None) => message,
    };
    ConfigError::Parse { origin: format!("{origin}{position}"), message }
}

impl RunConfig {
    /// Reads `path` (or the defaults), applies `overrides` (`section.key=value`, value in TOML
    /// syntax or a bare string), and validates.
    ///
    /// # Errors
    /// Unreadable file, TOML error, unknown key, malformed override, invalid values.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self, ConfigError> {
        let (file, text) = match path {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.to_path_buf(), source })?;
                (p.display().to_string(), text)
            }
            None => ("built-in defaults".to_string(), String::new()),
        };
        let mut table: toml::Table = text.parse().map_err(|e| toml_error(&file, Some(&text), &e))?;
        for arg in overrides {
            apply_override(&mut table, arg)?;
        }
        let origin = if overrides.is_empty() { file.clone() } else { format!("{file} with --set overrides") };
        let unknown = unknown_keys(&table);
        if !unknown.is_empty() {
            let message = format!("unknown keys (see `awpo config print`): {}", unknown.join(", "));
            return Err(ConfigError::Parse { origin, message });
        }
        let cfg: RunConfig = table.try_into().map_err(|e| {
            // A value of the wrong type in the file itself: read the file alone again, for its line.
            match toml::from_str::<RunConfig>(&text) {
                Err(own) if path.is_some() => toml_error(&file, Some(&text), &own),
                _ => toml_error(&origin, None, &e),
            }
        })?;
        cfg.validate().map_err(|problems| ConfigError::Invalid { origin, problems })?;
        Ok(cfg)
    }

    /// Every invalid value at once.
    ///
    /// # Errors
    /// Each bad key with what is wrong with it.
    pub fn validate(&self) -> Result<(), Vec<(&'static str, String)>> {
        let mut problems = self.algo.problems();
        problems.extend(self.lora.problems());
        problems.extend(self.reward.problems());
        problems.extend(self.prompt.problems());
        problems.extend(self.judge.problems());
        problems.extend(sections::problems(&self.rollout, &self.optim, &self.train));
        if !self.data.synth_categories.is_empty() && self.data.train != "synth" {
            let why =
                format!("applies to the generated corpus only (data.train = \"synth\"), not {:?}", self.data.train);
            problems.push(("data.synth_categories", why));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// The configuration as TOML (parses back to the same value).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print config: {e}"))
    }
}

/// Optional keys, absent from the printed defaults.
const OPTIONAL_KEYS: [&str; 2] = ["algo.loss_norm_len", "judge.fallback"];

/// Every key of `table` that no section has, as `section.key`.
fn unknown_keys(table: &toml::Table) -> Vec<String> {
    let known = toml::Table::try_from(RunConfig::default()).unwrap_or_default();
    let mut out = Vec::new();
    for (key, value) in table {
        match (known.get(key), value) {
            (None, _) => out.push(key.clone()),
            (Some(toml::Value::Table(section)), toml::Value::Table(given)) => {
                for k in given.keys() {
                    let path = format!("{key}.{k}");
                    if !section.contains_key(k) && !OPTIONAL_KEYS.contains(&path.as_str()) {
                        out.push(path);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn apply_override(table: &mut toml::Table, arg: &str) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::Override { arg: arg.to_string(), reason: reason.to_string() };
    let (key, raw) = arg.split_once('=').ok_or_else(|| bad("expected section.key=value"))?;
    let path: Vec<&str> = key.trim().split('.').collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(bad("empty key segment"));
    }
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let (last, parents) = path.split_last().ok_or_else(|| bad("empty key"))?;
    let mut cursor = table;
    for part in parents {
        let entry = cursor.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cursor = entry.as_table_mut().ok_or_else(|| bad(&format!("`{part}` is not a section")))?;
    }
    cursor.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::Mode;

    #[test]
    fn overrides_parse_typed_and_bare_values() {
        let args = ["algo.mode=grpo".to_string(), "algo.lambda=0.5".to_string(), "seed=7".to_string()];
        let cfg = RunConfig::load(None, &args).unwrap();
        assert_eq!((cfg.algo.mode, cfg.algo.lambda, cfg.seed), (Mode::Grpo, 0.5, 7));
    }

    #[test]
    fn synth_categories_are_names_and_need_the_corpus() {
        use crate::corpus::Category;
        let set = |v: &str| vec!["data.train=\"synth\"".to_string(), format!("data.synth_categories={v}")];
        let cfg = RunConfig::load(None, &set(r#"["parallel_multiple", "irrelevance"]"#)).unwrap();
        assert_eq!(cfg.data.synth_categories, [Category::ParallelMultiple, Category::Irrelevance]);
        let bad = RunConfig::load(None, &set(r#"["refusal"]"#)).unwrap_err().to_string();
        assert!(bad.contains("refusal") && bad.contains("synth_categories"), "{bad}");
        let builtin = RunConfig::load(None, &[r#"data.synth_categories=["simple"]"#.to_string()]).unwrap_err();
        assert!(builtin.to_string().contains("data.synth_categories"), "{builtin}");
    }

    #[test]
    fn a_process_environment_needs_its_command_and_a_timeout() {
        let load = |sets: &[&str]| RunConfig::load(None, &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let missing = load(&[r#"rollout.environment="process""#]).unwrap_err().to_string();
        assert!(missing.contains("rollout.env_command"), "{missing}");
        let bad = load(&[
            r#"rollout.environment="process""#,
            r#"rollout.env_command=["python3", "env.py"]"#,
            "rollout.env_timeout_s=0",
        ]);
        assert!(bad.unwrap_err().to_string().contains("rollout.env_timeout_s"));
        let cfg =
            load(&[r#"rollout.environment="process""#, r#"rollout.env_command=["python3", "env.py", "-v"]"#]).unwrap();
        let p = cfg.rollout.process().expect("a program");
        assert_eq!(
            (p.program.display().to_string(), p.args),
            ("python3".into(), vec!["env.py".to_string(), "-v".into()])
        );
        assert_eq!(p.timeout, std::time::Duration::from_secs(30));
        assert!(RunConfig::default().rollout.process().is_none(), "only for environment = process");
    }

    #[test]
    fn printed_config_parses_back() {
        let cfg = RunConfig::load(None, &["algo.loss_norm_len=512".to_string()]).unwrap();
        let back: RunConfig = toml::from_str(&cfg.to_toml()).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = RunConfig::load(None, &["algo.lamda=1".to_string()]).unwrap_err().to_string();
        assert!(unknown.contains("lamda"), "{unknown}");
        let two = ["algo.lamda=1".to_string(), "optim.lrr=2".to_string(), "nope.x=1".to_string()];
        let all = RunConfig::load(None, &two).unwrap_err().to_string();
        assert!(
            all.contains("algo.lamda") && all.contains("optim.lrr") && all.contains("nope"),
            "every bad key at once: {all}"
        );
        let invalid =
            RunConfig::load(None, &["algo.eps=0".to_string(), "algo.kappa=-1".to_string()]).unwrap_err().to_string();
        assert!(invalid.contains("algo.eps") && invalid.contains("algo.kappa"), "{invalid}");
        assert!(RunConfig::load(None, &["nokey".to_string()]).is_err());
        let missing = RunConfig::load(Some(Path::new("/nonexistent/run.toml")), &[]).unwrap_err().to_string();
        assert!(missing.contains("/nonexistent/run.toml"), "{missing}");
    }

    #[test]
    fn file_errors_are_one_line_naming_file_line_and_key() {
        let path = std::env::temp_dir().join(format!("awpo-config-{}.toml", std::process::id()));
        let load = |text: &str, sets: &[&str]| {
            std::fs::write(&path, text).unwrap();
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            RunConfig::load(Some(&path), &sets).unwrap_err().to_string()
        };
        let file = path.display().to_string();
        let cases = [
            (load("seed = 1\n[optim\nlr = 1\n", &[]), format!("{file}:2:"), ""),
            (load("seed = 1\n\n[optim]\nlr = \"fast\"\n", &[]), format!("{file}:4:"), "invalid type"),
            (load("[optim]\nlr = nan\n", &[]), file.clone(), "optim.lr"),
            (load("[optim]\nlr = 1.0\n", &["optim.lr=\"x\""]), format!("{file} with --set overrides"), "optim.lr"),
            (load("[optim]\nlr = 0.0\nbeta2 = 2.0\n", &[]), file.clone(), "optim.beta2"),
        ];
        let _ = std::fs::remove_file(&path);
        for (err, origin, key) in cases {
            assert!(err.starts_with(&origin) && err.contains(key), "{err}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
        }
    }

    #[test]
    fn the_smollm2_recipe_loads_and_differs_from_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/smollm2.toml");
        let recipe = RunConfig::load(Some(&path), &[]).expect("the recipe loads");
        let defaults = RunConfig::load(None, &[]).expect("defaults");
        assert_eq!((recipe.data.train.as_str(), recipe.data.held_out.as_str()), ("synth", "synth"));
        assert!(recipe.train.adapter_sft_tasks > 0 && recipe.train.adapter_sft_tasks < recipe.data.builtin_train);
        assert_ne!(recipe.to_toml(), defaults.to_toml());
    }
}
