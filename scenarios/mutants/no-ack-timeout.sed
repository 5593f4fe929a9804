# file: client/session.c
# defect: the acknowledgement timeout never fires
s/if (c->ack_timeout_ms && s->head >= 0) {/if (0) { \/* mutant *\//
