# file: client/session.c
# defect: keep-alive counts the time since the last read, not the last write, so a busy reader never pings
/Keep-alive: a control packet within each period/,/elapsed(now, s->last_write) >= keep/s/elapsed(now, s->last_write) >= keep/elapsed(now, s->last_read) >= keep \/* mutant *\//
