"""PEFT LoRA adapters on the tiny `qwen2_untied_mha` parity fixture, with PEFT's log-probs.

Writes crates/o1p-model/tests/fixtures/lora/<name>/ (adapter_config.json and
adapter_model.safetensors exactly as `PeftModel.save_pretrained` writes them) and
crates/o1p-model/tests/fixtures/lora/reference.json: for each adapter, the log-prob of every
next token of two sequences under the PEFT model, and the same under `merge_and_unload()`.

Run by hand (not by CI) with torch, transformers and peft installed:

    python xtask/python/make_lora_fixtures.py

The factors are set to seeded normal(0, 0.3) values instead of PEFT's init (B = 0), so that an
adapter moves the log-probs by far more than the 1e-4 tolerance of the tests.
"""

import json
import pathlib

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
BASE = ROOT / "crates/o1p-model/tests/fixtures/qwen2_untied_mha"
OUT = ROOT / "crates/o1p-model/tests/fixtures/lora"

SEQUENCES = [
    [1, 17, 5, 88, 42, 9, 63, 21, 100, 7, 55, 30],
    [1, 64, 2, 11, 97, 38, 70],
]

ADAPTERS = {
    # Every linear layer of every decoder layer, as `[lora] targets` defaults to.
    "all_linear": dict(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    ),
    # Two modules of the last layer only (`layers = [1]`), rank 2, alpha/rank = 3.
    "q_v_last_layer": dict(r=2, lora_alpha=6, target_modules=["q_proj", "v_proj"], layers_to_transform=[1]),
}


def logprobs(model, ids):
    with torch.no_grad():
        x = torch.tensor([ids])
        logits = model(input_ids=x).logits[0, :-1].double()
        lp = torch.log_softmax(logits, dim=-1)
        return [float(v) for v in lp.gather(1, x[0, 1:, None].long())[:, 0]]


def main():
    torch.manual_seed(0)
    reference = {"base": str(BASE.relative_to(ROOT)), "sequences": SEQUENCES, "adapters": {}}
    for name, kwargs in ADAPTERS.items():
        base = AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32)
        base.eval()
        base_lp = [logprobs(base, s) for s in SEQUENCES]
        config = LoraConfig(lora_dropout=0.0, bias="none", task_type="CAUSAL_LM", **kwargs)
        peft_model = get_peft_model(base, config)
        gen = torch.Generator().manual_seed(len(name))
        with torch.no_grad():
            for pname, p in peft_model.named_parameters():
                if "lora_" in pname:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        peft_model.eval()
        out = OUT / name
        peft_model.save_pretrained(out)
        # PEFT's model card is boilerplate, and the base path it records is this machine's.
        (out / "README.md").unlink()
        written = json.loads((out / "adapter_config.json").read_text())
        written["base_model_name_or_path"] = "qwen2_untied_mha"
        (out / "adapter_config.json").write_text(json.dumps(written, indent=2, sort_keys=True))
        # Reloaded from the files, as a user would, so the reference is what the files mean.
        fresh = AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32)
        loaded = PeftModel.from_pretrained(fresh, out)
        loaded.eval()
        adapted = [logprobs(loaded, s) for s in SEQUENCES]
        merged = loaded.merge_and_unload()
        merged_lp = [logprobs(merged, s) for s in SEQUENCES]
        moved = max(abs(a - b) for x, y in zip(adapted, base_lp) for a, b in zip(x, y))
        gap = max(abs(a - b) for x, y in zip(adapted, merged_lp) for a, b in zip(x, y))
        assert moved > 0.05, f"{name}: the adapter moves log-probs by only {moved}"
        assert gap < 1e-5, f"{name}: merged differs from the adapter by {gap}"
        reference["adapters"][name] = {"logprobs": adapted, "base_logprobs": base_lp}
        print(f"{name}: adapter moves log-probs by up to {moved:.3f}; merged within {gap:.1e}")
    (OUT / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")


if __name__ == "__main__":
    main()
