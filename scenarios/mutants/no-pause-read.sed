# file: client/session.c
# defect: the pause timeout does not watch reads: a packet half read for ever is never noticed
s/if (s->state == MQTT_STATE_CONNECTING || s->framer.have) {/if (0) { \/* mutant *\//
