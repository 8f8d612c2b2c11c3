//! MQTT 5 connections.

use super::{refusal, Event, Failure, Link, Polled, Settings, CONNECT_TIMEOUT_S, REQUEST_QUEUE};
use rumqttc::v5::mqttbytes::v5::{LastWill, Packet, PubAckReason};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, ConnectionError, EventLoop, MqttOptions, StateError};
use rumqttc::Outgoing;

pub(super) fn connect(
    settings: &Settings,
    tls: Option<rumqttc::Transport>,
) -> (AsyncClient, EventLoop) {
    let broker = &settings.broker;
    let mut options =
        MqttOptions::new(settings.client_id.clone(), broker.host.clone(), broker.port);
    options
        .set_keep_alive(broker.keep_alive)
        .set_clean_start(true)
        .set_connection_timeout(CONNECT_TIMEOUT_S)
        // Sent in the CONNECT: the broker must not send anything larger.
        .set_max_packet_size(Some(super::MAX_INCOMING_V5 as u32))
        .set_last_will(LastWill::new(
            settings.will_topic.clone(),
            settings.will_payload.clone(),
            QoS::AtLeastOnce,
            true,
            None,
        ));
    if let Some(tls) = tls {
        options.set_transport(tls);
    }
    AsyncClient::new(options, REQUEST_QUEUE)
}

impl Link for EventLoop {
    async fn next(&mut self) -> Polled {
        use rumqttc::v5::Event::{Incoming, Outgoing as Out};
        match self.poll().await {
            Ok(Incoming(Packet::ConnAck(_))) => Polled::ConnAck,
            Ok(Incoming(Packet::PubAck(ack))) => {
                let refused = match ack.reason {
                    PubAckReason::Success | PubAckReason::NoMatchingSubscribers => None,
                    reason => Some(refusal(
                        reason,
                        ack.properties.and_then(|p| p.reason_string),
                    )),
                };
                Polled::Event(Event::Acked {
                    pkid: ack.pkid,
                    refused,
                })
            }
            Ok(Incoming(Packet::Publish(p))) => Polled::Event(Event::Message {
                topic: String::from_utf8_lossy(&p.topic).into_owned(),
                payload: p.payload.to_vec(),
                retained: p.retain,
            }),
            Ok(Out(Outgoing::Publish(pkid))) => Polled::Event(Event::Sent(pkid)),
            Ok(Out(Outgoing::Disconnect)) => Polled::Disconnecting,
            Ok(_) => Polled::Nothing,
            Err(e) => Polled::Failed(failure(e)),
        }
    }
}

fn failure(e: ConnectionError) -> Failure {
    match e {
        ConnectionError::Io(io)
        | ConnectionError::MqttState(StateError::Io(io))
        | ConnectionError::MqttState(StateError::Deserialization(
            rumqttc::v5::mqttbytes::Error::Io(io),
        )) => Failure::Io(io),
        ConnectionError::Tls(tls) => Failure::Tls(tls.to_string()),
        ConnectionError::ConnectionRefused(code) => Failure::Refused(format!("{code:?}")),
        ConnectionError::Timeout(_) => Failure::Timeout,
        ConnectionError::NotConnAck(packet) => {
            Failure::Protocol(format!("expected CONNACK, got {packet:?}"))
        }
        ConnectionError::MqttState(
            e @ (StateError::Deserialization(_) | StateError::WrongPacket),
        ) => Failure::Protocol(e.to_string()),
        ConnectionError::MqttState(StateError::ConnectionAborted) => Failure::Closed,
        other => Failure::Other(other.to_string()),
    }
}
