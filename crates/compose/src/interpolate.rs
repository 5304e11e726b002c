//! `${VAR}` interpolation as compose does it: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`, `${VAR?message}`, and
//! `$$` for a literal `$`. Defaults may themselves hold `${…}`.

use std::collections::BTreeMap;

/// What interpolating one string found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A variable without a default is not set: it became the empty string.
    Unset(String),
    /// `${VAR:?message}` (or `?`) with the variable unset (or empty): an error.
    Required { var: String, message: String },
    /// `${` without its `}`, or a bad variable name.
    Syntax(String),
}

/// Interpolates `text` with `vars`; the result and every problem met.
pub fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> (String, Vec<Problem>) {
    let mut problems = Vec::new();
    let out = expand(text, vars, &mut problems, 0);
    (out, problems)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn expand(
    text: &str,
    vars: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
    depth: u32,
) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                // Find the matching `}`, allowing nested `${…}` in the default.
                let mut level = 1;
                let mut j = i + 2;
                while j < chars.len() {
                    match chars[j] {
                        '{' if j > 0 && chars[j - 1] == '$' => level += 1,
                        '}' => {
                            level -= 1;
                            if level == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    problems.push(Problem::Syntax(format!(
                        "`{}` has no closing `}}`",
                        chars[i..].iter().collect::<String>()
                    )));
                    out.extend(&chars[i..]);
                    return out;
                }
                let inner: String = chars[i + 2..j].iter().collect();
                out.push_str(&braced(&inner, vars, problems, depth));
                i = j + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                match vars.get(&name) {
                    Some(v) => out.push_str(v),
                    None => problems.push(Problem::Unset(name)),
                }
                i = j;
            }
            // A lone `$` stays.
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    out
}

fn braced(
    inner: &str,
    vars: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
    depth: u32,
) -> String {
    let name_len = inner.find(|c: char| !is_name(c)).unwrap_or(inner.len());
    let (name, rest) = inner.split_at(name_len);
    if name.is_empty() || !name.starts_with(is_name_start) {
        problems.push(Problem::Syntax(format!(
            "`${{{inner}}}` does not name a variable"
        )));
        return String::new();
    }
    let value = vars.get(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    let sub = |text: &str, problems: &mut Vec<Problem>| {
        if depth > 8 {
            text.to_string()
        } else {
            expand(text, vars, problems, depth + 1)
        }
    };
    let (op, arg) = if let Some(arg) = rest.strip_prefix(":-") {
        (":-", arg)
    } else if let Some(arg) = rest.strip_prefix(":?") {
        (":?", arg)
    } else if let Some(arg) = rest.strip_prefix(":+") {
        (":+", arg)
    } else if let Some(arg) = rest.strip_prefix('-') {
        ("-", arg)
    } else if let Some(arg) = rest.strip_prefix('?') {
        ("?", arg)
    } else if let Some(arg) = rest.strip_prefix('+') {
        ("+", arg)
    } else if rest.is_empty() {
        ("", "")
    } else {
        problems.push(Problem::Syntax(format!(
            "`${{{inner}}}`: expected `:-`, `-`, `:?`, `?`, `:+` or `+` after the name"
        )));
        return String::new();
    };
    match op {
        "" => match value {
            Some(v) => v.clone(),
            None => {
                problems.push(Problem::Unset(name.to_string()));
                String::new()
            }
        },
        ":-" if set_nonempty => value.cloned().unwrap_or_default(),
        ":-" => sub(arg, problems),
        "-" => match value {
            Some(v) => v.clone(),
            None => sub(arg, problems),
        },
        ":+" if set_nonempty => sub(arg, problems),
        "+" if value.is_some() => sub(arg, problems),
        ":+" | "+" => String::new(),
        ":?" if set_nonempty => value.cloned().unwrap_or_default(),
        "?" if value.is_some() => value.cloned().unwrap_or_default(),
        _ => {
            let message = sub(arg, problems);
            problems.push(Problem::Required {
                var: name.to_string(),
                message,
            });
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("SET".to_string(), "value".to_string()),
            ("EMPTY".to_string(), String::new()),
        ])
    }

    fn run(text: &str) -> (String, Vec<Problem>) {
        interpolate(text, &vars())
    }

    #[test]
    fn defaults_apply_when_a_variable_is_unset_or_with_a_colon_also_when_empty() {
        assert_eq!(run("${SET:-d}").0, "value");
        assert_eq!(run("${NOPE:-d}").0, "d");
        assert_eq!(run("${EMPTY:-d}").0, "d");
        assert_eq!(run("${EMPTY-d}").0, "");
        assert_eq!(run("${NOPE-d}").0, "d");
        assert_eq!(run("${NOPE:-${SET}}").0, "value");
        assert_eq!(run("a-$SET-b").0, "a-value-b");
    }

    #[test]
    fn alternatives_apply_only_when_the_variable_is_set() {
        assert_eq!(run("${SET:+alt}").0, "alt");
        assert_eq!(run("${EMPTY:+alt}").0, "");
        assert_eq!(run("${EMPTY+alt}").0, "alt");
        assert_eq!(run("${NOPE+alt}").0, "");
    }

    #[test]
    fn a_double_dollar_is_a_literal_dollar() {
        assert_eq!(run("$$(cat /x) $$HOME").0, "$(cat /x) $HOME");
        assert!(run("$$(cat /x)").1.is_empty());
    }

    #[test]
    fn an_unset_variable_becomes_empty_and_is_reported() {
        let (out, problems) = run("x${NOPE}y$NOPE2");
        assert_eq!(out, "xy");
        assert_eq!(
            problems,
            vec![
                Problem::Unset("NOPE".into()),
                Problem::Unset("NOPE2".into())
            ]
        );
    }

    #[test]
    fn a_required_variable_that_is_missing_is_an_error_with_its_message() {
        let (_, problems) = run("${NOPE:?set NOPE first}");
        assert_eq!(
            problems,
            vec![Problem::Required {
                var: "NOPE".into(),
                message: "set NOPE first".into()
            }]
        );
        assert!(run("${SET:?x}").1.is_empty());
    }

    #[test]
    fn broken_syntax_is_reported_not_panicked_on() {
        for bad in ["${", "${NOPE", "${}", "${1A}", "${A!b}", "$", "${A:-${B}"] {
            let (_, problems) = run(bad);
            if bad != "$" {
                assert!(!problems.is_empty(), "{bad}");
            }
        }
        assert_eq!(run("cost: 5$").0, "cost: 5$");
    }
}
