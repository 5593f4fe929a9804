# file: client/session_receive.c
# defect: a QoS 1 message is acknowledged when it arrives, before the application read it
s/^\t\ts->ack = ACK_PUBACK;$/\t\tqueue_ack(s, 0x40, m->packet_id); s->ack = ACK_NONE; \/* mutant *\//
