//! The routing mesh (DESIGN.md §11): for each proxied published port of the cluster, the
//! instances behind it on every node, as each node is sent them. Pure: a function of the
//! state and the plan's assignments.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use orco_interface::{Assignment, Endpoint, EndpointState, Route};
use orco_state::{InstanceId, NodeStatus, Phase, State, WorkloadId};

/// Every proxied published port of the cluster with all its endpoints, whatever their node:
/// one route per (service, published address) that an assigned instance's spec proxies, and
/// one endpoint per instance of it that runs, is starting or is stopping on a node that is
/// not lost, with a known port.
pub fn routes(state: &State, assignments: &BTreeMap<InstanceId, Assignment>) -> Vec<Route> {
    let mut routes: BTreeMap<(WorkloadId, SocketAddr), Vec<Endpoint>> = BTreeMap::new();
    for (id, a) in assignments {
        let Some(port) = a.service.proxied_port() else {
            continue;
        };
        let key = (
            id.workload.clone(),
            orco_agent::front::published_addr(&port),
        );
        let endpoints = routes.entry(key).or_default();
        let Some(instance) = state.instances.get(id) else {
            continue;
        };
        let (Some(node), Some(own)) = (instance.node.as_deref(), instance.port) else {
            continue;
        };
        let Some(n) = state.nodes.get(node) else {
            continue;
        };
        let (Some(ip), Some(state)) = (
            node_ip(&n.address),
            endpoint_state(instance.phase, n.status),
        ) else {
            continue;
        };
        endpoints.push(Endpoint {
            instance: id.clone(),
            node: node.to_string(),
            addr: SocketAddr::new(ip, own),
            state,
            grace_ms: u64::try_from(a.service.stop.timeout.get().as_millis()).unwrap_or(u64::MAX),
        });
    }
    routes
        .into_iter()
        .map(|((workload, addr), endpoints)| Route {
            workload,
            addr,
            endpoints,
        })
        .collect()
}

/// The routes as `node` is sent them: every route (its proxy listens on each), without the
/// node's own instances (its agent puts those behind its proxy itself).
pub fn routes_for(routes: &[Route], node: &str) -> Vec<Route> {
    routes
        .iter()
        .map(|r| Route {
            workload: r.workload.clone(),
            addr: r.addr,
            endpoints: r
                .endpoints
                .iter()
                .filter(|e| e.node != node)
                .cloned()
                .collect(),
        })
        .collect()
}

/// What other nodes' proxies may do with an instance in `phase` on a node in `status`:
/// `None` when it is not listed at all (not started, ended, or its node lost or gone).
pub fn endpoint_state(phase: Phase, status: NodeStatus) -> Option<EndpointState> {
    if matches!(status, NodeStatus::Lost | NodeStatus::Left) {
        return None;
    }
    let state = match phase {
        Phase::Running { ready: true } if status == NodeStatus::Ready => EndpointState::Ready,
        Phase::Running { .. } | Phase::Starting => EndpointState::Unready,
        Phase::Stopping => EndpointState::Draining,
        Phase::Pending | Phase::Stopped | Phase::Succeeded | Phase::Failed => return None,
    };
    Some(state)
}

/// The ip of a node's address as its agent reported it (`IP:PORT`, or an ip alone).
pub fn node_ip(address: &str) -> Option<IpAddr> {
    address
        .parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| address.parse::<IpAddr>())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_ready_instance_on_a_ready_node_is_sent_new_connections() {
        let ready = Phase::Running { ready: true };
        assert_eq!(
            endpoint_state(ready, NodeStatus::Ready),
            Some(EndpointState::Ready)
        );
        assert_eq!(
            endpoint_state(ready, NodeStatus::Unreachable),
            Some(EndpointState::Unready),
            "a node out of reach keeps its open connections but gets no new one"
        );
        assert_eq!(
            endpoint_state(Phase::Running { ready: false }, NodeStatus::Ready),
            Some(EndpointState::Unready)
        );
        assert_eq!(
            endpoint_state(Phase::Starting, NodeStatus::Ready),
            Some(EndpointState::Unready)
        );
        assert_eq!(
            endpoint_state(Phase::Stopping, NodeStatus::Ready),
            Some(EndpointState::Draining)
        );
        for gone in [
            Phase::Pending,
            Phase::Stopped,
            Phase::Succeeded,
            Phase::Failed,
        ] {
            assert_eq!(endpoint_state(gone, NodeStatus::Ready), None, "{gone:?}");
        }
        for gone in [NodeStatus::Lost, NodeStatus::Left] {
            assert_eq!(endpoint_state(ready, gone), None, "{gone:?}");
            assert_eq!(endpoint_state(Phase::Stopping, gone), None, "{gone:?}");
        }
    }

    #[test]
    fn a_node_s_address_is_read_with_or_without_its_port() {
        assert_eq!(node_ip("10.0.0.2:40312"), "10.0.0.2".parse().ok());
        assert_eq!(node_ip("[fd00::2]:40312"), "fd00::2".parse().ok());
        assert_eq!(node_ip("10.0.0.2"), "10.0.0.2".parse().ok());
        assert_eq!(node_ip(""), None);
        assert_eq!(node_ip("host:1"), None);
    }

    #[test]
    fn a_node_is_sent_every_route_without_its_own_instances() {
        let endpoint = |node: &str, n: u32| Endpoint {
            instance: format!("s/web-{n}").parse().unwrap(),
            node: node.into(),
            addr: SocketAddr::from(([10, 0, 0, n as u8], 40_000)),
            state: EndpointState::Ready,
            grace_ms: 1,
        };
        let all = vec![Route {
            workload: "s/web".parse().unwrap(),
            addr: "127.0.0.1:8080".parse().unwrap(),
            endpoints: vec![endpoint("n1", 0), endpoint("n2", 1)],
        }];
        let n1 = routes_for(&all, "n1");
        assert_eq!(n1[0].endpoints, vec![endpoint("n2", 1)]);
        let n3 = routes_for(&all, "n3");
        assert_eq!(n3, all);
        let n2_alone = routes_for(&routes_for(&all, "n1"), "n2");
        assert_eq!(
            n2_alone.len(),
            1,
            "the route stays: the node's proxy listens on"
        );
        assert!(n2_alone[0].endpoints.is_empty());
    }
}
