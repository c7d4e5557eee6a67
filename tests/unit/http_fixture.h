/* Test fixture: a static-file HTTP server we did not write, Python's
 *
 *     /usr/bin/python3 -m http.server --bind 127.0.0.1 PORT --directory DIR
 *
 * serving a fresh private DIR. A file DIR/schemas/ids/7 holding a registry's
 * JSON answer makes GET /schemas/ids/7 behave like a schema registry; a
 * missing file is a 404. (http.server ignores Accept and Authorization.)
 *
 * The server gets a free loopback port (kernel-chosen; if another process
 * takes it before python binds, python exits and a new port is tried), runs
 * with PR_SET_PDEATHSIG so a crashed test leaves nothing behind, and is
 * stopped with SIGTERM. http_fixture_cleanup() stops it and removes DIR:
 * call it from the teardown, so it runs also when an assertion failed. */
#ifndef STREAMREC_TEST_HTTP_FIXTURE_H
#define STREAMREC_TEST_HTTP_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HTTP_FIXTURE_PYTHON "/usr/bin/python3"
#define HTTP_FIXTURE_STARTUP_MS 10000

typedef struct http_fixture {
    char dir[PATH_MAX]; /* "" until http_fixture_init */
    pid_t pid;          /* 0: not running */
    int port;
    char url[64]; /* http://127.0.0.1:PORT */
} http_fixture_t;

static void http_fixture_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A loopback port nobody listens on right now; 0 on failure. */
static int http_fixture_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool http_fixture_accepts(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int http_fixture_init(http_fixture_t *h) {
    memset(h, 0, sizeof *h);
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(h->dir, sizeof h->dir, "%s/streamrec-http-XXXXXX",
                     tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof h->dir || !mkdtemp(h->dir)) {
        h->dir[0] = '\0';
        return -1;
    }
    return 0;
}

/* Writes DIR/path (parents created) with content. */
static int http_fixture_put(http_fixture_t *h, const char *path, const char *content) {
    char full[PATH_MAX];
    int n = snprintf(full, sizeof full, "%s/%s", h->dir, path);
    if (n < 0 || (size_t)n >= sizeof full)
        return -1;
    for (char *slash = strchr(full + strlen(h->dir) + 1, '/'); slash;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(full, 0700) != 0 && errno != EEXIST)
            return -1;
        *slash = '/';
    }
    FILE *f = fopen(full, "w");
    if (!f)
        return -1;
    bool ok = fputs(content, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Starts the server on port (0: a free one) and waits until it accepts. */
static int http_fixture_start_on(http_fixture_t *h, int port, char *errstr, size_t errstr_size) {
    for (int attempt = 0; attempt < 5; attempt++) {
        int p = port ? port : http_fixture_free_port();
        if (!p)
            break;
        char port_arg[16];
        snprintf(port_arg, sizeof port_arg, "%d", p);
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            int null_fd = open("/dev/null", O_RDWR);
            if (null_fd >= 0) {
                dup2(null_fd, STDIN_FILENO);
                dup2(null_fd, STDOUT_FILENO);
                dup2(null_fd, STDERR_FILENO); /* http.server logs every request */
            }
            execl(HTTP_FIXTURE_PYTHON, HTTP_FIXTURE_PYTHON, "-m", "http.server", "--bind",
                  "127.0.0.1", port_arg, "--directory", h->dir, (char *)NULL);
            _exit(127);
        }
        for (int waited = 0; waited < HTTP_FIXTURE_STARTUP_MS; waited += 20) {
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
                    snprintf(errstr, errstr_size, "cannot run %s", HTTP_FIXTURE_PYTHON);
                    return -1;
                }
                pid = 0; /* most likely the port was taken: try another */
                break;
            }
            if (http_fixture_accepts(p)) {
                h->pid = pid;
                h->port = p;
                snprintf(h->url, sizeof h->url, "http://127.0.0.1:%d", p);
                return 0;
            }
            http_fixture_sleep_ms(20);
        }
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        if (port)
            break;
    }
    snprintf(errstr, errstr_size, "python http.server did not start serving %.200s", h->dir);
    return -1;
}

static int http_fixture_start(http_fixture_t *h, char *errstr, size_t errstr_size) {
    return http_fixture_start_on(h, 0, errstr, errstr_size);
}

static void http_fixture_stop(http_fixture_t *h) {
    if (h->pid <= 0)
        return;
    kill(h->pid, SIGTERM);
    for (int waited = 0; waited < 5000; waited += 10) {
        if (waitpid(h->pid, NULL, WNOHANG) == h->pid) {
            h->pid = 0;
            return;
        }
        http_fixture_sleep_ms(10);
    }
    kill(h->pid, SIGKILL);
    waitpid(h->pid, NULL, 0);
    h->pid = 0;
}

static int http_fixture_remove_one(const char *path, const struct stat *st, int flag,
                                   struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void http_fixture_cleanup(http_fixture_t *h) {
    http_fixture_stop(h);
    if (h->dir[0])
        nftw(h->dir, http_fixture_remove_one, 16, FTW_DEPTH | FTW_PHYS);
    h->dir[0] = '\0';
}

#endif
