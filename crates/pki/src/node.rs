//! A node's side: [`NodeKey`], the key an agent generates itself and the certificate signing
//! request it sends for its name; [`NodeIdentity`], the key with the certificate the server
//! signed and the server's CA, kept in the agent's directory (`node.key` 0600, `node.crt`,
//! `ca.crt`).

use std::path::Path;
use std::time::SystemTime;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::cert;
use crate::error::PkiError;
use crate::files;
use crate::pin::Pin;

/// The node's key file in an agent's directory (mode 0600).
pub const NODE_KEY: &str = "node.key";
/// The node's certificate file in an agent's directory.
pub const NODE_CERT: &str = "node.crt";
/// The server's CA certificate in an agent's directory.
pub const NODE_CA: &str = "ca.crt";

/// A node's own key (ECDSA P-256), generated on the node; the private half never leaves it.
pub struct NodeKey {
    node: String,
    key: KeyPair,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl NodeKey {
    /// A new key for the node `node`.
    pub fn generate(node: &str) -> Result<NodeKey, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| PkiError::generate("generate the node key", e))?;
        Ok(NodeKey {
            node: node.to_string(),
            key,
        })
    }

    /// The node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// A certificate signing request for the node's name (the subject's common name), PEM:
    /// what [`Authority::sign_node`](crate::Authority::sign_node) signs.
    pub fn csr_pem(&self) -> Result<String, PkiError> {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, self.node.as_str());
        params.distinguished_name = name;
        params
            .serialize_request(&self.key)
            .and_then(|csr| csr.pem())
            .map_err(|e| PkiError::generate("make the certificate signing request", e))
    }
}

/// A node's key, its certificate and the CA that signed it: what an agent presents to the
/// server (mutual TLS) and how it knows when to rotate.
pub struct NodeIdentity {
    node: String,
    key: KeyPair,
    cert: CertificateDer<'static>,
    cert_pem: String,
    ca_pem: String,
    ca_pin: Pin,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("node", &self.node)
            .field("ca_pin", &self.ca_pin)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// The identity of `key` with the certificate the server signed (`cert_pem`) and the
    /// server's CA (`ca_pem`), checked: the certificate is for the key and the node's name,
    /// is a client certificate, and is signed by the CA.
    pub fn new(key: NodeKey, cert_pem: &str, ca_pem: &str) -> Result<NodeIdentity, PkiError> {
        let here = Path::new(NODE_CERT);
        NodeIdentity::check(key, cert_pem, ca_pem, here, Path::new(NODE_CA))
    }

    fn check(
        key: NodeKey,
        cert_pem: &str,
        ca_pem: &str,
        cert_path: &Path,
        ca_path: &Path,
    ) -> Result<NodeIdentity, PkiError> {
        let bad = |detail: String| PkiError::corrupt(cert_path, "node certificate", detail);
        let mut certs = cert::certificates(cert_pem, cert_path, "node certificate")?;
        let cas = cert::certificates(ca_pem, ca_path, "CA certificate")?;
        let der = certs.remove(0);
        let leaf = cert::parse(&der)?;
        let ca = cert::parse(&cas[0])?;
        if !cert::key_matches(&key.key, &leaf) {
            return Err(bad(format!("it is not for the key in {NODE_KEY}")));
        }
        let name = cert::common_name(&leaf).unwrap_or_default();
        if name != key.node {
            return Err(bad(format!(
                "it is for the node {name:?}, not {:?}",
                key.node
            )));
        }
        if !cert::usages(&leaf).1 {
            return Err(bad(
                "it is not a client certificate (no EKU clientAuth)".to_string()
            ));
        }
        if leaf.verify_signature(Some(ca.public_key())).is_err() {
            return Err(bad(format!(
                "it is not signed by the CA in {}",
                ca_path.display()
            )));
        }
        let (not_before, not_after) = cert::validity(&leaf);
        let ca_pin = Pin::of_spki(ca.tbs_certificate.subject_pki.raw);
        drop(leaf);
        Ok(NodeIdentity {
            node: key.node,
            key: key.key,
            cert: der,
            cert_pem: cert_pem.to_string(),
            ca_pem: ca_pem.to_string(),
            ca_pin,
            not_before,
            not_after,
        })
    }

    /// Writes the identity into `dir` (created 0700): `ca.crt`, then `node.key` (0600), then
    /// `node.crt`, each whole.
    pub fn save(&self, dir: &Path) -> Result<(), PkiError> {
        files::private_dir(dir)?;
        files::write_atomic(&dir.join(NODE_CA), self.ca_pem.as_bytes(), 0o600)?;
        files::write_atomic(
            &dir.join(NODE_KEY),
            self.key.serialize_pem().as_bytes(),
            0o600,
        )?;
        files::write_atomic(&dir.join(NODE_CERT), self.cert_pem.as_bytes(), 0o600)
    }

    /// The identity saved in `dir`, or `None` when it holds none (no `node.key` and no
    /// `node.crt`: the node has not joined). A file that is missing from the set, cannot be
    /// read, may be read by others or does not fit the others is an error naming it.
    pub fn load(dir: &Path) -> Result<Option<NodeIdentity>, PkiError> {
        files::remove_leftovers(dir, &[NODE_KEY, NODE_CERT, NODE_CA]);
        let key_path = dir.join(NODE_KEY);
        let cert_path = dir.join(NODE_CERT);
        let ca_path = dir.join(NODE_CA);
        let key_pem = files::read_if_exists(&key_path)?;
        let cert_pem = files::read_if_exists(&cert_path)?;
        let (key_pem, cert_pem) = match (key_pem, cert_pem) {
            (None, None) => return Ok(None),
            (Some(key), Some(cert)) => (key, cert),
            (Some(_), None) => {
                return Err(PkiError::HalfPair {
                    present: key_path,
                    missing: cert_path,
                    hint: "join again with a token to get a certificate",
                });
            }
            (None, Some(_)) => {
                return Err(PkiError::HalfPair {
                    present: cert_path,
                    missing: key_path,
                    hint: "join again with a token to get a new key and certificate",
                });
            }
        };
        let Some(ca_pem) = files::read_if_exists(&ca_path)? else {
            return Err(PkiError::HalfPair {
                present: cert_path,
                missing: ca_path,
                hint: "join again with a token to get the server's CA",
            });
        };
        files::check_private(&key_path)?;
        let key = cert::key_pair(&key_pem, &key_path)?;
        let node = {
            let certs = cert::certificates(&cert_pem, &cert_path, "node certificate")?;
            let leaf = cert::parse(&certs[0])?;
            cert::common_name(&leaf).unwrap_or_default()
        };
        let key = NodeKey { node, key };
        NodeIdentity::check(key, &cert_pem, &ca_pem, &cert_path, &ca_path).map(Some)
    }

    /// The node's name (the certificate's common name).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The node certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The server's CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The pin of the CA that signed the certificate.
    pub fn ca_pin(&self) -> Pin {
        self.ca_pin
    }

    /// When the certificate's validity began.
    pub fn issued_at(&self) -> SystemTime {
        self.not_before
    }

    /// When the certificate expires.
    pub fn expires_at(&self) -> SystemTime {
        self.not_after
    }

    /// When to rotate: once a third of the certificate's life is left.
    pub fn renew_at(&self) -> SystemTime {
        cert::renew_at(self.not_before, self.not_after)
    }

    /// A new key for the same node, for a rotation: send its [`NodeKey::csr_pem`] over the
    /// current (still valid) identity.
    pub fn rotate_key(&self) -> Result<NodeKey, PkiError> {
        NodeKey::generate(&self.node)
    }

    /// The certificate chain a client presents (the node certificate alone).
    pub(crate) fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.clone()]
    }

    /// The private key, for rustls.
    pub(crate) fn private_key(&self) -> Result<PrivateKeyDer<'static>, PkiError> {
        PrivateKeyDer::try_from(self.key.serialize_der())
            .map_err(|e| PkiError::generate("encode the node key", e))
    }
}
