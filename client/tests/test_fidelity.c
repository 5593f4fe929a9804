/*
 * Stub fidelity: each situation file of fidelity/ beside this file (NAME.situation,
 * a small language of its own, not a scenario's) (a refused
 * connect, a full window, a broker gone, a refused subscription, a big
 * message, a closed client, bad input) lists client calls and the error
 * class each returns. The file runs twice: against the real client over
 * the embedded fake broker, and against mqtttest's stubs configured from
 * the same file. Both must give the file's classes (and codes), so a
 * test that stubs a situation as the file says stubs what the client
 * really does. (docs/mqtttest.md says where stubs cannot follow.)
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/fakebroker.h"
#include "mqttsim/mqtttest.h"
#include "testing/suites.h"

#define FIDELITY_DIR "client/tests/fidelity"
#define FIDELITY_EXT ".situation"

enum step_kind { S_READ, S_PUBLISH, S_SUBSCRIBE, S_UNSUBSCRIBE, S_ONLINE, S_CLOSE };

struct step {
	enum step_kind kind;
	uint8_t qos;
	size_t size;
	char topic[128];
	enum mqtt_class want;
	int code;
	bool has_code;
	unsigned line;
};

struct situation {
	char path[512];
	char rules[8][200];
	int nrules;
	bool gone;
	unsigned window;
	size_t read_buffer;
	struct step steps[32];
	int nsteps;
};

/* A failure with its own words (CU_FAIL shows only its argument's name). */
static void fail_with(const char *msg)
{
	CU_assertImplementation(CU_FALSE, 0, msg, FIDELITY_DIR, "", CU_FALSE);
}

static bool class_named(const char *word, enum mqtt_class *out)
{
	for (int c = MQTT_SUCCESS; c <= MQTT_PERSISTENCE; c++) {
		char name[40];
		snprintf(name, sizeof name, "%s", mqtt_class_name((enum mqtt_class)c));
		for (char *p = name; *p; p++)
			*p = *p == ' ' ? '-' : *p == '/' ? '\0' : (char)(*p | 0x20);
		/* "connection refused" goes by "refused", "I/O" by "io" */
		const char *alias = c == MQTT_REFUSED ? "refused" : c == MQTT_IO ? "io" : name;
		if (!strcmp(word, alias)) {
			*out = (enum mqtt_class)c;
			return true;
		}
	}
	return false;
}

/* Parses one file; on a mistake, fails the test with file:line. */
static bool load(struct situation *s, const char *path)
{
	memset(s, 0, sizeof *s);
	snprintf(s->path, sizeof s->path, "%s", path);
	s->window = 16;
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	char line[512];
	unsigned no = 0;
	bool ok = true;
	while (ok && fgets(line, sizeof line, f)) {
		no++;
		line[strcspn(line, "\n")] = 0;
		char *p = line + strspn(line, " \t");
		if (!*p || *p == '#')
			continue;
		if (!strncmp(p, "broker ", 7)) {
			if (!strcmp(p + 7, "gone"))
				s->gone = true;
			else if (s->nrules < 8)
				snprintf(s->rules[s->nrules++], sizeof s->rules[0], "%s", p + 7);
			continue;
		}
		if (!strncmp(p, "client ", 7)) {
			if (!strcmp(p + 7, "close")) {
				s->steps[s->nsteps++] = (struct step){.kind = S_CLOSE, .line = no};
			} else if (sscanf(p + 7, "window=%u", &s->window) != 1 &&
			           sscanf(p + 7, "read-buffer=%zu", &s->read_buffer) != 1) {
				ok = false;
			}
			continue;
		}
		if (!strcmp(p, "online")) {
			s->steps[s->nsteps++] = (struct step){.kind = S_ONLINE, .line = no};
			continue;
		}
		char *arrow = strstr(p, " -> ");
		if (!arrow || s->nsteps == 32) {
			ok = false;
			break;
		}
		*arrow = 0;
		struct step st = {.line = no};
		snprintf(st.topic, sizeof st.topic, "t");
		char word[64];
		int code;
		if (sscanf(arrow + 4, "%63s %d", word, &code) == 2)
			st.code = code, st.has_code = true;
		else
			sscanf(arrow + 4, "%63s", word);
		if (!class_named(word, &st.want)) {
			ok = false;
			break;
		}
		char *tok = strtok(p, " ");
		if (!strcmp(tok, "read"))
			st.kind = S_READ;
		else if (!strcmp(tok, "publish"))
			st.kind = S_PUBLISH;
		else if (!strcmp(tok, "subscribe") || !strcmp(tok, "unsubscribe"))
			st.kind = tok[0] == 's' ? S_SUBSCRIBE : S_UNSUBSCRIBE;
		else
			ok = false;
		while (ok && (tok = strtok(NULL, " "))) {
			unsigned q;
			if (sscanf(tok, "qos=%u", &q) == 1 && q <= 2)
				st.qos = (uint8_t)q;
			else if (sscanf(tok, "size=%zu", &st.size) == 1)
				;
			else if (!strncmp(tok, "topic=", 6))
				snprintf(st.topic, sizeof st.topic, "%s", tok + 6);
			else if (st.kind == S_SUBSCRIBE || st.kind == S_UNSUBSCRIBE)
				snprintf(st.topic, sizeof st.topic, "%s", tok);
			else
				ok = false;
		}
		s->steps[s->nsteps++] = st;
	}
	fclose(f);
	if (!ok) {
		char msg[600];
		snprintf(msg, sizeof msg, "%s:%u: not a fidelity line", path, no);
		fail_with(msg);
	}
	return ok;
}

/* The read routine's results, in order, for "read -> CLASS" lines. */
struct reads {
	pthread_mutex_t m;
	pthread_cond_t cv;
	struct mqtt_error got[64];
	int n;
	struct mqtt_api *api;
	atomic_bool stop;
};

static void *read_routine(void *arg)
{
	struct reads *r = arg;
	while (!atomic_load(&r->stop)) {
		struct mqtt_message msg;
		struct mqtt_error e = r->api->read.fn(r->api->read.arg, &msg);
		pthread_mutex_lock(&r->m);
		if (r->n < 64)
			r->got[r->n++] = e;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->m);
		if (e.cls == MQTT_CLOSED)
			break;
		if (e.cls && e.cls != MQTT_BIG_MESSAGE)
			mqtt_client_backoff(r->api->read.arg, NULL);
	}
	return NULL;
}

/* The next result of the read routine (5 s at most), or CLOSED at the limit. */
static struct mqtt_error next_read(struct reads *r, int *taken)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&r->m);
	while (r->n <= *taken)
		if (pthread_cond_timedwait(&r->cv, &r->m, &deadline) != 0)
			break;
	struct mqtt_error e = r->n > *taken ? r->got[(*taken)++] : (struct mqtt_error){MQTT_TIMEOUT, -1};
	pthread_mutex_unlock(&r->m);
	return e;
}

static struct mqtt_error call(const struct mqtt_api *api, const struct step *st)
{
	struct mqtt_topic f = {mqtt_slice_str(st->topic), 1};
	if (st->kind == S_SUBSCRIBE)
		return api->subscribe.fn(api->subscribe.arg, NULL, &f, 1);
	if (st->kind == S_UNSUBSCRIBE)
		return api->unsubscribe.fn(api->unsubscribe.arg, NULL, &f, 1);
	static uint8_t payload[8192];
	memset(payload, 'p', sizeof payload);
	size_t size = st->size < sizeof payload ? st->size : sizeof payload;
	struct mqtt_exchange *ex = NULL;
	struct mqtt_error e = api->publish.fn(api->publish.arg, NULL, st->qos, false,
	                                      mqtt_slice_str(st->topic), (struct mqtt_slice){payload, size},
	                                      st->qos ? &ex : NULL);
	if (ex)
		api->exchange_release(api->publish.arg, ex);
	if (!e.cls && st->qos)
		CU_ASSERT_PTR_NOT_NULL(ex); /* an accepted QoS 1/2 publish has an exchange, real or stubbed */
	return e;
}

static void judge(const struct situation *s, const struct step *st, struct mqtt_error got,
                  const char *side)
{
	if (got.cls == st->want && (!st->has_code || got.code == st->code))
		return;
	char msg[800];
	snprintf(msg, sizeof msg, "%s:%u (%s): got %s %d, the file says %s%s", s->path, st->line, side,
	         mqtt_class_name(got.cls), got.code, mqtt_class_name(st->want),
	         st->has_code ? " with its code" : "");
	fail_with(msg);
}

static void run_real(const struct situation *s)
{
	struct mqtt_fakebroker *fb = NULL;
	char where[128], err[256];
	CU_ASSERT_EQUAL_FATAL(mqtt_fakebroker_new(&fb, NULL, err, sizeof err), 0);
	CU_ASSERT_EQUAL_FATAL(mqtt_fakebroker_listen(fb, "tcp://127.0.0.1:0", where, sizeof where, err,
	                                             sizeof err), 0);
	struct mqtt_broker *b = mqtt_fakebroker_lock(fb);
	for (int i = 0; i < s->nrules; i++)
		CU_ASSERT(mqtt_broker_rule(b, s->rules[i], err, sizeof err) >= 0);
	mqtt_fakebroker_unlock(fb);
	CU_ASSERT_EQUAL_FATAL(mqtt_fakebroker_start(fb), 0);
	const char *port = strrchr(where, ':') + 1;
	if (s->gone) {
		mqtt_fakebroker_free(fb); /* its port is free again: nothing listens */
		fb = NULL;
	}
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.session.client_id = mqtt_slice_str("fidelity");
	cfg.session.clean_session = true;
	cfg.session.at_least_once_max = cfg.session.exactly_once_max = s->window;
	cfg.session.reconnect_wait_min_ms = 20;
	cfg.session.reconnect_wait_max_ms = 50;
	cfg.session.read_buffer_size = s->read_buffer;
	CU_ASSERT_EQUAL_FATAL(mqtt_dialer_tcp(&cfg.dialer, "127.0.0.1", port), 0);
	struct mqtt_client *c = NULL;
	CU_ASSERT_EQUAL_FATAL(mqtt_client_new(&c, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls,
	                      MQTT_SUCCESS);
	struct mqtt_api api;
	mqtt_api_client(&api, c);
	struct reads r = {.api = &api};
	pthread_mutex_init(&r.m, NULL);
	pthread_cond_init(&r.cv, NULL);
	pthread_t t;
	pthread_create(&t, NULL, read_routine, &r);
	int taken = 0;
	for (int i = 0; i < s->nsteps; i++) {
		const struct step *st = &s->steps[i];
		if (st->kind == S_ONLINE) {
			for (int w = 0; w < 500 && !mqtt_client_online(c); w++)
				usleep(10000);
			CU_ASSERT(mqtt_client_online(c));
		} else if (st->kind == S_CLOSE) {
			mqtt_client_close(c);
		} else if (st->kind == S_READ) {
			judge(s, st, next_read(&r, &taken), "real client");
		} else {
			judge(s, st, call(&api, st), "real client");
		}
	}
	atomic_store(&r.stop, true);
	mqtt_client_close(c);
	pthread_join(t, NULL);
	mqtt_client_free(c);
	mqtt_fakebroker_free(fb);
}

/* The same file against stubs: each call's stub set as the file says, then called. */
static void run_stubs(const struct situation *s)
{
	struct mqtt_api api;
	memset(&api, 0, sizeof api);
	struct mqtt_test_stub read = {0}, pub = {0}, sub = {0}, unsub = {0};
	mqtt_test_stub_read(&api, &read);
	CU_ASSERT_EQUAL_FATAL(mqtt_test_stub_publish(&api, &pub), 0);
	mqtt_test_stub_subscribe(&api, &sub);
	mqtt_test_stub_unsubscribe(&api, &unsub);
	for (int i = 0; i < s->nsteps; i++) {
		const struct step *st = &s->steps[i];
		struct mqtt_error want = {st->want, st->has_code ? st->code : 0};
		if (st->kind == S_READ) {
			read.transfer.err = want;
			read.transfer.topic = st->topic;
			struct mqtt_message msg;
			judge(s, st, api.read.fn(api.read.arg, &msg), "stubs");
		} else if (st->kind == S_PUBLISH) {
			pub.err = want;
			judge(s, st, call(&api, st), "stubs");
		} else if (st->kind == S_SUBSCRIBE || st->kind == S_UNSUBSCRIBE) {
			(st->kind == S_SUBSCRIBE ? &sub : &unsub)->err = want;
			judge(s, st, call(&api, st), "stubs");
		}
	}
}

static void test_situations(void)
{
	DIR *d = opendir(FIDELITY_DIR);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d); /* run from the source tree, as make test does */
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		size_t ext = strlen(FIDELITY_EXT);
		if (len <= ext || strcmp(e->d_name + len - ext, FIDELITY_EXT))
			continue;
		char path[300];
		snprintf(path, sizeof path, "%s/%.250s", FIDELITY_DIR, e->d_name);
		static struct situation s;
		if (!load(&s, path))
			continue;
		files++;
		run_real(&s);
		run_stubs(&s);
	}
	closedir(d);
	CU_ASSERT(files >= 6); /* the situations the issue names */
}

const struct test_def fidelity_tests[] = {
	{"every situation: real client and stubs agree with the file", test_situations},
	{NULL, NULL},
};
