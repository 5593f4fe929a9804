# file: client/session.c
# defect: a PUBLISH sent again after a reconnect goes without DUP
s/e->packet\[0\] |= 0x08;/(void)0; \/* mutant: no DUP *\//
