# file: fakebroker/broker_route.c
# defect: a resumed session's unacknowledged messages are sent again newest first
s/for (size_t i = 0; i < s->q_sent \&\& c->state == CONN_ONLINE; i++) {/for (size_t k = s->q_sent; k-- > 0 \&\& c->state == CONN_ONLINE;) { size_t i = k; \/* mutant: backwards *\//
