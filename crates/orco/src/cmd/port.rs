//! `orco port SERVICE [PORT]`: the host address a service's container port is published on,
//! as `docker compose port` prints it; a port chosen at start (compose's `"80"`) shows the
//! port its run was given.

use crate::args::PortArgs;
use crate::exit;
use crate::remote::{self, Failure};

/// One published port of an instance: `IP:HOST->TARGET/PROTO` split up.
#[derive(Debug, PartialEq, Eq)]
struct Published<'a> {
    address: &'a str,
    target: &'a str,
    protocol: &'a str,
}

fn parse(text: &str) -> Option<Published<'_>> {
    let (address, rest) = text.split_once("->")?;
    let (target, protocol) = rest.split_once('/')?;
    Some(Published {
        address,
        target,
        protocol,
    })
}

/// Whether `port` is what `wanted` (`80` or `80/udp`; TCP unless said) names.
fn matches(port: &Published<'_>, wanted: &str) -> bool {
    let (target, protocol) = wanted.split_once('/').unwrap_or((wanted, "tcp"));
    port.target == target && port.protocol.eq_ignore_ascii_case(protocol)
}

pub(crate) fn run(args: &PortArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = remote::client(&args.connect)?;
        let stack = remote::stack(&client, &args.stack).await?;
        let workload = remote::qualify(&stack, &args.service);
        let list = client
            .instances(Some(&stack), Some(&workload), None)
            .await?;
        let several = list.items.len() > 1;
        let mut lines = Vec::new();
        for instance in &list.items {
            for port in instance.ports.iter().filter_map(|p| parse(p)) {
                if args.port.as_deref().is_some_and(|w| !matches(&port, w)) {
                    continue;
                }
                let mut line = String::new();
                if several {
                    line.push_str(&format!("{} ", instance.name));
                }
                if args.port.is_none() {
                    line.push_str(&format!("{}/{} -> ", port.target, port.protocol));
                }
                line.push_str(port.address);
                lines.push(line);
            }
        }
        if lines.is_empty() {
            let what = args
                .port
                .as_deref()
                .map_or_else(|| "no port".to_string(), |p| format!("port {p} is not"));
            return Err(Failure::Usage(format!(
                "{what} published by `{}` (or it has no instance)",
                args.service
            )));
        }
        for line in lines {
            println!("{line}");
        }
        Ok::<u8, Failure>(exit::OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_port_is_matched_by_its_target_and_protocol() {
        let p = parse("127.0.0.1:49153->80/tcp").unwrap();
        assert_eq!(p.address, "127.0.0.1:49153");
        assert!(matches(&p, "80"));
        assert!(matches(&p, "80/tcp"));
        assert!(!matches(&p, "80/udp"));
        assert!(!matches(&p, "81"));
        assert_eq!(parse("nonsense"), None);
    }
}
