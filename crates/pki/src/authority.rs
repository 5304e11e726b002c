//! `Authority`: the CA of a daemon or server (ECDSA P-256, ten years), created at its first
//! start in `DATA/pki` and never replaced silently; it issues the server's own certificate
//! ([`Identity`]) and signs nodes' certificate signing requests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer};

use crate::cert;
use crate::error::PkiError;
use crate::files;
use crate::pin::Pin;

/// The CA's key file in its directory (mode 0600).
pub const CA_KEY: &str = "ca.key";
/// The CA's certificate file in its directory: what clients are given (`--ca-file`).
pub const CA_CERT: &str = "ca.crt";
/// The server certificate's file.
pub const SERVER_CERT: &str = "server.crt";
/// The server certificate's key file (mode 0600).
pub const SERVER_KEY: &str = "server.key";

/// How long a CA certificate is valid.
pub const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a server certificate is valid.
pub const SERVER_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);
/// How long a node certificate is valid unless the caller says otherwise.
pub const DEFAULT_NODE_TTL: Duration = Duration::from_secs(24 * 3600);

/// A certificate authority: its key, its certificate, and the directory it lives in.
pub struct Authority {
    dir: PathBuf,
    key: KeyPair,
    cert: CertificateDer<'static>,
    cert_pem: String,
    pin: Pin,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("dir", &self.dir)
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

/// A certificate chain (the leaf, then its CA) and the leaf's private key: what a TLS server
/// presents.
pub struct Identity {
    /// The leaf certificate first, then the CA's.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Identity {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A certificate chain and key given by the operator (`--tls-cert`, `--tls-key`): every
    /// certificate of `cert_file` (the leaf first) and the key of `key_file`, which must
    /// belong to the leaf.
    pub fn from_pem_files(cert_file: &Path, key_file: &Path) -> Result<Identity, PkiError> {
        let read = |path: &Path| {
            files::read_if_exists(path)?.ok_or_else(|| PkiError::io("read", path, "no such file"))
        };
        let chain = cert::certificates(&read(cert_file)?, cert_file, "certificate file")?;
        let key = PrivateKeyDer::from_pem_slice(read(key_file)?.as_bytes()).map_err(|e| {
            PkiError::corrupt(
                key_file,
                "private key",
                format!("it holds no PEM private key ({e})"),
            )
        })?;
        let identity = Identity { chain, key };
        // rustls checks that the key belongs to the leaf.
        crate::tls::server_config_for(&identity, None).map_err(|e| PkiError::Certificate {
            what: format!(
                "{} with the key {}",
                cert_file.display(),
                key_file.display()
            ),
            detail: e.to_string(),
        })?;
        Ok(identity)
    }

    /// When the leaf certificate expires.
    pub fn expires_at(&self) -> Option<SystemTime> {
        let leaf = self.chain.first()?;
        cert::parse(leaf).ok().map(|c| cert::validity(&c).1)
    }
}

impl Authority {
    /// The CA in `dir` (the daemon's or server's `DATA/pki`): loaded when `ca.key` and
    /// `ca.crt` are there, created when neither is (the directory 0700, the key 0600). A
    /// file that cannot be read, a certificate that is not a CA, a key that does not belong
    /// to the certificate or that others may read is an error naming the file: never a
    /// panic, never replaced. A key whose certificate is missing (a crash between the two
    /// writes) gets its certificate again, with the same pin.
    pub fn load_or_create(dir: &Path) -> Result<Authority, PkiError> {
        files::private_dir(dir)?;
        files::remove_leftovers(dir, &[CA_KEY, CA_CERT, SERVER_KEY, SERVER_CERT]);
        let key_path = dir.join(CA_KEY);
        let cert_path = dir.join(CA_CERT);
        let key_pem = files::read_if_exists(&key_path)?;
        let cert_pem = files::read_if_exists(&cert_path)?;
        match (key_pem, cert_pem) {
            (None, None) => {
                let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                    .map_err(|e| PkiError::generate("generate the CA key", e))?;
                files::write_atomic(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
                Authority::certify(dir, key)
            }
            (Some(key_pem), None) => {
                files::check_private(&key_path)?;
                let key = cert::key_pair(&key_pem, &key_path)?;
                Authority::certify(dir, key)
            }
            (None, Some(_)) => Err(PkiError::HalfPair {
                present: cert_path,
                missing: key_path,
                hint: "the CA cannot sign without its key: restore the key, or move the pki directory away to create a new CA (every client and node that trusts the old one must be given the new one)",
            }),
            (Some(key_pem), Some(cert_pem)) => {
                files::check_private(&key_path)?;
                let key = cert::key_pair(&key_pem, &key_path)?;
                Authority::open(dir, key, &cert_pem)
            }
        }
    }

    /// Issues the CA certificate for `key` and writes it.
    fn certify(dir: &Path, key: KeyPair) -> Result<Authority, PkiError> {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "orco");
        // Named after its key too: two CAs of one host differ by name, so a verifier never
        // mistakes one for the other (a certificate of the one is "unknown issuer" to the
        // other, not "bad signature").
        let pin = Pin::of_spki(&rcgen::PublicKeyData::subject_public_key_info(&key)).to_string();
        let short = &pin[..12];
        name.push(
            DnType::CommonName,
            match cert::hostname() {
                Some(host) => format!("orco CA {host} {short}"),
                None => format!("orco CA {short}"),
            },
        );
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = cert::now();
        params.not_before = cert::before(now, cert::BACKDATE);
        params.not_after = cert::after(now, CA_LIFETIME);
        params.serial_number = Some(cert::serial()?);
        let certificate = params
            .self_signed(&key)
            .map_err(|e| PkiError::generate("sign the CA certificate", e))?;
        let cert_path = dir.join(CA_CERT);
        files::write_atomic(&cert_path, certificate.pem().as_bytes(), 0o600)?;
        Authority::open(dir, key, &certificate.pem())
    }

    /// The CA of `key` and the certificate `cert_pem`, checked.
    fn open(dir: &Path, key: KeyPair, cert_pem: &str) -> Result<Authority, PkiError> {
        let cert_path = dir.join(CA_CERT);
        let mut certs = cert::certificates(cert_pem, &cert_path, "CA certificate")?;
        if certs.len() != 1 {
            return Err(PkiError::corrupt(
                &cert_path,
                "CA certificate",
                format!("it holds {} certificates, not one", certs.len()),
            ));
        }
        let der = certs.remove(0);
        let parsed = cert::parse(&der)?;
        if !parsed.is_ca() {
            return Err(PkiError::corrupt(
                &cert_path,
                "CA certificate",
                "the certificate is not a CA's (no basicConstraints CA:true)",
            ));
        }
        if !cert::key_matches(&key, &parsed) {
            return Err(PkiError::corrupt(
                &dir.join(CA_KEY),
                "CA key",
                format!("it does not belong to {}", cert_path.display()),
            ));
        }
        let pin = Pin::of_spki(parsed.tbs_certificate.subject_pki.raw);
        drop(parsed);
        Ok(Authority {
            dir: dir.to_path_buf(),
            key,
            cert: der,
            cert_pem: cert_pem.to_string(),
            pin,
        })
    }

    /// The directory the CA lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of the CA certificate, for clients (`--ca-file`, `ORCO_CA`).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// The CA's pin: the sha256 of its public key, for tokens and `ORCO_CA_PIN`.
    pub fn pin(&self) -> Pin {
        self.pin
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, PkiError> {
        Issuer::from_ca_cert_der(&self.cert, &self.key)
            .map_err(|e| PkiError::generate("read the CA certificate to sign with", e))
    }

    /// The server's certificate for `names` (DNS names and IP addresses) and `localhost`,
    /// `127.0.0.1`, `::1` and the host name: the one in `server.crt`/`server.key` while it
    /// is for exactly these names, signed by this CA and has more than a third of its life
    /// left; else a new one (90 days, EKU serverAuth only), written there first.
    pub fn server_identity(&self, names: &[String]) -> Result<Identity, PkiError> {
        let mut wanted =
            cert::canonical_names(names.iter().map(String::as_str).chain(["localhost"]))?;
        wanted.insert("127.0.0.1".to_string());
        wanted.insert("::1".to_string());
        if let Some(host) = cert::hostname() {
            wanted.insert(host);
        }
        if let Some(identity) = self.current_server_identity(&wanted, SystemTime::now())? {
            return Ok(identity);
        }
        let now = cert::now();
        let (cert_pem, key) = self.issue_server(
            &wanted,
            cert::before(now, cert::BACKDATE),
            cert::after(now, SERVER_LIFETIME),
        )?;
        files::write_atomic(
            &self.dir.join(SERVER_KEY),
            key.serialize_pem().as_bytes(),
            0o600,
        )?;
        files::write_atomic(&self.dir.join(SERVER_CERT), cert_pem.as_bytes(), 0o600)?;
        self.server_identity_of(&cert_pem, &key)
    }

    /// The stored server certificate, if it can serve for `wanted` at `now`. A file that
    /// cannot be read is an error; a pair that no longer fits (other names, another CA, a
    /// key of another certificate, a third of its life left) is `None`.
    fn current_server_identity(
        &self,
        wanted: &BTreeSet<String>,
        now: SystemTime,
    ) -> Result<Option<Identity>, PkiError> {
        let cert_path = self.dir.join(SERVER_CERT);
        let key_path = self.dir.join(SERVER_KEY);
        let (Some(cert_pem), Some(key_pem)) = (
            files::read_if_exists(&cert_path)?,
            files::read_if_exists(&key_path)?,
        ) else {
            return Ok(None);
        };
        files::check_private(&key_path)?;
        let key = cert::key_pair(&key_pem, &key_path)?;
        let certs = cert::certificates(&cert_pem, &cert_path, "server certificate")?;
        let leaf = cert::parse(&certs[0])?;
        let ca = cert::parse(&self.cert)?;
        let signed_here = leaf.verify_signature(Some(ca.public_key())).is_ok();
        let (not_before, not_after) = cert::validity(&leaf);
        let fits = signed_here
            && cert::key_matches(&key, &leaf)
            && cert::names_of(&leaf) == *wanted
            && now < cert::renew_at(not_before, not_after)
            && now >= not_before;
        drop(leaf);
        if !fits {
            return Ok(None);
        }
        self.server_identity_of(&cert_pem, &key).map(Some)
    }

    fn server_identity_of(&self, cert_pem: &str, key: &KeyPair) -> Result<Identity, PkiError> {
        let cert_path = self.dir.join(SERVER_CERT);
        let mut chain = cert::certificates(cert_pem, &cert_path, "server certificate")?;
        chain.truncate(1);
        chain.push(self.cert.clone());
        let key = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| PkiError::generate("encode the server key", e))?;
        Ok(Identity { chain, key })
    }

    /// Issues a server certificate for `names` valid over `[not_before, not_after]`, with a
    /// new key: its PEM and the key.
    pub(crate) fn issue_server(
        &self,
        names: &BTreeSet<String>,
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> Result<(String, KeyPair), PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| PkiError::generate("generate the server key", e))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "orco");
        name.push(
            DnType::CommonName,
            cert::hostname().unwrap_or_else(|| "localhost".to_string()),
        );
        params.distinguished_name = name;
        params.subject_alt_names = cert::san(names)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(cert::serial()?);
        params.use_authority_key_identifier_extension = true;
        let certificate = params
            .signed_by(&key, &self.issuer()?)
            .map_err(|e| PkiError::generate("sign the server certificate", e))?;
        Ok((certificate.pem(), key))
    }

    /// Signs a node's certificate signing request: its subject's common name must be
    /// exactly `node` (else [`PkiError::WrongNode`]), its signature must verify (the node
    /// holds the key). The certificate is for `node`, EKU clientAuth only (it can never
    /// serve as a server), valid for `ttl` (callers use [`DEFAULT_NODE_TTL`]). Returns
    /// its PEM. Nothing else the request asks for (names, usages, CA) is granted.
    pub fn sign_node(&self, csr_pem: &str, node: &str, ttl: Duration) -> Result<String, PkiError> {
        let now = cert::now();
        self.sign_node_over(
            csr_pem,
            node,
            cert::before(now, cert::BACKDATE),
            cert::after(now, ttl),
            ttl,
        )
    }

    pub(crate) fn sign_node_over(
        &self,
        csr_pem: &str,
        node: &str,
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
        ttl: Duration,
    ) -> Result<String, PkiError> {
        if node.is_empty() {
            return Err(PkiError::Csr("the node name is empty".to_string()));
        }
        if ttl.is_zero() {
            return Err(PkiError::Csr(
                "a node certificate's lifetime must be more than zero".to_string(),
            ));
        }
        let der =
            CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes()).map_err(|e| {
                PkiError::Csr(format!("it is not a PEM certificate signing request ({e})"))
            })?;
        let found = {
            use x509_parser::prelude::FromDer;
            let (_, request) =
                x509_parser::certification_request::X509CertificationRequest::from_der(&der)
                    .map_err(|e| PkiError::Csr(format!("it cannot be read ({e})")))?;
            let subject = &request.certification_request_info.subject;
            let names: Vec<_> = subject
                .iter_common_name()
                .map(|cn| cn.as_str().unwrap_or("").to_string())
                .collect();
            names.join(", ")
        };
        if found != node {
            return Err(PkiError::WrongNode {
                node: node.to_string(),
                found,
            });
        }
        let request = CertificateSigningRequestParams::from_der(&der).map_err(|e| match e {
            rcgen::Error::InvalidCertificationRequestSignature => {
                PkiError::Csr("its signature does not verify".to_string())
            }
            e => PkiError::Csr(format!("it cannot be read ({e})")),
        })?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, node);
        params.distinguished_name = name;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(cert::serial()?);
        params.use_authority_key_identifier_extension = true;
        let certificate = params
            .signed_by(&request.public_key, &self.issuer()?)
            .map_err(|e| PkiError::generate("sign the node certificate", e))?;
        Ok(certificate.pem())
    }
}
