# file: fakebroker/broker_connect.c
# defect: a second connection with the same client identifier does not close the first, which keeps the session when it ends
s|broker_close(s->conn, "taken over by a new connection with the same client identifier \[MQTT-3.1.4-2\]");|(void)0; /* mutant: no takeover */|
