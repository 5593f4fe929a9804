# file: fakebroker/broker_route.c
# defect: with overlapping subscriptions the broker delivers once at the lowest QoS granted, not the highest
s/if (sub->qos > granted &&/if ((granted < 0 || sub->qos < granted) \&\& \/* mutant *\//
