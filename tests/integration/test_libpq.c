/* SPDX-License-Identifier: MIT */
/* libpq on watches (issue 9, item 3), against a real PostgreSQL server
 * this file starts itself, while the same reactor serves TCP:
 *
 *  - the cluster: initdb and postgres as an unprivileged user (when run
 *    as root: ZG_PG_USER, else zgtest if it exists, else nobody) in a
 *    temporary directory (in /dev/shm if it is a tmpfs with room, else
 *    /tmp) owned by that user, on a free port, listening on
 *    127.0.0.1 (password, scram-sha-256) and a Unix socket in that
 *    directory (trust); stopped with an immediate shutdown at the end.
 *    Also on failure: the postmaster has PR_SET_PDEATHSIG (it dies with
 *    this process however it dies), a reaper process removes the
 *    directory if this process dies without doing it, and a 28 s alarm
 *    ends a hung run. No server binaries: exit 77 saying so.
 *  - the connection: PQconnectStart, then every PQconnectPoll runs in a
 *    watch callback with the interest it asked for (the TCP variant
 *    first tries a refused port, so libpq replaces its socket in the
 *    middle; the watch follows it).
 *  - one pipeline, non-blocking, up to 512 commands in flight: a
 *    pg_sleep(0.2) and a 1 MiB parameter (so PQflush must return 1),
 *    4 000 SELECT $1::int + 1 and a prepared statement (binary
 *    results) in order, then a division by zero in the middle of a
 *    segment: every command after it is PGRES_PIPELINE_ABORTED until
 *    the sync, then the pipeline goes on (the prepared statement
 *    survives). PQflush returning 1 is the only reason for WRITE
 *    interest (checked at every callback; the socket's send buffer is
 *    made small so that it returns 1 often).
 *  - meanwhile a client thread hammers an echo listener on the same
 *    reactor and checks every byte. The last sync is held back until
 *    the client has completed 3 more round trips: until the sync the
 *    server keeps the last results, so those echoes provably happen
 *    while commands are in flight. The client pauses 1 ms a round (see
 *    ECHO_PAUSE_US: flat out, it starved the server on a loaded box).
 *  - 8 s per scenario; past it, a report: the server's processes as the
 *    kernel sees them, the socket's queues, the watch, pg_stat_activity.
 *  - shutdown from the last callback: the watch is freed from its own
 *    callback, PQfinish, the echo clients leave, the reactor stops
 *    (zg_reactor_run returns 0), nothing leaks (the ASan pass).
 *  - a connect to a refused port fails through the watch, cleanly.
 *
 * Edge-triggered readiness and libpq: PQconsumeInput reads once, not
 * until EAGAIN, so after consuming input the watch is re-armed with
 * zg_watch_set (which checks at once); and PQflush / PQsend* read input
 * themselves when the socket is full, so results are drained after
 * every flush and on every callback, not only on READ. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include <libpq-fe.h>

#include "itest.h"

/* ================================================================== */
/* The PostgreSQL cluster                                              */
/* ================================================================== */

static struct {
	char bindir[PATH_MAX];
	char dir[PATH_MAX];      /* /tmp/zg-pg-XXXXXX (real path): socket, log */
	char datadir[PATH_MAX + 16]; /* dir/data                              */
	char log[PATH_MAX + 16];  /* dir/postgres.log                         */
	char password[33];       /* the superuser's, for TCP (scram-sha-256) */
	uint16_t port;
	bool drop;               /* running as root: run the server as uid/gid */
	uid_t uid;
	gid_t gid;
	char user[64];
	pid_t pid;               /* the postmaster, -1 when none             */
	pid_t reaper;
	int reaper_fd;           /* write end of the reaper's pipe            */
	pid_t self;              /* this process: atexit must not run in forks */
} pg = { .pid = -1, .reaper = -1, .reaper_fd = -1 };

static bool pg_bindir_ok(const char *d)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/initdb", d);
	if (access(p, X_OK))
		return false;
	snprintf(p, sizeof(p), "%s/postgres", d);
	return access(p, X_OK) == 0;
}

/* ZG_PG_BINDIR, else the newest /usr/lib/postgresql/<version>/bin
 * (Debian: not on PATH), else a PATH entry with initdb and postgres. */
static bool pg_find_bindir(void)
{
	const char *e = getenv("ZG_PG_BINDIR");
	const char *path = getenv("PATH");
	long best = -1;
	glob_t g;

	if (e && *e) {
		snprintf(pg.bindir, sizeof(pg.bindir), "%s", e);
		return pg_bindir_ok(e);
	}
	if (glob("/usr/lib/postgresql/*/bin", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			long v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
			if (v > best && pg_bindir_ok(g.gl_pathv[i])) {
				best = v;
				snprintf(pg.bindir, sizeof(pg.bindir), "%s", g.gl_pathv[i]);
			}
		}
		globfree(&g);
	}
	if (best >= 0)
		return true;
	while (path && *path) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);

		if (n && n < sizeof(pg.bindir)) {
			memcpy(pg.bindir, path, n);
			pg.bindir[n] = 0;
			if (pg_bindir_ok(pg.bindir))
				return true;
		}
		path = end ? end + 1 : NULL;
	}
	return false;
}

/* The server may not run as root: pick the user it runs as. */
static bool pg_pick_user(void)
{
	const char *names[] = { getenv("ZG_PG_USER"), "zgtest", "nobody" };
	struct passwd *pw = NULL;

	if (geteuid() != 0)
		return true;
	for (size_t i = 0; i < 3 && !pw; i++)
		if (names[i] && *names[i])
			pw = getpwnam(names[i]);
	if (!pw || pw->pw_uid == 0)
		return false;
	pg.drop = true;
	pg.uid = pw->pw_uid;
	pg.gid = pw->pw_gid;
	snprintf(pg.user, sizeof(pg.user), "%s", pw->pw_name);
	return true;
}

static uint16_t free_port(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = it_addr(AF_INET, 0, &ss);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint16_t port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&ss, sl) == 0)
		port = it_local_port(fd);
	if (fd >= 0)
		close(fd);
	return port;
}

/* fork + exec argv as the server's user, stdout and stderr to the log,
 * killed (SIGKILL) if this process dies. */
static pid_t pg_spawn(char *const argv[])
{
	static char *const envp[] = { "LC_ALL=C", "LANG=C", "TZ=UTC",
				      "PATH=/usr/bin:/bin", NULL };
	pid_t parent = getpid();
	pid_t pid = fork();
	sigset_t none;
	int fd, nul;

	if (pid != 0)
		return pid;
	/* the child: nothing but system calls until execve */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (pg.drop && (setgroups(0, NULL) || setgid(pg.gid) || setuid(pg.uid)))
		_exit(126);
	/* after setuid, which clears it */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(126);
	fd = open(pg.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
	    chdir(pg.dir))
		_exit(126);
	execve(argv[0], argv, envp);
	_exit(127);
}

static void pg_print_log(void)
{
	char line[512];
	FILE *f = fopen(pg.log, "r");

	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", pg.log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fprintf(stderr, "----\n");
	fclose(f);
}

static bool pg_log_has(const char *s)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(pg.log, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, s) != NULL;
	fclose(f);
	return found;
}

/* SIGKILL pid and its children (the postmaster's backends, which
 * otherwise only leave once they notice it is gone). */
static void kill_tree(pid_t pid)
{
	char path[64];
	FILE *f;
	int child;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	f = fopen(path, "r");
	kill(pid, SIGKILL);
	while (f && fscanf(f, "%d", &child) == 1)
		kill(child, SIGKILL);
	if (f)
		fclose(f);
}

/* pid exists and is not a zombie (an orphan's zombie may linger when
 * PID 1 is slow to reap). */
static bool proc_alive(pid_t pid)
{
	char path[64], b[256];
	const char *st;
	ssize_t k;
	int fd;

	if (kill(pid, 0))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	k = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (k <= 0)
		return false;
	b[k] = 0;
	st = strrchr(b, ')');
	return !st || (st[1] && st[2] != 'Z' && st[2] != 'X');
}

/* A process that removes the cluster's directory (after killing the
 * postmaster, whose pid it is sent) if this process dies without
 * saying it has cleaned up: EOF on the pipe without a 0 first. In its
 * own session, so a kill of the test's process group spares it. */
static void pg_reaper_start(void)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return;
	pid = fork();
	if (pid == 0) {
		int32_t v;
		pid_t pm = -1;
		int nul = open("/dev/null", O_RDWR);

		close(p[1]);
		setsid();
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		for (;;) {
			ssize_t k = read(p[0], &v, sizeof(v));
			if (k == sizeof(v) && v == 0)
				_exit(0);
			if (k == sizeof(v)) {
				pm = v;
				continue;
			}
			if (k < 0 && errno == EINTR)
				continue;
			break;
		}
		if (pm > 0) {
			kill_tree(pm);
			for (int i = 0; i < 250 && proc_alive(pm); i++)
				usleep(20000);
		}
		execl("/bin/rm", "rm", "-rf", "--", pg.dir, (char *)NULL);
		_exit(1);
	}
	close(p[0]);
	if (pid < 0) {
		close(p[1]);
		return;
	}
	pg.reaper = pid;
	pg.reaper_fd = p[1];
}

static void pg_reaper_send(int32_t v)
{
	if (pg.reaper_fd >= 0 && write(pg.reaper_fd, &v, sizeof(v)) != sizeof(v))
		fprintf(stderr, "pg reaper: %s\n", strerror(errno));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Immediate shutdown (SIGQUIT, as pg_ctl stop -m immediate), SIGKILL
 * after 3 s; then the directory goes. Idempotent; atexit. */
static void pg_stop(void)
{
	if (getpid() != pg.self)
		return;
	if (pg.pid > 0) {
		uint64_t end = it_now_ms() + 3000;
		int st;

		kill(pg.pid, SIGQUIT);
		while (waitpid(pg.pid, &st, WNOHANG) == 0) {
			if (it_now_ms() > end) {
				fprintf(stderr, "postgres: no exit 3 s after SIGQUIT, SIGKILL\n");
				kill_tree(pg.pid);
				waitpid(pg.pid, &st, 0);
				break;
			}
			it_nap_us(10000);
		}
		pg.pid = -1;
	}
	if (pg.dir[0]) {
		nftw(pg.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		pg.dir[0] = 0;
	}
	if (pg.reaper_fd >= 0) {
		pg_reaper_send(0);
		close(pg.reaper_fd);
		pg.reaper_fd = -1;
		waitpid(pg.reaper, NULL, 0);
	}
}

static void on_alarm(int sig)
{
	static const char m[] = "FAIL: test_libpq: still running after 28 s, killing the server\n";

	(void)sig;
	if (write(2, m, sizeof(m) - 1) < 0) {
		/* nothing more to do */
	}
	if (pg.pid > 0)
		kill(pg.pid, SIGKILL);
	_exit(1);
}

/* /dev/shm when it is a tmpfs with room (initdb writes ~40 MB: on a
 * disk under other work's I/O it took seconds more), else /tmp. */
static const char *pg_tmp_base(void)
{
	struct statfs fs;

	if (statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC &&
	    (uint64_t)fs.f_bavail * (uint64_t)fs.f_bsize >= (256ull << 20) &&
	    access("/dev/shm", W_OK | X_OK) == 0)
		return "/dev/shm";
	return "/tmp";
}

/* Exits 1 (with the server's log) if the cluster cannot be made. */
static void pg_start(void)
{
	char initdb[PATH_MAX + 8], postgres[PATH_MAX + 16], pwfile[PATH_MAX + 8];
	char sockdir[PATH_MAX + 32], portstr[8], tmpl[32];
	uint8_t rnd[16];
	uint64_t t0 = it_now_ms();
	int st, fd;

	snprintf(tmpl, sizeof(tmpl), "%s/zg-pg-XXXXXX", pg_tmp_base());
	if (!mkdtemp(tmpl) || !realpath(tmpl, pg.dir)) {
		fprintf(stderr, "FAIL: mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	pg.self = getpid();
	atexit(pg_stop);
	pg_reaper_start();
	if (pg.drop && chown(pg.dir, pg.uid, pg.gid)) {
		fprintf(stderr, "FAIL: chown %s to %s: %s\n", pg.dir, pg.user, strerror(errno));
		exit(1);
	}
	snprintf(pg.datadir, sizeof(pg.datadir), "%s/data", pg.dir);
	snprintf(pg.log, sizeof(pg.log), "%s/postgres.log", pg.dir);

	/* the superuser's password, for TCP */
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, rnd, sizeof(rnd)) != sizeof(rnd)) {
		fprintf(stderr, "FAIL: /dev/urandom: %s\n", strerror(errno));
		exit(1);
	}
	close(fd);
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(pg.password + 2 * i, 3, "%02x", rnd[i]);
	snprintf(pwfile, sizeof(pwfile), "%s/pw", pg.dir);
	fd = open(pwfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, pg.password, 32) != 32 || (pg.drop && fchown(fd, pg.uid, pg.gid))) {
		fprintf(stderr, "FAIL: %s: %s\n", pwfile, strerror(errno));
		exit(1);
	}
	close(fd);

	snprintf(initdb, sizeof(initdb), "%s/initdb", pg.bindir);
	{
		char pwarg[PATH_MAX + 32];
		char *argv[] = { initdb, "-D", pg.datadir, "-U", "postgres", "-E", "UTF8",
				 "--locale=C", "--no-sync", "--auth-local=trust",
				 "--auth-host=scram-sha-256", pwarg, NULL };
		pid_t pid;

		snprintf(pwarg, sizeof(pwarg), "--pwfile=%s", pwfile);
		pid = pg_spawn(argv);
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st)) {
			fprintf(stderr, "FAIL: initdb (as %s) failed: status %#x\n",
				pg.drop ? pg.user : "this user", st);
			pg_print_log();
			exit(1);
		}
	}
	unlink(pwfile);
	printf("initdb: %llu ms\n", (unsigned long long)(it_now_ms() - t0));

	snprintf(postgres, sizeof(postgres), "%s/postgres", pg.bindir);
	snprintf(sockdir, sizeof(sockdir), "unix_socket_directories=%s", pg.dir);
	for (int attempt = 0;; attempt++) {
		char *argv[] = { postgres, "-D", pg.datadir, "-p", portstr,
				 "-c", "listen_addresses=127.0.0.1", "-c", sockdir,
				 "-c", "fsync=off", "-c", "full_page_writes=off",
				 "-c", "max_connections=10", "-c", "shared_buffers=16MB",
				 "-c", "autovacuum=off", NULL };
		char ping[PATH_MAX + 128];
		uint64_t end;
		bool exited = false;

		pg.port = free_port();
		snprintf(portstr, sizeof(portstr), "%u", pg.port);
		pg.pid = pg_spawn(argv);
		if (pg.pid < 0) {
			fprintf(stderr, "FAIL: fork: %s\n", strerror(errno));
			exit(1);
		}
		pg_reaper_send((int32_t)pg.pid);
		snprintf(ping, sizeof(ping),
			 "host=%s port=%u user=postgres dbname=postgres connect_timeout=2",
			 pg.dir, pg.port);
		end = it_now_ms() + 10000;
		while (PQping(ping) != PQPING_OK) {
			if (waitpid(pg.pid, &st, WNOHANG) == pg.pid) {
				exited = true;
				break;
			}
			if (it_now_ms() > end) {
				fprintf(stderr, "FAIL: postgres not accepting connections after 10 s\n");
				pg_print_log();
				exit(1);
			}
			it_nap_us(20000);
		}
		if (!exited)
			break;
		pg.pid = -1;
		/* the port was taken between free_port and the bind: another */
		if (attempt < 3 && (pg_log_has("could not bind") ||
				    pg_log_has("could not create any TCP/IP sockets")))
			continue;
		fprintf(stderr, "FAIL: postgres exited at start: status %#x\n", st);
		pg_print_log();
		exit(1);
	}
	printf("PostgreSQL (%s) as %s in %s, port %u: ready in %llu ms\n", pg.bindir,
	       pg.drop ? pg.user : "this user", pg.dir, pg.port,
	       (unsigned long long)(it_now_ms() - t0));
}

/* ================================================================== */
/* The echo side: a listener on the reactor, a client thread            */
/* ================================================================== */

#define ECHO_CONNS 3
#define ECHO_MAX (16 * 1024)
#define ECHO_PAUSE_US 1000

struct echo {
	uint16_t port;
	uint64_t seed;
	atomic_bool stop;        /* set by the PostgreSQL side when it ends  */
	atomic_bool done;        /* the client has closed its sockets        */
	atomic_ullong trips;     /* exact round trips                        */
	uint64_t bytes;
	char err[256];           /* the client's first failure              */
};

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void *echo_client(void *arg)
{
	struct echo *e = arg;
	int fd[ECHO_CONNS];
	size_t off[ECHO_CONNS] = { 0 };
	uint8_t *out = malloc(ECHO_MAX), *in = malloc(ECHO_MAX);
	uint64_t x = e->seed | 1;
	int n = 0;

	if (!out || !in) {
		snprintf(e->err, sizeof(e->err), "echo client: out of memory");
		goto out;
	}
	for (n = 0; n < ECHO_CONNS; n++) {
		fd[n] = it_connect(e->port);
		if (fd[n] < 0) {
			snprintf(e->err, sizeof(e->err), "echo connect: %s", strerror(-fd[n]));
			goto out;
		}
	}
	while (!atomic_load(&e->stop)) {
		for (int i = 0; i < ECHO_CONNS; i++) {
			size_t len = 1 + xorshift(&x) % ECHO_MAX, bad;
			ssize_t k;

			it_fill(out, len, (uint64_t)i, off[i]);
			k = it_exchange(fd[i], out, len, in, len, false, 5000);
			if (k != (ssize_t)len) {
				if (!atomic_load(&e->stop))
					snprintf(e->err, sizeof(e->err),
						 "echo conn %d at byte %zu: %zd of %zu bytes back (%s)",
						 i, off[i], k, len, k < 0 ? strerror((int)-k) : "eof");
				goto out;
			}
			bad = it_check(in, len, (uint64_t)i, off[i]);
			if (bad != len) {
				snprintf(e->err, sizeof(e->err),
					 "echo conn %d: byte %zu of the stream differs", i, off[i] + bad);
				goto out;
			}
			off[i] += len;
			e->bytes += len;
			atomic_fetch_add(&e->trips, 1);
		}
		/* A pause per round: a client and a reactor waking each
		 * other flat out, twice over when two of these tests run at
		 * once, left the server's processes runnable but without a
		 * CPU for seconds on a loaded 2-CPU machine (Linux 6.18). */
		it_nap_us(ECHO_PAUSE_US);
	}
out:
	for (int i = 0; i < n; i++)
		close(fd[i]);
	free(out);
	free(in);
	atomic_store(&e->done, true);
	return NULL;
}

/* ================================================================== */
/* The PostgreSQL side, all on watch callbacks                          */
/* ================================================================== */

enum cmd_kind { C_DATADIR, C_SLEEP, C_BIG, C_PREPARE, C_PARAMS, C_PREPARED, C_FAIL, C_SYNC };

/* C_BIG's parameter: more than a sleeping server's socket buffers take
 * (Linux starts a TCP receive buffer at 128 KiB, tcp_rmem) */
#define BIG_LEN (1u << 20)
static char *big_param;

struct cmd {
	uint8_t kind;
	bool aborted;            /* after a failure, before its sync         */
	int arg;
};

#define WINDOW 512           /* commands in flight at most              */
#define ECHO_HELD 3          /* echo round trips while the sync is held */
#define N_PARAMS 4000

struct pgc {
	struct zg_reactor *r;
	struct zg_watch *w;
	struct zg_timer *stopper, *deadline, *gate;
	struct echo *echo;
	PGconn *conn;
	int fd;                  /* the socket the watch is on               */
	ino_t ino;               /* and its inode: libpq may replace it      */
	bool connecting, done, dead;
	char err[2560];          /* the first failure                        */

	/* connect */
	unsigned polls, poll_reads, poll_writes, socket_changes;
	char trace[640];         /* each PQconnectPoll: events, result, state,
	                          * fd, inode, local and peer ports         */
	size_t trace_len;

	/* the pipeline: plan[head] is the next result expected, plan[sent]
	 * the next command to send */
	struct cmd *plan;
	size_t nplan, head, sent, max_inflight;
	bool got;                /* plan[head]'s result came, NULL expected */
	unsigned syncs, aborted_seen, errors_seen;
	unsigned callbacks, read_cbs, write_cbs, flush_pending, rechecks;
	unsigned write_interest;  /* callbacks that left WRITE interest on  */
	/* the last sync is held until echoes have completed meanwhile */
	bool holding, released;
	uint64_t trips_at_hold, trips_held;
	size_t held_inflight;    /* commands without results at the release */
	uint64_t trips_at_start, trips_at_end;
	bool expect_refused;     /* test_connect_refused                    */
};

static void pgc_fail(struct pgc *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* End the PostgreSQL side: free the watch (from its own callback, when
 * called from one), PQfinish, let the echo client go, and stop the
 * reactor once it has. */
static void pgc_end(struct pgc *p)
{
	if (p->echo)
		p->trips_at_end = atomic_load(&p->echo->trips);
	if (p->w) {
		zg_watch_free(p->w);
		p->w = NULL;
	}
	if (p->conn) {
		PQfinish(p->conn);
		p->conn = NULL;
	}
	p->dead = true;
	if (p->echo)
		atomic_store(&p->echo->stop, true);
	zg_timer_start(p->stopper, 0, 2);
}

static void pgc_fail(struct pgc *p, const char *fmt, ...)
{
	va_list ap;

	if (p->dead)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	pgc_end(p);
}

/* zg_timer: stop the reactor once the echo client has left and its
 * connections have closed; at once after a failure. */
static void on_stopper(struct zg_timer *t, void *arg)
{
	struct pgc *p = arg;

	if (p->err[0] || !p->echo ||
	    (atomic_load(&p->echo->done) && zg_reactor_conn_count(p->r) == 0)) {
		zg_timer_stop(t);
		zg_timer_stop(p->deadline);
		zg_reactor_stop(p->r, 1000);
	}
}

static ino_t socket_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

static uint16_t peer_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl))
		return 0;
	return it_sa_port(&ss);
}

/* For a stalled run, without touching the server: every child of the
 * postmaster (backends, background processes) as the kernel sees it.
 * This is how a starved server showed itself: state R, and schedstat
 * (ns on a CPU, ns waiting for one, time slices) not moving. */
static void pg_children_state(const char *when)
{
	char path[96], line[512];
	FILE *f;
	int child;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pg.pid, (int)pg.pid);
	f = fopen(path, "r");
	while (f && fscanf(f, "%d", &child) == 1) {
		char cmd[128] = "", wchan[64] = "", stat[512] = "", sched[128] = "";
		const char *st;
		FILE *g;
		size_t k;

		snprintf(path, sizeof(path), "/proc/%d/cmdline", child);
		if ((g = fopen(path, "r"))) {
			k = fread(cmd, 1, sizeof(cmd) - 1, g);
			cmd[k] = 0;
			fclose(g);
		}
		snprintf(path, sizeof(path), "/proc/%d/wchan", child);
		if ((g = fopen(path, "r"))) {
			if (!fgets(wchan, sizeof(wchan), g))
				wchan[0] = 0;
			fclose(g);
		}
		snprintf(path, sizeof(path), "/proc/%d/stat", child);
		if ((g = fopen(path, "r"))) {
			if (!fgets(stat, sizeof(stat), g))
				stat[0] = 0;
			fclose(g);
		}
		snprintf(path, sizeof(path), "/proc/%d/schedstat", child);
		if ((g = fopen(path, "r"))) {
			if (!fgets(sched, sizeof(sched), g))
				sched[0] = 0;
			sched[strcspn(sched, "\n")] = 0;
			fclose(g);
		}
		st = strrchr(stat, ')');
		{
			unsigned long ut = 0, stt = 0;
			char c = '?';

			if (st)
				sscanf(st + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &c,
				       &ut, &stt);
			snprintf(line, sizeof(line), "%s: %d %-40.40s state %c in %s, cpu %lu+%lu "
				 "ticks, schedstat %s\n", when, child, cmd, c, wchan, ut, stt, sched);
		}
		fputs(line, stderr);
	}
	if (f)
		fclose(f);
}

/* What the socket, the watch and the server say, for a stalled run:
 * bytes the kernel holds each way, poll(2) now, the backend's state. */
static void pgc_diagnose(struct pgc *p, char *b, size_t n)
{
	int fd = PQsocket(p->conn), inq = -1, outq = -1;
	struct pollfd pf = { fd, POLLIN | POLLOUT, 0 };
	char ci[PATH_MAX + 128];
	PGconn *c;
	size_t k;

	if (fd >= 0) {
		ioctl(fd, FIONREAD, &inq);
		ioctl(fd, TIOCOUTQ, &outq);
		poll(&pf, 1, 0);
	}
	k = (size_t)snprintf(b, n, "socket %d (watched: %d, interest %#x; inode %lu, at connect "
			     "%lu; %u->%u): %d bytes unread, %d unsent, poll(2) now %#x; "
			     "PQisBusy %d",
			     fd, p->fd, p->w ? zg_watch_events(p->w) : 0u,
			     (unsigned long)(fd >= 0 ? socket_ino(fd) : 0), (unsigned long)p->ino,
			     fd >= 0 ? it_local_port(fd) : 0, peer_port(fd), inq, outq,
			     (unsigned)pf.revents, PQisBusy(p->conn));
	snprintf(ci, sizeof(ci), "host=%s port=%u user=postgres dbname=postgres "
		 "connect_timeout=2", pg.dir, pg.port);
	c = PQconnectdb(ci); /* blocking: a failure report, not the test */
	if (PQstatus(c) == CONNECTION_OK) {
		/* every other client backend (one still authenticating has
		 * no application_name yet) */
		PGresult *res = PQexec(c, "SELECT pid, application_name, state, wait_event_type, "
					  "wait_event FROM pg_stat_activity WHERE backend_type = "
					  "'client backend' AND pid <> pg_backend_pid()");

		for (int i = 0; PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res) &&
				k < n; i++) {
			k += (size_t)snprintf(b + k, n - k, "; backend %s (%s): %s, waiting for %s/%s",
					      PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
					      PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
					      PQgetvalue(res, i, 4));
		}
		PQclear(res);
	}
	PQfinish(c);
}

static void on_deadline(struct zg_timer *t, void *arg)
{
	struct pgc *p = arg;
	char diag[1024];

	(void)t;
	if (p->dead) {
		zg_reactor_stop(p->r, 0); /* the echo side never left */
		return;
	}
	pg_children_state("at the deadline"); /* first: before we connect */
	pgc_diagnose(p, diag, sizeof(diag));
	pgc_fail(p, "deadline: %s after 8 s (%zu of %zu results, %zu sent): %s; server port %u; "
		 "connect:%s", p->connecting ? "still connecting" : "pipeline not done", p->head,
		 p->nplan, p->sent, diag, pg.port, p->trace);
}

static void plan_add(struct pgc *p, uint8_t kind, int arg, bool *aborted)
{
	struct cmd *c = &p->plan[p->nplan++];

	c->kind = kind;
	c->arg = arg;
	c->aborted = *aborted && kind != C_SYNC;
	if (kind == C_FAIL)
		*aborted = true;
	if (kind == C_SYNC)
		*aborted = false;
}

static void plan_build(struct pgc *p)
{
	bool ab = false;

	p->plan = calloc(N_PARAMS * 2 + 1000, sizeof(*p->plan));
	p->trace_len = 0;
	assert_non_null(p->plan);
	/* 1: who answers, the prepared statement, 4000 + 1000 queries */
	plan_add(p, C_DATADIR, 0, &ab);
	/* the server sleeps, so it reads nothing while BIG_LEN bytes are
	 * sent: PQflush returns 1 and WRITE interest is needed */
	plan_add(p, C_SLEEP, 0, &ab);
	plan_add(p, C_BIG, 0, &ab);
	plan_add(p, C_PREPARE, 0, &ab);
	for (int i = 1; i <= N_PARAMS; i++) {
		plan_add(p, C_PARAMS, i, &ab);
		if (i % 4 == 0)
			plan_add(p, C_PREPARED, i, &ab);
	}
	plan_add(p, C_SYNC, 0, &ab);
	/* 2: an error in the middle: the rest is aborted until the sync */
	for (int i = 1; i <= 5; i++)
		plan_add(p, C_PARAMS, 100 + i, &ab);
	plan_add(p, C_FAIL, 7, &ab);
	for (int i = 1; i <= 30; i++) {
		plan_add(p, C_PARAMS, 200 + i, &ab);
		if (i % 3 == 0)
			plan_add(p, C_PREPARED, 200 + i, &ab);
	}
	plan_add(p, C_SYNC, 0, &ab);
	/* 3: after the sync, all works again */
	for (int i = 1; i <= 200; i++) {
		plan_add(p, C_PREPARED, -i, &ab);
		plan_add(p, C_PARAMS, -1000 * i, &ab);
	}
	plan_add(p, C_SYNC, 0, &ab);
}

static bool send_cmd(struct pgc *p, const struct cmd *c)
{
	char a[16];
	const char *v[2] = { a, "1000" };
	int fmt[2] = { 0, 0 };

	snprintf(a, sizeof(a), "%d", c->arg);
	switch (c->kind) {
	case C_DATADIR:
		return PQsendQueryParams(p->conn, "SELECT current_setting('data_directory')", 0,
					 NULL, NULL, NULL, NULL, 0);
	case C_SLEEP:
		return PQsendQueryParams(p->conn, "SELECT pg_sleep(0.2)", 0, NULL, NULL, NULL,
					 NULL, 0);
	case C_BIG:
		v[0] = big_param;
		return PQsendQueryParams(p->conn, "SELECT length($1)", 1, NULL, v, NULL, fmt, 0);
	case C_PREPARE:
		return PQsendPrepare(p->conn, "plus", "SELECT $1::int + $2::int", 2, NULL);
	case C_PARAMS:
		return PQsendQueryParams(p->conn, "SELECT $1::int + 1", 1, NULL, v, NULL, fmt, 0);
	case C_PREPARED: /* binary result */
		return PQsendQueryPrepared(p->conn, "plus", 2, v, NULL, fmt, 1);
	case C_FAIL:
		return PQsendQueryParams(p->conn, "SELECT $1::int / 0", 1, NULL, v, NULL, fmt, 0);
	case C_SYNC:
		return PQpipelineSync(p->conn);
	}
	return false;
}

/* Check the result of plan[head]; false (and p failed) if wrong. */
static bool check_result(struct pgc *p, const struct cmd *c, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	size_t i = p->head;

	if (c->aborted) {
		p->aborted_seen++;
		if (st != PGRES_PIPELINE_ABORTED) {
			pgc_fail(p, "command %zu: %s, expected PGRES_PIPELINE_ABORTED", i,
				 PQresStatus(st));
			return false;
		}
		if (PQpipelineStatus(p->conn) != PQ_PIPELINE_ABORTED) {
			pgc_fail(p, "command %zu aborted, pipeline status %d", i,
				 PQpipelineStatus(p->conn));
			return false;
		}
		return true;
	}
	switch (c->kind) {
	case C_SYNC:
		p->syncs++;
		if (st != PGRES_PIPELINE_SYNC || PQpipelineStatus(p->conn) != PQ_PIPELINE_ON) {
			pgc_fail(p, "command %zu: %s (pipeline status %d), expected the sync", i,
				 PQresStatus(st), PQpipelineStatus(p->conn));
			return false;
		}
		return true;
	case C_PREPARE:
		if (st != PGRES_COMMAND_OK) {
			pgc_fail(p, "PQsendPrepare: %s %s", PQresStatus(st),
				 PQresultErrorMessage(res));
			return false;
		}
		return true;
	case C_FAIL: {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		p->errors_seen++;
		if (st != PGRES_FATAL_ERROR || !state || strcmp(state, "22012") ||
		    PQpipelineStatus(p->conn) != PQ_PIPELINE_ABORTED) {
			pgc_fail(p, "command %zu: %s SQLSTATE %s (pipeline status %d), expected "
				 "division_by_zero (22012)", i, PQresStatus(st),
				 state ? state : "none", PQpipelineStatus(p->conn));
			return false;
		}
		return true;
	}
	default:
		break;
	}
	if (st != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 1) {
		pgc_fail(p, "command %zu (kind %d, %d): %s, %d rows: %s", i, c->kind, c->arg,
			 PQresStatus(st), PQntuples(res), PQresultErrorMessage(res));
		return false;
	}
	if (c->kind == C_SLEEP)
		return true;
	if (c->kind == C_BIG) {
		if (strtoul(PQgetvalue(res, 0, 0), NULL, 10) != BIG_LEN) {
			pgc_fail(p, "length of the big parameter: %s, not %u",
				 PQgetvalue(res, 0, 0), BIG_LEN);
			return false;
		}
		return true;
	}
	if (c->kind == C_DATADIR) {
		if (strcmp(PQgetvalue(res, 0, 0), pg.datadir)) {
			pgc_fail(p, "the server's data directory is %s, not ours (%s)",
				 PQgetvalue(res, 0, 0), pg.datadir);
			return false;
		}
		return true;
	}
	if (c->kind == C_PREPARED) {
		uint32_t be;

		if (PQfformat(res, 0) != 1 || PQgetlength(res, 0, 0) != 4) {
			pgc_fail(p, "command %zu: not a 4-byte binary int", i);
			return false;
		}
		memcpy(&be, PQgetvalue(res, 0, 0), 4);
		if ((int32_t)ntohl(be) != c->arg + 1000) {
			pgc_fail(p, "command %zu: plus(%d, 1000) = %d", i, c->arg,
				 (int32_t)ntohl(be));
			return false;
		}
		return true;
	}
	if (atoi(PQgetvalue(res, 0, 0)) != c->arg + 1) {
		pgc_fail(p, "command %zu: %d + 1 = %s (results out of order?)", i, c->arg,
			 PQgetvalue(res, 0, 0));
		return false;
	}
	return true;
}

/* Take every result libpq has complete, in plan order: one result and
 * then NULL per command, the sync's result alone. Never blocks
 * (PQisBusy first), and never asks beyond what was sent (with nothing
 * pending PQgetResult returns NULL). Returns how many commands
 * completed. */
static size_t drain(struct pgc *p)
{
	size_t n = 0;

	while (!p->dead && p->head < p->sent && !PQisBusy(p->conn)) {
		const struct cmd *c = &p->plan[p->head];
		PGresult *res = PQgetResult(p->conn);

		if (!res) {
			if (!p->got) {
				pgc_fail(p, "command %zu: NULL before its result: %s", p->head,
					 PQerrorMessage(p->conn));
				return n;
			}
			p->got = false;
			p->head++;
			n++;
			continue;
		}
		if (p->got) {
			pgc_fail(p, "command %zu: a second result (%s)", p->head,
				 PQresStatus(PQresultStatus(res)));
			PQclear(res);
			return n;
		}
		if (!check_result(p, c, res)) {
			PQclear(res);
			return n;
		}
		PQclear(res);
		if (c->kind == C_SYNC) {
			p->head++;
			n++;
		} else {
			p->got = true;
		}
	}
	return n;
}

static size_t send_more(struct pgc *p)
{
	size_t n = 0;

	while (!p->dead && p->sent < p->nplan && p->sent - p->head < WINDOW) {
		if (p->sent == p->nplan - 1 && !p->released) {
			/* The last sync waits for ECHO_HELD more round trips
			 * of the echo client: until the sync, the server
			 * keeps the last results, so those echoes happen
			 * while commands are in flight. on_gate sends it. */
			if (!p->holding) {
				p->holding = true;
				p->trips_at_hold = atomic_load(&p->echo->trips);
				zg_timer_start(p->gate, 1, 1);
			}
			break;
		}
		if (!send_cmd(p, &p->plan[p->sent])) {
			pgc_fail(p, "sending command %zu: %s", p->sent, PQerrorMessage(p->conn));
			return n;
		}
		p->sent++;
		n++;
	}
	if (p->sent - p->head > p->max_inflight)
		p->max_inflight = p->sent - p->head;
	return n;
}

static void on_pg(struct zg_watch *w, unsigned ev, void *arg);
static void pgc_pump(struct pgc *p, bool consumed);

/* zg_timer, every ms while the last sync is held: release it once the
 * echo client has done ECHO_HELD round trips since, then send it (a
 * pump from a timer: the same reactor drives both). */
static void on_gate(struct zg_timer *t, void *arg)
{
	struct pgc *p = arg;
	uint64_t trips = atomic_load(&p->echo->trips);

	if (p->dead) {
		zg_timer_stop(t);
		return;
	}
	if (trips - p->trips_at_hold < ECHO_HELD)
		return;
	zg_timer_stop(t);
	p->released = true;
	p->trips_held = trips - p->trips_at_hold;
	p->held_inflight = p->sent - p->head;
	pgc_pump(p, false);
}

/* Watch libpq's socket with `events`. libpq may have closed its socket
 * and opened another (the next address of a host list), most often
 * under the same number: zg_watch_set arms a new poll on whatever the
 * number names now, so the watch follows; a new number gets a new
 * watch. socket_changes counts new sockets (by inode) either way. */
static void pgc_watch(struct pgc *p, unsigned events)
{
	int fd = PQsocket(p->conn);
	ino_t ino;
	int ret;

	if (fd < 0) {
		pgc_fail(p, "PQsocket: no socket: %s", PQerrorMessage(p->conn));
		return;
	}
	ino = socket_ino(fd);
	if (ino != p->ino) {
		p->socket_changes += p->ino != 0;
		p->ino = ino;
	}
	if (fd != p->fd) {
		zg_watch_free(p->w);
		p->w = NULL;
		p->fd = fd;
		ret = zg_watch_new(p->r, fd, events, on_pg, p, &p->w);
		if (ret)
			pgc_fail(p, "zg_watch_new: %s", zg_strerror(ret));
		return;
	}
	ret = zg_watch_set(p->w, events);
	if (ret)
		pgc_fail(p, "zg_watch_set: %s", zg_strerror(ret));
}

/* The pipeline is done: leave pipeline mode, and end from inside the
 * callback (the watch frees itself). */
static void pgc_finish(struct pgc *p)
{
	if (PQpipelineStatus(p->conn) != PQ_PIPELINE_ON || PQexitPipelineMode(p->conn) != 1) {
		pgc_fail(p, "PQexitPipelineMode: %s", PQerrorMessage(p->conn));
		return;
	}
	p->done = true;
	pgc_end(p);
}

/* Receive, send, flush until nothing moves; then the interest: READ,
 * and WRITE only while PQflush has output pending (returns 1). */
static void pgc_pump(struct pgc *p, bool consumed)
{
	unsigned want = zg_watch_events(p->w);
	int fl = 0;

	for (;;) {
		size_t got = drain(p), sent;

		if (p->dead)
			return;
		if (p->head == p->nplan) {
			pgc_finish(p);
			return;
		}
		sent = send_more(p);
		if (p->dead)
			return;
		fl = PQflush(p->conn);
		if (fl < 0) {
			pgc_fail(p, "PQflush: %s", PQerrorMessage(p->conn));
			return;
		}
		if (fl == 1)
			p->flush_pending++;
		/* a flush that met a full socket read input into libpq (it
		 * returned 1, and WRITE brings us back); otherwise nothing
		 * more can be done until the socket is ready */
		if (!got && !sent)
			break;
	}
	if (want != (ZG_WATCH_READ | (fl == 1 ? ZG_WATCH_WRITE : 0)) || consumed) {
		/* consumed: PQconsumeInput reads once, not to EAGAIN; the
		 * edge-triggered watch is re-armed, which checks at once */
		p->rechecks += consumed;
		pgc_watch(p, ZG_WATCH_READ | (fl == 1 ? ZG_WATCH_WRITE : 0));
		if (p->dead)
			return;
	}
	/* WRITE interest exactly while libpq has output pending */
	if (!!(zg_watch_events(p->w) & ZG_WATCH_WRITE) != (fl == 1)) {
		pgc_fail(p, "interest %#x after PQflush returned %d", zg_watch_events(p->w), fl);
		return;
	}
	p->write_interest += fl == 1;
}

static void pgc_connected(struct pgc *p)
{
	int sndbuf = 4096;

	p->connecting = false;
	if (PQsetnonblocking(p->conn, 1) || !PQenterPipelineMode(p->conn) ||
	    !PQisnonblocking(p->conn)) {
		pgc_fail(p, "non-blocking pipeline mode: %s", PQerrorMessage(p->conn));
		return;
	}
	/* A small send buffer, so that a window of commands does not fit
	 * and PQflush returns 1: the WRITE interest path runs. */
	setsockopt(PQsocket(p->conn), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	p->trips_at_start = atomic_load(&p->echo->trips);
	pgc_pump(p, false);
}

/* One PQconnectPoll per callback, with the interest it asks for. */
static void pgc_connect_step(struct pgc *p, unsigned ev)
{
	PostgresPollingStatusType st = PQconnectPoll(p->conn);
	int fd = PQsocket(p->conn);

	p->polls++;
	if (p->trace_len < sizeof(p->trace))
		p->trace_len += (size_t)snprintf(p->trace + p->trace_len,
						 sizeof(p->trace) - p->trace_len,
						 " [ev %#x -> %d, status %d, fd %d ino %lu, %u->%u]",
						 ev, (int)st, (int)PQstatus(p->conn), fd,
						 (unsigned long)(fd >= 0 ? socket_ino(fd) : 0),
						 fd >= 0 ? it_local_port(fd) : 0, peer_port(fd));
	switch (st) {
	case PGRES_POLLING_READING:
		p->poll_reads++;
		pgc_watch(p, ZG_WATCH_READ);
		return;
	case PGRES_POLLING_WRITING:
		p->poll_writes++;
		pgc_watch(p, ZG_WATCH_WRITE);
		return;
	case PGRES_POLLING_OK:
		if (p->expect_refused) {
			pgc_fail(p, "connected to a port nobody listens on");
			return;
		}
		pgc_connected(p);
		return;
	case PGRES_POLLING_FAILED:
	default:
		if (p->expect_refused) {
			/* libpq has closed the socket already: the watch goes
			 * now, from its callback */
			p->connecting = false;
			p->done = PQstatus(p->conn) == CONNECTION_BAD;
			pgc_end(p);
			return;
		}
		pgc_fail(p, "PQconnectPoll failed: %s", PQerrorMessage(p->conn));
		return;
	}
}

static void on_pg(struct zg_watch *w, unsigned ev, void *arg)
{
	struct pgc *p = arg;

	IT_ASSERT(w == p->w && !p->dead);
	p->callbacks++;
	if (p->connecting) {
		pgc_connect_step(p, ev);
		return;
	}
	if (ev & ZG_WATCH_WRITE)
		p->write_cbs++;
	if (ev & (ZG_WATCH_READ | ZG_WATCH_HUP | ZG_WATCH_ERROR)) {
		p->read_cbs++;
		if (!PQconsumeInput(p->conn)) {
			pgc_fail(p, "PQconsumeInput: %s", PQerrorMessage(p->conn));
			return;
		}
		pgc_pump(p, true);
		return;
	}
	pgc_pump(p, false);
}

/* PQconnectStart (never blocks: numeric addresses), and a watch for
 * WRITE, as libpq's docs say to begin. */
static void pgc_start(struct pgc *p, const char *conninfo)
{
	int ret;

	p->conn = PQconnectStart(conninfo);
	assert_non_null(p->conn);
	if (PQstatus(p->conn) == CONNECTION_BAD && p->expect_refused) {
		/* refused inside PQconnectStart already: nothing to watch */
		p->done = true;
		pgc_end(p);
		return;
	}
	if (PQstatus(p->conn) == CONNECTION_BAD)
		fail_msg("PQconnectStart: %s", PQerrorMessage(p->conn));
	/* not connected yet: the rest happens in callbacks */
	assert_int_not_equal(PQstatus(p->conn), CONNECTION_OK);
	p->connecting = true;
	p->fd = PQsocket(p->conn);
	assert_true(p->fd >= 0);
	p->ino = socket_ino(p->fd);
	ret = zg_watch_new(p->r, p->fd, ZG_WATCH_WRITE, on_pg, p, &p->w);
	assert_int_equal(ret, 0);
}

/* A reactor with the echo listener, the two timers, p set up. */
static struct zg_reactor *scenario_reactor(struct pgc *p, struct echo *e)
{
	static const struct zg_handler echo_handler = { .on_data = it_echo_on_data };
	struct zg_reactor_config cfg;
	struct sockaddr_storage ss;
	socklen_t sl = it_addr(AF_INET, 0, &ss);
	struct zg_reactor *r;

	it_reactor_config(&cfg);
	assert_int_equal(zg_reactor_new(&cfg, &echo_handler, NULL, &r), 0);
	if (e)
		assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss, sl, 0, 0, &e->port), 0);
	p->r = r;
	p->echo = e;
	p->fd = -1;
	assert_int_equal(zg_timer_new(r, on_stopper, p, &p->stopper), 0);
	assert_int_equal(zg_timer_new(r, on_deadline, p, &p->deadline), 0);
	assert_int_equal(zg_timer_new(r, on_gate, p, &p->gate), 0);
	zg_timer_start(p->deadline, 8000, 0);
	return r;
}

static void scenario_free(struct pgc *p)
{
	zg_timer_free(p->stopper);
	zg_timer_free(p->deadline);
	zg_timer_free(p->gate);
	zg_reactor_free(p->r);
	free(p->plan);
}

/* The whole scenario over one transport: conninfo names the server. */
static void run_pipeline(const char *label, const char *conninfo, unsigned min_changes)
{
	struct pgc p = { 0 };
	struct echo e = { .seed = (uint64_t)it_now_ms() * 0x9E3779B97F4A7C15ull };
	pthread_t th;
	uint64_t t0 = it_now_ms();
	int ret;

	plan_build(&p);
	if (!big_param) {
		big_param = malloc(BIG_LEN + 1);
		assert_non_null(big_param);
		memset(big_param, 'z', BIG_LEN);
		big_param[BIG_LEN] = 0;
	}
	struct zg_reactor *r = scenario_reactor(&p, &e);
	assert_int_equal(pthread_create(&th, NULL, echo_client, &e), 0);
	/* let the echo traffic begin before the database work */
	assert_true(IT_PUMP(r, atomic_load(&e.trips) >= 3 || e.err[0]));
	pgc_start(&p, conninfo);
	ret = zg_reactor_run(r);
	pthread_join(th, NULL);

	printf("%s: %llu ms; connect: %u polls (%u reading, %u writing), %u socket changes; "
	       "pipeline: %zu commands, %zu in flight at most, %u syncs, %u errors, %u aborted; "
	       "%u callbacks (%u read, %u write), %u re-checks, PQflush 1 x%u, WRITE interest "
	       "x%u; echo: %llu round trips (%llu during the pipeline, %llu while the last "
	       "sync was held with %zu commands unanswered), %llu bytes\n",
	       label, (unsigned long long)(it_now_ms() - t0), p.polls, p.poll_reads,
	       p.poll_writes, p.socket_changes, p.nplan, p.max_inflight, p.syncs,
	       p.errors_seen, p.aborted_seen, p.callbacks, p.read_cbs, p.write_cbs, p.rechecks,
	       p.flush_pending, p.write_interest, (unsigned long long)atomic_load(&e.trips),
	       (unsigned long long)(p.trips_at_end - p.trips_at_start),
	       (unsigned long long)p.trips_held, p.held_inflight, (unsigned long long)e.bytes);
	scenario_free(&p); /* before the checks: a failing run leaks nothing */
	if (p.err[0])
		fail_msg("%s: %s", label, p.err);
	if (e.err[0])
		fail_msg("%s: %s", label, e.err);
	assert_int_equal(ret, 0);
	assert_true(p.done);
	assert_null(p.conn);
	assert_null(p.w);
	assert_int_equal(p.head, p.nplan);
	/* the connection went through the watch, waiting for the server */
	assert_true(p.polls >= 2);
	assert_true(p.poll_reads >= 1);
	assert_true(p.socket_changes >= min_changes);
	/* a pipeline: many commands in flight, results in batches */
	assert_true(p.max_inflight >= WINDOW / 2);
	assert_true(p.read_cbs < p.nplan / 4);
	assert_int_equal(p.syncs, 3);
	assert_int_equal(p.errors_seen, 1);
	assert_int_equal(p.aborted_seen, 40);
	/* WRITE interest was taken, and only while PQflush returned 1
	 * (checked at every callback), and WRITE came: the big parameter
	 * cannot go while the server sleeps. (Later in the pipeline, results
	 * often come first and that callback's flush clears the backlog.) */
	assert_true(p.flush_pending > 0);
	assert_true(p.write_interest > 0);
	assert_true(p.write_cbs > 0);
	/* the reactor served TCP meanwhile: exact echoes completed while
	 * commands were in flight (the last sync held back) */
	assert_true(p.released);
	assert_true(p.trips_held >= ECHO_HELD);
	assert_true(p.held_inflight > 0);
	assert_true(p.trips_at_end - p.trips_at_start >= ECHO_HELD);
}

static void test_pipeline_tcp(void **state)
{
	char ci[512];
	uint16_t dead = free_port();

	(void)state;
	/* two addresses: the first refuses, libpq moves to a new socket */
	snprintf(ci, sizeof(ci),
		 "hostaddr=127.0.0.1,127.0.0.1 port=%u,%u user=postgres dbname=postgres "
		 "password=%s sslmode=disable gssencmode=disable application_name=zg_itest",
		 dead, pg.port, pg.password);
	run_pipeline("tcp", ci, 1);
}

static void test_pipeline_unix(void **state)
{
	char ci[PATH_MAX + 256];

	(void)state;
	snprintf(ci, sizeof(ci),
		 "host=%s port=%u user=postgres dbname=postgres sslmode=disable "
		 "gssencmode=disable application_name=zg_itest", pg.dir, pg.port);
	run_pipeline("unix", ci, 0);
}

static void test_connect_refused(void **state)
{
	struct pgc p = { .expect_refused = true };
	char ci[256];
	struct zg_reactor *r;

	(void)state;
	snprintf(ci, sizeof(ci),
		 "hostaddr=127.0.0.1 port=%u user=postgres dbname=postgres sslmode=disable "
		 "gssencmode=disable", free_port());
	r = scenario_reactor(&p, NULL);
	pgc_start(&p, ci);
	assert_int_equal(zg_reactor_run(r), 0);
	printf("refused: %u polls, %u callbacks\n", p.polls, p.callbacks);
	scenario_free(&p);
	if (p.err[0])
		fail_msg("%s", p.err);
	assert_true(p.done);
	assert_null(p.conn);
	assert_null(p.w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_tcp),
		cmocka_unit_test(test_pipeline_unix),
		cmocka_unit_test(test_connect_refused),
	};
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0); /* in order with stderr in the log */
	it_init();
	if (!pg_find_bindir()) {
		printf("SKIP: no PostgreSQL server: initdb and postgres are in neither "
		       "/usr/lib/postgresql/*/bin nor PATH (ZG_PG_BINDIR=dir overrides); "
		       "scripts/install-deps.sh installs postgresql\n");
		return IT_SKIP;
	}
	if (!pg_pick_user()) {
		fprintf(stderr, "FAIL: running as root and no unprivileged user to run "
				"PostgreSQL as (ZG_PG_USER, zgtest, nobody)\n");
		return 1;
	}
	signal(SIGALRM, on_alarm);
	alarm(28);
	pg_start();
	ret = cmocka_run_group_tests_name("libpq", tests, NULL, NULL);
	free(big_param);
	pg_stop();
	return ret;
}
