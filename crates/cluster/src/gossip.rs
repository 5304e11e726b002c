//! SWIM membership (DESIGN.md §11): the server and every agent form a group with foca over
//! UDP. It is a hint — faster suspicion, node metadata, a peer view for `orco cluster
//! members` — never what declares a node lost: that is the node lease's alone.
//!
//! Every datagram is authenticated with the cluster's gossip key (32 random bytes the server
//! creates at its first start, `DATA/gossip.key`, 0600, and hands each agent on its mutual-TLS
//! stream): `[1][HMAC-SHA256(key, 1 ‖ payload)][payload]`. A datagram that is too short, of
//! another format or whose tag does not match is dropped and counted before foca sees a byte
//! of it.
//!
//! The pure parts (the key, the seal, the member view, which members went down) are here with
//! their tests; [`Gossip::start`] is the IO shell around one foca instance.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use foca::{AccumulatingRuntime, Foca, PostcardCodec};
use orco_interface::GossipOffer;
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

/// The key file in a server's data dir.
pub const KEY_FILE: &str = "gossip.key";
/// The bytes of a gossip key.
pub const KEY_LEN: usize = 32;
/// The datagram format this build speaks (its first byte).
const FORMAT: u8 = 1;
/// The tag's bytes (HMAC-SHA256).
const TAG_LEN: usize = 32;
/// The largest payload foca sends or takes.
const MAX_PACKET: usize = 1400;

/// How often a member probes another: with [`PROBE_RTT`] and [`SUSPECT_TO_DOWN`], a member
/// that stops answering is suspect within about a second and down about a second later —
/// before the default lease (3 s) lapses.
pub const PROBE_PERIOD: Duration = Duration::from_millis(500);
/// How long a direct probe waits before indirect probes go out.
pub const PROBE_RTT: Duration = Duration::from_millis(200);
/// How long a member stays suspect before it is declared down.
pub const SUSPECT_TO_DOWN: Duration = Duration::from_secs(1);

/// Why the gossip cannot run.
#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    /// The key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file or a key handed out is not a key.
    #[error("{0}: not a gossip key ({KEY_LEN} bytes in hex)")]
    BadKey(String),
    /// The key file may be read by others.
    #[error("{0}: the gossip key must not be readable by others (chmod 600)")]
    Loose(String),
    /// No random bytes.
    #[error("cannot make a random gossip key")]
    Random,
    /// The UDP socket could not be bound.
    #[error(
        "cannot bind the gossip socket {addr} (UDP): {source}; choose another with --gossip ADDR"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The cluster's gossip key. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct GossipKey([u8; KEY_LEN]);

impl std::fmt::Debug for GossipKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GossipKey(…)")
    }
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Shorter than a format byte and a tag.
    Short,
    /// Not of this build's format.
    Format,
    /// Its tag is not the key's: a wrong key, or bytes changed on the way.
    Tag,
}

impl GossipKey {
    /// A new random key.
    pub fn generate() -> Result<GossipKey, GossipError> {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; KEY_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| GossipError::Random)?;
        Ok(GossipKey(bytes))
    }

    /// The key in `path`, or a new one written there (0600) when there is none. A file that
    /// others may read, or that holds no key, is refused rather than replaced.
    pub fn load_or_create(path: &Path) -> Result<GossipKey, GossipError> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let shown = path.display().to_string();
        let io = |source| GossipError::Io {
            path: shown.clone(),
            source,
        };
        match std::fs::metadata(path) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(GossipError::Loose(shown));
                }
                let text = std::fs::read_to_string(path).map_err(io)?;
                GossipKey::from_hex(text.trim()).map_err(|_| GossipError::BadKey(shown))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = GossipKey::generate()?;
                let tmp = path.with_extension("key.tmp");
                let _ = std::fs::remove_file(&tmp);
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp)
                    .map_err(io)?;
                file.write_all(format!("{}\n", key.to_hex()).as_bytes())
                    .map_err(io)?;
                file.sync_all().map_err(io)?;
                std::fs::rename(&tmp, path).map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The key in lowercase hex, as it is handed out.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A key from its hex form.
    pub fn from_hex(text: &str) -> Result<GossipKey, GossipError> {
        let bad = || GossipError::BadKey("the key".to_string());
        if text.len() != KEY_LEN * 2 || !text.is_ascii() {
            return Err(bad());
        }
        let mut bytes = [0u8; KEY_LEN];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(GossipKey(bytes))
    }

    fn hmac(&self) -> ring::hmac::Key {
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0)
    }

    /// `payload` as a datagram: the format byte, the tag, the payload.
    pub fn seal(&self, payload: &[u8]) -> Vec<u8> {
        let mut ctx = ring::hmac::Context::with_key(&self.hmac());
        ctx.update(&[FORMAT]);
        ctx.update(payload);
        let tag = ctx.sign();
        let mut out = Vec::with_capacity(1 + TAG_LEN + payload.len());
        out.push(FORMAT);
        out.extend_from_slice(tag.as_ref());
        out.extend_from_slice(payload);
        out
    }

    /// The payload of a datagram sealed with this key (the tag compared in constant time).
    pub fn open<'a>(&self, datagram: &'a [u8]) -> Result<&'a [u8], Rejected> {
        if datagram.len() < 1 + TAG_LEN {
            return Err(Rejected::Short);
        }
        if datagram[0] != FORMAT {
            return Err(Rejected::Format);
        }
        let (tag, payload) = datagram[1..].split_at(TAG_LEN);
        let mut signed = Vec::with_capacity(1 + payload.len());
        signed.push(FORMAT);
        signed.extend_from_slice(payload);
        ring::hmac::verify(&self.hmac(), &signed, tag).map_err(|_| Rejected::Tag)?;
        Ok(payload)
    }
}

/// What a member is in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `orco server`.
    Server,
    /// `orco agent`.
    Agent,
}

/// A member's identity in the group: its name, the UDP address it gossips on, its role, and
/// its generation (the time it started, in milliseconds; raised when the group declared it
/// down and it comes back), so that a restarted member supersedes what the group knew of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Peer {
    /// The node's name (a server: its host name).
    pub name: String,
    /// Where it gossips.
    pub addr: SocketAddr,
    /// Server or agent.
    pub role: Role,
    /// Raised at each start and each rejoin.
    pub generation: u64,
}

impl foca::Identity for Peer {
    /// One member per role and name: a newer generation of it replaces the older.
    type Addr = (Role, String);

    fn renew(&self) -> Option<Self> {
        Some(Peer {
            generation: self.generation.wrapping_add(1),
            ..self.clone()
        })
    }

    fn addr(&self) -> (Role, String) {
        (self.role, self.name.clone())
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}

/// How the group sees a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwimState {
    /// It answers.
    Alive,
    /// A probe of it failed: it has [`SUSPECT_TO_DOWN`] to refute.
    Suspect,
    /// It did not refute: the group holds it down.
    Down,
}

/// One member as this instance sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its identity.
    pub peer: Peer,
    /// Its state.
    pub state: SwimState,
    /// Its incarnation (raised each time it refutes a suspicion).
    pub incarnation: u16,
}

/// The members, one per (role, name): its newest generation. Ordered by role, then name.
pub fn latest(members: impl IntoIterator<Item = Seen>) -> Vec<Seen> {
    let mut by: BTreeMap<(Role, String), Seen> = BTreeMap::new();
    for seen in members {
        let key = (seen.peer.role, seen.peer.name.clone());
        match by.get(&key) {
            Some(kept) if kept.peer.generation > seen.peer.generation => {}
            _ => {
                by.insert(key, seen);
            }
        }
    }
    by.into_values().collect()
}

/// The agents `after` holds down that `before` did not (by name): each is hinted once per
/// going down.
pub fn newly_down(before: &[Seen], after: &[Seen]) -> Vec<String> {
    after
        .iter()
        .filter(|s| s.peer.role == Role::Agent && s.state == SwimState::Down)
        .filter(|s| {
            !before.iter().any(|b| {
                b.peer.role == Role::Agent
                    && b.peer.name == s.peer.name
                    && b.peer.generation == s.peer.generation
                    && b.state == SwimState::Down
            })
        })
        .map(|s| s.peer.name.clone())
        .collect()
}

/// The foca settings of every member: LAN probing, tightened so that suspicion comes before
/// the lease lapses (see [`PROBE_PERIOD`]).
pub fn config() -> foca::Config {
    let mut config = foca::Config::new_lan(NonZeroU32::MIN.saturating_add(15));
    config.probe_period = PROBE_PERIOD;
    config.probe_rtt = PROBE_RTT;
    config.suspect_to_down_after = SUSPECT_TO_DOWN;
    config.max_packet_size = NonZeroUsize::MIN.saturating_add(MAX_PACKET - 1);
    config
}

/// What the shell is asked to do.
#[derive(Debug)]
enum Command {
    Announce(Peer),
}

/// A running member of the group: its foca instance on a UDP socket.
#[derive(Debug)]
pub struct Gossip {
    me: Peer,
    commands: mpsc::Sender<Command>,
    view: watch::Receiver<Vec<Seen>>,
    dropped: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gossip {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gossip {
    /// Binds `bind` (UDP) and runs a member named `name` in `role` with `key`. Its address
    /// in the group is `advertise` when given (with the bound port when it says port 0),
    /// else the bound address.
    pub async fn start(
        bind: SocketAddr,
        advertise: Option<std::net::IpAddr>,
        name: &str,
        role: Role,
        key: GossipKey,
    ) -> Result<Gossip, GossipError> {
        let socket = UdpSocket::bind(bind)
            .await
            .map_err(|source| GossipError::Bind { addr: bind, source })?;
        let mut addr = socket
            .local_addr()
            .map_err(|source| GossipError::Bind { addr: bind, source })?;
        if let Some(ip) = advertise {
            addr.set_ip(ip);
        }
        let generation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let me = Peer {
            name: name.to_string(),
            addr,
            role,
            generation,
        };
        let (commands, asked) = mpsc::channel(16);
        let (publish, view) = watch::channel(Vec::new());
        let dropped = Arc::new(AtomicU64::new(0));
        let foca = Foca::new(me.clone(), config(), rand::make_rng(), PostcardCodec);
        let task = tokio::spawn(run(foca, socket, key, asked, publish, dropped.clone()));
        tracing::info!(%addr, "gossip (SWIM) on UDP {addr}");
        Ok(Gossip {
            me,
            commands,
            view,
            dropped,
            task,
        })
    }

    /// This member.
    pub fn me(&self) -> &Peer {
        &self.me
    }

    /// Introduces this member to `peer` (it answers with what it knows of the group).
    pub async fn announce(&self, peer: Peer) {
        let _ = self.commands.send(Command::Announce(peer)).await;
    }

    /// The other members as this one sees them (its newest generation of each).
    pub fn members(&self) -> Vec<Seen> {
        self.view.borrow().clone()
    }

    /// Follows [`Gossip::members`].
    pub fn watch(&self) -> watch::Receiver<Vec<Seen>> {
        self.view.clone()
    }

    /// Datagrams dropped so far: a wrong key, garbage, or what foca could not read.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Where an agent's stream to a server goes: its own address and the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The address the node's stream goes out from.
    pub local: IpAddr,
    /// The server's address, for an offer whose address is unspecified.
    pub server: IpAddr,
}

/// An agent's member of the group, for as long as the node runs: started at the first
/// [`GossipOffer`] a server hands it (on `bind`, else an ephemeral UDP port on the address its
/// stream goes out from), started again when the key changes, and announced to the offering
/// server at every offer (each new stream), so that it rejoins a restarted server at once.
pub async fn follow_offers(
    node: String,
    bind: Option<SocketAddr>,
    mut offers: watch::Receiver<Option<GossipOffer>>,
    route: watch::Receiver<Option<Route>>,
) {
    let mut running: Option<(Gossip, GossipKey)> = None;
    while offers.changed().await.is_ok() {
        let Some(offer) = offers.borrow_and_update().clone() else {
            continue;
        };
        let Ok(key) = GossipKey::from_hex(&offer.key) else {
            tracing::warn!("the server handed out a gossip key that is no key: no gossip");
            continue;
        };
        let Some(route) = *route.borrow() else {
            continue;
        };
        if running.as_ref().is_none_or(|(_, k)| *k != key) {
            running = None;
            let at = bind.unwrap_or(SocketAddr::new(route.local, 0));
            let advertise = at.ip().is_unspecified().then_some(route.local);
            match Gossip::start(at, advertise, &node, Role::Agent, key.clone()).await {
                Ok(gossip) => running = Some((gossip, key)),
                Err(e) => {
                    tracing::warn!("no gossip: {e}");
                    continue;
                }
            }
        }
        let mut to = offer.address;
        if to.ip().is_unspecified() {
            to.set_ip(route.server);
        }
        if let Some((gossip, _)) = &running {
            gossip
                .announce(Peer {
                    name: offer.server.clone(),
                    addr: to,
                    role: Role::Server,
                    generation: offer.generation,
                })
                .await;
        }
    }
}

type Instance = Foca<Peer, PostcardCodec, rand::rngs::StdRng, foca::NoCustomBroadcast>;

/// The shell: datagrams in (authenticated first), timers, commands; after each, what foca
/// wants sent (sealed), scheduled and published.
async fn run(
    mut foca: Instance,
    socket: UdpSocket,
    key: GossipKey,
    mut asked: mpsc::Receiver<Command>,
    publish: watch::Sender<Vec<Seen>>,
    dropped: Arc<AtomicU64>,
) {
    let mut runtime = AccumulatingRuntime::new();
    let (timers_tx, mut timers) = mpsc::unbounded_channel();
    let mut buf = vec![0u8; 65_536];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                // An error here is an ICMP answer to an earlier send (a member gone): the
                // socket goes on.
                let Ok((n, from)) = received else { continue };
                match key.open(&buf[..n]) {
                    Ok(payload) => {
                        if let Err(e) = foca.handle_data(payload, &mut runtime) {
                            dropped.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%from, "gossip datagram not taken: {e}");
                        }
                    }
                    Err(why) => {
                        let count = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                        if count.is_power_of_two() {
                            tracing::warn!(%from, ?why, dropped = count, "gossip datagram dropped: not sealed with the cluster's key");
                        }
                    }
                }
            }
            Some(timer) = timers.recv() => {
                if let Err(e) = foca.handle_timer(timer, &mut runtime) {
                    tracing::debug!("gossip timer: {e}");
                }
            }
            command = asked.recv() => match command {
                Some(Command::Announce(peer)) => {
                    if let Err(e) = foca.announce(peer, &mut runtime) {
                        tracing::debug!("gossip announce: {e}");
                    }
                }
                None => return,
            },
        }
        while let Some((to, data)) = runtime.to_send() {
            let _ = socket.send_to(&key.seal(&data), to.addr).await;
        }
        while let Some((after, timer)) = runtime.to_schedule() {
            let tx = timers_tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = tx.send(timer);
            });
        }
        let mut changed = false;
        while runtime.to_notify().is_some() {
            changed = true;
        }
        let now = view(&foca);
        if changed || *publish.borrow() != now {
            publish.send_replace(now);
        }
    }
}

fn view(foca: &Instance) -> Vec<Seen> {
    latest(foca.iter_membership_state().map(|m| Seen {
        peer: m.id().clone(),
        state: match m.state() {
            foca::State::Alive => SwimState::Alive,
            foca::State::Suspect => SwimState::Suspect,
            foca::State::Down => SwimState::Down,
        },
        incarnation: m.incarnation(),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(byte: u8) -> GossipKey {
        GossipKey([byte; KEY_LEN])
    }

    fn seen(name: &str, role: Role, generation: u64, state: SwimState) -> Seen {
        Seen {
            peer: Peer {
                name: name.to_string(),
                addr: "127.0.0.1:1".parse().unwrap(),
                role,
                generation,
            },
            state,
            incarnation: 0,
        }
    }

    #[test]
    fn a_sealed_datagram_opens_with_its_key_and_no_other() {
        let sealed = key(1).seal(b"probe");
        assert_eq!(key(1).open(&sealed), Ok(&b"probe"[..]));
        assert_eq!(key(2).open(&sealed), Err(Rejected::Tag));
    }

    #[test]
    fn a_changed_byte_garbage_or_a_short_datagram_is_rejected_without_a_panic() {
        let sealed = key(1).seal(b"probe");
        for i in 0..sealed.len() {
            let mut bent = sealed.clone();
            bent[i] ^= 0x40;
            assert!(key(1).open(&bent).is_err(), "byte {i} changed");
        }
        assert_eq!(key(1).open(&[]), Err(Rejected::Short));
        assert_eq!(key(1).open(&[FORMAT; TAG_LEN]), Err(Rejected::Short));
        assert_eq!(key(1).open(&[9; 64]), Err(Rejected::Format));
        let mut garbage = vec![FORMAT];
        garbage.extend_from_slice(&[0xaa; 100]);
        assert_eq!(key(1).open(&garbage), Err(Rejected::Tag));
        // An empty payload is sealed and opened like any other.
        assert_eq!(key(1).open(&key(1).seal(b"")), Ok(&b""[..]));
    }

    #[test]
    fn a_key_goes_to_hex_and_back_and_bad_hex_is_refused() {
        let k = GossipKey::generate().unwrap();
        assert_eq!(GossipKey::from_hex(&k.to_hex()).unwrap(), k);
        assert_ne!(GossipKey::generate().unwrap(), k, "random");
        assert!(GossipKey::from_hex("abc").is_err());
        assert!(GossipKey::from_hex(&"zz".repeat(KEY_LEN)).is_err());
        assert!(GossipKey::from_hex(&"é".repeat(KEY_LEN)).is_err());
        assert_eq!(format!("{k:?}"), "GossipKey(…)", "never shown");
    }

    #[test]
    fn the_key_file_is_created_once_private_and_a_loose_or_bad_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let first = GossipKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(GossipKey::load_or_create(&path).unwrap(), first, "kept");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            GossipKey::load_or_create(&path),
            Err(GossipError::Loose(_))
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            GossipKey::load_or_create(&path),
            Err(GossipError::BadKey(_))
        ));
    }

    #[test]
    fn the_view_keeps_each_member_s_newest_generation() {
        let view = latest([
            seen("n1", Role::Agent, 5, SwimState::Down),
            seen("n1", Role::Agent, 9, SwimState::Alive),
            seen("n1", Role::Server, 1, SwimState::Alive),
            seen("n0", Role::Agent, 2, SwimState::Suspect),
        ]);
        let names: Vec<_> = view
            .iter()
            .map(|s| (s.peer.role, s.peer.name.as_str(), s.state))
            .collect();
        assert_eq!(
            names,
            vec![
                (Role::Server, "n1", SwimState::Alive),
                (Role::Agent, "n0", SwimState::Suspect),
                (Role::Agent, "n1", SwimState::Alive),
            ]
        );
    }

    #[test]
    fn an_agent_is_hinted_down_once_per_going_down_and_a_server_never() {
        let alive = [seen("n1", Role::Agent, 1, SwimState::Alive)];
        let down = [
            seen("n1", Role::Agent, 1, SwimState::Down),
            seen("s", Role::Server, 1, SwimState::Down),
        ];
        assert_eq!(newly_down(&alive, &down), vec!["n1".to_string()]);
        assert!(newly_down(&down, &down).is_empty(), "once");
        let suspect = [seen("n1", Role::Agent, 1, SwimState::Suspect)];
        assert!(
            newly_down(&alive, &suspect).is_empty(),
            "suspect is no down"
        );
        // It came back (a new generation) and went down again: hinted again.
        let again = [seen("n1", Role::Agent, 2, SwimState::Down)];
        assert_eq!(newly_down(&down, &again), vec!["n1".to_string()]);
    }
}
