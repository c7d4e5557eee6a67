#include "streamrec/redis_spawn.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define SPAWN_HOST "127.0.0.1"
#define DEFAULT_STARTUP_TIMEOUT_MS 5000
#define STOP_GRACE_MS 5000
#define POLL_INTERVAL_MS 10
/* A free port can be taken by someone else between our probe and the
 * server's bind; a handful of fresh tries makes that practically moot. */
#define PORT_ATTEMPTS 5

struct sr_redis_spawn {
    pid_t pid;
    int port;
    char url[64];
    char dir[PATH_MAX];
    char log_path[PATH_MAX];
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- probing ------------------------------------------------------------ */

static redisContext *connect_with_timeout(const char *host, int port, int timeout_ms,
                                          char *errstr, size_t errstr_size) {
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory connecting to Redis");
        return NULL;
    }
    if (c->err) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size, "cannot connect to Redis at %s:%d (%s)",
                  host, port, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size, "Redis at %s:%d: cannot set timeout (%s)",
                  host, port, c->errstr);
        redisFree(c);
        return NULL;
    }
    return c;
}

/* PING, and if server_pid is wanted, the process_id line of INFO server. */
static sr_err_t probe(const char *host, int port, int timeout_ms, pid_t *server_pid,
                      char *errstr, size_t errstr_size) {
    redisContext *c = connect_with_timeout(host, port, timeout_ms, errstr, errstr_size);
    if (!c)
        return SR_ERR_IO;
    sr_err_t err = SR_OK;
    redisReply *r = redisCommand(c, "PING");
    if (!r) {
        err = sr_seterr(SR_ERR_IO, errstr, errstr_size, "Redis at %s:%d: PING failed (%s)",
                        host, port, c->errstr);
        goto done;
    }
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0) {
        err = sr_seterr(SR_ERR_IO, errstr, errstr_size,
                        "Redis at %s:%d: PING answered '%s', not PONG", host, port,
                        r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR
                            ? r->str : "?");
        goto done;
    }
    if (server_pid) {
        freeReplyObject(r);
        r = redisCommand(c, "INFO server");
        const char *line = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "process_id:")
                                                              : NULL;
        if (!line) {
            err = sr_seterr(SR_ERR_IO, errstr, errstr_size,
                            "Redis at %s:%d: INFO server has no process_id", host, port);
            goto done;
        }
        *server_pid = (pid_t)strtol(line + strlen("process_id:"), NULL, 10);
    }
done:
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return err;
}

sr_err_t sr_redis_ping(const char *host, int port, int timeout_ms,
                       char *errstr, size_t errstr_size) {
    if (!host || !*host || port <= 0 || port > 65535 || timeout_ms <= 0)
        return sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                         "sr_redis_ping: bad host, port or timeout");
    return probe(host, port, timeout_ms, NULL, errstr, errstr_size);
}

/* ---- helpers ------------------------------------------------------------ */

static sr_err_t free_loopback_port(int *port, char *errstr, size_t errstr_size) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sr_seterr(SR_ERR_IO, errstr, errstr_size, "socket: %s", strerror(errno));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        int e = errno;
        close(fd);
        return sr_seterr(SR_ERR_IO, errstr, errstr_size,
                         "cannot find a free loopback port: %s", strerror(e));
    }
    close(fd);
    *port = ntohs(addr.sin_port);
    return SR_OK;
}

/* The executable to run: name itself if it holds a '/', else the first
 * executable match in PATH. Resolved before fork(), because execvp()'s PATH
 * search may allocate and is not safe in the child of a threaded process. */
static sr_err_t resolve_server(const char *name, char *out, size_t out_size,
                               char *errstr, size_t errstr_size) {
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0)
            return sr_seterr(SR_ERR_IO, errstr, errstr_size, "cannot execute %s: %s", name,
                             strerror(errno));
        snprintf(out, out_size, "%s", name);
        return SR_OK;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t dir_len = end ? (size_t)(end - path) : strlen(path);
        int n = snprintf(out, out_size, "%.*s/%s", (int)dir_len, dir_len ? path : ".", name);
        if (n > 0 && (size_t)n < out_size && access(out, X_OK) == 0)
            return SR_OK;
        path += dir_len + (end ? 1 : 0);
    }
    return sr_seterr(SR_ERR_IO, errstr, errstr_size,
                     "%s not found in PATH: install the redis-server package "
                     "(apt-get install redis-server) or point redis.url at a running Redis",
                     name);
}

/* The last few lines of the server's log, joined with " | ", for errors:
 * "Address already in use" is only ever said there. */
static void log_tail(const char *path, char *out, size_t out_size) {
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[600];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)(sizeof buf - 1) ? size - (off_t)(sizeof buf - 1) : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    /* Keep the last 3 lines. */
    char *start = buf;
    int lines = 0;
    for (char *p = buf + n; p > buf; p--) {
        if (p[-1] == '\n' && ++lines == 3) {
            start = p;
            break;
        }
    }
    size_t o = 0;
    for (char *p = start; *p && o + 4 < out_size; p++) {
        if (*p == '\n') {
            memcpy(out + o, " | ", 3);
            o += 3;
        } else if (*p != '\r') {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void remove_dir(const char *dir) {
    if (!dir[0])
        return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void describe_status(int status, char *out, size_t out_size) {
    if (WIFEXITED(status))
        snprintf(out, out_size, "exited with status %d%s", WEXITSTATUS(status),
                 WEXITSTATUS(status) == 127 ? " (exec failed)" : "");
    else if (WIFSIGNALED(status))
        snprintf(out, out_size, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(out, out_size, "ended with wait status 0x%x", (unsigned)status);
}

/* ---- start -------------------------------------------------------------- */

/* Only async-signal-safe calls between fork() and exec(): the parent may be
 * threaded (librdkafka), and another thread may have held malloc's lock at
 * the moment of the fork. */
static pid_t fork_server(const char *server, char *const argv[], int log_fd, long max_fd) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(126); /* the parent died before PDEATHSIG was armed */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0)
        dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    if (close_range(3, ~0u, 0) != 0) {
        for (long fd = 3; fd < max_fd; fd++)
            close((int)fd);
    }
    execv(server, argv);
    static const char msg[] = "streamrec: exec redis-server failed\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
}

typedef enum { START_OK, START_EXITED, START_TIMEOUT } start_result_t;

/* Waits until the server at s->port is our child and answers, or the child
 * exits, or the deadline passes. On START_EXITED *status is the wait status
 * and s->pid is -1 (reaped). */
static start_result_t wait_ready(sr_redis_spawn_t *s, int64_t deadline_ms, int *status,
                                 char *errstr, size_t errstr_size) {
    for (;;) {
        pid_t r = waitpid(s->pid, status, WNOHANG);
        if (r == s->pid) {
            s->pid = -1;
            return START_EXITED;
        }
        int remaining = (int)(deadline_ms - now_ms());
        if (remaining <= 0)
            return START_TIMEOUT;
        pid_t server_pid = 0;
        int probe_ms = remaining < 200 ? remaining : 200;
        if (probe(SPAWN_HOST, s->port, probe_ms, &server_pid, errstr, errstr_size) == SR_OK) {
            if (server_pid == s->pid)
                return START_OK;
            /* Someone else's server holds the port; ours will fail to bind
             * and exit, which the next waitpid sees. */
        }
        sleep_ms(POLL_INTERVAL_MS);
    }
}

sr_redis_spawn_t *sr_redis_spawn_new(const sr_redis_spawn_config_t *cfg,
                                     char *errstr, size_t errstr_size) {
    sr_redis_spawn_config_t defaults = {0};
    if (!cfg)
        cfg = &defaults;
    if (cfg->port < 0 || cfg->port > 65535 || cfg->startup_timeout_ms < 0) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size,
                  "redis spawn: port %d or startup timeout %d ms out of range", cfg->port,
                  cfg->startup_timeout_ms);
        return NULL;
    }
    int timeout_ms = cfg->startup_timeout_ms ? cfg->startup_timeout_ms
                                             : DEFAULT_STARTUP_TIMEOUT_MS;
    char server[PATH_MAX];
    if (resolve_server(cfg->server_path && *cfg->server_path ? cfg->server_path
                                                             : "redis-server",
                       server, sizeof server, errstr, errstr_size) != SR_OK)
        return NULL;

    int log_fd = -1;
    sr_redis_spawn_t *s = calloc(1, sizeof *s);
    if (!s) {
        sr_seterr(SR_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->pid = -1;

    const char *tmp = getenv("TMPDIR");
    int n = snprintf(s->dir, sizeof s->dir, "%s/streamrec-redis-XXXXXX",
                     tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof s->dir - sizeof "/redis.log") {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "redis spawn: TMPDIR too long");
        s->dir[0] = '\0';
        goto fail;
    }
    if (!mkdtemp(s->dir)) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size, "redis spawn: mkdtemp %s: %s", s->dir,
                  strerror(errno));
        s->dir[0] = '\0';
        goto fail;
    }
    if (cfg->log_path && *cfg->log_path)
        n = snprintf(s->log_path, sizeof s->log_path, "%s", cfg->log_path);
    else
        n = snprintf(s->log_path, sizeof s->log_path, "%s/redis.log", s->dir);
    if (n < 0 || (size_t)n >= sizeof s->log_path) {
        sr_seterr(SR_ERR_INVALID, errstr, errstr_size, "redis spawn: log path too long");
        goto fail;
    }
    log_fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        sr_seterr(SR_ERR_IO, errstr, errstr_size, "redis spawn: cannot open log %s: %s",
                  s->log_path, strerror(errno));
        goto fail;
    }
    long max_fd = sysconf(_SC_OPEN_MAX);
    if (max_fd <= 0 || max_fd > 65536)
        max_fd = 65536;

    for (int attempt = 1;; attempt++) {
        s->port = cfg->port;
        if (s->port == 0 && free_loopback_port(&s->port, errstr, errstr_size) != SR_OK)
            goto fail;
        char port_arg[16];
        snprintf(port_arg, sizeof port_arg, "%d", s->port);
        char *const argv[] = {server, "--port", port_arg, "--bind", SPAWN_HOST,
                              "--save", "", "--appendonly", "no", "--daemonize", "no",
                              "--dir", s->dir, "--logfile", s->log_path, NULL};
        s->pid = fork_server(server, argv, log_fd, max_fd);
        if (s->pid < 0) {
            sr_seterr(SR_ERR_IO, errstr, errstr_size, "redis spawn: fork: %s",
                      strerror(errno));
            goto fail;
        }

        int status = 0;
        char probe_err[256] = "";
        start_result_t r = wait_ready(s, now_ms() + timeout_ms, &status, probe_err,
                                      sizeof probe_err);
        if (r == START_OK)
            break;
        char tail[400], how[96];
        log_tail(s->log_path, tail, sizeof tail);
        if (r == START_TIMEOUT) {
            sr_seterr(SR_ERR_IO, errstr, errstr_size,
                      "%s on port %d did not answer within %d ms (%s); log: %s", server,
                      s->port, timeout_ms, probe_err, tail[0] ? tail : "(empty)");
            goto fail; /* destroy kills it */
        }
        if (cfg->port == 0 && attempt < PORT_ATTEMPTS && strstr(tail, "in use"))
            continue;
        describe_status(status, how, sizeof how);
        sr_seterr(SR_ERR_IO, errstr, errstr_size, "%s on port %d %s during startup; log: %s",
                  server, s->port, how, tail[0] ? tail : "(empty)");
        goto fail;
    }
    close(log_fd);
    snprintf(s->url, sizeof s->url, "redis://%s:%d", SPAWN_HOST, s->port);
    return s;
fail:
    if (log_fd >= 0)
        close(log_fd);
    sr_redis_spawn_destroy(s);
    return NULL;
}

/* ---- stop --------------------------------------------------------------- */

sr_err_t sr_redis_spawn_stop(sr_redis_spawn_t *s, char *errstr, size_t errstr_size) {
    if (!s || s->pid <= 0)
        return SR_OK;
    pid_t pid = s->pid;
    s->pid = -1;
    int status = 0;
    bool signalled = false, reaped = false;

    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
        reaped = true; /* it had died on its own: report how */
    } else if (r < 0 && errno == ECHILD) {
        return SR_OK; /* reaped by someone else's SIGCHLD handling */
    } else {
        kill(pid, SIGTERM);
        signalled = true;
        for (int64_t deadline = now_ms() + STOP_GRACE_MS; now_ms() < deadline;) {
            r = waitpid(pid, &status, WNOHANG);
            if (r == pid) {
                reaped = true;
                break;
            }
            if (r < 0 && errno == ECHILD)
                return SR_OK;
            sleep_ms(POLL_INTERVAL_MS);
        }
        if (!reaped) {
            kill(pid, SIGKILL);
            while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
            }
            if (r != pid)
                return SR_OK;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return SR_OK;
    if (signalled && WIFSIGNALED(status) &&
        (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGKILL))
        return SR_OK;
    char how[96];
    describe_status(status, how, sizeof how);
    return sr_seterr(SR_ERR_IO, errstr, errstr_size, "redis-server (pid %d, port %d) %s",
                     (int)pid, s->port, how);
}

void sr_redis_spawn_destroy(sr_redis_spawn_t *s) {
    if (!s)
        return;
    sr_redis_spawn_stop(s, NULL, 0);
    remove_dir(s->dir);
    free(s);
}

const char *sr_redis_spawn_host(const sr_redis_spawn_t *s) {
    (void)s;
    return SPAWN_HOST;
}

int sr_redis_spawn_port(const sr_redis_spawn_t *s) {
    return s->port;
}

const char *sr_redis_spawn_url(const sr_redis_spawn_t *s) {
    return s->url;
}

pid_t sr_redis_spawn_pid(const sr_redis_spawn_t *s) {
    return s->pid;
}

const char *sr_redis_spawn_log_path(const sr_redis_spawn_t *s) {
    return s->log_path;
}
