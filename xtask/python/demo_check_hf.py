#!/usr/bin/env python3
"""Check by hand that the demo model directory loads in Python transformers.

Run from the repository root (needs torch and transformers 5.x; CPU is fine):

    python xtask/python/demo_check_hf.py                       # assets/demo-model
    python xtask/python/demo_check_hf.py /tmp/demo --no-model  # tokenizer only

Checks, and prints one JSON object with the results (exit code 1 if a check fails):
- AutoTokenizer loads tokenizer.json + tokenizer_config.json; the special tokens are
  <pad>=0, <bos>=1, <eos>=2, <unk>=3;
- every character is one token: tokenizer(text).input_ids == [bos] + one id per character,
  for demo prompts and responses (newlines, spaces, backslashes and braces included), and
  the same ids as the raw tokenizer.json pipeline that the Rust side loads (transformers
  builds a Qwen2Tokenizer for model_type qwen2, keeping only the vocabulary);
- decode(ids, skip_special_tokens=True) gives the text back exactly;
- the chat template renders the demo's raw prompt after <bos>;
- unless --no-model: AutoModelForCausalLM loads the weights with no missing or unexpected
  tensor, and greedy generation answers a demo prompt with a \\boxed{} answer.
"""

import argparse
import json
import sys

TEXTS = [
    "Q: Sam has 3 coins, gains 4, loses 2. How many?\n",
    "3+4=7\n7-2=5\nWait, check 3+4=7. Yes.\nWait, recheck: 3+4=7, 7-2=5. Yes.\n\\boxed{5}",
    "Wait, maybe 3+4=8, 8-2=6. So 6.\n\\boxed{6}",
    "Q: Tim has 9 plums, loses 9. How many? Be confident. Solving this problem quickly with less"
    " pause, stop or reflection.\n",
]
PROMPT = "Q: Sam has 3 coins, gains 4, loses 2. How many?\n"


def byte_level(ch):
    """GPT-2's byte-to-unicode spelling of a one-byte character (space -> 'Ġ', newline -> 'Ċ')."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    b = ord(ch)
    if b in printable:
        return ch
    return chr(256 + sum(1 for x in range(b) if x not in printable))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default="assets/demo-model")
    parser.add_argument("--no-model", action="store_true", help="check the tokenizer only")
    args = parser.parse_args()

    import transformers
    from transformers import AutoTokenizer

    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    tok = AutoTokenizer.from_pretrained(args.dir)
    specials = {
        "pad": (tok.pad_token, tok.pad_token_id),
        "bos": (tok.bos_token, tok.bos_token_id),
        "eos": (tok.eos_token, tok.eos_token_id),
        "unk": (tok.unk_token, tok.unk_token_id),
    }
    check(
        specials
        == {"pad": ("<pad>", 0), "bos": ("<bos>", 1), "eos": ("<eos>", 2), "unk": ("<unk>", 3)},
        f"special tokens: {specials}",
    )
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(f"{args.dir}/tokenizer.json")
    vocab = tok.get_vocab()
    round_trips = []
    for text in TEXTS:
        ids = tok(text).input_ids
        expected = [tok.bos_token_id] + [vocab.get(byte_level(c), -1) for c in text]
        back = tok.decode(ids, skip_special_tokens=True)
        ok = ids == expected and back == text and raw.encode(text).ids == ids
        check(ok, f"round trip of {text!r}: ids {ids}, decoded {back!r}")
        round_trips.append({"text": text, "tokens": len(ids), "ok": ok})

    chat = tok.apply_chat_template(
        [{"role": "user", "content": PROMPT[3:-1]}], tokenize=False, add_generation_prompt=True
    )
    check(chat == "<bos>" + PROMPT, f"chat template renders {chat!r}")

    result = {
        "dir": args.dir,
        "versions": {"transformers": transformers.__version__},
        "tokenizer_class": type(tok).__name__,
        "vocab_size": len(vocab),
        "special_tokens": specials,
        "round_trips": round_trips,
        "chat_template": chat,
    }

    if not args.no_model:
        import torch
        from transformers import AutoModelForCausalLM

        result["versions"]["torch"] = torch.__version__
        model, info = AutoModelForCausalLM.from_pretrained(
            args.dir, dtype=torch.float32, output_loading_info=True
        )
        info = {k: sorted(map(str, v)) for k, v in info.items() if v}
        check(not info.get("missing_keys") and not info.get("unexpected_keys"), f"loading: {info}")
        inputs = tok(PROMPT, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(
                **inputs,
                max_new_tokens=320,
                do_sample=False,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )
        response = tok.decode(out[0, inputs.input_ids.shape[1]:], skip_special_tokens=True)
        check("\\boxed{" in response, f"greedy response has no \\boxed{{}}: {response!r}")
        result.update(
            {
                "architecture": type(model).__name__,
                "num_params": sum(p.numel() for p in model.parameters()),
                "loading_info": info,
                "greedy_response": response,
            }
        )

    result["failures"] = failures
    result["ok"] = not failures
    print(json.dumps(result, indent=2))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
