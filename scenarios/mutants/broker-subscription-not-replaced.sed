# file: fakebroker/broker_packet.c
# defect: a SUBSCRIBE with a filter the session has adds a second subscription instead of replacing it
s/	if (sub) {$/	if (0 \&\& sub) {/
