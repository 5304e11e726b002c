//! `health`: the probes (http, tcp, cmd, log), the expression that combines them, and the
//! timing and thresholds.

use super::{Cx, diagnostic, join, keys};
use crate::duration::Duration;
use crate::expr::Expr;
use crate::model::*;
use crate::node::{Node, Value};

impl Cx<'_> {
    /// Converts a `health` mapping. `configured` are the probes the service ends up with
    /// (after defaults are merged), against which an `expression` is checked.
    pub(super) fn health(
        &mut self,
        n: &Node,
        path: &str,
        owner: &str,
        configured: &[ProbeKind],
        is_default: bool,
    ) -> Option<Health> {
        let f = self.fields(n, path, "`health`", keys::HEALTH)?;
        let before = self.error_count();
        let p = |k: &str| join(path, k);
        let http = f.get("http").and_then(|v| self.http(v, &p("http")));
        let tcp = f.get("tcp").and_then(|v| self.tcp(v, &p("tcp")));
        let cmd = f.get("cmd").and_then(|v| {
            let cf = self.fields(v, &p("cmd"), "a cmd probe", keys::CMD)?;
            let c = self.required(&cf, "command", &p("cmd"), "a cmd probe")?;
            Some(CmdProbe {
                command: self.command(c, &join(&p("cmd"), "command"))?,
            })
        });
        let log = f.get("log").and_then(|v| self.log(v, &p("log")));
        let expression = f
            .get("expression")
            .and_then(|v| self.expression(v, &p("expression"), owner, configured, is_default));
        let duration = |cx: &mut Self, key: &str, default: Duration| match f.get(key) {
            Some(v) => cx.duration(v, &p(key)),
            None => Some(default),
        };
        let grace_period = duration(self, "gracePeriod", Duration::zero());
        let interval = duration(self, "interval", Duration::from_secs(2));
        let timeout = duration(self, "timeout", Duration::from_secs(1));
        for (key, value) in [("interval", interval), ("timeout", timeout)] {
            if value == Some(Duration::zero())
                && let Some(v) = f.get(key)
            {
                self.error(
                    v,
                    &p(key),
                    format!("`{}` must be more than 0s", p(key)),
                    None,
                );
            }
        }
        let success_threshold = match f.get("successThreshold") {
            Some(v) => self.positive(v, &p("successThreshold"), "successThreshold"),
            None => Some(1),
        };
        let failure_threshold = match f.get("failureThreshold") {
            Some(v) => self.positive(v, &p("failureThreshold"), "failureThreshold"),
            None => Some(3),
        };
        let on_failure = match f.get("onFailure") {
            Some(v) => self.word(
                v,
                &p("onFailure"),
                &[("none", OnFailure::None), ("restart", OnFailure::Restart)],
            ),
            None => Some(OnFailure::None),
        };
        if self.error_count() > before {
            return None;
        }
        Some(Health {
            http,
            tcp,
            cmd,
            log,
            expression,
            grace_period: grace_period?,
            interval: interval?,
            timeout: timeout?,
            success_threshold: success_threshold?,
            failure_threshold: failure_threshold?,
            on_failure: on_failure?,
        })
    }

    fn http(&mut self, n: &Node, path: &str) -> Option<HttpProbe> {
        let f = self.fields(n, path, "an http probe", keys::HTTP)?;
        let url_node = self.required(&f, "url", path, "an http probe")?;
        let url = self.nonempty_string(url_node, &join(path, "url"))?;
        if let Err(why) = check_http_url(&url) {
            self.error(
                url_node,
                &join(path, "url"),
                format!("bad probe url `{url}`: {why}"),
                Some("write e.g. `http://127.0.0.1:8080/health`".into()),
            );
            return None;
        }
        let expect_status = match f.get("expectStatus") {
            None => vec![200],
            Some(v) => {
                let items: Vec<(String, &Node)> = match &v.value {
                    Value::Seq(items) => items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (format!("{path}.expectStatus[{i}]"), x))
                        .collect(),
                    _ => vec![(join(path, "expectStatus"), v)],
                };
                if items.is_empty() {
                    self.error(
                        v,
                        &join(path, "expectStatus"),
                        "`expectStatus` is empty",
                        Some("list the status codes that count as success, e.g. [200, 204]".into()),
                    );
                    return None;
                }
                let mut codes = Vec::new();
                for (p, item) in items {
                    let code = self.int(item, &p, 100, 599, "an HTTP status code")?;
                    codes.push(u16::try_from(code).ok()?);
                }
                codes
            }
        };
        let headers = f
            .get("headers")
            .map(|v| self.string_map(v, &join(path, "headers"), "header"))
            .unwrap_or_default();
        Some(HttpProbe {
            url,
            expect_status,
            headers,
        })
    }

    fn tcp(&mut self, n: &Node, path: &str) -> Option<TcpProbe> {
        let f = self.fields(n, path, "a tcp probe", keys::TCP)?;
        let host = match f.get("host") {
            Some(v) => self.nonempty_string(v, &join(path, "host"))?,
            None => "127.0.0.1".into(),
        };
        let port = self.required(&f, "port", path, "a tcp probe")?;
        let port = self.int(port, &join(path, "port"), 1, 65535, "a port")?;
        Some(TcpProbe {
            host,
            port: u16::try_from(port).ok()?,
        })
    }

    fn log(&mut self, n: &Node, path: &str) -> Option<LogProbe> {
        let f = self.fields(n, path, "a log probe", keys::LOG)?;
        let pattern_node = self.required(&f, "pattern", path, "a log probe")?;
        let pattern = self.nonempty_string(pattern_node, &join(path, "pattern"))?;
        if let Err(e) = regex::Regex::new(&pattern) {
            let detail = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("invalid")
                .trim()
                .to_string();
            self.error(
                pattern_node,
                &join(path, "pattern"),
                format!("bad log pattern: {detail}"),
                Some("the pattern is a regular expression (Rust regex syntax)".into()),
            );
            return None;
        }
        let sources = match f.get("sources") {
            None => vec![LogSource::Stdout, LogSource::Stderr],
            Some(v) => {
                let Value::Seq(items) = &v.value else {
                    self.type_error(v, &join(path, "sources"), "a list of `stdout`, `stderr`");
                    return None;
                };
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    out.push(self.word(
                        item,
                        &format!("{path}.sources[{i}]"),
                        &[("stdout", LogSource::Stdout), ("stderr", LogSource::Stderr)],
                    )?);
                }
                if out.is_empty() {
                    self.error(
                        v,
                        &join(path, "sources"),
                        "`sources` is empty",
                        Some("list `stdout`, `stderr` or both".into()),
                    );
                    return None;
                }
                out
            }
        };
        Some(LogProbe { pattern, sources })
    }

    fn expression(
        &mut self,
        n: &Node,
        path: &str,
        owner: &str,
        configured: &[ProbeKind],
        is_default: bool,
    ) -> Option<Expr> {
        let text = self.string(n, path)?;
        match Expr::parse(&text) {
            Err(e) => {
                // Point at the offending character: skip an opening quote.
                let quoted = self
                    .source_char(n.line, n.column)
                    .is_some_and(|c| c == '"' || c == '\'');
                let column = n.column + u32::from(quoted) + e.offset as u32;
                let hint = Some("an expression has probe names (http, tcp, cmd, log), `||`, `&&` and parentheses".into());
                self.diags.push(diagnostic(
                    n.line,
                    column,
                    path,
                    format!("bad health expression: {e}"),
                    hint,
                ));
                None
            }
            Ok(expr) => {
                if is_default {
                    return Some(expr);
                }
                let mut ok = true;
                for kind in expr.probes() {
                    if !configured.contains(&kind) {
                        let k = kind.as_str();
                        let message = format!(
                            "the health expression of `{owner}` names `{k}`, but no {k} probe is configured"
                        );
                        self.error(
                            n,
                            path,
                            message,
                            Some(format!(
                                "configure `health.{k}`, or remove `{k}` from the expression"
                            )),
                        );
                        ok = false;
                    }
                }
                ok.then_some(expr)
            }
        }
    }
}

pub(super) fn health_probes(n: &Node) -> Vec<ProbeKind> {
    ProbeKind::ALL
        .into_iter()
        .filter(|k| n.get(k.as_str()).is_some())
        .collect()
}

fn check_http_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(if url.starts_with("https://") {
            "https probes are not supported; probe the plain-HTTP port, or use a tcp probe".into()
        } else {
            "it must start with `http://`".into()
        });
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("it has no host".into());
    }
    let port = if authority.starts_with('[') {
        authority.rsplit_once("]:").map(|(_, p)| p)
    } else {
        authority.rsplit_once(':').map(|(_, p)| p)
    };
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(n) if n > 0)
    {
        return Err(format!("`{p}` is not a port number"));
    }
    Ok(())
}
