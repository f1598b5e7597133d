#!/usr/bin/env python3
"""Build the math-verify agreement fixture for o1p-reward's grader.

    pip install math-verify==0.9.0 champ-dataset==1.0.0
    python3 xtask/python/grade_fixture_mathverify.py \
        > crates/o1p-reward/tests/fixtures/mathverify_agreement.jsonl
    python3 xtask/python/grade_fixture_mathverify.py --large > /tmp/champ_large.jsonl

Each output line is one (gold, response) pair with Hugging Face math-verify's verdict:

    {"id": "...", "category": "...", "gold": "...", "response": "...",
     "mv": true|false, "mv_pred": "<what math-verify extracted>"}

Verdict: verify(parse(gold), parse(response)), gold first, in the main thread (math-verify
uses signal.alarm for its timeouts). The gold answer is wrapped in $...$ before parsing so
that bare LaTeX such as \\sqrt{3} is seen by math-verify's LaTeX extractor (its documented
way of passing a gold answer); the response is passed as is.

Two sources:
1. Hand-written tricky cases covering every equivalence category the grader claims
   (separators, decimals, fractions, mixed numbers, percentages, radicals, pi, scientific
   notation, signs, units and degrees, "x = 5", tuples, intervals, sets, choices, algebra,
   empty answers) and every extraction format (boxed first/last, final answer, ####,
   "the answer is", last number).
2. Real LLM solutions from CHAMP (champ_dataset/dataset_files/v0.json, MIT): problems whose
   answer is a plain integer or a short formula, the first model turn of a few
   conversations per problem, chosen with a fixed seed among those of moderate length.
"""

import json
import os
import random
import re
import sys

from math_verify import parse, verify

import champ_dataset

SEED = 20250121
MAX_CHAMP_CHARS = 1800

# (category, gold, response). Responses are written the way models write them.
HAND = []


def boxed(cat, gold, ans, lead="Therefore the answer is "):
    HAND.append((cat, gold, f"{lead}$\\boxed{{{ans}}}$."))


# Integers and thousands separators
for g, a in [
    ("1000", "1,000"), ("1000", "1{,}000"), ("1234567", "1,234,567"), ("1000", "1\\,000"),
    ("72", "072"), ("72", "72.0"), ("72", "73"), ("1000", "100"), ("-5", "-5"), ("-5", "5"),
    ("0", "-0"), ("12", "+12"), ("123456789012345678901234567890", "123456789012345678901234567890"),
    ("123456789012345678901234567890", "123456789012345678901234567891"),
]:
    boxed("integer", g, a)

# Decimals
for g, a in [
    ("0.5", "0.50"), ("0.5", ".5"), ("2.25", "2.250"), ("3.14", "3.14159"), ("0.1", "0.10000"),
    ("1.5", "1.05"), ("-0.75", "-.75"), ("0.333333", "\\frac{1}{3}"), ("0.33", "\\frac{1}{3}"),
    ("12.5", "12.50"),
]:
    boxed("decimal", g, a)

# Fractions
for g, a in [
    ("\\frac{1}{2}", "\\dfrac{1}{2}"), ("\\frac{1}{2}", "\\tfrac{1}{2}"), ("\\frac{1}{2}", "1/2"),
    ("\\frac{1}{2}", "\\frac12"), ("\\frac{1}{2}", "0.5"), ("\\frac{2}{4}", "\\frac{1}{2}"),
    ("\\frac{3}{4}", "\\frac{4}{3}"), ("-\\frac{3}{4}", "\\frac{-3}{4}"), ("-\\frac{3}{4}", "-0.75"),
    ("\\frac{7}{3}", "7/3"), ("\\frac{7}{3}", "\\frac{7}{4}"), ("\\frac{1}{3}", "0.3"),
    ("\\dfrac{5}{6}", "\\frac{10}{12}"), ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}"),
]:
    boxed("fraction", g, a)

# Mixed numbers
for g, a in [
    ("\\frac{5}{2}", "2\\frac{1}{2}"), ("\\frac{7}{4}", "1\\frac{3}{4}"), ("2\\frac{1}{3}", "\\frac{7}{3}"),
    ("\\frac{5}{2}", "2 1/2"), ("\\frac{5}{2}", "3\\frac{1}{2}"),
]:
    boxed("mixed_number", g, a)

# Percentages
for g, a in [
    ("50\\%", "50\\%"), ("50", "50\\%"), ("50\\%", "50"), ("25\\%", "0.25"), ("12.5\\%", "12.5\\%"),
    ("40\\%", "45\\%"), ("10", "10 percent"),
]:
    boxed("percent", g, a)

# Radicals
for g, a in [
    ("2\\sqrt{3}", "\\sqrt{12}"), ("\\sqrt{2}", "\\sqrt2"), ("\\sqrt{2}", "2^{1/2}"),
    ("3\\sqrt{2}", "\\sqrt{18}"), ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"), ("\\sqrt{3}", "\\sqrt{2}"),
    ("\\sqrt[3]{2}", "2^{1/3}"), ("4\\sqrt{2}", "4\\sqrt{3}"), ("\\sqrt{2}", "1.41421356"),
    ("5+2\\sqrt{6}", "(\\sqrt{2}+\\sqrt{3})^2"),
]:
    boxed("sqrt", g, a)

# Pi
for g, a in [
    ("2\\pi", "2 \\pi"), ("\\frac{\\pi}{2}", "\\pi/2"), ("6\\pi", "6\\pi"), ("4\\pi", "12.566"),
    ("\\frac{\\pi}{3}", "\\frac{\\pi}{6}"), ("\\pi r^2", "r^2\\pi"), ("36\\pi", "36 \\pi \\text{ cm}^2"),
]:
    boxed("pi", g, a)

# Scientific notation
for g, a in [
    ("1.5\\times 10^{3}", "1500"), ("1500", "1.5 \\times 10^3"), ("3\\times10^{8}", "3 \\cdot 10^8"),
    ("2\\times 10^{-3}", "0.002"), ("6.02\\times10^{23}", "6.02\\times10^{22}"),
]:
    boxed("scientific", g, a)

# Signs
for g, a in [
    ("-3", "-3"), ("-3", "3"), ("-\\frac{1}{2}", "-\\frac12"), ("-2", "- 2"), ("-\\sqrt{2}", "-\\sqrt{2}"),
    ("-7", "(-7)"),
]:
    boxed("sign", g, a)

# Units and degrees
for g, a in [
    ("5", "5\\text{ cm}"), ("12", "12 \\text{ inches}"), ("30", "30^\\circ"), ("30^\\circ", "30"),
    ("45", "45^{\\circ}"), ("20", "\\$20"), ("18.90", "\\$18.90"), ("10", "10\\text{ meters}"),
    ("90", "90\\text{ degrees}"), ("7", "8\\text{ cm}"), ("60", "60 \\mbox{ minutes}"),
]:
    boxed("units", g, a)

# Equations vs values
for g, a in [
    ("5", "x = 5"), ("5", "x=5"), ("y = 2x + 3", "y=3+2x"), ("2x+3", "y = 2x + 3"), ("-2", "x = -2"),
    ("4", "x = 5"), ("y=2x+3", "y=2x-3"), ("\\frac{1}{2}", "k=\\frac{1}{2}"),
]:
    boxed("equation", g, a)

# Tuples and coordinates
for g, a in [
    ("(1, 2)", "(1,2)"), ("(1,2)", "(2,1)"), ("(3, -4)", "\\left(3, -4\\right)"), ("(1,2,3)", "(1, 2, 3)"),
    ("(\\frac{1}{2}, 3)", "(0.5, 3)"), ("(1, 2)", "(1, 2, 3)"), ("(0, \\sqrt{2})", "(0,\\sqrt2)"),
]:
    boxed("tuple", g, a)

# Intervals
for g, a in [
    ("(1, 2]", "(1,2]"), ("(1, 2]", "[1, 2)"), ("[1, 2)", "(1, 2]"), ("[0, \\infty)", "[0,\\infty)"),
    ("(-\\infty, 3)", "(-\\infty,3)"), ("(-\\infty, 3)", "(-\\infty,3]"), ("[2, 5]", "[2,5]"),
    ("(-\\infty, -1) \\cup (1, \\infty)", "(-\\infty,-1)\\cup(1,\\infty)"),
    ("(-\\infty, -1) \\cup (1, \\infty)", "(1,\\infty)\\cup(-\\infty,-1)"),
    ("[-1, 1]", "[-1, 1)"),
]:
    boxed("interval", g, a)

# Sets in any order
for g, a in [
    ("\\{1, 2, 3\\}", "\\{3, 2, 1\\}"), ("1, 2", "2, 1"), ("1, 2", "1, 3"), ("\\{-1, 1\\}", "\\{1, -1\\}"),
    ("2, -3", "-3, 2"), ("1, 2, 3", "1, 2"), ("\\{1,2\\}", "\\{1,2\\}"),
    ("2 \\pm \\sqrt{3}", "2+\\sqrt{3}, 2-\\sqrt{3}"),
]:
    boxed("set", g, a)

# Multiple choice letters
for g, resp in [
    ("C", "The correct option is \\boxed{C}."), ("C", "So the answer is $\\boxed{(C)}$."),
    ("C", "Thus, \\boxed{\\text{(C)}}."), ("B", "Hence \\boxed{D}."), ("A", "The answer is \\boxed{\\textbf{(A)}}"),
    ("E", "So the answer is $\\boxed{\\text{E}}$."),
]:
    HAND.append(("choice", g, resp))

# Algebraic expressions
for g, a in [
    ("x^2+2x+1", "(x+1)^2"), ("(x+1)^2", "x^2 + 2x + 1"), ("x^2-1", "(x-1)(x+1)"), ("2x+2", "2(x+1)"),
    ("\\frac{x}{2}", "0.5x"), ("x^2", "x^3"), ("a+b", "b+a"), ("n(n+1)/2", "\\frac{n^2+n}{2}"),
    ("2^{n-1}", "\\frac{2^n}{2}"), ("x^2+1", "x^2-1"), ("\\frac{1}{x}", "x^{-1}"), ("3x-2", "3x+2"),
    ("\\sin^2 x + \\cos^2 x", "1"), ("2\\sin x\\cos x", "\\sin 2x"), ("e^{2x}", "(e^x)^2"),
    ("\\ln 8", "3\\ln 2"), ("\\log_2 8", "3"), ("n!", "n!"), ("\\binom{5}{2}", "10"),
    ("4!", "24"), ("i", "\\sqrt{-1}"), ("3+4i", "4i+3"),
]:
    boxed("algebra", g, a)

# Text answers
for g, a in [
    ("\\text{Monday}", "\\text{Monday}"), ("Monday", "\\text{monday}"), ("\\text{Evelyn}", "\\text{Bob}"),
]:
    boxed("text", g, a)

# Empty and missing answers: never correct
for g, resp in [
    ("5", "The answer is \\boxed{}."), ("5", "I am not sure."), ("5", "\\boxed{ }"),
    ("0", "Hmm, I cannot solve this problem."), ("5", "So the answer is \\boxed{5"),
]:
    HAND.append(("empty", g, resp))

# Extraction formats
HAND.extend([
    ("extract", "18", "Janet has 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = 18 dollars.\n#### 18"),
    ("extract", "18", "She makes 9 * 2 = 18 dollars.\n#### 20"),
    ("extract", "\\frac{3}{4}", "Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct."),
    ("extract", "12", "Final Answer: The final answer is $12$. I hope it is correct."),
    ("extract", "12", "Final Answer: The final answer is $13$. I hope it is correct."),
    ("extract", "42", "Adding them up, the answer is 42."),
    ("extract", "42", "So the total is 40 + 2 = 42."),
    ("extract", "7", "We get $x = 3$ and then $y = 7$."),
    ("extract", "2", "First \\boxed{1} was wrong; the final answer is \\boxed{2}."),
    ("extract", "1", "First \\boxed{1} was wrong; the final answer is \\boxed{2}."),
    ("extract", "\\frac{1}{2}", "The probability is $\\frac{1}{2}$."),
    ("extract", "10", "<think>\nLet me compute 4+6. That is 10. Wait, double-check: 4+6=10.\n</think>\nThe answer is $\\boxed{10}$."),
    ("extract", "3", "The roots are 1 and 2, so the sum is \\boxed{3}. Note that 1+2=3 and the product is 2."),
    ("extract", "-4", "Subtracting, we find the result is $-4$."),
    ("extract", "1000000", "There are about 1,000,000 grains."),
    ("extract", "\\frac{\\sqrt{3}}{2}", "Thus $\\sin 60^\\circ = \\boxed{\\dfrac{\\sqrt{3}}{2}}$."),
    ("extract", "(2, 3)", "The intersection point is $\\boxed{(2,3)}$."),
    ("extract", "6", "The final answer is 6"),
])


def champ_cases(per_int=3, per_formula=2, max_chars=MAX_CHAMP_CHARS):
    path = os.path.join(os.path.dirname(champ_dataset.__file__), "dataset_files", "v0.json")
    with open(path) as f:
        problems = json.load(f)["problems"]
    rng = random.Random(SEED)
    plain_formula = re.compile(r"^[0-9n()+\-*/^! ]+$")
    out = []
    for pid in sorted(problems):
        p = problems[pid]
        ans = p["_answer"].strip()
        is_int = re.fullmatch(r"-?\d+", ans) is not None
        is_formula = not is_int and plain_formula.fullmatch(ans) is not None and "n" in ans
        if not (is_int or is_formula):
            continue
        texts = []
        for key in sorted(p["conversations"]):
            msgs = [m for m in p["conversations"][key]["messages"] if m["role"].startswith("Model")]
            if msgs and msgs[0]["text"] and 300 <= len(msgs[0]["text"]) <= max_chars:
                texts.append((key, msgs[0]["text"]))
        rng.shuffle(texts)
        for key, text in texts[: per_int if is_int else per_formula]:
            out.append(("champ_int" if is_int else "champ_formula", ans, text, f"{pid}|{key}"))
    return out


def main():
    rows = []
    if "--large" in sys.argv[1:]:
        # The larger CHAMP sample of docs/grader-audit.md (not committed): up to 8 solutions
        # per integer problem and 5 per formula, up to 3,000 characters, without the pairs
        # of the committed fixture. Measured by the `grade` example + grade_agreement.py.
        small = {ident for _, _, _, ident in champ_cases()}
        for cat, gold, resp, ident in champ_cases(8, 5, 3000):
            if ident not in small:
                rows.append((ident, cat, gold, resp))
    else:
        for i, (cat, gold, resp) in enumerate(HAND):
            rows.append((f"hand_{i:03d}", cat, gold, resp))
        for cat, gold, resp, ident in champ_cases():
            rows.append((ident, cat, gold, resp))
    for ident, cat, gold, resp in rows:
        g = parse(f"${gold}$")
        p = parse(resp)
        ok = bool(verify(g, p))
        pred = str(p[-1]) if p else None
        line = {"id": ident, "category": cat, "gold": gold, "response": resp, "mv": ok, "mv_pred": pred}
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{len(rows)} pairs", file=sys.stderr)


if __name__ == "__main__":
    main()
