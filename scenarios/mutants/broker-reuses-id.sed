# file: fakebroker/broker_route.c
# defect: the broker hands out packet identifiers still in use by its unfinished deliveries
s/uint16_t id = s->next_id++;/uint16_t id = (uint16_t)(s->next_id++ % 3 + 1); \/* mutant *\//
s/if (!id_in_use(s, id))/if (id_in_use(s, id) || 1)/
