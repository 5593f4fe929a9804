/*
 * script.h - the packet-level form of a scenario: the broker side of a
 * client's connections scripted packet by packet (docs/scenarios.md).
 *
 * A script is a list of steps: expect a packet from the client (by type
 * and fields, or byte-exactly in hex), send one (symbolic, or hex),
 * close the connection, expect the client to close it, or wait. Packets
 * are framed by their remaining length, per connection, so a correct
 * client split into any pieces by faults still matches.
 */
#ifndef SCENARIOS_SCRIPT_H
#define SCENARIOS_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum scn_pkt_op { PKT_EXPECT = 1, PKT_SEND, PKT_CLOSE, PKT_EXPECT_CLOSE, PKT_WAIT };

/* id=N, id=last (the last packet's), id=same (the last PUBLISH's), id=@N (a
 * name: bound to the identifier of the client's packet that an expect
 * with it matches, used by later lines; a PUBLISH, SUBSCRIBE or
 * UNSUBSCRIBE from the client binds it anew, other packets must agree). */
enum scn_pkt_id { PKT_ID_NONE, PKT_ID_VALUE, PKT_ID_LAST, PKT_ID_SAME, PKT_ID_TAG };

#define PKT_ANY 0xff /* expect any packet */
#define SCN_SEND_SIZE_MAX 1000000 /* send PUBLISH size=, at most */
#define SCN_FRAME_MAX (2u << 20)  /* the largest packet from the client a script reads */

struct scn_pkt {
	enum scn_pkt_op op;
	int client;
	unsigned line;
	uint8_t type;              /* enum mqtt_type; 0 with raw; PKT_ANY */
	uint8_t raw[256];          /* hex form: the packet's bytes, exactly */
	size_t raw_len;
	int qos, dup, retain;      /* -1: not given */
	int clean, session, code;  /* CONNECT clean=, CONNACK session= code= */
	int keepalive;
	enum scn_pkt_id id_mode;
	uint16_t id;               /* id=N's value, id=@N's name */
	uint32_t size;             /* send PUBLISH size=: the payload padded to this many bytes */
	bool has_topic, has_payload, has_client_id;
	char topic[128], payload[128], client_id[64];
	uint8_t codes[8];          /* SUBACK return codes */
	int ncodes;
	uint64_t ms;               /* wait */
};

/*
 * Parses one packet-level line's words after its verb into p (lang.c
 * splits the line): "CONNECT clean=1", "PUBLISH qos=1 dup=0 topic=t",
 * "hex 20 02 00 00", ... Returns 0, or -1 with why and the offending
 * word's index in *bad.
 */
struct scn_word {
	const char *s;
	size_t len, col;
};
int pscript_parse_packet(struct scn_pkt *p, const struct scn_word *w, int n, int *bad, char *why,
                        size_t whycap);

struct script_run;

/* A run of the steps of client (of all n steps) for one simulation; NULL when out of memory. */
struct script_run *pscript_new(const struct scn_pkt *steps, int n, int client);
void pscript_free(struct script_run *r);

/* Connection conn (its link's number) opens, or the client's side of it ends. */
void pscript_connected(struct script_run *r, uint32_t conn, uint64_t now);
void pscript_closed(struct script_run *r, uint32_t conn, uint64_t now);
/* Bytes from the client on conn; all are taken. */
void pscript_receive(struct script_run *r, uint32_t conn, uint64_t now, const uint8_t *d, size_t n);
/* What the script sends on conn, and how much of it was written. */
size_t pscript_output(struct script_run *r, uint32_t conn, const uint8_t **d);
void pscript_wrote(struct script_run *r, size_t n);
/* A close step came: conn is to be closed once its output is out. */
bool pscript_wants_close(const struct script_run *r, uint32_t conn);
/* Runs what is due (waits) and returns the next deadline (UINT64_MAX: none). */
uint64_t pscript_tick(struct script_run *r, uint64_t now);
/* Every step done; or the first step that failed, explained (NULL: none). */
bool pscript_done(const struct script_run *r);
const char *pscript_failure(const struct script_run *r);
/* Where it stands, for a run that did not finish: "line N: waiting for ..." */
void pscript_position(const struct script_run *r, char *buf, size_t cap);
/* At the end of a run: false when the script was followed to its end;
 * true with why (its failure, or where it stands) when not. */
bool pscript_violated(const struct script_run *r, char *why, size_t cap);

#endif
