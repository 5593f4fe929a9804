# file: fakebroker/broker_route.c
# defect: the broker does not queue QoS 1 and 2 messages for a persistent session while its client is away
s/if (s->q_len - s->q_sent >= b->cfg.queue_max ||/if (!s->conn || s->q_len - s->q_sent >= b->cfg.queue_max || \/* mutant *\//
