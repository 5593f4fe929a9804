# file: fakebroker/broker_packet.c
# defect: the broker takes a DISCONNECT but keeps the will, and publishes it as the connection ends
s/c->disconnected = true;/c->disconnected = false; \/* mutant: the will is kept *\//
