//! String normalisation of a final answer, in the spirit of the PRM800K / Hendrycks
//! `strip_string`, but command-aware: `\left(` loses `\left`, `\text{ cm}` is unwrapped before
//! units are stripped, and nothing here can change the value of a correct LaTeX number.

/// Answers longer than this are compared as trimmed strings only.
pub(crate) const MAX_ANSWER_BYTES: usize = 2048;
/// Maximum nesting of `\text{...}` unwrapping.
const MAX_UNWRAP_DEPTH: usize = 8;

/// A normalised answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Normalized {
    /// The normalised text (single spaces, no `$`, no sizing or spacing commands).
    pub text: String,
    /// The answer ended in `%` / `\%` / "percent" (removed from `text`).
    pub percent: bool,
}

/// Commands whose braced argument is kept and the command dropped.
fn is_text_wrapper(name: &str) -> bool {
    matches!(
        name,
        "text"
            | "textbf"
            | "textit"
            | "textrm"
            | "textnormal"
            | "textsf"
            | "texttt"
            | "mathrm"
            | "mathbf"
            | "mathit"
            | "mathsf"
            | "mathtt"
            | "mathnormal"
            | "boldsymbol"
            | "bm"
            | "mbox"
            | "hbox"
            | "emph"
            | "operatorname"
            | "displaystyle"
            | "boxed"
            | "fbox"
    )
}

/// Commands dropped entirely (sizing, spacing, style switches).
fn is_dropped(name: &str) -> bool {
    matches!(
        name,
        "left"
            | "right"
            | "big"
            | "Big"
            | "bigg"
            | "Bigg"
            | "bigl"
            | "bigr"
            | "Bigl"
            | "Bigr"
            | "biggl"
            | "biggr"
            | "Biggl"
            | "Biggr"
            | "middle"
            | "displaystyle"
            | "textstyle"
            | "limits"
            | "nolimits"
            | "rm"
            | "bf"
            | "it"
            | "circ"
            | "degree"
            | "degrees"
            | "!"
            | ","
            | ";"
            | ":"
            | ">"
            | "$"
            | "quad"
            | "qquad"
            | "mathstrut"
            | "strut"
            | "hfill"
            | "noindent"
    )
}

/// Index just past the `}` matching the `{` at `open`, ignoring escaped braces.
pub(crate) fn matching_brace(s: &str, open: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// One pass over the string: drops sizing/spacing commands, unwraps `\text{...}`-like
/// commands, maps `\dfrac` to `\frac`, and leaves everything else verbatim.
fn rewrite_commands(s: &str, depth: usize, out: &mut String) {
    let mut i = 0;
    let b = s.as_bytes();
    while i < b.len() {
        if b[i] != b'\\' {
            let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&s[i..i + ch_len]);
            i += ch_len;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_alphabetic() {
            end += 1;
        }
        if end == start && end < b.len() {
            // A one-character command: `\,`, `\{`, `\%`, `\$`.
            end += s[end..].chars().next().map_or(1, char::len_utf8);
        }
        let name = &s[start..end];
        i = end;
        if is_text_wrapper(name) && depth < MAX_UNWRAP_DEPTH {
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            if j < b.len()
                && b[j] == b'{'
                && let Some(close) = matching_brace(s, j)
            {
                out.push(' ');
                rewrite_commands(&s[j + 1..close - 1], depth + 1, out);
                out.push(' ');
                i = close;
                continue;
            }
            if name == "displaystyle" {
                continue;
            }
        }
        if is_dropped(name) {
            if name == "," || name == "!" {
                // thin spaces inside numbers (1\,000) and negative spaces: nothing
            } else {
                out.push(' ');
            }
            continue;
        }
        match name {
            "dfrac" | "tfrac" => out.push_str("\\frac"),
            "dbinom" | "tbinom" => out.push_str("\\binom"),
            "%" => out.push('%'),
            " " => out.push(' '),
            "le" | "leq" | "leqslant" => out.push_str("\\le "),
            "ge" | "geq" | "geqslant" => out.push_str("\\ge "),
            "ne" | "neq" => out.push_str("\\ne "),
            "lt" => out.push('<'),
            "gt" => out.push('>'),
            "varnothing" => out.push_str("\\emptyset "),
            "lbrace" => out.push_str("\\{"),
            "rbrace" => out.push_str("\\}"),
            "infin" => out.push_str("\\infty "),
            _ => {
                out.push('\\');
                out.push_str(name);
                // Keep a command name separated from a following letter (`\pi x`).
                if name.bytes().all(|c| c.is_ascii_alphabetic())
                    && b.get(i).is_some_and(u8::is_ascii_alphabetic)
                {
                    out.push(' ');
                }
            }
        }
    }
}

/// Unit words stripped after a number (`5 cm`, `29 ways`, `12 \text{ inches}`).
/// Any trailing run of plain words after a number is dropped; this list only matters for
/// single-letter units where a bare letter could also be a variable.
const SHORT_UNITS: &[&str] = &[
    "m", "g", "s", "h", "l", "L", "km", "cm", "mm", "kg", "mg", "ml", "mL",
];

/// Drops trailing words after a numeric prefix: "5 cm", "12 square units", "30 degrees".
fn strip_trailing_words(s: &str) -> &str {
    let t = s.trim_end();
    // Optional ^2 / ^3 / ^{2} after the unit.
    let core = t
        .strip_suffix("^{2}")
        .or_else(|| t.strip_suffix("^{3}"))
        .or_else(|| t.strip_suffix("^2"))
        .or_else(|| t.strip_suffix("^3"))
        .unwrap_or(t)
        .trim_end();
    // Walk back over words made of letters (and a few unit punctuations) separated by spaces.
    let b = core.as_bytes();
    let mut cut = core.len();
    let mut words = 0;
    loop {
        let mut j = cut;
        while j > 0 && (b[j - 1].is_ascii_alphabetic() || b[j - 1] == b'/' || b[j - 1] == b'\'') {
            j -= 1;
        }
        if j == cut || j == 0 || b[j - 1] != b' ' {
            break;
        }
        let word = &core[j..cut];
        if !word.bytes().any(|c| c.is_ascii_alphabetic()) {
            break;
        }
        if word.len() == 1 && !SHORT_UNITS.contains(&word) {
            break;
        }
        words += 1;
        cut = j - 1;
        while cut > 0 && b[cut - 1] == b' ' {
            cut -= 1;
        }
    }
    if words == 0 || words > 4 {
        return s;
    }
    let head = core[..cut].trim_end();
    // Only after something that ends a number or a closed group.
    let ends_with_command = {
        let letters = head.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        letters.len() < head.len() && letters.ends_with('\\')
    };
    match head.as_bytes().last() {
        Some(c)
            if c.is_ascii_digit()
                || *c == b'}'
                || *c == b')'
                || *c == b'.'
                || ends_with_command =>
        {
            head
        }
        _ => s,
    }
}

/// Normalises an answer. Returns `None` for an empty (or effectively empty) answer.
pub(crate) fn normalize(raw: &str) -> Option<Normalized> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_ANSWER_BYTES {
        return None;
    }
    let mut s = String::with_capacity(raw.len());
    for ch in raw.chars() {
        match ch {
            '−' | '–' | '—' => s.push('-'),
            '×' => s.push_str("\\times "),
            '·' | '⋅' => s.push_str("\\cdot "),
            '÷' => s.push_str("\\div "),
            'π' => s.push_str("\\pi "),
            '∞' => s.push_str("\\infty "),
            '√' => s.push_str("\\sqrt"),
            '°' => {}
            '≤' => s.push_str("\\le "),
            '≥' => s.push_str("\\ge "),
            '∪' => s.push_str("\\cup "),
            '\u{a0}' | '\u{2009}' | '\u{202f}' | '\n' | '\r' | '\t' | '~' => s.push(' '),
            _ => s.push(ch),
        }
    }
    let mut s = ascii_forms(&s);
    // Degrees, written every way.
    for pat in ["^{\\circ}", "^\\circ", "^{°}", "{}^\\circ", "^{\\degree}"] {
        if s.contains(pat) {
            s = s.replace(pat, "");
        }
    }
    let mut out = String::with_capacity(s.len());
    rewrite_commands(&s, 0, &mut out);
    let mut s = out.replace('$', " ");
    if s.contains("{,}") {
        s = s.replace("{,}", ",");
    }
    // Collapse whitespace.
    let mut t: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    // Trailing punctuation.
    loop {
        let trimmed = t.trim_end_matches(['.', ';', ':', '!', ' ']);
        // Keep `5!` (a factorial) but drop sentence punctuation.
        let trimmed = if t.ends_with('!')
            && trimmed.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !t.ends_with("!!")
        {
            t.trim_end_matches(['.', ';', ':', ' '])
        } else {
            trimmed
        };
        if trimmed.len() == t.len() {
            break;
        }
        t = trimmed.to_string();
    }
    // Percent.
    let mut percent = false;
    for suffix in ["%", "percent", "per cent", "pct"] {
        if let Some(stripped) = t.strip_suffix(suffix) {
            percent = true;
            t = stripped.trim_end().to_string();
            break;
        }
    }
    // Units and counted nouns after a number.
    t = strip_trailing_words(&t).trim().to_string();
    // Leading "x \in" (x \in [1,2]).
    if let Some(rest) = strip_member_prefix(&t) {
        t = rest.to_string();
    }
    if t.is_empty() || t == "{}" {
        None
    } else {
        Some(Normalized { text: t, percent })
    }
}

/// Commands that a doubly escaped `\\left(` (an answer escaped twice) still means.
fn is_common_command(name: &str) -> bool {
    is_text_wrapper(name)
        || matches!(
            name,
            "left"
                | "right"
                | "frac"
                | "dfrac"
                | "tfrac"
                | "sqrt"
                | "pi"
                | "cdot"
                | "times"
                | "infty"
                | "le"
                | "leq"
                | "ge"
                | "geq"
                | "neq"
                | "cup"
                | "in"
        )
}

/// Plain-text and doubly escaped spellings mapped to LaTeX before anything else:
/// `>=` / `<=` / `!=` (not the factorial `5!=120`), the thousands separator `,\!` of
/// `11,\! 111`, `\\frac` for `\frac`, and Markdown bold around the whole answer.
fn ascii_forms(s: &str) -> String {
    let mut t = s.trim();
    while let Some(inner) = t.strip_prefix("**").and_then(|r| r.strip_suffix("**")) {
        t = inner.trim();
    }
    let b = t.as_bytes();
    let mut out = String::with_capacity(t.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &t[i..];
        if rest.starts_with(")or(") {
            // `(11,7)or(7,11)`: a list of two pairs.
            out.push_str(") or (");
            i += 4;
        } else if rest.starts_with(">=") {
            out.push_str("\\ge ");
            i += 2;
        } else if rest.starts_with("<=") {
            out.push_str("\\le ");
            i += 2;
        } else if rest.starts_with("!=")
            && !(i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b')'))
        {
            out.push_str("\\ne ");
            i += 2;
        } else if (rest.starts_with("{,}") || rest.starts_with("{, }"))
            && out.trim_end().ends_with(|c: char| c.is_ascii_digit())
        {
            // `14{,}916`, also written `14 {, }916`.
            out.truncate(out.trim_end().len());
            out.push(',');
            i += if rest.starts_with("{,}") { 3 } else { 4 };
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
        } else if rest.starts_with(",\\!") && i > 0 && b[i - 1].is_ascii_digit() {
            out.push(',');
            i += 3;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
        } else if let Some(after) = rest.strip_prefix("\\\\") {
            let name: String = after
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            if is_common_command(&name) {
                out.push('\\');
            } else {
                out.push_str("\\\\");
            }
            i += 2;
        } else {
            let ch = rest.chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn strip_member_prefix(t: &str) -> Option<&str> {
    let idx = t.find("\\in ")?;
    let lhs = t[..idx].trim();
    (lhs.len() <= 3 && lhs.chars().all(|c| c.is_ascii_alphabetic())).then(|| t[idx + 4..].trim())
}

/// The comparison key of a normalised answer for string equality: whitespace removed,
/// redundant braces around a single token removed.
pub(crate) fn canonical(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).map(|x| x.text).unwrap_or_default()
    }

    #[test]
    fn strips_decoration() {
        assert_eq!(n("\\left( 1, 2 \\right)"), "( 1, 2 )");
        assert_eq!(n("$\\dfrac{1}{2}$"), "\\frac{1}{2}");
        assert_eq!(n("30^\\circ"), "30");
        assert_eq!(n("5\\text{ cm}"), "5");
        assert_eq!(n("12 square units"), "12");
        assert_eq!(n("\\text{Monday}"), "Monday");
        assert_eq!(n("1\\,000"), "1000");
        assert_eq!(n("5."), "5");
        assert_eq!(n("5!"), "5!");
        assert_eq!(n("x \\in [1, 2)"), "[1, 2)");
        assert_eq!(n("\\$18.90"), "18.90");
        assert_eq!(n("10^{10} \\text{ ways}"), "10^{10}");
        assert_eq!(n("a b"), "a b");
    }

    #[test]
    fn percent_flag() {
        let x = normalize("50\\%").unwrap();
        assert_eq!((x.text.as_str(), x.percent), ("50", true));
    }

    #[test]
    fn empty_answers() {
        for s in ["", " ", "$$", "\\text{}", "{}", "\\quad", "."] {
            assert!(normalize(s).is_none(), "{s:?}");
        }
    }
}
