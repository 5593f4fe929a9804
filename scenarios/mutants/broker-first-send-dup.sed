# file: fakebroker/broker_route.c
# defect: the broker sets DUP on a message's first delivery
/^void session_pump/,/^}/s/send_publish(c, e->msg, e->qos, e->retain, false, e->id);/send_publish(c, e->msg, e->qos, e->retain, true, e->id); \/* mutant *\//
