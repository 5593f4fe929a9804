# file: client/session.c
# defect: an unanswered PINGREQ never ends the connection, so a silently dead link is never left
s/if (s->ping_pending \&\& ping_wait) {/if (s->ping_pending \&\& ping_wait \&\& 0) { \/* mutant *\//
