//! A service: how it runs (process or container), its ports, mounts, proxy and replicas;
//! the fields it shares with a task are read by [`super::process`].

use super::health::health_probes;
use super::{Cx, Names, join, keys};
use crate::model::*;
use crate::node::{Node, Value};

impl Cx<'_> {
    pub(super) fn service(
        &mut self,
        key: &Node,
        n: &Node,
        name: &str,
        own_health: Option<&Node>,
        names: &Names,
    ) -> Option<Service> {
        let path = join("services", name);
        let what = format!("service `{name}`");
        let mut f = self.fields(n, &path, &what, keys::SERVICE)?;
        f.at = key;
        let p = |k: &str| join(&path, k);
        let mut ok = true;

        let image = f
            .get("image")
            .and_then(|v| self.nonempty_string(v, &p("image")));
        let process = self.process(&f, &path, None);
        let runtime = match f.get("runtime") {
            Some(v) => self.word(
                v,
                &p("runtime"),
                &[
                    ("process", RuntimeKind::Process),
                    ("docker", RuntimeKind::Docker),
                ],
            ),
            None if f.get("image").is_some() => Some(RuntimeKind::Docker),
            None => Some(RuntimeKind::Process),
        };
        match runtime {
            Some(RuntimeKind::Docker) if f.get("image").is_none() => {
                let hint = Some("add `image: …`, or set `runtime: process` and a `command`".into());
                self.error(
                    key,
                    &path,
                    format!("docker service `{name}` has no `image`"),
                    hint,
                );
                ok = false;
            }
            Some(RuntimeKind::Process) if f.get("command").is_none() => {
                let hint = Some(
                    "add `command: [\"program\", \"arg\"]`, or an `image:` to run a container"
                        .into(),
                );
                self.error(
                    key,
                    &path,
                    format!("process service `{name}` has no `command`"),
                    hint,
                );
                ok = false;
            }
            Some(RuntimeKind::Process) => {
                if let Some(img) = f.get("image") {
                    let hint = Some("remove `image`, or set `runtime: docker`".into());
                    self.error(
                        img,
                        &p("image"),
                        format!(
                            "`image` is only for docker services, and `{name}` is a process service"
                        ),
                        hint,
                    );
                    ok = false;
                }
            }
            _ => {}
        }
        let ports = match f.get("ports") {
            Some(v) => self.port_list(v, &p("ports"), runtime == Some(RuntimeKind::Docker)),
            None => Vec::new(),
        };
        // `entrypoint: []` clears the image's entrypoint.
        let entrypoint = f.get("entrypoint").and_then(|v| match &v.value {
            Value::Seq(items) if items.is_empty() => Some(Command::Exec(Vec::new())),
            _ => self.command(v, &p("entrypoint")),
        });
        let volumes = match f.get("volumes") {
            Some(v) => self.mount_list(v, &p("volumes")),
            None => Vec::new(),
        };
        if runtime == Some(RuntimeKind::Process) {
            for key in ["entrypoint", "volumes"] {
                if let Some(v) = f.get(key) {
                    let hint = Some(format!(
                        "remove `{key}`, or run `{name}` as a container with `image: …`"
                    ));
                    self.error(
                        v,
                        &p(key),
                        format!(
                            "`{key}` is only for docker services, and `{name}` is a process service"
                        ),
                        hint,
                    );
                    ok = false;
                }
            }
        }
        let proxy = match f.get("proxy") {
            Some(v) => match &v.value {
                Value::Bool(true) => ProxyMode::Always,
                Value::Bool(false) => ProxyMode::Never,
                Value::Str(s) if s == "auto" => ProxyMode::Auto,
                _ => {
                    self.type_error(v, &p("proxy"), "`auto`, `true` or `false`");
                    ok = false;
                    ProxyMode::Auto
                }
            },
            None => ProxyMode::Auto,
        };
        let replicas = match f.get("replicas") {
            Some(v) => match &v.value {
                Value::Int(_) | Value::Float(_)
                    if v.scalar_text().is_some_and(|t| {
                        t.parse::<f64>()
                            .is_ok_and(|n| n > f64::from(crate::limits::MAX_REPLICAS))
                    }) =>
                {
                    let i = v.scalar_text().unwrap_or_default();
                    let message = format!(
                        "`{}` is {i}, above the limit of {} replicas per service",
                        p("replicas"),
                        crate::limits::MAX_REPLICAS
                    );
                    let hint = Some("run fewer, or split the service".to_string());
                    self.error(v, &p("replicas"), message, hint);
                    None
                }
                _ => self.u32(v, &p("replicas"), "replicas"),
            },
            None => Some(1),
        };
        let depends_on = match f.get("dependsOn") {
            Some(v) => self.dependencies(v, &p("dependsOn"), name, names),
            None => Some(Vec::new()),
        };
        let health = match f.get("health") {
            Some(v) => {
                let configured = health_probes(v);
                let h = self.health(v, &p("health"), name, &configured, false);
                if configured.is_empty() {
                    if let Some(own) = own_health {
                        let hint = Some(
                            "add one of `http`, `tcp`, `cmd`, `log`, or remove `health`".into(),
                        );
                        self.error(
                            own,
                            &p("health"),
                            format!("the health of `{name}` configures no probe"),
                            hint,
                        );
                        ok = false;
                    }
                    None
                } else {
                    if h.is_none() {
                        ok = false;
                    }
                    h
                }
            }
            None => None,
        };
        let restart_policy = match f.get("restartPolicy") {
            Some(v) => self.restart_policy(v, &p("restartPolicy")),
            None => Some(RestartPolicy::default()),
        };
        let stop = match f.get("stop") {
            Some(v) => self.stop(v, &p("stop")),
            None => Some(StopPolicy::default()),
        };
        let update = match f.get("update") {
            Some(v) => self.update(v, &p("update")),
            None => Some(UpdatePolicy::default()),
        };
        let (resources, placement) = self.resources_and_placement(&f, &path, name, names);
        let on_disconnect = match f.get("onDisconnect") {
            Some(v) => self.on_disconnect(v, &p("onDisconnect")),
            None => Some(OnDisconnect::default()),
        };
        self.warn_not_acted_on(
            &f,
            &path,
            resources.as_ref(),
            runtime == Some(RuntimeKind::Docker),
        );
        if !ok {
            return None;
        }
        Some(Service {
            runtime: runtime?,
            command: process.command,
            image,
            env: process.env,
            env_from_file: process.env_from_file,
            secrets: process.secrets,
            secret_digests: std::collections::BTreeMap::new(),
            workdir: process.workdir,
            ports,
            entrypoint,
            volumes,
            proxy,
            replicas: replicas?,
            depends_on: depends_on?,
            health,
            restart_policy: restart_policy?,
            stop: stop?,
            update: update?,
            resources: resources?,
            placement: placement?,
            on_disconnect: on_disconnect?,
        })
    }

    /// The ports of a service. A container (`docker`) may leave any of its ports' host
    /// ports to orco; a process learns one chosen port only (`PORT`), a TCP one.
    fn port_list(&mut self, n: &Node, path: &str, docker: bool) -> Vec<PortMapping> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, path, "a list of ports such as [\"8080:80\"]");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let Some(text) = item.scalar_text() else {
                self.type_error(item, &p, "a port such as \"8080:80\"");
                continue;
            };
            match text.parse::<PortMapping>() {
                Ok(m) if !docker && m.is_ephemeral() && m.protocol != crate::Protocol::Tcp => {
                    let hint = Some("give a UDP port its host port, e.g. \"5000:5000/udp\"".into());
                    self.error(item, &p, format!("bad port `{text}`: a process learns one chosen port (`PORT`), a TCP one; a UDP port needs its host port"), hint);
                }
                Ok(m)
                    if !docker && m.is_ephemeral() && out.iter().any(PortMapping::is_ephemeral) =>
                {
                    let hint = Some("give the other ports their host ports".into());
                    self.error(item, &p, format!("bad port `{text}`: a process learns one chosen port (`PORT`), and another port of this service already leaves it to orco"), hint);
                }
                Ok(m) => out.push(m),
                Err(e) => {
                    let hint = Some(
                        "write `\"[ip:]published:target[/tcp|udp]\"`, e.g. \"127.0.0.1:8080:80\""
                            .into(),
                    );
                    self.error(item, &p, format!("bad port `{text}`: {e}"), hint);
                }
            }
        }
        out
    }

    fn mount_list(&mut self, n: &Node, path: &str) -> Vec<Mount> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, path, "a list of mounts such as [\"./data:/data\"]");
            return Vec::new();
        };
        let mut out: Vec<Mount> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let Value::Str(text) = &item.value else {
                self.type_error(item, &p, "a mount such as \"./data:/data\"");
                continue;
            };
            match text.parse::<Mount>() {
                Ok(m) if out.iter().any(|o| o.target == m.target) => {
                    let message = format!("`{}` is mounted twice", m.target);
                    let hint = Some("mount one source at each path".into());
                    self.error(item, &p, message, hint);
                }
                Ok(m) => out.push(m),
                Err(e) => {
                    let hint = Some(
                        "write `\"./host/dir:/path[:ro]\"` for a host directory or `\"name:/path[:ro]\"` for a named volume"
                            .into(),
                    );
                    self.error(item, &p, format!("bad mount `{text}`: {e}"), hint);
                }
            }
        }
        out
    }
}
