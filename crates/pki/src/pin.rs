//! `Pin`: the sha256 of a CA certificate's SubjectPublicKeyInfo (its public key with the
//! algorithm), 64 lowercase hex characters. A pin names a CA by its key: a certificate that
//! is reissued for the same key keeps its pin, and no other key has it.

use std::fmt;
use std::str::FromStr;

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use crate::error::PkiError;

/// The sha256 of a CA certificate's SubjectPublicKeyInfo DER.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pin([u8; 32]);

impl Pin {
    /// The pin of the certificate `der` (its SubjectPublicKeyInfo's hash).
    pub fn of_certificate(der: &CertificateDer<'_>) -> Result<Pin, PkiError> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::Certificate {
                what: "to pin".to_string(),
                detail: e.to_string(),
            })?;
        Ok(Pin::of_spki(cert.tbs_certificate.subject_pki.raw))
    }

    /// The pin of a SubjectPublicKeyInfo DER.
    pub fn of_spki(spki_der: &[u8]) -> Pin {
        Pin(Sha256::digest(spki_der).into())
    }

    /// The 32 bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({self})")
    }
}

impl FromStr for Pin {
    type Err = PkiError;

    /// 64 hexadecimal characters (either case).
    fn from_str(text: &str) -> Result<Pin, PkiError> {
        let chars = text.chars().count();
        if chars != 64 {
            return Err(PkiError::Pin(format!(
                "a CA pin is 64 hexadecimal characters (the sha256 of the CA's public key); this one has {chars}"
            )));
        }
        let mut bytes = [0u8; 32];
        let digits = text.as_bytes();
        for (i, byte) in bytes.iter_mut().enumerate() {
            let high = hex(digits[2 * i], 2 * i)?;
            let low = hex(digits[2 * i + 1], 2 * i + 1)?;
            *byte = (high << 4) | low;
        }
        Ok(Pin(bytes))
    }
}

fn hex(digit: u8, at: usize) -> Result<u8, PkiError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        b'A'..=b'F' => Ok(digit - b'A' + 10),
        _ => Err(PkiError::Pin(format!(
            "a CA pin is 64 hexadecimal characters; character {} ({:?}) is not one",
            at + 1,
            char::from(digit)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_reads_back_what_it_prints() {
        let pin = Pin::of_spki(b"some key");
        let text = pin.to_string();
        assert_eq!(text.len(), 64);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(text.parse::<Pin>().unwrap(), pin);
        assert_eq!(text.to_uppercase().parse::<Pin>().unwrap(), pin);
    }

    #[test]
    fn a_pin_of_the_wrong_length_or_alphabet_is_refused_precisely() {
        let e = "abc".parse::<Pin>().unwrap_err().to_string();
        assert!(e.ends_with("this one has 3"), "{e}");
        let bad = format!("{}g", "a".repeat(63));
        let e = bad.parse::<Pin>().unwrap_err().to_string();
        assert!(e.contains("character 64 ('g')"), "{e}");
        let e = format!("{}é", "a".repeat(62))
            .parse::<Pin>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("this one has 63"), "{e}");
    }
}
