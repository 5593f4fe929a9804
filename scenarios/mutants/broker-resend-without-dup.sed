# file: fakebroker/broker_route.c
# defect: the broker resends an unacknowledged PUBLISH after a reconnect without DUP
s/send_publish(c, e->msg, e->qos, e->retain, true, e->id);/send_publish(c, e->msg, e->qos, e->retain, false, e->id); \/* mutant *\//
