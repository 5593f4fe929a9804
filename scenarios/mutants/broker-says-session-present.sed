# file: fakebroker/broker_connect.c
# defect: the broker says a session is present to every CONNECT that is not clean, even one that finds none
s/^\tbool present = false;$/\tbool present = !cp->clean_session; \/* mutant *\//
