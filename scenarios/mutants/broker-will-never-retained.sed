# file: fakebroker/broker_connect.c
# defect: the broker publishes a will without its retain flag
s/broker_publish(b, will, c->will_retain);/broker_publish(b, will, false);/
