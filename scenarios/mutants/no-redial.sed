# file: client/session.c
# defect: the reconnect backoff never ends: a lost connection is not dialled again
s/s->dial_at = now + wait;/s->dial_at = UINT64_MAX; (void)now; (void)wait; \/* mutant *\//
