# file: client/session_receive.c
# defect: a QoS 2 PUBLISH is taken in the same read as a PUBREL ahead of it, so its identifier is saved while that PUBCOMP is still to be written (a crash there loses it)
s/^\t\tif (qos2_publish && s->queued_total != queued_before && !s->framer.have &&$/\t\tif (0 \&\& qos2_publish \&\& s->queued_total != queued_before \&\& !s->framer.have \&\&/
