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
 * The library never prints, never exits and holds no mutable global state.
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
#define ALS_VERSION_MINOR 0
#define ALS_VERSION_PATCH 0
/** MAJOR * 10000 + MINOR * 100 + PATCH */
#define ALS_VERSION_NUMBER (ALS_VERSION_MAJOR * 10000 + ALS_VERSION_MINOR * 100 + ALS_VERSION_PATCH)
#define ALS_VERSION_STRING "1.0.0"
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
 * @retval ALS_ENOMEM allocation failed or rows x stride overflows.
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
 * @retval ALS_EINVAL out is NULL, or data NULL for a non-empty matrix.
 * @retval ALS_ERANGE negative sizes or row_stride < cols.
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
 * @brief Write a matrix as a NumPy .npy file (version 1.0, '<f4', C order, 2-D).
 *        The write is atomic: a temporary file in the same folder is written, flushed
 *        to disk and renamed, so an existing file is never left half-written.
 * @retval ALS_EINVAL m or path is NULL.
 * @retval ALS_EIO the file could not be written (the old file, if any, is untouched).
 * Thread safety: safe with other read-only calls on m.
 */
ALS_API int als_matrix_write_npy(const als_matrix *m, const char *path);
/** @} */

#ifdef __cplusplus
}
#endif
#endif /* ALS_H */
