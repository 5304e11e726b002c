//! API tokens as the log keeps them (DESIGN.md §12): a name, a role, the hash of the secret
//! (never the secret), when it expires and whether it was revoked.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a token may do. Ordered: each role may do everything the one before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads: every `GET`, event watches, logs, `/metrics`.
    Read,
    /// Plus changes to workloads: apply, remove, start, stop, restart, scale, rollback, job
    /// submit, cancel and retry.
    Operate,
    /// Plus tokens, nodes and the cluster.
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 3] = [Role::Read, Role::Operate, Role::Admin];

    /// Its name (`read`, `operate`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a role: read, operate or admin"))
    }
}

/// An API token as the log keeps it: its secret only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    /// Its id (the second part of the token; it finds the token without its secret).
    pub id: String,
    /// What it may do.
    pub role: Role,
    /// The SHA-256 of its secret, hex.
    pub hash: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops being accepted (never when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
    /// Who created it (a token's name, or `socket`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Revoked by hand.
    #[serde(default)]
    pub revoked: bool,
}

impl ApiToken {
    /// Why the token is refused at `now`, if it is.
    pub fn refusal(&self, now: Timestamp) -> Option<&'static str> {
        if self.revoked {
            Some("revoked")
        } else if self.expires.is_some_and(|e| now >= e) {
            Some("expired")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_includes_the_ones_before_it_and_reads_back_from_its_name() {
        assert!(Role::Read < Role::Operate && Role::Operate < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!(
            "root".parse::<Role>(),
            Err("`root` is not a role: read, operate or admin".to_string())
        );
    }

    #[test]
    fn a_token_is_refused_once_revoked_or_expired() {
        let now: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap_or_default();
        let mut token = ApiToken {
            id: "abc".into(),
            role: Role::Read,
            hash: String::new(),
            created_at: now,
            expires: None,
            created_by: None,
            revoked: false,
        };
        assert_eq!(token.refusal(now), None);
        token.expires = Some(now);
        assert_eq!(token.refusal(now), Some("expired"));
        token.expires = None;
        token.revoked = true;
        assert_eq!(token.refusal(now), Some("revoked"));
    }
}
