/* SPDX-License-Identifier: MIT */
/*
 * echo_load: load generator for the echo benchmark.
 *
 * Opens N TCP connections to 127.0.0.1:PORT. Each connection keeps
 * `depth` messages of `size` bytes in flight: it sends depth messages in
 * one write, waits until depth*size bytes have come back, checks that
 * they equal what was sent, and repeats (depth 1 = no pipelining). One
 * thread, one io_uring, one multishot recv per connection over a ring of
 * provided buffers: the generator must spend less CPU per message than
 * the servers it drives, or msgs/s measures the generator (a recv SQE
 * per batch, as this file first had, cost it ~10% more and left it
 * saturated while the servers idled). For the same reason each batch is
 * one send that completes silently unless it fails (CQE_SKIP_SUCCESS),
 * the echo is compared inside the receive buffer, and returned buffers
 * are published once per completion batch.
 *
 * After --warmup seconds it measures for --duration seconds: messages
 * echoed per second and, when --server-pid is given, the server's CPU
 * time (utime + stime of /proc/PID/stat, all threads) over exactly that
 * window, plus its peak RSS (VmHWM) at the end, and the busy time of the
 * CPU given by --server-cpu (from /proc/stat, which also counts softirq
 * time that the per-process figure may not), and how much CPU other
 * processes took meanwhile (foreign_cpu_pct: a noisy-neighbour alarm).
 * --also-pid names one more process of the setup (the upstream behind a
 * proxy): its CPU is reported (also_cpu_pct) and not counted as foreign.
 *
 * Prints one line:
 *   RESULT msgs_per_s=... server_cpu_us_per_msg=... ... mismatches=0 errors=0
 * Exit status: 0 on success, 1 if any echoed byte differed from what was
 * sent or a connection failed, 2 on usage or setup errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { OP_SEND = 1, OP_RECV = 2 };

struct lconn {
	int fd;
	uint32_t id;
	uint64_t seq;      /* batch number                          */
	size_t got;        /* bytes of the current batch received    */
	int bad_msg;       /* last message of this batch counted bad  */
	int recv_armed;    /* its multishot recv is armed            */
	int dead;
	unsigned char *sbuf;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;  /* provided buffers for the recvs */
static unsigned char *br_mem;
static unsigned br_count, br_size, br_added;
#define BGID 1
static struct lconn *conns;
static int nconns = 256, depth = 1, msg_size = 64, port = -1;
static double duration = 10, warmup = 2;
static int server_pid = -1, server_cpu = -1, also_pid = -1;
static size_t batch;
static uint64_t msgs, mismatches, errors;
static int live;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	while (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	return sqe;
}

static inline uint64_t ud(uint32_t idx, int op)
{
	return ((uint64_t)idx << 8) | (uint64_t)op;
}

/* The constant part of every message, written once per connection:
 * conn id, index in the batch, then a pattern that depends on both. */
static void init_pattern(struct lconn *c)
{
	for (int k = 0; k < depth; k++) {
		unsigned char *m = c->sbuf + (size_t)k * (size_t)msg_size;
		uint64_t tag = ((uint64_t)c->id << 32) | (uint64_t)k;
		for (int j = 0; j < msg_size; j++)
			m[j] = (unsigned char)((tag >> ((j & 7) * 8)) + (uint64_t)j * 131u);
	}
}

/* Per batch only the first 8 bytes of each message change: the batch
 * number, so a stale or replayed echo does not compare equal. */
static void fill_batch(struct lconn *c)
{
	for (int k = 0; k < depth; k++) {
		uint64_t v = c->seq ^ ((uint64_t)c->id << 40) ^ ((uint64_t)k << 32);
		memcpy(c->sbuf + (size_t)k * (size_t)msg_size, &v, sizeof(v));
	}
}

/* The whole batch in one send without a completion unless it fails
 * (MSG_WAITALL: the kernel finishes a short send itself). The echo
 * coming back proves the send is done, so nothing waits for it. */
static void post_send(struct lconn *c)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_send(sqe, c->fd, c->sbuf, batch, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, ud(c->id, OP_SEND));
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

static void post_recv(struct lconn *c)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ud(c->id, OP_RECV));
	c->recv_armed = 1;
}

/* Give a buffer back; visible to the kernel at put_bufs_publish(). */
static void put_buf(unsigned bid)
{
	io_uring_buf_ring_add(br, br_mem + (size_t)bid * br_size, br_size, (unsigned short)bid,
			      io_uring_buf_ring_mask(br_count), (int)br_added++);
}

static void put_bufs_publish(void)
{
	io_uring_buf_ring_advance(br, (int)br_added);
	br_added = 0;
}

/* A ring of provided buffers, each at least one batch when that is
 * small, so one recv usually takes a whole echo. */
static int setup_buffers(void)
{
	struct io_uring_buf_reg reg = { 0 };
	size_t ring_bytes;
	int ret;

	br_count = 1;
	while (br_count < (unsigned)nconns * 2 && br_count < 32768)
		br_count <<= 1;
	br_size = 256;
	while (br_size < batch && br_size < 16384)
		br_size <<= 1;
	ring_bytes = (size_t)br_count * sizeof(struct io_uring_buf);
	br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	br_mem = malloc((size_t)br_count * br_size);
	if (br == MAP_FAILED || !br_mem)
		return -ENOMEM;
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = br_count;
	reg.bgid = BGID;
	ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret)
		return ret;
	io_uring_buf_ring_init(br);
	for (unsigned i = 0; i < br_count; i++)
		put_buf(i);
	put_bufs_publish();
	return 0;
}

static void start_batch(struct lconn *c)
{
	c->seq++;
	c->got = 0;
	c->bad_msg = -1;
	fill_batch(c);
	post_send(c);
}

static void kill_conn(struct lconn *c)
{
	if (!c->dead) {
		c->dead = 1;
		errors++;
		live--;
	}
}

/* Compare n echoed bytes at offset c->got of the batch with what was
 * sent, in the receive buffer itself; count each wrong message once. */
static void check_echo(struct lconn *c, const unsigned char *p, size_t n)
{
	size_t off = c->got, end = c->got + n;

	if (!memcmp(p, c->sbuf + off, n))
		return;
	while (off < end) {
		int k = (int)(off / (size_t)msg_size);
		size_t stop = (size_t)(k + 1) * (size_t)msg_size;
		if (stop > end)
			stop = end;
		if (k != c->bad_msg && memcmp(p + (off - c->got), c->sbuf + off, stop - off)) {
			mismatches++;
			c->bad_msg = k;
		}
		off = stop;
	}
}

static void batch_done(struct lconn *c)
{
	msgs += (uint64_t)depth;
	start_batch(c);
}

static void handle_cqe(struct io_uring_cqe *cqe)
{
	uint64_t u = io_uring_cqe_get_data64(cqe);
	struct lconn *c = &conns[u >> 8];
	int op = (int)(u & 0xff);
	int res = cqe->res;

	if (op == OP_SEND) { /* only failures complete (CQE_SKIP_SUCCESS) */
		if (!c->dead && res != -ECANCELED)
			kill_conn(c);
		return;
	}
	/* OP_RECV */
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->recv_armed = 0;
	if (res > 0) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		size_t n = (size_t)res;
		if (n > batch - c->got) { /* more than was sent: never right */
			mismatches++;
			n = batch - c->got;
		}
		check_echo(c, br_mem + (size_t)bid * br_size, n);
		put_buf(bid);
		c->got += n;
	}
	if (c->dead)
		return;
	if (res == 0 || (res < 0 && res != -EINTR && res != -EAGAIN && res != -ENOBUFS)) {
		kill_conn(c); /* 0: the server closed the connection */
		return;
	}
	if (!c->recv_armed)
		post_recv(c);
	if (c->got == batch)
		batch_done(c);
}

/* utime + stime of a process (all threads), in seconds */
static double proc_cpu_s(int pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ut = 0, st = 0;
	/* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime(14) stime(15) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* busy (non-idle, non-iowait) seconds of one CPU from /proc/stat */
static double cpu_busy_s(int cpu)
{
	char line[512], want[16];
	snprintf(want, sizeof(want), "cpu%d ", cpu);
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	double r = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, want, strlen(want)))
			continue;
		unsigned long long v[10] = { 0 };
		sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		       &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
		/* user nice system idle iowait irq softirq steal: busy is
		 * everything but idle, iowait and steal (the hypervisor's) */
		r = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / (double)sysconf(_SC_CLK_TCK);
		break;
	}
	fclose(f);
	return r;
}

/* user + nice + system seconds over all CPUs (the "cpu " line): with the
 * server's and our own CPU time subtracted, what other processes used */
static double all_task_cpu_s(void)
{
	char line[512];
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	double r = -1;
	if (fgets(line, sizeof(line), f) && !strncmp(line, "cpu ", 4)) {
		unsigned long long u = 0, n = 0, s = 0;
		sscanf(line + 4, "%llu %llu %llu", &u, &n, &s);
		r = (double)(u + n + s) / (double)sysconf(_SC_CLK_TCK);
	}
	fclose(f);
	return r;
}

static long proc_status_kb(int pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = atol(line + kl + 1);
			break;
		}
	fclose(f);
	return v;
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s --port P [--conns N] [--depth D] [--size BYTES] [--duration S]\n"
		"          [--warmup S] [--server-pid PID] [--server-cpu CPU] [--also-pid PID]\n",
		argv0);
	exit(2);
}

static int connect_one(const struct sockaddr_in *sin)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) == 0) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		int e = errno;
		close(fd);
		if (e != ECONNREFUSED && e != EAGAIN && e != ETIMEDOUT && e != EINTR)
			return -e;
		usleep(100 * 1000);
	}
	return -ECONNREFUSED;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i += 2) { /* --option value pairs */
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage(argv[0]);
		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--conns"))
			nconns = atoi(v);
		else if (!strcmp(a, "--depth"))
			depth = atoi(v);
		else if (!strcmp(a, "--size"))
			msg_size = atoi(v);
		else if (!strcmp(a, "--duration"))
			duration = atof(v);
		else if (!strcmp(a, "--warmup"))
			warmup = atof(v);
		else if (!strcmp(a, "--server-pid"))
			server_pid = atoi(v);
		else if (!strcmp(a, "--server-cpu"))
			server_cpu = atoi(v);
		else if (!strcmp(a, "--also-pid"))
			also_pid = atoi(v);
		else
			usage(argv[0]);
	}
	if (port <= 0 || port > 65535 || nconns <= 0 || depth <= 0 || msg_size < 8 ||
	    duration <= 0 || warmup < 0 || duration > 3600 || warmup > 3600)
		usage(argv[0]);
	batch = (size_t)depth * (size_t)msg_size;
	signal(SIGPIPE, SIG_IGN);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)nconns + 16) {
			fprintf(stderr, "echo_load: RLIMIT_NOFILE %llu too low for %d connections\n",
				(unsigned long long)rl.rlim_cur, nconns);
			return 2;
		}
	}

	unsigned entries = 1;
	while (entries < (unsigned)nconns * 2 && entries < 32768)
		entries <<= 1;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 2;
	int ret = io_uring_queue_init_params(entries, &ring, &p);
	if (ret == -EINVAL) { /* older kernel: no DEFER_TASKRUN */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 2;
		ret = io_uring_queue_init_params(entries, &ring, &p);
	}
	if (ret < 0) {
		fprintf(stderr, "echo_load: io_uring_queue_init: %s\n", strerror(-ret));
		return 2;
	}

	ret = setup_buffers();
	if (ret) {
		fprintf(stderr, "echo_load: provided buffer ring: %s (needs Linux 6.0)\n",
			strerror(-ret));
		return 2;
	}
	conns = calloc((size_t)nconns, sizeof(*conns));
	unsigned char *mem = calloc((size_t)nconns, batch);
	if (!conns || !mem) {
		fprintf(stderr, "echo_load: out of memory\n");
		return 2;
	}
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	double tc = now_s();
	for (int i = 0; i < nconns; i++) {
		struct lconn *c = &conns[i];
		c->id = (uint32_t)i;
		c->sbuf = mem + (size_t)i * batch;
		init_pattern(c);
		c->fd = connect_one(&sin);
		if (c->fd < 0) {
			fprintf(stderr, "echo_load: connect #%d: %s\n", i, strerror(-c->fd));
			return 2;
		}
	}
	double connect_s = now_s() - tc;

	live = nconns;
	for (int i = 0; i < nconns; i++) {
		post_recv(&conns[i]);
		start_batch(&conns[i]);
	}

	double t0 = now_s(), t_start = t0 + warmup, t_end = t_start + duration;
	int measuring = 0;
	uint64_t msgs0 = 0, mism0 = 0;
	double scpu0 = 0, ccpu0 = 0, core0 = 0, tm0 = 0, all0 = 0, acpu0 = 0;
	double scpu1 = 0, ccpu1 = 0, core1 = 0, tm1 = 0, all1 = 0, acpu1 = 0;
	uint64_t msgs1 = 0;

	for (;;) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };
		ret = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY) {
			fprintf(stderr, "echo_load: io_uring wait: %s\n", strerror(-ret));
			return 2;
		}
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			handle_cqe(cqe);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
		put_bufs_publish();

		double t = now_s();
		if (!measuring && t >= t_start) {
			measuring = 1;
			tm0 = t;
			msgs0 = msgs;
			mism0 = mismatches;
			(void)mism0;
			ccpu0 = self_cpu_s();
			all0 = all_task_cpu_s();
			if (server_pid > 0)
				scpu0 = proc_cpu_s(server_pid);
			if (server_cpu >= 0)
				core0 = cpu_busy_s(server_cpu);
			if (also_pid > 0)
				acpu0 = proc_cpu_s(also_pid);
		}
		if (measuring && t >= t_end) {
			tm1 = t;
			msgs1 = msgs;
			ccpu1 = self_cpu_s();
			all1 = all_task_cpu_s();
			if (server_pid > 0)
				scpu1 = proc_cpu_s(server_pid);
			if (server_cpu >= 0)
				core1 = cpu_busy_s(server_cpu);
			if (also_pid > 0)
				acpu1 = proc_cpu_s(also_pid);
			break;
		}
		if (live == 0) {
			fprintf(stderr, "echo_load: every connection failed\n");
			break;
		}
	}
	long hwm = server_pid > 0 ? proc_status_kb(server_pid, "VmHWM") : -1;

	double wall = tm1 > tm0 ? tm1 - tm0 : 0;
	uint64_t m = msgs1 - msgs0;
	double rate = wall > 0 ? (double)m / wall : 0;
	double scpu = scpu1 - scpu0, core = core1 - core0, ccpu = ccpu1 - ccpu0;
	printf("RESULT conns=%d depth=%d size=%d window_s=%.3f msgs=%llu msgs_per_s=%.0f", nconns,
	       depth, msg_size, wall, (unsigned long long)m, rate);
	if (server_pid > 0)
		printf(" server_cpu_s=%.2f server_cpu_pct=%.1f server_cpu_us_per_msg=%.4f server_hwm_kb=%ld",
		       scpu, wall > 0 ? 100 * scpu / wall : 0, m ? 1e6 * scpu / (double)m : 0, hwm);
	if (server_cpu >= 0)
		printf(" core_busy_pct=%.1f core_us_per_msg=%.4f", wall > 0 ? 100 * core / wall : 0,
		       m ? 1e6 * core / (double)m : 0);
	/* CPU used by other processes during the window, % of one core
	 * (only meaningful with --server-pid) */
	double acpu = acpu1 - acpu0;
	double foreign = (all1 - all0) - ccpu - (server_pid > 0 ? scpu : 0) - acpu;
	if (foreign < 0)
		foreign = 0;
	if (also_pid > 0)
		printf(" also_cpu_pct=%.1f", wall > 0 ? 100 * acpu / wall : 0);
	printf(" load_cpu_pct=%.1f foreign_cpu_pct=%.1f connect_s=%.2f mismatches=%llu errors=%llu\n",
	       wall > 0 ? 100 * ccpu / wall : 0, wall > 0 ? 100 * foreign / wall : 0, connect_s,
	       (unsigned long long)mismatches, (unsigned long long)errors);
	fflush(stdout);

	for (int i = 0; i < nconns; i++)
		close(conns[i].fd);
	io_uring_queue_exit(&ring);
	if (!measuring || m == 0) {
		fprintf(stderr, "echo_load: no message was echoed in the measured window\n");
		return 1;
	}
	return (mismatches || errors) ? 1 : 0;
}
