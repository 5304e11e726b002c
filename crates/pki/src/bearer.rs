//! `BearerToken`: `orcot1.<id>.<secret>`, an API token as its holder sends it
//! (`Authorization: Bearer …`). The id (10 lowercase letters and digits) finds the token's
//! record without its secret; the secret (32 letters and digits, from the OS's random source)
//! proves the holder. The daemon keeps only [`hash_secret`] of the secret
//! and checks with [`secret_matches`](crate::secret_matches), in constant time. Not a join
//! token: that one names a cluster's CA and lets a node join; this one lets a person or a
//! script use the API with a role.

use std::fmt;
use std::str::FromStr;

use crate::error::PkiError;
use crate::token::{ALNUM, LOWER_ALNUM, SECRET_LEN, hash_secret, random};

/// A bearer token's first part: the format and its version.
pub const BEARER_PREFIX: &str = "orcot1";
/// Characters of a bearer token's id.
pub const BEARER_ID_LEN: usize = 10;

/// An API token as its holder has it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken {
    /// The token's id: 10 lowercase letters and digits.
    pub id: String,
    /// The secret: 32 letters and digits.
    pub secret: String,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("id", &self.id)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl BearerToken {
    /// A new token with a random id and secret from the OS.
    pub fn generate() -> Result<BearerToken, PkiError> {
        Ok(BearerToken {
            id: random(LOWER_ALNUM, BEARER_ID_LEN)?,
            secret: random(ALNUM, SECRET_LEN)?,
        })
    }

    /// The hash of the secret, which is all the daemon keeps of it.
    pub fn secret_hash(&self) -> String {
        hash_secret(&self.secret)
    }
}

impl fmt::Display for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{BEARER_PREFIX}.{}.{}", self.id, self.secret)
    }
}

impl FromStr for BearerToken {
    type Err = PkiError;

    /// Reads a token; the error never repeats the text (it may be a secret of another kind).
    fn from_str(text: &str) -> Result<BearerToken, PkiError> {
        let bad = || {
            PkiError::Token(format!(
                "not an API token: one reads {BEARER_PREFIX}.ID.SECRET (from `orco token create`)"
            ))
        };
        let mut parts = text.trim().split('.');
        let (Some(BEARER_PREFIX), Some(id), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let id_ok = id.len() == BEARER_ID_LEN && id.bytes().all(|b| LOWER_ALNUM.contains(&b));
        let secret_ok = secret.len() == SECRET_LEN && secret.bytes().all(|b| ALNUM.contains(&b));
        if !id_ok || !secret_ok {
            return Err(bad());
        }
        Ok(BearerToken {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret_matches;

    #[test]
    fn a_bearer_token_reads_back_what_it_prints_and_its_hash_matches_only_its_secret() {
        let token = BearerToken::generate().unwrap();
        let text = token.to_string();
        assert!(text.starts_with("orcot1."), "{text}");
        assert_eq!(text.len(), 6 + 1 + 10 + 1 + 32);
        assert_eq!(text.parse::<BearerToken>().unwrap(), token);
        assert!(secret_matches(&token.secret_hash(), &token.secret));
        let other = BearerToken::generate().unwrap();
        assert_ne!(other.id, token.id);
        assert!(!secret_matches(&token.secret_hash(), &other.secret));
        assert!(!format!("{token:?}").contains(&token.secret));
    }

    #[test]
    fn a_malformed_bearer_token_is_refused_without_repeating_it() {
        let good = BearerToken::generate().unwrap();
        for text in [
            "".to_string(),
            "a-long-legacy-token-from-a-file".to_string(),
            format!("orcot2.{}.{}", good.id, good.secret),
            format!("orcot1.{}.{}.x", good.id, good.secret),
            format!("orcot1.{}.{}", &good.id[..9], good.secret),
            format!("orcot1.{}.{}!", good.id, &good.secret[..31]),
        ] {
            let e = text.parse::<BearerToken>().unwrap_err().to_string();
            assert!(e.contains("orcot1.ID.SECRET"), "{e}");
            assert!(text.is_empty() || !e.contains(&text), "{e}");
        }
    }
}
