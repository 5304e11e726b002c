//! `Client`: one HTTP/1.1 request per connection over the unix socket or TLS on TCP, with
//! the version exchange, the bearer token and typed calls for every route.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use orco_wire::job::{JobList, JobRunView, JobSubmit, JobSubmitted};
use orco_wire::model::{
    Accepted, ClusterInfo, Health, HistoryView, InstanceList, InstanceView, NodeList, NodeView,
    RollbackRequest, RolloutView, ScaleRequest, StackDetail, StackList, WorkloadCreate,
    WorkloadDetail, WorkloadList,
};
use orco_wire::route::{self, path};
use orco_wire::{ErrorBody, VERSION, VERSION_HEADER};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ClientError;
use crate::host::Host;
use crate::lines::LineReader;
use crate::sse::SseReader;
use crate::tls::Trust;

/// How long a call waits for the daemon's whole answer unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    token: Option<String>,
    /// What a TLS daemon is trusted by, and its rustls configuration (built once).
    trust: Trust,
    tls: Option<Arc<orco_pki::rustls::ClientConfig>>,
    /// How long a call may take, from connecting to the answer's last byte; for a stream
    /// (events, logs), until its head arrived.
    timeout: Duration,
}

pub use orco_wire::route::segment;

/// Percent-encodes a query value.
fn query_value(text: &str) -> String {
    segment(text)
}

/// `?a=b&c=d` of the present pairs (empty when none is).
fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", query_value(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Reads a token file: its first line, trimmed. A file the group or others may read or
/// write is refused, as a missing or empty one is.
pub fn read_token(path: &Path) -> Result<String, ClientError> {
    let text = orco_pki::files::read_secret_file(path).map_err(ClientError::Token)?;
    Ok(text.lines().next().unwrap_or("").trim().to_string())
}

impl Client {
    /// A client of the daemon at `host`, sending `token` as a bearer token when given.
    pub fn new(host: Host, token: Option<String>) -> Client {
        Client {
            host,
            token,
            trust: Trust::Nothing,
            tls: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same client trusting a TLS daemon by `trust` (a CA certificate or a pin); fails
    /// when a CA given holds no certificate.
    pub fn with_trust(mut self, trust: Trust) -> Result<Client, ClientError> {
        self.tls = Some(trust.config()?);
        self.trust = trust;
        Ok(self)
    }

    /// The same client with calls limited to `timeout` (see [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// How long a call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `work` within the call's time limit, or [`ClientError::NotAnswering`].
    async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::NotAnswering {
                host: self.host.to_string(),
                after: self.timeout,
            }),
        }
    }

    /// The daemon's address.
    pub fn host(&self) -> &Host {
        &self.host
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> ClientError {
        ClientError::Unreachable {
            host: self.host.to_string(),
            detail: e.to_string(),
        }
    }

    fn protocol(&self, e: impl std::fmt::Display) -> ClientError {
        ClientError::Protocol {
            host: self.host.to_string(),
            detail: e.to_string(),
        }
    }

    /// Sends one request; the response once its head arrived (within the time limit), after
    /// the version check.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, ClientError> {
        self.bounded(self.send(method, path, body)).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, ClientError> {
        let mut sender = match &self.host {
            Host::Unix(socket) => {
                let stream = tokio::net::UnixStream::connect(socket)
                    .await
                    .map_err(|e| self.unreachable(e))?;
                self.handshake(stream).await?
            }
            Host::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| self.unreachable(e))?;
                let _ = stream.set_nodelay(true);
                let stream = self.secure(stream).await?;
                self.handshake(stream).await?
            }
        };
        let authority = match &self.host {
            Host::Unix(_) => "localhost",
            Host::Tcp(addr) => addr.as_str(),
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, authority)
            .header(VERSION_HEADER, VERSION)
            .header(hyper::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| self.protocol(e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.unreachable(e))?;
        if let Some(theirs) = response.headers().get(VERSION_HEADER) {
            let theirs = theirs.to_str().unwrap_or("unreadable");
            orco_wire::version::check(VERSION, theirs)?;
        }
        Ok(response)
    }

    /// The TLS handshake on a TCP connection, checking the daemon's certificate by the trust
    /// given.
    async fn secure(
        &self,
        stream: tokio::net::TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ClientError> {
        let config = match &self.tls {
            Some(config) => config.clone(),
            None => self.trust.config()?,
        };
        let name = self.host.server_name().unwrap_or("localhost").to_string();
        let server_name =
            orco_pki::rustls::pki_types::ServerName::try_from(name.clone()).map_err(|e| {
                ClientError::Tls {
                    host: self.host.to_string(),
                    detail: format!("{name:?} cannot be checked against a certificate: {e}"),
                }
            })?;
        tokio_rustls::TlsConnector::from(config)
            .connect(server_name, stream)
            .await
            .map_err(|e| match self.trust.explain(&e, &name) {
                Some(detail) => ClientError::Tls {
                    host: self.host.to_string(),
                    detail,
                },
                None => self.unreachable(e),
            })
    }

    async fn handshake<S>(
        &self,
        stream: S,
    ) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, ClientError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.unreachable(e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// The body of a response, or the API error it carries.
    async fn body(&self, response: Response<Incoming>) -> Result<Bytes, ClientError> {
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.protocol(e))?
            .to_bytes();
        if status.is_success() {
            return Ok(bytes);
        }
        Err(self.api_error(status, &bytes))
    }

    fn api_error(&self, status: StatusCode, bytes: &[u8]) -> ClientError {
        match serde_json::from_slice::<ErrorBody>(bytes) {
            Ok(body) => ClientError::Api {
                status: status.as_u16(),
                error: Box::new(body.error),
            },
            Err(_) => self.protocol(format!(
                "status {status} with a body that is not an API error: {}",
                String::from_utf8_lossy(bytes)
            )),
        }
    }

    /// A call with an optional JSON body, decoding a JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| self.protocol(e))?),
            None => None,
        };
        let bytes = self
            .bounded(async {
                let response = self.send(method, path, body).await?;
                self.body(response).await
            })
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| self.protocol(e))
    }

    /// A GET decoding a JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::GET, path, None::<&()>).await
    }

    /// A GET returning the body as text (`/metrics`).
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let bytes = self
            .bounded(async {
                let response = self.send(Method::GET, path, None).await?;
                self.body(response).await
            })
            .await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get(route::HEALTH).await
    }

    /// `GET /api/v1/cluster`.
    pub async fn cluster(&self, at: Option<&str>) -> Result<ClusterInfo, ClientError> {
        self.get(&format!(
            "{}{}",
            path(route::CLUSTER, &[]),
            query(&[("at", at)])
        ))
        .await
    }

    /// `POST /api/v1/stacks`: apply a resolved stack.
    pub async fn apply(&self, stack: &orco_spec::Stack) -> Result<Accepted, ClientError> {
        self.call(Method::POST, &path(route::STACKS, &[]), Some(stack))
            .await
    }

    /// `POST /api/v1/placements`: where the instances of `stack` would run if it were
    /// applied now (empty on a single machine).
    pub async fn placements(
        &self,
        stack: &orco_spec::Stack,
    ) -> Result<orco_wire::model::PlacementPreview, ClientError> {
        self.call(Method::POST, &path(route::PLACEMENTS, &[]), Some(stack))
            .await
    }

    /// `POST /api/v1/stacks/{name}/stop`: every service of the stack, dependents first.
    pub async fn stop_stack(&self, name: &str) -> Result<Accepted, ClientError> {
        self.call(Method::POST, &path(route::STACK_STOP, &[name]), None::<&()>)
            .await
    }

    /// `GET /api/v1/stacks`.
    pub async fn stacks(&self, at: Option<&str>) -> Result<StackList, ClientError> {
        self.get(&format!(
            "{}{}",
            path(route::STACKS, &[]),
            query(&[("at", at)])
        ))
        .await
    }

    /// `GET /api/v1/stacks/{name}`.
    pub async fn stack(&self, name: &str, at: Option<&str>) -> Result<StackDetail, ClientError> {
        self.get(&format!(
            "{}{}",
            path(route::STACK, &[name]),
            query(&[("at", at)])
        ))
        .await
    }

    /// `DELETE /api/v1/stacks/{name}`.
    pub async fn remove_stack(&self, name: &str) -> Result<Accepted, ClientError> {
        self.call(Method::DELETE, &path(route::STACK, &[name]), None::<&()>)
            .await
    }

    /// `DELETE /api/v1/stacks/{name}?volumes=true`: the stack and its named volumes.
    pub async fn remove_stack_and_volumes(&self, name: &str) -> Result<Accepted, ClientError> {
        self.call(
            Method::DELETE,
            &format!("{}?volumes=true", path(route::STACK, &[name])),
            None::<&()>,
        )
        .await
    }

    /// `GET /api/v1/workloads`.
    pub async fn workloads(
        &self,
        stack: Option<&str>,
        at: Option<&str>,
    ) -> Result<WorkloadList, ClientError> {
        self.get(&format!(
            "{}{}",
            path(route::WORKLOADS, &[]),
            query(&[("stack", stack), ("at", at)])
        ))
        .await
    }

    /// `GET /api/v1/workloads/{id}`.
    pub async fn workload(
        &self,
        id: &str,
        at: Option<&str>,
    ) -> Result<WorkloadDetail, ClientError> {
        self.get(&format!(
            "{}{}",
            path(route::WORKLOAD, &[id]),
            query(&[("at", at)])
        ))
        .await
    }

    /// `POST /api/v1/workloads`.
    pub async fn create_workload(&self, body: &WorkloadCreate) -> Result<Accepted, ClientError> {
        self.call(Method::POST, &path(route::WORKLOADS, &[]), Some(body))
            .await
    }

    /// `DELETE /api/v1/workloads/{id}`.
    pub async fn delete_workload(&self, id: &str) -> Result<Accepted, ClientError> {
        self.call(Method::DELETE, &path(route::WORKLOAD, &[id]), None::<&()>)
            .await
    }

    /// `PATCH /api/v1/workloads/{id}/scale`.
    pub async fn scale(&self, id: &str, replicas: u32) -> Result<Accepted, ClientError> {
        self.call(
            Method::PATCH,
            &path(route::WORKLOAD_SCALE, &[id]),
            Some(&ScaleRequest { replicas }),
        )
        .await
    }

    /// `GET /api/v1/workloads/{id}/rollout`.
    pub async fn rollout(&self, id: &str) -> Result<RolloutView, ClientError> {
        self.get(&path(route::WORKLOAD_ROLLOUT, &[id])).await
    }

    /// `POST /api/v1/workloads/{id}/rollback`.
    pub async fn rollback(&self, id: &str, revision: Option<u32>) -> Result<Accepted, ClientError> {
        self.call(
            Method::POST,
            &path(route::WORKLOAD_ROLLBACK, &[id]),
            Some(&RollbackRequest { revision }),
        )
        .await
    }

    /// `POST /api/v1/workloads/{id}/{action}` for `restart`, `stop` or `start`.
    pub async fn workload_action(&self, id: &str, action: &str) -> Result<Accepted, ClientError> {
        self.call(
            Method::POST,
            &format!("{}/{}", path(route::WORKLOAD, &[id]), segment(action)),
            None::<&()>,
        )
        .await
    }

    /// `POST /api/v1/workloads/{id}/restart`: a rolling restart, or every instance at once
    /// with `all`.
    pub async fn restart_workload(&self, id: &str, all: bool) -> Result<Accepted, ClientError> {
        let query = if all { "?all=true" } else { "" };
        self.call(
            Method::POST,
            &format!("{}{query}", path(route::WORKLOAD_RESTART, &[id])),
            None::<&()>,
        )
        .await
    }

    /// `GET /api/v1/instances`.
    pub async fn instances(
        &self,
        stack: Option<&str>,
        workload: Option<&str>,
        at: Option<&str>,
    ) -> Result<InstanceList, ClientError> {
        self.get(&format!(
            "{}{}",
            path(route::INSTANCES, &[]),
            query(&[("stack", stack), ("workload", workload), ("at", at)])
        ))
        .await
    }

    /// `GET /api/v1/instances/{id}`.
    pub async fn instance(&self, id: &str, at: Option<&str>) -> Result<InstanceView, ClientError> {
        self.get(&format!(
            "{}{}",
            path(route::INSTANCE, &[id]),
            query(&[("at", at)])
        ))
        .await
    }

    /// `POST /api/v1/instances/{id}/restart`.
    pub async fn restart_instance(&self, id: &str) -> Result<Accepted, ClientError> {
        self.call(
            Method::POST,
            &path(route::INSTANCE_RESTART, &[id]),
            None::<&()>,
        )
        .await
    }

    /// `GET /api/v1/nodes`.
    pub async fn nodes(&self, at: Option<&str>) -> Result<NodeList, ClientError> {
        self.get(&format!(
            "{}{}",
            path(route::NODES, &[]),
            query(&[("at", at)])
        ))
        .await
    }

    /// `GET /api/v1/nodes/{name}`.
    pub async fn node(&self, name: &str) -> Result<NodeView, ClientError> {
        self.get(&path(route::NODE, &[name])).await
    }

    /// `POST /api/v1/nodes/{name}/cordon` (or `uncordon`).
    pub async fn cordon_node(&self, name: &str, cordoned: bool) -> Result<Accepted, ClientError> {
        let route = if cordoned {
            route::NODE_CORDON
        } else {
            route::NODE_UNCORDON
        };
        self.call(Method::POST, &path(route, &[name]), None::<&()>)
            .await
    }

    /// `POST /api/v1/nodes/{name}/drain`.
    pub async fn drain_node(&self, name: &str) -> Result<Accepted, ClientError> {
        self.call(Method::POST, &path(route::NODE_DRAIN, &[name]), None::<&()>)
            .await
    }

    /// `POST /api/v1/nodes/{name}/labels`.
    pub async fn label_node(&self, name: &str, edits: &[String]) -> Result<Accepted, ClientError> {
        let body = orco_wire::model::NodeEdits {
            edits: edits.to_vec(),
        };
        self.call(
            Method::POST,
            &path(route::NODE_LABELS, &[name]),
            Some(&body),
        )
        .await
    }

    /// `POST /api/v1/nodes/{name}/taints`.
    pub async fn taint_node(&self, name: &str, edits: &[String]) -> Result<Accepted, ClientError> {
        let body = orco_wire::model::NodeEdits {
            edits: edits.to_vec(),
        };
        self.call(
            Method::POST,
            &path(route::NODE_TAINTS, &[name]),
            Some(&body),
        )
        .await
    }

    /// `DELETE /api/v1/nodes/{name}`.
    pub async fn remove_node(&self, name: &str) -> Result<Accepted, ClientError> {
        self.call(Method::DELETE, &path(route::NODE, &[name]), None::<&()>)
            .await
    }

    /// `POST /api/v1/cluster/tokens`.
    pub async fn create_token(
        &self,
        request: &orco_wire::model::TokenRequest,
    ) -> Result<orco_wire::model::TokenCreated, ClientError> {
        self.call(
            Method::POST,
            &path(route::CLUSTER_TOKENS, &[]),
            Some(request),
        )
        .await
    }

    /// `GET /api/v1/cluster/tokens`.
    pub async fn tokens(&self) -> Result<orco_wire::model::TokenList, ClientError> {
        self.get(&path(route::CLUSTER_TOKENS, &[])).await
    }

    /// `GET /api/v1/cluster/members`: the SWIM group as the server sees it.
    pub async fn members(&self) -> Result<orco_wire::model::MemberList, ClientError> {
        self.get(&path(route::CLUSTER_MEMBERS, &[])).await
    }

    /// `DELETE /api/v1/cluster/tokens/{id}`.
    pub async fn revoke_token(&self, id: &str) -> Result<Accepted, ClientError> {
        self.call(
            Method::DELETE,
            &path(route::CLUSTER_TOKEN, &[id]),
            None::<&()>,
        )
        .await
    }

    /// `POST /api/v1/tokens`: a new API token (its secret is in this answer only).
    pub async fn create_api_token(
        &self,
        request: &orco_wire::model::ApiTokenRequest,
    ) -> Result<orco_wire::model::ApiTokenCreated, ClientError> {
        self.call(Method::POST, &path(route::TOKENS, &[]), Some(request))
            .await
    }

    /// `GET /api/v1/tokens`.
    pub async fn api_tokens(&self) -> Result<orco_wire::model::ApiTokenList, ClientError> {
        self.get(&path(route::TOKENS, &[])).await
    }

    /// `DELETE /api/v1/tokens/{name}`.
    pub async fn revoke_api_token(&self, name: &str) -> Result<Accepted, ClientError> {
        self.call(Method::DELETE, &path(route::TOKEN, &[name]), None::<&()>)
            .await
    }

    /// `GET /api/v1/history/{object}`.
    pub async fn history(
        &self,
        object: &str,
        at: Option<&str>,
    ) -> Result<HistoryView, ClientError> {
        self.get(&format!(
            "{}{}",
            path(route::HISTORY, &[object]),
            query(&[("at", at)])
        ))
        .await
    }

    /// `GET /api/v1/logs` with `query` (pairs of `LogsQuery`): NDJSON records, one per line.
    pub async fn logs(
        &self,
        query_pairs: &[(&str, Option<&str>)],
    ) -> Result<LineReader, ClientError> {
        let logs = format!("{}{}", path(route::LOGS, &[]), query(query_pairs));
        let response = self.streaming(&logs).await?;
        Ok(LineReader::new(response.into_body()))
    }

    /// `GET /api/v1/events`: a stream of server-sent events after revision `after`; only
    /// events of `kinds` when it is not empty.
    pub async fn events(
        &self,
        after: u64,
        follow: bool,
        kinds: &[&str],
    ) -> Result<SseReader, ClientError> {
        let mut events = format!("{}?after={after}&follow={follow}", path(route::EVENTS, &[]));
        if !kinds.is_empty() {
            events.push_str("&kinds=");
            events.push_str(&segment(&kinds.join(",")));
        }
        let response = self.streaming(&events).await?;
        Ok(SseReader::new(response.into_body()))
    }

    /// `POST /api/v1/jobs`: runs of `jobs` of `stack` (every job when empty), the stack
    /// applied first when it changed.
    pub async fn submit_jobs(
        &self,
        stack: &orco_spec::Stack,
        jobs: &[String],
    ) -> Result<JobSubmitted, ClientError> {
        let body = JobSubmit {
            stack: stack.clone(),
            jobs: jobs.to_vec(),
        };
        self.call(Method::POST, &path(route::JOBS, &[]), Some(&body))
            .await
    }

    /// `GET /api/v1/jobs`.
    pub async fn jobs(&self) -> Result<JobList, ClientError> {
        self.get(&path(route::JOBS, &[])).await
    }

    /// `GET /api/v1/jobs/{id}`.
    pub async fn job(&self, id: &str) -> Result<JobRunView, ClientError> {
        self.get(&path(route::JOB, &[id])).await
    }

    /// `POST /api/v1/jobs/{id}/{action}` (`cancel`, `retry`).
    pub async fn job_action(&self, id: &str, action: &str) -> Result<Accepted, ClientError> {
        self.call(
            Method::POST,
            &format!("{}/{}", path(route::JOB, &[id]), segment(action)),
            None::<&()>,
        )
        .await
    }

    /// A GET whose body is read as it streams; an error status gives the API error.
    async fn streaming(&self, path: &str) -> Result<Response<Incoming>, ClientError> {
        self.bounded(async {
            let response = self.send(Method::GET, path, None).await?;
            if !response.status().is_success() {
                let status = response.status();
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| self.protocol(e))?
                    .to_bytes();
                return Err(self.api_error(status, &bytes));
            }
            Ok(response)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_as_one_path_segment() {
        assert_eq!(segment("demo/web-0"), "demo%2Fweb-0");
        assert_eq!(
            query(&[("at", Some("rev:3")), ("stack", None)]),
            "?at=rev%3A3"
        );
        assert_eq!(query(&[("at", None)]), "");
    }
}
