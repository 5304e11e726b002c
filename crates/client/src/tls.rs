//! How the client trusts a daemon's TLS listener: the daemon's CA certificate
//! (`--ca-file`/`ORCO_CA`, checked as browsers do, host name included), or the pin of its CA
//! (`ORCO_CA_PIN`: the hash the daemon prints at start; no host name check), or nothing, in
//! which case every certificate is refused with an error that says how to give trust.

use std::sync::Arc;

use orco_pki::Pin;
use orco_pki::rustls::{self, CertificateError, ClientConfig, RootCertStore};

use crate::error::ClientError;

/// What a client trusts the daemon's certificate by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Trust {
    /// Nothing: a TLS daemon is refused.
    #[default]
    Nothing,
    /// The CA certificates of a PEM, and where they came from (for errors).
    Ca {
        /// The PEM.
        pem: String,
        /// The file or variable it was read from.
        source: String,
    },
    /// The CA with this pin.
    Pin(Pin),
}

impl Trust {
    /// The rustls configuration for this trust.
    pub(crate) fn config(&self) -> Result<Arc<ClientConfig>, ClientError> {
        let bad = |source: &str, e: orco_pki::PkiError| ClientError::Trust {
            origin: source.to_string(),
            detail: e.to_string(),
        };
        match self {
            Trust::Nothing => {
                let mut config = ClientConfig::builder_with_provider(orco_pki::provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| ClientError::Trust {
                        origin: "TLS".to_string(),
                        detail: e.to_string(),
                    })?
                    .with_root_certificates(RootCertStore::empty())
                    .with_no_client_auth();
                config.alpn_protocols = vec![orco_pki::tls::ALPN_HTTP1.to_vec()];
                Ok(Arc::new(config))
            }
            Trust::Ca { pem, source } => {
                orco_pki::ca_client_config(pem).map_err(|e| bad(source, e))
            }
            Trust::Pin(pin) => {
                orco_pki::pinned_client_config(*pin, None).map_err(|e| bad("ORCO_CA_PIN", e))
            }
        }
    }

    /// What a failed TLS handshake means to the user, given this trust and the name dialled.
    pub(crate) fn explain(&self, error: &std::io::Error, name: &str) -> Option<String> {
        if let Some(mismatch) = orco_pki::pin_mismatch(error) {
            return Some(format!(
                "the daemon's CA does not match the pin given (ORCO_CA_PIN): pinned {}, its CA is {}",
                mismatch.expected, mismatch.found
            ));
        }
        let inner = error.get_ref()?.downcast_ref::<rustls::Error>()?;
        Some(match inner {
            rustls::Error::InvalidCertificate(kind) => self.certificate(kind, name),
            rustls::Error::AlertReceived(alert) => format!(
                "the daemon refused the TLS handshake ({alert:?}): it may want a client certificate this client does not have"
            ),
            other => format!(
                "the TLS handshake failed ({other}): does a TLS daemon of this version listen on that port?"
            ),
        })
    }

    fn certificate(&self, kind: &CertificateError, name: &str) -> String {
        match kind {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => match self {
                Trust::Nothing => "its certificate is not trusted: pass the daemon's CA certificate with --ca-file (or ORCO_CA; the daemon prints the file at start) or its pin with ORCO_CA_PIN".to_string(),
                Trust::Ca { source, .. } => format!(
                    "its certificate is not signed by the CA in {source}: pass the daemon's own CA certificate (the daemon prints the file at start)"
                ),
                Trust::Pin(_) => "its certificate is not signed by the pinned CA".to_string(),
            },
            CertificateError::NotValidForName
            | CertificateError::NotValidForNameContext { .. } => format!(
                "its certificate is not for the name {name}: dial a name it was issued for (the daemon's --tls-name), or trust its CA by pin (ORCO_CA_PIN), which checks no name"
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "its certificate has expired".to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "its certificate is not valid yet: is this machine's clock right?".to_string()
            }
            other => format!("its certificate is refused: {other:?}"),
        }
    }
}
