/*
 * codec_framer.c - packet boundaries in a byte stream that arrives in
 * chunks split anywhere.
 *
 * The common case, a packet lying whole inside one chunk, costs no copy:
 * the frame points into the caller's chunk. Only a packet that straddles
 * chunks is assembled in the framer's buffer.
 */
#include "codec_internal.h"

enum mqtt_err mqtt_framer_init(struct mqtt_framer *f, uint8_t *buf, size_t cap)
{
	if (!f || !buf || cap < MQTT_FIXED_HEADER_MAX + 2)
		return MQTT_ERR_ARGUMENT;
	memset(f, 0, sizeof *f);
	f->buf = buf;
	f->cap = cap;
	return MQTT_OK;
}

static enum mqtt_err fail(struct mqtt_framer *f, enum mqtt_err err, uint64_t at)
{
	f->err = err;
	f->error_at = at;
	return err;
}

/*
 * Sizes the packet whose first bytes are hdr[0..len): 0 while its
 * header is incomplete, else sets f->need or fails. hdr_offset is the
 * stream offset of hdr[0].
 */
static enum mqtt_err size_packet(struct mqtt_framer *f, const uint8_t *hdr, size_t len,
                                 uint64_t hdr_offset, size_t *size)
{
	uint32_t rl;
	*size = 0;
	if (len < 2)
		return MQTT_OK;
	int n = get_remaining_length(hdr + 1, len - 1, &rl);
	if (n < 0) /* §2.2.3: four bytes at most */
		return fail(f, MQTT_ERR_REMAINING_LENGTH, hdr_offset + 1 + 4);
	if (n == 0)
		return MQTT_OK;
	uint64_t total = 1 + (uint64_t)n + rl;
	if (total > f->cap) {
		f->need = (size_t)total;
		return fail(f, MQTT_ERR_PACKET_SIZE, hdr_offset);
	}
	*size = (size_t)total;
	return MQTT_OK;
}

enum mqtt_err mqtt_framer_stream(struct mqtt_framer *f)
{
	if (!f || f->err != MQTT_ERR_PACKET_SIZE || f->need <= f->cap)
		return MQTT_ERR_ARGUMENT;
	f->err = MQTT_OK;
	f->stream_total = f->need;
	f->stream_done = 0;
	return MQTT_OK;
}

/* The next piece of a streamed packet: its head, assembled in buf up to
 * cap bytes (header bytes already there stay), then views of the input. */
static enum mqtt_err stream_piece(struct mqtt_framer *f, const uint8_t *in, size_t len,
                                  size_t *consumed, struct mqtt_frame *frame)
{
	size_t take;
	if (f->stream_done == 0) {
		take = f->cap - f->have;
		if (take > len)
			take = len;
		memcpy(f->buf + f->have, in, take);
		f->have += take;
		if (f->have == f->cap) {
			frame->data = f->buf;
			frame->len = f->cap;
			f->stream_done = f->cap;
			f->have = 0;
		}
	} else {
		take = f->stream_total - f->stream_done;
		if (take > len)
			take = len;
		frame->data = in;
		frame->len = take;
		frame->offset = f->stream_done;
		f->stream_done += take;
	}
	if (frame->len)
		frame->total = f->stream_total;
	*consumed = take;
	f->offset += take;
	if (f->stream_done == f->stream_total) {
		f->stream_total = f->stream_done = 0;
		f->need = 0;
	}
	return MQTT_OK;
}

enum mqtt_err mqtt_framer_feed(struct mqtt_framer *f, const uint8_t *in, size_t len,
                               size_t *consumed, struct mqtt_frame *frame)
{
	if (!f || !consumed || !frame || (!in && len))
		return MQTT_ERR_ARGUMENT;
	*consumed = 0;
	frame->data = NULL;
	frame->len = frame->offset = frame->total = 0;
	if (f->err)
		return f->err;
	if (len == 0)
		return MQTT_OK; /* in may be NULL: nothing to copy from it */
	if (f->stream_total)
		return stream_piece(f, in, len, consumed, frame);

	if (f->have == 0) {
		/* Fast path: the packet may lie whole in the input. */
		size_t size;
		enum mqtt_err err = size_packet(f, in, len, f->offset, &size);
		if (err)
			return err;
		if (size && size <= len) {
			frame->data = in;
			frame->len = frame->total = size;
			*consumed = size;
			f->offset += size;
			return MQTT_OK;
		}
		/* A partial packet: keep what there is. */
		size_t take = len < f->cap ? len : f->cap;
		if (size && take > size)
			take = size;
		memcpy(f->buf, in, take);
		f->have = take;
		f->need = size;
		*consumed = take;
		f->offset += take;
		return MQTT_OK;
	}

	size_t used = 0;
	/* Complete the header one byte at a time; it is at most five. */
	while (f->need == 0 && used < len) {
		f->buf[f->have++] = in[used++];
		/* buf[0] lies at stream offset f->offset + used - f->have. */
		enum mqtt_err err = size_packet(f, f->buf, f->have, f->offset + used - f->have,
		                                &f->need);
		if (err) {
			*consumed = used;
			f->offset += used;
			return err;
		}
	}
	if (f->need) {
		size_t take = f->need - f->have;
		if (take > len - used)
			take = len - used;
		memcpy(f->buf + f->have, in + used, take);
		f->have += take;
		used += take;
	}
	*consumed = used;
	f->offset += used;
	if (f->need && f->have == f->need) {
		frame->data = f->buf;
		frame->len = frame->total = f->have;
		f->have = 0;
		f->need = 0;
	}
	return MQTT_OK;
}
