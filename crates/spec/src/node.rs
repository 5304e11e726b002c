//! A YAML document as a tree of nodes that each know their line and column.
//!
//! serde-saphyr parses (with its limits on aliases, depth and size turned on) into this tree;
//! the loader then converts it by hand so that it can report every problem at once.

use std::fmt;
use std::path::Path;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, Options};

/// Largest stack file read, in bytes.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// A node of the YAML tree with its position (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What kind of value this is, for messages ("a string", "a list", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The scalar as text (numbers and booleans as YAML would print them); `None` for
    /// null, lists and mappings.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Deep-merges `base` under `self`: mappings merge key by key, `self`'s keys win; any
    /// other value of `self` replaces `base` entirely.
    pub fn merged_over(&self, base: &Node) -> Node {
        match (&self.value, &base.value) {
            (Value::Map(mine), Value::Map(theirs)) => {
                let mut out = mine.clone();
                for (bk, bv) in theirs {
                    let key = bk.scalar_text();
                    let existing = out.iter_mut().find(|(k, _)| k.scalar_text() == key);
                    match existing {
                        Some((_, v)) => *v = v.merged_over(bv),
                        None => out.push((bk.clone(), bv.clone())),
                    }
                }
                Node {
                    value: Value::Map(out),
                    line: self.line,
                    column: self.column,
                }
            }
            _ => self.clone(),
        }
    }
}

/// Why a document could not be parsed into a tree at all.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// 1-based line (0 when unknown).
    pub line: u32,
    /// 1-based column (0 when unknown).
    pub column: u32,
    /// The parser's message.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The parser limits: they stop alias bombs, deep nesting and huge scalars before they cost
/// memory or time.
pub fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_reader_input_bytes = Some(MAX_FILE_BYTES);
    // Sized for a workflow of 10,000 tasks (also as the resolved stack a client submits),
    // and still bounded by the input limit.
    budget.max_total_scalar_bytes = MAX_FILE_BYTES;
    budget.max_depth = 64;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_nodes = 1_000_000;
    budget.max_events = 2_500_000;
    budget.max_documents = 1;
    budget.max_merge_keys = 1_000;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 100_000;
    options.alias_limits.max_replay_stack_depth = 32;
    options.with_snippet = false;
    // Only `true` and `false` are booleans: a service or task called `y`, `no` or `on` stays a name.
    options.strict_booleans = true;
    options
}

/// Parses YAML text into a tree.
pub fn parse_str(text: &str) -> Result<Node, SyntaxError> {
    serde_saphyr::from_str_with_options::<Parsed>(text, options())
        .map(|p| p.0)
        .map_err(|e| syntax_error(&e))
}

/// Reads and parses a file. A file larger than [`MAX_FILE_BYTES`] is handed to the parser as
/// a stream so that its own input limit rejects it without reading it all.
pub fn parse_file(path: &Path) -> Result<(String, Node), ParseFileError> {
    let meta = std::fs::metadata(path).map_err(ParseFileError::Io)?;
    if meta.len() > MAX_FILE_BYTES as u64 {
        let file = std::fs::File::open(path).map_err(ParseFileError::Io)?;
        let err = match serde_saphyr::from_reader_with_options::<_, Parsed>(file, options()) {
            Err(e) => syntax_error(&e),
            Ok(_) => SyntaxError {
                line: 0,
                column: 0,
                message: format!("the file is larger than the {MAX_FILE_BYTES}-byte limit"),
            },
        };
        return Err(ParseFileError::Syntax(String::new(), err));
    }
    let bytes = std::fs::read(path).map_err(ParseFileError::Io)?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
            let line = valid.matches('\n').count() as u32 + 1;
            let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
            let message = format!("the file is not valid UTF-8 (byte offset {at})");
            return Err(ParseFileError::Syntax(
                valid,
                SyntaxError {
                    line,
                    column,
                    message,
                },
            ));
        }
    };
    match parse_str(&text) {
        Ok(node) => Ok((text, node)),
        Err(e) => Err(ParseFileError::Syntax(text, e)),
    }
}

/// Why [`parse_file`] failed.
#[derive(Debug)]
pub enum ParseFileError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The file is not YAML the parser accepts; carries the text read so far.
    Syntax(String, SyntaxError),
}

fn syntax_error(e: &serde_saphyr::Error) -> SyntaxError {
    let (line, column) = e
        .location()
        .map_or((0, 0), |l| (l.line() as u32, l.column() as u32));
    let mut full = e.without_snippet().to_string();
    // The input limit arrives as an IO error whose cause says which limit was hit.
    if let Some(cause) = std::error::Error::source(e) {
        full = format!("{full}: {cause}");
    }
    // The parser prefixes "error: line L column C: "; the position is reported separately.
    let message = full
        .lines()
        .next()
        .unwrap_or("invalid YAML")
        .trim_start_matches("error: ")
        .split_once(": ")
        .filter(|(head, _)| head.starts_with("line "))
        .map_or_else(
            || full.lines().next().unwrap_or("invalid YAML").to_string(),
            |(_, m)| m.to_string(),
        );
    // The position is shown separately; drop the parser's own " at line L, column C".
    let message = match message.rfind(" at line ") {
        Some(at) if message[at..].contains(", column ") => message[..at].to_string(),
        _ => message,
    };
    SyntaxError {
        line,
        column,
        message: in_orcos_words(&message),
    }
}

/// The parser's messages that name its own types or repeat themselves, said plainly.
fn in_orcos_words(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("budget breached: ") {
        let what = rest.split([' ', '{', '(']).next().unwrap_or(rest);
        return match what {
            "Depth" => "the file nests deeper than 64 levels".to_string(),
            other => format!(
                "the file is beyond the parser's limit on {}",
                other.to_lowercase()
            ),
        };
    }
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        return format!("duplicate key `{key}`: a key may appear only once in a mapping");
    }
    if message.contains("input size limit") {
        return format!("the file is larger than the input size limit of {MAX_FILE_BYTES} bytes");
    }
    if message.starts_with("alias replay limit exceeded") {
        return "alias replay limit exceeded: its aliases expand to more than 100000 values (an alias bomb?); write the values out or use fewer aliases".to_string();
    }
    message.to_string()
}

/// A node read straight from the parser with its position.
///
/// `serde_saphyr::Spanned<T>` would give the same positions, but through a synthesized map per
/// node whose marker key is allocated and whose two locations are read in full (about a third
/// of the parse of a large stack, then a second pass to copy them into [`Node`]s). This asks
/// the parser for the same span-carrying newtype (`__yaml_spanned`, the name `Spanned` uses)
/// and reads only what a [`Node`] keeps: the value and the line and column where it is used.
/// The tests below pin the positions, so a parser that changes that shape fails them.
struct Parsed(Node);

/// The newtype name under which serde-saphyr hands out a node with its locations.
const SPANNED: &str = "__yaml_spanned";

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Parsed, D::Error> {
        d.deserialize_newtype_struct(SPANNED, SpannedVisitor)
            .map(Parsed)
    }
}

struct SpannedVisitor;

impl<'de> Visitor<'de> for SpannedVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML node with its position")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(SpannedFields)
    }
}

/// The fields of the parser's span-carrying view of a node, in the order it gives them.
enum Field {
    Marker,
    Value,
    Referenced,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field of a spanned node")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(match v {
                    "__serde_saphyr_private_spanned" => Field::Marker,
                    "value" => Field::Value,
                    "referenced" => Field::Referenced,
                    _ => Field::Other,
                })
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

struct SpannedFields;

impl<'de> Visitor<'de> for SpannedFields {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML node with its position")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
        use serde::de::Error;
        let mut value = None;
        // The value comes before its locations; the definition site (after the use site)
        // is not read: the parser synthesizes these fields, so leaving it consumes nothing.
        while let Some(field) = access.next_key::<Field>()? {
            match field {
                Field::Marker => {
                    access.next_value::<serde::de::IgnoredAny>()?;
                }
                Field::Value => value = Some(access.next_value::<ValueOf>()?.0),
                Field::Referenced => {
                    let at = access.next_value::<LineColumn>()?;
                    let value = value.ok_or_else(|| A::Error::custom("a node without a value"))?;
                    return Ok(Node {
                        value,
                        line: at.line,
                        column: at.column,
                    });
                }
                Field::Other => return Err(A::Error::custom("a node without its position")),
            }
        }
        Err(A::Error::custom("a node without its position"))
    }
}

/// The line and column of a location (its span and source are not read).
struct LineColumn {
    line: u32,
    column: u32,
}

impl<'de> Deserialize<'de> for LineColumn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LineColumn, D::Error> {
        d.deserialize_struct("Location", &["line", "column"], LineColumnVisitor)
    }
}

struct LineColumnVisitor;

impl<'de> Visitor<'de> for LineColumnVisitor {
    type Value = LineColumn;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a source location")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<LineColumn, A::Error> {
        use serde::de::Error;
        let (mut line, mut column) = (None, None);
        while let Some(key) = access.next_key::<LocationField>()? {
            match key {
                LocationField::Line => line = Some(access.next_value::<u64>()?),
                LocationField::Column => column = Some(access.next_value::<u64>()?),
                LocationField::Other => break,
            }
            if let (Some(line), Some(column)) = (line, column) {
                // The rest (span, source) is synthesized too: leaving it consumes nothing.
                let fit = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
                return Ok(LineColumn {
                    line: fit(line),
                    column: fit(column),
                });
            }
        }
        Err(A::Error::custom("a location without line and column"))
    }
}

enum LocationField {
    Line,
    Column,
    Other,
}

impl<'de> Deserialize<'de> for LocationField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LocationField, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LocationField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field of a location")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LocationField, E> {
                Ok(match v {
                    "line" => LocationField::Line,
                    "column" => LocationField::Column,
                    _ => LocationField::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// A node's value, its children read as [`Parsed`] nodes.
struct ValueOf(Value);

impl<'de> Deserialize<'de> for ValueOf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ValueOf, D::Error> {
        d.deserialize_any(ValueVisitor).map(ValueOf)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        ValueOf::deserialize(d).map(|v| v.0)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(i128::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
        while let Some(item) = access.next_element::<Parsed>()? {
            items.push(item.0);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
        while let Some(key) = access.next_key::<Parsed>()? {
            let value = access.next_value::<Parsed>()?;
            entries.push((key.0, value.0));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_carry_line_and_column() {
        let n = parse_str("a:\n  b: [1, \"x\"]\n").unwrap();
        let b = n.get("a").and_then(|a| a.get("b")).unwrap();
        assert_eq!((b.line, b.column), (2, 6));
        let Value::Seq(items) = &b.value else {
            panic!("not a list")
        };
        assert_eq!((items[1].line, items[1].column), (2, 10));
        assert_eq!(items[1].value, Value::Str("x".into()));
    }

    #[test]
    fn keys_values_nulls_and_aliases_carry_where_they_are_written() {
        let text = "a: &x {b: 1}\nc: *x\nd:\n  - ~\n  - 2.5\n";
        let n = parse_str(text).unwrap();
        let Value::Map(entries) = &n.value else {
            panic!("not a mapping")
        };
        let at: Vec<(u32, u32)> = entries
            .iter()
            .flat_map(|(k, v)| [(k.line, k.column), (v.line, v.column)])
            .collect();
        // An anchored value is placed after its anchor (`{` of `&x {b: 1}`), an alias where it
        // is used (`*x` on line 2), not where its anchor is.
        assert_eq!(at, vec![(1, 1), (1, 7), (2, 1), (2, 4), (3, 1), (4, 3)]);
        let c = n.get("c").unwrap();
        assert_eq!(c.get("b").unwrap().value, Value::Int(1));
        let Value::Seq(items) = &n.get("d").unwrap().value else {
            panic!("not a list")
        };
        assert_eq!(
            (items[0].value.clone(), items[0].line, items[0].column),
            (Value::Null, 4, 5)
        );
        assert_eq!(
            (items[1].value.clone(), items[1].line, items[1].column),
            (Value::Float(2.5), 5, 5)
        );
    }

    #[test]
    fn merge_keeps_own_keys_and_adds_missing_ones() {
        let base = parse_str("a: 1\nb: {c: 2, d: 3}\n").unwrap();
        let mine = parse_str("b: {c: 9}\ne: 4\n").unwrap();
        let m = mine.merged_over(&base);
        assert_eq!(m.get("a").unwrap().value, Value::Int(1));
        assert_eq!(m.get("b").unwrap().get("c").unwrap().value, Value::Int(9));
        assert_eq!(m.get("b").unwrap().get("d").unwrap().value, Value::Int(3));
        assert_eq!(m.get("e").unwrap().value, Value::Int(4));
    }

    #[test]
    fn a_duplicate_key_is_a_syntax_error_with_its_position() {
        let e = parse_str("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 1));
        assert!(e.message.contains("duplicate key `a`"), "{}", e.message);
        assert!(!e.message.contains("DuplicateKeyPolicy"), "{}", e.message);
    }
}
