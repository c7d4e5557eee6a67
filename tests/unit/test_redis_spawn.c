/* redis_spawn: a private redis-server that starts on a free port, answers,
 * and is always stopped and cleaned up. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "streamrec/redis_spawn.h"

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* True once the child can be reaped. Not /proc's "Z" state: the leader of a
 * multi-threaded process shows Z while its other threads are still exiting,
 * and waitpid() reports nothing until they are gone. WNOWAIT leaves the
 * child for sr_redis_spawn_stop() to reap. */
static bool is_reapable(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

static void test_redis_spawn_starts_on_a_free_port_and_stops(void **state) {
    (void)state;
    char errstr[512] = "";
    sr_redis_spawn_t *s = sr_redis_spawn_new(NULL, errstr, sizeof errstr);
    if (!s)
        fail_msg("%s", errstr);
    int port = sr_redis_spawn_port(s);
    assert_true(port > 0 && port <= 65535);
    assert_true(sr_redis_spawn_pid(s) > 0);
    assert_string_equal(sr_redis_spawn_host(s), "127.0.0.1");
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    assert_string_equal(sr_redis_spawn_url(s), url);
    assert_int_equal(sr_redis_ping("127.0.0.1", port, 1000, errstr, sizeof errstr), SR_OK);

    char log_path[4096];
    snprintf(log_path, sizeof log_path, "%s", sr_redis_spawn_log_path(s));
    assert_true(file_exists(log_path));

    assert_int_equal(sr_redis_spawn_stop(s, errstr, sizeof errstr), SR_OK);
    assert_int_equal(sr_redis_spawn_pid(s), -1);
    assert_int_equal(sr_redis_ping("127.0.0.1", port, 200, errstr, sizeof errstr), SR_ERR_IO);
    assert_non_null(strstr(errstr, "cannot connect"));
    assert_int_equal(sr_redis_spawn_stop(s, NULL, 0), SR_OK); /* again: fine */
    sr_redis_spawn_destroy(s);
    /* Its private directory (and the log in it) is gone. */
    assert_false(file_exists(log_path));
}

static void test_redis_spawn_two_servers_get_different_ports(void **state) {
    (void)state;
    char errstr[512] = "";
    sr_redis_spawn_t *a = sr_redis_spawn_new(NULL, errstr, sizeof errstr);
    sr_redis_spawn_t *b = sr_redis_spawn_new(NULL, errstr, sizeof errstr);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_not_equal(sr_redis_spawn_port(a), sr_redis_spawn_port(b));
    sr_redis_spawn_destroy(a);
    sr_redis_spawn_destroy(b);
}

static void test_redis_spawn_taken_port_fails_quoting_the_server_log(void **state) {
    (void)state;
    char errstr[512] = "";
    sr_redis_spawn_t *a = sr_redis_spawn_new(NULL, errstr, sizeof errstr);
    assert_non_null(a);
    sr_redis_spawn_config_t cfg = {.port = sr_redis_spawn_port(a), .startup_timeout_ms = 3000};
    sr_redis_spawn_t *b = sr_redis_spawn_new(&cfg, errstr, sizeof errstr);
    sr_redis_spawn_destroy(b); /* NULL unless the test fails */
    sr_redis_spawn_destroy(a);
    assert_null(b);
    /* The foreign server answered PING, but it was not our child: the child's
     * bind failure is what gets reported. */
    assert_non_null(strstr(errstr, "during startup"));
    assert_non_null(strstr(errstr, "in use"));
}

static void test_redis_spawn_missing_binary_says_what_to_install(void **state) {
    (void)state;
    char errstr[512] = "";
    sr_redis_spawn_config_t cfg = {.server_path = "streamrec-no-such-redis-server"};
    assert_null(sr_redis_spawn_new(&cfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "not found in PATH"));
    assert_non_null(strstr(errstr, "redis-server package"));

    cfg.server_path = "/nonexistent/redis-server";
    assert_null(sr_redis_spawn_new(&cfg, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "cannot execute /nonexistent/redis-server"));
}

static void test_redis_spawn_server_that_crashed_is_reported_by_stop(void **state) {
    (void)state;
    char errstr[512] = "";
    sr_redis_spawn_t *s = sr_redis_spawn_new(NULL, errstr, sizeof errstr);
    assert_non_null(s);
    pid_t pid = sr_redis_spawn_pid(s);
    kill(pid, SIGKILL);
    /* Wait until it can be reaped, so stop finds it dead rather than racing
     * the kill with its own SIGTERM. */
    for (int i = 0; i < 500 && !is_reapable(pid); i++)
        usleep(10000);
    sr_err_t err = sr_redis_spawn_stop(s, errstr, sizeof errstr);
    sr_redis_spawn_destroy(s);
    assert_int_equal(err, SR_ERR_IO);
    assert_non_null(strstr(errstr, "killed by signal 9"));
}

static void test_redis_ping_rejects_bad_arguments(void **state) {
    (void)state;
    char errstr[128] = "";
    assert_int_equal(sr_redis_ping("", 6379, 100, errstr, sizeof errstr), SR_ERR_INVALID);
    assert_int_equal(sr_redis_ping("127.0.0.1", 0, 100, errstr, sizeof errstr), SR_ERR_INVALID);
    assert_int_equal(sr_redis_ping("127.0.0.1", 6379, 0, errstr, sizeof errstr), SR_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_spawn_starts_on_a_free_port_and_stops),
        cmocka_unit_test(test_redis_spawn_two_servers_get_different_ports),
        cmocka_unit_test(test_redis_spawn_taken_port_fails_quoting_the_server_log),
        cmocka_unit_test(test_redis_spawn_missing_binary_says_what_to_install),
        cmocka_unit_test(test_redis_spawn_server_that_crashed_is_reported_by_stop),
        cmocka_unit_test(test_redis_ping_rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
