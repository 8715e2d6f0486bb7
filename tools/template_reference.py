#!/usr/bin/env python3
"""Reference chat-template renderer: what Hugging Face transformers would produce.

Replicates transformers' _compile_jinja_template environment (ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks, the loopcontrols extension and a pass-through {% generation %} tag;
its own tojson filter; raise_exception and strftime_now globals) and the variables
apply_chat_template passes (messages, tools, documents, add_generation_prompt and the special
tokens). strftime_now uses a fixed date so that renders are reproducible.

Usage: template_reference.py [--date YYYY-MM-DD[THH:MM:SS]] SOURCE...
  SOURCE is a .jinja file (rendered with bos_token "<s>", eos_token "</s>") or a
  tokenizer_config.json (its chat_template and special tokens).
Prints a JSON list: one entry per source with every fixed conversation rendered, either
{"ok": true, "text": ...} or {"ok": false, "error": message}.
Run with /usr/bin/python3 (Debian's python3-jinja2), the engine transformers uses.
"""
import argparse
import json
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

DEFAULT_BOS = "<s>"
DEFAULT_EOS = "</s>"

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
CONVERSATIONS = {
    "user": [{"role": "user", "content": "Hello!"}],
    "system_user": [SYSTEM, {"role": "user", "content": "What is 2+2?"}],
    "multi_turn": [
        SYSTEM,
        {"role": "user", "content": "Hi there."},
        {"role": "assistant", "content": "Hello! How can I help you today?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "multi_turn_no_system": [
        {"role": "user", "content": "Hi there."},
        {"role": "assistant", "content": "Hello! How can I help you today?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "unicode": [
        {"role": "user",
         "content": "  Qui es-tu ? 你好，世界 🌍🚀 <b>&amp;</b> 'single' \"double\" \\ tab\there\n"
                    "second line  "},
        {"role": "assistant", "content": "こんにちは 😀 Привет!"},
        {"role": "user", "content": "Ещё раз, пожалуйста. ✨"},
    ],
}
TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}]


def cases():
    for name, messages in CONVERSATIONS.items():
        for agp in (False, True):
            yield {"name": name, "messages": messages, "add_generation_prompt": agp, "tools": None}
    yield {"name": "tools", "messages": CONVERSATIONS["system_user"],
           "add_generation_prompt": True, "tools": TOOLS}


class GenerationTag(Extension):
    """transformers' AssistantTracker without tracking: {% generation %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return now.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def token_text(tok):
    if isinstance(tok, dict):
        return tok.get("content")
    return tok


def load_source(path):
    """Returns (template, special tokens) as transformers would see them."""
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
        tmpl = cfg.get("chat_template")
        if isinstance(tmpl, list):
            tmpl = {t["name"]: t["template"] for t in tmpl}.get("default")
        special = {}
        for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
            value = token_text(cfg.get(key))
            if value is not None:
                special[key] = value
        return tmpl, special
    with open(path, encoding="utf-8") as f:
        return f.read(), {"bos_token": DEFAULT_BOS, "eos_token": DEFAULT_EOS}


def error_message(exc):
    # TemplateSyntaxError's str() appends the location; the bare message is what we compare.
    if isinstance(exc, jinja2.exceptions.TemplateError) and exc.message is not None:
        return exc.message
    return str(exc)


def render_source(env, path):
    tmpl, special = load_source(path)
    entry = {"source": path, "special_tokens": special, "cases": []}
    compiled, compile_error = None, None
    try:
        compiled = env.from_string(tmpl)
    except Exception as exc:  # noqa: BLE001 - any failure is a result to compare
        compile_error = exc
    for case in cases():
        result = dict(case)
        try:
            if compile_error is not None:
                raise compile_error
            text = compiled.render(messages=case["messages"], tools=case["tools"], documents=None,
                                   add_generation_prompt=case["add_generation_prompt"], **special)
            result.update(ok=True, text=text)
        except Exception as exc:  # noqa: BLE001
            result.update(ok=False, error=error_message(exc), error_type=type(exc).__name__)
        entry["cases"].append(result)
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--date", default="2025-01-15T12:00:00",
                    help="the fixed 'now' for strftime_now (default %(default)s)")
    ap.add_argument("sources", nargs="+")
    args = ap.parse_args()
    env = make_env(datetime.fromisoformat(args.date))
    json.dump([render_source(env, p) for p in args.sources], sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
