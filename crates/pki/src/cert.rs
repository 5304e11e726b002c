//! What the authority and the node share about certificates: reading PEM certificates and
//! keys with errors that name their file, a certificate's validity and names, random serial
//! numbers, and the machine's host name.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rcgen::{KeyPair, SanType, SerialNumber};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::error::PkiError;

/// How far back a new certificate's validity starts, so that a peer whose clock is a little
/// behind accepts it at once.
pub(crate) const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// Every certificate in `pem`, in order; at least one.
pub(crate) fn certificates(
    pem: &str,
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::corrupt(path, what, format!("it is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::corrupt(
            path,
            what,
            "it holds no `-----BEGIN CERTIFICATE-----` block",
        ));
    }
    for cert in &certs {
        x509_parser::parse_x509_certificate(cert).map_err(|e| {
            PkiError::corrupt(path, what, format!("the certificate cannot be read: {e}"))
        })?;
    }
    Ok(certs)
}

/// The key pair in `pem` (PKCS#8, SEC1 or PKCS#1).
pub(crate) fn key_pair(pem: &str, path: &Path) -> Result<KeyPair, PkiError> {
    KeyPair::from_pem(pem).map_err(|e| {
        PkiError::corrupt(
            path,
            "private key",
            format!("it holds no private key orco can use ({e})"),
        )
    })
}

/// Parses a certificate that was checked when it was read.
pub(crate) fn parse<'a>(der: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, PkiError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| PkiError::Certificate {
            what: "given".to_string(),
            detail: e.to_string(),
        })
}

/// Whether `key` is the private half of `cert`'s public key.
pub(crate) fn key_matches(key: &KeyPair, cert: &X509Certificate<'_>) -> bool {
    use rcgen::PublicKeyData;
    key.der_bytes()
        == cert
            .tbs_certificate
            .subject_pki
            .subject_public_key
            .data
            .as_ref()
}

/// When a certificate's validity starts and ends.
pub(crate) fn validity(cert: &X509Certificate<'_>) -> (SystemTime, SystemTime) {
    let at = |secs: i64| {
        let secs = u64::try_from(secs).unwrap_or(0);
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    };
    let validity = cert.validity();
    (
        at(validity.not_before.timestamp()),
        at(validity.not_after.timestamp()),
    )
}

/// When a certificate valid over `[not_before, not_after]` should be replaced: once a third
/// of its life is left.
pub(crate) fn renew_at(not_before: SystemTime, not_after: SystemTime) -> SystemTime {
    let life = not_after
        .duration_since(not_before)
        .unwrap_or(Duration::ZERO);
    not_after - life / 3
}

/// The common name of a certificate's subject, when it has exactly one that is text.
pub(crate) fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    let mut names = cert.subject().iter_common_name();
    let first = names.next()?;
    if names.next().is_some() {
        return None;
    }
    first.as_str().ok().map(str::to_string)
}

/// Whether a certificate has the extended key usage serverAuth (first) or clientAuth.
pub(crate) fn usages(cert: &X509Certificate<'_>) -> (bool, bool) {
    match cert.extended_key_usage() {
        Ok(Some(eku)) => (eku.value.server_auth, eku.value.client_auth),
        _ => (false, false),
    }
}

/// The DNS names and IP addresses a certificate is for, as [`Names`] spells them.
pub(crate) fn names_of(cert: &X509Certificate<'_>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => {
                    names.insert(dns.to_ascii_lowercase());
                }
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        names.insert(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    names
}

/// Whether `name` is a DNS name a certificate may carry (letters, digits, hyphens, dots;
/// labels of 1 to 63 characters that do not start or end with a hyphen).
pub(crate) fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The names a server certificate is issued for: each DNS name lowercased, each IP address
/// in its canonical form; refuses anything else.
pub(crate) fn canonical_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeSet<String>, PkiError> {
    let mut out = BTreeSet::new();
    for name in names {
        let name = name.trim();
        let name = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        if let Ok(ip) = name.parse::<IpAddr>() {
            out.insert(ip.to_string());
        } else if is_dns_name(name) {
            out.insert(name.to_ascii_lowercase());
        } else {
            return Err(PkiError::Certificate {
                what: "for the server".to_string(),
                detail: format!("{name:?} is neither a DNS name nor an IP address"),
            });
        }
    }
    Ok(out)
}

/// The subject alternative names for a set of canonical names.
pub(crate) fn san(names: &BTreeSet<String>) -> Result<Vec<SanType>, PkiError> {
    names
        .iter()
        .map(|name| match name.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => name
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| PkiError::generate("name the server certificate", e)),
        })
        .collect()
}

/// This machine's host name, when it is a valid DNS name.
pub(crate) fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_ascii_lowercase();
    is_dns_name(&name).then_some(name)
}

/// A random positive serial number of 16 bytes.
pub(crate) fn serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| PkiError::generate("draw a serial number from the OS", e))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

/// Now, for certificate validity.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `time` plus a std duration, saturating far in the future.
pub(crate) fn after(time: OffsetDateTime, by: Duration) -> OffsetDateTime {
    let by = time::Duration::try_from(by).unwrap_or(time::Duration::MAX);
    time.checked_add(by)
        .unwrap_or_else(|| rcgen::date_time_ymd(9999, 12, 31))
}

/// `time` minus a std duration.
pub(crate) fn before(time: OffsetDateTime, by: Duration) -> OffsetDateTime {
    let by = time::Duration::try_from(by).unwrap_or(time::Duration::ZERO);
    time.checked_sub(by).unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonical_and_anything_else_is_refused() {
        let names = canonical_names(["Example.COM", "::0001", "[::1]", "10.0.0.1"]).unwrap();
        let names: Vec<_> = names.into_iter().collect();
        assert_eq!(names, ["10.0.0.1", "::1", "example.com"]);
        let e = canonical_names(["bad name"]).unwrap_err().to_string();
        assert!(
            e.contains("\"bad name\" is neither a DNS name nor an IP address"),
            "{e}"
        );
        assert!(canonical_names(["-x.com"]).is_err());
        assert!(canonical_names(["a..b"]).is_err());
    }

    #[test]
    fn a_certificate_is_renewed_when_a_third_of_its_life_is_left() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let end = start + Duration::from_secs(90);
        assert_eq!(renew_at(start, end), start + Duration::from_secs(60));
    }
}
