//! MQTT 3.1.1 connections, for brokers that do not speak 5.

use super::{
    Event, Failure, Link, Polled, Settings, CONNECT_TIMEOUT_S, MAX_OUTGOING, REQUEST_QUEUE,
};
use rumqttc::{
    AsyncClient, ConnectionError, EventLoop, LastWill, MqttOptions, NetworkOptions, Outgoing,
    Packet, QoS, StateError,
};

pub(super) fn connect(
    settings: &Settings,
    tls: Option<rumqttc::Transport>,
) -> (AsyncClient, EventLoop) {
    let broker = &settings.broker;
    let mut options =
        MqttOptions::new(settings.client_id.clone(), broker.host.clone(), broker.port);
    options
        .set_keep_alive(broker.keep_alive)
        .set_clean_session(true)
        .set_max_packet_size(MAX_OUTGOING, MAX_OUTGOING)
        .set_last_will(LastWill::new(
            settings.will_topic.clone(),
            settings.will_payload.clone(),
            QoS::AtLeastOnce,
            true,
        ));
    if let Some(tls) = tls {
        options.set_transport(tls);
    }
    let (client, mut eventloop) = AsyncClient::new(options, REQUEST_QUEUE);
    let mut network = NetworkOptions::new();
    network.set_connection_timeout(CONNECT_TIMEOUT_S);
    eventloop.set_network_options(network);
    (client, eventloop)
}

impl Link for EventLoop {
    async fn next(&mut self) -> Polled {
        use rumqttc::Event::{Incoming, Outgoing as Out};
        match self.poll().await {
            Ok(Incoming(Packet::ConnAck(_))) => Polled::ConnAck,
            // 3.1.1 has no way to say that a publish was refused.
            Ok(Incoming(Packet::PubAck(ack))) => Polled::Event(Event::Acked {
                pkid: ack.pkid,
                refused: None,
            }),
            Ok(Incoming(Packet::Publish(p))) => Polled::Event(Event::Message {
                topic: p.topic,
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
        | ConnectionError::MqttState(StateError::Deserialization(rumqttc::mqttbytes::Error::Io(
            io,
        ))) => Failure::Io(io),
        ConnectionError::Tls(tls) => Failure::Tls(tls.to_string()),
        ConnectionError::ConnectionRefused(code) => Failure::Refused(format!("{code:?}")),
        ConnectionError::NetworkTimeout => Failure::Timeout,
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
