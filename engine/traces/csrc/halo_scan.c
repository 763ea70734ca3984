/* HALO JSONL lines to the raw values of their span fields, a block at a time.
 *
 * The index build's hot path (`readers/halo_columns.py`) parsed every line
 * with `orjson.loads`, then picked ten fields out of each dict. Most of a HALO
 * line is never read (`kind`, `scope`, `trace_state`, most of `resource`), yet
 * every value became a Python object. `scan_halo` checks each line as strict JSON
 * and builds objects only for the fields the index reads; times of the usual
 * `YYYY-MM-DDTHH:MM:SS.fffffffffZ` form become epoch nanoseconds directly.
 *
 * The contract is "what orjson gives, or no answer": every value returned
 * equals `orjson.loads(line).get(...)` for the same line, and a block with a
 * line this code does not reproduce exactly (see `json_values.c`), or that is
 * no JSON object, gives None: the caller then reads it with orjson.
 */
#include "json_values.h"
#include "native.h"

enum { F_TRACE, F_SPAN, F_PARENT, F_NAME, F_START, F_END, F_CODE, F_MESSAGE, F_SERVICE, F_ATTRS, F_EVENTS, NF };

/* The output, column by column; start and end are int64 ns until a row's time is not of the usual form. */
typedef struct {
    Py_ssize_t n;
    PyObject *col[NF];
    int64_t *ns[2];
    const unsigned char **time_text[2]; /* per row: the usual-form text its ns came from, else NULL */
    int all_fast[2];
} Out;

typedef struct {
    PyObject *f[NF]; /* this row's values (NULL: absent) */
    const unsigned char *time[2];
    int64_t ns[2];
} Row;

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const unsigned char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* `YYYY-MM-DDTHH:MM:SS.fffffffffZ` (30 characters, a real UTC time from 1678 to 2261) to epoch ns. */
static int iso30_ns(const unsigned char *s, int64_t *ns) {
    static const unsigned char dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, frac_hi, frac_lo;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[29] != 'Z')
        return 0;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) ||
        !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec) || !digits(s + 20, 4, &frac_hi) ||
        !digits(s + 24, 5, &frac_lo))
        return 0;
    if (y < 1678 || y > 2261 || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59 || d < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > dim[mo - 1] + (mo == 2 && leap)) return 0;
    int64_t seconds = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
    *ns = seconds * 1000000000 + (int64_t)frac_hi * 100000 + frac_lo;
    return 1;
}

static void set(Row *r, int field, PyObject *o) { Py_XSETREF(r->f[field], o); }

/* The value of a known field: built, or (a time of the usual form) read as ns. */
static int field_value(Cur *c, Row *r, int field) {
    PyObject *o = NULL;
    int rc;
    if ((field == F_START || field == F_END) && c->p < c->end && *c->p == '"') {
        int t = field - F_START;
        const unsigned char *body, *at = c->p;
        Py_ssize_t n;
        int flags;
        c->p++;
        if ((rc = string_span(c, &body, &n, &flags)) != OK) return rc;
        if (!flags && n == 30 && iso30_ns(body, &r->ns[t])) {
            r->time[t] = body;
            set(r, field, NULL);
            return OK;
        }
        c->p = at; /* another form: its value as Python reads it */
    }
    c->share_values = field != F_SPAN; /* span ids are unique: sharing would only churn the cache */
    rc = value(c, &o);
    c->share_values = 1;
    if (rc != OK) return rc;
    if (field == F_START || field == F_END) r->time[field - F_START] = NULL;
    set(r, field, o);
    return OK;
}

/* Calls `on_key(c, r, key, n)` for each key of the object at c->p, positioned at its value. */
typedef int (*KeyFn)(Cur *c, Row *r, const unsigned char *key, Py_ssize_t n);

static int each_key(Cur *c, Row *r, KeyFn on_key) {
    if (++c->depth > 64) return BAIL;
    c->p++; /* { */
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') { c->p++; c->depth--; return OK; }
    for (;;) {
        const unsigned char *body;
        unsigned char buf[64];
        Py_ssize_t n;
        int flags, rc;
        if (c->p >= c->end || *c->p != '"') return BAIL;
        c->p++;
        if ((rc = string_span(c, &body, &n, &flags)) != OK) return rc;
        if (flags & ESCAPED) { /* a key spelt with escapes still names its field */
            if (n > (Py_ssize_t)sizeof buf) return BAIL;
            if ((rc = unescape(body, body + n, buf, &n)) != OK) return rc;
            body = buf;
        }
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return BAIL;
        c->p++;
        skip_ws(c);
        if ((rc = on_key(c, r, body, n)) != OK) return rc;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; skip_ws(c); continue; }
        if (c->p < c->end && *c->p == '}') { c->p++; c->depth--; return OK; }
        return BAIL;
    }
}

#define AT_OBJECT(c) ((c)->p < (c)->end && *(c)->p == '{')
#define IS(key, n, text) ((n) == (Py_ssize_t)sizeof(text) - 1 && memcmp((key), (text), (n)) == 0)

static int status_key(Cur *c, Row *r, const unsigned char *key, Py_ssize_t n) {
    if (IS(key, n, "code")) return field_value(c, r, F_CODE);
    if (IS(key, n, "message")) return field_value(c, r, F_MESSAGE);
    return value(c, NULL);
}

static int resource_attributes_key(Cur *c, Row *r, const unsigned char *key, Py_ssize_t n) {
    if (IS(key, n, "service.name")) return field_value(c, r, F_SERVICE);
    return value(c, NULL);
}

/* A nested object's fields replace what an earlier copy of its key gave (the last copy wins, as in a dict). */
static int resource_key(Cur *c, Row *r, const unsigned char *key, Py_ssize_t n) {
    if (!IS(key, n, "attributes")) return value(c, NULL);
    set(r, F_SERVICE, NULL);
    return AT_OBJECT(c) ? each_key(c, r, resource_attributes_key) : value(c, NULL);
}

static int top_key(Cur *c, Row *r, const unsigned char *key, Py_ssize_t n) {
    switch (n) {
        case 4: if (IS(key, n, "name")) return field_value(c, r, F_NAME); break;
        case 6:
            if (IS(key, n, "status")) {
                set(r, F_CODE, NULL);
                set(r, F_MESSAGE, NULL);
                return AT_OBJECT(c) ? each_key(c, r, status_key) : value(c, NULL);
            }
            if (IS(key, n, "events")) return field_value(c, r, F_EVENTS);
            break;
        case 7: if (IS(key, n, "span_id")) return field_value(c, r, F_SPAN); break;
        case 8:
            if (IS(key, n, "trace_id")) return field_value(c, r, F_TRACE);
            if (IS(key, n, "end_time")) return field_value(c, r, F_END);
            if (IS(key, n, "resource")) {
                set(r, F_SERVICE, NULL);
                return AT_OBJECT(c) ? each_key(c, r, resource_key) : value(c, NULL);
            }
            break;
        case 10:
            if (IS(key, n, "start_time")) return field_value(c, r, F_START);
            if (IS(key, n, "attributes")) return field_value(c, r, F_ATTRS);
            break;
        case 14: if (IS(key, n, "parent_span_id")) return field_value(c, r, F_PARENT); break;
    }
    return value(c, NULL);
}

static int scan_line(const unsigned char *s, Py_ssize_t n, Row *r) {
    Cur c = {s, s + n, 0, 1};
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') return BAIL; /* blank, or not an object */
    int rc = each_key(&c, r, top_key);
    if (rc != OK) return rc;
    skip_ws(&c);
    return c.p == c.end ? OK : BAIL;
}

static void out_free(Out *o) {
    for (int k = 0; k < NF; k++) Py_XDECREF(o->col[k]);
    for (int t = 0; t < 2; t++) { PyMem_Free(o->ns[t]); PyMem_Free(o->time_text[t]); }
}

/* A time column: int64 ns in a bytearray when every row's times had the usual form, else each row's value. */
static PyObject *time_column(Out *o, int t) {
    if (o->all_fast[0] && o->all_fast[1]) return PyByteArray_FromStringAndSize((const char *)o->ns[t], o->n * (Py_ssize_t)sizeof(int64_t));
    PyObject *values = o->col[F_START + t];
    for (Py_ssize_t i = 0; i < o->n; i++) {
        if (o->time_text[t][i] != NULL) {
            PyObject *text = ascii_str(o->time_text[t][i], 30);
            if (text == NULL) return NULL;
            Py_SETREF(PyList_GET_ITEM(values, i), text);
        }
    }
    return Py_NewRef(values);
}

PyObject *scan_halo(PyObject *module, PyObject *lines) {
    if (!PyList_CheckExact(lines)) {
        PyErr_SetString(PyExc_TypeError, "scan_halo() takes a list of bytes");
        return NULL;
    }
    Out o = {PyList_GET_SIZE(lines), {NULL}, {NULL, NULL}, {NULL, NULL}, {1, 1}};
    for (int k = 0; k < NF; k++)
        if ((o.col[k] = PyList_New(o.n)) == NULL) goto fail;
    for (int t = 0; t < 2; t++) {
        o.ns[t] = PyMem_Malloc((size_t)(o.n ? o.n : 1) * sizeof(int64_t));
        o.time_text[t] = PyMem_Calloc((size_t)(o.n ? o.n : 1), sizeof(const unsigned char *));
        if (o.ns[t] == NULL || o.time_text[t] == NULL) { PyErr_NoMemory(); goto fail; }
    }
    for (Py_ssize_t i = 0; i < o.n; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (!PyBytes_CheckExact(line)) {
            PyErr_SetString(PyExc_TypeError, "scan_halo() takes a list of bytes");
            goto fail;
        }
        Row r = {{NULL}, {NULL, NULL}, {0, 0}};
        int rc = scan_line((const unsigned char *)PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line), &r);
        for (int k = 0; k < NF; k++)
            PyList_SET_ITEM(o.col[k], i, r.f[k] != NULL ? r.f[k] : Py_NewRef(Py_None));
        if (rc != OK) {
            out_free(&o);
            if (rc == FAIL) return NULL;
            Py_RETURN_NONE;
        }
        for (int t = 0; t < 2; t++) {
            o.time_text[t][i] = r.time[t];
            o.ns[t][i] = r.ns[t];
            o.all_fast[t] &= r.time[t] != NULL;
        }
    }
    PyObject *start = time_column(&o, 0), *end = start ? time_column(&o, 1) : NULL;
    PyObject *result = end == NULL ? NULL : PyTuple_Pack(11, o.col[F_TRACE], o.col[F_SPAN], o.col[F_PARENT],
        o.col[F_NAME], start, end, o.col[F_CODE], o.col[F_MESSAGE], o.col[F_SERVICE], o.col[F_ATTRS],
        o.col[F_EVENTS]);
    Py_XDECREF(start);
    Py_XDECREF(end);
    out_free(&o);
    return result;
fail:
    out_free(&o);
    return NULL;
}

/* `data.split(b"\n")` without the empty item after a final newline, by memchr (bytes.split goes byte by byte). */
PyObject *split_lines(PyObject *module, PyObject *data) {
    if (!PyBytes_CheckExact(data)) {
        PyErr_SetString(PyExc_TypeError, "split_lines() takes bytes");
        return NULL;
    }
    const char *s = PyBytes_AS_STRING(data), *end = s + PyBytes_GET_SIZE(data);
    PyObject *lines = PyList_New(0);
    if (lines == NULL || s == end) return lines;
    for (;;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *stop = nl != NULL ? nl : end;
        PyObject *line = PyBytes_FromStringAndSize(s, stop - s);
        if (line == NULL || PyList_Append(lines, line) != 0) {
            Py_XDECREF(line);
            Py_DECREF(lines);
            return NULL;
        }
        Py_DECREF(line);
        if (nl == NULL || nl + 1 == end) return lines;
        s = nl + 1;
    }
}
