/**
 * @file vecidx.h
 * @brief libvecidx: exact (flat) and IVF-flat vector indexes over the shared als_matrix.
 *
 * One opaque handle type, vecidx, serves every index kind. Scores are "bigger is better"
 * for VECIDX_METRIC_IP (inner product) and "smaller is better" for VECIDX_METRIC_L2
 * (squared Euclidean distance). Cosine similarity is inner product on rows normalized
 * with als_matrix_normalize_rows().
 *
 * Results: a search writes nq x k scores and ids, row-major, best first. Where fewer than
 * k results exist, the id is -1 and the score -INFINITY (IP) or +INFINITY (L2). Equal
 * scores are ordered by smaller id, so results are deterministic and identical for every
 * thread count and every SIMD path.
 *
 * Status codes, errors and the matrix type come from als.h.
 */
#ifndef VECIDX_H
#define VECIDX_H

#include "als.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef VECIDX_API
#if defined(__GNUC__) && defined(VECIDX_BUILDING_LIBRARY)
#define VECIDX_API __attribute__((visibility("default")))
#else
#define VECIDX_API
#endif
#endif

/** Version of libvecidx: released together with libals, so it is the same number
 *  (the version lives once, in als.h). */
#define VECIDX_VERSION_MAJOR ALS_VERSION_MAJOR
#define VECIDX_VERSION_MINOR ALS_VERSION_MINOR
#define VECIDX_VERSION_PATCH ALS_VERSION_PATCH
#define VECIDX_VERSION_NUMBER ALS_VERSION_NUMBER
#define VECIDX_VERSION_STRING ALS_VERSION_STRING

/** @brief Runtime version of libvecidx as VECIDX_VERSION_NUMBER. Thread safety: safe. */
VECIDX_API int vecidx_version_number(void);

/** Metrics (fixed values, never reused). */
#define VECIDX_METRIC_IP 0 /**< inner product, bigger is better */
#define VECIDX_METRIC_L2 1 /**< squared L2 distance, smaller is better */

/** Index kinds as returned by vecidx_kind(). */
#define VECIDX_KIND_FLAT 0
#define VECIDX_KIND_IVF 1

/** Filter modes. */
#define VECIDX_FILTER_EXCLUDE 0 /**< never return the listed ids */
#define VECIDX_FILTER_INCLUDE 1 /**< return only the listed ids */

/** SIMD paths for VECIDX_PARAM_SIMD. Every path gives bit-identical results. */
#define VECIDX_SIMD_AUTO 0     /**< the fastest level the CPU supports, measured once per process
                                    (a few ms on first use: AVX2 beats AVX-512 on CPUs with
                                    half-width AVX-512 units, such as AMD Zen 4) (default) */
#define VECIDX_SIMD_PORTABLE 1 /**< plain C, any x86-64 or other CPU */
#define VECIDX_SIMD_AVX2 2     /**< AVX2 + FMA */
#define VECIDX_SIMD_AVX512 3   /**< AVX-512F */

/**
 * Parameter keys for vecidx_set_int / vecidx_get_int. Numbers are fixed and never reused.
 * Bounds are inclusive; vecidx_param_bounds() reports them.
 */
#define VECIDX_PARAM_NPROBE 100         /**< lists scanned per query (IVF); default 1, [1, 2^31-1]; values above nlist act as nlist */
#define VECIDX_PARAM_SEED 300           /**< k-means sampling and init seed; default 1234, [0, INT64_MAX] */
#define VECIDX_PARAM_KMEANS_ITERS 301   /**< k-means iterations; default 10 (as Faiss's IVF training), [1, 1000] */
#define VECIDX_PARAM_TRAIN_PER_LIST 302 /**< training sample: at most this many points per list; default 256, [1, 1000000] */
#define VECIDX_PARAM_NUM_THREADS 900    /**< threads for train/add/search; 0 = all cores (default), [0, 4096] */
#define VECIDX_PARAM_SIMD 901           /**< VECIDX_SIMD_*; default AUTO. get returns the path in use */
/** Search-time only (vecidx_params): 1 = exact results, identical to a flat index over the
 *  same vectors (an IVF index scans every list); 0 = the index's own way (default). @since 1.1 */
#define VECIDX_PARAM_EXACT 902

typedef struct vecidx vecidx;
typedef struct vecidx_filter vecidx_filter;
/** Per-call search settings (@since 1.1): see vecidx_params_create. */
typedef struct vecidx_params vecidx_params;

/**
 * @brief Create an exact (brute-force) index.
 * @param[out] out receives the index; NULL on failure.
 * @param[in] dim vector dimension, >= 1.
 * @param[in] metric VECIDX_METRIC_IP or VECIDX_METRIC_L2.
 * @retval ALS_EINVAL out is NULL or metric unknown.
 * @retval ALS_ERANGE dim < 1 or dim > 65536.
 * @retval ALS_ENOMEM allocation failed.
 * Ownership: caller owns *out; free with vecidx_destroy. Thread safety: safe.
 */
VECIDX_API int vecidx_flat_create(vecidx **out, int64_t dim, int metric);

/**
 * @brief Create an IVF-flat index with nlist inverted lists (k-means coarse quantizer).
 *        It must be trained (vecidx_train) before vectors are added.
 * @param[in] nlist number of lists, >= 1.
 * @retval ALS_EINVAL out is NULL or metric unknown.
 * @retval ALS_ERANGE dim or nlist out of range (nlist in [1, 2^31-1]).
 * @retval ALS_ENOMEM allocation failed.
 * Ownership: caller owns *out. Thread safety: safe.
 */
VECIDX_API int vecidx_ivf_create(vecidx **out, int64_t dim, int metric, int64_t nlist);

/** @brief Free an index. NULL is a no-op. Thread safety: not with other calls on idx. */
VECIDX_API void vecidx_destroy(vecidx *idx);

/**
 * @brief Train the index. IVF: k-means (VECIDX_PARAM_KMEANS_ITERS iterations) on a
 *        sample of at most nlist x VECIDX_PARAM_TRAIN_PER_LIST rows of x, drawn with
 *        VECIDX_PARAM_SEED; the same data and seed give the same centroids whatever the
 *        thread count. For L2 the centroids are means; for IP they are normalized means
 *        (spherical k-means). From 1024 lists on (since 1.1), every iteration but the
 *        last runs on a subsample of 48 rows per list, and points are assigned through a
 *        two-level quantizer (about 0.4 sqrt(nlist) top centroids over the nlist ones),
 *        which vecidx_add also uses: builds then cost about candidates x sqrt(nlist)
 *        instead of candidates x nlist (docs/performance.md, "IVF build at scale"); a point
 *        gets the flat quantizer's list unless its nearest centroid lies outside every
 *        scanned cell (0.05% of the points there). Flat: a no-op that only checks x.
 *        Training again replaces the centroids and requires an empty index.
 * @param[in] x training vectors, cols == dim.
 * @retval ALS_EINVAL idx or x NULL, or x holds NaN/Inf.
 * @retval ALS_EDIM x has the wrong number of columns.
 * @retval ALS_ERANGE IVF with fewer training rows than nlist.
 * @retval ALS_ESTATE the IVF index already holds vectors.
 * @retval ALS_ENOMEM allocation failed.
 * Thread safety: not with other calls on idx.
 */
VECIDX_API int vecidx_train(vecidx *idx, const als_matrix *x);

/** @brief 1 if the index can take vectors (flat: always; IVF: after training). */
VECIDX_API int vecidx_is_trained(const vecidx *idx);

/**
 * @brief Add the rows of x with their ids.
 * @param[in] x vectors, cols == dim; rows may be 0.
 * @param[in] ids x.rows ids, any int64 except -1; NULL = consecutive ids starting at
 *            the current size. Ids are not checked for uniqueness.
 * @retval ALS_EINVAL idx or x NULL, an id is -1, or x holds NaN/Inf (nothing is added).
 * @retval ALS_EDIM wrong number of columns.
 * @retval ALS_ESTATE an IVF index that is not trained.
 * @retval ALS_ENOMEM allocation failed (nothing is added).
 * Ownership: data and ids are copied. Thread safety: not with other calls on idx.
 */
VECIDX_API int vecidx_add(vecidx *idx, const als_matrix *x, const int64_t *ids);

/**
 * @brief k nearest neighbours of each query row.
 * @param[in] queries nq x dim (nq may be 0).
 * @param[in] k results per query, >= 1; k larger than the index is fine (padded).
 * @param[out] scores nq x k floats (may be NULL if not wanted).
 * @param[out] ids nq x k ids.
 * @retval ALS_EINVAL a NULL handle/ids, or a query holding NaN/Inf.
 * @retval ALS_EDIM queries have the wrong number of columns.
 * @retval ALS_ERANGE k < 1, or nq x k results that no buffer could hold (more bytes than
 *         the machine's memory: k = 2^40 or INT64_MAX); nothing is written then.
 * @retval ALS_ESTATE an IVF index that is not trained.
 * @retval ALS_ENOMEM allocation of per-thread buffers failed.
 * Memory: O(threads x tile + nq x k); no nq x size score matrix is ever built.
 * Thread safety: any number of searches may run concurrently on one index that is not
 * being modified; results equal serial results.
 */
VECIDX_API int vecidx_search(const vecidx *idx, const als_matrix *queries, int64_t k,
                             float *scores, int64_t *ids);

/**
 * @brief Create an id filter for vecidx_search_filtered.
 * @param[in] ids n ids (duplicates are fine); may be NULL when n is 0.
 * @param[in] mode VECIDX_FILTER_EXCLUDE or VECIDX_FILTER_INCLUDE.
 * @retval ALS_EINVAL out NULL, ids NULL with n > 0, or unknown mode.
 * @retval ALS_ERANGE n < 0.
 * @retval ALS_ENOMEM allocation failed.
 * Ownership: ids are copied; caller owns *out. Thread safety: a filter is read-only
 * once created and may be shared by concurrent searches.
 */
VECIDX_API int vecidx_filter_create(vecidx_filter **out, const int64_t *ids, int64_t n,
                                    int mode);
/** @brief Free a filter. NULL is a no-op. */
VECIDX_API void vecidx_filter_destroy(vecidx_filter *f);
/** @brief 1 if the filter lets id through, 0 if not (NULL filter: always 1). */
VECIDX_API int vecidx_filter_allows(const vecidx_filter *f, int64_t id);

/**
 * @brief vecidx_search restricted by a filter (NULL filter = plain search). The filter
 *        is consulted only for candidates that beat the current k-th best score, so
 *        excluding a few seeds costs nothing measurable.
 * Same return codes as vecidx_search.
 */
VECIDX_API int vecidx_search_filtered(const vecidx *idx, const als_matrix *queries,
                                      int64_t k, const vecidx_filter *filter,
                                      float *scores, int64_t *ids);

/** @defgroup vecidx_params Per-call search parameters
 *  Settings that belong to one search, not to the index: a service shares one index
 *  between concurrent requests with different settings and never mutates it to serve one.
 *  A vecidx_params handle holds any of VECIDX_PARAM_NPROBE, VECIDX_PARAM_NUM_THREADS,
 *  VECIDX_PARAM_SIMD, VECIDX_PARAM_EXACT and a filter; what it does not set comes from the
 *  index (vecidx_set_int), so NULL params mean "the index's settings". Reusable; one handle
 *  may serve concurrent searches while nobody modifies it. @since 1.1
 *  @{ */
/** @brief A handle with nothing set. @retval ALS_EINVAL out NULL. @retval ALS_ENOMEM. */
VECIDX_API int vecidx_params_create(vecidx_params **out);
/** @brief Free (NULL is a no-op). The filter it names is not freed. */
VECIDX_API void vecidx_params_destroy(vecidx_params *p);
/**
 * @brief Set a search-time key (bounds as for vecidx_set_int; EXACT is 0 or 1).
 * @retval ALS_EINVAL p NULL, or a key that is not a search-time key (SEED, ...).
 * @retval ALS_ERANGE value outside the key's bounds.
 * @retval ALS_EUNSUPPORTED a SIMD path this CPU lacks.
 */
VECIDX_API int vecidx_params_set_int(vecidx_params *p, int key, int64_t value);
/** @brief Read a key that was set. @retval ALS_ENOTFOUND not set (the index's value applies). */
VECIDX_API int vecidx_params_get_int(const vecidx_params *p, int key, int64_t *value);
/** @brief Forget a key (the index's value applies again). */
VECIDX_API int vecidx_params_unset(vecidx_params *p, int key);
/**
 * @brief Exclude / restrict ids in searches made with p (NULL: no filter). The filter is
 *        borrowed: keep it alive while p is used with it.
 */
VECIDX_API int vecidx_params_set_filter(vecidx_params *p, const vecidx_filter *filter);
/**
 * @brief vecidx_search with per-call settings (params may be NULL: the index's settings).
 * Same outputs, codes and thread safety as vecidx_search; the filter is the params' one.
 */
VECIDX_API int vecidx_search_with(const vecidx *idx, const als_matrix *queries, int64_t k,
                                  const vecidx_params *params, float *scores, int64_t *ids);
/**
 * @brief vecidx_expand with per-call settings (the filter is the params' one).
 * Same outputs, codes and thread safety as vecidx_expand.
 */
VECIDX_API int vecidx_expand_with(const vecidx *idx, const als_matrix *seeds, int64_t k, int agg,
                                  const vecidx_params *params, int64_t n_out, int64_t *ids_out,
                                  float *scores_out, int64_t *n_found);
/** @} */

/**
 * @brief Set an integer parameter (see VECIDX_PARAM_*).
 * @retval ALS_EINVAL idx NULL or unknown key.
 * @retval ALS_ERANGE value outside the key's bounds.
 * @retval ALS_EUNSUPPORTED VECIDX_PARAM_SIMD names a path this CPU lacks.
 * Thread safety: not concurrently with searches on idx.
 */
VECIDX_API int vecidx_set_int(vecidx *idx, int key, int64_t value);

/**
 * @brief Read an integer parameter.
 * @retval ALS_EINVAL idx or value NULL, or unknown key.
 */
VECIDX_API int vecidx_get_int(const vecidx *idx, int key, int64_t *value);

/**
 * @brief Bounds and default of a parameter key.
 * @param[out] lo, hi, def may each be NULL.
 * @retval ALS_EINVAL unknown key.
 */
VECIDX_API int vecidx_param_bounds(int key, int64_t *lo, int64_t *hi, int64_t *def);

/** @brief Number of vectors held (0 for NULL). */
VECIDX_API int64_t vecidx_size(const vecidx *idx);
/** @brief Vector dimension (0 for NULL). */
VECIDX_API int64_t vecidx_dim(const vecidx *idx);
/** @brief VECIDX_METRIC_* (-1 for NULL). */
VECIDX_API int vecidx_metric(const vecidx *idx);
/** @brief VECIDX_KIND_* (-1 for NULL). */
VECIDX_API int vecidx_kind(const vecidx *idx);
/** @brief Number of IVF lists (0 for flat or NULL). */
VECIDX_API int64_t vecidx_nlist(const vecidx *idx);

/**
 * @brief Tag the index with the identity of the training run whose vectors it holds
 *        (als_model_run_id of the model the factors came from). It is saved with the
 *        index and restored by vecidx_load, so a program can refuse an index built from
 *        another run's factors instead of mapping its ids through the wrong model.
 *        0 clears the tag. The library itself never interprets it.
 * @retval ALS_EINVAL idx NULL.
 * Thread safety: not concurrently with other calls on idx. @since 1.1
 */
VECIDX_API int vecidx_set_run_id(vecidx *idx, uint64_t run_id);
/** @brief The run identity set or loaded (0 for NULL, untagged, or files before 1.1). @since 1.1 */
VECIDX_API uint64_t vecidx_run_id(const vecidx *idx);

/**
 * @brief Save the index (vectors, ids, centroids, parameters) in the vecidx binary
 *        format (docs/formats.md). Atomic: temp file, fsync, rename.
 * @retval ALS_EINVAL idx or path NULL.
 * @retval ALS_EIO the file could not be written (an existing file is untouched).
 * Thread safety: safe with concurrent searches.
 */
VECIDX_API int vecidx_save(const vecidx *idx, const char *path);

/**
 * @brief Load an index saved by vecidx_save. Every size in the header is checked
 *        against the file size and the checksum before anything is trusted.
 * @retval ALS_EINVAL out or path NULL.
 * @retval ALS_ENOTFOUND no such file.
 * @retval ALS_EIO the file could not be read.
 * @retval ALS_EFORMAT foreign, truncated or corrupt file, or a newer format version.
 * @retval ALS_ENOMEM allocation failed.
 * Ownership: caller owns *out. Thread safety: safe.
 */
VECIDX_API int vecidx_load(vecidx **out, const char *path);

/**
 * @brief Load a saved index (format version 2) without copying its vectors: the file is
 *        mapped read-only and searched where it lies, so processes that map one file share
 *        its memory (the page cache) and a load takes milliseconds at any size. Searches
 *        give exactly the results of vecidx_load's copy.
 *        What is checked at load: the header (checksum, every field), that the file has the
 *        exact size the header and the IVF list sizes imply, the centroids (copied: they
 *        are small). What is not: the payload checksum and the vectors' finiteness, which
 *        would read the whole file; call vecidx_verify for that (a corrupt vector gives
 *        wrong scores for itself, never a crash).
 *        The mapping is of the file as it is now: vecidx_save replaces a file by rename, so
 *        a mapped reader keeps its version intact. Truncating a mapped file in place makes
 *        the next access to the lost pages fault (SIGBUS), as with any mapped file: don't.
 * @retval ALS_EFORMAT as vecidx_load for the header and sizes.
 * @retval ALS_EUNSUPPORTED a version-1 file (load it with vecidx_load and save it again).
 * @retval ALS_ENOTFOUND / ALS_EIO / ALS_ENOMEM file and mapping errors.
 * Ownership: vecidx_destroy unmaps. The index is read-only: vecidx_add and vecidx_train
 * give ALS_ESTATE; parameters may be set, and vecidx_save writes a normal file.
 * Thread safety: as a loaded index. @since 1.1
 */
VECIDX_API int vecidx_load_mmap(vecidx **out, const char *path);
/** @brief 1 if the index was loaded with vecidx_load_mmap. @since 1.1 */
VECIDX_API int vecidx_is_mapped(const vecidx *idx);
/**
 * @brief Check a mapped index's payload checksum, vectors and ids (reads the whole file);
 *        ALS_OK at once for an index that is not mapped (it was checked when loaded).
 * @retval ALS_EINVAL idx NULL.  @retval ALS_EFORMAT corrupt payload.
 * Thread safety: safe with concurrent searches. @since 1.1
 */
VECIDX_API int vecidx_verify(const vecidx *idx);


/** Aggregates for vecidx_expand (fixed values). */
#define VECIDX_AGG_MAX 0  /**< best similarity over the seeds that found the id */
#define VECIDX_AGG_SUM 1  /**< sum of similarities (inner product only): rewards ids many seeds found */
#define VECIDX_AGG_MEAN 2 /**< mean similarity over the seeds that found the id */

/**
 * @brief Audience expansion: search each seed vector's k nearest neighbours (skipping ids the
 *        filter rejects, e.g. the seeds themselves), merge them into one de-duplicated
 *        audience, score each id by the aggregate of its similarities over the seeds whose
 *        top-k it appears in, and return the best n_out, best first (ties: smaller id).
 *        For VECIDX_METRIC_L2 the scores are distances: MAX takes the smallest, MEAN the
 *        mean, and smaller is better.
 * @param[in] seeds ns x dim seed vectors (ns may be 0).
 * @param[in] k neighbours per seed, >= 1.
 * @param[in] agg VECIDX_AGG_*.
 * @param[in] filter ids to exclude (or to restrict to), or NULL.
 * @param[in] n_out capacity of ids_out / scores_out (the audience size N), >= 1.
 * @param[out] ids_out, scores_out the audience (scores_out may be NULL); entries past
 *             *n_found are set to -1 / NaN.
 * @param[out] n_found number of ids returned (<= n_out); may be NULL.
 * @retval ALS_EINVAL NULL handle/seeds/ids_out, unknown agg, AGG_SUM with L2, NaN in seeds.
 * @retval ALS_EDIM seeds have the wrong number of columns.
 * @retval ALS_ERANGE k < 1 or n_out < 1, or an n_out that no buffer could hold (more bytes
 *         than the machine's memory); nothing is written then.
 * @retval ALS_ESTATE an IVF index that is not trained.
 * @retval ALS_ENOMEM allocation failed.
 * Memory: O(ns x k). Thread safety: as vecidx_search.
 */
VECIDX_API int vecidx_expand(const vecidx *idx, const als_matrix *seeds, int64_t k, int agg,
                             const vecidx_filter *filter, int64_t n_out, int64_t *ids_out,
                             float *scores_out, int64_t *n_found);

/**
 * @brief Learn a linear scorer of "looks like the seeds" (lookalike modelling on top of
 *        embeddings): L2-regularized logistic regression of the seeds' vectors (positives)
 *        against a sample of the population (unlabeled, taken as negatives: the
 *        positive-unlabeled estimator, whose scores rank like P(seed | x)), the two classes
 *        weighted equally, solved by Newton's method in double. Score every candidate x
 *        with weights . x (+ bias): an inner-product search with weights as the query gives
 *        the top N (vecidx_search on a flat IP index, the seeds filtered out).
 * @param[in] seeds, unlabeled n_s x d and n_u x d vectors (in the space the candidates
 *            will be scored in: normalized if the index is cosine).
 * @param[in] l2 ridge on the weights (not the bias), > 0; 1e-3 to 1e-1 for unit vectors.
 * @param[in] max_iter Newton iterations, [1, 1000] (10 is plenty: it converges fast).
 * @param[out] weights d floats.  @param[out] bias may be NULL.
 * @retval ALS_EINVAL NULL argument or a NaN/Inf vector.
 * @retval ALS_EDIM the two matrices differ in columns, or 0 columns.
 * @retval ALS_ERANGE no seed or no unlabeled vector, l2 <= 0, max_iter outside its bounds.
 * @retval ALS_ENOMEM allocation failed.
 * Cost: (n_s + n_u) x d^2 per iteration. Deterministic. Thread safety: safe. @since 1.1
 */
VECIDX_API int vecidx_seed_scorer(const als_matrix *seeds, const als_matrix *unlabeled,
                                  double l2, int64_t max_iter, float *weights, float *bias);

#ifdef __cplusplus
}
#endif
#endif /* VECIDX_H */
