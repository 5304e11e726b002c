//! `resources`, `placement` and `onDisconnect`: what an instance requests and may use, and
//! where it may run (DESIGN.md §11). Quantities are exact integers: cores in thousandths,
//! memory in bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Cores in thousandths: `0.5`, `"500m"` and `"0.5"` are all 500.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cpu(pub u64);

/// Bytes: `256Mi` (binary: Ki Mi Gi Ti), `256M` (decimal: k M G T) or a plain number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Memory(pub u64);

/// Why a quantity does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not a number with a known unit.
    #[error("`{text}` is not {what}")]
    Malformed {
        /// What was written.
        text: String,
        /// What was expected, e.g. "a number of cores such as `0.5` or `500m`".
        what: &'static str,
        /// A suggestion, e.g. "did you mean `256Mi` or `256M`?".
        hint: Option<String>,
    },
    /// Finer than the unit allows (cores: thousandths).
    #[error("`{0}` is finer than a thousandth of a core")]
    TooFine(String),
    /// Below zero.
    #[error("`{0}` is negative")]
    Negative(String),
    /// Above what 64 bits hold.
    #[error("`{0}` is too large")]
    TooLarge(String),
}

impl QuantityError {
    /// A hint to show beside the error, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            QuantityError::Malformed { hint, .. } => hint.clone(),
            QuantityError::TooFine(_) => Some("write thousandths as `250m`".to_string()),
            _ => None,
        }
    }
}

const CPU_WHAT: &str = "a number of cores such as `0.5`, `2` or `500m`";
const MEMORY_WHAT: &str = "a size such as `256Mi`, `1Gi`, `512M` or a number of bytes";

/// `digits[.digits]` × `unit`, exactly, refusing what would need more than `max_frac`
/// decimal places to stay an integer.
fn decimal(text: &str, number: &str, unit: u64) -> Result<u64, QuantityError> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(QuantityError::Malformed {
            text: text.to_string(),
            what: "",
            hint: None,
        });
    }
    let too_large = || QuantityError::TooLarge(text.to_string());
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let mut value = whole.checked_mul(u128::from(unit)).ok_or_else(too_large)?;
    if !frac.is_empty() {
        let digits = frac.trim_end_matches('0');
        if digits.len() > 30 {
            return Err(QuantityError::TooFine(text.to_string()));
        }
        let scale = 10u128.pow(digits.len() as u32);
        let f: u128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| too_large())?
        };
        let part = f.checked_mul(u128::from(unit)).ok_or_else(too_large)?;
        if part % scale != 0 {
            return Err(QuantityError::TooFine(text.to_string()));
        }
        value = value.checked_add(part / scale).ok_or_else(too_large)?;
    }
    u64::try_from(value).map_err(|_| too_large())
}

impl FromStr for Cpu {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Cpu, QuantityError> {
        let t = text.trim();
        if t.starts_with('-') {
            return Err(QuantityError::Negative(text.to_string()));
        }
        let malformed = |hint: Option<String>| QuantityError::Malformed {
            text: text.to_string(),
            what: CPU_WHAT,
            hint,
        };
        let (number, unit) = match t.strip_suffix('m') {
            Some(n) => (n, 1),
            None => (t, 1000),
        };
        match decimal(text, number, unit) {
            Ok(v) => Ok(Cpu(v)),
            Err(QuantityError::Malformed { .. }) => {
                let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
                let hint = (!digits.is_empty()).then(|| {
                    format!("write cores as `{digits}` or thousandths of a core as `{digits}m`")
                });
                Err(malformed(hint))
            }
            Err(QuantityError::TooFine(_)) => Err(QuantityError::TooFine(text.to_string())),
            Err(e) => Err(e),
        }
    }
}

/// Binary and decimal units, longest first so that `Mi` is tried before `M`.
const MEMORY_UNITS: [(&str, u64); 9] = [
    ("Ki", 1 << 10),
    ("Mi", 1 << 20),
    ("Gi", 1 << 30),
    ("Ti", 1 << 40),
    ("k", 1_000),
    ("M", 1_000_000),
    ("G", 1_000_000_000),
    ("T", 1_000_000_000_000),
    ("", 1),
];

impl FromStr for Memory {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Memory, QuantityError> {
        let t = text.trim();
        if t.starts_with('-') {
            return Err(QuantityError::Negative(text.to_string()));
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let malformed = |hint: Option<String>| QuantityError::Malformed {
            text: text.to_string(),
            what: MEMORY_WHAT,
            hint,
        };
        let Some((_, size)) = MEMORY_UNITS.iter().find(|(u, _)| *u == unit) else {
            // `256MB`, `256mb`, `256 Mi`, `1gib`: name both units the writer may have meant.
            let letter = unit.trim().chars().next().map(|c| c.to_ascii_uppercase());
            let hint = match letter {
                Some(l @ ('K' | 'M' | 'G' | 'T')) if !number.is_empty() => {
                    let decimal = if l == 'K' { 'k' } else { l };
                    Some(format!(
                        "did you mean `{number}{l}i` or `{number}{decimal}`? (binary Ki Mi Gi Ti, decimal k M G T)"
                    ))
                }
                _ => Some("units: Ki Mi Gi Ti (binary), k M G T (decimal)".to_string()),
            };
            return Err(malformed(hint));
        };
        match decimal(text, number, *size) {
            Ok(v) => Ok(Memory(v)),
            Err(QuantityError::Malformed { .. }) => Err(malformed(None)),
            Err(QuantityError::TooFine(_)) => Err(malformed(Some(
                "a size must come to a whole number of bytes".to_string(),
            ))),
            Err(e) => Err(e),
        }
    }
}

impl fmt::Display for Cpu {
    /// Whole cores as `2`, the rest as thousandths: `500m`, `1250m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}", self.0 / 1000)
        } else {
            write!(f, "{}m", self.0)
        }
    }
}

impl fmt::Display for Memory {
    /// The largest binary unit that divides it exactly: `256Mi`, `1536Mi`, `1000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [
            ("Ti", 1u64 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ] {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// A quantity is written as a string or a bare number.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum QuantityRepr {
    Number(f64),
    Text(String),
}

macro_rules! quantity_serde {
    ($t:ty, $number:expr) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                let text = match QuantityRepr::deserialize(d)? {
                    QuantityRepr::Text(t) => t,
                    QuantityRepr::Number(n) => $number(n),
                };
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $t {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($t).into()
            }

            fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
                QuantityRepr::json_schema(g)
            }
        }
    };
}

fn number_text(n: f64) -> String {
    format!("{n}")
}

quantity_serde!(Cpu, number_text);
quantity_serde!(Memory, number_text);

/// `resources:`: what each instance requests (scheduled against a node's allocatable) and
/// what it may use at most (enforced).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// Cores requested: `0.5`, `2` or `500m`. Counted against a node's allocatable cpu when
    /// placing. Default: 0.
    #[serde(default, skip_serializing_if = "is_zero_cpu")]
    pub cpu: Cpu,
    /// Memory requested: `256Mi`, `1Gi` (binary) or `512M` (decimal). Counted against a
    /// node's allocatable memory when placing. Default: 0.
    #[serde(default, skip_serializing_if = "is_zero_memory")]
    pub memory: Memory,
    /// The most an instance may use.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
}

fn is_zero_cpu(c: &Cpu) -> bool {
    c.0 == 0
}

fn is_zero_memory(m: &Memory) -> bool {
    m.0 == 0
}

impl Resources {
    /// Whether nothing is requested or limited.
    pub fn is_empty(&self) -> bool {
        self.cpu.0 == 0 && self.memory.0 == 0 && self.limits.is_empty()
    }
}

/// `resources.limits:`: enforced through the instance's cgroup or the container engine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// The most cores an instance may use (a quota per period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// The most memory an instance may use; above it the kernel kills it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
}

impl Limits {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        self.cpu.is_none() && self.memory.is_none()
    }
}

/// `placement:`: which nodes an instance may run on, and how they are ranked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Placement {
    /// Node labels that must all match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// A service of this stack: each instance runs on a node where an instance of it is
    /// placed; the first waits until one is ready somewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// Workloads of this stack never to share a node with (either way round); the workload's
    /// own name places one instance per node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anti_affinity: Vec<String>,
    /// Topology spread of the instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
    /// Node taints this workload may land on: `KEY` (any value) or `KEY=VALUE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Ranking among the nodes that fit: `balance` (most room left) or `pack` (least room
    /// left). Default: `balance`.
    #[serde(default, skip_serializing_if = "is_balance")]
    pub strategy: Strategy,
}

fn is_balance(s: &Strategy) -> bool {
    *s == Strategy::Balance
}

impl Placement {
    /// Whether no constraint is set and the strategy is the default.
    pub fn is_empty(&self) -> bool {
        *self == Placement::default()
    }
}

/// `placement.strategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Prefer the node with the most room left (spreads load).
    #[default]
    Balance,
    /// Prefer the node with the least room left that fits (uses fewer nodes).
    Pack,
}

/// `placement.spread`: instances per topology domain differ by at most `maxSkew`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spread {
    /// `node` (every node its own domain) or a node label key (nodes with the same value
    /// share a domain).
    pub by: SpreadBy,
    /// The largest allowed difference between the fullest and the emptiest domain. Default: 1.
    #[serde(default = "one")]
    pub max_skew: u32,
    /// `true`: never exceeded (a filter); `false`: preferred (a ranking). Default: `false`.
    #[serde(default)]
    pub hard: bool,
}

fn one() -> u32 {
    1
}

/// The domain a spread counts by: `node`, or a label key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpreadBy {
    /// Every node is its own domain.
    Node,
    /// Nodes with the same value of this label share a domain; nodes without it are in none.
    Label(String),
}

impl fmt::Display for SpreadBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpreadBy::Node => f.write_str("node"),
            SpreadBy::Label(key) => f.write_str(key),
        }
    }
}

impl From<&str> for SpreadBy {
    fn from(s: &str) -> SpreadBy {
        if s == "node" {
            SpreadBy::Node
        } else {
            SpreadBy::Label(s.to_string())
        }
    }
}

impl Serialize for SpreadBy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SpreadBy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SpreadBy, D::Error> {
        Ok(SpreadBy::from(String::deserialize(d)?.as_str()))
    }
}

impl JsonSchema for SpreadBy {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SpreadBy".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(g)
    }
}

/// A toleration: `KEY` tolerates a taint of that key with any value, `KEY=VALUE` one value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Toleration {
    /// The taint key tolerated.
    pub key: String,
    /// The one value tolerated; `None` tolerates any.
    pub value: Option<String>,
}

impl Toleration {
    /// Whether this toleration covers a taint with this key and value.
    pub fn tolerates(&self, key: &str, value: &str) -> bool {
        self.key == key && self.value.as_deref().is_none_or(|v| v == value)
    }
}

impl fmt::Display for Toleration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={v}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

impl FromStr for Toleration {
    type Err = String;

    fn from_str(s: &str) -> Result<Toleration, String> {
        let (key, value) = match s.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (s, None),
        };
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c == ':') {
            return Err(format!(
                "`{s}` is not a toleration: write `KEY` or `KEY=VALUE`"
            ));
        }
        Ok(Toleration {
            key: key.to_string(),
            value,
        })
    }
}

impl Serialize for Toleration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Toleration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Toleration, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Toleration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Toleration".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(g)
    }
}

/// `onDisconnect`: what a node cut off from the servers does with the instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnDisconnect {
    /// Stop them once the node's lease ran out (they are rescheduled elsewhere).
    #[default]
    Stop,
    /// Keep them running; they are not rescheduled until the node returns or is removed.
    Keep,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_are_read_as_numbers_and_thousandths() {
        assert_eq!("0.5".parse::<Cpu>(), Ok(Cpu(500)));
        assert_eq!("500m".parse::<Cpu>(), Ok(Cpu(500)));
        assert_eq!("2".parse::<Cpu>(), Ok(Cpu(2000)));
        assert_eq!("1.25".parse::<Cpu>(), Ok(Cpu(1250)));
        assert!(matches!(
            "0.0001".parse::<Cpu>(),
            Err(QuantityError::TooFine(_))
        ));
        assert!(matches!(
            "-1".parse::<Cpu>(),
            Err(QuantityError::Negative(_))
        ));
        assert!(matches!(
            "two".parse::<Cpu>(),
            Err(QuantityError::Malformed { .. })
        ));
        assert!(matches!(
            "99999999999999999999".parse::<Cpu>(),
            Err(QuantityError::TooLarge(_))
        ));
    }

    #[test]
    fn memory_is_read_in_binary_and_decimal_units() {
        assert_eq!("256Mi".parse::<Memory>(), Ok(Memory(256 << 20)));
        assert_eq!("256M".parse::<Memory>(), Ok(Memory(256_000_000)));
        assert_eq!("1.5Gi".parse::<Memory>(), Ok(Memory(3 << 29)));
        assert_eq!("1k".parse::<Memory>(), Ok(Memory(1000)));
        assert_eq!("4096".parse::<Memory>(), Ok(Memory(4096)));
    }

    #[test]
    fn a_memory_written_as_mb_suggests_both_units() {
        let e = "256MB".parse::<Memory>().expect_err("MB is not a unit");
        assert_eq!(e.to_string(), format!("`256MB` is not {MEMORY_WHAT}"));
        assert_eq!(
            e.hint().as_deref(),
            Some("did you mean `256Mi` or `256M`? (binary Ki Mi Gi Ti, decimal k M G T)")
        );
        let e = "1kb".parse::<Memory>().expect_err("kb is not a unit");
        assert!(
            e.hint().is_some_and(|h| h.contains("`1Ki` or `1k`")),
            "{e:?}"
        );
    }

    #[test]
    fn quantities_print_as_they_read_back() {
        for (cpu, text) in [(500, "500m"), (2000, "2"), (1250, "1250m")] {
            assert_eq!(Cpu(cpu).to_string(), text);
            assert_eq!(text.parse::<Cpu>(), Ok(Cpu(cpu)));
        }
        for (mem, text) in [(256 << 20, "256Mi"), (3 << 29, "1536Mi"), (1000, "1000")] {
            assert_eq!(Memory(mem).to_string(), text);
            assert_eq!(text.parse::<Memory>(), Ok(Memory(mem)));
        }
    }

    #[test]
    fn resources_and_placement_survive_a_json_round_trip() {
        let r = Resources {
            cpu: Cpu(500),
            memory: Memory(256 << 20),
            limits: Limits {
                cpu: Some(Cpu(1000)),
                memory: None,
            },
        };
        let json = serde_json::to_string(&r).expect("serializes");
        assert_eq!(
            json,
            r#"{"cpu":"500m","memory":"256Mi","limits":{"cpu":"1"}}"#
        );
        assert_eq!(serde_json::from_str::<Resources>(&json).ok(), Some(r));
        let p = Placement {
            spread: Some(Spread {
                by: SpreadBy::Label("zone".into()),
                max_skew: 1,
                hard: true,
            }),
            tolerations: vec!["gpu".parse().expect("a toleration")],
            ..Placement::default()
        };
        let json = serde_json::to_string(&p).expect("serializes");
        assert_eq!(serde_json::from_str::<Placement>(&json).ok(), Some(p));
    }
}
