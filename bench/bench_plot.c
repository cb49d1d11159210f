/*
 * bench_plot.c - --plot FILE.svg: a hand-written SVG of throughput against batch size, one
 * panel per model, one line per (file, device), with the spread of the timed runs as a band.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 16

typedef struct series {
    double x[BENCH_MAX_LIST], y[BENCH_MAX_LIST], lo[BENCH_MAX_LIST], hi[BENCH_MAX_LIST];
    int n;
} series;

/* The legend label of a device: what the line stands for. Files with the same label (two
 * runs of one tool on one device, e.g. small and large models) draw one line. */
static void series_label(const bench_device *d, char *buf, size_t size) {
    snprintf(buf, size, "%s: %s (%s)", d->tool, d->info.name, d->type);
}

static void svg_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static double nice_step(double range) {
    double raw = range / 5.0, p = pow(10.0, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1.0 : m < 3.0 ? 2.0 : m < 7.0 ? 5.0 : 10.0) * p;
}

static int is_throughput(const bench_row *w) {
    return !strcmp(w->section, "infer") && !strcmp(w->name, "throughput") && !isnan(w->st.median);
}

int bench_plot(const bench_results *sets, int nsets, const char *svg_path) {
    static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};
    /* models and series, in order of appearance */
    const char *models[BENCH_MAX_LIST];
    char labels[MAX_SERIES][256];
    int nm = 0, nl = 0;
    for (int s = 0; s < nsets; s++)
        for (int i = 0; i < sets[s].nrows; i++) {
            const bench_row *w = &sets[s].rows[i];
            if (!is_throughput(w) || w->device < 0 || w->device >= sets[s].ndev) continue;
            int seen = 0;
            for (int m = 0; m < nm; m++)
                seen |= !strcmp(models[m], w->model);
            if (!seen && nm < BENCH_MAX_LIST) models[nm++] = w->model;
            char label[256];
            series_label(&sets[s].devs[w->device], label, sizeof label);
            seen = 0;
            for (int l = 0; l < nl; l++)
                seen |= !strcmp(labels[l], label);
            if (!seen && nl < MAX_SERIES) snprintf(labels[nl++], sizeof labels[0], "%s", label);
        }
    if (nm == 0) {
        bench_log("--plot: no inference throughput rows to plot");
        return 1;
    }
    FILE *f = fopen(svg_path, "w");
    if (!f) {
        bench_log("--plot: cannot write %s", svg_path);
        return 1;
    }
    const int pw = 420, ph = 300, ml = 70, mr = 20, mt = 40, mb = 50;
    const int cols = nm < 3 ? nm : 3, rows = (nm + cols - 1) / cols;
    const int legend_h = 22 * nl + 20;
    const int W = cols * pw < 760 ? 760 : cols * pw, H = 50 + legend_h + rows * ph;
    const int left = (W - cols * pw) / 2;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f,
            "<text x=\"%d\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">"
            "Inference throughput against batch size (median; bars: min..max)</text>\n",
            W / 2);
    for (int l = 0; l < nl; l++) {
        const int y = 50 + 22 * l;
        fprintf(f,
                "<line x1=\"20\" y1=\"%d\" x2=\"50\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"2.5\"/>\n<text x=\"58\" y=\"%d\">",
                y, y, colors[l % 8], y + 4);
        svg_text(f, labels[l]);
        fputs("</text>\n", f);
    }
    for (int m = 0; m < nm; m++) {
        const int ox = left + (m % cols) * pw, oy = 50 + legend_h + (m / cols) * ph;
        const int x0 = ox + ml, x1 = ox + pw - mr, y0 = oy + ph - mb, y1 = oy + mt;
        double bmin = INFINITY, bmax = -INFINITY, ymax = 0.0;
        for (int s = 0; s < nsets; s++)
            for (int i = 0; i < sets[s].nrows; i++) {
                const bench_row *w = &sets[s].rows[i];
                if (!is_throughput(w) || strcmp(w->model, models[m])) continue;
                bmin = fmin(bmin, w->batch);
                bmax = fmax(bmax, w->batch);
                ymax = fmax(ymax, isnan(w->st.max) ? w->st.median : fmax(w->st.median, w->st.max));
            }
        if (!(bmin >= 1.0)) bmin = 1.0;
        if (bmax <= bmin) bmax = bmin * 2.0;
        if (ymax <= 0.0) ymax = 1.0;
        const double step = nice_step(ymax);
        const double ytop = ceil(ymax * 1.05 / step) * step;
        const double lmin = log2(bmin), lmax = log2(bmax);
#define PX(b) (x0 + (x1 - x0) * (log2(b) - lmin) / (lmax - lmin))
#define PY(v) (y0 - (y0 - y1) * (v) / ytop)
        fprintf(f, "<g>\n<text x=\"%d\" y=\"%d\" font-size=\"14\" text-anchor=\"middle\">",
                (x0 + x1) / 2, oy + 22);
        svg_text(f, models[m]);
        fputs("</text>\n", f);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                "stroke=\"#888\"/>\n",
                x0, y1, x1 - x0, y0 - y1);
        for (int t = 0; t * step <= ytop * (1.0 + 1e-9); t++) {
            const double v = t * step, y = PY(v);
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x0,
                    y, x1, y);
            fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.6g</text>\n", x0 - 6, y + 4,
                    v);
        }
        for (double b = pow(2.0, ceil(lmin - 1e-9)); b <= bmax * 1.0001; b *= 2.0) {
            const double x = PX(b);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x,
                    y1, x, y0);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x, y0 + 16,
                    b);
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">batch size</text>\n",
                (x0 + x1) / 2, y0 + 36);
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                "transform=\"rotate(-90 %d %d)\">images/s</text>\n",
                ox + 16, (y0 + y1) / 2, ox + 16, (y0 + y1) / 2);
        for (int l = 0; l < nl; l++) {
            series sr;
            memset(&sr, 0, sizeof sr);
            for (int s = 0; s < nsets; s++)
                for (int i = 0; i < sets[s].nrows && sr.n < BENCH_MAX_LIST; i++) {
                    const bench_row *w = &sets[s].rows[i];
                    if (!is_throughput(w) || strcmp(w->model, models[m]) || w->device < 0 ||
                        w->device >= sets[s].ndev)
                        continue;
                    char label[256];
                    series_label(&sets[s].devs[w->device], label, sizeof label);
                    if (strcmp(label, labels[l])) continue;
                    /* keep the points sorted by batch size */
                    int p = sr.n++;
                    while (p > 0 && sr.x[p - 1] > w->batch) {
                        sr.x[p] = sr.x[p - 1];
                        sr.y[p] = sr.y[p - 1];
                        sr.lo[p] = sr.lo[p - 1];
                        sr.hi[p] = sr.hi[p - 1];
                        p--;
                    }
                    sr.x[p] = w->batch;
                    sr.y[p] = w->st.median;
                    sr.lo[p] = isnan(w->st.min) ? w->st.median : w->st.min;
                    sr.hi[p] = isnan(w->st.max) ? w->st.median : w->st.max;
                }
            if (sr.n == 0) continue;
            const char *color = colors[l % 8];
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
            for (int p = 0; p < sr.n; p++)
                fprintf(f, "%s%.1f,%.1f", p ? " " : "", PX(sr.x[p]), PY(sr.y[p]));
            fputs("\"/>\n", f);
            for (int p = 0; p < sr.n; p++) {
                fprintf(f,
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                        "stroke-width=\"1.5\"/>\n",
                        PX(sr.x[p]), PY(sr.lo[p]), PX(sr.x[p]), PY(sr.hi[p]), color);
                fprintf(f,
                        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\">"
                        "<title>batch %g: %.4g img/s</title></circle>\n",
                        PX(sr.x[p]), PY(sr.y[p]), color, sr.x[p], sr.y[p]);
            }
        }
#undef PX
#undef PY
        fputs("</g>\n", f);
    }
    fputs("</svg>\n", f);
    int bad = fclose(f) != 0;
    if (bad) bench_log("--plot: error writing %s", svg_path);
    return bad;
}
