# file: client/session.c
# defect: no keep-alive PINGREQ when idle, so a silent broker goes unnoticed
s/if (keep && !c->no_auto_ping && !s->ping_pending) {/if (0) { \/* mutant *\//
