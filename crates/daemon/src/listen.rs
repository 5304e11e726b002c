//! The listeners: the unix socket (mode 0600, in a 0700 directory when orco creates it) and
//! the optional TCP listener, which answers only requests with the bearer token.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use orco_api::ApiError;
use tokio::net::UnixListener;

use crate::error::DaemonError;

/// Binds the API socket at `path`: creates its directory (0700) when missing, refuses when
/// another daemon answers there, replaces a stale socket, and binds under a temporary name
/// that is made 0600 and then renamed into place, so the socket is never reachable with a
/// wider mode.
pub fn bind_socket(path: &Path) -> Result<UnixListener, DaemonError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| DaemonError::io("create the socket directory", dir.display(), e))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(DaemonError::SocketInUse {
                    socket: path.to_path_buf(),
                });
            }
        }
        Ok(_) => {
            return Err(DaemonError::io(
                "use as the socket",
                path.display(),
                "a file that is not a socket is there: remove it or pick another --socket",
            ));
        }
        Err(_) => {}
    }
    let temporary = temporary_name(path);
    let _ = std::fs::remove_file(&temporary);
    let listener = UnixListener::bind(&temporary)
        .map_err(|e| DaemonError::io("bind the socket", temporary.display(), e))?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| DaemonError::io("set the mode of", temporary.display(), e))?;
    std::fs::rename(&temporary, path)
        .map_err(|e| DaemonError::io("move the socket into place at", path.display(), e))?;
    Ok(listener)
}

fn temporary_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}.tmp", std::process::id()));
    PathBuf::from(name)
}

/// Reads the bearer token from `path`: its first line, at least 16 characters.
pub fn read_token(path: &Path) -> Result<String, DaemonError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        DaemonError::Config(format!(
            "cannot read the token file {}: {e}",
            path.display()
        ))
    })?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.len() < 16 {
        return Err(DaemonError::Config(format!(
            "the token in {} is shorter than 16 characters: write a long random token there (e.g. `head -c 32 /dev/urandom | base64 > {}`)",
            path.display(),
            path.display()
        )));
    }
    Ok(token)
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The one path a TCP listener answers without the token: liveness only (`/health` says
/// nothing about what the daemon holds), for load balancers and service managers.
pub const OPEN_PATH: &str = "/health";

/// The credentials of an `Authorization` value of the `Bearer` scheme (its name in any
/// case, as RFC 9110 says), without the spaces around them.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || value.get(6) != Some(&b' ') {
        return None;
    }
    Some(value[7..].trim_ascii())
}

/// `router` behind a check of `Authorization: Bearer <token>`: `401 unauthorized` without it
/// (except on [`OPEN_PATH`]), and the connection closed (a stranger gets no kept-alive
/// connection to try again on).
pub fn with_token(router: Router, token: String) -> Router {
    let expected = token.into_bytes();
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let expected = expected.clone();
        async move {
            if request.uri().path() == OPEN_PATH || is_node_path(request.uri().path()) {
                return next.run(request).await;
            }
            let given = request
                .headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes)
                .and_then(bearer)
                .unwrap_or_default();
            if same(given, &expected) {
                next.run(request).await
            } else {
                unauthorized()
            }
        }
    }))
}

/// The routes nodes use: they carry no bearer token but prove themselves otherwise (a join
/// token in the body, or the node's certificate), and answer nothing else.
fn is_node_path(path: &str) -> bool {
    use orco_wire::route;
    [
        route::CLUSTER_JOIN,
        route::NODE_CERTIFICATE,
        route::NODE_STREAM,
    ]
    .iter()
    .any(|r| path.strip_prefix(orco_wire::API_PREFIX) == Some(*r))
}

fn unauthorized() -> Response {
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this listener needs `Authorization: Bearer TOKEN`: pass --token-file or set ORCO_TOKEN",
    )
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(same(b"Bearer abc", b"Bearer abc"));
        assert!(!same(b"Bearer abd", b"Bearer abc"));
        assert!(!same(b"Bearer ab", b"Bearer abc"));
        assert!(!same(b"", b"Bearer abc"));
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"BEARER  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearerabc"), None);
        assert_eq!(bearer(b"Bear"), None);
    }
}
