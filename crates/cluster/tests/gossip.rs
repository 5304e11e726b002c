//! The gossip group over real UDP sockets on loopback: members find each other through the
//! server, a member sealing with another key is never let in, and one that goes away is held
//! down. (Waits are upper bounds, never timings.)
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use orco_cluster::gossip::{Gossip, GossipKey, Role, Seen, SwimState};

fn key(byte: u8) -> GossipKey {
    GossipKey::from_hex(&format!("{byte:02x}").repeat(32)).unwrap()
}

#[tokio::test]
async fn three_members_see_each_other_a_wrong_key_changes_nothing_and_one_gone_is_down() {
    let local = "127.0.0.1:0".parse().unwrap();
    let server = Gossip::start(local, None, "s", Role::Server, key(7))
        .await
        .unwrap();
    let mut agents = Vec::new();
    for name in ["n1", "n2"] {
        let agent = Gossip::start(local, None, name, Role::Agent, key(7))
            .await
            .unwrap();
        agent.announce(server.me().clone()).await;
        agents.push(agent);
    }
    let stranger = Gossip::start(local, None, "x", Role::Agent, key(8))
        .await
        .unwrap();
    stranger.announce(server.me().clone()).await;
    let mut view = server.watch();
    let all_alive = |v: &Vec<Seen>| v.len() == 2 && v.iter().all(|s| s.state == SwimState::Alive);
    tokio::time::timeout(Duration::from_secs(10), view.wait_for(all_alive))
        .await
        .unwrap()
        .unwrap();
    let mut n1 = agents[0].watch();
    tokio::time::timeout(
        Duration::from_secs(10),
        n1.wait_for(|v| v.iter().any(|s| s.peer.name == "n2")),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(server.dropped() >= 1, "the stranger's announce was dropped");
    assert!(server.members().iter().all(|s| s.peer.name != "x"));
    assert!(
        stranger.members().is_empty(),
        "nobody answered the stranger"
    );
    // n2 goes away: the others hold it down.
    drop(agents.pop());
    tokio::time::timeout(
        Duration::from_secs(20),
        view.wait_for(|v| {
            v.iter()
                .any(|s| s.peer.name == "n2" && s.state == SwimState::Down)
        }),
    )
    .await
    .unwrap()
    .unwrap();
}
