# file: include/mqttsim/session.h
# defect: the SUBSCRIBE identifier space overlaps the QoS 1 one, so a subscription can take an identifier an unacknowledged PUBLISH holds
s/^#define MQTT_SPACE_SUBSCRIBE 0x6000u /#define MQTT_SPACE_SUBSCRIBE 0x8000u \/* mutant *\/ /
