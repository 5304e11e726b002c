//! Tests of the authority, node identities and the pinned verifier together: real keys,
//! real certificates, real files in a temporary directory.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::authority::{CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY};
use crate::node::{NODE_CA, NODE_CERT, NODE_KEY};
use crate::tls::PinnedVerifier;
use crate::*;

const DAY: Duration = Duration::from_secs(24 * 3600);

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

fn verifier(pin: Pin) -> PinnedVerifier {
    PinnedVerifier {
        pin,
        algorithms: provider().signature_verification_algorithms,
    }
}

fn verify(
    pin: Pin,
    chain: &[CertificateDer<'static>],
    at: SystemTime,
) -> Result<(), rustls::Error> {
    let name = ServerName::try_from("anything.example").unwrap();
    verifier(pin)
        .verify_server_cert(
            &chain[0],
            &chain[1..],
            &name,
            &[],
            UnixTime::since_unix_epoch(at.duration_since(SystemTime::UNIX_EPOCH).unwrap()),
        )
        .map(|_| ())
}

/// A node identity for `node` signed by `ca`.
fn node_identity(ca: &Authority, node: &str, ttl: Duration) -> NodeIdentity {
    let key = NodeKey::generate(node).unwrap();
    let cert = ca.sign_node(&key.csr_pem().unwrap(), node, ttl).unwrap();
    NodeIdentity::new(key, &cert, ca.cert_pem()).unwrap()
}

fn parse_pem(pem: &str) -> (Vec<u8>, String) {
    let block = ::pem::parse(pem).unwrap();
    (block.contents().to_vec(), block.tag().to_string())
}

#[test]
fn a_new_authority_keeps_its_key_private_and_loads_again_with_the_same_pin() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let ca = Authority::load_or_create(&pki).unwrap();
    assert_eq!(mode(&pki), 0o700);
    assert_eq!(mode(&pki.join(CA_KEY)), 0o600);
    assert!(pki.join(CA_CERT).exists());
    assert_eq!(ca.cert_path(), pki.join(CA_CERT));
    let pin = ca.pin();
    assert_eq!(Pin::of_certificate(&der(ca.cert_pem())).unwrap(), pin);
    let again = Authority::load_or_create(&pki).unwrap();
    assert_eq!(again.pin(), pin);
    assert_eq!(again.cert_pem(), ca.cert_pem());

    let parsed = der(ca.cert_pem());
    let (_, cert) = x509_parser::parse_x509_certificate(&parsed).unwrap();
    assert!(cert.is_ca());
    let life = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
    assert!(life >= 3650 * 24 * 3600, "ten years, got {life} s");
}

#[test]
fn a_corrupt_ca_file_is_an_error_naming_it_and_is_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    Authority::load_or_create(dir.path()).unwrap();
    let cert_path = dir.path().join(CA_CERT);
    std::fs::write(&cert_path, "not a certificate\n").unwrap();
    let e = Authority::load_or_create(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "{} is not a valid CA certificate",
            cert_path.display()
        )),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(&cert_path).unwrap(),
        "not a certificate\n"
    );

    let other = tempfile::tempdir().unwrap();
    Authority::load_or_create(other.path()).unwrap();
    let key_path = other.path().join(CA_KEY);
    std::fs::write(
        &key_path,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let e = Authority::load_or_create(other.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "{} is not a valid private key",
            key_path.display()
        )),
        "{e}"
    );

    // Bytes that are not text at all.
    std::fs::write(&key_path, [0xff, 0xfe, 0x00]).unwrap();
    let e = Authority::load_or_create(other.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains(&key_path.display().to_string()), "{e}");
}

#[test]
fn a_ca_certificate_without_its_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Authority::load_or_create(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join(CA_KEY)).unwrap();
    let e = Authority::load_or_create(dir.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("ca.crt exists but"), "{e}");
    assert!(e.contains("ca.key is missing"), "{e}");
    assert!(!dir.path().join(CA_KEY).exists(), "no new key is made");
}

#[test]
fn a_ca_key_without_its_certificate_gets_it_again_with_the_same_pin() {
    let dir = tempfile::tempdir().unwrap();
    let pin = Authority::load_or_create(dir.path()).unwrap().pin();
    std::fs::remove_file(dir.path().join(CA_CERT)).unwrap();
    let again = Authority::load_or_create(dir.path()).unwrap();
    assert_eq!(again.pin(), pin);
}

#[test]
fn a_ca_key_others_may_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Authority::load_or_create(dir.path()).unwrap();
    let key = dir.path().join(CA_KEY);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Authority::load_or_create(dir.path())
        .unwrap_err()
        .to_string();
    let shown = key.display();
    assert_eq!(
        e,
        format!("{shown} is readable by others (mode 0644): chmod 600 {shown}")
    );
}

#[test]
fn a_ca_key_of_another_ca_is_refused() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    Authority::load_or_create(one.path()).unwrap();
    Authority::load_or_create(two.path()).unwrap();
    std::fs::copy(two.path().join(CA_KEY), one.path().join(CA_KEY)).unwrap();
    let e = Authority::load_or_create(one.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("ca.key is not a valid CA key"), "{e}");
    assert!(e.contains("it does not belong to"), "{e}");
}

#[test]
fn the_server_certificate_is_kept_while_its_names_hold_and_reissued_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let names = vec!["orco.example".to_string(), "10.1.2.3".to_string()];
    let first = ca.server_identity(&names).unwrap();
    assert_eq!(first.chain.len(), 2);
    assert_eq!(&first.chain[1], ca.cert_der(), "the chain ends in the CA");
    assert_eq!(mode(&dir.path().join(SERVER_KEY)), 0o600);
    assert!(dir.path().join(SERVER_CERT).exists());

    let (_, leaf) = x509_parser::parse_x509_certificate(&first.chain[0]).unwrap();
    let listed = crate::cert::names_of(&leaf);
    for name in ["orco.example", "10.1.2.3", "localhost", "127.0.0.1", "::1"] {
        assert!(listed.contains(name), "{name} in {listed:?}");
    }
    if let Some(host) = crate::cert::hostname() {
        assert!(listed.contains(&host));
    }
    assert_eq!(crate::cert::usages(&leaf), (true, false), "serverAuth only");
    let life = leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp();
    assert!(
        (89 * 86_400..=91 * 86_400).contains(&life),
        "90 days, got {life} s"
    );

    let same = ca
        .server_identity(&["10.1.2.3".into(), "ORCO.example".into()])
        .unwrap();
    assert_eq!(
        same.chain[0], first.chain[0],
        "same names: same certificate"
    );

    let other = ca.server_identity(&["orco.example".to_string()]).unwrap();
    assert_ne!(
        other.chain[0], first.chain[0],
        "other names: a new certificate"
    );
    let (_, leaf) = x509_parser::parse_x509_certificate(&other.chain[0]).unwrap();
    assert!(!crate::cert::names_of(&leaf).contains("10.1.2.3"));

    let e = ca.server_identity(&["not a name".to_string()]).unwrap_err();
    assert!(
        e.to_string()
            .contains("neither a DNS name nor an IP address"),
        "{e}"
    );
}

#[test]
fn a_server_certificate_with_a_third_of_its_life_left_is_reissued() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let kept = ca.server_identity(&[]).unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(&kept.chain[0]).unwrap();
    let names: BTreeSet<String> = crate::cert::names_of(&leaf);
    let now = time::OffsetDateTime::now_utc();

    // 90 days of life, 31 left: still kept.
    let write = |left_days: i64| {
        let (pem, key) = ca
            .issue_server(
                &names,
                now - time::Duration::days(90 - left_days),
                now + time::Duration::days(left_days),
            )
            .unwrap();
        std::fs::write(dir.path().join(SERVER_CERT), &pem).unwrap();
        std::fs::write(dir.path().join(SERVER_KEY), key.serialize_pem()).unwrap();
        der(&pem)
    };
    let young = write(31);
    assert_eq!(ca.server_identity(&[]).unwrap().chain[0], young);
    // 29 left: less than a third, reissued for another 90 days.
    let old = write(29);
    let renewed = ca.server_identity(&[]).unwrap();
    assert_ne!(renewed.chain[0], old);
    let expires = renewed.expires_at().unwrap();
    assert!(expires > SystemTime::now() + 89 * DAY);
}

#[test]
fn a_server_certificate_of_another_ca_is_reissued_and_a_corrupt_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let stranger = Authority::load_or_create(other.path()).unwrap();
    stranger.server_identity(&[]).unwrap();
    for file in [SERVER_CERT, SERVER_KEY] {
        std::fs::copy(other.path().join(file), dir.path().join(file)).unwrap();
    }
    let identity = ca.server_identity(&[]).unwrap();
    let verified = verify(ca.pin(), &identity.chain, SystemTime::now());
    assert!(verified.is_ok(), "{verified:?}");

    std::fs::write(dir.path().join(SERVER_CERT), "garbage").unwrap();
    let e = ca.server_identity(&[]).unwrap_err().to_string();
    assert!(
        e.contains("server.crt is not a valid server certificate"),
        "{e}"
    );
}

#[test]
fn a_node_certificate_is_for_the_node_and_for_clients_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let key = NodeKey::generate("n1").unwrap();
    let pem = ca.sign_node(&key.csr_pem().unwrap(), "n1", DAY).unwrap();
    let cert = der(&pem);
    let (_, leaf) = x509_parser::parse_x509_certificate(&cert).unwrap();
    assert_eq!(crate::cert::common_name(&leaf).as_deref(), Some("n1"));
    assert_eq!(crate::cert::usages(&leaf), (false, true), "clientAuth only");
    assert!(!leaf.is_ca());
    let ca_cert = der(ca.cert_pem());
    let (_, ca_parsed) = x509_parser::parse_x509_certificate(&ca_cert).unwrap();
    assert!(leaf.verify_signature(Some(ca_parsed.public_key())).is_ok());
    let life = leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp();
    let backdate = i64::try_from(crate::cert::BACKDATE.as_secs()).unwrap();
    assert_eq!(life, 86_400 + backdate);
    assert_eq!(peer_node(&cert).as_deref(), Some("n1"));
}

#[test]
fn a_request_for_another_node_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let key = NodeKey::generate("n2").unwrap();
    let e = ca
        .sign_node(&key.csr_pem().unwrap(), "n1", DAY)
        .unwrap_err();
    assert!(matches!(e, PkiError::WrongNode { .. }));
    assert_eq!(
        e.to_string(),
        "the certificate signing request is for \"n2\", not for the node \"n1\": a node may only ask for a certificate in its own name"
    );
    // A prefix is not the name.
    let key = NodeKey::generate("n10").unwrap();
    assert!(ca.sign_node(&key.csr_pem().unwrap(), "n1", DAY).is_err());
}

#[test]
fn a_tampered_or_malformed_request_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let e = ca.sign_node("hello", "n1", DAY).unwrap_err().to_string();
    assert!(e.contains("not a PEM certificate signing request"), "{e}");

    let key = NodeKey::generate("n1").unwrap();
    let (mut bytes, tag) = parse_pem(&key.csr_pem().unwrap());
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let tampered = ::pem::encode(&::pem::Pem::new(tag, bytes));
    let e = ca.sign_node(&tampered, "n1", DAY).unwrap_err().to_string();
    assert!(e.contains("request is refused"), "{e}");

    let e = ca
        .sign_node(&key.csr_pem().unwrap(), "n1", Duration::ZERO)
        .unwrap_err();
    assert!(e.to_string().contains("more than zero"), "{e}");
}

#[test]
fn a_node_identity_is_saved_with_a_private_key_and_loaded_back() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(&dir.path().join("server")).unwrap();
    let agent = dir.path().join("agent");
    assert!(
        NodeIdentity::load(&agent).unwrap().is_none(),
        "not joined yet"
    );
    let identity = node_identity(&ca, "n1", DAY);
    identity.save(&agent).unwrap();
    assert_eq!(mode(&agent), 0o700);
    assert_eq!(mode(&agent.join(NODE_KEY)), 0o600);
    assert_eq!(
        std::fs::read_to_string(agent.join(NODE_CA)).unwrap(),
        ca.cert_pem()
    );

    let loaded = NodeIdentity::load(&agent).unwrap().unwrap();
    assert_eq!(loaded.node(), "n1");
    assert_eq!(loaded.ca_pin(), ca.pin());
    assert_eq!(loaded.cert_pem(), identity.cert_pem());
    assert_eq!(loaded.expires_at(), identity.expires_at());
    let life = loaded
        .expires_at()
        .duration_since(loaded.issued_at())
        .unwrap();
    assert_eq!(loaded.renew_at(), loaded.expires_at() - life / 3);
    let left = loaded
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        left > DAY - Duration::from_secs(60) && left <= DAY,
        "{left:?}"
    );
}

#[test]
fn a_broken_node_identity_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(&dir.path().join("server")).unwrap();
    let agent = dir.path().join("agent");
    node_identity(&ca, "n1", DAY).save(&agent).unwrap();

    std::fs::write(agent.join(NODE_CERT), "junk").unwrap();
    let e = NodeIdentity::load(&agent).unwrap_err().to_string();
    assert!(
        e.contains("node.crt is not a valid node certificate"),
        "{e}"
    );

    std::fs::remove_file(agent.join(NODE_CERT)).unwrap();
    let e = NodeIdentity::load(&agent).unwrap_err().to_string();
    assert!(
        e.contains("node.key exists but") && e.contains("node.crt is missing"),
        "{e}"
    );

    // A certificate for another key.
    let other = dir.path().join("other");
    node_identity(&ca, "n1", DAY).save(&other).unwrap();
    std::fs::copy(other.join(NODE_CERT), agent.join(NODE_CERT)).unwrap();
    let e = NodeIdentity::load(&agent).unwrap_err().to_string();
    assert!(e.contains("it is not for the key in node.key"), "{e}");

    std::fs::set_permissions(agent.join(NODE_KEY), std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = NodeIdentity::load(&agent).unwrap_err().to_string();
    assert!(e.contains("readable by others (mode 0640)"), "{e}");
}

#[test]
fn a_node_identity_refuses_a_certificate_of_another_ca_or_name() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(&dir.path().join("a")).unwrap();
    let other = Authority::load_or_create(&dir.path().join("b")).unwrap();
    let key = NodeKey::generate("n1").unwrap();
    let cert = other.sign_node(&key.csr_pem().unwrap(), "n1", DAY).unwrap();
    let e = NodeIdentity::new(key, &cert, ca.cert_pem())
        .unwrap_err()
        .to_string();
    assert!(e.contains("it is not signed by the CA"), "{e}");
}

#[test]
fn the_pinned_verifier_accepts_the_server_of_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let identity = ca.server_identity(&[]).unwrap();
    let verified = verify(ca.pin(), &identity.chain, SystemTime::now());
    assert!(verified.is_ok(), "{verified:?}");
}

#[test]
fn a_server_of_another_ca_is_refused_for_the_pin() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(&dir.path().join("a")).unwrap();
    let impostor = Authority::load_or_create(&dir.path().join("b")).unwrap();
    let identity = impostor.server_identity(&[]).unwrap();
    let e = verify(ca.pin(), &identity.chain, SystemTime::now()).unwrap_err();
    assert!(is_pin_mismatch(&e), "{e}");
    let shown = pin_mismatch(&e).unwrap().to_string();
    assert!(
        shown.starts_with("the server's CA does not match the pin in the token"),
        "{shown}"
    );
    assert!(shown.contains(&impostor.pin().to_string()), "{shown}");

    // A pin with one character changed refuses the right server too.
    let mut tampered = ca.pin().to_string();
    let first = if tampered.starts_with('0') { "1" } else { "0" };
    tampered.replace_range(0..1, first);
    let tampered: Pin = tampered.parse().unwrap();
    let own = ca.server_identity(&[]).unwrap();
    let e = verify(tampered, &own.chain, SystemTime::now()).unwrap_err();
    assert!(is_pin_mismatch(&e), "{e}");
}

#[test]
fn a_server_that_sends_no_ca_or_a_leaf_of_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(&dir.path().join("a")).unwrap();
    let impostor = Authority::load_or_create(&dir.path().join("b")).unwrap();
    let own = ca.server_identity(&[]).unwrap();
    let e = verify(ca.pin(), &own.chain[..1], SystemTime::now()).unwrap_err();
    assert!(is_pin_mismatch(&e), "{e}");
    assert!(e.to_string().contains("it sent no CA certificate"), "{e}");

    // The pinned CA's certificate (public) behind a leaf the impostor signed.
    let forged = impostor.server_identity(&[]).unwrap();
    let chain = vec![forged.chain[0].clone(), ca.cert_der().clone()];
    let e = verify(ca.pin(), &chain, SystemTime::now()).unwrap_err();
    assert!(!is_pin_mismatch(&e));
    assert!(
        matches!(e, rustls::Error::InvalidCertificate(_)),
        "the leaf's signature does not verify: {e:?}"
    );
}

#[test]
fn a_node_certificate_cannot_act_as_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let node = node_identity(&ca, "n1", DAY);
    let chain = vec![der(node.cert_pem()), ca.cert_der().clone()];
    let e = verify(ca.pin(), &chain, SystemTime::now()).unwrap_err();
    assert!(
        matches!(
            e,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::InvalidPurpose
                    | rustls::CertificateError::InvalidPurposeContext { .. }
            )
        ),
        "{e:?}"
    );
    // Nor can the CA's own certificate.
    let chain = vec![ca.cert_der().clone(), ca.cert_der().clone()];
    assert!(verify(ca.pin(), &chain, SystemTime::now()).is_err());
}

#[test]
fn an_expired_server_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let names = BTreeSet::from(["localhost".to_string()]);
    let (pem, _) = ca
        .issue_server(
            &names,
            now - time::Duration::days(10),
            now - time::Duration::days(1),
        )
        .unwrap();
    let chain = vec![der(&pem), ca.cert_der().clone()];
    let e = verify(ca.pin(), &chain, SystemTime::now()).unwrap_err();
    assert!(
        matches!(
            e,
            rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext { .. })
                | rustls::Error::InvalidCertificate(rustls::CertificateError::Expired)
        ),
        "{e:?}"
    );
    // A valid one seen from 91 days on is expired too.
    let fresh = ca.server_identity(&[]).unwrap();
    assert!(verify(ca.pin(), &fresh.chain, SystemTime::now() + 91 * DAY).is_err());
}

#[test]
fn a_ca_file_without_a_certificate_is_refused() {
    let e = ca_client_config("nothing here").unwrap_err().to_string();
    assert!(e.contains("no `-----BEGIN CERTIFICATE-----` block"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    assert!(ca_client_config(ca.cert_pem()).is_ok());
}

#[test]
fn an_operator_certificate_and_key_are_read_and_a_mismatch_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    ca.server_identity(&[]).unwrap();
    let cert = dir.path().join(SERVER_CERT);
    let key = dir.path().join(SERVER_KEY);
    let identity = Identity::from_pem_files(&cert, &key).unwrap();
    assert_eq!(identity.chain.len(), 1);

    let other = tempfile::tempdir().unwrap();
    let stranger = Authority::load_or_create(other.path()).unwrap();
    stranger.server_identity(&[]).unwrap();
    let e = Identity::from_pem_files(&cert, &other.path().join(SERVER_KEY))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot be used"), "{e}");
    let e = Identity::from_pem_files(&dir.path().join("nope.crt"), &key)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.crt"), "{e}");
}

#[test]
fn a_certificate_without_the_server_usage_is_refused_as_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(dir.path().join(CA_KEY)).unwrap())
            .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_der(ca.cert_der(), &ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    // No extended key usage at all: webpki would let it pass for any purpose.
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let leaf = params.signed_by(&key, &issuer).unwrap();
    let chain = vec![leaf.der().clone(), ca.cert_der().clone()];
    let e = verify(ca.pin(), &chain, SystemTime::now()).unwrap_err();
    assert!(
        matches!(
            e,
            rustls::Error::InvalidCertificate(rustls::CertificateError::InvalidPurpose)
        ),
        "{e:?}"
    );
}

#[test]
fn what_an_interrupted_write_left_is_removed_at_the_next_load() {
    let dir = tempfile::tempdir().unwrap();
    Authority::load_or_create(dir.path()).unwrap();
    let leftover = dir.path().join("ca.key.4242.tmp");
    std::fs::write(&leftover, "half a key").unwrap();
    let other = dir.path().join("notes.tmp");
    std::fs::write(&other, "not ours").unwrap();
    Authority::load_or_create(dir.path()).unwrap();
    assert!(!leftover.exists());
    assert!(other.exists(), "only what orco writes is removed");
}

#[test]
fn the_types_a_server_shares_between_tasks_are_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<Authority>();
    shared::<Identity>();
    shared::<NodeIdentity>();
    shared::<NodeKey>();
    shared::<ServerCerts>();
    shared::<JoinToken>();
    shared::<Pin>();
    shared::<Peer>();
    shared::<PkiError>();
}
