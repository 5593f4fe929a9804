# file: client/session_store.c
# defect: a damaged inbound QoS 2 record is dropped, so the broker's resend of its message is delivered again
/if ((key & MQTT_KEY_INBOUND) && key/,/stays held/s/inbound_set(s, id, true);/(void)0; \/* mutant *\//
