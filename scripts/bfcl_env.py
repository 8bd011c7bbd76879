#!/usr/bin/env python3
"""BFCL's own multi-turn simulators served over awpo's environment protocol (version 1).

    python3 scripts/bfcl_env.py --bfcl-dir DIR

DIR is an unpacked bfcl-eval wheel (the folder holding `bfcl_eval/`), by default the one that
`scripts/fetch-assets.sh bfcl` fetches. Needs only Python 3 (+ mpmath for MathAPI).

One JSON object per line on stdin, one answer per line on stdout (see src/env/protocol.rs):

  {"op": "hello", "protocol": 1}       -> {"ok": true, "protocol": 1, "name": "bfcl-multi-turn"}
  {"op": "reset", "task": {"id": "multi_turn_base_0", ...}}
                                       -> {"ok": true, "messages": [{"role": "user", "content": ...}]}
  {"op": "step", "calls": [{"name": ..., "arguments": {...}}, ...]}
      calls made: executed by BFCL's `execute_multi_turn_func_call` on this episode's instances
                                       -> {"ok": true, "messages": [{"role": "tool", "content": ...}], "done": false}
      no calls (the model ended its turn): the next user turn, or the end with BFCL's verdict
                                       -> {"ok": true, "messages": [...], "done": false}
                                       -> {"ok": true, "messages": [], "done": true, "reward": 1.0 | 0.0}
  {"op": "ground_truth"}               -> {"ok": true, "turns": [[{"name", "arguments"}, ...], ...]}
  {"op": "check"}                      -> {"ok": true, "valid": bool, "error_type": ..., "error_message": ...}
  {"op": "close"}                      -> exits

Errors answer {"ok": false, "error": "..."}. The verdict is BFCL's `multi_turn_checker` (the state of
every involved object equals the ground truth's after each turn, and the ground truth's execution
results appear in the model's) on the calls this episode made, turn by turn.
"""

import argparse
import ast
import inspect
import io
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_bfcl_dir():
    out = subprocess.run(
        ["bash", os.path.join(ROOT, "scripts/fetch-assets.sh"), "bfcl"], check=True, capture_output=True, text=True
    )
    return os.path.join(out.stdout.strip().splitlines()[-1], "bfcl-eval-2026.3.23")


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return {e["id"]: e for e in (json.loads(line) for line in f if line.strip())}


class Server:
    def __init__(self, bfcl_dir):
        sys.path.insert(0, bfcl_dir)
        # The simulators print; stdout is the protocol channel.
        from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_checker, multi_turn_utils

        self.utils = multi_turn_utils
        self.checker = multi_turn_checker
        self.data = os.path.join(bfcl_dir, "bfcl_eval", "data")
        self.entries = {}
        self.answers = {}
        self.episode = 0
        self.entry = None

    def category_of(self, task_id):
        return task_id.rsplit("_", 1)[0]

    def load(self, task_id):
        category = self.category_of(task_id)
        if category not in self.entries:
            self.entries[category] = load_jsonl(os.path.join(self.data, f"BFCL_v4_{category}.json"))
            self.answers[category] = load_jsonl(os.path.join(self.data, "possible_answer", f"BFCL_v4_{category}.json"))
        if task_id not in self.entries[category]:
            raise ValueError(f"no BFCL entry {task_id!r} in BFCL_v4_{category}.json")
        return self.entries[category][task_id], self.answers[category][task_id]["ground_truth"]

    def reset(self, task):
        task_id = task.get("id") if isinstance(task, dict) else None
        if not isinstance(task_id, str):
            raise ValueError("reset: task.id must be a BFCL multi-turn id such as multi_turn_base_0")
        self.entry, self.ground_truth = self.load(task_id)
        self.episode += 1
        self.turn = 0
        self.calls = [[]]  # [turn][step][call string]
        return {"messages": self.entry["question"][0]}

    def execute(self, strings):
        results, _ = self.utils.execute_multi_turn_func_call(
            func_call_list=strings,
            initial_config=self.entry["initial_config"],
            involved_classes=self.entry["involved_classes"],
            model_name=f"awpo_live_{self.episode}",
            test_entry_id=self.entry["id"],
            long_context="long_context" in self.entry["id"],
        )
        return results

    def step(self, calls):
        if self.entry is None:
            raise ValueError("step before reset")
        if self.turn >= len(self.entry["question"]):
            raise ValueError("step after the episode ended")
        if calls:
            strings = [to_python(c) for c in calls]
            self.calls[self.turn].append(strings)
            results = self.execute(strings)
            return {"messages": [{"role": "tool", "content": r} for r in results], "done": False}
        self.turn += 1
        if self.turn < len(self.entry["question"]):
            self.calls.append([])
            return {"messages": self.entry["question"][self.turn], "done": False}
        verdict = self.check()
        return {"messages": [], "done": True, "reward": 1.0 if verdict["valid"] else 0.0}

    def check(self):
        if self.entry is None:
            raise ValueError("check before reset")
        turns = self.calls + [[] for _ in range(len(self.ground_truth) - len(self.calls))]
        quiet = io.StringIO()
        stdout, sys.stdout = sys.stdout, quiet
        try:
            result = self.checker.multi_turn_checker(
                turns,
                self.ground_truth,
                self.entry,
                self.category_of(self.entry["id"]),
                f"awpo_check_{self.episode}",
            )
        finally:
            sys.stdout = stdout
        return {
            "valid": bool(result["valid"]),
            "error_type": result.get("error_type"),
            "error_message": result.get("error_message"),
        }

    def methods(self):
        """Method name -> signature, over the episode's classes."""
        from bfcl_eval.constants.executable_backend_config import CLASS_FILE_PATH_MAPPING
        import importlib

        out = {}
        for name in self.entry["involved_classes"]:
            cls = getattr(importlib.import_module(CLASS_FILE_PATH_MAPPING[name]), name)
            for method, fn in inspect.getmembers(cls, predicate=inspect.isfunction):
                if not method.startswith("_"):
                    out[method] = inspect.signature(fn)
        return out

    def ground_truth_calls(self):
        if self.entry is None:
            raise ValueError("ground_truth before reset")
        signatures = self.methods()
        return {"turns": [[from_python(s, signatures) for s in turn] for turn in self.ground_truth]}


def to_python(call):
    """{"name", "arguments"} -> `name(key=repr(value), ...)`, the form BFCL executes."""
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise ValueError(f"a call must be {{\"name\": str, \"arguments\": {{}}}}, got {call!r}")
    name = call["name"]
    if not name.isidentifier():
        raise ValueError(f"function name {name!r} is not an identifier")
    args = call.get("arguments") or {}
    if not isinstance(args, dict):
        raise ValueError(f"{name}: arguments must be an object")
    return f"{name}(" + ",".join(f"{k}={v!r}" for k, v in args.items()) + ")"


def from_python(text, signatures):
    """`name(a, key=value)` -> {"name", "arguments"}, positional arguments named by the method."""
    node = ast.parse(text, mode="eval").body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(f"not a function call: {text!r}")
    name = node.func.id
    args = [ast.literal_eval(a) for a in node.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    if args:
        sig = signatures.get(name)
        if sig is None:
            raise ValueError(f"{text!r}: positional arguments to an unknown method")
        bound = sig.bind(None, *args, **kwargs)
        kwargs = {k: v for k, v in bound.arguments.items() if k != "self"}
    return {"name": name, "arguments": kwargs}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bfcl-dir", help="unpacked bfcl-eval wheel (default: the fetched one)")
    bfcl_dir = parser.parse_args().bfcl_dir or default_bfcl_dir()
    protocol_out = sys.stdout
    # Anything the simulators print goes to stderr, never into the protocol.
    sys.stdout = sys.stderr
    server = Server(bfcl_dir)

    def answer(obj):
        protocol_out.write(json.dumps(obj) + "\n")
        protocol_out.flush()

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            op = request.get("op")
            if op == "hello":
                answer({"ok": True, "protocol": 1, "name": "bfcl-multi-turn"})
            elif op == "reset":
                answer({"ok": True, **server.reset(request.get("task"))})
            elif op == "step":
                answer({"ok": True, **server.step(request.get("calls") or [])})
            elif op == "check":
                answer({"ok": True, **server.check()})
            elif op == "ground_truth":
                answer({"ok": True, **server.ground_truth_calls()})
            elif op == "close":
                return
            else:
                answer({"ok": False, "error": f"unknown op {op!r}"})
        except Exception as e:  # noqa: BLE001 - every failure is reported to the client
            answer({"ok": False, "error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    main()
