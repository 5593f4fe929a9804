# file: client/session.c
# defect: a QoS 1/2 PUBLISH is queued for the wire before its record is saved (a failed save still sends it)
/Saved before anything is sent: a message is never on the wire/,/^	}$/d
/^		\*id = pid;$/a\
	if (s->stored) { /* mutant: saved after it was queued */\
		struct iovec v1 = {packet, size};\
		int rc = mqtt_checked_save(&s->checked, pid, &v1, 1, NULL);\
		if (rc)\
			return err_of(MQTT_PERSISTENCE, -rc);\
	}
