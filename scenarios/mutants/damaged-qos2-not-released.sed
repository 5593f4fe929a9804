# file: client/session_store.c
# defect: the identifier of a damaged QoS 2 record is free at once, though the broker may still hold it
s/if (!adopt_entry(s, sp, id, OUT_PUBREL, NULL, 0))/if ((void)sp, 0) \/* mutant *\//
