/* SPDX-License-Identifier: MIT */
/* The server: N reactor threads. Listeners are bound in zg_server_new so
 * the port (also an ephemeral one) is known before any thread runs; each
 * reactor is created on its own thread because io_uring's SINGLE_ISSUER
 * ties a ring to the thread that creates it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

struct worker {
	struct zg_server *s;
	unsigned id;
	int cpu;                     /* -1: not pinned                     */
	int listen_fd;               /* -1: gets fds from reactor 0        */
	int tls_fd;                  /* the TLS listener, or -1            */
	pthread_t tid;
	bool started;
	struct zg_reactor *_Atomic r;
	int err;
};

struct zg_server {
	struct zg_server_config cfg;
	struct zg_handler h;
	void *udata;
	unsigned n;
	uint16_t port, tls_port;
	struct worker *w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready;              /* workers that finished starting    */
	_Atomic uint64_t stop_req;   /* deadline + 1, or 0                 */
	bool started;                /* zg_server_start ran: only once     */
	atomic_uint next;            /* round robin for ZG_ACCEPT_ONE     */
};

ZG_EXPORT void zg_server_config_init(struct zg_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->host = "0.0.0.0";
	cfg->port = 8080;
	cfg->listen_fd = -1;
	zg_reactor_config_init(&cfg->reactor);
}

static unsigned allowed_cpus(int *cpus, unsigned max)
{
	cpu_set_t set;
	unsigned n = 0;

	if (sched_getaffinity(0, sizeof(set), &set)) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		for (unsigned i = 0; i < max && (long)i < c; i++)
			cpus[n++] = (int)i;
		return n ? n : 1;
	}
	for (int i = 0; i < CPU_SETSIZE && n < max; i++)
		if (CPU_ISSET(i, &set))
			cpus[n++] = i;
	return n ? n : 1;
}

/* "unix:PATH" names a socket file, "unix:@NAME" an abstract socket. */
static int unix_addr(const char *path, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_un *un = (struct sockaddr_un *)ss;
	size_t n = strlen(path);

	if (!n || n >= sizeof(un->sun_path))
		return -EINVAL;
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, n);
	if (path[0] == '@')
		un->sun_path[0] = 0; /* abstract: the length says where it ends */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] != '@'));
	return 0;
}

static int parse_addr(const char *host, uint16_t port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(host, "unix:", 5) == 0)
		return unix_addr(host + 5, ss, len);
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static void close_listeners(struct zg_server *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (s->w[i].listen_fd >= 0)
			close(s->w[i].listen_fd);
		if (s->w[i].tls_fd >= 0)
			close(s->w[i].tls_fd);
		s->w[i].listen_fd = s->w[i].tls_fd = -1;
	}
}

/* count TCP listeners on ss (one per reactor with REUSEPORT), the first
 * bind fixing the port that the others then take; fds go to fd_of(i). */
static int bind_tcp(struct zg_server *s, struct sockaddr_storage *ss, socklen_t len,
		    unsigned count, bool tls, uint16_t *port)
{
	unsigned flags = s->cfg.accept_mode == ZG_ACCEPT_REUSEPORT ? ZG_LISTEN_REUSEPORT : 0;

	for (unsigned i = 0; i < count; i++) {
		int fd = zg__listen_socket((struct sockaddr *)ss, len, s->cfg.backlog, flags, port);
		if (fd < 0)
			return fd;
		*(tls ? &s->w[i].tls_fd : &s->w[i].listen_fd) = fd;
		if (ss->ss_family == AF_INET6)
			((struct sockaddr_in6 *)ss)->sin6_port = htons(*port);
		else
			((struct sockaddr_in *)ss)->sin_port = htons(*port);
	}
	return 0;
}

/* A Unix socket cannot be bound once per reactor: one socket, and a dup
 * of it for each other reactor that accepts (they share its queue). */
static int bind_unix(struct zg_server *s, const struct sockaddr_storage *ss, socklen_t len,
		     unsigned count)
{
	int fd = zg__listen_socket((const struct sockaddr *)ss, len, s->cfg.backlog,
				   s->cfg.listen_flags & ZG_LISTEN_UNLINK, &s->port);

	if (fd < 0)
		return fd;
	s->w[0].listen_fd = fd;
	for (unsigned i = 1; i < count; i++)
		if ((s->w[i].listen_fd = dup(fd)) < 0)
			return -errno;
	return 0;
}

/* One listener per reactor (REUSEPORT) or one in all (ACCEPT_ONE). The
 * first bind fixes the port, so port 0 gives every reactor the same
 * ephemeral port. */
static int bind_listeners(struct zg_server *s)
{
	const struct zg_server_config *cfg = &s->cfg;
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned count = cfg->accept_mode == ZG_ACCEPT_REUSEPORT ? s->n : 1;
	int ret;

	for (unsigned i = 0; i < s->n; i++)
		s->w[i].listen_fd = s->w[i].tls_fd = -1;
	if (cfg->tls && (cfg->listen_flags & ZG_LISTEN_TLS_ONLY)) {
		ret = parse_addr(cfg->host ? cfg->host : "0.0.0.0", cfg->port, &ss, &len);
		if (!ret && ss.ss_family == AF_UNIX)
			ret = -EINVAL;
		if (!ret)
			ret = bind_tcp(s, &ss, len, count, true, &s->tls_port);
		s->port = s->tls_port;
		return ret;
	}
	if (cfg->tls) {
		/* the TLS port on the same host: a listener per reactor, or
		 * reactor 0's only (TLS connections are not handed off) */
		ret = parse_addr(cfg->host ? cfg->host : "0.0.0.0", (uint16_t)cfg->tls_port, &ss, &len);
		if (!ret && ss.ss_family == AF_UNIX)
			ret = -EINVAL;
		if (!ret)
			ret = bind_tcp(s, &ss, len, count, true, &s->tls_port);
		if (ret)
			return ret;
	}
	if (cfg->listen_fd >= 0) {
		s->w[0].listen_fd = cfg->listen_fd;
		for (unsigned i = 1; i < count; i++)
			if ((s->w[i].listen_fd = dup(cfg->listen_fd)) < 0)
				return -errno;
		zg__bound_port(cfg->listen_fd, &s->port); /* IPv4 or IPv6 */
		return 0;
	}
	ret = parse_addr(cfg->host ? cfg->host : "0.0.0.0", cfg->port, &ss, &len);
	if (ret)
		return ret;
	if (ss.ss_family == AF_UNIX)
		return bind_unix(s, &ss, len, count);
	return bind_tcp(s, &ss, len, count, false, &s->port);
}

ZG_EXPORT int zg_server_new(const struct zg_server_config *cfg,
			    const struct zg_handler *handler, void *udata,
			    struct zg_server **out)
{
	struct zg_server *s;
	int cpus[CPU_SETSIZE];
	unsigned ncpu;
	int ret;

	if (!cfg || !out)
		return -EINVAL;
	*out = NULL;
	if (cfg->tls && zg__tls_client(cfg->tls)) {
		if (cfg->listen_fd >= 0) /* ours from here, even on failure */
			close(cfg->listen_fd);
		return -EINVAL;
	}
	ncpu = allowed_cpus(cpus, CPU_SETSIZE);
	s = calloc(1, sizeof(*s));
	if (s) {
		s->n = cfg->threads ? cfg->threads : ncpu;
		s->w = calloc(s->n, sizeof(*s->w));
	}
	if (!s || !s->w) {
		if (cfg->listen_fd >= 0) /* ours from here, even on failure */
			close(cfg->listen_fd);
		free(s);
		return -ENOMEM;
	}
	s->cfg = *cfg;
	s->cfg.tls = zg__tls_ref(cfg->tls);
	if (handler)
		s->h = *handler;
	s->udata = udata;
	for (unsigned i = 0; i < s->n; i++) {
		s->w[i].s = s;
		s->w[i].id = i;
		s->w[i].cpu = cfg->pin_threads ? cpus[i % ncpu] : -1;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	ret = bind_listeners(s);
	if (ret) {
		zg_server_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

struct handoff {
	struct zg_reactor *r;
	int fd;
};

static void adopt_posted(void *arg)
{
	struct handoff *h = arg;
	zg_reactor_adopt(h->r, h->fd);
	free(h);
}

/* ZG_ACCEPT_ONE: reactor 0 accepted fd; give it to the next reactor. */
bool zg__server_handoff(struct zg_reactor *r, int fd)
{
	struct zg_server *s = r->server;
	unsigned i = atomic_fetch_add(&s->next, 1) % s->n;
	struct zg_reactor *t = atomic_load(&s->w[i].r);
	struct handoff *h;

	if (!t || t == r)
		return false;
	h = malloc(sizeof(*h));
	if (!h)
		return false;
	h->r = t;
	h->fd = fd;
	if (zg_reactor_post(t, adopt_posted, h)) {
		free(h);
		return false;
	}
	return true;
}

/* Reactors are freed here, not in wait: a signal handler may still call
 * zg_server_stop (which touches them) until the server is freed. */
static void free_reactors(struct zg_server *s)
{
	for (unsigned i = 0; i < s->n; i++)
		zg_reactor_free(atomic_exchange(&s->w[i].r, NULL));
}

static void started(struct worker *w, int err)
{
	struct zg_server *s = w->s;

	pthread_mutex_lock(&s->lock);
	w->err = err;
	s->ready++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct zg_server *s = w->s;
	struct zg_reactor *r;
	uint64_t stop;
	int ret;

	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	ret = zg_reactor_new(&s->cfg.reactor, &s->h, s->udata, &r);
	if (ret) {
		started(w, ret);
		return NULL;
	}
	r->id = w->id;
	r->server = s;
	r->handoff = s->cfg.accept_mode == ZG_ACCEPT_ONE && s->n > 1;
	/* on success the reactor owns each fd; on failure the server
	 * still does, and closes it when freed */
	if (w->listen_fd >= 0 && !(ret = zg_reactor_listen_fd(r, w->listen_fd)))
		w->listen_fd = -1;
	if (!ret && w->tls_fd >= 0 && !(ret = zg__listen_fd_tls(r, w->tls_fd, s->cfg.tls)))
		w->tls_fd = -1;
	if (!ret && s->cfg.on_reactor_start)
		s->cfg.on_reactor_start(r, s->udata);
	atomic_store(&w->r, r);
	stop = atomic_load(&s->stop_req);
	if (stop)
		zg_reactor_stop(r, (unsigned)(stop - 1));
	started(w, ret);
	if (!ret)
		ret = zg_reactor_run(r);
	if (s->cfg.on_reactor_stop)
		s->cfg.on_reactor_stop(r, s->udata);
	w->err = ret;
	return NULL;
}

ZG_EXPORT int zg_server_start(struct zg_server *s)
{
	int ret = 0;

	/* The reactors take over the listeners, so a second start would
	 * have none (and would leak the first reactors). */
	if (s->started)
		return -EALREADY;
	s->started = true;

	for (unsigned i = 0; i < s->n; i++) {
		ret = -pthread_create(&s->w[i].tid, NULL, worker_main, &s->w[i]);
		if (ret) {
			for (unsigned j = i; j < s->n; j++)
				started(&s->w[j], ret);
			break;
		}
		s->w[i].started = true;
	}
	pthread_mutex_lock(&s->lock);
	while (s->ready < s->n)
		pthread_cond_wait(&s->cond, &s->lock);
	for (unsigned i = 0; i < s->n && !ret; i++)
		ret = s->w[i].err;
	pthread_mutex_unlock(&s->lock);
	if (ret) {
		zg_server_stop(s, 0);
		zg_server_wait(s);
		free_reactors(s);
	}
	return ret;
}

ZG_EXPORT void zg_server_stop(struct zg_server *s, unsigned deadline_ms)
{
	uint64_t expect = 0;

	atomic_compare_exchange_strong(&s->stop_req, &expect, (uint64_t)deadline_ms + 1);
	for (unsigned i = 0; i < s->n; i++) {
		struct zg_reactor *r = atomic_load(&s->w[i].r);
		if (r)
			zg_reactor_stop(r, deadline_ms);
	}
}

ZG_EXPORT int zg_server_wait(struct zg_server *s)
{
	int ret = 0;

	for (unsigned i = 0; i < s->n; i++) {
		struct worker *w = &s->w[i];
		if (!w->started)
			continue;
		pthread_join(w->tid, NULL);
		w->started = false;
		if (!ret)
			ret = w->err;
	}
	return ret;
}

ZG_EXPORT void zg_server_free(struct zg_server *s)
{
	if (!s)
		return;
	zg_server_stop(s, 0);
	zg_server_wait(s);
	free_reactors(s);
	close_listeners(s);
	zg_tls_free(s->cfg.tls);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s->w);
	free(s);
}

ZG_EXPORT uint16_t zg_server_port(const struct zg_server *s) { return s->port; }
ZG_EXPORT uint16_t zg_server_tls_port(const struct zg_server *s) { return s->tls_port; }
ZG_EXPORT unsigned zg_server_threads(const struct zg_server *s) { return s->n; }

ZG_EXPORT struct zg_reactor *zg_server_reactor(const struct zg_server *s, unsigned i)
{
	return i < s->n ? atomic_load(&((struct zg_server *)s)->w[i].r) : NULL;
}
