//! The MQTT connection: mutual TLS with rustls (ring), a retained Last Will, and
//! reconnection with exponential backoff and full jitter.
//!
//! The transport only delivers. It knows nothing of reports or of the spool: it runs the
//! connection in its own task and reports what happens as [`Event`]s; the agent decides
//! what to publish. Each connection attempt gets a fresh rumqttc client and event loop, so
//! nothing queued for a dead connection is ever replayed behind the agent's back: after a
//! reconnection the agent republishes from its spool, in order, and nothing else.
//!
//! MQTT 5 is spoken where the broker offers it (Mosquitto 2, EMQX, HiveMQ...), 3.1.1
//! otherwise ([`v5`], [`v311`]). With 5 the broker says in the PUBACK when it refused a
//! publish (a 3.1.1 broker acknowledges a publish its ACL denies as if it were delivered),
//! and it is told the largest packet the agent takes, so that an oversized retained
//! message on a command topic is dropped by the broker instead of costing the connection.

mod v311;
mod v5;

use crate::config::Broker;
use rumqttc::QoS;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Requests that may wait in a client's queue. The agent keeps at most a window of spooled
/// reports in flight, plus a few status, heartbeat and command answers; a full queue makes
/// a publish fail (the message is kept or dropped by the agent), it never blocks.
const REQUEST_QUEUE: usize = 64;
/// Largest packet taken from an MQTT 5 broker, which is told so in the CONNECT and then
/// drops larger messages itself: commands are tiny.
const MAX_INCOMING_V5: usize = 64 * 1024;
/// Largest packet sent (rumqttc refuses larger ones, and so does Mosquitto by default).
/// A 3.1.1 broker cannot be told a limit, and a packet over the client's limit costs the
/// connection: the limit taken from it is this, the size the grappe's broker accepts.
const MAX_OUTGOING: usize = 1024 * 1024;
/// Largest topic + payload the agent may publish: [`MAX_OUTGOING`] less the MQTT header.
pub const MAX_MESSAGE: usize = MAX_OUTGOING - 16;
/// TCP + TLS + CONNACK must complete within this on a slow 4G link.
const CONNECT_TIMEOUT_S: u64 = 20;

/// What the connection task reports to the agent, in the order it happened.
#[derive(Debug)]
pub enum Event {
    /// The broker accepted the connection: publish through this session until the next
    /// [`Event::Disconnected`].
    Connected(Session),
    /// A QoS 1 publish was written to the network with this packet id. These come in the
    /// order the publishes were requested.
    Sent(u16),
    /// The broker answered the publish with this packet id (PUBACK). `refused` says why
    /// when the broker did not take it (MQTT 5 reason code): the message did not reach it.
    Acked { pkid: u16, refused: Option<String> },
    /// A message on a subscribed topic. `retained` is set for a message the broker kept
    /// from before this connection, not one sent now.
    Message {
        topic: String,
        payload: Vec<u8>,
        retained: bool,
    },
    /// The connection failed or dropped; the next attempt is in `retry_in`.
    Disconnected { error: String, retry_in: Duration },
}

/// A live connection's publishing handle.
#[derive(Debug, Clone)]
pub struct Session {
    client: Client,
    /// Wakes the connection task to drop this connection and reconnect.
    reset: Arc<Notify>,
}

#[derive(Debug, Clone)]
enum Client {
    V5(rumqttc::v5::AsyncClient),
    V311(rumqttc::AsyncClient),
}

/// Why a publish did not go out: the session is gone or its queue is full. Either way the
/// caller keeps the message (spooled reports are resent on the next session).
#[derive(Debug)]
pub struct NotSent;

impl Session {
    /// Queues a QoS 1 publish without waiting.
    pub fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) -> Result<(), NotSent> {
        let queued = match &self.client {
            Client::V5(c) => c
                .try_publish(
                    topic,
                    rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                    retain,
                    payload,
                )
                .is_ok(),
            Client::V311(c) => c
                .try_publish(topic, QoS::AtLeastOnce, retain, payload)
                .is_ok(),
        };
        queued.then_some(()).ok_or(NotSent)
    }

    pub fn subscribe(&self, filter: &str) -> Result<(), NotSent> {
        let queued = match &self.client {
            Client::V5(c) => c
                .try_subscribe(filter, rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
                .is_ok(),
            Client::V311(c) => c.try_subscribe(filter, QoS::AtLeastOnce).is_ok(),
        };
        queued.then_some(()).ok_or(NotSent)
    }

    /// Ends the session with an MQTT DISCONNECT, so that the broker does not publish the
    /// Last Will; the transport task then stops. The caller keeps reading events until the
    /// task has ended, so that the DISCONNECT is written.
    pub fn disconnect(&self) {
        match &self.client {
            Client::V5(c) => drop(c.try_disconnect()),
            Client::V311(c) => drop(c.try_disconnect()),
        }
    }

    /// Drops this connection and reconnects (with backoff): for a link that looks alive
    /// but no longer delivers (no PUBACK in time).
    pub fn reset(&self) {
        self.reset.notify_one();
    }
}

/// Everything needed to connect.
#[derive(Clone)]
pub struct Settings {
    pub client_id: String,
    pub broker: Broker,
    /// Last Will: published retained by the broker if the agent vanishes.
    pub will_topic: String,
    pub will_payload: Vec<u8>,
    pub backoff: Backoff,
}

/// Exponential backoff with full jitter: the delay before attempt `n` is drawn uniformly
/// from `[min, min(max, base * 2^n)]`, so that a fleet cut off by a broker restart comes
/// back spread over time instead of all at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// Never retry sooner than this, so a broker that accepts then drops at once is not hammered.
    pub min: Duration,
    /// A connection that lasted this long resets the backoff.
    pub stable_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(300),
            min: Duration::from_millis(500),
            stable_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay before the next attempt after `failures` consecutive failures (1 = first).
    pub fn delay(&self, failures: u32, rng: &mut fastrand::Rng) -> Duration {
        let exp = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        let ceiling = self.base.saturating_mul(exp).min(self.max).max(self.min);
        let span = (ceiling - self.min).as_millis() as u64;
        self.min + Duration::from_millis(rng.u64(0..=span))
    }
}

/// Starts the connection task. It stops when the agent drops the event receiver or after
/// a clean [`Session::disconnect`].
pub fn spawn(settings: Settings) -> Result<(mpsc::Receiver<Event>, JoinHandle<()>), rustls::Error> {
    let tls = match &settings.broker.tls {
        Some(tls) => Some(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(tls.client_config()?)),
        )),
        None => None,
    };
    let (tx, rx) = mpsc::channel(256);
    let task = tokio::spawn(run(settings, tls, tx));
    Ok((rx, task))
}

/// The MQTT version spoken on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// MQTT 5: the broker says why it refuses a publish, and never sends a packet larger
    /// than the agent accepts.
    V5,
    /// MQTT 3.1.1, for brokers that do not speak 5.
    V311,
}

async fn run(settings: Settings, tls: Option<rumqttc::Transport>, tx: mpsc::Sender<Event>) {
    let mut rng = fastrand::Rng::new();
    let mut failures = 0u32;
    let mut protocol = Protocol::V5;
    // Once a broker has accepted 3.1.1 after refusing 5, this process keeps to 3.1.1.
    let mut settled = false;
    loop {
        let mut connected_at = None;
        let ended = match protocol {
            Protocol::V5 => {
                let (client, link) = v5::connect(&settings, tls.clone());
                drive(link, Client::V5(client), &tx, &mut connected_at).await
            }
            Protocol::V311 => {
                let (client, link) = v311::connect(&settings, tls.clone());
                drive(link, Client::V311(client), &tx, &mut connected_at).await
            }
        };
        let error = match ended {
            Ended::ByAgent => return,
            Ended::Failed(failure) => {
                if connected_at.is_some() {
                    settled |= protocol == Protocol::V311;
                } else if !settled && failure.may_be_protocol_version() {
                    // A broker that does not speak MQTT 5 answers its CONNECT with a
                    // 3.1.1 refusal, which does not decode as 5, or just hangs up. Try the
                    // other version next time; an unrelated failure only costs one attempt.
                    protocol = match protocol {
                        Protocol::V5 => Protocol::V311,
                        Protocol::V311 => Protocol::V5,
                    };
                    log::debug!("next connection attempt with {protocol:?}");
                }
                failure.describe()
            }
            Ended::Reset => "no acknowledgement from the broker in time; reconnecting".to_string(),
        };
        if connected_at.is_some_and(|t: Instant| t.elapsed() >= settings.backoff.stable_after) {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        let retry_in = settings.backoff.delay(failures, &mut rng);
        let event = Event::Disconnected { error, retry_in };
        if tx.send(event).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(retry_in) => {}
            _ = tx.closed() => return,
        }
    }
}

/// What one poll of a connection's event loop gave, in terms common to both versions.
enum Polled {
    /// The broker accepted the connection.
    ConnAck,
    Event(Event),
    /// The agent's DISCONNECT is being written.
    Disconnecting,
    /// Nothing the agent needs to know (pings, SUBACK...).
    Nothing,
    Failed(Failure),
}

/// One connection's event loop, whichever the MQTT version.
trait Link {
    async fn next(&mut self) -> Polled;
}

/// Polls one connection until it ends, forwarding what the agent needs to know.
async fn drive(
    mut link: impl Link,
    client: Client,
    tx: &mpsc::Sender<Event>,
    connected_at: &mut Option<Instant>,
) -> Ended {
    let reset = Arc::new(Notify::new());
    let mut session = Some(Session {
        client,
        reset: reset.clone(),
    });
    loop {
        // Dropping a pending poll loses nothing that matters here: on reset the whole
        // connection, with its buffers, is thrown away.
        let polled = tokio::select! {
            polled = link.next() => polled,
            _ = reset.notified() => return Ended::Reset,
        };
        let event = match polled {
            Polled::ConnAck => {
                *connected_at = Some(Instant::now());
                match session.take() {
                    Some(s) => Event::Connected(s),
                    None => continue,
                }
            }
            Polled::Event(event) => event,
            Polled::Disconnecting => {
                // Let the DISCONNECT reach the broker so it does not fire the Last Will.
                let _ = tokio::time::timeout(Duration::from_secs(2), link.next()).await;
                return Ended::ByAgent;
            }
            Polled::Nothing => continue,
            Polled::Failed(failure) => return Ended::Failed(failure),
        };
        if tx.send(event).await.is_err() {
            return Ended::ByAgent;
        }
    }
}

/// How one connection ended.
enum Ended {
    /// The agent disconnected or stopped listening.
    ByAgent,
    Failed(Failure),
    /// The agent asked for a new connection ([`Session::reset`]).
    Reset,
}

/// Why a connection failed, in terms common to both protocol versions.
#[derive(Debug)]
enum Failure {
    Io(std::io::Error),
    Tls(String),
    /// The broker's CONNACK refused the connection with this code.
    Refused(String),
    Timeout,
    /// The broker closed the connection without a word.
    Closed,
    /// A packet that did not decode, or one out of place: the other side may speak
    /// another MQTT version.
    Protocol(String),
    Other(String),
}

impl Failure {
    /// Whether the failure may come from a broker that does not speak this MQTT version.
    fn may_be_protocol_version(&self) -> bool {
        use std::io::ErrorKind::*;
        match self {
            Failure::Protocol(_) | Failure::Closed => true,
            Failure::Refused(code) => code.contains("ProtocolVersion"),
            Failure::Io(e) => matches!(
                e.kind(),
                UnexpectedEof | ConnectionReset | ConnectionAborted
            ),
            Failure::Tls(_) | Failure::Timeout | Failure::Other(_) => false,
        }
    }

    /// A one-line reason an operator can act on.
    fn describe(&self) -> String {
        match self {
            Failure::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                "connection refused: is the broker running and listening on this port?".into()
            }
            Failure::Io(io) => format!("network: {}", without_doc_link(&io.to_string())),
            Failure::Tls(tls) => format!(
                "TLS: {} (check [broker] ca, cert, key and the broker's certificate)",
                without_doc_link(tls)
            ),
            Failure::Refused(code) => format!("broker refused the connection: {code}"),
            Failure::Closed => "the broker closed the connection (its log says why)".into(),
            Failure::Timeout => format!("no answer from the broker within {CONNECT_TIMEOUT_S}s"),
            Failure::Protocol(e) => format!("MQTT protocol error: {e}"),
            Failure::Other(e) => e.clone(),
        }
    }
}

/// rustls ends some errors with a link to its manual (": https://docs.rs/..."), which is
/// noise in a log line or a heartbeat read by the IT staff.
fn without_doc_link(error: &str) -> &str {
    match error.find(": https://") {
        Some(at) => &error[..at],
        None => error,
    }
}

/// Why a PUBACK refuses a publish, when it does (MQTT 5 only: 3.1.1 cannot say).
fn refusal(reason: impl std::fmt::Debug, detail: Option<String>) -> String {
    let reason = format!("{reason:?}");
    let hint = if reason == "NotAuthorized" {
        " (the broker's ACL does not let this device publish there: check that [identity] \
         matches the device certificate and the grappe's ACL)"
    } else {
        ""
    };
    match detail {
        Some(detail) => format!("{reason}: {}{hint}", detail.escape_debug()),
        None => format!("{reason}{hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker that speaks only MQTT 3.1.1: it refuses a version 5 CONNECT with the 3.1.1
    /// "unacceptable protocol version" CONNACK and accepts a 3.1.1 one. Returns the
    /// protocol levels of the CONNECTs it received.
    async fn broker_of_mqtt_311(listener: tokio::net::TcpListener) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut levels = Vec::new();
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            // CONNECT: fixed header, remaining length (one byte here), "\0\x04MQTT", level.
            let mut head = [0u8; 9];
            socket.read_exact(&mut head).await.unwrap();
            assert_eq!(&head[2..8], b"\0\x04MQTT", "not a CONNECT: {head:?}");
            let level = head[8];
            levels.push(level);
            let mut rest = vec![0u8; head[1] as usize - 7];
            socket.read_exact(&mut rest).await.unwrap();
            if level == 4 {
                socket.write_all(&[0x20, 2, 0, 0]).await.unwrap();
                // Keep the connection open until the client is done.
                let _ = socket.read(&mut [0u8; 64]).await;
                return levels;
            }
            socket.write_all(&[0x20, 2, 0, 1]).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_broker_without_mqtt_5_is_spoken_to_in_3_1_1() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let broker = tokio::spawn(broker_of_mqtt_311(listener));
        let settings = Settings {
            client_id: "dev-a".into(),
            broker: Broker {
                host: "127.0.0.1".into(),
                port,
                tls: None,
                keep_alive: Duration::from_secs(60),
            },
            will_topic: "will".into(),
            will_payload: b"gone".to_vec(),
            backoff: Backoff {
                base: Duration::from_millis(10),
                max: Duration::from_millis(20),
                min: Duration::from_millis(10),
                stable_after: Duration::from_secs(60),
            },
        };
        let (mut events, task) = spawn(settings).unwrap();
        let session = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.recv().await {
                    Some(Event::Connected(session)) => return session,
                    Some(_) => {}
                    None => panic!("the transport stopped"),
                }
            }
        })
        .await
        .expect("no connection with 3.1.1 after the MQTT 5 refusal");
        assert!(matches!(session.client, Client::V311(_)));
        drop(events);
        task.abort();
        let levels = broker.await.unwrap();
        assert_eq!(levels.first(), Some(&5), "MQTT 5 is tried first");
        assert_eq!(levels.last(), Some(&4));
    }

    #[test]
    fn rustls_manual_links_are_left_out_of_error_lines() {
        let io = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "peer closed connection without sending TLS close_notify: \
             https://docs.rs/rustls/latest/rustls/manual/_03_howto/index.html#unexpected-eof",
        );
        assert_eq!(
            Failure::Io(io).describe(),
            "network: peer closed connection without sending TLS close_notify"
        );
        assert_eq!(without_doc_link("no link here"), "no link here");
    }

    #[test]
    fn backoff_grows_to_its_cap_with_full_jitter() {
        let b = Backoff::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for failures in 1..40 {
            let ceiling = b
                .base
                .saturating_mul(2u32.saturating_pow(failures - 1))
                .min(b.max);
            for _ in 0..200 {
                let d = b.delay(failures, &mut rng);
                assert!(d >= b.min && d <= ceiling.max(b.min), "{failures}: {d:?}");
            }
        }
        // Full jitter: at the cap, delays spread over the whole range, not bunched at the top.
        let delays: Vec<_> = (0..1000).map(|_| b.delay(30, &mut rng).as_secs()).collect();
        assert!(delays.iter().any(|d| *d < 60), "no short delay drawn");
        assert!(delays.iter().any(|d| *d > 240), "no long delay drawn");
    }
}
