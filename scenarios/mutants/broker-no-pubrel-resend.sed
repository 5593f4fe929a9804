# file: fakebroker/broker_route.c
# defect: after a subscriber reconnects, the broker does not send again the PUBREL it owes
/} else if (e->state == OUT_AWAIT_PUBCOMP) {/,/broker_emit(c, &p);/s/broker_emit(c, &p);/(void)p; \/* mutant: no PUBREL again *\//
