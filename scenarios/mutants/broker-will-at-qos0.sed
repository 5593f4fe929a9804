# file: fakebroker/broker_connect.c
# defect: the broker publishes a will at QoS 0 whatever QoS the CONNECT asked for
s/c->will = bmsg_new(\&cp->will_topic, \&cp->will_message, cp->will_qos);/c->will = bmsg_new(\&cp->will_topic, \&cp->will_message, 0);/
