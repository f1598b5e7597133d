//! Extraction and equivalence never panic and finish fast, on arbitrary and adversarial
//! strings; numeric equivalence is symmetric and agrees with exact rational arithmetic.

use o1p_reward::{GradeOptions, extract_answer, grade, grade_sample, is_equivalent};
use proptest::prelude::*;
use std::time::{Duration, Instant};

/// Generous: debug builds are ~10x slower than the release builds the project tests with.
const BUDGET: Duration = Duration::from_secs(5);

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    let dt = t.elapsed();
    assert!(dt < BUDGET, "{what} took {dt:?}");
    out
}

fn all_paths(gold: &str, response: &str) {
    for opts in [GradeOptions::default(), GradeOptions::reference_code()] {
        let _ = extract_answer(response, &opts);
        let _ = grade(gold, response, &opts);
        let _ = grade_sample(gold, response, true, &opts);
    }
    let _ = is_equivalent(gold, response);
    let _ = is_equivalent(response, gold);
}

#[test]
fn adversarial_inputs() {
    let mb = 1 << 20;
    let cases: Vec<(&str, String)> = vec![
        (
            "deep braces",
            format!("\\boxed{{{}x{}}}", "{".repeat(mb / 2), "}".repeat(mb / 2)),
        ),
        ("unclosed braces", format!("\\boxed{{{}", "{".repeat(mb))),
        (
            "deep parens",
            format!("\\boxed{{{}1{}}}", "(".repeat(100_000), ")".repeat(100_000)),
        ),
        (
            "deep fracs",
            format!(
                "\\boxed{{{}1{}}}",
                "\\frac{1}{".repeat(20_000),
                "}".repeat(20_000)
            ),
        ),
        ("many boxes", "\\boxed{1} ".repeat(mb / 10)),
        ("many boxed words", "\\boxed".repeat(mb / 6)),
        ("huge number", format!("\\boxed{{{}}}", "9".repeat(mb))),
        ("huge digits text", "9".repeat(mb)),
        ("power tower", format!("\\boxed{{{}2}}", "2^".repeat(5_000))),
        ("huge exponent", "\\boxed{10^{10^{10^{10}}}}".to_string()),
        ("factorial", "\\boxed{100000!}".to_string()),
        ("many commas", format!("\\boxed{{{}}}", "1,".repeat(mb / 2))),
        ("many sets", format!("\\boxed{{{}}}", "\\{".repeat(10_000))),
        (
            "many cups",
            format!("\\boxed{{{}}}", "(1,2)\\cup".repeat(10_000)),
        ),
        ("many equals", format!("\\boxed{{{}}}", "x=".repeat(10_000))),
        ("answer phrases", "the answer is ".repeat(mb / 14)),
        ("dollars", "$".repeat(mb)),
        ("backslashes", "\\".repeat(mb)),
        ("hashes", "####".repeat(mb / 4)),
        ("unicode", "√π∞°−×÷".repeat(mb / 20)),
        ("minus signs", "-".repeat(mb)),
        (
            "text nesting",
            format!("\\boxed{{{}}}", "\\text{".repeat(10_000)),
        ),
        ("pm chain", format!("\\boxed{{{}}}", "1\\pm".repeat(10_000))),
        (
            "matrix",
            format!(
                "\\boxed{{\\begin{{pmatrix}}{}\\end{{pmatrix}}}}",
                "1&".repeat(100_000)
            ),
        ),
        (
            "many variables",
            format!(
                "\\boxed{{{}}}",
                ('a'..='z')
                    .map(|c| format!("{c}_{{{c}}}+"))
                    .collect::<String>()
                    + "1"
            ),
        ),
    ];
    for (name, s) in &cases {
        timed(name, || all_paths(s, s));
        timed(name, || all_paths("\\frac{1}{2}", s));
        timed(name, || all_paths(s, "\\boxed{5}"));
    }
}

#[test]
fn long_inputs_compare_exactly_only() {
    let long = format!("\\boxed{{{}}}", "1+".repeat(5_000) + "1");
    assert!(!grade("10001", &long, &GradeOptions::default()).correct);
    let same = "1".repeat(5_000);
    assert!(is_equivalent(&same, &same));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(gold in ".{0,64}", response in ".{0,512}") {
        timed("arbitrary", || all_paths(&gold, &response));
    }

    #[test]
    fn latexish_strings_never_panic(
        gold in r"[0-9a-z\\{}()\[\],.=+\-*/^_!|%$ ]{0,40}",
        response in r"(\\boxed\{|\\frac|\\sqrt|\\text\{|\\pi|\\infty|\\cup|\\pm|\\left|\\right|[0-9xyi{}()\[\],.=+\-*/^_!|%$ ]){0,80}",
    ) {
        timed("latexish", || all_paths(&gold, &response));
    }

    /// Numeric equivalence is symmetric and matches rational equality across notations.
    #[test]
    fn numeric_equivalence_is_exact_and_symmetric(
        p1 in -500i64..500, q1 in 1i64..40, f1 in 0usize..5,
        p2 in -500i64..500, q2 in 1i64..40, f2 in 0usize..5,
    ) {
        let a = notation(p1, q1, f1);
        let b = notation(p2, q2, f2);
        let want = p1 * q2 == p2 * q1;
        let ab = is_equivalent(&a, &b);
        let ba = is_equivalent(&b, &a);
        prop_assert_eq!(ab, ba, "not symmetric: {} vs {}", a, b);
        prop_assert_eq!(ab, want, "{} vs {}", a, b);
    }

    /// Equivalence is symmetric on arbitrary latex-like pairs too.
    #[test]
    fn equivalence_is_symmetric(
        a in r"(\\frac\{[0-9]\}\{[1-9]\}|\\sqrt\{[0-9]\}|[0-9x]|[+\-*/^(),]|\\pi|\\\{|\\\}|\[|\]){1,12}",
        b in r"(\\frac\{[0-9]\}\{[1-9]\}|\\sqrt\{[0-9]\}|[0-9x]|[+\-*/^(),]|\\pi|\\\{|\\\}|\[|\]){1,12}",
    ) {
        prop_assert_eq!(is_equivalent(&a, &b), is_equivalent(&b, &a), "{} vs {}", a, b);
    }
}

/// The rational p/q written in one of several notations.
fn notation(p: i64, q: i64, form: usize) -> String {
    match form {
        0 => format!("\\frac{{{p}}}{{{q}}}"),
        1 => format!("{p}/{q}"),
        2 => {
            if p < 0 {
                format!("-\\dfrac{{{}}}{{{q}}}", -p)
            } else {
                format!("\\dfrac{{{p}}}{{{q}}}")
            }
        }
        3 => {
            // An exact decimal when q divides a power of ten, else the fraction.
            let mut d = q;
            while d % 2 == 0 {
                d /= 2;
            }
            while d % 5 == 0 {
                d /= 5;
            }
            if d == 1 {
                format!("{}", p as f64 / q as f64)
            } else {
                format!("\\frac{{{p}}}{{{q}}}")
            }
        }
        _ => format!("\\frac{{{}}}{{{}}}", 2 * p, 2 * q),
    }
}
