//! Names and labels: how orco's containers, networks and volumes are named and found.
//!
//! Every object orco creates carries `orco.scope` (which runtime owns it: one daemon, or one
//! test) and `orco.stack`; containers also `orco.service` and `orco.instance`. Names are
//! prefixed with the scope so that two scopes never collide on the engine.

/// The label naming the runtime scope that owns a container or network.
pub const LABEL_SCOPE: &str = "orco.scope";
/// The label naming the stack.
pub const LABEL_STACK: &str = "orco.stack";
/// The label naming the service.
pub const LABEL_SERVICE: &str = "orco.service";
/// The label naming the instance (the runtime's instance name).
pub const LABEL_INSTANCE: &str = "orco.instance";

/// The default scope of a daemon's docker runtime.
pub const DEFAULT_SCOPE: &str = "orco";

/// The container of `instance` in `scope`: `SCOPE-INSTANCE`.
pub fn container_name(scope: &str, instance: &str) -> String {
    format!("{scope}-{instance}")
}

/// The network of `stack` in `scope`: `SCOPE-STACK`.
pub fn network_name(scope: &str, stack: &str) -> String {
    format!("{scope}-{stack}")
}

/// A label filter `key=value` for the engine's list and events filters.
pub(crate) fn label(key: &str, value: &str) -> String {
    format!("{key}={value}")
}

/// Whether `scope` is usable in container and network names: 1-64 of `[a-z0-9_.-]`,
/// starting with a letter or digit.
pub fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= 64
        && scope.as_bytes()[0].is_ascii_alphanumeric()
        && scope.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

/// Splits an image reference into what the engine's pull takes: the repository and the tag
/// (`latest` when none is given, so that a pull never fetches every tag). A digest stays in
/// the repository part with no tag.
pub fn pull_reference(image: &str) -> (String, Option<String>) {
    if image.contains('@') {
        return (image.to_string(), None);
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) => {
            let repo = &image[..image.len() - tag.len() - 1];
            (repo.to_string(), Some(tag.to_string()))
        }
        None => (image.to_string(), Some("latest".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_untagged_image_is_pulled_as_latest_and_a_registry_port_is_not_a_tag() {
        assert_eq!(
            pull_reference("busybox"),
            ("busybox".into(), Some("latest".into()))
        );
        assert_eq!(
            pull_reference("127.0.0.1:5000/app"),
            ("127.0.0.1:5000/app".into(), Some("latest".into()))
        );
        assert_eq!(
            pull_reference("127.0.0.1:5000/app:1.2"),
            ("127.0.0.1:5000/app".into(), Some("1.2".into()))
        );
        assert_eq!(
            pull_reference("app@sha256:abc"),
            ("app@sha256:abc".into(), None)
        );
    }

    #[test]
    fn scopes_are_checked_so_that_names_stay_valid_for_the_engine() {
        assert!(valid_scope("orco"));
        assert!(valid_scope("t-1.x_y"));
        for bad in ["", "-x", "UPPER", "a/b", "sp ace"] {
            assert!(!valid_scope(bad), "{bad}");
        }
    }
}
