/* Implicit-feedback ALS on MovieLens 100k, end to end: read the ratings, split 80/20, train
 * with Spark's parameter names, watch the iterations, evaluate at 10, recommend for one
 * user, save / load the model and check that it recommends the same, export for NumPy.
 *
 * Build: make examples
 * Run:   build/examples/als_movielens [path/to/ml-100k/u.data]
 *
 * In Python afterwards: np.load(PREFIX + "_items.npy") gives the item factors, and
 * np.load(PREFIX + "_item_ids.npy") the MovieLens item id of each row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "als.h"

/* Every call is checked; a failure prints the call and the library's message. */
#define CHECK(call)                                                                      \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ != ALS_OK) {                                                             \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, als_strerror(rc_), als_last_error()); \
            goto done;                                                                   \
        }                                                                                \
    } while (0)

#define TOPK 10

static int on_iteration(void *user, int iter, int max_iter, double seconds, double loss) {
    (void)user;
    printf("  iteration %2d/%d  %6.2f s  training loss %.6g\n", iter, max_iter, seconds, loss);
    return 0; /* non-zero would stop training (als_model_fit returns ALS_ECANCELED) */
}

int main(int argc, char **argv) {
    const char *data = argc > 1 ? argv[1] : "../shared/data/ml-100k/u.data";
    static const char *const params[][2] = {
        /* Spark ML names and values, as in ALS().setRank(10)... */
        {"rank", "10"},          {"maxIter", "15"},      {"regParam", "0.01"},
        {"implicitPrefs", "true"}, {"alpha", "1.0"},     {"seed", "42"},
        /* this library's own: benfred/implicit-style plain lambda, loss for the callback */
        {"regScaling", "none"},  {"computeLoss", "true"},
    };
    als_ratings *all = NULL, *train = NULL, *test = NULL;
    als_model *model = NULL, *loaded = NULL;
    char path[1024], npy[1100];
    int status = 1, fd, have_tmp = 0;

    if (access(data, R_OK) != 0) {
        fprintf(stderr, "als_movielens: cannot read %s (pass the path of ml-100k/u.data)\n", data);
        return 1;
    }

    /* u.data: user <TAB> item <TAB> rating <TAB> timestamp */
    CHECK(als_ratings_read_csv(&all, data, "sep=\\t,user=0,item=1,value=2"));
    printf("%s: %lld ratings, %lld users, %lld items\n", data, (long long)als_ratings_rows(all),
           (long long)als_ratings_num_users(all), (long long)als_ratings_num_items(all));
    CHECK(als_ratings_split(all, 0.8, 42, &train, &test));
    printf("split 80/20: %lld training rows, %lld test rows\n", (long long)als_ratings_rows(train),
           (long long)als_ratings_rows(test));

    CHECK(als_model_create(&model));
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        CHECK(als_set_param(model, params[i][0], params[i][1]));
    CHECK(als_model_set_progress(model, on_iteration, NULL));
    printf("training implicit ALS (libals %s)\n", als_version_string());
    CHECK(als_model_fit(model, train));

    /* Ranking metrics at 10, each user's training items excluded from the ranking. */
    double met[ALS_METRIC_COUNT];
    CHECK(als_eval_ranking(model, train, test, TOPK, met, ALS_METRIC_COUNT));
    printf("test set, %.0f users: precision@%d %.4f  recall@%d %.4f  MAP@%d %.4f  NDCG@%d %.4f  "
           "AUC %.4f\n", met[ALS_METRIC_USERS], TOPK, met[ALS_METRIC_PRECISION], TOPK,
           met[ALS_METRIC_RECALL], TOPK, met[ALS_METRIC_MAP], TOPK, met[ALS_METRIC_NDCG],
           met[ALS_METRIC_AUC]);

    /* Ten new movies for user 196 (the first user in u.data). */
    const int64_t user = 196;
    int64_t items[TOPK], items2[TOPK];
    float scores[TOPK], scores2[TOPK];
    CHECK(als_model_recommend(model, user, TOPK, train, items, scores));
    printf("top %d for user %lld:", TOPK, (long long)user);
    for (int i = 0; i < TOPK; i++) printf(" %lld (%.3f)", (long long)items[i], scores[i]);
    printf("\n");

    /* Save to a fresh temporary name, load it back, and expect the same answer. */
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/als_movielens-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if ((fd = mkstemp(path)) < 0) {
        perror("als_movielens: mkstemp");
        goto done;
    }
    close(fd);
    have_tmp = 1;
    CHECK(als_model_save(model, path)); /* atomic: replaces the empty file */
    CHECK(als_model_load(&loaded, path));
    CHECK(als_model_recommend(loaded, user, TOPK, train, items2, scores2));
    if (memcmp(items, items2, sizeof items) != 0 || memcmp(scores, scores2, sizeof scores) != 0) {
        fprintf(stderr, "als_movielens: the loaded model recommends differently\n");
        goto done;
    }
    printf("saved to %s, loaded back: same recommendations\n", path);

    /* PATH_users.npy, PATH_items.npy (float32) and PATH_user_ids.npy, PATH_item_ids.npy. */
    CHECK(als_model_export_npy(loaded, path));
    printf("exported %s_{users,items,user_ids,item_ids}.npy (removed again at exit)\n", path);
    status = 0;
done:
    /* The example cleans up after itself; drop these lines to keep the files. */
    if (have_tmp) {
        static const char *const suffix[4] = {"_users.npy", "_items.npy", "_user_ids.npy", "_item_ids.npy"};
        unlink(path);
        for (int i = 0; i < 4; i++) {
            snprintf(npy, sizeof npy, "%s%s", path, suffix[i]);
            unlink(npy);
        }
    }
    als_model_destroy(loaded);
    als_model_destroy(model);
    als_ratings_destroy(test);
    als_ratings_destroy(train);
    als_ratings_destroy(all);
    return status;
}
