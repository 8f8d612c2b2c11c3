//! The MQTT connection: mutual TLS with rustls (ring), a retained Last Will, and
//! reconnection with exponential backoff and full jitter.
//!
//! The transport only delivers. It knows nothing of reports or of the spool: it runs the
//! connection in its own task and reports what happens as [`Event`]s; the agent decides
//! what to publish. Each connection attempt gets a fresh rumqttc client and event loop, so
//! nothing queued for a dead connection is ever replayed behind the agent's back: after a
//! reconnection the agent republishes from its spool, in order, and nothing else.

use crate::config::Broker;
use rumqttc::{
    AsyncClient, ConnectionError, EventLoop, LastWill, MqttOptions, NetworkOptions, Outgoing,
    Packet, QoS,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Requests that may wait in a client's queue. The agent keeps at most a window of spooled
/// reports in flight, plus a few status, heartbeat and command answers; a full queue makes
/// a publish fail (the message is kept or dropped by the agent), it never blocks.
const REQUEST_QUEUE: usize = 64;
/// Largest packet accepted from the broker: commands are tiny, but a larger retained
/// message on a subscribed topic must not make every connection fail to decode.
const MAX_INCOMING: usize = 64 * 1024;
/// Largest packet sent (rumqttc refuses larger ones, and so does Mosquitto by default).
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
    /// The broker acknowledged the publish with this packet id (PUBACK).
    Acked(u16),
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
    client: AsyncClient,
    /// Wakes the connection task to drop this connection and reconnect.
    reset: Arc<Notify>,
}

/// Why a publish did not go out: the session is gone or its queue is full. Either way the
/// caller keeps the message (spooled reports are resent on the next session).
#[derive(Debug)]
pub struct NotSent;

impl Session {
    /// Queues a QoS 1 publish without waiting.
    pub fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) -> Result<(), NotSent> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .map_err(|_| NotSent)
    }

    pub fn subscribe(&self, filter: &str) -> Result<(), NotSent> {
        self.client
            .try_subscribe(filter, QoS::AtLeastOnce)
            .map_err(|_| NotSent)
    }

    /// Ends the session with an MQTT DISCONNECT, so that the broker does not publish the
    /// Last Will; the transport task then stops. The caller keeps reading events until the
    /// task has ended, so that the DISCONNECT is written.
    pub fn disconnect(&self) {
        let _ = self.client.try_disconnect();
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

/// Builds the rustls client config: the configured CA only, the device certificate, ring.
pub fn tls_config(tls: &crate::config::Tls) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(tls.roots.clone())
        .with_client_auth_cert(tls.chain.clone(), tls.key.clone_key())
}

/// Starts the connection task. It stops when the agent drops the event receiver or after
/// a clean [`Session::disconnect`].
pub fn spawn(settings: Settings) -> Result<(mpsc::Receiver<Event>, JoinHandle<()>), rustls::Error> {
    let options = mqtt_options(&settings)?;
    let (tx, rx) = mpsc::channel(256);
    let task = tokio::spawn(run(options, settings.backoff, tx));
    Ok((rx, task))
}

fn mqtt_options(settings: &Settings) -> Result<MqttOptions, rustls::Error> {
    let broker = &settings.broker;
    let mut options =
        MqttOptions::new(settings.client_id.clone(), broker.host.clone(), broker.port);
    options
        .set_keep_alive(broker.keep_alive)
        .set_clean_session(true)
        .set_max_packet_size(MAX_INCOMING, MAX_OUTGOING)
        .set_last_will(LastWill::new(
            settings.will_topic.clone(),
            settings.will_payload.clone(),
            QoS::AtLeastOnce,
            true,
        ));
    if let Some(tls) = &broker.tls {
        let config = tls_config(tls)?;
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(config)),
        ));
    }
    Ok(options)
}

async fn run(options: MqttOptions, backoff: Backoff, tx: mpsc::Sender<Event>) {
    let mut rng = fastrand::Rng::new();
    let mut failures = 0u32;
    loop {
        let (client, mut eventloop) = AsyncClient::new(options.clone(), REQUEST_QUEUE);
        let mut network = NetworkOptions::new();
        network.set_connection_timeout(CONNECT_TIMEOUT_S);
        eventloop.set_network_options(network);

        let mut connected_at = None;
        let error = match drive(&mut eventloop, client, &tx, &mut connected_at).await {
            Ended::ByAgent => return,
            Ended::Error(e) => describe(&e),
            Ended::Reset => "no acknowledgement from the broker in time; reconnecting".to_string(),
        };
        if connected_at.is_some_and(|t: Instant| t.elapsed() >= backoff.stable_after) {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        let retry_in = backoff.delay(failures, &mut rng);
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

enum Ended {
    ByAgent,
    Error(ConnectionError),
    Reset,
}

/// Polls one connection until it ends, forwarding what the agent needs to know.
async fn drive(
    eventloop: &mut EventLoop,
    client: AsyncClient,
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
            polled = eventloop.poll() => polled,
            _ = reset.notified() => return Ended::Reset,
        };
        let event = match polled {
            Ok(rumqttc::Event::Incoming(Packet::ConnAck(_))) => {
                *connected_at = Some(Instant::now());
                match session.take() {
                    Some(s) => Event::Connected(s),
                    None => continue,
                }
            }
            Ok(rumqttc::Event::Incoming(Packet::PubAck(ack))) => Event::Acked(ack.pkid),
            Ok(rumqttc::Event::Incoming(Packet::Publish(p))) => Event::Message {
                topic: p.topic,
                payload: p.payload.to_vec(),
                retained: p.retain,
            },
            Ok(rumqttc::Event::Outgoing(Outgoing::Publish(pkid))) => Event::Sent(pkid),
            Ok(rumqttc::Event::Outgoing(Outgoing::Disconnect)) => {
                // Let the DISCONNECT reach the broker so it does not fire the Last Will.
                let _ = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await;
                return Ended::ByAgent;
            }
            Ok(_) => continue,
            Err(e) => return Ended::Error(e),
        };
        if tx.send(event).await.is_err() {
            return Ended::ByAgent;
        }
    }
}

/// A one-line reason an operator can act on.
fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused: is the broker running and listening on this port?".into()
        }
        ConnectionError::Tls(tls) => {
            format!("TLS: {tls} (check [broker] ca, cert, key and the broker's certificate)")
        }
        ConnectionError::ConnectionRefused(code) => {
            format!("broker refused the connection: {code:?}")
        }
        ConnectionError::NetworkTimeout => {
            format!("no answer from the broker within {CONNECT_TIMEOUT_S}s")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
