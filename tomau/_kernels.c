/* tomau._kernels: the two passes over a photo's pixels that tomau.fullres makes per strip, each in one pass.
 *
 *   lab_rows  L of a strip (float32, or uint8 / uint16 grey looked up in a table of their L) and ab interpolated
 *             between two rows of ab widened to the photo's width -> sRGB rows, rounded, uint8 or uint16, written
 *             interleaved (RGB, or RGBX with X at the top value) straight into the caller's buffer.
 *   add_rows  out[j] += weights[j, r0 + i] * L(row i) for each input row i and the outputs j it reaches: the banded
 *             product of the model input's antialiased resize.
 *
 * The maths and every constant come from tomau.color through tomau.fullres (the Lab -> linear RGB matrix with
 * D65's white folded in, the knees of f^-1 and of the sRGB curve, the curve above its knee as a polynomial in
 * lin^(1/4)); this file only runs them, in float32. Built with the package (setup.py). No NumPy headers: arrays
 * arrive through the buffer protocol, and every buffer's size and every index into one is checked against the
 * dimensions given before anything is read or written.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The loops are compiled three times on x86-64 with GCC or clang (AVX-512, AVX2 + FMA, and the baseline SSE2),
 * and the best one the CPU runs is chosen when the module loads (1 MP, idle: 2.0, 3.4 and 3.7 ms). */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define DISPATCH 1
#if defined(__clang__)
#define TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#else  /* GCC's own option: 512-bit vectors (2.0 ms against 2.5 with 256-bit ones) */
#define TARGET_V4 __attribute__((target("arch=x86-64-v4,prefer-vector-width=512")))
#endif
#define TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#else
#define DISPATCH 0
#endif
#if defined(__GNUC__) || defined(__clang__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#define restrict __restrict
#endif

enum { L_FLOAT = 0, L_U8 = 1, L_U16 = 2 };  /* the kinds of rows, as tomau.fullres names them */
#define BLOCK 512                           /* pixels of a row computed at a time: their R, G, B stay in L1 */

typedef struct {
    float m[9];       /* linear R, G, B of f^-1(fx, fy, fz), the white folded in: rows R, G, B */
    float f_knee;     /* f^-1(t) = t^3 above, (116 t - 16) / kappa below */
    float inv_kappa;
    float s_knee;     /* sRGB: slope * lin below, the polynomial in lin^(1/4) above */
    float s_slope;
    float poly[7];    /* highest power first */
    float top;        /* 255 or 65535 */
} Consts;

typedef struct {      /* one call of lab_rows, checked */
    const void *l;
    int l_kind;
    const float *table, *wide_a, *wide_b, *fy;
    const int64_t *y0, *y1;
    Consts k;
    void *out;
    Py_ssize_t n, w, stride;
    int channels, deep;
} LabJob;

INLINE float f_inv(float t, float knee, float inv_kappa) {
    float cube = t * t * t, line = (116.0f * t - 16.0f) * inv_kappa;
    return t > knee ? cube : line;
}

INLINE float srgb(float v, float knee, float slope, const float *p) {
    v = v < 0.0f ? 0.0f : v;
    v = v > 1.0f ? 1.0f : v;
    float u = sqrtf(sqrtf(v));
    float s = ((((((p[0] * u + p[1]) * u + p[2]) * u + p[3]) * u + p[4]) * u + p[5]) * u + p[6]);
    s = s > 1.0f ? 1.0f : s;
    float line = v * slope;
    return v > knee ? s : line;
}

/* R, G, B (rounded, times top) of n pixels of L, ab interpolated with weight t between a0/b0 and a1/b1. */
INLINE void lab_block(const float *restrict L, const float *restrict a0, const float *restrict a1,
                      const float *restrict b0, const float *restrict b1, float t, const Consts *restrict k,
                      Py_ssize_t n, int32_t *restrict r, int32_t *restrict g, int32_t *restrict b) {
    const float u = 1.0f - t, fk = k->f_knee, ik = k->inv_kappa, sk = k->s_knee, ss = k->s_slope, top = k->top;
    float m[9], p[7];
    memcpy(m, k->m, sizeof m);
    memcpy(p, k->poly, sizeof p);
    for (Py_ssize_t x = 0; x < n; x++) {
        float fy = (L[x] + 16.0f) * (1.0f / 116.0f);
        float fx = fy + (a0[x] * u + a1[x] * t) * (1.0f / 500.0f);
        float fz = fy - (b0[x] * u + b1[x] * t) * (1.0f / 200.0f);
        fz = fz < 0.0f ? 0.0f : fz;  /* tomau.color.lab_to_rgb clamps fz at 0, as scikit-image does */
        float X = f_inv(fx, fk, ik), Y = f_inv(fy, fk, ik), Z = f_inv(fz, fk, ik);
        r[x] = (int32_t)(srgb(m[0] * X + m[1] * Y + m[2] * Z, sk, ss, p) * top + 0.5f);
        g[x] = (int32_t)(srgb(m[3] * X + m[4] * Y + m[5] * Z, sk, ss, p) * top + 0.5f);
        b[x] = (int32_t)(srgb(m[6] * X + m[7] * Y + m[8] * Z, sk, ss, p) * top + 0.5f);
    }
}

INLINE void lab_rows_run(const LabJob *restrict j) {
    float Lb[BLOCK];
    int32_t r[BLOCK], g[BLOCK], b[BLOCK];
    const Py_ssize_t w = j->w, ch = j->channels;
    for (Py_ssize_t row = 0; row < j->n; row++) {
        const float *a0 = j->wide_a + j->y0[row] * w, *a1 = j->wide_a + j->y1[row] * w, t = j->fy[row];
        const float *b0 = j->wide_b + j->y0[row] * w, *b1 = j->wide_b + j->y1[row] * w;
        for (Py_ssize_t x0 = 0; x0 < w; x0 += BLOCK) {
            const Py_ssize_t n = w - x0 < BLOCK ? w - x0 : BLOCK, at = row * w + x0;
            const float *L = Lb;
            if (j->l_kind == L_FLOAT)
                L = (const float *)j->l + at;
            else if (j->l_kind == L_U8)
                for (Py_ssize_t i = 0; i < n; i++) Lb[i] = j->table[((const uint8_t *)j->l)[at + i]];
            else
                for (Py_ssize_t i = 0; i < n; i++) Lb[i] = j->table[((const uint16_t *)j->l)[at + i]];
            lab_block(L, a0 + x0, a1 + x0, b0 + x0, b1 + x0, t, &j->k, n, r, g, b);
            const Py_ssize_t o0 = row * j->stride + x0 * ch;
            if (!j->deep && ch == 4) {  /* RGBX: one little-endian word a pixel */
                uint32_t *o = (uint32_t *)((uint8_t *)j->out + o0);
                for (Py_ssize_t i = 0; i < n; i++) o[i] = (uint32_t)r[i] | (uint32_t)g[i] << 8 | (uint32_t)b[i] << 16 | 0xff000000u;
            } else if (!j->deep) {
                uint8_t *o = (uint8_t *)j->out + o0;
                for (Py_ssize_t i = 0; i < n; i++) o[3 * i] = (uint8_t)r[i], o[3 * i + 1] = (uint8_t)g[i], o[3 * i + 2] = (uint8_t)b[i];
            } else {
                uint16_t *o = (uint16_t *)j->out + o0;
                for (Py_ssize_t i = 0; i < n; i++) {
                    o[ch * i] = (uint16_t)r[i], o[ch * i + 1] = (uint16_t)g[i], o[ch * i + 2] = (uint16_t)b[i];
                    if (ch == 4) o[4 * i + 3] = 65535;
                }
            }
        }
    }
}

typedef struct {      /* one call of add_rows, checked */
    float *out, *scratch;
    const float *weights, *table;
    const int64_t *lo, *hi;
    const void *rows;
    int l_kind;
    Py_ssize_t r0, n_in, n, c;
} AddJob;

INLINE void add_rows_run(const AddJob *restrict j) {
    const Py_ssize_t c = j->c;
    for (Py_ssize_t i = 0; i < j->n; i++) {
        const float *restrict row = j->scratch;
        if (j->l_kind == L_FLOAT)
            row = (const float *)j->rows + i * c;
        /* the look-up loops of lab_rows_run again, on purpose: written as one shared helper they were vectorised
         * with gathers here too, and the model's input took 0.55 ms against 0.46 (this CPU's gathers are slower) */
        else if (j->l_kind == L_U8)
            for (Py_ssize_t x = 0; x < c; x++) j->scratch[x] = j->table[((const uint8_t *)j->rows)[i * c + x]];
        else
            for (Py_ssize_t x = 0; x < c; x++) j->scratch[x] = j->table[((const uint16_t *)j->rows)[i * c + x]];
        for (int64_t o = j->lo[j->r0 + i]; o < j->hi[j->r0 + i]; o++) {
            float *restrict dst = j->out + o * c;
            const float wt = j->weights[o * j->n_in + j->r0 + i];
            for (Py_ssize_t x = 0; x < c; x++) dst[x] += wt * row[x];
        }
    }
}

/* each loop once per instruction set; the best the CPU has is chosen in PyInit__kernels */
static void lab_rows_base(const LabJob *j) { lab_rows_run(j); }
static void add_rows_base(const AddJob *j) { add_rows_run(j); }
#if DISPATCH
TARGET_V3 static void lab_rows_v3(const LabJob *j) { lab_rows_run(j); }
TARGET_V3 static void add_rows_v3(const AddJob *j) { add_rows_run(j); }
TARGET_V4 static void lab_rows_v4(const LabJob *j) { lab_rows_run(j); }
TARGET_V4 static void add_rows_v4(const AddJob *j) { add_rows_run(j); }
#endif
static void (*lab_rows_best)(const LabJob *) = lab_rows_base;
static void (*add_rows_best)(const AddJob *) = add_rows_base;
static const char *instruction_set = "baseline";

#if DISPATCH
static int cpu_has_v3(void) {
    __builtin_cpu_init();
    /* x86-64-v3's other features (F16C, LZCNT, MOVBE) come with these on every CPU, and the loops use none of them
     * (clang 14's builtin does not know "f16c") */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
}

static int cpu_has_v4(void) {
    return cpu_has_v3() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
           && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd");
}
#endif

static int check(const Py_buffer *b, Py_ssize_t need, const char *name) {
    if (b->len < need) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes where %zd are needed", name, b->len, need);
        return 0;
    }
    return 1;
}

static Py_ssize_t table_bytes(int l_kind) { return l_kind == L_U8 ? 256 * 4 : (l_kind == L_U16 ? 65536 * 4 : 0); }
static Py_ssize_t l_bytes(int l_kind) { return l_kind == L_FLOAT ? 4 : (l_kind == L_U8 ? 1 : 2); }

/* lab_rows(l, l_kind, table, wide_a, wide_b, y0, y1, fy, consts, out, n, w, s, out_stride, channels, deep)
 *   l (n, w) float32 / uint8 / uint16 (l_kind 0 / 1 / 2); table float32 (256 / 65536) of the greys' L
 *   wide_a, wide_b (s, w) float32: a and b at the model's s rows, widened; y0, y1 (n) int64: the two rows of them
 *   each row's ab is interpolated between, with weight fy (n) float32 on y1
 *   consts float32 (22, as Consts); out uint8 (deep 0) or uint16 (deep 1), pixel x of row r at
 *   r * out_stride + x * channels elements, channels 3 (RGB) or 4 (RGBX) */
static PyObject *lab_rows(PyObject *self, PyObject *args) {
    Py_buffer l, table, wide_a, wide_b, y0, y1, fy, consts, out;
    LabJob j;
    Py_ssize_t s;
    if (!PyArg_ParseTuple(args, "y*iy*y*y*y*y*y*y*w*nnnnii", &l, &j.l_kind, &table, &wide_a, &wide_b, &y0, &y1, &fy, &consts,
                          &out, &j.n, &j.w, &s, &j.stride, &j.channels, &j.deep))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t item = j.deep ? 2 : 1;
    if (j.n < 0 || j.w < 0 || s < 1 || (j.channels != 3 && j.channels != 4) || j.stride < j.w * j.channels
        || j.l_kind < L_FLOAT || j.l_kind > L_U16 || (j.deep != 0 && j.deep != 1)) {
        PyErr_SetString(PyExc_ValueError, "lab_rows: bad dimensions");
        goto done;
    }
    if (!check(&l, j.n * j.w * l_bytes(j.l_kind), "l") || !check(&table, table_bytes(j.l_kind), "table")
        || !check(&wide_a, s * j.w * 4, "wide_a") || !check(&wide_b, s * j.w * 4, "wide_b") || !check(&y0, j.n * 8, "y0") || !check(&y1, j.n * 8, "y1")
        || !check(&fy, j.n * 4, "fy") || !check(&consts, (Py_ssize_t)sizeof(Consts), "consts")
        || !check(&out, (j.n ? (j.n - 1) * j.stride + j.w * j.channels : 0) * item, "out"))
        goto done;
    j.y0 = y0.buf, j.y1 = y1.buf;
    for (Py_ssize_t r = 0; r < j.n; r++)
        if (j.y0[r] < 0 || j.y0[r] >= s || j.y1[r] < 0 || j.y1[r] >= s) {
            PyErr_SetString(PyExc_ValueError, "lab_rows: a row of ab outside wide_a / wide_b");
            goto done;
        }
    memcpy(&j.k, consts.buf, sizeof j.k);
    j.l = l.buf, j.table = table.buf, j.wide_a = wide_a.buf, j.wide_b = wide_b.buf, j.fy = fy.buf, j.out = out.buf;
    Py_BEGIN_ALLOW_THREADS
    lab_rows_best(&j);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&l); PyBuffer_Release(&table); PyBuffer_Release(&wide_a); PyBuffer_Release(&wide_b); PyBuffer_Release(&y0);
    PyBuffer_Release(&y1); PyBuffer_Release(&fy); PyBuffer_Release(&consts); PyBuffer_Release(&out);
    return result;
}

/* add_rows(out, weights, lo, hi, rows, l_kind, table, r0, n_out, n_in, n, c, scratch)
 *   out (n_out, c) float32 += weights (n_out, n_in) float32 [o, r0 + i] * L of rows (n, c) (l_kind as lab_rows),
 *   for o in lo[r0 + i] ... hi[r0 + i] - 1 (int64, n_in each); scratch float32 (c): a row's L when looked up */
static PyObject *add_rows(PyObject *self, PyObject *args) {
    Py_buffer out, weights, lo, hi, rows, table, scratch;
    AddJob j;
    Py_ssize_t n_out;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*iy*nnnnnw*", &out, &weights, &lo, &hi, &rows, &j.l_kind, &table, &j.r0,
                          &n_out, &j.n_in, &j.n, &j.c, &scratch))
        return NULL;
    PyObject *result = NULL;
    if (j.n < 0 || j.c < 0 || n_out < 1 || j.r0 < 0 || j.r0 + j.n > j.n_in || j.l_kind < L_FLOAT || j.l_kind > L_U16) {
        PyErr_SetString(PyExc_ValueError, "add_rows: bad dimensions");
        goto done;
    }
    if (!check(&out, n_out * j.c * 4, "out") || !check(&weights, n_out * j.n_in * 4, "weights")
        || !check(&lo, j.n_in * 8, "lo") || !check(&hi, j.n_in * 8, "hi") || !check(&rows, j.n * j.c * l_bytes(j.l_kind), "rows")
        || !check(&table, table_bytes(j.l_kind), "table") || !check(&scratch, j.l_kind == L_FLOAT ? 0 : j.c * 4, "scratch"))
        goto done;
    j.lo = lo.buf, j.hi = hi.buf;
    for (Py_ssize_t i = j.r0; i < j.r0 + j.n; i++)
        if (j.lo[i] < 0 || j.hi[i] > n_out || j.lo[i] > j.hi[i]) {
            PyErr_SetString(PyExc_ValueError, "add_rows: an output outside out");
            goto done;
        }
    j.out = out.buf, j.scratch = scratch.buf, j.weights = weights.buf, j.table = table.buf, j.rows = rows.buf;
    Py_BEGIN_ALLOW_THREADS
    add_rows_best(&j);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&out); PyBuffer_Release(&weights); PyBuffer_Release(&lo); PyBuffer_Release(&hi);
    PyBuffer_Release(&rows); PyBuffer_Release(&table); PyBuffer_Release(&scratch);
    return result;
}

/* use(name): run the loops compiled for "baseline", "x86-64-v3" or "x86-64-v4" (tests compare them); a set this
 * CPU lacks is refused. Returns the name of the set used before. */
static PyObject *use(PyObject *self, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name))
        return NULL;
    const char *before = instruction_set;
    if (strcmp(name, "baseline") == 0) {
        lab_rows_best = lab_rows_base, add_rows_best = add_rows_base, instruction_set = "baseline";
#if DISPATCH
    } else if (strcmp(name, "x86-64-v3") == 0 && cpu_has_v3()) {
        lab_rows_best = lab_rows_v3, add_rows_best = add_rows_v3, instruction_set = "x86-64-v3";
    } else if (strcmp(name, "x86-64-v4") == 0 && cpu_has_v4()) {
        lab_rows_best = lab_rows_v4, add_rows_best = add_rows_v4, instruction_set = "x86-64-v4";
#endif
    } else {
        PyErr_Format(PyExc_ValueError, "the loops for %s are not compiled in or this CPU cannot run them", name);
        return NULL;
    }
    return PyUnicode_FromString(before);
}

static PyObject *available(PyObject *self, PyObject *unused) {
#if DISPATCH
    if (cpu_has_v4()) return Py_BuildValue("(sss)", "baseline", "x86-64-v3", "x86-64-v4");
    if (cpu_has_v3()) return Py_BuildValue("(ss)", "baseline", "x86-64-v3");
#endif
    return Py_BuildValue("(s)", "baseline");
}

static PyObject *current(PyObject *self, PyObject *unused) { return PyUnicode_FromString(instruction_set); }

static PyMethodDef methods[] = {
    {"use", use, METH_VARARGS, "Run the loops compiled for the given instruction set; returns the one used before."},
    {"available", available, METH_NOARGS, "The instruction sets whose loops are compiled in and that this CPU runs."},
    {"current", current, METH_NOARGS, "The instruction set whose loops run now."},
    {"lab_rows", lab_rows, METH_VARARGS, "sRGB rows of L and interpolated ab (see tomau/_kernels.c)."},
    {"add_rows", add_rows, METH_VARARGS, "The banded product of a resize's rows (see tomau/_kernels.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", "tomau.fullres's compiled passes.", -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) {
#if DISPATCH
    if (cpu_has_v4())
        lab_rows_best = lab_rows_v4, add_rows_best = add_rows_v4, instruction_set = "x86-64-v4";
    else if (cpu_has_v3())
        lab_rows_best = lab_rows_v3, add_rows_best = add_rows_v3, instruction_set = "x86-64-v3";
#endif
    return PyModule_Create(&module);
}
