# file: client/session_receive.c
# defect: inbound QoS 2 identifiers are not remembered, so a resent PUBLISH is delivered again
s/^\t\tinbound_set(s, m->packet_id, true);$/\t\t(void)0; \/* mutant: no dedup *\//
