//! The operator's connection to the broker: one short-lived MQTT session per command, with
//! its own client id (so that two people, or a person and the monitoring tool, never
//! throw each other off), over the operators' port with the operator certificate.
//!
//! Reading the retained state has no natural end in MQTT: the broker sends what it keeps
//! and then waits. So after subscribing, the operator publishes a marker to itself on a
//! topic no device can have (`_fleet` is not a valid structure id); the broker handles a
//! client's packets in order, so the marker comes back after every retained message of
//! the subscriptions before it.

use crate::config::Broker;
use anyhow::{anyhow, bail, Context, Result};
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, NetworkOptions, Packet, QoS,
    Transport,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The largest report an agent publishes is 1 MiB; with room for the MQTT header.
const MAX_INCOMING: usize = 2 * 1024 * 1024;

pub struct Operator {
    client: AsyncClient,
    events: EventLoop,
    client_id: String,
    grappe: String,
    where_: String,
}

/// A message the operator received (`topic`, `payload`).
pub type Message = rumqttc::Publish;

impl Operator {
    /// Connects to the broker of `grappe` within `timeout`; the error says why not
    /// (unreachable, TLS refused, not an operator certificate...).
    pub async fn connect(broker: &Broker, grappe: &str, timeout: Duration) -> Result<Operator> {
        let client_id = format!("grappe-fleet-{:016x}", fastrand::u64(..));
        let mut options = MqttOptions::new(client_id.clone(), broker.host.clone(), broker.port);
        options
            .set_keep_alive(broker.keep_alive.min(Duration::from_secs(60)))
            .set_clean_session(true)
            .set_max_packet_size(MAX_INCOMING, 64 * 1024);
        if let Some(tls) = &broker.tls {
            let config = tls
                .client_config()
                .context("cannot set up TLS with the operator certificate and key")?;
            options.set_transport(Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(Arc::new(config)),
            ));
        }
        let (client, mut events) = AsyncClient::new(options, 64);
        let mut network = NetworkOptions::new();
        network.set_connection_timeout(timeout.as_secs().max(1));
        events.set_network_options(network);
        let where_ = format!("{}:{}", broker.host, broker.port);
        let connected = tokio::time::timeout(timeout, async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(describe(&where_, e)),
                }
            }
        })
        .await
        .map_err(|_| anyhow!("no answer from the broker at {where_} within {timeout:?}"))?;
        connected?;
        Ok(Operator {
            client,
            events,
            client_id,
            grappe: grappe.to_owned(),
            where_,
        })
    }

    /// Subscribes to `filters` and hands every retained message to `each`, until the
    /// broker has sent them all; fails after `timeout` without the end.
    ///
    /// One filter at a time, each with its marker: the broker queues a subscription's
    /// retained messages all at once, and drops, silently, what is beyond its per-client
    /// queue (`max_queued_messages`); one topic of each device at a time is the smallest
    /// burst. QoS 0, because with QoS 1 the same queue also holds what awaits an ack.
    pub async fn read_retained(
        &mut self,
        filters: &[String],
        timeout: Duration,
        mut each: impl FnMut(&str, &[u8]),
    ) -> Result<()> {
        let marker = self.marker_topic();
        self.client
            .subscribe(marker.as_str(), QoS::AtMostOnce)
            .await?;
        let deadline = Instant::now() + timeout;
        for filter in filters {
            self.client
                .subscribe(filter.as_str(), QoS::AtMostOnce)
                .await?;
            self.client
                .publish(
                    marker.as_str(),
                    QoS::AtMostOnce,
                    false,
                    filter.as_bytes().to_vec(),
                )
                .await?;
            loop {
                let Some(m) = self.next_message(deadline).await? else {
                    bail!(
                        "the broker at {} did not send the whole retained state within {timeout:?}",
                        self.where_
                    );
                };
                if m.topic == marker {
                    if m.payload == filter.as_bytes() {
                        break;
                    }
                    continue;
                }
                each(&m.topic, &m.payload);
            }
        }
        Ok(())
    }

    /// Subscribes to `filter` (QoS 1) and waits for the broker to confirm it.
    pub async fn subscribe(&mut self, filter: &str, timeout: Duration) -> Result<()> {
        self.client.subscribe(filter, QoS::AtLeastOnce).await?;
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.events.poll()).await {
                Ok(Ok(Event::Incoming(Packet::SubAck(ack)))) => {
                    if ack
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                    {
                        bail!("the broker refused the subscription to {filter}");
                    }
                    return Ok(());
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(describe(&self.where_, e)),
                Err(_) => bail!("the broker did not confirm the subscription to {filter}"),
            }
        }
    }

    /// Publishes a command (QoS 1, not retained: a command is for whoever is connected now).
    pub async fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await?;
        Ok(())
    }

    /// The next message, or `None` at `deadline`.
    pub async fn next_message(&mut self, deadline: Instant) -> Result<Option<Message>> {
        loop {
            match tokio::time::timeout_at(deadline, self.events.poll()).await {
                Err(_) => return Ok(None),
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => return Ok(Some(p)),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(describe(&self.where_, e)),
            }
        }
    }

    /// Says goodbye (a clean DISCONNECT), so the broker logs no lost connection.
    pub async fn disconnect(mut self) {
        if self.client.disconnect().await.is_ok() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, self.events.poll()).await {
                if matches!(event, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                    break;
                }
            }
        }
    }

    /// Under a level no device can have (`_` is not allowed in ids), in the operators'
    /// command grant, unique to this connection.
    fn marker_topic(&self) -> String {
        let this_session = crate::wire::Identity {
            grappe: self.grappe.clone(),
            structure: "_fleet".into(),
            device: self.client_id.clone(),
        };
        crate::wire::Topic::Command("end-of-retained".into()).of(&this_session)
    }
}

fn describe(where_: &str, e: ConnectionError) -> anyhow::Error {
    match e {
        ConnectionError::ConnectionRefused(code) => anyhow!(
            "the broker at {where_} refused the connection ({code:?}): is this an operator certificate, and the operators' port?"
        ),
        ConnectionError::Io(io) => anyhow!("cannot reach the broker at {where_}: {io}"),
        ConnectionError::Tls(tls) => anyhow!(
            "TLS with the broker at {where_} failed: {tls} (the CA in fleet.toml must be the grappe's, the certificate an operator's)"
        ),
        ConnectionError::NetworkTimeout | ConnectionError::FlushTimeout => {
            anyhow!("no answer from the broker at {where_} in time")
        }
        other => anyhow!("connection to the broker at {where_} lost: {other}"),
    }
}
