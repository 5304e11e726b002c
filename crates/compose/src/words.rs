//! Splits a command string into words as compose does (shell quoting rules, no expansion):
//! compose runs `command: a "b c"` as the argument list `["a", "b c"]`, not through a shell.

/// The words of `text`; an error for an unterminated quote or a trailing backslash.
pub fn split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote: add the closing `'`".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => {
                                return Err(
                                    "unterminated double quote: add the closing `\"`".into()
                                );
                            }
                        },
                        Some(c) => word.push(c),
                        None => {
                            return Err("unterminated double quote: add the closing `\"`".into());
                        }
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err("a trailing backslash escapes nothing".into()),
            },
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_group_words_and_backslashes_escape() {
        assert_eq!(
            split(r#"gunicorn -w 3 -b "0.0.0.0:8000" 'app:app' a\ b"#).unwrap_or_default(),
            vec![
                "gunicorn",
                "-w",
                "3",
                "-b",
                "0.0.0.0:8000",
                "app:app",
                "a b"
            ]
        );
        assert_eq!(split(r#""" x"#).unwrap_or_default(), vec!["", "x"]);
    }

    #[test]
    fn an_unterminated_quote_is_an_error() {
        assert!(split("a 'b").is_err());
        assert!(split("a \"b").is_err());
        assert!(split("a \\").is_err());
    }
}
