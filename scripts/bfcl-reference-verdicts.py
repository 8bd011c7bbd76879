#!/usr/bin/env python3
"""BFCL's own verdicts on the cases awpo's BFCL test scores, for a line-by-line comparison.

Run once (the output is committed as tests/fixtures/bfcl/reference_verdicts.jsonl):

    AWPO_BFCL_CASES_OUT=/tmp/bfcl_cases.jsonl cargo test --test e2e bfcl_ground_truth
    python3 scripts/bfcl-reference-verdicts.py /tmp/bfcl_cases.jsonl \
        > tests/fixtures/bfcl/reference_verdicts.jsonl

Each input line is {"key", "hash", "category", "id", "calls": [{name: {arg: value}}]}; each output
line is [key, hash, valid, error_type] from bfcl_eval's `ast_checker`, imported from the
pinned, sha256-checked wheel that scripts/fetch-assets.sh unpacks. `valid` is null and
`error_type` is "exception:<Type>" where BFCL raises. The checker module imports the model
registry (and through it every API client); a stand-in registry with `underscore_to_dot = False`
(names are compared as written) replaces it, nothing else is touched. Needs only Python 3.
"""

import json
import os
import subprocess
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
assets = subprocess.run(
    ["bash", os.path.join(ROOT, "scripts/fetch-assets.sh"), "bfcl"], check=True, capture_output=True, text=True
).stdout.strip().splitlines()[-1]
WHEEL = os.path.join(assets, "bfcl-eval-2026.3.23")
DATA = os.path.join(WHEEL, "bfcl_eval/data")
sys.path.insert(0, WHEEL)


class _Config:
    underscore_to_dot = False


class _Registry(dict):
    def __missing__(self, key):
        return _Config()


registry = types.ModuleType("bfcl_eval.constants.model_config")
registry.MODEL_CONFIG_MAPPING = _Registry()
sys.modules["bfcl_eval.constants.model_config"] = registry

from bfcl_eval.constants.enums import Language  # noqa: E402
from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker  # noqa: E402


def load(path):
    with open(path, encoding="utf-8") as f:
        return {d["id"]: d for d in map(json.loads, filter(str.strip, f))}


def language(category):
    if "javascript" in category:
        return Language.JAVASCRIPT
    if "java" in category:
        return Language.JAVA
    return Language.PYTHON


def main():
    cache = {}
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in filter(str.strip, f):
            case = json.loads(line)
            category = case["category"]
            if category not in cache:
                cache[category] = (
                    load(os.path.join(DATA, f"BFCL_v4_{category}.json")),
                    load(os.path.join(DATA, "possible_answer", f"BFCL_v4_{category}.json")),
                )
            questions, answers = cache[category]
            item, answer = questions[case["id"]], answers[case["id"]]
            try:
                result = ast_checker(
                    item["function"], case["calls"], answer["ground_truth"], language(category), category, "awpo"
                )
                valid, error_type = result["valid"], result.get("error_type")
            except Exception as e:  # BFCL raises on types it cannot convert
                valid, error_type = None, f"exception:{type(e).__name__}"
            out = [case["key"], case["hash"], valid, error_type]
            print(json.dumps(out, ensure_ascii=False, separators=(",", ":")))


if __name__ == "__main__":
    main()
