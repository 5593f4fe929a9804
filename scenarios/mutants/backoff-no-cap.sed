# file: client/session.c
# defect: the reconnect backoff doubles past reconnect_wait_max
s/s->backoff_ms = next > s->cfg.reconnect_wait_max_ms ? s->cfg.reconnect_wait_max_ms$/s->backoff_ms = 0 ? s->cfg.reconnect_wait_max_ms \/* mutant: no cap *\//
