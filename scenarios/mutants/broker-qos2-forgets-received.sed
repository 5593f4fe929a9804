# file: fakebroker/broker_packet.c
# defect: the broker takes a QoS 2 PUBLISH sent again before its PUBREL for a new message, and delivers it again
s/if (pub->qos == 2 \&\& qos2_seen(s, pub->packet_id)) {/if (0 \&\& pub->qos == 2 \&\& qos2_seen(s, pub->packet_id)) {/
