# file: fakebroker/broker_route.c
# defect: a newer retained message does not replace the one the broker holds for its topic
s|/\* MQTT-3.3.1-5, MQTT-3.3.1-7: the new message replaces the old. \*/|return true; /* mutant: the first retained message stays */|
