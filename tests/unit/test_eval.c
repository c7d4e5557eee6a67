/* streamrec eval: the protocol and metrics on fixtures whose results follow
 * from their construction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "streamrec/eval.h"
#include "streamrec/synth.h"

static sr_event_log_t *load(const char *name) {
    char path[512], errstr[256];
    snprintf(path, sizeof path, "%s/%s", SR_FIXTURE_DIR, name);
    sr_event_log_t *log = sr_event_log_load(path, SR_CSV_STREAMREC, errstr, sizeof errstr);
    if (!log)
        fail_msg("%s", errstr);
    return log;
}

static void run(sr_config_t *cfg, const sr_event_log_t *log, sr_eval_result_t *r) {
    char errstr[256];
    sr_eval_options_t opt = {.knn_history = 10, .progress = NULL};
    assert_int_equal(sr_eval_run(cfg, log, &opt, r, errstr, sizeof errstr), SR_OK);
}

/* eval_two_groups.csv: users y1..y5 each view c then d, one hour apart;
 * then x1..x5 each view a then b. Only the second event of each user is
 * checked (the first makes the user known): 10 checks, all discoveries.
 * With K = 1 and MF out of the blend:
 *  - streamrec: y1 and x1 have no co-occurrence to learn from yet (miss);
 *    y2..y5 get d as c's neighbour, x2..x5 get b as a's: 8 hits, rank 1.
 *  - popularity: for y_j the trending list is c (own view, filtered) and d
 *    (j-1 views): hit from y2 on. For x_j, c and d have 5 views each, more
 *    than b's j-1, and d's are a minute newer, so d leads: miss. 4 hits.
 *  - item-kNN: same reasoning as streamrec's CF: 8 hits.
 *  - coverage: streamrec recommended d and b (x1 gets trending d): 2 of 4.
 *  - churn: the watermark (newest time minus 5 s lateness) crosses midnight
 *    between y1's two views, so that sweep takes one example, y1's, and
 *    y1's second view resolves it as "came back": 1 example, no positive,
 *    so the AUC is undefined. */
static void test_eval_two_groups_metrics_follow_from_construction(void **state) {
    (void)state;
    sr_event_log_t *log = load("eval_two_groups.csv");
    sr_config_t cfg;
    sr_config_init(&cfg);
    cfg.engine.reco.k = 1;
    cfg.engine.reco.mf_weight = 0;
    sr_eval_result_t r;
    run(&cfg, log, &r);

    assert_int_equal(r.events, 20);
    assert_int_equal(r.users, 10);
    assert_int_equal(r.items, 4);
    assert_int_equal(r.model[0].checked, 10);
    assert_int_equal(r.model[1].checked, 10);
    assert_int_equal(r.model[0].hits, 8);
    assert_float_equal(r.model[0].recall, 0.8, 1e-12);
    assert_float_equal(r.model[0].mrr, 0.8, 1e-12);
    assert_int_equal(r.pop[0].hits, 4);
    assert_float_equal(r.pop[0].recall, 0.4, 1e-12);
    assert_int_equal(r.knn[0].hits, 8);
    assert_float_equal(r.coverage, 0.5, 1e-12);
    assert_int_equal(r.churn_examples, 1);
    assert_int_equal(r.churn_positives, 0);
    assert_true(isnan(r.churn_auc));
    sr_config_free(&cfg);
    sr_event_log_destroy(log);
}

/* Repeat views are checked but are not discoveries: a user who views c, d,
 * then c again adds one check to the "all" column only. */
static void test_eval_repeat_view_is_not_a_discovery(void **state) {
    (void)state;
    char path[] = "/tmp/streamrec-eval-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("ts_ms,user_id,item_id,event_type,session_id,category_id,price\n"
          "1000,u,c,VIEW,,,\n2000,u,d,VIEW,,,\n3000,u,c,VIEW,,,\n", f);
    fclose(f);
    char errstr[256];
    sr_event_log_t *log = sr_event_log_load(path, SR_CSV_STREAMREC, errstr, sizeof errstr);
    unlink(path);
    assert_non_null(log);
    sr_config_t cfg;
    sr_config_init(&cfg);
    sr_eval_result_t r;
    run(&cfg, log, &r);
    assert_int_equal(r.model[0].checked, 1); /* d */
    assert_int_equal(r.model[1].checked, 2); /* d and the repeat of c */
    sr_config_free(&cfg);
    sr_event_log_destroy(log);
}

static void test_eval_roc_auc_and_average_precision_by_hand(void **state) {
    (void)state;
    /* scores 0.9(1) 0.8(0) 0.7(1) 0.1(0): of the 4 positive-negative pairs,
     * 3 are ordered right -> AUC 0.75. AP = (1/1 + 2/3) / 2 = 0.8333. */
    float s[] = {0.9f, 0.8f, 0.7f, 0.1f};
    uint8_t y[] = {1, 0, 1, 0};
    assert_float_equal(sr_eval_roc_auc(s, y, 4), 0.75, 1e-12);
    assert_float_equal(sr_eval_average_precision(s, y, 4), (1.0 + 2.0 / 3.0) / 2.0, 1e-12);
    /* a tie between a positive and a negative counts half */
    float t[] = {0.5f, 0.5f};
    uint8_t ty[] = {1, 0};
    assert_float_equal(sr_eval_roc_auc(t, ty, 2), 0.5, 1e-12);
    uint8_t only_pos[] = {1, 1};
    assert_true(isnan(sr_eval_roc_auc(t, only_pos, 2)));
}

/* The whole protocol is deterministic: two runs over the same synthetic
 * stream give identical metrics (bit for bit, not within a tolerance). */
static void test_eval_two_runs_are_identical(void **state) {
    (void)state;
    char path[] = "/tmp/streamrec-synth-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    sr_synth_config_t sc;
    sr_synth_config_defaults(&sc);
    sc.users = 300;
    sc.items = 200;
    sc.categories = 10;
    sc.days = 40;
    char errstr[256];
    sr_synth_t *synth = sr_synth_new(&sc, errstr, sizeof errstr);
    assert_non_null(synth);
    sr_csv_write_header(f);
    sr_event_t ev;
    while (sr_synth_next(synth, &ev)) assert_int_equal(sr_csv_write_event(f, &ev), SR_OK);
    sr_synth_destroy(synth);
    fclose(f);
    sr_event_log_t *log = sr_event_log_load(path, SR_CSV_STREAMREC, errstr, sizeof errstr);
    unlink(path);
    assert_non_null(log);
    sr_config_t cfg;
    sr_config_init(&cfg);
    sr_eval_result_t a, b;
    run(&cfg, log, &a);
    run(&cfg, log, &b);
    assert_true(a.model[1].checked > 1000);
    assert_true(a.churn_examples > 0);
    assert_true(a.model[0].hits > a.pop[0].hits); /* the planted structure is learnt */
    assert_memory_equal(a.model, b.model, sizeof a.model);
    assert_memory_equal(a.pop, b.pop, sizeof a.pop);
    assert_memory_equal(a.knn, b.knn, sizeof a.knn);
    assert_memory_equal(&a.coverage, &b.coverage, sizeof a.coverage);
    assert_memory_equal(&a.churn_auc, &b.churn_auc, sizeof a.churn_auc);
    sr_config_free(&cfg);
    sr_event_log_destroy(log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_two_groups_metrics_follow_from_construction),
        cmocka_unit_test(test_eval_repeat_view_is_not_a_discovery),
        cmocka_unit_test(test_eval_roc_auc_and_average_precision_by_hand),
        cmocka_unit_test(test_eval_two_runs_are_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
