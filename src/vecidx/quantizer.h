/* Two-level assignment accelerator for IVF indexes with many lists (quantizer.c).
 *
 * Assigning a point to the nearest of nlist centroids by a flat scan costs nlist dot
 * products; at nlist 8 K and millions of points that is most of an IVF build. The
 * accelerator groups the nlist ("fine") centroids under ntop ~ 0.4 sqrt(nlist) "top"
 * centroids (k-means of the fine centroids themselves, each fine centroid in the cell of its
 * nearest top centroid) and assigns a point to the best fine centroid of its nearest top
 * cell and of the few other cells near enough to hold a better one (quantizer.c): about
 * 700 dot products instead of 8457 at nlist 8457 on the benchmark's data.
 *
 * Scores are the flat quantizer's own (same kernels, same fma order, ties by the smaller
 * centroid number), so a point gets exactly the flat quantizer's answer whenever its nearest
 * centroid lies in one of the probed cells; otherwise a close runner-up (docs/performance.md,
 * "IVF build at scale", measures how often and what it costs in recall: nothing measurable).
 * Search is untouched: it probes by the flat list of centroids.
 *
 * Everything depends only on the centroids (and, in k-means, the seed), never on the thread
 * count, the SIMD path or how the points are split into calls. Nothing is persisted: an index
 * rebuilds it from its centroids on the first add after training or loading. */
#ifndef VECIDX_QUANTIZER_H
#define VECIDX_QUANTIZER_H

#include "vecidx/vecidx_internal.h"

/* Below this many lists assignment stays an exact flat scan (cheap enough). */
#define VECIDX_COARSE_MIN_NLIST 1024

typedef struct vecidx__coarse vecidx__coarse;

/* Cells probed per point: the nearest top cell, then those whose top centroid lies within
 * D1 + reach r of the point (D1: distance to the nearest top centroid, r: to the best fine
 * centroid found there), at most 12 in all; reach 2 would make every assignment exact.
 * Adding uses 1 (99.95% of the assignments exact on the benchmark's data), k-means 0.75
 * (99.8%: its iterations correct the rest, and each point's previous centroid is checked). */
#define VECIDX_COARSE_REACH_ADD 1.0
#define VECIDX_COARSE_REACH_TRAIN 0.75

/* Build the accelerator for c (nlist x d, row-major). l2: metric is L2 (else inner product,
 * spherical top level). Returns ALS_OK or ALS_ENOMEM (error message set). */
int vecidx__coarse_build(const float *c, int64_t nlist, int64_t d, int l2, double reach,
                         uint64_t seed, int nthreads, als__scan_fn scan, vecidx__coarse **out);
void vecidx__coarse_free(vecidx__coarse *q);

/* Nearest centroid (as the accelerator finds it) of the n rows of x (row stride `stride`).
 * prev: NULL, or a current centroid per row (k-means): its cell is scanned too, so the
 * result is never worse than prev. assign may be prev. Returns ALS_OK or ALS_ENOMEM. */
int vecidx__coarse_assign(const vecidx__coarse *q, als__scan_fn scan, int nthreads,
                          const float *x, int64_t n, int64_t stride, const int64_t *prev,
                          int64_t *assign);

#endif
