//! `JoinToken`: `orco1.<id>.<pin>.<secret>`, what an agent is given to join a cluster. The id
//! (6 lowercase letters and digits) names the token in lists and revocations; the pin is the
//! server CA's, so the agent knows which server to trust; the secret (32 letters and digits,
//! from the OS's random source) proves the agent was given the token. The server keeps only
//! [`hash_secret`] of the secret and checks with [`secret_matches`], in constant time.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::PkiError;
use crate::pin::Pin;

/// A join token's first part: the format and its version.
pub const TOKEN_PREFIX: &str = "orco1";
/// Characters of a token id.
pub const ID_LEN: usize = 6;
/// Characters of a token secret.
pub const SECRET_LEN: usize = 32;

pub(crate) const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
pub(crate) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A join token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The token's id: 6 lowercase letters and digits.
    pub id: String,
    /// The pin of the CA of the server that made it.
    pub pin: Pin,
    /// The secret: 32 letters and digits.
    pub secret: String,
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("id", &self.id)
            .field("pin", &self.pin)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl JoinToken {
    /// A new token for the CA of `pin`, with a random id and secret from the OS.
    pub fn generate(pin: Pin) -> Result<JoinToken, PkiError> {
        Ok(JoinToken {
            id: random(LOWER_ALNUM, ID_LEN)?,
            pin,
            secret: random(ALNUM, SECRET_LEN)?,
        })
    }

    /// The hash of the secret, which is all a server keeps of it.
    pub fn secret_hash(&self) -> String {
        hash_secret(&self.secret)
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TOKEN_PREFIX}.{}.{}.{}", self.id, self.pin, self.secret)
    }
}

impl FromStr for JoinToken {
    type Err = PkiError;

    fn from_str(text: &str) -> Result<JoinToken, PkiError> {
        let bad =
            |detail: String| PkiError::Token(format!("the join token is not valid: {detail}"));
        let text = text.trim();
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() != 4 {
            return Err(PkiError::Token(format!(
                "a join token has four parts separated by dots: {TOKEN_PREFIX}.ID.PIN.SECRET; this one has {}",
                parts.len()
            )));
        }
        if parts[0] != TOKEN_PREFIX {
            return Err(bad(format!(
                "it starts with {:?}, not {TOKEN_PREFIX:?}",
                parts[0]
            )));
        }
        let id = parts[1];
        if id.len() != ID_LEN || !id.bytes().all(|b| LOWER_ALNUM.contains(&b)) {
            return Err(bad(format!(
                "its id {id:?} is not {ID_LEN} lowercase letters and digits"
            )));
        }
        let pin = parts[2]
            .parse::<Pin>()
            .map_err(|e| bad(format!("its pin: {e}")))?;
        let secret = parts[3];
        if secret.len() != SECRET_LEN || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad(format!(
                "its secret is not {SECRET_LEN} letters and digits (it has {} characters)",
                secret.chars().count()
            )));
        }
        Ok(JoinToken {
            id: id.to_string(),
            pin,
            secret: secret.to_string(),
        })
    }
}

/// `len` characters of `alphabet`, drawn uniformly from the OS's random source.
pub(crate) fn random(alphabet: &[u8], len: usize) -> Result<String, PkiError> {
    // Rejection sampling: a byte at or above the largest multiple of the alphabet's size is
    // drawn again, so that no character is more likely than another.
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buffer = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buffer)
            .map_err(|e| PkiError::generate("draw a token from the OS's random source", e))?;
        for &byte in &buffer {
            if usize::from(byte) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

/// The sha256 of a secret, 64 lowercase hex characters.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `secret` hashes to `hash` (as [`hash_secret`] makes it), comparing in constant
/// time: how long it takes says nothing about how much of it matched.
pub fn secret_matches(hash: &str, secret: &str) -> bool {
    let given = hash_secret(secret);
    let (a, b) = (given.as_bytes(), hash.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> Pin {
        Pin::of_spki(b"ca key")
    }

    #[test]
    fn a_token_reads_back_what_it_prints() {
        let token = JoinToken::generate(pin()).unwrap();
        let text = token.to_string();
        assert!(text.starts_with("orco1."), "{text}");
        assert_eq!(text.len(), 5 + 1 + 6 + 1 + 64 + 1 + 32);
        let back: JoinToken = text.parse().unwrap();
        assert_eq!(back, token);
        assert!(
            token
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert!(token.secret.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(
            !format!("{token:?}").contains(&token.secret),
            "Debug hides the secret"
        );
    }

    #[test]
    fn two_tokens_differ() {
        let a = JoinToken::generate(pin()).unwrap();
        let b = JoinToken::generate(pin()).unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(a.secret, b.secret);
    }

    #[test]
    fn a_malformed_token_is_refused_with_what_is_wrong() {
        let good = JoinToken::generate(pin()).unwrap();
        let e = "orco1.abcdef.xyz"
            .parse::<JoinToken>()
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "a join token has four parts separated by dots: orco1.ID.PIN.SECRET; this one has 3"
        );
        let wrong_prefix = format!("orco2.{}.{}.{}", good.id, good.pin, good.secret);
        let e = wrong_prefix.parse::<JoinToken>().unwrap_err().to_string();
        assert!(e.contains("starts with \"orco2\""), "{e}");
        let upper_id = format!("orco1.ABCDEF.{}.{}", good.pin, good.secret);
        let e = upper_id.parse::<JoinToken>().unwrap_err().to_string();
        assert!(e.contains("its id \"ABCDEF\""), "{e}");
        let short_pin = format!("orco1.{}.abcd.{}", good.id, good.secret);
        let e = short_pin.parse::<JoinToken>().unwrap_err().to_string();
        assert!(e.contains("its pin") && e.contains("this one has 4"), "{e}");
        let short_secret = format!("orco1.{}.{}.abc", good.id, good.pin);
        let e = short_secret.parse::<JoinToken>().unwrap_err().to_string();
        assert!(e.contains("its secret is not 32"), "{e}");
    }

    #[test]
    fn a_secret_matches_only_its_own_hash() {
        let hash = hash_secret("s3cret");
        assert_eq!(hash.len(), 64);
        assert!(secret_matches(&hash, "s3cret"));
        assert!(!secret_matches(&hash, "s3cres"));
        assert!(!secret_matches(&hash, ""));
        assert!(!secret_matches("short", "s3cret"));
    }
}
