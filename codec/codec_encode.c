/*
 * codec_encode.c - a struct mqtt_packet in, bytes out: into one buffer
 * or as iovec pieces that leave a PUBLISH payload where it lies.
 *
 * Strict encoding refuses whatever the strict decoder would refuse, so
 * this library never puts a packet on the wire that a conforming peer
 * must reject. Lenient encoding writes what it is given, so that a
 * packet decoded leniently (an MQTT 3.1 session, a capture with
 * violations) encodes back to the same bytes.
 */
#include "codec_internal.h"

#define TRY(expr)                          \
	do {                               \
		enum mqtt_err try_ = (expr); \
		if (try_)                  \
			return try_;       \
	} while (0)

/* struct iovec wants a mutable pointer; writev(2) only reads through it. */
static void *unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

static int slice_ok(struct mqtt_slice s)
{
	return s.data || !s.len;
}

/* Size of a length-prefixed field, or an error when it cannot be one. */
static enum mqtt_err field_size(struct mqtt_slice s, uint64_t *sum)
{
	if (!slice_ok(s))
		return MQTT_ERR_ARGUMENT;
	MQTT_CONFORMS("MQTT-4.7.3-3"); /* a string (a topic too) fits its 16-bit length */
	if (s.len > MQTT_STRING_MAX)
		return MQTT_ERR_STRING_LENGTH;
	*sum += 2 + (uint64_t)s.len;
	return MQTT_OK;
}

static enum mqtt_err connect_size(const struct mqtt_connect *c, uint64_t *n)
{
	*n = 1 + 1 + 2; /* level, flags, keep alive */
	TRY(field_size(c->protocol_name, n));
	TRY(field_size(c->client_id, n));
	if (c->will) {
		TRY(field_size(c->will_topic, n));
		TRY(field_size(c->will_message, n));
	}
	if (c->has_username)
		TRY(field_size(c->username, n));
	if (c->has_password)
		TRY(field_size(c->password, n));
	return MQTT_OK;
}

static enum mqtt_err subscribe_size(const struct mqtt_packet *p, uint64_t *n)
{
	const struct mqtt_subscribe *s = &p->subscribe;
	*n = 2;
	if (!s->topics) {
		if (!slice_ok(s->payload))
			return MQTT_ERR_ARGUMENT;
		*n += s->payload.len;
		return MQTT_OK;
	}
	uint64_t qos_len = p->type == MQTT_SUBSCRIBE ? 1 : 0;
	for (size_t i = 0; i < s->count; i++) {
		TRY(field_size(s->topics[i].filter, n));
		*n += qos_len;
		if (*n > MQTT_REMAINING_LENGTH_MAX)
			return MQTT_ERR_PACKET_SIZE;
	}
	return MQTT_OK;
}

/* The remaining length of p, or why it has none. */
static enum mqtt_err body_size(const struct mqtt_packet *p, uint32_t *rl)
{
	uint64_t n = 0;
	switch (p->type) {
	case MQTT_CONNECT:
		TRY(connect_size(&p->connect, &n));
		break;
	case MQTT_CONNACK:
		n = 2;
		break;
	case MQTT_PUBLISH:
		TRY(field_size(p->publish.topic, &n));
		if (!slice_ok(p->publish.payload))
			return MQTT_ERR_ARGUMENT;
		n += (p->publish.qos ? 2 : 0) + (uint64_t)p->publish.payload.len;
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		n = 2;
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		TRY(subscribe_size(p, &n));
		break;
	case MQTT_SUBACK:
		if (!slice_ok(p->suback.return_codes))
			return MQTT_ERR_ARGUMENT;
		n = 2 + (uint64_t)p->suback.return_codes.len;
		break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
	case MQTT_DISCONNECT:
		break;
	default:
		return MQTT_ERR_ARGUMENT;
	}
	if (n > MQTT_REMAINING_LENGTH_MAX)
		return MQTT_ERR_PACKET_SIZE; /* §2.2.3 */
	*rl = (uint32_t)n;
	return MQTT_OK;
}

size_t mqtt_encoded_size(const struct mqtt_packet *p)
{
	uint32_t rl;
	if (!p || body_size(p, &rl))
		return 0;
	return 1 + remaining_length_size(rl) + rl;
}

/* The strict checks; the same rules the decoder applies, cited there. */
static enum mqtt_err validate_connect(const struct mqtt_connect *c)
{
	struct mqtt_slice s = c->protocol_name;
	if (s.len != 4 || memcmp(s.data, "MQTT", 4) != 0)
		return MQTT_ERR_PROTOCOL_NAME; /* MQTT-3.1.2-1 */
	if (c->protocol_level != 4)
		return MQTT_ERR_PROTOCOL_LEVEL; /* MQTT-3.1.2-2 */
	if (c->reserved_flag)
		return MQTT_ERR_CONNECT_RESERVED; /* MQTT-3.1.2-3 */
	if (c->will ? c->will_qos > 2 : (c->will_qos || c->will_retain))
		return MQTT_ERR_WILL_FLAGS; /* MQTT-3.1.2-11, -13, -14, -15 */
	if (c->has_password && !c->has_username)
		return MQTT_ERR_PASSWORD_FLAG; /* MQTT-3.1.2-22 */
	TRY(mqtt_check_utf8(c->client_id.data, c->client_id.len, NULL)); /* MQTT-3.1.3-4 */
	if (c->will)
		TRY(mqtt_check_topic_name(c->will_topic.data, c->will_topic.len, NULL));
	if (c->has_username)
		TRY(mqtt_check_utf8(c->username.data, c->username.len, NULL)); /* MQTT-3.1.3-11 */
	return MQTT_OK;
}

static enum mqtt_err validate_subscribe(const struct mqtt_packet *p)
{
	const struct mqtt_subscribe *s = &p->subscribe;
	int with_qos = p->type == MQTT_SUBSCRIBE;
	if (s->packet_id == 0)
		return MQTT_ERR_PACKET_ID; /* MQTT-2.3.1-1 */
	if (!s->topics) {
		size_t count;
		return codec_check_topic_list(s->payload.data, s->payload.len, with_qos, &count, NULL);
	}
	if (s->count == 0)
		return MQTT_ERR_NO_TOPICS; /* MQTT-3.8.3-3, MQTT-3.10.3-2 */
	for (size_t i = 0; i < s->count; i++) {
		TRY(mqtt_check_topic_filter(s->topics[i].filter.data, s->topics[i].filter.len, NULL));
		if (with_qos && s->topics[i].qos > 2)
			return MQTT_ERR_SUBSCRIBE_OPTIONS; /* MQTT-3.8.3-4 */
	}
	return MQTT_OK;
}

static enum mqtt_err validate(const struct mqtt_packet *p)
{
	switch (p->type) {
	case MQTT_CONNECT:
		return validate_connect(&p->connect);
	case MQTT_CONNACK:
		if (p->connack.flags & 0xfe)
			return MQTT_ERR_CONNACK_FLAGS; /* §3.2.2.1 */
		if ((p->connack.flags & MQTT_CONNACK_SESSION_PRESENT) && p->connack.return_code)
			return MQTT_ERR_CONNACK_FLAGS; /* MQTT-3.2.2-4 */
		if (p->connack.return_code > MQTT_CONNACK_NOT_AUTHORIZED)
			return MQTT_ERR_CONNACK_CODE; /* §3.2.2.3 */
		return MQTT_OK;
	case MQTT_PUBLISH:
		if (p->publish.qos > 2)
			return MQTT_ERR_QOS; /* MQTT-3.3.1-4 */
		if (p->publish.dup && p->publish.qos == 0)
			return MQTT_ERR_DUP_QOS0; /* MQTT-3.3.1-2 */
		if (p->publish.qos && p->publish.packet_id == 0)
			return MQTT_ERR_PACKET_ID; /* MQTT-2.3.1-1 */
		return mqtt_check_topic_name(p->publish.topic.data, p->publish.topic.len, NULL);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		return p->ack.packet_id ? MQTT_OK : MQTT_ERR_PACKET_ID; /* MQTT-2.3.1-6, -7 */
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return validate_subscribe(p);
	case MQTT_SUBACK:
		if (p->suback.packet_id == 0)
			return MQTT_ERR_PACKET_ID; /* MQTT-2.3.1-7 */
		if (p->suback.return_codes.len == 0)
			return MQTT_ERR_NO_TOPICS;
		for (size_t i = 0; i < p->suback.return_codes.len; i++) {
			uint8_t c = p->suback.return_codes.data[i];
			if (c > 2 && c != MQTT_SUBACK_FAILURE)
				return MQTT_ERR_SUBACK_CODE; /* MQTT-3.9.3-2 */
		}
		return MQTT_OK;
	default:
		return MQTT_OK;
	}
}

/* Checks p for encoding under options and returns its remaining length. */
static enum mqtt_err prepare(const struct mqtt_packet *p, unsigned options, uint32_t *rl)
{
	if (!p)
		return MQTT_ERR_ARGUMENT;
	if (p->type == MQTT_PUBLISH && p->publish.qos > 3)
		return MQTT_ERR_ARGUMENT; /* two bits on the wire */
	if (p->type == MQTT_CONNECT && p->connect.will_qos > 3)
		return MQTT_ERR_ARGUMENT;
	TRY(body_size(p, rl));
	if (!(options & MQTT_LENIENT))
		TRY(validate(p));
	return MQTT_OK;
}

static uint8_t header_byte(const struct mqtt_packet *p, unsigned options)
{
	uint8_t flags;
	if (p->type == MQTT_PUBLISH)
		flags = (uint8_t)((p->publish.dup ? 0x08 : 0) | p->publish.qos << 1 |
		                  (p->publish.retain ? 0x01 : 0));
	else if (options & MQTT_LENIENT)
		flags = p->flags & 0x0f;
	else
		flags = required_header_flags(p->type);
	return (uint8_t)(p->type << 4 | flags);
}

static uint8_t *put_slice(uint8_t *w, struct mqtt_slice s)
{
	w = put_u16(w, (uint16_t)s.len);
	if (s.len)
		memcpy(w, s.data, s.len);
	return w + s.len;
}

static uint8_t *put_connect(uint8_t *w, const struct mqtt_connect *c)
{
	w = put_slice(w, c->protocol_name);
	*w++ = c->protocol_level;
	*w++ = (uint8_t)((c->has_username ? 0x80 : 0) | (c->has_password ? 0x40 : 0) |
	                 (c->will_retain ? 0x20 : 0) | (c->will_qos & 3) << 3 |
	                 (c->will ? 0x04 : 0) | (c->clean_session ? 0x02 : 0) |
	                 (c->reserved_flag ? 0x01 : 0));
	w = put_u16(w, c->keep_alive);
	w = put_slice(w, c->client_id);
	if (c->will) {
		w = put_slice(w, c->will_topic);
		w = put_slice(w, c->will_message);
	}
	if (c->has_username)
		w = put_slice(w, c->username);
	if (c->has_password)
		w = put_slice(w, c->password);
	return w;
}

static uint8_t *put_subscribe(uint8_t *w, const struct mqtt_packet *p)
{
	const struct mqtt_subscribe *s = &p->subscribe;
	w = put_u16(w, s->packet_id);
	if (!s->topics) {
		if (s->payload.len)
			memcpy(w, s->payload.data, s->payload.len);
		return w + s->payload.len;
	}
	for (size_t i = 0; i < s->count; i++) {
		w = put_slice(w, s->topics[i].filter);
		if (p->type == MQTT_SUBSCRIBE)
			*w++ = s->topics[i].qos;
	}
	return w;
}

static uint8_t *put_body(uint8_t *w, const struct mqtt_packet *p)
{
	switch (p->type) {
	case MQTT_CONNECT:
		return put_connect(w, &p->connect);
	case MQTT_CONNACK:
		*w++ = p->connack.flags;
		*w++ = p->connack.return_code;
		return w;
	case MQTT_PUBLISH:
		w = put_slice(w, p->publish.topic);
		if (p->publish.qos)
			w = put_u16(w, p->publish.packet_id);
		if (p->publish.payload.len)
			memcpy(w, p->publish.payload.data, p->publish.payload.len);
		return w + p->publish.payload.len;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		return put_u16(w, p->ack.packet_id);
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return put_subscribe(w, p);
	case MQTT_SUBACK:
		w = put_u16(w, p->suback.packet_id);
		if (p->suback.return_codes.len)
			memcpy(w, p->suback.return_codes.data, p->suback.return_codes.len);
		return w + p->suback.return_codes.len;
	default:
		return w;
	}
}

enum mqtt_err mqtt_encode(uint8_t *buf, size_t cap, const struct mqtt_packet *p, unsigned options,
                          size_t *written)
{
	uint32_t rl;
	TRY(prepare(p, options, &rl));
	size_t size = 1 + remaining_length_size(rl) + rl;
	if (!buf || cap < size)
		return MQTT_ERR_BUFFER_SIZE;
	uint8_t *w = buf;
	*w++ = header_byte(p, options);
	w = put_remaining_length(w, rl);
	w = put_body(w, p);
	if (written)
		*written = (size_t)(w - buf);
	return MQTT_OK;
}

enum mqtt_err mqtt_encode_iov(struct iovec iov[MQTT_IOV_MAX], int *iovcnt, uint8_t *scratch,
                              size_t scratch_cap, const struct mqtt_packet *p, unsigned options,
                              size_t *total)
{
	if (!iov || !iovcnt)
		return MQTT_ERR_ARGUMENT;
	if (!p || p->type != MQTT_PUBLISH) {
		size_t n;
		TRY(mqtt_encode(scratch, scratch_cap, p, options, &n));
		iov[0].iov_base = scratch;
		iov[0].iov_len = n;
		*iovcnt = 1;
		if (total)
			*total = n;
		return MQTT_OK;
	}

	uint32_t rl;
	TRY(prepare(p, options, &rl));
	const struct mqtt_publish *m = &p->publish;
	size_t need = 1 + remaining_length_size(rl) + 2 + (m->qos ? 2 : 0);
	if (!scratch || scratch_cap < need)
		return MQTT_ERR_BUFFER_SIZE;
	uint8_t *w = scratch;
	*w++ = header_byte(p, options);
	w = put_remaining_length(w, rl);
	w = put_u16(w, (uint16_t)m->topic.len);
	int n = 0;
	iov[n].iov_base = scratch;
	iov[n++].iov_len = (size_t)(w - scratch);
	if (m->topic.len) {
		iov[n].iov_base = unconst(m->topic.data);
		iov[n++].iov_len = m->topic.len;
	}
	if (m->qos) {
		iov[n].iov_base = w;
		iov[n++].iov_len = 2;
		w = put_u16(w, m->packet_id);
	}
	if (m->payload.len) {
		iov[n].iov_base = unconst(m->payload.data);
		iov[n++].iov_len = m->payload.len;
	}
	*iovcnt = n;
	if (total)
		*total = 1 + remaining_length_size(rl) + rl;
	return MQTT_OK;
}
