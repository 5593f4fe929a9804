/*
 * transport_tls.c - TLS connections through OpenSSL.
 *
 * Verification is on unless asked off: the chain against the given CAs
 * (or the system's), and the host name (SSL_set1_host), sent as SNI too.
 *
 * An SSL object must not be used by two threads at once, yet the client
 * reads from one thread and writes from others: a mutex serialises the
 * two. So that a read does not hold it long, the socket gets a short
 * receive timeout: a read that finds only TLS records and no data (a
 * session ticket) returns EAGAIN instead of blocking.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "mqttsim/client.h"
#include "transport.h"

#define READ_SLICE_MS 10

struct tls_dialer {
	SSL_CTX *ctx;
	BIO_METHOD *bio_method; /* the dialer's own: no global state */
	char *host, *port, *name;
	bool verify;
	char *errbuf;
	size_t errcap;
};

struct tls_conn {
	struct tls_dialer *d;   /* for its error buffer */
	bool cert_asked;        /* the broker asked for a client certificate we did not have */
	SSL *ssl;
	int fd;
	pthread_mutex_t lock;
};

static void report(char *errbuf, size_t cap, const char *what)
{
	if (!errbuf || !cap)
		return;
	unsigned long e = ERR_get_error();
	char reason[256] = "";
	if (e)
		ERR_error_string_n(e, reason, sizeof reason);
	snprintf(errbuf, cap, "%s%s%s", what, *reason ? ": " : "", reason);
	ERR_clear_error();
}

/* The broker asked for a client certificate and the dialer has none:
 * OpenSSL sends none, and the broker may end the connection for it. */
static int no_client_cert(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	(void)x509;
	(void)pkey;
	struct tls_conn *t = SSL_get_app_data(ssl);
	if (t)
		t->cert_asked = true;
	return 0;
}

/*
 * Why a connection failed, in the dialer's error buffer (called with
 * t->lock held, before the error queue is cleared): OpenSSL's reason, and
 * that the broker had asked for a client certificate that was not given
 * (with TLS 1.3 the broker refuses it after the handshake, so the first
 * read or write fails, often as a plain reset). Nothing when neither is
 * known: the error's errno says it all.
 */
static void note_failure(struct tls_conn *t)
{
	struct tls_dialer *d = t->d;
	if (!d->errbuf || !d->errcap)
		return;
	unsigned long e = ERR_peek_last_error();
	if (!e && t->cert_asked) {
		/* A write met the broker's reset: its alert, sent before the
		 * reset, may still wait to be read, and it says why. */
		char byte;
		if (SSL_read(t->ssl, &byte, 1) <= 0)
			e = ERR_peek_last_error();
	}
	char reason[256] = "";
	if (e)
		ERR_error_string_n(e, reason, sizeof reason);
	if (t->cert_asked)
		snprintf(d->errbuf, d->errcap, "TLS: the broker asked for a client certificate and none was given%s%s",
		         *reason ? "; " : "", reason);
	else if (*reason)
		snprintf(d->errbuf, d->errcap, "TLS: %s", reason);
}

static ssize_t tls_read(void *self, void *buf, size_t len)
{
	struct tls_conn *t = self;
	pthread_mutex_lock(&t->lock);
	int n = SSL_read(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	int err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, n);
	int saved = errno;
	if (err == SSL_ERROR_SSL || (err == SSL_ERROR_SYSCALL && saved != EAGAIN && saved != EWOULDBLOCK))
		note_failure(t);
	pthread_mutex_unlock(&t->lock);
	if (n > 0)
		return n;
	switch (err) {
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_SYSCALL:
		errno = saved == EAGAIN || saved == EWOULDBLOCK ? EAGAIN : saved ? saved : ECONNRESET;
		return -1;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

/* Small pieces go out together: one TLS record (and one system call)
 * for up to a record's worth of them, not one each. */
#define TLS_GATHER 16384u

static ssize_t tls_writev(void *self, const struct iovec *iov, int iovcnt)
{
	struct tls_conn *t = self;
	uint8_t gather[TLS_GATHER];
	ssize_t total = 0;
	int i = 0;
	size_t off = 0; /* into iov[i] */
	pthread_mutex_lock(&t->lock);
	while (i < iovcnt) {
		const uint8_t *p = (const uint8_t *)iov[i].iov_base + off;
		size_t n = iov[i].iov_len - off;
		if (n < TLS_GATHER && i + 1 < iovcnt) {
			n = 0;
			while (i < iovcnt && n < TLS_GATHER) {
				size_t k = iov[i].iov_len - off;
				if (k > TLS_GATHER - n)
					k = TLS_GATHER - n;
				memcpy(gather + n, (const uint8_t *)iov[i].iov_base + off, k);
				n += k;
				off += k;
				if (off == iov[i].iov_len) {
					i++;
					off = 0;
				}
			}
			p = gather;
		} else {
			if (n > INT32_MAX)
				n = INT32_MAX;
			off += n;
			if (off == iov[i].iov_len) {
				i++;
				off = 0;
			}
		}
		/* Without SSL_MODE_ENABLE_PARTIAL_WRITE, all of it or nothing. */
		int w = n ? SSL_write(t->ssl, p, (int)n) : 0;
		if (n && w <= 0) {
			int err = SSL_get_error(t->ssl, w);
			int saved = errno;
			if (err == SSL_ERROR_SSL || (err == SSL_ERROR_SYSCALL && saved != EAGAIN))
				note_failure(t);
			ERR_clear_error();
			pthread_mutex_unlock(&t->lock);
			if (total)
				return total;
			errno = err == SSL_ERROR_WANT_WRITE || saved == EAGAIN ? EAGAIN
			        : saved                                   ? saved
			                                                   : EPIPE;
			return -1;
		}
		total += w;
	}
	pthread_mutex_unlock(&t->lock);
	return total;
}

static int tls_pending(void *self)
{
	struct tls_conn *t = self;
	pthread_mutex_lock(&t->lock);
	int n = SSL_pending(t->ssl);
	pthread_mutex_unlock(&t->lock);
	return n;
}

static void tls_close(void *self)
{
	struct tls_conn *t = self;
	SSL_shutdown(t->ssl); /* close_notify; the peer's is not awaited */
	SSL_free(t->ssl);
	close(t->fd);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static const struct mqtt_conn_ops tls_ops = {tls_read, tls_writev, tls_pending, tls_close, NULL, NULL};

/*
 * A socket BIO that sends with MSG_NOSIGNAL: OpenSSL's own writes with
 * write(2), and a peer that closed would raise SIGPIPE in the
 * application. The descriptor is the BIO's data; it is not closed here.
 */
static int nosig_write(BIO *b, const char *buf, size_t len, size_t *written)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_write(b);
		return 0;
	}
	*written = (size_t)n;
	return 1;
}

static int nosig_read(BIO *b, char *buf, size_t len, size_t *got)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t n = recv(fd, buf, len, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_read(b);
		return 0;
	}
	if (n == 0)
		return 0; /* end of stream: SSL_read reports it */
	*got = (size_t)n;
	return 1;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int nosig_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

BIO_METHOD *transport_nosig_bio_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "mqttsim socket");
	if (m && (!BIO_meth_set_write_ex(m, nosig_write) || !BIO_meth_set_read_ex(m, nosig_read) ||
	          !BIO_meth_set_ctrl(m, nosig_ctrl) || !BIO_meth_set_create(m, nosig_create))) {
		BIO_meth_free(m);
		m = NULL;
	}
	return m;
}

static void set_timeouts(int fd, uint32_t rcv_ms, uint32_t snd_ms)
{
	struct timeval r = {rcv_ms / 1000, (rcv_ms % 1000) * 1000};
	struct timeval w = {snd_ms / 1000, (snd_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof r);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &w, sizeof w);
}

static int tls_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	struct tls_dialer *d = arg;
	int fd;
	int rc = transport_tcp_connect(d->host, d->port, timeout_ms, &fd);
	if (rc)
		return rc;
	struct tls_conn *t = calloc(1, sizeof *t);
	SSL *ssl = SSL_new(d->ctx);
	if (!t || !ssl) {
		free(t);
		SSL_free(ssl);
		close(fd);
		return -ENOMEM;
	}
	/* The handshake is bounded by the pause timeout on each read and write. */
	set_timeouts(fd, timeout_ms, timeout_ms);
	BIO *bio = BIO_new(d->bio_method);
	if (!bio) {
		rc = -ENOMEM;
		goto fail;
	}
	BIO_set_data(bio, (void *)(intptr_t)fd);
	SSL_set_bio(ssl, bio, bio); /* the SSL owns the BIO now */
	if (d->verify) {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (!SSL_set1_host(ssl, d->name)) {
			report(d->errbuf, d->errcap, "TLS: host name");
			rc = -EINVAL;
			goto fail;
		}
	}
	SSL_set_tlsext_host_name(ssl, d->name);
	t->d = d;
	SSL_set_app_data(ssl, t);
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK) {
			if (d->errbuf)
				snprintf(d->errbuf, d->errcap, "TLS: certificate verification failed: %s",
				         X509_verify_cert_error_string(v));
			ERR_clear_error();
			rc = -EPROTO;
		} else if (t->cert_asked) {
			note_failure(t);
			ERR_clear_error();
			rc = -ECONNREFUSED;
		} else {
			report(d->errbuf, d->errcap, "TLS: handshake failed");
			rc = -ECONNREFUSED;
		}
		goto fail;
	}
	set_timeouts(fd, READ_SLICE_MS, timeout_ms);
	t->ssl = ssl;
	t->fd = fd;
	pthread_mutex_init(&t->lock, NULL);
	out->ops = &tls_ops;
	out->self = t;
	out->fd = fd;
	return 0;
fail:
	SSL_free(ssl);
	free(t);
	close(fd);
	return rc;
}

static void tls_dialer_free(void *arg)
{
	struct tls_dialer *d = arg;
	SSL_CTX_free(d->ctx);
	BIO_meth_free(d->bio_method);
	free(d->host);
	free(d->port);
	free(d->name);
	free(d);
}

int mqtt_dialer_tls(struct mqtt_dialer *out, const char *host, const char *port,
                    const struct mqtt_tls_options *opt, char *errbuf, size_t errcap)
{
	if (!out || !host || !port)
		return -EINVAL;
	struct mqtt_tls_options none;
	memset(&none, 0, sizeof none);
	if (!opt)
		opt = &none;
	struct tls_dialer *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->errbuf = errbuf;
	d->errcap = errcap;
	d->verify = !opt->insecure_no_verify;
	d->host = strdup(host);
	d->port = strdup(port);
	d->name = strdup(opt->server_name ? opt->server_name : host);
	d->ctx = SSL_CTX_new(TLS_client_method());
	d->bio_method = transport_nosig_bio_method();
	int rc = 0;
	if (!d->host || !d->port || !d->name || !d->ctx || !d->bio_method) {
		rc = -ENOMEM;
		goto fail;
	}
	SSL_CTX_set_min_proto_version(d->ctx, TLS1_2_VERSION);
	/* A write that met EAGAIN is tried again, from a buffer that may have moved. */
	SSL_CTX_set_mode(d->ctx, SSL_MODE_AUTO_RETRY | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (d->verify) {
		SSL_CTX_set_verify(d->ctx, SSL_VERIFY_PEER, NULL);
		if (opt->ca_file || opt->ca_dir) {
			if (SSL_CTX_load_verify_locations(d->ctx, opt->ca_file, opt->ca_dir) != 1) {
				report(errbuf, errcap, "TLS: cannot load the CA file or directory");
				rc = -EINVAL;
				goto fail;
			}
		} else if (SSL_CTX_set_default_verify_paths(d->ctx) != 1) {
			report(errbuf, errcap, "TLS: cannot load the system's CAs");
			rc = -EINVAL;
			goto fail;
		}
	}
	if (opt->cert_file || opt->key_file) {
		if (!opt->cert_file || !opt->key_file) {
			if (errbuf)
				snprintf(errbuf, errcap, "TLS: a client certificate needs both a certificate and a key file");
			rc = -EINVAL;
			goto fail;
		}
		if (SSL_CTX_use_certificate_chain_file(d->ctx, opt->cert_file) != 1) {
			report(errbuf, errcap, "TLS: cannot load the client certificate");
			rc = -EINVAL;
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(d->ctx, opt->key_file, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(d->ctx) != 1) {
			report(errbuf, errcap, "TLS: cannot load the key, or it does not match the certificate");
			rc = -EINVAL;
			goto fail;
		}
	} else {
		SSL_CTX_set_client_cert_cb(d->ctx, no_client_cert);
	}
	out->dial = tls_dial;
	out->free = tls_dialer_free;
	out->arg = d;
	return 0;
fail:
	tls_dialer_free(d);
	return rc;
}
