//! Probe expressions: probe names combined with `||`, `&&` and parentheses, nothing else.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::ProbeKind;

/// A parsed probe expression. `&&` binds tighter than `||`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// One probe's result.
    Probe(ProbeKind),
    /// Both pass.
    And(Box<Expr>, Box<Expr>),
    /// Either passes.
    Or(Box<Expr>, Box<Expr>),
}

/// Why an expression did not parse; `offset` is a byte offset into the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// Byte offset of the problem in the expression text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl Expr {
    /// Parses `http || (tcp && log)`.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let tokens = tokenize(text)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            end: text.len(),
        };
        let expr = p.or()?;
        match p.tokens.get(p.pos) {
            None => Ok(expr),
            Some((at, tok)) => Err(ExprError {
                offset: *at,
                message: format!(
                    "unexpected {tok} after a complete expression; join with `||` or `&&`"
                ),
            }),
        }
    }

    /// Evaluates with the given probe results.
    pub fn eval(&self, passed: &impl Fn(ProbeKind) -> bool) -> bool {
        match self {
            Expr::Probe(k) => passed(*k),
            Expr::And(a, b) => a.eval(passed) && b.eval(passed),
            Expr::Or(a, b) => a.eval(passed) || b.eval(passed),
        }
    }

    /// Every probe the expression names, in order of appearance.
    pub fn probes(&self) -> Vec<ProbeKind> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<ProbeKind>) {
        match self {
            Expr::Probe(k) => out.push(*k),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect(out);
                b.collect(out);
            }
        }
    }

    /// All of `kinds` must pass (the default when no expression is written).
    pub fn all(kinds: &[ProbeKind]) -> Option<Expr> {
        let mut iter = kinds.iter().map(|k| Expr::Probe(*k));
        let first = iter.next()?;
        Some(iter.fold(first, |acc, e| Expr::And(Box::new(acc), Box::new(e))))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Probe(k) => f.write_str(k.as_str()),
            Expr::And(a, b) => {
                for (i, side) in [a, b].into_iter().enumerate() {
                    if i == 1 {
                        f.write_str(" && ")?;
                    }
                    if matches!(**side, Expr::Or(..)) {
                        write!(f, "({side})")?;
                    } else {
                        write!(f, "{side}")?;
                    }
                }
                Ok(())
            }
            Expr::Or(a, b) => write!(f, "{a} || {b}"),
        }
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Expr::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(ProbeKind),
    And,
    Or,
    Open,
    Close,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Name(k) => write!(f, "`{}`", k.as_str()),
            Token::And => f.write_str("`&&`"),
            Token::Or => f.write_str("`||`"),
            Token::Open => f.write_str("`(`"),
            Token::Close => f.write_str("`)`"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ExprError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' => i += 1,
            b'(' => {
                out.push((i, Token::Open));
                i += 1;
            }
            b')' => {
                out.push((i, Token::Close));
                i += 1;
            }
            b'&' | b'|' => {
                if bytes.get(i + 1) != Some(&c) {
                    let op = if c == b'&' { "&&" } else { "||" };
                    return Err(ExprError {
                        offset: i,
                        message: format!("`{}` is not an operator; write `{op}`", c as char),
                    });
                }
                out.push((i, if c == b'&' { Token::And } else { Token::Or }));
                i += 2;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &text[start..i];
                let kind = ProbeKind::ALL.into_iter().find(|k| k.as_str() == word);
                match kind {
                    Some(k) => out.push((start, Token::Name(k))),
                    None => {
                        let hint = match word.to_ascii_lowercase().as_str() {
                            "or" => "; write `||`".to_string(),
                            "and" => "; write `&&`".to_string(),
                            "not" => "; negation is not supported".to_string(),
                            _ => String::new(),
                        };
                        return Err(ExprError {
                            offset: start,
                            message: format!(
                                "`{word}` is not a probe name (http, tcp, cmd, log){hint}"
                            ),
                        });
                    }
                }
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(ExprError {
                    offset: i,
                    message: format!(
                        "`{ch}` is not allowed: an expression has only probe names, `||`, `&&` and parentheses"
                    ),
                });
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(at, _)| *at)
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.atom()?;
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            let right = self.atom()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        let at = self.offset();
        match self.tokens.get(self.pos).map(|(_, t)| t.clone()) {
            Some(Token::Name(k)) => {
                self.pos += 1;
                Ok(Expr::Probe(k))
            }
            Some(Token::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(ExprError {
                        offset: self.offset(),
                        message: format!("missing `)` to close the `(` at offset {at}"),
                    });
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(tok) => Err(ExprError {
                offset: at,
                message: format!("expected a probe name or `(`, found {tok}"),
            }),
            None => Err(ExprError {
                offset: at,
                message: "expected a probe name or `(`, found the end".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProbeKind::*;

    fn p(k: ProbeKind) -> Box<Expr> {
        Box::new(Expr::Probe(k))
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let e = Expr::parse("http || tcp && log").unwrap();
        assert_eq!(e, Expr::Or(p(Http), Box::new(Expr::And(p(Tcp), p(Log)))));
    }

    #[test]
    fn parentheses_group() {
        let e = Expr::parse("(http || tcp) && log").unwrap();
        assert_eq!(e, Expr::And(Box::new(Expr::Or(p(Http), p(Tcp))), p(Log)));
        assert_eq!(e.to_string(), "(http || tcp) && log");
    }

    #[test]
    fn evaluation_follows_the_operators() {
        let e = Expr::parse("http || (tcp && log)").unwrap();
        assert!(e.eval(&|k| k == Http));
        assert!(!e.eval(&|k| k == Tcp));
        assert!(e.eval(&|k| k == Tcp || k == Log));
    }

    #[test]
    fn anything_beyond_names_and_operators_is_rejected_with_its_offset() {
        let cases = [
            ("http or log", 5, "write `||`"),
            ("http | log", 5, "write `||`"),
            ("!http", 0, "not allowed"),
            ("http ||", 7, "found the end"),
            ("(http", 5, "missing `)`"),
            ("http log", 5, "unexpected `log`"),
            ("grpc", 0, "not a probe name"),
            ("", 0, "found the end"),
        ];
        for (text, offset, fragment) in cases {
            let err = Expr::parse(text).unwrap_err();
            assert_eq!(err.offset, offset, "{text}: {err}");
            assert!(err.message.contains(fragment), "{text}: {err}");
        }
    }
}
