//! A small brace-balanced `\boxed{...}` extractor, local to the loaders.
//!
//! o1p-reward owns answer extraction for grading; this copy only pulls gold answers out of
//! MATH solutions, where the last box is the answer by the dataset's convention.

/// The content of the last `\boxed{...}` (or `\fbox{...}`) in `text`, braces balanced, trimmed.
/// `None` when there is no box or the last one is never closed.
pub(crate) fn last_boxed(text: &str) -> Option<String> {
    let start = ["\\boxed{", "\\fbox{"]
        .iter()
        .filter_map(|m| text.rfind(m).map(|i| i + m.len()))
        .max()?;
    let mut depth = 1usize;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(text[start..start + i].trim().to_string());
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::last_boxed;

    #[test]
    fn cases() {
        let check = |t: &str, want: Option<&str>| assert_eq!(last_boxed(t).as_deref(), want, "{t}");
        check("so \\boxed{5}.", Some("5"));
        check(
            "\\boxed{1} then \\boxed{\\frac{1}{2}}",
            Some("\\frac{1}{2}"),
        );
        check("\\boxed{ 3 }", Some("3"));
        check("\\fbox{7}", Some("7"));
        check("no box", None);
        check("\\boxed{unclosed {", None);
        check("\\boxed{a}\\fbox{b}", Some("b"));
    }
}
