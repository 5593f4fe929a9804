# file: fakebroker/broker_route.c
# defect: the broker never releases a QoS 2 message its subscriber received (no PUBREL after PUBREC)
/The message is delivered; what is left is the release/,/return true;/s/broker_emit(s->conn, &p);/(void)p; \/* mutant: no PUBREL *\//
