# file: client/session.c
# defect: a client told to disconnect closes its connection without writing DISCONNECT (its will goes)
/{.type = MQTT_DISCONNECT};/,/session_queue/s/r = session_queue(s, &p);/r = err_of(MQTT_CLOSED, 0); (void)p; \/* mutant: no DISCONNECT *\//
