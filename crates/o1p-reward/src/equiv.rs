//! Equivalence of an extracted answer with a gold answer.
//!
//! Both sides are normalised (`normalize.rs`), then read into a small structure ([`Value`]):
//! a multiple-choice letter, a tuple, an interval (ends kept), a union of intervals, a set
//! (in any order), a matrix, an equation, an expression or, when nothing else fits, text.
//! Structures are compared element by element; expressions are compared exactly when both
//! are plain decimal literals (so huge integers never collide) and otherwise by evaluation
//! (`expr.rs`).

use crate::expr::{self, Expr, Relation};
use crate::normalize::{self, MAX_ANSWER_BYTES, Normalized, canonical};

/// Maximum nesting of structures (a set of tuples of intervals...).
const MAX_NESTING: usize = 6;
/// Maximum number of elements in a set, tuple or matrix.
const MAX_ELEMENTS: usize = 64;
/// Relative tolerance when both sides are exact (integers, fractions, radicals).
const EXACT_TOL: f64 = 1e-9;
/// Relative tolerance when a decimal literal is involved (math-verify rounds to 6 places).
const FLOAT_TOL: f64 = 1e-6;

#[derive(Clone, Debug)]
enum Value {
    Choice(char),
    Tuple(Vec<Value>),
    Interval {
        left_closed: bool,
        lo: Box<Value>,
        hi: Box<Value>,
        right_closed: bool,
    },
    Union(Vec<Value>),
    Set(Vec<Value>),
    Matrix(Vec<Vec<Value>>),
    Equation(String, String),
    /// `x \le 5`, `0 < f(x) < 1`: the sides and the relations between them.
    Relation(Vec<String>, Vec<RelOp>),
    Expr {
        expr: Expr,
        literal: Option<String>,
        percent: bool,
    },
    Text(String),
}

/// An order relation or `\ne` between two sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RelOp {
    Lt,
    Le,
    Gt,
    Ge,
    Ne,
}

/// Whether `answer` is equivalent to `gold`. An empty or missing answer (or gold) is never
/// equivalent to anything, not even another empty string.
///
/// ```
/// use o1p_reward::is_equivalent;
/// assert!(is_equivalent("1000", "1,000"));
/// assert!(is_equivalent("\\frac{5}{2}", "2\\frac{1}{2}"));
/// assert!(is_equivalent("50\\%", "0.5"));
/// assert!(is_equivalent("2\\sqrt{3}", "\\sqrt{12}"));
/// assert!(is_equivalent("5", "x = 5"));
/// assert!(is_equivalent("\\{1, 2\\}", "\\{2, 1\\}"));
/// assert!(is_equivalent("x^2-1", "(x-1)(x+1)"));
/// assert!(!is_equivalent("(1, 2]", "[1, 2)"));
/// assert!(!is_equivalent("", ""));
/// ```
pub fn is_equivalent(gold: &str, answer: &str) -> bool {
    let (g, a) = (gold.trim(), answer.trim());
    if g.is_empty() || a.is_empty() {
        return false;
    }
    if g.len() > MAX_ANSWER_BYTES || a.len() > MAX_ANSWER_BYTES {
        // Too long to analyse: only an exact match counts.
        return g == a;
    }
    let (Some(gn), Some(an)) = (normalize::normalize(g), normalize::normalize(a)) else {
        return false;
    };
    let (gc, ac) = (canonical(&gn.text), canonical(&an.text));
    if gc == ac && gn.percent == an.percent {
        return true;
    }
    let (Some(gv), Some(av)) = (to_value(&gn, 0), to_value(&an, 0)) else {
        return false;
    };
    values_equal(&gv, &av, 0)
}

fn to_value(n: &Normalized, depth: usize) -> Option<Value> {
    let v = parse_value(&n.text, depth)?;
    Some(match v {
        Value::Expr { expr, literal, .. } => Value::Expr {
            expr,
            literal,
            percent: n.percent,
        },
        other => other,
    })
}

/// Splits at `sep` at bracket depth 0 (`(`, `[`, `{` and their closers, regardless of kind,
/// so that the half-open interval `[1,2)` is one piece).
fn split_top(s: &str, sep: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut parts = Vec::new();
    let mut depth = 0i64;
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if b[i..].starts_with(b"\\{") => {
                depth += 1;
                i += 2;
                continue;
            }
            b'\\' if b[i..].starts_with(b"\\}") => {
                depth -= 1;
                i += 2;
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        if depth == 0 && b[i..].starts_with(sep.as_bytes()) {
            parts.push(s[start..i].to_string());
            i += sep.len();
            start = i;
            continue;
        }
        i += 1;
    }
    parts.push(s[start..].to_string());
    parts
}

/// If `s` is wrapped in a matched pair starting at 0 and ending at the last byte (any
/// bracket kinds, so intervals qualify), returns (open, inner, close).
fn outer_brackets(s: &str) -> Option<(char, &str, char)> {
    let (open, close) = (s.chars().next()?, s.chars().last()?);
    if s.len() < 2 || !matches!(open, '(' | '[') || !matches!(close, ')' | ']') {
        return None;
    }
    let b = s.as_bytes();
    let mut depth = 0i64;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 && i + 1 != b.len() {
                    return None;
                }
            }
            _ => {}
        }
    }
    (depth == 0).then(|| (open, &s[1..s.len() - 1], close))
}

/// `A`, `(A)`, `A)`, `A.`, `\text{(A)}`: a multiple-choice letter A-E.
fn choice_letter(s: &str) -> Option<char> {
    let t = s
        .trim()
        .trim_start_matches('(')
        .trim_end_matches([')', '.', ':'])
        .trim();
    let mut cs = t.chars();
    match (cs.next(), cs.next()) {
        (Some(c @ 'A'..='E'), None) if s.len() <= 5 => Some(c),
        _ => None,
    }
}

/// A plain decimal literal (`-1,234.50`, `007`), canonicalised for exact comparison:
/// sign, digits without leading zeros, fractional digits without trailing zeros.
fn decimal_literal(s: &str) -> Option<String> {
    let t = s.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let int_digits: String = if int.contains(',') {
        // Thousands separators must be well formed: 1,234,567.
        let groups: Vec<&str> = int.split(',').collect();
        let ok = groups.first().is_some_and(|g| (1..=3).contains(&g.len()))
            && groups[1..].iter().all(|g| g.len() == 3);
        if !ok {
            return None;
        }
        groups.concat()
    } else {
        int.to_string()
    };
    if (int_digits.is_empty() && frac.is_empty())
        || !int_digits.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let int_c = int_digits.trim_start_matches('0');
    let frac_c = frac.trim_end_matches('0');
    let zero = int_c.is_empty() && frac_c.is_empty();
    let mut out = String::new();
    if neg && !zero {
        out.push('-');
    }
    out.push_str(if int_c.is_empty() { "0" } else { int_c });
    if !frac_c.is_empty() {
        out.push('.');
        out.push_str(frac_c);
    }
    Some(out)
}

/// `2 1/2` (a mixed number in plain text) to `(2+1/2)`.
fn plain_mixed_number(s: &str) -> Option<String> {
    let (whole, frac) = s.split_once(' ')?;
    let (num, den) = frac.split_once('/')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    let w = whole.strip_prefix('-').unwrap_or(whole);
    (digits(w) && digits(num) && digits(den)).then(|| {
        let sign = if whole.starts_with('-') { "-" } else { "" };
        format!("{sign}({w}+{num}/{den})")
    })
}

/// `\{` / `\}` pairs inside a set body never close the outer set early.
fn balanced_set_braces(inner: &str) -> bool {
    let mut depth = 0i64;
    let mut rest = inner;
    while let Some(i) = rest.find('\\') {
        let tail = &rest[i..];
        if tail.starts_with("\\{") {
            depth += 1;
        } else if tail.starts_with("\\}") {
            depth -= 1;
            if depth < 0 {
                return false;
            }
        }
        rest = &rest[i + 1..];
    }
    depth == 0
}

/// Prose or a word answer: letters only (`Monday`, `no solution`), or a run of three or
/// more letters that is not a function name (`\text{Evelyn}` after normalisation).
fn is_wordy(s: &str) -> bool {
    if s.len() >= 2
        && s.bytes().all(|c| c.is_ascii_alphabetic() || c == b' ')
        && s.bytes().filter(|c| c.is_ascii_alphabetic()).count() >= 3
    {
        return true;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word = &s[start..i];
            let command = start > 0 && b[start - 1] == b'\\';
            if !command && word.len() >= 3 && !expr::is_word_command(word) {
                return true;
            }
        } else {
            i += 1;
        }
    }
    false
}

/// The items of a bare list, split at every top-level separator (`,`, `;`, ` or `,
/// ` and `); one item if there is none or an item would be empty.
fn list_items(s: &str) -> Vec<String> {
    let mut items = vec![s.to_string()];
    for sep in [",", ";", " or ", " and "] {
        let mut next = Vec::with_capacity(items.len());
        for item in &items {
            next.extend(split_top(item, sep));
            if next.len() > MAX_ELEMENTS + 1 {
                break;
            }
        }
        items = next;
    }
    if items.iter().any(|p| p.trim().is_empty()) {
        return vec![s.to_string()];
    }
    items
}

fn parse_elems(parts: &[String], depth: usize) -> Option<Vec<Value>> {
    if parts.len() > MAX_ELEMENTS {
        return None;
    }
    parts
        .iter()
        .map(|p| parse_value(p.trim(), depth + 1))
        .collect()
}

/// Equations `lhs = rhs`; `\ne`, `\le` and `\ge` never split.
fn split_equation(s: &str) -> Option<(String, String)> {
    let parts = split_top(s, "=");
    if parts.len() < 2 || parts.iter().any(|p| p.trim().is_empty()) {
        return None;
    }
    let lhs = parts[0].trim().to_string();
    let rhs = parts[parts.len() - 1].trim().to_string();
    Some((lhs, rhs))
}

/// The rows of a matrix written with `pmatrix`, `bmatrix`, ... or `\left[\begin{array}{cc}
/// ... \end{array}\right]` (normalised to `[\begin{array}...]`), also inside parentheses.
fn matrix_body(s: &str) -> Option<&str> {
    let mut s = s.trim();
    if let Some((_, inner, _)) = outer_brackets(s)
        && inner.trim_start().starts_with("\\begin{")
    {
        s = inner.trim();
    }
    for env in [
        "pmatrix", "bmatrix", "matrix", "vmatrix", "Bmatrix", "array",
    ] {
        let begin = format!("\\begin{{{env}}}");
        let end = format!("\\end{{{env}}}");
        if let Some(inner) = s
            .strip_prefix(begin.as_str())
            .and_then(|r| r.strip_suffix(end.as_str()))
        {
            if env == "array" {
                // The column specification `{cc}`.
                let inner = inner.trim_start();
                let close = inner
                    .starts_with('{')
                    .then(|| crate::normalize::matching_brace(inner, 0))
                    .flatten()?;
                return Some(&inner[close..]);
            }
            return Some(inner);
        }
    }
    None
}

/// Splits `0 < f(x) \le 1` at its top-level relations. `None` without one.
fn split_relation(s: &str) -> Option<(Vec<String>, Vec<RelOp>)> {
    let b = s.as_bytes();
    let (mut depth, mut start, mut i) = (0i64, 0usize, 0usize);
    let (mut sides, mut ops) = (Vec::new(), Vec::new());
    while i < b.len() {
        let (op, len) = match b[i] {
            b'(' | b'[' | b'{' => {
                depth += 1;
                (None, 1)
            }
            b')' | b']' | b'}' => {
                depth -= 1;
                (None, 1)
            }
            b'<' => (Some(RelOp::Lt), 1),
            b'>' => (Some(RelOp::Gt), 1),
            b'\\' => {
                let name: String = s[i + 1..]
                    .chars()
                    .take_while(char::is_ascii_alphabetic)
                    .collect();
                let op = match name.as_str() {
                    "le" => Some(RelOp::Le),
                    "ge" => Some(RelOp::Ge),
                    "ne" => Some(RelOp::Ne),
                    _ => None,
                };
                (op, 1 + name.len().max(1))
            }
            _ => (None, 1),
        };
        if let Some(op) = op
            && depth == 0
        {
            sides.push(s[start..i].trim().to_string());
            ops.push(op);
            start = i + len;
        }
        i += len;
    }
    if ops.is_empty() || ops.len() > 2 {
        return None;
    }
    sides.push(s[start..].trim().to_string());
    sides.iter().all(|p| !p.is_empty()).then_some((sides, ops))
}

/// A relation read as the interval of its one unknown: `0 < f(x) \le 1` is `(0, 1]`,
/// `x \ge 5` is `[5, \infty)`.
fn relation_interval(sides: &[String], ops: &[RelOp]) -> Option<(String, Value)> {
    let interval = |lo: &str, lc: bool, hi: &str, rc: bool| -> Option<Value> {
        Some(Value::Interval {
            left_closed: lc,
            lo: Box::new(side(lo)?),
            hi: Box::new(side(hi)?),
            right_closed: rc,
        })
    };
    let below = |op: RelOp| matches!(op, RelOp::Lt | RelOp::Le);
    let above = |op: RelOp| matches!(op, RelOp::Gt | RelOp::Ge);
    let closed = |op: RelOp| matches!(op, RelOp::Le | RelOp::Ge);
    match (sides, ops) {
        ([lo, x, hi], &[a, b]) if below(a) && below(b) => {
            Some((canonical(x), interval(lo, closed(a), hi, closed(b))?))
        }
        ([hi, x, lo], &[a, b]) if above(a) && above(b) => {
            Some((canonical(x), interval(lo, closed(b), hi, closed(a))?))
        }
        ([l, r], &[op]) if op != RelOp::Ne && (is_name(l) || is_name(r)) => {
            let (x, bound, op) = if is_name(l) {
                (l, r, op)
            } else {
                let flipped = match op {
                    RelOp::Lt => RelOp::Gt,
                    RelOp::Le => RelOp::Ge,
                    RelOp::Gt => RelOp::Lt,
                    RelOp::Ge => RelOp::Le,
                    RelOp::Ne => RelOp::Ne,
                };
                (r, l, flipped)
            };
            let v = if below(op) {
                interval("-\\infty", false, bound, closed(op))?
            } else {
                interval(bound, closed(op), "\\infty", false)?
            };
            Some((canonical(x), v))
        }
        _ => None,
    }
}

/// Two relations between two sides: the same region when `rhs - lhs` (oriented so that
/// it is positive) is a positive multiple of the other's, with the same strictness
/// (`5 \ge x` is `x \le 5`, `-x > -1` is `x < 1`).
fn relations_equal(a: (&[String], &[RelOp]), b: (&[String], &[RelOp])) -> bool {
    let oriented = |sides: &[String], op: RelOp| -> Option<(Expr, RelOp)> {
        let (l, r) = (expr::parse(&sides[0]).ok()?, expr::parse(&sides[1]).ok()?);
        Some(match op {
            RelOp::Lt | RelOp::Le => (Expr::Sum(vec![(false, r), (true, l)]), op),
            RelOp::Gt => (Expr::Sum(vec![(false, l), (true, r)]), RelOp::Lt),
            RelOp::Ge => (Expr::Sum(vec![(false, l), (true, r)]), RelOp::Le),
            RelOp::Ne => (Expr::Sum(vec![(false, l), (true, r)]), RelOp::Ne),
        })
    };
    match (a, b) {
        ((sa, [oa]), (sb, [ob])) => {
            let (Some((da, ka)), Some((db, kb))) = (oriented(sa, *oa), oriented(sb, *ob)) else {
                return false;
            };
            let rel = if ka == RelOp::Ne {
                Relation::Proportional
            } else {
                Relation::PositiveMultiple
            };
            ka == kb && expr::compare(&da, &db, EXACT_TOL, rel)
        }
        ((sa, oa), (sb, ob)) => match (relation_interval(sa, oa), relation_interval(sb, ob)) {
            (Some((xa, ia)), Some((xb, ib))) => xa == xb && values_equal(&ia, &ib, 1),
            _ => false,
        },
    }
}

/// A left-hand side that labels the answer rather than constraining it: a name (`x`,
/// `f(x)`), a tuple of names (`(p, q)`), or a product or ratio of letters without digits
/// or sums (`AB`, `\frac{NO}{BO}`, `S_{MBCN}:S`).
fn is_label(s: &str) -> bool {
    let s = s.trim();
    if is_name(s) {
        return true;
    }
    if let Some(('(', inner, ')')) = outer_brackets(s) {
        let parts = split_top(inner, ",");
        return parts.len() >= 2 && parts.iter().all(|p| is_name(p));
    }
    // Digits in subscripts (`V_{1}:V_{2}`) are part of names.
    let mut plain = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'_' {
            i += 1;
            if b.get(i) == Some(&b'{') {
                while i < b.len() && b[i] != b'}' {
                    i += 1;
                }
            }
            i += 1;
            continue;
        }
        plain.push(b[i]);
        i += 1;
    }
    s.len() <= 32
        && plain.iter().any(u8::is_ascii_alphabetic)
        && !plain.iter().any(u8::is_ascii_digit)
        && !plain
            .iter()
            .skip(1)
            .any(|c| matches!(c, b'+' | b'-' | b',' | b' '))
}

/// An expression without unknowns (`8! - 1260 - 6720`).
fn is_constant(s: &str) -> bool {
    expr::parse(s).is_ok_and(|e| {
        let mut vars = std::collections::BTreeSet::new();
        e.vars(&mut vars);
        vars.is_empty()
    })
}

/// An expression that parses and has unknowns (`a + 3z`). A left side that does not parse
/// or takes a remainder (`3^{105} \mod 11`, `4^105 mod 7`) is taken for a computation.
fn has_unknowns(s: &str) -> bool {
    !s.contains("mod")
        && expr::parse(s).is_ok_and(|e| {
            let mut vars = std::collections::BTreeSet::new();
            e.vars(&mut vars);
            !vars.is_empty()
        })
}

/// `x`, `y_1`, `a_{n}`, `\theta`, `f(x)`: a left-hand side that only names the answer.
fn is_name(s: &str) -> bool {
    let s = s.trim();
    let s = s
        .strip_suffix("(x)")
        .or_else(|| s.strip_suffix("(n)"))
        .unwrap_or(s);
    let (head, sub) = s.split_once('_').unwrap_or((s, ""));
    let head_ok = (head.len() == 1 && head.bytes().all(|c| c.is_ascii_alphabetic()))
        || (head.starts_with('\\')
            && head.len() <= 8
            && head[1..].bytes().all(|c| c.is_ascii_alphabetic()));
    let sub = sub.trim_start_matches('{').trim_end_matches('}');
    head_ok && sub.len() <= 4 && sub.bytes().all(|c| c.is_ascii_alphanumeric())
}

fn parse_value(s: &str, depth: usize) -> Option<Value> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if depth > MAX_NESTING {
        return Some(Value::Text(canonical(s)));
    }
    if let Some(c) = choice_letter(s) {
        return Some(Value::Choice(c));
    }
    // `x = 1/3 \approx 0.33`: the exact value before the approximation; `x \approx 11`
    // states the value.
    if let Some(i) = s.find("\\approx") {
        let head = &s[..i];
        if split_top(head, "=").len() > 1 {
            return parse_value(head, depth + 1);
        }
        return parse_value(&s.replacen("\\approx", "=", 1), depth + 1);
    }
    if s == "\\emptyset" || s == "\\{\\}" {
        return Some(Value::Set(Vec::new()));
    }
    // Plus-minus: 2 \pm \sqrt{3} is the set of both (`\pmod` is not a plus-minus).
    if let Some((a, b)) = s.split_once("\\pm")
        && !b.starts_with(|c: char| c.is_ascii_alphabetic())
        && !b.contains("\\pm")
    {
        let plus = format!("{a}+{b}");
        let minus = format!("{a}-({b})");
        return Some(Value::Set(vec![
            parse_value(&plus, depth + 1)?,
            parse_value(&minus, depth + 1)?,
        ]));
    }
    // Union of intervals.
    let union = split_top(s, "\\cup");
    if union.len() > 1 {
        let parts = parse_elems(&union, depth)?;
        if parts
            .iter()
            .all(|p| matches!(p, Value::Interval { .. } | Value::Tuple(_) | Value::Set(_)))
        {
            return Some(Value::Union(parts));
        }
        return Some(Value::Text(canonical(s)));
    }
    // Sets \{ ... \}.
    if let Some(inner) = s.strip_prefix("\\{").and_then(|r| r.strip_suffix("\\}"))
        && balanced_set_braces(inner)
    {
        let parts = split_top(inner, ",");
        return Some(Value::Set(parse_elems(&parts, depth)?));
    }
    // Matrices and vectors.
    if let Some(inner) = matrix_body(s) {
        {
            let rows: Vec<&str> = inner
                .split("\\\\")
                .filter(|r| !r.trim().is_empty())
                .collect();
            if rows.len() > MAX_ELEMENTS {
                return None;
            }
            let mut out = Vec::new();
            for row in rows {
                let cells: Vec<String> = row.split('&').map(str::to_string).collect();
                out.push(parse_elems(&cells, depth)?);
            }
            return Some(Value::Matrix(out));
        }
    }
    // `{1, 2, 3}` written without the escapes.
    if s.starts_with('{') && crate::normalize::matching_brace(s, 0) == Some(s.len()) {
        let parts = split_top(&s[1..s.len() - 1], ",");
        if parts.len() >= 2 {
            return Some(Value::Set(parse_elems(&parts, depth)?));
        }
    }
    // Tuples and intervals; `(0;-2;6)` is a tuple too.
    if let Some((open, inner, close)) = outer_brackets(s) {
        let mut parts = split_top(inner, ",");
        if parts.len() == 1 && open == '(' && close == ')' {
            parts = split_top(inner, ";");
        }
        if parts.len() >= 2 {
            let elems = parse_elems(&parts, depth)?;
            if open == '(' && close == ')' || parts.len() != 2 {
                return Some(Value::Tuple(elems));
            }
            let mut it = elems.into_iter();
            let (lo, hi) = (it.next()?, it.next()?);
            return Some(Value::Interval {
                left_closed: open == '[',
                lo: Box::new(lo),
                hi: Box::new(hi),
                right_closed: close == ']',
            });
        }
    }
    // Whole-number thousands separators: 1,234,567.
    if let Some(lit) = decimal_literal(s) {
        let e = expr::parse(&lit).ok()?;
        return Some(Value::Expr {
            expr: e,
            literal: Some(lit),
            percent: false,
        });
    }
    // Bare lists: "1, 2, 3", "x = 1 or x = 2", "3 and 4", "21, 16 or 11".
    let parts = list_items(s);
    if parts.len() > 1 {
        return Some(Value::Set(parse_elems(&parts, depth)?));
    }
    if let Some((lhs, rhs)) = split_equation(s) {
        return Some(Value::Equation(lhs, rhs));
    }
    if let Some((sides, ops)) = split_relation(s) {
        return Some(Value::Relation(sides, ops));
    }
    if let Some(m) = plain_mixed_number(s)
        && let Ok(e) = expr::parse(&m)
    {
        return Some(Value::Expr {
            expr: e,
            literal: None,
            percent: false,
        });
    }
    if is_wordy(s) {
        return Some(Value::Text(canonical(s).to_ascii_lowercase()));
    }
    match expr::parse(s) {
        Ok(e) => Some(Value::Expr {
            expr: e,
            literal: None,
            percent: false,
        }),
        Err(_) => Some(Value::Text(canonical(s))),
    }
}

fn exprs_equal(a: &Expr, b: &Expr) -> bool {
    let tol = if a.has_float() || b.has_float() {
        FLOAT_TOL
    } else {
        EXACT_TOL
    };
    expr::compare(a, b, tol, Relation::Equal)
}

fn scaled(e: &Expr, by: f64) -> Expr {
    Expr::Prod(vec![(false, e.clone()), (false, Expr::Num(by, false))])
}

/// Parses one side of an equation or relation, with room for a little structure (the
/// tuple of `(p, q) = (3, 2)`). Sides are strict substrings, so this always terminates.
fn side(s: &str) -> Option<Value> {
    parse_value(s, MAX_NESTING / 2)
}

fn values_equal(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > MAX_NESTING {
        return false;
    }
    let eq = |x: &Value, y: &Value| values_equal(x, y, depth + 1);
    match (a, b) {
        (Value::Choice(x), Value::Choice(y)) => x == y,
        (Value::Text(x), Value::Text(y)) => x == y,
        (
            Value::Expr {
                expr: ea,
                literal: la,
                percent: pa,
            },
            Value::Expr {
                expr: eb,
                literal: lb,
                percent: pb,
            },
        ) => {
            if let (Some(x), Some(y), false, false) = (la, lb, pa, pb) {
                // Two plain decimals: exact, digit by digit (no float collisions).
                return x == y;
            }
            exprs_equal(ea, eb)
                || (*pa && !*pb && exprs_equal(&scaled(ea, 0.01), eb))
                || (*pb && !*pa && exprs_equal(ea, &scaled(eb, 0.01)))
        }
        (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| eq(p, q))
        }
        (
            Value::Interval {
                left_closed: l1,
                lo: lo1,
                hi: hi1,
                right_closed: r1,
            },
            Value::Interval {
                left_closed: l2,
                lo: lo2,
                hi: hi2,
                right_closed: r2,
            },
        ) => l1 == l2 && r1 == r2 && eq(lo1, lo2) && eq(hi1, hi2),
        (Value::Set(x), Value::Set(y)) | (Value::Union(x), Value::Union(y)) => {
            same_members(x, y, &eq)
        }
        (Value::Set(x), other) | (other, Value::Set(x)) if x.len() == 1 => eq(&x[0], other),
        (Value::Union(x), other) | (other, Value::Union(x)) if x.len() == 1 => eq(&x[0], other),
        (Value::Matrix(x), Value::Matrix(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(r, s)| r.len() == s.len() && r.iter().zip(s).all(|(p, q)| eq(p, q)))
        }
        (Value::Equation(l1, r1), Value::Equation(l2, r2)) => {
            if canonical(l1) == canonical(l2)
                && let (Some(x), Some(y)) = (side(r1), side(r2))
                && eq(&x, &y)
            {
                return true;
            }
            // Same relation written differently: lhs - rhs proportional (2x+2y=2 vs x+y=1).
            let diff = |l: &str, r: &str| -> Option<Expr> {
                let (Ok(l), Ok(r)) = (expr::parse(l), expr::parse(r)) else {
                    return None;
                };
                Some(Expr::Sum(vec![(false, l), (true, r)]))
            };
            match (diff(l1, r1), diff(l2, r2)) {
                (Some(d1), Some(d2)) => expr::compare(&d1, &d2, EXACT_TOL, Relation::Proportional),
                _ => false,
            }
        }
        (Value::Relation(sa, oa), Value::Relation(sb, ob)) => relations_equal((sa, oa), (sb, ob)),
        (Value::Relation(sides, ops), other @ Value::Interval { .. })
        | (other @ Value::Interval { .. }, Value::Relation(sides, ops)) => {
            relation_interval(sides, ops).is_some_and(|(_, i)| eq(&i, other))
        }
        // `(0, 1)` is also the open interval.
        (Value::Relation(sides, ops), Value::Tuple(t))
        | (Value::Tuple(t), Value::Relation(sides, ops))
            if t.len() == 2 =>
        {
            let open = Value::Interval {
                left_closed: false,
                lo: Box::new(t[0].clone()),
                hi: Box::new(t[1].clone()),
                right_closed: false,
            };
            relation_interval(sides, ops).is_some_and(|(_, i)| eq(&i, &open))
        }
        (Value::Equation(l, r), other) | (other, Value::Equation(l, r)) => {
            // "x = 5", "(p, q) = (3, 2)", "AB = 4" against the value: one side labels the
            // answer. "8! - 1260 - 6720 = 120": a computation, the right side is the result.
            // "a + 3z = 0" is an equation, not the number 0.
            let value = match (is_label(l), is_label(r)) {
                (true, false) => r,
                (false, true) => l,
                (true, true) => r,
                (false, false) if is_constant(r) && !has_unknowns(l) => r,
                (false, false) => return false,
            };
            side(value).is_some_and(|v| eq(&v, other))
        }
        _ => false,
    }
}

/// Set equality: every member of each side has an equal member on the other side.
fn same_members(x: &[Value], y: &[Value], eq: &dyn Fn(&Value, &Value) -> bool) -> bool {
    if x.len().max(y.len()) > MAX_ELEMENTS {
        return false;
    }
    let covered = |p: &[Value], q: &[Value]| p.iter().all(|a| q.iter().any(|b| eq(a, b)));
    // Distinct sizes only match when duplicates explain the difference; require both
    // directions to cover.
    !x.is_empty() && !y.is_empty() && covered(x, y) && covered(y, x)
        || (x.is_empty() && y.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_literals() {
        assert_eq!(decimal_literal("1,234"), Some("1234".into()));
        assert_eq!(decimal_literal("007.50"), Some("7.5".into()));
        assert_eq!(decimal_literal("-0.0"), Some("0".into()));
        assert_eq!(decimal_literal("1,23"), None);
        assert_eq!(decimal_literal("1.2.3"), None);
        assert_eq!(decimal_literal(".5"), Some("0.5".into()));
    }

    #[test]
    fn names() {
        for s in ["x", "y_1", "a_{n}", "\\theta", "f(x)"] {
            assert!(is_name(s), "{s}");
        }
        for s in ["2x", "x+y", "xyz"] {
            assert!(!is_name(s), "{s}");
        }
    }
}
