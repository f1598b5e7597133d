#!/usr/bin/env python3
"""Build the math-verify regression-suite fixture for o1p-reward's grader.

    pip download math-verify==0.9.0 --no-binary :all: --no-deps -d /tmp/mvsd
    tar xzf /tmp/mvsd/math_verify-0.9.0.tar.gz -C /tmp/mvsd
    pip install math-verify==0.9.0
    python3 xtask/python/grade_fixture_mathverify_suite.py /tmp/mvsd/math_verify-0.9.0 \
        > crates/o1p-reward/tests/fixtures/mathverify_suite.jsonl

The source is the regression suite that ships in math-verify's own PyPI sdist (tests/, Apache
License 2.0, (c) The HuggingFace Team): test_all.py (hand-made cases from model outputs),
test_numina_cases.py (NuminaMath gold answers against model outputs) and
test_open_thoughts.py (OpenThoughts gold answers against model outputs). Every parametrized
case of those three files becomes one line:

    {"id": "<file>::<test>::<n>", "gold": "...", "response": "...", "expected": true|false,
     "mv": true|false, "config": "default" | "<what the test changes>"}

`expected` is the suite's own verdict. `mv` is math-verify 0.9.0's verdict under the test's own
configuration (its `compare_strings` helper, called exactly as the test calls it), which is
`expected` unless math-verify fails its own test. `config` names anything the test changes
from math-verify's defaults (extraction targets, float precision, set-relation comparison);
those rows grade a configuration o1p-reward does not have, and the agreement test reports
them apart.

The test modules are imported with a stand-in `pytest` that only records the parameters, and
the tests' `compare_strings` is replaced by a recorder, so each test body runs once per case to
reveal the configuration it uses; no test code beyond that is executed.
"""

import importlib
import json
import sys
import types

FILES = ["test_all", "test_numina_cases", "test_open_thoughts"]


def fake_pytest(recorded):
    mod = types.ModuleType("pytest")

    def parametrize(names, values, **_kw):
        names = [n.strip() for n in names.split(",")]

        def deco(fn):
            recorded.append((fn, names, values))
            return fn

        return deco

    mod.mark = types.SimpleNamespace(parametrize=parametrize)
    return mod


def config_name(kwargs):
    parts = []
    if kwargs.get("match_types", ["latex", "expr"]) != ["latex", "expr"]:
        parts.append("match_types=" + "+".join(kwargs["match_types"]))
    if kwargs.get("precision", 6) != 6:
        parts.append(f"precision={kwargs['precision']}")
    if kwargs.get("strict", True) is not True:
        parts.append("strict=False")
    if kwargs.get("allow_set_relation_comp", False):
        parts.append("allow_set_relation_comp")
    return ",".join(parts) or "default"


def main():
    root = sys.argv[1]
    sys.path.insert(0, root)
    modules = {}
    rows = []
    for name in FILES:
        recorded = []
        sys.modules["pytest"] = fake_pytest(recorded)
        mod = importlib.import_module(f"tests.{name}")
        modules[name] = mod
        real_compare = importlib.import_module("tests.test_all").compare_strings
        for fn, names, values in recorded:
            for n, case in enumerate(values):
                params = dict(zip(names, case))
                calls = []

                def recorder(gold, pred, **kwargs):
                    calls.append((gold, pred, kwargs))
                    return params.get("expected")

                fn.__globals__["compare_strings"] = recorder
                try:
                    fn(**params)
                except AssertionError:
                    pass
                finally:
                    fn.__globals__["compare_strings"] = real_compare
                if len(calls) != 1:
                    print(f"skipped {name}::{fn.__name__}::{n}: {len(calls)} calls", file=sys.stderr)
                    continue
                gold, pred, kwargs = calls[0]
                try:
                    mv = bool(real_compare(gold, pred, **kwargs))
                except Exception as e:  # a crash in math-verify is its "no"
                    print(f"{name}::{fn.__name__}::{n}: math-verify raised {e!r}", file=sys.stderr)
                    mv = False
                rows.append({
                    "id": f"{name}::{fn.__name__}::{n}",
                    "gold": gold,
                    "response": pred,
                    "expected": bool(params["expected"]),
                    "mv": mv,
                    "config": config_name(kwargs),
                })
    for r in rows:
        sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} cases, {sum(r['config'] == 'default' for r in rows)} default config, "
          f"{sum(r['mv'] == r['expected'] for r in rows)} where math-verify passes its own test",
          file=sys.stderr)


if __name__ == "__main__":
    main()
