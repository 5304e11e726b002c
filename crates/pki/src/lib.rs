//! orco's certificates (DESIGN.md §11 join and mutual TLS, §12 TLS on every listener): the CA
//! every daemon and server has from its first start, the server certificate it serves TLS
//! with, node certificates signed from an agent's request, rustls configurations pinned to a
//! CA, and join tokens. Everything runs on rustls with the `ring` provider.
//!
//! The API, as the daemon and cluster mode use it:
//!
//! - [`Authority::load_or_create`]`(dir)`: the CA in `DATA/pki` (the directory 0700, every
//!   file 0600: `ca.key`, `ca.crt`; ECDSA P-256, 10 years), created when neither file is there. A corrupt file is an error
//!   naming it ([`PkiError::Corrupt`]), never a panic, never replaced.
//!   [`Authority::pin`], [`Authority::cert_pem`], [`Authority::cert_path`].
//! - [`Pin`]: sha256 of a CA certificate's SubjectPublicKeyInfo, 64 hex characters
//!   (`Display`/`FromStr`).
//! - [`Authority::server_identity`]`(names)`: the server certificate (EKU serverAuth only,
//!   90 days) for the names given plus `localhost`, `127.0.0.1`, `::1` and the host name, in
//!   `DATA/pki/server.{crt,key}`; reissued when the names differ or a third of its life is
//!   left. An [`Identity`] is the chain (leaf, then CA) and the key;
//!   [`Identity::from_pem_files`] reads `--tls-cert`/`--tls-key`.
//! - [`Authority::sign_node`]`(csr_pem, node, ttl)`: a node certificate (EKU clientAuth
//!   only) for a CSR whose common name is exactly `node` ([`PkiError::WrongNode`] otherwise);
//!   callers pass [`DEFAULT_NODE_TTL`] (24 h). Returns the certificate's PEM.
//! - [`NodeKey::generate`]`(node)` and [`NodeKey::csr_pem`]; [`NodeIdentity::new`]`(key,
//!   cert_pem, ca_pem)`, [`NodeIdentity::save`]/[`NodeIdentity::load`] in an agent's
//!   directory (`node.key` 0600, `node.crt`, `ca.crt`), [`NodeIdentity::expires_at`] and
//!   [`NodeIdentity::renew_at`] (a third of the life left: rotate).
//! - [`server_config`]`(identity, client_ca)`: client certificates optional, verified against
//!   the CA when presented; ALPN `http/1.1`. After the handshake, [`peer_of`] gives the
//!   [`Peer`] (the verified node name, or `None`) that the daemon puts into each request's
//!   extensions; [`peer_node`] reads the name from a certificate.
//!   [`renewable_server_config`]`(certs, client_ca)` is the same presenting a [`ServerCerts`],
//!   which a long-lived server renews in place ([`ServerCerts::replace_if_changed`] with what
//!   [`Authority::server_identity`] returns now).
//! - [`pinned_client_config`]`(pin, identity)`: trusts a server whose chain ends in a CA
//!   with that pin and whose leaf that CA signed, is valid and has EKU serverAuth (a node's
//!   client certificate never passes); no host name check. A wrong CA fails the handshake
//!   with [`PinMismatch`] ("the server's CA does not match the pin in the token"): test any
//!   error for it with [`is_pin_mismatch`], or take it out to print with [`pin_mismatch`]. With a [`NodeIdentity`] it presents the node's
//!   certificate.
//! - [`ca_client_config`]`(ca_pem)`: webpki verification (chain, validity, host name)
//!   against that CA alone, for `--ca-file`/`ORCO_CA`.
//! - [`JoinToken`] `orco1.<id>.<pin>.<secret>` (`Display`/`FromStr` with precise errors),
//!   [`JoinToken::generate`]`(pin)`, [`hash_secret`] and [`secret_matches`] (constant time).
//! - [`BearerToken`] `orcot1.<id>.<secret>`: an API token (a role's, not a node's), its
//!   secret kept by the daemon only as [`hash_secret`].
//! - [`read_secret_file`]`(path)`: a token file, trimmed; refused when group or others may
//!   read or write it (`FILE is readable by others (mode 0644): chmod 600 FILE`), missing or
//!   empty.
//!
//! Functions that build configurations return `Result` (rustls may refuse a key); every
//! error is a [`PkiError`].
//!
//! Modules: [`authority`] (the CA, server and node issuance), [`node`] (the agent's key and
//! identity), [`tls`] (configurations, verifier, peer), [`pin`], [`token`], [`bearer`], [`files`] (atomic
//! private files, secret files), [`error`]; `cert` holds the certificate helpers they share.

pub mod authority;
pub mod bearer;
mod cert;
pub mod error;
pub mod files;
pub mod node;
pub mod pin;
pub mod tls;
pub mod token;

pub use authority::{Authority, DEFAULT_NODE_TTL, Identity};
pub use bearer::{BEARER_PREFIX, BearerToken};
pub use error::{PinMismatch, PkiError, is_pin_mismatch, pin_mismatch};
pub use files::read_secret_file;
pub use node::{NodeIdentity, NodeKey};
pub use pin::Pin;
pub use tls::{
    Peer, ServerCerts, ca_client_config, peer_node, peer_of, pinned_client_config, provider,
    renewable_server_config, server_config,
};
pub use token::{JoinToken, hash_secret, secret_matches};

/// rustls, re-exported so that users name the same version.
pub use rustls;

#[cfg(test)]
mod tests;
