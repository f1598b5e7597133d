#!/usr/bin/env python3
"""Reference renderings of real chat templates, for crates/o1p-data/tests/real_chat_templates.rs.

    bash scripts/fetch-assets.sh   # once
    python xtask/python/make_chat_template_goldens.py [ASSETS_DIR] \
        > crates/o1p-data/tests/fixtures/real_chat_templates.json

The templates are llama.cpp's copies of the real ones (.assets/llama.cpp/models/templates/, from
the llama-cpp-python 0.3.36 sdist). Each is rendered with transformers' `render_jinja_template`,
the function `apply_chat_template(..., tokenize=False)` hands the template to, with the
model's bos / eos token strings as the special-token context (`apply_chat_template` passes the
tokenizer's `special_tokens_map`; these templates read only `bos_token` / `eos_token`). Every
conversation is rendered with and without `add_generation_prompt`.

The fixture stores the sha256 of each template file, so a test knows it renders the same text.
"""

import hashlib
import json
import os
import sys

import jinja2
import transformers
from transformers.utils.chat_template_utils import render_jinja_template

TEMPLATES = [
    # file, bos_token, eos_token (as in each model's tokenizer_config.json; Qwen has no bos).
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>"),
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
]

CONVERSATIONS = {
    "user": [{"role": "user", "content": "What is 2 + 2?"}],
    "system_user": [
        {"role": "system", "content": "You are a careful math tutor. Put the final answer in \\boxed{}."},
        {"role": "user", "content": "Solve x + 3 = 5."},
    ],
    "multi_turn": [
        {"role": "user", "content": "Natalia sold clips to 48 friends in April, and half as many in May. How many in all?"},
        {"role": "assistant", "content": "<think>\n48 / 2 = 24, 48 + 24 = 72.\n</think>\n\nShe sold \\boxed{72} clips."},
        {"role": "user", "content": "And if she sold 10 more in June?"},
    ],
    "system_multi_turn_whitespace": [
        {"role": "system", "content": "  Be brief.\n"},
        {"role": "user", "content": "  Héllo, 世界 🦙  \n"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": "Compute 7 × 8."},
    ],
}


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    assets = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", ".assets")
    out = {
        "versions": {"transformers": transformers.__version__, "jinja2": jinja2.__version__},
        "templates": [],
    }
    for name, bos, eos in TEMPLATES:
        path = os.path.join(assets, "llama.cpp", "models", "templates", name)
        source = open(path, encoding="utf-8").read()
        cases = []
        for conv_name, conv in CONVERSATIONS.items():
            for gen in (True, False):
                rendered, _ = render_jinja_template(
                    conversations=[conv],
                    chat_template=source,
                    add_generation_prompt=gen,
                    bos_token=bos,
                    eos_token=eos,
                )
                cases.append(
                    {
                        "conversation": conv_name,
                        "add_generation_prompt": gen,
                        "messages": conv,
                        "rendered": rendered[0],
                    }
                )
        out["templates"].append(
            {
                "file": f"llama.cpp/models/templates/{name}",
                "sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
                "bos_token": bos,
                "eos_token": eos,
                "cases": cases,
            }
        )
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
