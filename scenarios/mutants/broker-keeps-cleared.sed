# file: fakebroker/broker_route.c
# defect: a zero-length retained PUBLISH does not clear the topic's retained message
s/if (m->payload_len == 0) {/if (m->payload_len == 0) { return true; \/* mutant: not cleared *\//
