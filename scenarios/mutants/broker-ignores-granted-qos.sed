# file: fakebroker/broker_route.c
# defect: the broker delivers at the published QoS, above what the subscription was granted
s/deliver(b, s, m, m->qos < granted ? m->qos : (uint8_t)granted, false);/deliver(b, s, m, m->qos, false); \/* mutant *\//
