/**
 * @file als.h
 * @brief libals core: versions, status codes, errors and the shared matrix type.
 *
 * This header is the specification of the core API shared by libals and libvecidx.
 * Every fallible function returns an int: ALS_OK (0) on success or a negative ALS_E*
 * code on failure; after a failure als_last_error() holds a message for this thread.
 *
 * Conventions used in every comment below:
 * - "Ownership:" says who frees what and how long a returned pointer stays valid.
 * - "Thread safety:" says which calls may run concurrently. In general: one handle must
 *   not be modified by two threads at once; read-only calls on one handle may run
 *   concurrently; handles may move between threads; errors are thread-local.
 *
 * The library never prints, never exits and holds no mutable global state, except one
 * value cached per process: which SIMD kernel is fastest on this CPU (measured once on
 * first use; every kernel gives the same results).
 */
#ifndef ALS_H
#define ALS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @defgroup als_version Version
 *  The header is the single source of the version; the Makefile reads these lines.
 *  @{ */
#define ALS_VERSION_MAJOR 1
#define ALS_VERSION_MINOR 3
#define ALS_VERSION_PATCH 0
/** MAJOR * 10000 + MINOR * 100 + PATCH */
#define ALS_VERSION_NUMBER (ALS_VERSION_MAJOR * 10000 + ALS_VERSION_MINOR * 100 + ALS_VERSION_PATCH)
#define ALS_VERSION_STRING "1.3.0"
/** @} */

/** Export macro: symbols are hidden unless marked. Define ALS_API yourself to override. */
#ifndef ALS_API
#if defined(__GNUC__) && defined(ALS_BUILDING_LIBRARY)
#define ALS_API __attribute__((visibility("default")))
#else
#define ALS_API
#endif
#endif

/** @defgroup als_status Status codes
 *  One code space for libals and libvecidx. Values are fixed and never reused.
 *  @{ */
#define ALS_OK 0            /**< success */
#define ALS_EINVAL (-1)     /**< invalid argument: NULL pointer, unknown key, NaN/Inf value */
#define ALS_ENOMEM (-2)     /**< allocation failed or the requested size overflows */
#define ALS_ERANGE (-3)     /**< a value is outside its documented bounds */
#define ALS_EDIM (-4)       /**< shapes do not match (dimension, rows, columns) */
#define ALS_ESTATE (-5)     /**< the handle is not in a state that allows the call */
#define ALS_EIO (-6)        /**< the operating system failed a file operation */
#define ALS_EFORMAT (-7)    /**< a file or text is malformed, truncated or corrupt */
#define ALS_ECANCELED (-8)  /**< a callback asked to stop */
#define ALS_ENOTFOUND (-9)  /**< an id, key or file does not exist */
#define ALS_EUNSUPPORTED (-10) /**< valid request this build or CPU cannot serve */
#define ALS_EINTERNAL (-11) /**< a bug in the library: please report it */
/** @} */

/**
 * @brief Runtime version of the library, as ALS_VERSION_NUMBER.
 * @return MAJOR * 10000 + MINOR * 100 + PATCH of the loaded library.
 * Ownership: none. Thread safety: safe.
 */
ALS_API int als_version_number(void);

/**
 * @brief Runtime version string of the library, e.g. "1.0.0".
 * @return a static string.
 * Ownership: static, never free it. Thread safety: safe.
 */
ALS_API const char *als_version_string(void);

/**
 * @brief Short English description of a status code.
 * @param[in] code an ALS_OK or ALS_E* value (anything else gives "unknown error").
 * @return a static string, never NULL.
 * Ownership: static. Thread safety: safe.
 */
ALS_API const char *als_strerror(int code);

/**
 * @brief Message of the last failure on the calling thread.
 * @return a NUL-terminated message, "" if nothing has failed on this thread; never NULL.
 * Ownership: thread-local buffer, valid until the next failing call on this thread.
 * Thread safety: safe; each thread sees only its own message.
 */
ALS_API const char *als_last_error(void);

/**
 * @brief Last failure code on the calling thread (ALS_OK if none).
 * Thread safety: safe (thread-local).
 */
ALS_API int als_last_error_code(void);

/**
 * @brief Record a failure on the calling thread, for extensions and bindings built on
 *        this library (libvecidx uses it). The message is truncated to 511 bytes.
 * @param[in] code the ALS_E* code to record.
 * @param[in] message text; NULL records als_strerror(code).
 * @return code, so that a caller can write `return als_error_set(ALS_EINVAL, "...")`.
 * Ownership: the text is copied. Thread safety: safe (thread-local).
 */
ALS_API int als_error_set(int code, const char *message);

/** @defgroup als_matrix Shared matrix
 *  Row-major float32 matrix with a row stride (in elements, >= cols). Used for factors,
 *  index data and queries by both libraries.
 *  @{ */
typedef struct als_matrix als_matrix;

/**
 * @brief Allocate a rows x cols matrix, zero-filled, in a 64-byte aligned buffer, with
 *        stride = cols (dense, so the buffer is also a C-order NumPy array).
 * @param[out] out receives the matrix; set to NULL on failure.
 * @param[in] rows number of rows, >= 0.
 * @param[in] cols number of columns, >= 0.
 * @return ALS_OK or an error.
 * @retval ALS_EINVAL out is NULL.
 * @retval ALS_ERANGE rows or cols negative.
 * @retval ALS_ENOMEM allocation failed, or rows x max(cols, 1) floats overflow the address
 *         space (rows count even with 0 columns: INT64_MAX x 0 is refused).
 * Ownership: the caller owns *out; free it with als_matrix_destroy.
 * Thread safety: safe.
 */
ALS_API int als_matrix_create(als_matrix **out, int64_t rows, int64_t cols);

/**
 * @brief Describe a caller buffer as a matrix without copying (zero-copy from NumPy,
 *        Go slices or any row-major float array).
 * @param[out] out receives the matrix; set to NULL on failure.
 * @param[in] data rows x row_stride floats (the last row needs only cols); may be NULL
 *            only when rows or cols is 0.
 * @param[in] rows >= 0.
 * @param[in] cols >= 0.
 * @param[in] row_stride distance between row starts in floats, >= cols.
 * @retval ALS_EINVAL out is NULL, data NULL for a non-empty matrix, or data not aligned
 *         for float (4 bytes).
 * @retval ALS_ERANGE negative sizes, row_stride < cols, or a shape whose byte size
 *         overflows the address space (rows 2^62 with stride 4, stride INT64_MAX).
 * @retval ALS_ENOMEM the handle could not be allocated.
 * Ownership: the matrix borrows data: keep the buffer alive until als_matrix_destroy,
 * which does not free it.
 * Thread safety: safe.
 */
ALS_API int als_matrix_wrap(als_matrix **out, float *data, int64_t rows, int64_t cols,
                            int64_t row_stride);

/**
 * @brief Free a matrix (and its buffer if it owns one). NULL is a no-op.
 * Ownership: m is invalid afterwards. Thread safety: not with other calls on m.
 */
ALS_API void als_matrix_destroy(als_matrix *m);

/** @brief Number of rows (0 for NULL). Thread safety: safe. */
ALS_API int64_t als_matrix_rows(const als_matrix *m);
/** @brief Number of columns (0 for NULL). Thread safety: safe. */
ALS_API int64_t als_matrix_cols(const als_matrix *m);
/** @brief Row stride in floats (0 for NULL). Thread safety: safe. */
ALS_API int64_t als_matrix_stride(const als_matrix *m);
/**
 * @brief Pointer to element (0, 0); row i starts at data + i * stride.
 * @return the buffer, or NULL for NULL or an empty matrix that owns nothing.
 * Ownership: borrowed; valid while m lives. Thread safety: safe.
 */
ALS_API float *als_matrix_data(als_matrix *m);
/** @brief Read-only variant of als_matrix_data for const handles. */
ALS_API const float *als_matrix_data_const(const als_matrix *m);

/**
 * @brief Borrow rows [row0, row0 + nrows) of src as a new matrix handle (no copy).
 * @param[out] out receives the view; NULL on failure.
 * @retval ALS_EINVAL out or src is NULL.
 * @retval ALS_ERANGE the row range is not inside src.
 * @retval ALS_ENOMEM the handle could not be allocated.
 * Ownership: the view borrows src's buffer: destroy the view before src.
 * Thread safety: safe.
 */
ALS_API int als_matrix_view_rows(als_matrix **out, const als_matrix *src, int64_t row0,
                                 int64_t nrows);

/**
 * @brief Scale every row to unit L2 norm (cosine similarity = inner product afterwards).
 *        Rows whose norm is 0 stay zero.
 * @retval ALS_EINVAL m is NULL, or a row holds NaN or Inf (the matrix is left unchanged).
 * Thread safety: not with other calls on m.
 */
ALS_API int als_matrix_normalize_rows(als_matrix *m);

/**
 * @brief Read a NumPy .npy file: versions 1.0, 2.0 and 3.0, 2-D, C order, dtype '<f4'
 *        (or '<f8', converted to float32).
 * @param[out] out receives a new owning matrix; NULL on failure.
 * @param[in] path file name.
 * @retval ALS_EINVAL out or path is NULL.
 * @retval ALS_ENOTFOUND the file does not exist.
 * @retval ALS_EIO the file could not be read.
 * @retval ALS_EFORMAT not a .npy file, or an unsupported dtype / order / shape (the
 *         message names what was found), or the data is truncated.
 * @retval ALS_ERANGE a '<f8' value does not fit in float32.
 * @retval ALS_ENOMEM allocation failed.
 * Ownership: the caller owns *out. Thread safety: safe.
 */
ALS_API int als_matrix_read_npy(als_matrix **out, const char *path);

/**
 * @brief Read int64 ids from a NumPy .npy file: 1-D (or n x 1), dtype '<i8', C order; the
 *        id files als_model_export_npy writes (PREFIX_user_ids.npy) and np.save of an
 *        int64 array. Call with cap 0 to learn the count, then with an array that large.
 * @param[out] ids_out up to cap ids; filled only when the file holds at most cap ids (may
 *             be NULL when cap is 0).
 * @return the number of ids in the file (which may exceed cap: nothing is written then),
 *         or a negative code.
 * @retval ALS_EINVAL path NULL, or ids_out NULL with cap > 0.  @retval ALS_ERANGE cap < 0.
 * @retval ALS_ENOTFOUND / ALS_EIO file errors.
 * @retval ALS_EFORMAT not a .npy file, another dtype or shape, or the wrong data length.
 * Thread safety: safe. @since 1.1
 */
ALS_API int64_t als_ids_read_npy(const char *path, int64_t *ids_out, int64_t cap);

/**
 * @brief Write a matrix as a NumPy .npy file (version 1.0, '<f4', C order, 2-D).
 *        The write is atomic: a temporary file in the same folder is written, flushed
 *        to disk and renamed, so an existing file is never left half-written.
 * @retval ALS_EINVAL m or path is NULL.
 * @retval ALS_EIO the file could not be written (the old file, if any, is untouched).
 * Thread safety: safe with other read-only calls on m.
 */
ALS_API int als_matrix_write_npy(const als_matrix *m, const char *path);
/** @} */


/** @defgroup als_ratings Ratings (interactions)
 *  A bag of (user, item, value[, time]) rows. Ids are any int64 values; string ids read
 *  from text are mapped to int64 with a dictionary (see als_ratings_user_name).
 *  Duplicate (user, item) rows are kept and add up in training, as in Spark.
 *  @{ */
typedef struct als_ratings als_ratings;

/**
 * @brief Create an empty ratings set.
 * @retval ALS_EINVAL out is NULL.  @retval ALS_ENOMEM allocation failed.
 * Ownership: caller owns *out (als_ratings_destroy). Thread safety: safe.
 */
ALS_API int als_ratings_create(als_ratings **out);

/** @brief Free a ratings set. NULL is a no-op. */
ALS_API void als_ratings_destroy(als_ratings *r);

/**
 * @brief Append n rows.
 * @param[in] users, items n ids each: any int64 but -1, which marks a missing result in
 *            recommendations and searches (a CSV column holding "-1" is read as names).
 * @param[in] values n values, or NULL for 1.0 each. NaN or Inf is rejected.
 * @retval ALS_EINVAL NULL handle/arrays (with n > 0), an id -1, or a NaN/Inf value (row
 *         named in the message); nothing is appended then.
 * @retval ALS_ERANGE n < 0.
 * @retval ALS_ENOMEM allocation failed (nothing appended).
 * Ownership: copied. Thread safety: not with other calls on r.
 */
ALS_API int als_ratings_add(als_ratings *r, int64_t n, const int64_t *users,
                            const int64_t *items, const float *values);

/**
 * @brief als_ratings_add with a timestamp per row (any int64 order key, e.g. Unix seconds),
 *        used by the time-based splits. times NULL = no timestamps for these rows.
 * Same return codes as als_ratings_add.
 */
ALS_API int als_ratings_add_timed(als_ratings *r, int64_t n, const int64_t *users,
                                  const int64_t *items, const float *values,
                                  const int64_t *times);

/**
 * @brief Append n rows whose user and item ids are names (account numbers, SKUs, any
 *        text): each name is interned in r's own user / item dictionary, exactly as
 *        als_ratings_read_csv does for a string column (ids 0, 1, 2, ... in order of first
 *        appearance; als_ratings_user_name gives the name back byte for byte).
 * @param[in] users, items n NUL-terminated names each.
 * @param[in] values n values, or NULL for 1.0 each. NaN or Inf is rejected.
 * @retval ALS_EINVAL NULL handle, arrays (with n > 0) or name, or a NaN/Inf value.
 * @retval ALS_ERANGE n < 0.
 * @retval ALS_ESTATE r already holds rows with integer ids (no dictionary) in that column.
 * @retval ALS_ENOMEM allocation failed.
 * On any failure nothing is appended and the dictionaries are as before.
 * Ownership: copied. Thread safety: not with other calls on r.
 * @since 1.1
 */
ALS_API int als_ratings_add_named(als_ratings *r, int64_t n, const char *const *users,
                                  const char *const *items, const float *values);

/** @brief Number of rows (0 for NULL). */
ALS_API int64_t als_ratings_rows(const als_ratings *r);
/** @brief Number of distinct users (0 for NULL). O(rows) the first time after a change. */
ALS_API int64_t als_ratings_num_users(const als_ratings *r);
/** @brief Number of distinct items (0 for NULL). */
ALS_API int64_t als_ratings_num_items(const als_ratings *r);

/**
 * @brief Read row i: any of the outputs may be NULL.
 * @retval ALS_EINVAL r NULL.  @retval ALS_ERANGE i outside [0, rows).
 */
ALS_API int als_ratings_get(const als_ratings *r, int64_t i, int64_t *user, int64_t *item,
                            float *value, int64_t *time);

/**
 * @brief Reorder the rows so that each user's rows are together, users in the order of
 *        their first appearance, each user's rows in their previous order (a stable sort).
 *
 * For ratings not already grouped by user (ratings added in any order), als_model_fit
 * makes a user-major copy of the item and value columns for the length of the fit; after
 * this call it reads the ratings in place, and the ratings themselves hold one user entry
 * per user instead of a 4-byte user index per row. The fit gives the same results either
 * way (bit for bit with the default item equations; within rounding for the item-major
 * path, whose per-item sums then run in the new row order). Row numbers change: row-order
 * operations (als_ratings_get by row, als_ratings_split) see the new order. Grouped
 * ratings return at once. Needs a copy of the item, value and time columns while it runs;
 * on failure the ratings are unchanged.
 * @retval ALS_EINVAL r NULL.  @retval ALS_ENOMEM (r unchanged).  @since 1.2
 */
ALS_API int als_ratings_group_by_user(als_ratings *r);

/**
 * @brief Read a CSV/TSV file of interactions.
 * @param[in] options comma-separated key=value settings (NULL or "" = defaults):
 *   - sep=SEP      field separator: one character, or `\t`, `tab`, `comma`, `semicolon`,
 *                  `space`, `pipe` (default: ',' for .csv files, tab otherwise);
 *   - header=0|1   the first line names the columns (default 0);
 *   - user=COL, item=COL, value=COL, time=COL: a 0-based column index or, with a header,
 *                  a column name (defaults user=0, item=1, value absent = 1.0, time absent);
 *                  time is an integer or an ISO date `YYYY-MM-DD` or `DD-MM-YYYY`;
 *   - ids=auto|int|string  how user and item fields become ids. auto (default): a column
 *                  is read as integers only if every one of its fields is the canonical
 *                  decimal text of an int64 (no leading zero, no '+', no blanks, in range);
 *                  otherwise the whole column is strings, kept byte for byte ("00123" and
 *                  "123" are two ids) and mapped to 0, 1, 2, ... in order of first
 *                  appearance. string: always names. int: always integers, read leniently
 *                  (blanks, '+' and leading zeros allowed, so "007" is 7);
 *   - skip_bad=0|1 skip malformed rows and count them (als_ratings_bad_rows) instead of
 *                  failing (default 0);
 *   - threads=N    threads that parse (default 0: as many as OpenMP gives). The file is
 *                  read in blocks of whole lines; the threads parse the pieces of one block
 *                  while the calling thread puts the block before into the ratings (ids,
 *                  names, bad rows, in file order), so the result and every error and line
 *                  number are the same for any N. Memory: two blocks of 2 MiB (more for a
 *                  longer line) and about 56 bytes a line of each.
 * @retval ALS_EINVAL out or path NULL, or an unknown/malformed option.
 * @retval ALS_ENOTFOUND no such file, or a named column is not in the header.
 * @retval ALS_EIO the file could not be read.
 * @retval ALS_EFORMAT a bad row (missing field, unparsable number, NaN/Inf value, a string
 *         id in an integer column): the message gives the line number.
 * @retval ALS_ENOMEM allocation failed.
 * Ownership: caller owns *out. Thread safety: safe.
 */
ALS_API int als_ratings_read_csv(als_ratings **out, const char *path, const char *options);

/**
 * @brief Progress of a long read: bytes read so far, the file's size (0 when it has none,
 *        e.g. a pipe) and the rows kept so far. Returning non-zero cancels the read.
 */
typedef int (*als_read_progress_fn)(void *user, int64_t bytes_read, int64_t bytes_total,
                                    int64_t rows);
/**
 * @brief als_ratings_read_csv with a progress callback, called every 2^20 lines and once
 *        at the end (from the calling thread). Since 1.2.
 * @retval as als_ratings_read_csv, and ALS_ECANCELED when the callback asked to stop
 *         (nothing is returned then).
 */
ALS_API int als_ratings_read_csv_progress(als_ratings **out, const char *path,
                                          const char *options, als_read_progress_fn progress,
                                          void *user);

/** @brief Rows skipped by read_csv with skip_bad=1 (0 otherwise). */
ALS_API int64_t als_ratings_bad_rows(const als_ratings *r);
/**
 * @brief Line numbers (1-based, as in read_csv's messages) of the first skipped rows, so a
 *        caller can show the user where the bad rows are.
 * @param[out] lines up to cap line numbers, in file order.
 * @return how many line numbers are kept: min(als_ratings_bad_rows(r), 16), or a negative
 *         code (ALS_EINVAL: r NULL or lines NULL with cap > 0; ALS_ERANGE: cap < 0).
 * @since 1.1
 */
ALS_API int64_t als_ratings_bad_row_lines(const als_ratings *r, int64_t *lines, int64_t cap);

/**
 * @brief Original string of a user / item id that came from a string column.
 * @return the string, or NULL when the id has no name (integer ids, unknown id).
 * Ownership: borrowed, valid while r lives and is not modified. Thread safety: safe.
 */
ALS_API const char *als_ratings_user_name(const als_ratings *r, int64_t user_id);
ALS_API const char *als_ratings_item_name(const als_ratings *r, int64_t item_id);
/** @brief Id of a user / item string, or -1 if the string is not in the dictionary. */
ALS_API int64_t als_ratings_user_id(const als_ratings *r, const char *name);
ALS_API int64_t als_ratings_item_id(const als_ratings *r, const char *name);

/**
 * @brief Write the string-id dictionaries as a text file: lines `user<TAB>id<TAB>string`
 *        and `item<TAB>id<TAB>string` (atomic write).
 * @retval ALS_EINVAL NULL argument.  @retval ALS_EIO write failed.
 */
ALS_API int als_ratings_write_ids(const als_ratings *r, const char *path);
/**
 * @brief Load dictionaries written by als_ratings_write_ids into r (replacing its own).
 * @retval ALS_EINVAL NULL argument.  @retval ALS_ENOTFOUND / ALS_EIO file errors.
 * @retval ALS_EFORMAT a malformed line (line number in the message) or a duplicate id.
 * @retval ALS_ENOMEM allocation failed.
 */
ALS_API int als_ratings_read_ids(als_ratings *r, const char *path);

/**
 * @brief als_ratings_write_ids with the identity of the training run the dictionaries
 *        belong to (als_model_run_id of the model trained on r), stored on a first line
 *        `#als-ids run=<16 hex digits>`; run_id 0 writes no such line (the 1.0 format).
 * Same return codes as als_ratings_write_ids. @since 1.1
 */
ALS_API int als_ratings_write_ids_run(const als_ratings *r, const char *path, uint64_t run_id);
/**
 * @brief als_ratings_read_ids that also returns the run identity stored in the file
 *        (0 for a file without one). Compare it with als_model_run_id before using the
 *        names with a model: dictionaries of another run map ids to the wrong names.
 * @param[out] run_id may be NULL; set to 0 on failure.
 * Same return codes as als_ratings_read_ids (a malformed first `#` line is ALS_EFORMAT).
 * @since 1.1
 */
ALS_API int als_ratings_read_ids_run(als_ratings *r, const char *path, uint64_t *run_id);

/**
 * @brief Distinct users with at least one row for any of the given items (for example the
 *        buyers of a target item, the seeds of a lookalike audience), in order of first
 *        appearance. Items not in r are ignored. O(rows).
 * @param[out] users_out up to cap user ids (may be NULL when cap is 0).
 * @return the number of distinct users found, which may exceed cap (call again with a
 *         larger array), or a negative code.
 * @retval ALS_EINVAL r NULL, items NULL with n_items > 0, or users_out NULL with cap > 0.
 * @retval ALS_ERANGE n_items or cap negative.  @retval ALS_ENOMEM.
 * Thread safety: safe (read-only).
 */
ALS_API int64_t als_ratings_users_of_items(const als_ratings *r, int64_t n_items,
                                           const int64_t *items, int64_t *users_out,
                                           int64_t cap);

/**
 * @brief Random split per interaction, like Spark's randomSplit: each row goes to train
 *        with probability train_fraction, decided by seed alone.
 * @param[out] train, test new ratings sets (they share r's dictionaries by copy).
 * @retval ALS_EINVAL NULL argument.  @retval ALS_ERANGE train_fraction outside [0, 1].
 * @retval ALS_ENOMEM allocation failed.
 */
ALS_API int als_ratings_split(const als_ratings *r, double train_fraction, uint64_t seed,
                              als_ratings **train, als_ratings **test);

/**
 * @brief Per-user leave-last-out: the last k rows of each user (by time if every row has a
 *        timestamp, else by file order) go to test, provided the user keeps at least one
 *        training row.
 * @retval ALS_EINVAL NULL argument.  @retval ALS_ERANGE k < 1.  @retval ALS_ENOMEM.
 */
ALS_API int als_ratings_split_last(const als_ratings *r, int64_t k, als_ratings **train,
                                   als_ratings **test);

/**
 * @brief Time split: rows with time < t_split go to train, the others to test.
 * @retval ALS_ESTATE some row has no timestamp.  @retval ALS_EINVAL / ALS_ENOMEM.
 */
ALS_API int als_ratings_split_time(const als_ratings *r, int64_t t_split, als_ratings **train,
                                   als_ratings **test);
/** @} */


/** @defgroup als_model ALS model
 *  Alternating least squares with Spark MLlib's semantics by default.
 *
 *  Implicit feedback (implicitPrefs = 1), per rating r of row u (Hu, Koren, Volinsky with
 *  Spark's extension to negative values): confidence c = 1 + alpha |r|, preference
 *  p = 1 if r > 0 else 0; r = 0 adds nothing. Each row solves
 *    (Y^T Y + sum_i alpha |r_ui| y_i y_i^T + lambda_u I) x_u = sum_{r_ui > 0} (1 + alpha r_ui) y_i
 *  Explicit: (sum_i y_i y_i^T + lambda_u I) x_u = sum_i r_ui y_i (ALS-WR).
 *  lambda_u = regParam x n_u with regScaling "count" (Spark; n_u = the row's ratings, in
 *  implicit mode only those with r > 0), or regParam with regScaling "none".
 *  Items are solved first, then users, in each iteration, as in Spark. A row without
 *  usable ratings gets a zero vector. Duplicate (user, item) rows add up.
 *  Factors start as Gaussian vectors normalized to unit length, drawn from the seed.
 *  @{ */
typedef struct als_model als_model;

/** Parameter keys (fixed numbers, never reused). Name in als_set_param in brackets. */
#define ALS_PARAM_RANK 100          /**< int, [1, 1024], default 10 ("rank") */
#define ALS_PARAM_MAX_ITER 101      /**< int, [0, 100000], default 10 ("maxIter") */
#define ALS_PARAM_IMPLICIT 102      /**< int 0/1, default 0 ("implicitPrefs") */
#define ALS_PARAM_NONNEGATIVE 103   /**< int 0/1, default 0 ("nonnegative"): NNLS solves */
#define ALS_PARAM_REG 200           /**< double, [0, 1e9], default 0.1 ("regParam") */
#define ALS_PARAM_ALPHA 201         /**< double, [0, 1e9], default 1.0 ("alpha") */
#define ALS_PARAM_REG_SCALING 202   /**< int ALS_REG_*, default COUNT ("regScaling": count|none) */
#define ALS_PARAM_SEED 300          /**< int, [0, INT64_MAX], default 0 ("seed") */
#define ALS_PARAM_SOLVER 301        /**< int ALS_SOLVER_*, default CHOLESKY ("solver": cholesky|cg) */
#define ALS_PARAM_CG_STEPS 302      /**< int, [1, 1000], default 3 ("cgSteps") */
#define ALS_PARAM_COMPUTE_LOSS 303  /**< int 0/1, default 0 ("computeLoss"): loss for the progress callback */
#define ALS_PARAM_NUM_THREADS 900   /**< int, [0, 4096], 0 = all cores, default 0 ("numThreads") */
/** int ALS_ITEMEQ_*, default AUTO ("itemEquations": auto|user-major|item-major|sweep): how
 *  the item half-step builds its normal equations. The results are the same within
 *  rounding; memory and speed differ. user-major: from the user-major store, every thread
 *  summing its users' share of every item's system in double (threads x items x
 *  (r (r + 1) / 2 + r) x 8 bytes; no copy of the ratings); item-major: from an item-major
 *  copy of the ratings (8 bytes per rating); sweep (conjugate gradient up to rank 128,
 *  since 1.3; otherwise it means item-major): the items in blocks whose CG vectors stay
 *  in cache, each CG product of a block one pass over the block's users, from a copy of
 *  the ratings by block and user (2 bytes per rating plus the value, and 12 bytes per
 *  user and block); deterministic for a thread count. auto takes user-major when its
 *  systems need no more memory than the copy would and rank <= 32 (rank <= 16 with the
 *  CG solver), else with CG up to rank 128 sweep (unless the users' ratings are spread
 *  over so many items that a block holds under 2 of a user's ratings on average), else
 *  item-major. Since 1.2. */
#define ALS_PARAM_ITEM_EQUATIONS 304
/** int 0/1, default 1 ("keepInteractions"): the model keeps its training interactions (by
 *  user, as narrow as the ratings held them: 2 to 8 bytes each) and saves them, for
 *  als_model_items_of_user, als_model_users_of_items and als_model_recommend_unseen.
 *  0 saves that memory. Since 1.2. */
#define ALS_PARAM_KEEP_INTERACTIONS 305

#define ALS_REG_COUNT 0      /**< lambda x number of ratings of the row (Spark) */
#define ALS_REG_NONE 1       /**< plain lambda (implicit library style) */
#define ALS_SOLVER_CHOLESKY 0 /**< exact solve in double (Spark) */
#define ALS_SOLVER_CG 1       /**< conjugate gradient, warm-started, ALS_PARAM_CG_STEPS steps */
#define ALS_ITEMEQ_AUTO 0       /**< pick by memory and rank (the default) */
#define ALS_ITEMEQ_USER_MAJOR 1 /**< item systems summed from the user-major store */
#define ALS_ITEMEQ_ITEM_MAJOR 2 /**< rows of an item-major copy of the ratings */
#define ALS_ITEMEQ_SWEEP 3      /**< CG only: blocks of items, their products by passes over the users (1.3) */

/**
 * @brief Create a model with Spark's defaults.
 * @retval ALS_EINVAL out NULL.  @retval ALS_ENOMEM.
 * Ownership: caller owns *out (als_model_destroy). Thread safety: safe.
 */
ALS_API int als_model_create(als_model **out);
/** @brief Free a model. NULL is a no-op. */
ALS_API void als_model_destroy(als_model *m);

/**
 * @brief Set / get an integer or double parameter by key.
 * @retval ALS_EINVAL m (or value) NULL, unknown key, or a key of the other type.
 * @retval ALS_ERANGE value outside the key's bounds (nothing is clamped).
 * Thread safety: not concurrently with other calls on m.
 */
ALS_API int als_set_int(als_model *m, int key, int64_t value);
ALS_API int als_set_double(als_model *m, int key, double value);
ALS_API int als_get_int(const als_model *m, int key, int64_t *value);
ALS_API int als_get_double(const als_model *m, int key, double *value);

/**
 * @brief Set a parameter from strings, with Spark's names (rank, maxIter, regParam,
 *        implicitPrefs, alpha, nonnegative, seed) and ours (solver, cgSteps, regScaling,
 *        numThreads, computeLoss). Booleans accept true/false/1/0.
 * @retval ALS_EINVAL NULL argument, unknown name or unparsable value.
 * @retval ALS_ERANGE value out of bounds.
 */
ALS_API int als_set_param(als_model *m, const char *name, const char *value);

/**
 * @brief Describe every parameter (name, key, value, default, bounds, meaning), one per
 *        line, like Spark's explainParams.
 * @param[out] buf receives a NUL-terminated text, truncated to cap bytes (may be NULL if
 *             cap is 0).
 * @return the length the full text needs (excluding the NUL), or a negative code
 *         (ALS_EINVAL for a NULL model).
 */
ALS_API int64_t als_model_explain_params(const als_model *m, char *buf, size_t cap);

/**
 * @brief Progress callback: called after each iteration with the iteration number
 *        (1-based), max_iter, seconds since fit started and the loss (NaN unless
 *        ALS_PARAM_COMPUTE_LOSS is 1). Returning non-zero cancels the fit.
 */
typedef int (*als_progress_fn)(void *user, int iter, int max_iter, double seconds, double loss);
/** @brief Install (or with fn NULL remove) the progress callback. @retval ALS_EINVAL m NULL. */
ALS_API int als_model_set_progress(als_model *m, als_progress_fn fn, void *user);

/**
 * @brief Ask a running (or the next) als_model_fit on m to stop. Meant to be called from
 *        another thread, a signal-safe watchdog or a request timeout: the fit polls the
 *        request before each row and inside each non-negative solve's sweeps, so it returns
 *        within about one row's solve (milliseconds even at rank 1024), with ALS_ECANCELED,
 *        and the model keeps the state it had before that fit (no half-updated factors).
 *        The request is cleared when that fit returns.
 * @retval ALS_EINVAL m NULL.
 * Thread safety: safe to call concurrently with als_model_fit on m (the only such call).
 * Cost bounds, for callers running fits on untrusted settings: an iteration costs about
 * ratings x rank^2 + rows x rank^3 / 3 (Cholesky), ratings x rank x cgSteps (CG); a
 * non-negative solve up to 20 x rank sweeps of rank^2 each, 2e10 multiply-adds per row at
 * rank 1024 (Spark's bound): use this call (or the progress callback, between iterations)
 * to bound the time. @since 1.1
 */
ALS_API int als_model_cancel(als_model *m);

/**
 * @brief Train on ratings (replacing any previous factors).
 * @retval ALS_EINVAL NULL argument.
 * @retval ALS_ERANGE no ratings.
 * @retval ALS_ECANCELED the progress callback asked to stop (the factors are those of the
 *         last completed iteration and the model is usable), or als_model_cancel was called
 *         (the model keeps its state from before this fit).
 * @retval ALS_ENOMEM allocation failed (the model keeps its previous state).
 * @retval ALS_EINTERNAL a row's system could not be solved (see below) or the factors
 *         became NaN/Inf; the model keeps its previous state. Never an all-zero model.
 * Numerics: each row's system is summed in float partial sums and solved by Cholesky in
 * double. A system that is singular (regParam 0 with fewer distinct partners than rank) or
 * whose smallest pivot is lost in rounding (alpha 1e6, values 1e8) is rebuilt in double and
 * solved with the smallest ridge, from 1e-12 to 1e-2 of its mean diagonal, that makes every
 * pivot exceed 1e-13 of it: for a singular system that is the minimum-norm least-squares
 * solution to that relative accuracy.
 * Thread safety: not concurrently with other calls on m. Uses ALS_PARAM_NUM_THREADS threads.
 */
ALS_API int als_model_fit(als_model *m, const als_ratings *ratings);

/** @brief 1 once the model has factors (after fit or load). */
ALS_API int als_model_is_fitted(const als_model *m);

/**
 * @brief Identity of the training run that made the factors: a random non-zero 64-bit
 *        value drawn by each successful fit, saved in the model file and restored by
 *        als_model_load. Files derived from the model (id dictionaries written with
 *        als_ratings_write_ids_run, indexes tagged with vecidx_set_run_id) carry it, so a
 *        mismatched set can be refused on load.
 * @return the identity; 0 for NULL, an unfitted model, or a model loaded from a file
 *         written before version 1.1.
 * Thread safety: safe. @since 1.1
 */
ALS_API uint64_t als_model_run_id(const als_model *m);

/**
 * @brief User / item factors: one row per user / item, rank columns.
 * @return borrowed matrix, NULL before fit.
 * Ownership: valid until the next fit/load or destroy. Thread safety: safe to read.
 */
ALS_API const als_matrix *als_model_user_factors(const als_model *m);
ALS_API const als_matrix *als_model_item_factors(const als_model *m);
/** @brief Id of each factor row (count = rows of the factor matrix); borrowed, NULL before fit. */
ALS_API const int64_t *als_model_user_ids(const als_model *m);
ALS_API const int64_t *als_model_item_ids(const als_model *m);
/** @brief Row of an id in the factor matrix, or -1 if the id was not in training. */
ALS_API int64_t als_model_user_row(const als_model *m, int64_t user_id);
ALS_API int64_t als_model_item_row(const als_model *m, int64_t item_id);

/**
 * @brief Predicted score x_u . y_i for n (user, item) pairs; NaN where the user or item is
 *        unknown (Spark's coldStartStrategy "nan"; skip NaN for "drop").
 * @retval ALS_EINVAL NULL argument.  @retval ALS_ESTATE not fitted.  @retval ALS_ERANGE n < 0.
 * Thread safety: safe (read-only).
 */
ALS_API int als_model_predict(const als_model *m, int64_t n, const int64_t *users,
                              const int64_t *items, float *out);

/**
 * @brief Factor of a user not seen in training, from their interactions against the fixed
 *        item factors, with exactly the solve training uses for a user row (same confidence,
 *        regularization; Cholesky or NNLS as trained). A CG-trained model has no previous
 *        factor to warm-start from, so fold-in solves its system exactly (the solution CG's
 *        steps approach). Unknown items are ignored.
 * @param[in] values n values or NULL for 1.0.
 * @param[out] factor_out rank floats.
 * @return the number of unknown items ignored (>= 0), or a negative error code.
 * @retval ALS_EINVAL NULL argument or NaN/Inf value.  @retval ALS_ESTATE not fitted.
 * @retval ALS_ERANGE n < 0.
 * @retval ALS_EINTERNAL the user's system could not be solved (factor_out zeroed).
 * Thread safety: safe (read-only).
 */
ALS_API int64_t als_model_fold_in(const als_model *m, int64_t n, const int64_t *items,
                                  const float *values, float *factor_out);

/**
 * @brief Top-k items for a user by x_u . y_i, best first (ties: smaller item id), padded
 *        with id -1 / score -INFINITY.
 * @param[in] exclude if not NULL, the user's items in it are not recommended.
 * @retval ALS_EINVAL NULL argument.  @retval ALS_ESTATE not fitted.
 * @retval ALS_ENOTFOUND unknown user.  @retval ALS_ERANGE k < 1, or a k no buffer could
 *         hold (more bytes than the machine's memory); nothing is written then.
 * Thread safety: safe (read-only).
 */
ALS_API int als_model_recommend(const als_model *m, int64_t user_id, int64_t k,
                                const als_ratings *exclude, int64_t *items, float *scores);

/**
 * @brief The training interactions the model keeps (ALS_PARAM_KEEP_INTERACTIONS): their
 *        number, 0 when none are kept (keepInteractions 0, a model file of a version before
 *        1.2, or a model not fitted). Since 1.2.
 * Thread safety: safe (read-only).
 */
ALS_API int64_t als_model_num_interactions(const als_model *m);

/**
 * @brief A user's training interactions, in training order (duplicate rows as they were
 *        added; training sums them): item ids and values, up to cap of them. O(the user's
 *        interactions). Since 1.2.
 * @param[out] items_out, values_out cap entries each (either may be NULL).
 * @return the user's number of interactions (may exceed cap), or a negative error code.
 * @retval ALS_EINVAL NULL model, or NULL output with cap > 0.  @retval ALS_ERANGE cap < 0.
 * @retval ALS_ESTATE not fitted, or no interactions kept.  @retval ALS_ENOTFOUND unknown user.
 * Thread safety: safe (read-only).
 */
ALS_API int64_t als_model_items_of_user(const als_model *m, int64_t user_id, int64_t *items_out,
                                        float *values_out, int64_t cap);

/**
 * @brief als_model_items_of_user by factor rows: user row user_row's interactions as item
 *        factor rows (rows of als_model_item_factors), for hosts that index by row (e.g.
 *        to build their own item-major view in one pass without id lookups). Since 1.2.
 * @return the row's number of interactions (may exceed cap), or a negative error code.
 * @retval ALS_EINVAL NULL model.  @retval ALS_ERANGE cap < 0 or user_row outside [0, users).
 * @retval ALS_ESTATE not fitted, or no interactions kept.
 * Thread safety: safe (read-only).
 */
ALS_API int64_t als_model_interaction_rows(const als_model *m, int64_t user_row,
                                           int32_t *item_rows_out, float *values_out,
                                           int64_t cap);

/**
 * @brief The distinct users with a training interaction with any of the items (the buyers
 *        of a target item), in the model's user order, up to cap. Unknown items are ignored.
 *        One pass over the kept interactions: O(interactions), whatever the number of items.
 *        Since 1.2.
 * @return how many users there are (may exceed cap), or a negative error code.
 * @retval ALS_EINVAL NULL argument.  @retval ALS_ERANGE n_items or cap negative.
 * @retval ALS_ESTATE not fitted, or no interactions kept.  @retval ALS_ENOMEM.
 * Thread safety: safe (read-only).
 */
ALS_API int64_t als_model_users_of_items(const als_model *m, int64_t n_items, const int64_t *items,
                                         int64_t *users_out, int64_t cap);

/**
 * @brief als_model_recommend excluding the items the user interacted with in training
 *        (from the kept interactions; no ratings handle needed). Since 1.2.
 * @retval as als_model_recommend, and ALS_ESTATE when no interactions are kept.
 * Thread safety: safe (read-only).
 */
ALS_API int als_model_recommend_unseen(const als_model *m, int64_t user_id, int64_t k,
                                       int64_t *items, float *scores);

/**
 * @brief Save / load the model (params, ids, factors) in the als binary format
 *        (docs/formats.md): atomic save; load validates sizes and checksum.
 * @retval ALS_EINVAL NULL argument.  @retval ALS_ESTATE (save) not fitted.
 * @retval ALS_EIO / ALS_ENOTFOUND file errors.  @retval ALS_EFORMAT (load) corrupt,
 *         truncated or foreign file.  @retval ALS_ENOMEM.
 */
ALS_API int als_model_save(const als_model *m, const char *path);
ALS_API int als_model_load(als_model **out, const char *path);

/**
 * @brief Export factors for NumPy users: PREFIX_users.npy, PREFIX_items.npy (float32,
 *        rows x rank) and PREFIX_user_ids.npy, PREFIX_item_ids.npy ('<i8').
 * @retval ALS_EINVAL NULL argument.  @retval ALS_ESTATE not fitted.  @retval ALS_EIO.
 */
ALS_API int als_model_export_npy(const als_model *m, const char *prefix);
/** @} */

/** @defgroup als_eval Evaluation
 *  Ranking metrics over users with at least one test item (and a trained factor); for
 *  each such user u the top-k items are recommended with u's training items excluded;
 *  T_u = u's test items, hit_i = 1 if the item at rank i (0-based) is in T_u, m_u = min(k, |T_u|):
 *  - precision@k = mean_u (sum_i hit_i) / k
 *  - recall@k    = mean_u (sum_i hit_i) / m_u
 *  - MAP@k       = mean_u [sum_{i: hit} (hits in ranks 0..i) / (i + 1)] / m_u
 *  - NDCG@k      = mean_u [sum_{i: hit} 1 / log2(i + 2)] / [sum_{j < m_u} 1 / log2(j + 2)]
 *  - AUC         = mean_u fraction of (test item, non-interacted item) pairs ordered
 *                  correctly by score over all items (training items excluded).
 *  @{ */
#define ALS_METRIC_PRECISION 0
#define ALS_METRIC_RECALL 1
#define ALS_METRIC_MAP 2
#define ALS_METRIC_NDCG 3
#define ALS_METRIC_AUC 4
#define ALS_METRIC_USERS 5 /**< number of users evaluated */
#define ALS_METRIC_COUNT 6

/**
 * @brief Ranking metrics at k.
 * @param[out] metrics n_metrics doubles, filled in ALS_METRIC_* order (n_metrics may be
 *             smaller than ALS_METRIC_COUNT to get only the first ones).
 * @retval ALS_EINVAL NULL argument.  @retval ALS_ESTATE not fitted.
 * @retval ALS_ERANGE k < 1 or n_metrics < 1.  @retval ALS_ENOMEM.
 */
ALS_API int als_eval_ranking(const als_model *m, const als_ratings *train,
                             const als_ratings *test, int64_t k, double *metrics,
                             int n_metrics);

/**
 * @brief Root mean squared error of predictions over test rows whose user and item are
 *        known (explicit feedback).
 * @param[out] rmse the RMSE (NaN if no row could be scored).
 * @param[out] n_scored rows scored (may be NULL).
 * @retval ALS_EINVAL NULL argument.  @retval ALS_ESTATE not fitted.
 */
ALS_API int als_eval_rmse(const als_model *m, const als_ratings *test, double *rmse,
                          int64_t *n_scored);
/** @} */

/* ===================================================================== als_shard (begin) */
/** @defgroup als_shard Distributed fit: shards by user
 *  The building blocks of an ALS fit past one machine (docs/scale-out.md; the Dask driver
 *  examples/python/dask_als.py). The ratings are split by user into shards, one per
 *  worker, and never move: every iteration the driver sends the item factors V (and
 *  G_V = V^T V, implicit) to every shard; each shard solves its users and returns, for each
 *  item it touches, that item's partial normal equations (A_s, b_s, n_s) from its users,
 *  plus its partial X_s^T X_s; the driver sums them over the shards and solves the items.
 *  In als_model_fit's order (items from users, then users from items), one iteration is
 *    als_shard_item_equations (each shard, from its current user factors)
 *    -> sum -> als_shard_solve_items (driver) -> als_shard_gram of V (implicit)
 *    -> als_shard_solve_users (each shard, against the new V).
 *  Starting from als_shard_init_factors, the result is als_model_fit's on the
 *  concatenation of the shards (see als_shard_init_factors for the row order), to rounding:
 *  a user row is solved with als_model_fit's own code on the same numbers (bit for bit,
 *  given the same V and G_V); an item row's sums are made in double over the shards
 *  instead of in float chunks over the item's ratings, so items agree to about 1e-6
 *  relative per iteration (the rounding of als_model_fit's own sums).
 *  The parameters of every call come from an als_model used as a parameter holder (rank,
 *  implicitPrefs, alpha, regParam, regScaling, nonnegative, numThreads; the seed for the
 *  initial factors); the model's factors are not used. The solves are exact (Cholesky with
 *  als_model_fit's singular-system ladder, or NNLS for nonnegative): solver "cg" warm-starts
 *  from state that these calls do not keep, so every call refuses it (ALS_EUNSUPPORTED).
 *  Only integer ids: shards with string ids each have their own dictionary; map names to
 *  global integer ids before sharding.
 *  @{ */
#define ALS_SHARD_USERS 1 /**< the user side (rows of als_model_user_factors) */
#define ALS_SHARD_ITEMS 2 /**< the item side */

/**
 * @brief The distinct user or item ids of a ratings set in its own order (order of first
 *        appearance), which is the row order of every per-user / per-item output below
 *        and of als_model_fit's factors. Call with cap 0 to learn the count.
 * @param[in] side ALS_SHARD_USERS or ALS_SHARD_ITEMS.
 * @param[out] ids_out up to cap ids (may be NULL when cap is 0).
 * @return the number of distinct ids (which may exceed cap: then only cap are written), or
 *         a negative code.
 * @retval ALS_EINVAL shard NULL, ids_out NULL with cap > 0, or an unknown side.
 * @retval ALS_ERANGE cap < 0.
 * Ownership: none. Thread safety: safe (read-only). @since 1.1
 */
ALS_API int64_t als_shard_ids(const als_ratings *shard, int side, int64_t *ids_out, int64_t cap);

/**
 * @brief Initial factors exactly as als_model_fit draws them: row i of side s of a fit is a
 *        vector of rank Gaussian draws normalized to unit length, from an RNG seeded by
 *        (seed, s, i) alone. Row i is the i-th distinct user (item) of the training
 *        ratings in order of first appearance; for the concatenation of user-disjoint
 *        shards 0..S-1 that makes user j of shard s row (users in shards 0..s-1) + j, and
 *        the items rows in the order they first appear in shard 0, then shard 1, ...
 * @param[in] params parameter holder (rank, seed).
 * @param[in] side ALS_SHARD_USERS or ALS_SHARD_ITEMS.
 * @param[in] rows als_matrix_rows(out) row numbers (>= 0) of the single-process fit, in
 *            the order wanted; NULL = 0, 1, 2, ...
 * @param[out] out rows x rank matrix (any stride) receiving the factors.
 * @retval ALS_EINVAL NULL params or out, or an unknown side.
 * @retval ALS_EDIM out's columns differ from the rank.  @retval ALS_ERANGE a negative row.
 * Ownership: none. Thread safety: safe; concurrent calls must use different out. @since 1.1
 */
ALS_API int als_shard_init_factors(const als_model *params, int side, const int64_t *rows,
                                   als_matrix *out);

/**
 * @brief F^T F (rank x rank, row-major, double) of a factor matrix with als_model_fit's own
 *        routine (float blocks of 4096 rows summed in double in order): of the full item
 *        factors in the fit's row order it is bit for bit the Gramian the fit uses.
 * @param[in] params parameter holder (rank, numThreads).
 * @param[in] factors rows x rank (any stride; rows may be 0, giving zeros).
 * @param[out] out rank x rank doubles.
 * @retval ALS_EINVAL NULL argument.  @retval ALS_EDIM columns differ from the rank.
 * @retval ALS_ENOMEM allocation failed.
 * Thread safety: safe. @since 1.1
 */
ALS_API int als_shard_gram(const als_model *params, const als_matrix *factors, double *out);

/**
 * @brief Solve the users of a shard against fixed item factors: for each distinct user of
 *        the shard, the training solve of als_model_fit (same confidence, lambda,
 *        Cholesky or NNLS, same code), written to the user's row.
 * @param[in] params parameter holder; solver must be cholesky.
 * @param[in] shard the shard's ratings (every user's rows in their training order).
 * @param[in] item_ids als_matrix_rows(item_factors) distinct ids, the id of each row.
 * @param[in] item_factors n x rank (any stride); must hold every item of the shard (others
 *            are ignored, so the full item factors do).
 * @param[in] item_gram rank x rank V^T V (implicit; als_shard_gram of the full item
 *            factors), or NULL to compute it from item_factors (then they must be all of
 *            them, in the fit's order, for the fit's exact Gramian). Ignored when explicit.
 * @param[out] user_ids_out als_shard_ids(shard, ALS_SHARD_USERS) ids, or NULL.
 * @param[out] user_factors num_users x rank (any stride); row j = j-th user of the shard.
 * @retval ALS_EINVAL NULL argument, a NaN/Inf factor or Gramian entry, or a duplicate id
 *         in item_ids (named).
 * @retval ALS_EDIM a matrix has the wrong number of columns (rank) or user_factors the
 *         wrong number of rows.
 * @retval ALS_ERANGE the shard has no ratings.
 * @retval ALS_ENOTFOUND an item of the shard is not in item_ids (named).
 * @retval ALS_EUNSUPPORTED solver cg.  @retval ALS_ENOMEM allocation failed.
 * @retval ALS_EINTERNAL some user's system could not be solved, or a factor came out
 *         NaN/Inf (as in als_model_fit).
 * On failure user_factors may hold partial results.
 * Ownership: none kept. Thread safety: safe with other read-only calls on its inputs; uses
 * numThreads threads. @since 1.1
 */
ALS_API int als_shard_solve_users(const als_model *params, const als_ratings *shard,
                                  const int64_t *item_ids, const als_matrix *item_factors,
                                  const double *item_gram, int64_t *user_ids_out,
                                  als_matrix *user_factors);

/**
 * @brief A shard's partial item normal equations from its users' factors. For each
 *        distinct item i of the shard (in als_shard_ids(shard, ALS_SHARD_ITEMS) order),
 *        over the shard's ratings r_ui of it, with x_u the user's factor:
 *        implicit: A_i = sum_u alpha |r_ui| x_u x_u^T, b_i = sum_{r_ui > 0} (1 + alpha r_ui) x_u,
 *                  n_i = #{r_ui > 0};
 *        explicit: A_i = sum_u x_u x_u^T, b_i = sum_u r_ui x_u, n_i = #ratings;
 *        summed in double. Summed over all shards, with the Gramian X^T X of all users added
 *        (implicit) and lambda_i I, they are item i's system in als_model_fit.
 * @param[in] params parameter holder; solver must be cholesky.
 * @param[in] shard the shard's ratings.
 * @param[in] user_factors num_users x rank (any stride), row j = j-th user of the shard.
 * @param[out] item_ids_out num_items ids, or NULL.
 * @param[out] A_out num_items x rank (rank + 1) / 2 doubles: A_i's upper triangle packed
 *             row by row (A00 A01 .. A0,r-1 A11 A12 .. Ar-1,r-1).
 * @param[out] b_out num_items x rank doubles.
 * @param[out] counts_out num_items counts n_i.
 * @param[out] gram_out rank x rank doubles X_s^T X_s of the shard's user factors
 *             (als_shard_gram), or NULL (explicit feedback does not need it).
 * @retval ALS_EINVAL NULL argument (but the optional ones) or a NaN/Inf factor.
 * @retval ALS_EDIM user_factors is not num_users x rank.
 * @retval ALS_ERANGE the shard has no ratings.
 * @retval ALS_EUNSUPPORTED solver cg.  @retval ALS_ENOMEM allocation failed.
 * Ownership: none kept. Thread safety: safe; uses numThreads threads. @since 1.1
 */
ALS_API int als_shard_item_equations(const als_model *params, const als_ratings *shard,
                                     const als_matrix *user_factors, int64_t *item_ids_out,
                                     double *A_out, double *b_out, int64_t *counts_out,
                                     double *gram_out);

/**
 * @brief Solve items from their normal equations summed over the shards: for each item i,
 *        (user_gram (implicit) + A_i + lambda_i I) y_i = b_i with lambda_i = regParam x n_i
 *        (regScaling count) or regParam (none); y_i = 0 when b_i = 0 (no usable ratings),
 *        as in als_model_fit. Cholesky in double, with als_model_fit's ladder of ridges for
 *        singular systems (1e-12 .. 1e-2 of the mean diagonal), or NNLS (nonnegative).
 * @param[in] params parameter holder; solver must be cholesky.
 * @param[in] n_items number of items (rows of item_factors), >= 0.
 * @param[in] A n_items packed upper triangles (as als_shard_item_equations writes).
 * @param[in] b n_items x rank.
 * @param[in] counts n_items counts (>= 0).
 * @param[in] user_gram rank x rank X^T X over all users (the sum of the shards' gram_out);
 *            required for implicit feedback, ignored (may be NULL) for explicit.
 * @param[out] item_factors n_items x rank (any stride).
 * @retval ALS_EINVAL NULL argument, user_gram NULL for implicit, a NaN/Inf input or a
 *         negative count.
 * @retval ALS_EDIM item_factors is not n_items x rank.
 * @retval ALS_ERANGE n_items < 0 (or so large that its arrays overflow the address space).
 * @retval ALS_EUNSUPPORTED solver cg.  @retval ALS_ENOMEM allocation failed.
 * @retval ALS_EINTERNAL some item's system could not be solved (its row is zeroed) or a
 *         factor came out NaN/Inf.
 * Ownership: none kept. Thread safety: safe; uses numThreads threads. @since 1.1
 */
ALS_API int als_shard_solve_items(const als_model *params, int64_t n_items, const double *A,
                                  const double *b, const int64_t *counts,
                                  const double *user_gram, als_matrix *item_factors);

/**
 * @brief Make m a fitted model from given factors and ids (a distributed fit's result,
 *        factors trained elsewhere): afterwards it predicts, recommends, folds in, evaluates,
 *        saves and exports like a model from als_model_fit, with m's current parameters as
 *        the training parameters. The factors and ids are copied; a new run id is drawn.
 * @param[in] user_ids als_matrix_rows(user_factors) distinct ids, the id of each row.
 * @param[in] user_factors users x rank (any stride), rows >= 1.
 * @param[in] item_ids, item_factors the same for the items.
 * @retval ALS_EINVAL NULL argument, a duplicate id (named) or a NaN/Inf factor.
 * @retval ALS_EDIM a matrix's columns differ from m's rank parameter.
 * @retval ALS_ERANGE a side with no rows.  @retval ALS_ENOMEM allocation failed.
 * On failure m keeps its previous state.
 * Ownership: nothing is kept from the arguments. Thread safety: not concurrently with other
 * calls on m. @since 1.1
 */
ALS_API int als_model_set_factors(als_model *m, const int64_t *user_ids,
                                  const als_matrix *user_factors, const int64_t *item_ids,
                                  const als_matrix *item_factors);
/** @} */
/* ===================================================================== als_shard (end) */

#ifdef __cplusplus
}
#endif
#endif /* ALS_H */
