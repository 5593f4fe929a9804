# file: fakebroker/broker.c
# defect: the broker ends a connection after one keep-alive period of silence, not one and a half
s/uint64_t due = c->last_rx + (uint64_t)c->keep_alive \* 1500u;/uint64_t due = c->last_rx + (uint64_t)c->keep_alive * 1000u;/
