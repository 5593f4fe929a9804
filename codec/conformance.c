/*
 * conformance.c - the list of conformance places reached (conformance.h).
 */
#include "conformance.h"

static struct mqtt_conformance_site *sites;
int mqtt_conformance_on;

void mqtt_conformance_count(bool on)
{
	__atomic_store_n(&mqtt_conformance_on, on, __ATOMIC_RELAXED);
}

void mqtt_conformance_reach(struct mqtt_conformance_site *s)
{
	if (!__atomic_load_n(&s->registered, __ATOMIC_ACQUIRE)) {
		int expected = 0;
		if (__atomic_compare_exchange_n(&s->registered, &expected, 1, false, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE)) {
			/* Pushed once, by the thread that won; the list only grows. */
			struct mqtt_conformance_site *head = __atomic_load_n(&sites, __ATOMIC_ACQUIRE);
			do
				s->next = head;
			while (!__atomic_compare_exchange_n(&sites, &head, s, true, __ATOMIC_RELEASE,
			                                    __ATOMIC_ACQUIRE));
		}
	}
	/* A load and a store, not a locked add: two threads that count at
	 * once may lose one (counts only need to grow), and the simulator,
	 * which reads them, runs in one thread. */
	__atomic_store_n(&s->hits, __atomic_load_n(&s->hits, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

struct mqtt_conformance_site *mqtt_conformance_sites(void)
{
	return __atomic_load_n(&sites, __ATOMIC_ACQUIRE);
}
