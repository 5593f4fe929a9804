/*
 * codec_decode.c - one whole packet in, a struct mqtt_packet out.
 *
 * Each check cites the conformance statement it enforces. A check of
 * what 3.1.1 forbids goes through violation(), which fails in strict
 * mode and records in lenient mode; damage that leaves the packet
 * unreadable goes through malformed(), which fails in both.
 */
#include "codec_internal.h"

struct reader {
	const uint8_t *p;
	size_t pos, end;
	int lenient;
	uint64_t violations;
	size_t first_violation_at;
	size_t error_at;
};

static enum mqtt_err malformed(struct reader *r, enum mqtt_err code, size_t at)
{
	r->error_at = at;
	return code;
}

static enum mqtt_err violation(struct reader *r, enum mqtt_err code, size_t at)
{
	if (!r->lenient)
		return malformed(r, code, at);
	if (!r->violations)
		r->first_violation_at = at;
	r->violations |= MQTT_VIOLATION(code);
	return MQTT_OK;
}

#define TRY(expr)                          \
	do {                               \
		enum mqtt_err try_ = (expr); \
		if (try_)                  \
			return try_;       \
	} while (0)

static enum mqtt_err read_u8(struct reader *r, uint8_t *v)
{
	if (r->end - r->pos < 1)
		return malformed(r, MQTT_ERR_TRUNCATED, r->end);
	*v = r->p[r->pos++];
	return MQTT_OK;
}

static enum mqtt_err read_u16(struct reader *r, uint16_t *v)
{
	if (r->end - r->pos < 2)
		return malformed(r, MQTT_ERR_TRUNCATED, r->end);
	*v = get_u16(r->p + r->pos);
	r->pos += 2;
	return MQTT_OK;
}

/* A field with a two-byte length prefix (§1.5.3 strings, §3.1.3 binary). */
static enum mqtt_err read_slice(struct reader *r, struct mqtt_slice *s)
{
	uint16_t n;
	TRY(read_u16(r, &n));
	if (r->end - r->pos < n)
		return malformed(r, MQTT_ERR_TRUNCATED, r->end);
	s->data = r->p + r->pos;
	s->len = n;
	r->pos += n;
	return MQTT_OK;
}

enum string_kind { UTF8_STRING, TOPIC_NAME, TOPIC_FILTER };

/* A UTF-8 string field checked as kind says. */
static enum mqtt_err read_string(struct reader *r, struct mqtt_slice *s, enum string_kind kind)
{
	TRY(read_slice(r, s));
	size_t at = 0;
	enum mqtt_err err;
	switch (kind) {
	case TOPIC_NAME: err = mqtt_check_topic_name(s->data, s->len, &at); break;
	case TOPIC_FILTER: err = mqtt_check_topic_filter(s->data, s->len, &at); break;
	default: err = mqtt_check_utf8(s->data, s->len, &at); break;
	}
	if (err)
		return violation(r, err, (size_t)(s->data - r->p) + at);
	return MQTT_OK;
}

/* A packet identifier that must not be zero [MQTT-2.3.1-1]; acks carry
 * the identifier of what they acknowledge [MQTT-2.3.1-6, MQTT-2.3.1-7],
 * so the same holds for them. */
static enum mqtt_err read_packet_id(struct reader *r, uint16_t *id)
{
	size_t at = r->pos;
	TRY(read_u16(r, id));
	MQTT_CONFORMS("MQTT-2.3.1-1");
	if (*id == 0)
		return violation(r, MQTT_ERR_PACKET_ID, at);
	return MQTT_OK;
}

static int slice_is(struct mqtt_slice s, const char *lit, size_t n)
{
	return s.len == n && memcmp(s.data, lit, n) == 0;
}

static enum mqtt_err decode_connect(struct reader *r, struct mqtt_connect *c)
{
	size_t name_at = r->pos;
	TRY(read_slice(r, &c->protocol_name));
	TRY(read_u8(r, &c->protocol_level));
	int v311 = slice_is(c->protocol_name, "MQTT", 4);
	int v31 = slice_is(c->protocol_name, "MQIsdp", 6);
	MQTT_CONFORMS("MQTT-3.1.2-1");
	MQTT_CONFORMS("MQTT-3.1.2-2");
	if (!r->lenient || !(v31 && c->protocol_level == 3)) {
		if (!v311)
			TRY(violation(r, MQTT_ERR_PROTOCOL_NAME, name_at)); /* MQTT-3.1.2-1 */
		else if (c->protocol_level != 4)
			TRY(violation(r, MQTT_ERR_PROTOCOL_LEVEL, r->pos - 1)); /* MQTT-3.1.2-2 */
	}

	size_t flags_at = r->pos;
	uint8_t flags;
	TRY(read_u8(r, &flags));
	c->reserved_flag = flags & 0x01;
	c->clean_session = flags & 0x02;
	c->will = flags & 0x04;
	c->will_qos = (flags >> 3) & 0x03;
	c->will_retain = flags & 0x20;
	c->has_password = flags & 0x40;
	c->has_username = flags & 0x80;
	MQTT_CONFORMS("MQTT-3.1.2-3");
	if (c->reserved_flag)
		TRY(violation(r, MQTT_ERR_CONNECT_RESERVED, flags_at)); /* MQTT-3.1.2-3 */
	if (c->will) {
		MQTT_CONFORMS("MQTT-3.1.2-9");
		MQTT_CONFORMS("MQTT-3.1.2-14");
	} else {
		MQTT_CONFORMS("MQTT-3.1.2-11");
		MQTT_CONFORMS("MQTT-3.1.2-13");
		MQTT_CONFORMS("MQTT-3.1.2-15");
	}
	if (c->has_username)
		MQTT_CONFORMS("MQTT-3.1.2-19");
	else
		MQTT_CONFORMS("MQTT-3.1.2-18");
	if (c->has_password)
		MQTT_CONFORMS("MQTT-3.1.2-21");
	else
		MQTT_CONFORMS("MQTT-3.1.2-20");
	MQTT_CONFORMS("MQTT-3.1.2-22");
	if (!c->will && (c->will_qos || c->will_retain))
		TRY(violation(r, MQTT_ERR_WILL_FLAGS, flags_at)); /* MQTT-3.1.2-11, -13, -15 */
	if (c->will && c->will_qos == 3)
		TRY(violation(r, MQTT_ERR_WILL_FLAGS, flags_at)); /* MQTT-3.1.2-14 */
	if (c->has_password && !c->has_username)
		TRY(violation(r, MQTT_ERR_PASSWORD_FLAG, flags_at)); /* MQTT-3.1.2-22 */
	TRY(read_u16(r, &c->keep_alive));

	/* The payload fields come in this order when present [MQTT-3.1.3-1],
	 * the client id first [MQTT-3.1.3-3]. */
	MQTT_CONFORMS("MQTT-3.1.3-1");
	MQTT_CONFORMS("MQTT-3.1.3-3");
	MQTT_CONFORMS("MQTT-3.1.3-4");
	TRY(read_string(r, &c->client_id, UTF8_STRING)); /* MQTT-3.1.3-4 */
	if (c->will) {
		MQTT_CONFORMS("MQTT-3.1.3-10");
		TRY(read_string(r, &c->will_topic, TOPIC_NAME)); /* MQTT-3.1.3-10 */
		TRY(read_slice(r, &c->will_message));
	}
	if (c->has_username) {
		MQTT_CONFORMS("MQTT-3.1.3-11");
		TRY(read_string(r, &c->username, UTF8_STRING)); /* MQTT-3.1.3-11 */
	}
	if (c->has_password)
		TRY(read_slice(r, &c->password));
	return MQTT_OK;
}

static enum mqtt_err decode_connack(struct reader *r, struct mqtt_connack *a)
{
	TRY(read_u8(r, &a->flags));
	TRY(read_u8(r, &a->return_code));
	/* Bits 7-1 of the acknowledge flags are reserved (§3.2.2.1). */
	if (a->flags & 0xfe)
		TRY(violation(r, MQTT_ERR_CONNACK_FLAGS, r->pos - 2));
	/* A refusal has session present 0 [MQTT-3.2.2-4]. */
	if (a->return_code != 0)
		MQTT_CONFORMS("MQTT-3.2.2-4");
	if ((a->flags & MQTT_CONNACK_SESSION_PRESENT) && a->return_code != 0)
		TRY(violation(r, MQTT_ERR_CONNACK_FLAGS, r->pos - 2));
	/* Return codes 6-255 are reserved (§3.2.2.3). */
	if (a->return_code > MQTT_CONNACK_NOT_AUTHORIZED)
		TRY(violation(r, MQTT_ERR_CONNACK_CODE, r->pos - 1));
	return MQTT_OK;
}

static enum mqtt_err decode_publish(struct reader *r, uint8_t flags, struct mqtt_publish *m)
{
	m->dup = flags & 0x08;
	m->qos = (flags >> 1) & 0x03;
	m->retain = flags & 0x01;
	MQTT_CONFORMS("MQTT-3.3.1-4");
	if (m->qos == 3)
		TRY(violation(r, MQTT_ERR_QOS, 0)); /* MQTT-3.3.1-4 */
	if (m->qos == 0) {
		MQTT_CONFORMS("MQTT-3.3.1-2");
		MQTT_CONFORMS("MQTT-2.3.1-5");
	}
	if (m->dup && m->qos == 0)
		TRY(violation(r, MQTT_ERR_DUP_QOS0, 0)); /* MQTT-3.3.1-2 */
	/* MQTT-3.3.2-1 (UTF-8), MQTT-3.3.2-2 (no wildcards), MQTT-4.7.3-1 (not empty) */
	TRY(read_string(r, &m->topic, TOPIC_NAME));
	/* QoS 0 carries no identifier [MQTT-2.3.1-5]; QoS 3 is read as a QoS > 0. */
	if (m->qos != 0)
		TRY(read_packet_id(r, &m->packet_id));
	m->payload.data = r->p + r->pos;
	m->payload.len = r->end - r->pos;
	r->pos = r->end;
	return MQTT_OK;
}

/*
 * The entry list of a SUBSCRIBE (with_qos) or UNSUBSCRIBE, from r->pos
 * to r->end. Shared with the encoder, which validates a raw payload
 * through it.
 */
static enum mqtt_err read_topic_list(struct reader *r, int with_qos, size_t *count)
{
	size_t start = r->pos;
	*count = 0;
	while (r->pos < r->end) {
		struct mqtt_slice filter;
		/* MQTT-3.8.3-1, MQTT-3.10.3-1 (UTF-8); MQTT-4.7.1-2, -3 (wildcards) */
		if (with_qos)
			MQTT_CONFORMS("MQTT-3.8.3-1");
		else
			MQTT_CONFORMS("MQTT-3.10.3-1");
		TRY(read_string(r, &filter, TOPIC_FILTER));
		if (with_qos) {
			uint8_t q;
			TRY(read_u8(r, &q));
			MQTT_CONFORMS("MQTT-3.8.3-4");
			if ((q & 0xfc) || q == 3)
				TRY(violation(r, MQTT_ERR_SUBSCRIBE_OPTIONS, r->pos - 1)); /* MQTT-3.8.3-4 */
		}
		(*count)++;
	}
	if (with_qos)
		MQTT_CONFORMS("MQTT-3.8.3-3");
	else
		MQTT_CONFORMS("MQTT-3.10.3-2");
	if (*count == 0) /* MQTT-3.8.3-3, MQTT-3.10.3-2 */
		TRY(violation(r, MQTT_ERR_NO_TOPICS, start));
	return MQTT_OK;
}

static enum mqtt_err decode_subscribe(struct reader *r, int with_qos, struct mqtt_subscribe *s)
{
	TRY(read_packet_id(r, &s->packet_id));
	s->payload.data = r->p + r->pos;
	s->payload.len = r->end - r->pos;
	s->topics = NULL;
	return read_topic_list(r, with_qos, &s->count);
}

static enum mqtt_err decode_suback(struct reader *r, struct mqtt_suback *s)
{
	TRY(read_packet_id(r, &s->packet_id));
	s->return_codes.data = r->p + r->pos;
	s->return_codes.len = r->end - r->pos;
	if (s->return_codes.len == 0)
		TRY(violation(r, MQTT_ERR_NO_TOPICS, r->pos));
	MQTT_CONFORMS("MQTT-3.9.3-2");
	for (; r->pos < r->end; r->pos++) {
		uint8_t c = r->p[r->pos];
		if (c > 2 && c != MQTT_SUBACK_FAILURE)
			TRY(violation(r, MQTT_ERR_SUBACK_CODE, r->pos)); /* MQTT-3.9.3-2 */
	}
	return MQTT_OK;
}

static enum mqtt_err decode_body(struct reader *r, struct mqtt_packet *out)
{
	/* Reserved flag bits must hold Table 2.2's values [MQTT-2.2.2-1];
	 * a receiver closes the connection otherwise [MQTT-2.2.2-2]. */
	MQTT_CONFORMS("MQTT-2.2.2-1");
	MQTT_CONFORMS("MQTT-2.2.2-2");
	if (out->type == MQTT_PUBREL)
		MQTT_CONFORMS("MQTT-3.6.1-1");
	else if (out->type == MQTT_SUBSCRIBE)
		MQTT_CONFORMS("MQTT-3.8.1-1");
	else if (out->type == MQTT_UNSUBSCRIBE)
		MQTT_CONFORMS("MQTT-3.10.1-1");
	else if (out->type == MQTT_DISCONNECT)
		MQTT_CONFORMS("MQTT-3.14.1-1");
	if (out->type != MQTT_PUBLISH && out->flags != required_header_flags(out->type))
		TRY(violation(r, MQTT_ERR_HEADER_FLAGS, 0));

	switch (out->type) {
	case MQTT_CONNECT: return decode_connect(r, &out->connect);
	case MQTT_CONNACK: return decode_connack(r, &out->connack);
	case MQTT_PUBLISH: return decode_publish(r, out->flags, &out->publish);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK: return read_packet_id(r, &out->ack.packet_id);
	case MQTT_SUBSCRIBE: return decode_subscribe(r, 1, &out->subscribe);
	case MQTT_UNSUBSCRIBE: return decode_subscribe(r, 0, &out->subscribe);
	case MQTT_SUBACK: return decode_suback(r, &out->suback);
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
	case MQTT_DISCONNECT: return MQTT_OK;
	}
	return malformed(r, MQTT_ERR_PACKET_TYPE, 0);
}

enum mqtt_err mqtt_decode(struct mqtt_packet *out, const uint8_t *packet, size_t len,
                          unsigned options, size_t *error_at)
{
	struct reader r = {.p = packet, .lenient = (options & MQTT_LENIENT) != 0};
	enum mqtt_err err = MQTT_OK;
	size_t dummy;
	if (!error_at)
		error_at = &dummy;
	*error_at = 0;
	if (!out || (!packet && len))
		return MQTT_ERR_ARGUMENT;
	memset(out, 0, sizeof *out);
	if (len < 2) {
		*error_at = len;
		return MQTT_ERR_TRUNCATED;
	}

	unsigned type = packet[0] >> 4;
	if (type == 0 || type == 15)
		return MQTT_ERR_PACKET_TYPE; /* §2.2.1: reserved */
	uint32_t rl;
	int n = get_remaining_length(packet + 1, len - 1, &rl);
	if (n < 0) {
		*error_at = 4;
		return MQTT_ERR_REMAINING_LENGTH;
	}
	if (n == 0 || rl > len - 1 - (size_t)n) {
		*error_at = len;
		return MQTT_ERR_TRUNCATED;
	}
	out->type = (enum mqtt_type)type;
	out->flags = packet[0] & 0x0f;
	out->remaining_length = rl;
	r.pos = 1 + (size_t)n;
	r.end = r.pos + rl;
	if (r.end != len) {
		*error_at = r.end;
		return MQTT_ERR_TRAILING;
	}

	err = decode_body(&r, out);
	if (!err && r.pos != r.end)
		err = malformed(&r, MQTT_ERR_TRAILING, r.pos);
	if (err) {
		*error_at = r.error_at;
		/* Keep what a server needs for CONNACK 0x01 [MQTT-3.1.2-2]. */
		if (err != MQTT_ERR_PROTOCOL_NAME && err != MQTT_ERR_PROTOCOL_LEVEL) {
			memset(out, 0, sizeof *out);
		} else {
			struct mqtt_connect keep = out->connect;
			memset(out, 0, sizeof *out);
			out->type = MQTT_CONNECT;
			out->connect.protocol_name = keep.protocol_name;
			out->connect.protocol_level = keep.protocol_level;
		}
		return err;
	}
	out->violations = r.violations;
	*error_at = r.first_violation_at;
	return MQTT_OK;
}

enum mqtt_err codec_check_topic_list(const uint8_t *payload, size_t len, int with_qos,
                                     size_t *count, size_t *error_at)
{
	struct reader r = {.p = payload, .pos = 0, .end = len};
	enum mqtt_err err = read_topic_list(&r, with_qos, count);
	if (err && error_at)
		*error_at = r.error_at;
	return err;
}

bool mqtt_topic_next(const struct mqtt_packet *p, size_t *cursor, struct mqtt_topic *out)
{
	if (!p || !cursor || !out || (p->type != MQTT_SUBSCRIBE && p->type != MQTT_UNSUBSCRIBE))
		return false;
	const struct mqtt_subscribe *s = &p->subscribe;
	if (s->topics) {
		if (*cursor >= s->count)
			return false;
		*out = s->topics[(*cursor)++];
		return true;
	}
	size_t qos_len = p->type == MQTT_SUBSCRIBE ? 1 : 0;
	size_t at = *cursor, end = s->payload.len;
	const uint8_t *d = s->payload.data;
	if (at > end || end - at < 2)
		return false;
	size_t n = get_u16(d + at);
	if (end - at - 2 < n + qos_len)
		return false;
	out->filter.data = d + at + 2;
	out->filter.len = n;
	out->qos = qos_len ? d[at + 2 + n] : 0;
	*cursor = at + 2 + n + qos_len;
	return true;
}
