/*
 * passwd.c - user secrets: plain text, or the hashes mosquitto_passwd(1)
 * writes ("$6$salt$hash": SHA-512 of password then salt; and
 * "$7$iterations$salt$hash": PBKDF2-HMAC-SHA512), salt and hash in
 * base64. Comparison takes the same time whatever the input.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"

#define HASH_LEN 64 /* SHA-512 */
#define SALT_MAX 64

/* Decodes base64 text[0..len) into out (cap bytes); returns the byte count or -1. */
static int b64_decode(const char *text, size_t len, uint8_t *out, size_t cap)
{
	if (len == 0 || len % 4 || len / 4 * 3 > cap)
		return -1;
	int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
	if (n < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding as data bytes. */
	if (text[len - 1] == '=')
		n--;
	if (text[len - 2] == '=')
		n--;
	return n;
}

struct hashed {
	int kind;           /* 0 plain, 6 or 7 */
	unsigned long iterations;
	uint8_t salt[SALT_MAX];
	int salt_len;
	uint8_t hash[HASH_LEN + 3];
	int hash_len;
};

static int parse(const char *secret, struct hashed *h)
{
	memset(h, 0, sizeof *h);
	if (secret[0] != '$' || (secret[1] != '6' && secret[1] != '7') || secret[2] != '$')
		return 0; /* plain text */
	h->kind = secret[1] - '0';
	const char *p = secret + 3;
	if (h->kind == 7) {
		char *end;
		h->iterations = strtoul(p, &end, 10);
		if (end == p || *end != '$' || h->iterations == 0 || h->iterations > 100000000)
			return -1;
		p = end + 1;
	}
	const char *dollar = strchr(p, '$');
	if (!dollar)
		return -1;
	h->salt_len = b64_decode(p, (size_t)(dollar - p), h->salt, sizeof h->salt);
	h->hash_len = b64_decode(dollar + 1, strlen(dollar + 1), h->hash, sizeof h->hash);
	if (h->salt_len <= 0 || h->hash_len != HASH_LEN)
		return -1;
	return 0;
}

int broker_secret_valid(const char *secret)
{
	struct hashed h;
	return parse(secret, &h);
}

int broker_check_secret(const char *secret, const uint8_t *password, size_t len)
{
	struct hashed h;
	if (parse(secret, &h) != 0)
		return -1;
	if (h.kind == 0) {
		size_t n = strlen(secret);
		/* The length is not secret; the content is compared in constant time. */
		return n == len && CRYPTO_memcmp(secret, password, len) == 0 ? 0 : -1;
	}
	uint8_t got[HASH_LEN];
	if (h.kind == 6) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		unsigned int n = 0;
		int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) &&
		         EVP_DigestUpdate(ctx, password, len) &&
		         EVP_DigestUpdate(ctx, h.salt, (size_t)h.salt_len) &&
		         EVP_DigestFinal_ex(ctx, got, &n) && n == HASH_LEN;
		EVP_MD_CTX_free(ctx);
		if (!ok)
			return -1;
	} else if (!PKCS5_PBKDF2_HMAC((const char *)password, (int)len, h.salt, h.salt_len,
	                              (int)h.iterations, EVP_sha512(), HASH_LEN, got)) {
		return -1;
	}
	return CRYPTO_memcmp(got, h.hash, HASH_LEN) == 0 ? 0 : -1;
}
