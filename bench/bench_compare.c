/*
 * bench_compare.c - --compare A.json B.json: the rows of two result files matched on their
 * key (section, name, model, batch, shape; and the device when both files hold several),
 * each with both medians and spreads and the ratio B/A oriented so that above 1 is better.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Device ordinal to match on: ignored when either file has a single device. */
static int same_device(const bench_results *a, const bench_row *ra, const bench_results *b,
                       const bench_row *rb) {
    return a->ndev <= 1 || b->ndev <= 1 || ra->device == rb->device;
}

int bench_compare(const char *path_a, const char *path_b, FILE *f, bench_format fmt) {
    bench_results a, b;
    if (bench_read_json(path_a, &a)) return 1;
    if (bench_read_json(path_b, &b)) {
        bench_results_free(&a);
        return 1;
    }
    const bench_results *files[2] = {&a, &b};
    const char *tag = "AB";
    for (int k = 0; k < 2; k++) {
        const bench_results *r = files[k];
        fprintf(f, "%s%c: %s (%s, %s)\n", fmt == FMT_MD ? "- " : "", tag[k], r->path, r->tool,
                r->timestamp);
        for (int d = 0; d < r->ndev; d++)
            fprintf(f, "%s   [%d] %s, %s, driver %s\n", fmt == FMT_MD ? "  " : "", d,
                    r->devs[d].info.name, r->devs[d].tool, r->devs[d].info.driver_version);
    }
    /* gemm rows that carry an OpenBLAS baseline also show clvit/OpenBLAS in each file: a
     * speedup of B over A that OpenBLAS does not share is clvit's, not the machine's load */
    int has_blas = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < files[k]->nrows; i++)
            has_blas |= !isnan(files[k]->rows[i].blas_ratio);
    const int ncols = has_blas ? 12 : 10;
    bench_table t;
    tbl_init(&t, "speedup of B over A (rates: B/A, times: A/B; > 1 means B is faster)", ncols);
    const char *h[] = {"section",
                       "test",
                       "model",
                       "batch",
                       "shape",
                       "unit",
                       "A median ±spread",
                       "B median ±spread",
                       "speedup",
                       has_blas ? "A clvit/OpenBLAS" : "dev",
                       "B clvit/OpenBLAS",
                       "dev"};
    for (int c = 0; c < ncols; c++)
        tbl_head(&t, c, h[c], c == 3 || (c >= 6 && c < ncols - 1));
    int matched = 0, only_a = 0;
    char *used = calloc((size_t)(b.nrows ? b.nrows : 1), 1);
    for (int i = 0; i < a.nrows; i++) {
        const bench_row *ra = &a.rows[i];
        char ka[300], kb[300];
        bench_row_key(ra, ka, sizeof ka);
        int found = -1;
        for (int j = 0; j < b.nrows && found < 0; j++) {
            if (used && used[j]) continue;
            bench_row_key(&b.rows[j], kb, sizeof kb);
            if (!strcmp(ka, kb) && same_device(&a, ra, &b, &b.rows[j])) found = j;
        }
        if (found < 0) {
            only_a++;
            continue;
        }
        if (used) used[found] = 1;
        matched++;
        const bench_row *rb = &b.rows[found];
        char ca[64], cb[64], m[24], sp[24], ratio[24], batch[16] = "", dev[16];
        fmt_num(m, sizeof m, ra->st.median);
        bench_pct_cell(sp, sizeof sp, ra->st.spread_pct);
        snprintf(ca, sizeof ca, "%s ±%s", m, sp);
        fmt_num(m, sizeof m, rb->st.median);
        bench_pct_cell(sp, sizeof sp, rb->st.spread_pct);
        snprintf(cb, sizeof cb, "%s ±%s", m, sp);
        double q =
            ra->higher_is_better ? rb->st.median / ra->st.median : ra->st.median / rb->st.median;
        if (isnan(q) || isinf(q))
            snprintf(ratio, sizeof ratio, "-");
        else
            snprintf(ratio, sizeof ratio, "%.2f", q);
        if (ra->batch) snprintf(batch, sizeof batch, "%d", ra->batch);
        snprintf(dev, sizeof dev, "%d/%d", ra->device, rb->device);
        char va[16] = "", vb[16] = "";
        if (!isnan(ra->blas_ratio)) snprintf(va, sizeof va, "%.2f", ra->blas_ratio);
        if (!isnan(rb->blas_ratio)) snprintf(vb, sizeof vb, "%.2f", rb->blas_ratio);
        if (has_blas)
            tbl_row(&t, ra->section, ra->name, ra->model, batch, ra->shape, ra->unit, ca, cb, ratio,
                    va, vb, dev);
        else
            tbl_row(&t, ra->section, ra->name, ra->model, batch, ra->shape, ra->unit, ca, cb, ratio,
                    dev);
    }
    int only_b = b.nrows - matched;
    free(used);
    if (fmt == FMT_CSV)
        tbl_print(&t, f, FMT_CSV);
    else
        tbl_print(&t, f, fmt);
    fprintf(f, "\n%d rows compared; %d only in A, %d only in B\n", matched, only_a, only_b);
    tbl_free(&t);
    bench_results_free(&a);
    bench_results_free(&b);
    return matched == 0;
}
