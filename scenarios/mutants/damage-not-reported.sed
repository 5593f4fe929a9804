# file: client/session_store.c
# defect: damaged records are handled by the policy but never reported
/^static void adopt_damaged(/i static void session_quiet(struct mqtt_session *s, const char *fmt, ...) { (void)s; (void)fmt; } /* mutant */
/^static void adopt_damaged(/,/^}/s/session_warn(s, /session_quiet(s, /
