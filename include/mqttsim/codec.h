/*
 * mqttsim/codec.h - the MQTT 3.1.1 wire codec.
 *
 * NAME
 *	mqtt_decode, mqtt_encode, mqtt_encode_iov, mqtt_encoded_size,
 *	mqtt_framer_init, mqtt_framer_feed, mqtt_strerror - encode, frame
 *	and decode MQTT 3.1.1 control packets
 *
 * DESCRIPTION
 *	The codec turns bytes into packets and packets into bytes. It does
 *	no I/O, keeps no global state and never allocates: every buffer is
 *	the caller's. It is shared by the client, the fake broker and the
 *	capture reader.
 *
 *	Receiving takes two steps. A framer (struct mqtt_framer) cuts a
 *	byte stream, delivered in chunks of any size, into whole packets.
 *	mqtt_decode() then turns one whole packet into a struct
 *	mqtt_packet whose strings and payload point into the packet's
 *	bytes (zero copy).
 *
 *	Sending takes one: mqtt_encode() writes a packet into a buffer, or
 *	mqtt_encode_iov() describes it as pieces for writev(2) so that a
 *	PUBLISH payload is sent from where it lies, without a copy.
 *
 * STRICT AND LENIENT
 *	By default every check of the MQTT 3.1.1 standard that a receiver
 *	can make on a single packet is enforced, and the first failure is
 *	returned; the code comments cite the conformance statement
 *	(MQTT-x.y.z-n) each check enforces. With MQTT_LENIENT the decoder
 *	accepts MQTT 3.1 sessions (protocol name "MQIsdp", level 3) and
 *	records, rather than rejects, what 3.1.1 forbids: each such finding
 *	sets bit MQTT_VIOLATION(code) in packet->violations. Only damage
 *	that makes the packet unreadable (a field running past the end,
 *	bytes left over, a bad remaining length, a reserved packet type)
 *	is an error in both modes. The encoder takes the same option, so a
 *	packet decoded leniently encodes back to the same bytes.
 *
 *	The codec checks what one packet says. Rules that need a session
 *	(the first packet must be CONNECT, an empty client identifier needs
 *	a clean session, identifiers must match an outstanding request,
 *	an unsupported protocol level is answered with CONNACK 0x01) belong
 *	to the client and broker cores.
 *
 * THREADS
 *	Every function is reentrant. A framer is used by one thread at a
 *	time.
 */
#ifndef MQTTSIM_CODEC_H
#define MQTTSIM_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mqttsim/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Control packet types, as in the fixed header's high nibble (§2.2.1). */
enum mqtt_type {
	MQTT_CONNECT = 1,
	MQTT_CONNACK = 2,
	MQTT_PUBLISH = 3,
	MQTT_PUBACK = 4,
	MQTT_PUBREC = 5,
	MQTT_PUBREL = 6,
	MQTT_PUBCOMP = 7,
	MQTT_SUBSCRIBE = 8,
	MQTT_SUBACK = 9,
	MQTT_UNSUBSCRIBE = 10,
	MQTT_UNSUBACK = 11,
	MQTT_PINGREQ = 12,
	MQTT_PINGRESP = 13,
	MQTT_DISCONNECT = 14,
};

/*
 * Every result of the codec. MQTT_OK is zero; every other value is an
 * error. mqtt_strerror() gives a sentence for each, naming the
 * conformance statement broken where there is one.
 */
enum mqtt_err {
	MQTT_OK = 0,
	MQTT_ERR_ARGUMENT,          /* NULL where data is needed, unknown type, count out of range */
	MQTT_ERR_BUFFER_SIZE,       /* encode: the destination is too small */
	MQTT_ERR_PACKET_SIZE,       /* larger than the framer's limit, or than 268,435,455 */
	MQTT_ERR_REMAINING_LENGTH,  /* remaining length takes more than 4 bytes */
	MQTT_ERR_PACKET_TYPE,       /* reserved packet type 0 or 15 */
	MQTT_ERR_TRUNCATED,         /* a field runs past the end of the packet */
	MQTT_ERR_TRAILING,          /* bytes left after the last field */
	MQTT_ERR_HEADER_FLAGS,      /* fixed-header flags differ from Table 2.2 */
	MQTT_ERR_QOS,               /* QoS 3 */
	MQTT_ERR_DUP_QOS0,          /* DUP set on a QoS 0 PUBLISH */
	MQTT_ERR_PACKET_ID,         /* packet identifier 0 where one is required */
	MQTT_ERR_UTF8,              /* ill-formed UTF-8 */
	MQTT_ERR_UTF8_NUL,          /* U+0000 in a string */
	MQTT_ERR_STRING_LENGTH,     /* encode: a string or binary field over 65,535 bytes */
	MQTT_ERR_TOPIC_EMPTY,       /* zero-length topic name or filter */
	MQTT_ERR_TOPIC_WILDCARD,    /* '+' or '#' in a topic name */
	MQTT_ERR_FILTER_SYNTAX,     /* '#' not last or not a whole level, '+' not a whole level */
	MQTT_ERR_PROTOCOL_NAME,     /* CONNECT protocol name is not "MQTT" */
	MQTT_ERR_PROTOCOL_LEVEL,    /* CONNECT protocol level is not 4 */
	MQTT_ERR_CONNECT_RESERVED,  /* CONNECT reserved flag set */
	MQTT_ERR_WILL_FLAGS,        /* will QoS or retain without the will flag */
	MQTT_ERR_PASSWORD_FLAG,     /* password flag without the user name flag */
	MQTT_ERR_CONNACK_FLAGS,     /* reserved CONNACK flag bits, or session present on a refusal */
	MQTT_ERR_CONNACK_CODE,      /* CONNACK return code above 5 */
	MQTT_ERR_SUBSCRIBE_OPTIONS, /* reserved bits set in a requested QoS byte */
	MQTT_ERR_SUBACK_CODE,       /* SUBACK return code other than 0, 1, 2, 0x80 */
	MQTT_ERR_NO_TOPICS,         /* SUBSCRIBE, UNSUBSCRIBE or SUBACK with no entries */
	MQTT_ERR_COUNT              /* number of codes; not an error */
};

/* The bit of struct mqtt_packet.violations that records code. */
#define MQTT_VIOLATION(code) (UINT64_C(1) << (code))

/* Options of the decoder and encoder, combined with |. */
enum mqtt_option {
	MQTT_STRICT = 0,  /* MQTT 3.1.1 as standardised (the default) */
	MQTT_LENIENT = 1, /* MQTT 3.1 too; record 3.1.1 violations instead of failing */
};

/* The largest remaining length the four-byte encoding holds (§2.2.3). */
#define MQTT_REMAINING_LENGTH_MAX 268435455u
/* The largest fixed header: one type byte and four length bytes. */
#define MQTT_FIXED_HEADER_MAX 5
/* The largest string or binary field (§1.5.3). */
#define MQTT_STRING_MAX 65535u

/*
 * A read-only view of bytes owned by someone else. In a decoded packet
 * it points into the packet's bytes and is valid as long as they are;
 * for encoding, the caller's data is only read.
 */
struct mqtt_slice {
	const uint8_t *data; /* may be NULL only when len is 0 */
	size_t len;
};

/* A slice over a NUL-terminated C string (without its NUL). */
MQTTSIM_API struct mqtt_slice mqtt_slice_str(const char *s);

/* CONNECT (§3.1). */
struct mqtt_connect {
	struct mqtt_slice protocol_name; /* "MQTT", or "MQIsdp" for 3.1 */
	uint8_t protocol_level;          /* 4, or 3 for 3.1 */
	bool clean_session;
	bool will;                       /* a will topic and message follow */
	uint8_t will_qos;
	bool will_retain;
	bool has_username;
	bool has_password;
	bool reserved_flag;              /* bit 0 of the connect flags; 0 */
	uint16_t keep_alive;             /* seconds; 0 disables */
	struct mqtt_slice client_id;
	struct mqtt_slice will_topic;    /* when will */
	struct mqtt_slice will_message;  /* when will */
	struct mqtt_slice username;      /* when has_username */
	struct mqtt_slice password;      /* when has_password */
};

/* CONNACK return codes (§3.2.2.3). */
enum mqtt_connack_code {
	MQTT_CONNACK_ACCEPTED = 0,
	MQTT_CONNACK_PROTOCOL_LEVEL = 1,
	MQTT_CONNACK_CLIENT_ID = 2,
	MQTT_CONNACK_SERVER_UNAVAILABLE = 3,
	MQTT_CONNACK_BAD_CREDENTIALS = 4,
	MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

/* Bit 0 of the CONNACK acknowledge flags (§3.2.2.2). */
#define MQTT_CONNACK_SESSION_PRESENT 0x01

/* CONNACK (§3.2). */
struct mqtt_connack {
	uint8_t flags;        /* the acknowledge flags byte; bit 0 is session present */
	uint8_t return_code;  /* enum mqtt_connack_code */
};

/* PUBLISH (§3.3). */
struct mqtt_publish {
	bool dup;
	uint8_t qos;             /* 0, 1 or 2 */
	bool retain;
	struct mqtt_slice topic;
	uint16_t packet_id;      /* only with QoS 1 and 2 */
	struct mqtt_slice payload;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK. */
struct mqtt_ack {
	uint16_t packet_id;
};

/* One entry of a SUBSCRIBE (filter and requested QoS) or UNSUBSCRIBE. */
struct mqtt_topic {
	struct mqtt_slice filter;
	uint8_t qos;             /* the requested QoS byte; 0 for UNSUBSCRIBE */
};

/*
 * SUBSCRIBE (§3.8) and UNSUBSCRIBE (§3.10). To encode, point topics at
 * count entries. A decoded packet leaves topics NULL and sets payload
 * to the validated entries in wire form; read them with
 * mqtt_topic_next(). The encoder takes payload as is when topics is
 * NULL, so a decoded packet encodes back unchanged.
 */
struct mqtt_subscribe {
	uint16_t packet_id;
	size_t count;
	const struct mqtt_topic *topics;
	struct mqtt_slice payload;
};

/* SUBACK (§3.9): one return code per filter, as on the wire. */
struct mqtt_suback {
	uint16_t packet_id;
	struct mqtt_slice return_codes; /* each 0, 1, 2 or 0x80 */
};

#define MQTT_SUBACK_FAILURE 0x80

/*
 * One control packet. Set type and the member of the union that goes
 * with it; PINGREQ, PINGRESP and DISCONNECT have none.
 */
struct mqtt_packet {
	enum mqtt_type type;
	/*
	 * The fixed header's low nibble. The decoder sets it. The strict
	 * encoder ignores it and writes the flags of Table 2.2 (for
	 * PUBLISH those of dup, qos and retain); the lenient encoder
	 * writes it as given for every type but PUBLISH, so that a 3.1
	 * packet keeps its header.
	 */
	uint8_t flags;
	uint32_t remaining_length; /* set by the decoder; the encoder computes it */
	uint64_t violations;       /* lenient decode: MQTT_VIOLATION() bits */
	union {
		struct mqtt_connect connect;
		struct mqtt_connack connack;
		struct mqtt_publish publish;
		struct mqtt_ack ack;
		struct mqtt_subscribe subscribe;   /* SUBSCRIBE and UNSUBSCRIBE */
		struct mqtt_suback suback;
	};
};

/* "CONNECT", "PUBLISH", ...; "RESERVED0" and "RESERVED15" otherwise. */
MQTTSIM_API const char *mqtt_type_name(unsigned type);

/*
 * A sentence describing err, e.g. "packet identifier is zero
 * [MQTT-2.3.1-1]". Never NULL; unknown codes give "unknown error".
 */
MQTTSIM_API const char *mqtt_strerror(enum mqtt_err err);

/*
 * Decoding.
 *
 * mqtt_decode() reads the one whole packet in packet[0..len) (fixed
 * header included, as a framer yields it) into *out. Slices in *out
 * point into packet. Any previous content of *out is overwritten.
 *
 * Returns MQTT_OK, or the first check that failed. When error_at is
 * not NULL, *error_at receives the offset in packet of the byte where
 * the problem was found (for MQTT_OK, and in lenient mode, the offset
 * of the first recorded violation, or 0 when there is none).
 *
 * On MQTT_ERR_PROTOCOL_NAME and MQTT_ERR_PROTOCOL_LEVEL, out->type and
 * out->connect.protocol_name and protocol_level are set, so that a
 * server can answer with CONNACK 0x01 as MQTT-3.1.2-2 requires.
 */
MQTTSIM_API enum mqtt_err mqtt_decode(struct mqtt_packet *out, const uint8_t *packet,
                                      size_t len, unsigned options, size_t *error_at);

/*
 * Reads the next entry of a SUBSCRIBE or UNSUBSCRIBE, decoded or built
 * for encoding. Start with *cursor = 0. Returns false after the last.
 */
MQTTSIM_API bool mqtt_topic_next(const struct mqtt_packet *p, size_t *cursor,
                                 struct mqtt_topic *out);

/*
 * Encoding.
 *
 * mqtt_encoded_size() returns the size in bytes of p's encoding, fixed
 * header included, or 0 when p cannot be encoded (a field over 65,535
 * bytes, a remaining length over 268,435,455, an unknown type). It does
 * not validate content: mqtt_encode() does.
 *
 * mqtt_encode() validates p as the decoder would (with the same
 * options) and writes its encoding to buf. On success *written (when
 * not NULL) is the number of bytes. On error nothing useful is in buf,
 * and MQTT_ERR_BUFFER_SIZE means cap was less than
 * mqtt_encoded_size(p).
 */
MQTTSIM_API size_t mqtt_encoded_size(const struct mqtt_packet *p);
MQTTSIM_API enum mqtt_err mqtt_encode(uint8_t *buf, size_t cap, const struct mqtt_packet *p,
                                      unsigned options, size_t *written);

/* The most pieces mqtt_encode_iov() produces. */
#define MQTT_IOV_MAX 4
/* The scratch a PUBLISH needs: fixed header, topic length, packet id. */
#define MQTT_PUBLISH_SCRATCH (MQTT_FIXED_HEADER_MAX + 2 + 2)

/*
 * mqtt_encode_iov() validates p like mqtt_encode() and describes its
 * encoding in iov[0..*iovcnt), ready for writev(2). A PUBLISH becomes
 * up to four pieces: the fixed header and topic length (in scratch),
 * the topic and the payload (in place, where p points), and the packet
 * identifier (in scratch); its scratch need is at most
 * MQTT_PUBLISH_SCRATCH bytes (exactly: header, 2, and 2 more with
 * QoS 1 or 2). Every other type is encoded whole into scratch, which must
 * then hold mqtt_encoded_size(p) bytes. The iovecs stay valid as long
 * as scratch and the data p points to. *total (when not NULL) gets the
 * byte count.
 *
 * Errors: those of mqtt_encode(); MQTT_ERR_BUFFER_SIZE when scratch is
 * too small.
 */
MQTTSIM_API enum mqtt_err mqtt_encode_iov(struct iovec iov[MQTT_IOV_MAX], int *iovcnt,
                                          uint8_t *scratch, size_t scratch_cap,
                                          const struct mqtt_packet *p, unsigned options,
                                          size_t *total);

/*
 * Framing.
 *
 * A framer finds packet boundaries in a byte stream that arrives in
 * chunks split anywhere (one byte at a time included). A packet that
 * lies whole inside the chunk handed to mqtt_framer_feed() is returned
 * as a view into that chunk; only a packet that straddles chunks is
 * assembled in the framer's buffer, whose size is also the largest
 * packet accepted.
 */
struct mqtt_framer {
	uint8_t *buf;       /* caller's assembly buffer */
	size_t cap;         /* its size: the largest packet accepted */
	size_t have;        /* bytes of the current packet held in buf */
	size_t need;        /* size of the current packet; 0 while its header is incomplete */
	uint64_t offset;    /* stream bytes consumed so far */
	uint64_t error_at;  /* stream offset of the byte that failed */
	enum mqtt_err err;  /* sticky: after an error every feed returns it */
	size_t stream_total; /* while streaming an oversize packet: its size */
	size_t stream_done;  /* bytes of it handed out so far */
};

/*
 * A whole packet: fixed header, variable header and payload; or, for a
 * packet streamed with mqtt_framer_stream(), a piece of one.
 */
struct mqtt_frame {
	const uint8_t *data;
	size_t len;         /* 0 when no packet is complete yet */
	size_t offset;      /* where data lies in its packet: 0 but for streamed pieces */
	size_t total;       /* the packet's size: len for a whole packet */
};

/*
 * Prepares f to assemble packets of at most cap bytes in buf, which the
 * caller owns and keeps alive while f is used. cap must be at least
 * MQTT_FIXED_HEADER_MAX + 2 (the smallest useful limit).
 */
MQTTSIM_API enum mqtt_err mqtt_framer_init(struct mqtt_framer *f, uint8_t *buf, size_t cap);

/*
 * Consumes bytes from in[0..len) up to the end of the next whole
 * packet, and stores the number consumed in *consumed. When a packet
 * is complete, *frame describes it; otherwise frame->len is 0 and all
 * of in was consumed. Call again with the rest of the input until it
 * is used up.
 *
 * frame->data points either into in or into the framer's buffer: it is
 * valid until the next call on f and while in is unchanged.
 *
 * Errors (sticky; the connection is beyond repair, so close it):
 * MQTT_ERR_REMAINING_LENGTH (a fifth length byte, §2.2.3),
 * MQTT_ERR_PACKET_SIZE (the packet is larger than cap; f->need holds
 * its size). f->error_at is the stream offset of the offending byte.
 * Packet content is not checked here: mqtt_decode() does that.
 */
MQTTSIM_API enum mqtt_err mqtt_framer_feed(struct mqtt_framer *f, const uint8_t *in, size_t len,
                                           size_t *consumed, struct mqtt_frame *frame);

/*
 * After MQTT_ERR_PACKET_SIZE, hands the oversize packet out in pieces
 * instead of failing: the next feeds yield first its head (the first
 * cap bytes, fixed header included, assembled in the framer's buffer;
 * offset 0), then the rest as views into the input (offset > 0), each
 * frame with total set to the packet's size; then framing goes on as
 * before. Returns MQTT_ERR_ARGUMENT unless the framer's error is
 * MQTT_ERR_PACKET_SIZE. For receivers that read large messages on
 * demand, as the Go seed's BigMessage.
 */
MQTTSIM_API enum mqtt_err mqtt_framer_stream(struct mqtt_framer *f);

/*
 * Validation of single fields, as the codec applies them; for cores
 * that check arguments before building a packet. Each returns MQTT_OK
 * or the error, and sets *error_at (when not NULL) to the offset of
 * the offending byte.
 */
MQTTSIM_API enum mqtt_err mqtt_check_utf8(const uint8_t *s, size_t len, size_t *error_at);
MQTTSIM_API enum mqtt_err mqtt_check_topic_name(const uint8_t *s, size_t len, size_t *error_at);
MQTTSIM_API enum mqtt_err mqtt_check_topic_filter(const uint8_t *s, size_t len, size_t *error_at);

/*
 * Whether topic name matches topic filter (§4.7): '+' matches exactly
 * one level (an empty one too), '#' the parent level and any below it;
 * filters that start with a wildcard do not match names that start with
 * '$' [MQTT-4.7.2-1]. Comparison is byte for byte, case-sensitive, with
 * no normalisation. Both must be valid (mqtt_check_topic_filter(),
 * mqtt_check_topic_name()); the result is unspecified otherwise.
 */
MQTTSIM_API bool mqtt_topic_match(const uint8_t *filter, size_t filter_len, const uint8_t *name,
                                  size_t name_len);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_CODEC_H */
