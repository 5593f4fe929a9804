# file: client/session.c
# defect: a packet identifier is handed out again while its exchange is in flight
s/unsigned slot = (sp->cursor + i) \& (MQTT_WINDOW_MAX - 1);/unsigned slot = (sp->cursor + i - (sp->count == 3)) \& (MQTT_WINDOW_MAX - 1); \/* mutant *\//
s/if (!page || page\[slot % SPACE_PAGE_SLOTS\].state == OUT_FREE) {/if (!page || page[slot % SPACE_PAGE_SLOTS].state == OUT_FREE || sp->count == 3) { \/* mutant *\//
