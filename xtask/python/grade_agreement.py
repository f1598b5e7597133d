#!/usr/bin/env python3
"""Agreement of our grader with math-verify on a sample made by grade_fixture_mathverify.py.

    python3 xtask/python/grade_fixture_mathverify.py --large > /tmp/champ_large.jsonl
    cargo run --release --example grade -- /tmp/champ_large.jsonl > /tmp/champ_graded.jsonl
    python3 xtask/python/grade_agreement.py /tmp/champ_large.jsonl /tmp/champ_graded.jsonl

A measurement, not a test: the larger sample is not committed (the committed audit set and
math-verify's own suite are, and tests/mathverify_agreement.rs asserts on them). Grading goes
through the `grade` example, so what is measured is the binary users run. Prints every
disagreement (id, gold, our extraction, math-verify's verdict) and the agreement rate.
"""

import json
import sys


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        sample = [json.loads(line) for line in f if line.strip()]
    with open(sys.argv[2], encoding="utf-8") as f:
        graded = [json.loads(line) for line in f if line.strip()]
    if len(sample) != len(graded):
        sys.exit(f"{len(sample)} sample lines but {len(graded)} graded lines")
    agree = 0
    for row, ours in zip(sample, graded):
        if "error" in ours:
            sys.exit(f"grade failed on {row.get('id')}: {ours['error']}")
        if ours["correct"] == row["mv"]:
            agree += 1
        else:
            print(f"{row.get('id')}: gold {row['gold']!r}, ours {ours['extracted']!r} "
                  f"({ours['correct']}), math-verify {row['mv']}")
    print(f"agreement {agree} / {len(sample)} = {100 * agree / len(sample):.2f} %")


if __name__ == "__main__":
    main()
