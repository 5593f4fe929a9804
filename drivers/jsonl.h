/*
 * jsonl.h - what every C driver does with the protocol's lines
 * (docs/drivers.md): write an event whole, read a member.
 */
#ifndef DRIVERS_JSONL_H
#define DRIVERS_JSONL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Writes ev (consumed) as one line on standard output, flushed; any thread. */
void jsonl_emit(json_t *ev);
/* {"id":id,"event":event} */
void jsonl_reply(long id, const char *event);
/* {"id":id,"event":"error","class":cls,"text":text} */
void jsonl_error(long id, const char *cls, const char *text);
/* {"event":"log","text":text} */
void jsonl_log(const char *text);
/* {"id":id,"event":"message",...}; topic and payload as bytes (written as
 * ASCII: other bytes, as a corrupted payload has, become '?'). */
void jsonl_message(long id, const uint8_t *topic, size_t topic_len, const uint8_t *payload,
                   size_t payload_len, int qos, int dup, int retain);
/* A string member, or "" without one; an integer member, or 0. */
const char *jsonl_str(json_t *obj, const char *key);
long long jsonl_int(json_t *obj, const char *key);
/* "tcp://HOST:PORT" into host and port; 0, or -1 (not tcp://). */
int jsonl_tcp_address(const char *address, char *host, size_t hostcap, int *port);

/*
 * Commands from standard input, read on a thread of its own: each "read"
 * goes to on_read(id) at once, from that thread (the library's thread may
 * be waiting in a callback for it, while the main thread waits for the
 * library); every other command waits, in order, for jsonl_next().
 */
void jsonl_start(void (*on_read)(long id));
/* The next command (the caller owns it), or NULL at the end of input. */
json_t *jsonl_next(void);

#endif
