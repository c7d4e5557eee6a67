/* streamrec redis_spawn: a private redis-server child process.
 *
 * The embedded default (`streamrec demo`) starts a local redis-server when
 * redis.url is not reachable, and the tests need a real server that is always
 * stopped again. Both use this module: it forks and execs
 *
 *     redis-server --port N --bind 127.0.0.1 --save '' --appendonly no
 *                  --daemonize no --dir DIR --logfile DIR/redis.log
 *
 * and returns only once the server answers PING and INFO reports our child's
 * pid (so a foreign server that grabbed the port in the meantime is never
 * mistaken for ours).
 *
 * Choices, and the failure each one prevents:
 *   - Port 0 in the config means "any free loopback port": the kernel picks
 *     one (bind to port 0), we close it and hand it to redis-server. Another
 *     process can take it in between; if the server then fails with "Address
 *     already in use", a new port is tried (up to 5 times).
 *   - DIR is a fresh private directory (mkdtemp under $TMPDIR or /tmp),
 *     removed by sr_redis_spawn_destroy(). Redis loads dump.rdb from its
 *     working directory at startup even with --save '': a stray dump in the
 *     caller's cwd must not leak into a test or demo server.
 *   - The child gets its own process group, so a Ctrl-C meant for the daemon
 *     does not stop Redis before the daemon has flushed its last batch; and
 *     PR_SET_PDEATHSIG(SIGTERM), so it does not outlive a parent that crashed
 *     (a test that segfaults leaves no server behind). PDEATHSIG fires when
 *     the *thread* that called sr_redis_spawn_new() exits: call it from a
 *     thread that lives as long as the server is wanted (the main thread).
 *   - The child's signal mask is cleared and every inherited descriptor
 *     beyond stdio closed before exec: a daemon that blocks SIGTERM in all
 *     threads (to sigwait for it) must still be able to stop the server, and
 *     the server must not hold the daemon's Kafka sockets open.
 *   - Stopping is SIGTERM, then waitpid for up to 5 s, then SIGKILL. If the
 *     application reaps every child itself (SIGCHLD ignored or a waitpid(-1)
 *     handler) the server is still stopped, only its exit status is lost.
 *
 * Ownership: sr_redis_spawn_new() returns an object owned by the caller;
 * sr_redis_spawn_destroy() stops the server (if still running), removes DIR
 * and frees. Strings returned by the accessors live as long as the object.
 *
 * Threads: an object is used by one thread at a time. sr_redis_ping() is
 * safe from any thread. */
#ifndef STREAMREC_REDIS_SPAWN_H
#define STREAMREC_REDIS_SPAWN_H

#include <sys/types.h>

#include <stddef.h>

#include "streamrec/err.h"

typedef struct sr_redis_spawn_config {
    const char *server_path; /* NULL or "": "redis-server" looked up in PATH */
    int port;                /* 0: a free loopback port */
    int startup_timeout_ms;  /* 0: 5000 */
    const char *log_path;    /* NULL or "": DIR/redis.log, removed with DIR;
                              * the last lines are quoted in startup errors */
} sr_redis_spawn_config_t;

typedef struct sr_redis_spawn sr_redis_spawn_t;

/* Starts redis-server and waits until it answers. cfg may be NULL (all
 * defaults). Returns NULL with a message in errstr if the binary is missing
 * ("redis-server not found in PATH: install the redis-server package or ..."),
 * the server exits during startup (its last log lines are quoted), or it does
 * not answer within the startup timeout (it is then killed). */
sr_redis_spawn_t *sr_redis_spawn_new(const sr_redis_spawn_config_t *cfg,
                                     char *errstr, size_t errstr_size);

/* Stops the server if running (as sr_redis_spawn_stop), removes its directory,
 * frees. NULL is a no-op. */
void sr_redis_spawn_destroy(sr_redis_spawn_t *s);

/* Stops the server: SIGTERM, up to 5 s for it to exit, then SIGKILL; reaps
 * it. Calling it again, or after the server died on its own, is fine.
 * SR_OK if the server exited cleanly or by our signal; SR_ERR_IO with the
 * exit status otherwise (a crash the caller may want to report). */
sr_err_t sr_redis_spawn_stop(sr_redis_spawn_t *s, char *errstr, size_t errstr_size);

/* "127.0.0.1" */
const char *sr_redis_spawn_host(const sr_redis_spawn_t *s);
int sr_redis_spawn_port(const sr_redis_spawn_t *s);
/* "redis://127.0.0.1:PORT", for redis.url and for messages. */
const char *sr_redis_spawn_url(const sr_redis_spawn_t *s);
/* The server's pid, or -1 once stopped. */
pid_t sr_redis_spawn_pid(const sr_redis_spawn_t *s);
/* The server's log file. */
const char *sr_redis_spawn_log_path(const sr_redis_spawn_t *s);

/* SR_OK if a Redis server at host:port answers PING with PONG within
 * timeout_ms (connect and reply each); SR_ERR_IO with the reason otherwise.
 * This is the daemon's "is redis.url reachable" test. */
sr_err_t sr_redis_ping(const char *host, int port, int timeout_ms,
                       char *errstr, size_t errstr_size);

#endif
