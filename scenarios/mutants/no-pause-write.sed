# file: client/session.c
# defect: the pause timeout does not watch writes: output that cannot leave is never noticed
s/if (session_output_pending(s)) {/if (0) { \/* mutant *\//
