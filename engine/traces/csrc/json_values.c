/* Strict JSON values to Python objects, or only checked: the JSON half of `halo_scan.c`.
 *
 * Built values equal what orjson builds for the same text. Where orjson's
 * answer is not reproduced exactly (integers past 18 digits, escaped lone
 * surrogates, nesting deeper than MAX_DEPTH) or orjson refuses the text, the
 * functions return BAIL and the caller leaves the line to orjson.
 */
#include "json_values.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DEPTH 64
#define CACHE_SIZE 512 /* a power of two; two tables of 8 KiB stay in the L1 cache */
#define KEY_CACHE_MAX_LEN 64
#define VALUE_CACHE_MAX_LEN 40

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Strict UTF-8, as Python's decoder and orjson accept it (no surrogates, no overlongs). */
int valid_utf8(const unsigned char *s, const unsigned char *end) {
    while (s < end) {
        unsigned char c = *s;
        if (c < 0x80) { s++; continue; }
        if (c >= 0xC2 && c <= 0xDF) {
            if (end - s < 2 || (s[1] & 0xC0) != 0x80) return 0;
            s += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (end - s < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
            if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
            if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
            s += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (end - s < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
            if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
            if (c == 0xF4 && s[1] >= 0x90) return 0; /* beyond U+10FFFF */
            s += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

/* ---- strings shared by value ------------------------------------------------ */

/* Keys repeat on every line, and so do short values (trace ids, names, models, kinds): one str
 * object per distinct text, its hash computed once, saves an allocation and later hashing. Each
 * entry keeps its text's hash beside the pointer, so a miss does not touch the (cold) object. */
typedef struct {
    uint64_t hash;
    PyObject *str;
} CacheEntry;

static CacheEntry key_cache[CACHE_SIZE], value_cache[CACHE_SIZE];

PyObject *ascii_str(const unsigned char *s, Py_ssize_t n) {
    PyObject *o = PyUnicode_New(n, 127);
    if (o != NULL) memcpy(PyUnicode_1BYTE_DATA(o), s, (size_t)n);
    return o;
}

static PyObject *cached_str(CacheEntry *cache, const unsigned char *s, Py_ssize_t n) {
    /* keys of a family share their start ("inference.llm."): hash the length and both ends */
    uint64_t head = 0, tail = 0;
    size_t k = n < 8 ? (size_t)n : 8;
    memcpy(&head, s, k);
    memcpy(&tail, s + n - k, k);
    uint64_t h = (head * 0x9E3779B97F4A7C15ULL) ^ (tail * 0xC2B2AE3D27D4EB4FULL) ^ (uint64_t)n;
    h ^= h >> 29;
    CacheEntry *e = &cache[h & (CACHE_SIZE - 1)];
    PyObject *o = e->str;
    if (e->hash == h && o != NULL && PyUnicode_GET_LENGTH(o) == n &&
        memcmp(PyUnicode_1BYTE_DATA(o), s, (size_t)n) == 0) {
        Py_INCREF(o);
        return o;
    }
    o = ascii_str(s, n);
    if (o == NULL) return NULL;
    if (PyObject_Hash(o) == -1) { Py_DECREF(o); return NULL; }
    Py_XSETREF(e->str, Py_NewRef(o));
    e->hash = h;
    return o;
}

/* ---- strings --------------------------------------------------------------- */

static int hex4(const unsigned char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* The decoded UTF-8 bytes of an escaped string body [s, end) into buf (at least end - s bytes). */
int unescape(const unsigned char *s, const unsigned char *end, unsigned char *buf, Py_ssize_t *len) {
    unsigned char *o = buf;
    while (s < end) {
        if (*s != '\\') { *o++ = *s++; continue; }
        s++; /* the tokenizer checked that an escape character follows */
        switch (*s++) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned cp;
                if (end - s < 4 || !hex4(s, &cp)) return BAIL;
                s += 4;
                if (cp >= 0xD800 && cp <= 0xDFFF) {
                    unsigned lo;
                    if (cp >= 0xDC00 || end - s < 6 || s[0] != '\\' || s[1] != 'u' || !hex4(s + 2, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return BAIL; /* a lone surrogate: orjson refuses it */
                    s += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                /* an escape is 6 bytes (12 for a pair): never longer than its UTF-8 */
                if (cp < 0x80) *o++ = (unsigned char)cp;
                else if (cp < 0x800) { *o++ = 0xC0 | cp >> 6; *o++ = 0x80 | (cp & 0x3F); }
                else if (cp < 0x10000) {
                    *o++ = 0xE0 | cp >> 12; *o++ = 0x80 | (cp >> 6 & 0x3F); *o++ = 0x80 | (cp & 0x3F);
                } else {
                    *o++ = 0xF0 | cp >> 18; *o++ = 0x80 | (cp >> 12 & 0x3F);
                    *o++ = 0x80 | (cp >> 6 & 0x3F); *o++ = 0x80 | (cp & 0x3F);
                }
                break;
            }
            default: return BAIL;
        }
    }
    *len = o - buf;
    return OK;
}

/* The body of the string at c->p (just past its opening quote): the bytes up to the closing quote. */
int string_span(Cur *c, const unsigned char **body, Py_ssize_t *n, int *flags) {
    const unsigned char *s = c->p, *end = c->end;
    unsigned high = 0;
    int f = 0;
    *body = s;
    for (;;) {
#ifdef __SSE2__
        /* 16 bytes at a time up to the next quote, backslash or control character */
        const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), control = _mm_set1_epi8(0x1F);
        while (end - s >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)s);
            __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                                           _mm_cmpeq_epi8(_mm_max_epu8(x, control), control));
            unsigned mask = (unsigned)_mm_movemask_epi8(special), high_bits = (unsigned)_mm_movemask_epi8(x);
            if (mask) {
                high |= high_bits & ((mask & -mask) - 1); /* only the bytes before it */
                s += __builtin_ctz(mask);
                goto special;
            }
            high |= high_bits;
            s += 16;
        }
#endif
        while (s < end && *s != '"' && *s != '\\' && *s >= 0x20) high |= *s++ & 0x80;
        if (s >= end) return BAIL; /* unterminated */
#ifdef __SSE2__
    special:
#endif
        if (*s == '"') break;
        if (*s != '\\') return BAIL; /* a raw control character */
        if (end - s < 2) return BAIL;
        unsigned char e = s[1];
        if (e == 'u') {
            unsigned cp, lo;
            if (end - s < 6 || !hex4(s + 2, &cp)) return BAIL;
            s += 6;
            if (cp >= 0xD800 && cp <= 0xDFFF) { /* orjson takes only a high surrogate followed by a low one */
                if (cp >= 0xDC00 || end - s < 6 || s[0] != '\\' || s[1] != 'u' || !hex4(s + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return BAIL;
                s += 6;
            }
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
            s += 2;
        } else {
            return BAIL;
        }
        f |= ESCAPED;
    }
    *n = s - *body;
    c->p = s + 1;
    if (high) {
        if (!valid_utf8(*body, s)) return BAIL; /* orjson refuses invalid UTF-8 */
        f |= NON_ASCII;
    }
    *flags = f;
    return OK;
}

PyObject *make_str(const unsigned char *body, Py_ssize_t n, int flags, int *rc) {
    PyObject *o;
    if (!(flags & ESCAPED)) {
        o = flags & NON_ASCII ? PyUnicode_DecodeUTF8((const char *)body, n, NULL) : ascii_str(body, n);
    } else {
        unsigned char stack[512];
        unsigned char *buf = n <= (Py_ssize_t)sizeof stack ? stack : PyMem_Malloc((size_t)n);
        Py_ssize_t len;
        if (buf == NULL) { PyErr_NoMemory(); *rc = FAIL; return NULL; }
        if (unescape(body, body + n, buf, &len) != OK) {
            if (buf != stack) PyMem_Free(buf);
            *rc = BAIL;
            return NULL;
        }
        o = PyUnicode_DecodeUTF8((const char *)buf, len, NULL);
        if (buf != stack) PyMem_Free(buf);
    }
    if (o == NULL) *rc = FAIL;
    return o;
}

/* ---- values ---------------------------------------------------------------- */

static int number(Cur *c, PyObject **out) {
    const unsigned char *s = c->p, *start = s, *end = c->end;
    int is_float = 0, neg = 0;
    if (s < end && *s == '-') { neg = 1; s++; }
    if (s >= end || *s < '0' || *s > '9') return BAIL;
    if (*s == '0') s++;
    else while (s < end && *s >= '0' && *s <= '9') s++;
    const unsigned char *int_end = s;
    if (s < end && *s == '.') {
        s++;
        if (s >= end || *s < '0' || *s > '9') return BAIL;
        while (s < end && *s >= '0' && *s <= '9') s++;
        is_float = 1;
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < end && (*s == '+' || *s == '-')) s++;
        if (s >= end || *s < '0' || *s > '9') return BAIL;
        while (s < end && *s >= '0' && *s <= '9') s++;
        is_float = 1;
    }
    c->p = s;
    if (!is_float) {
        const unsigned char *d = start + neg;
        if (int_end - d > 18) return BAIL; /* orjson's rules past int64 (u64, then float) are not copied */
        if (out == NULL) return OK;
        long long v = 0;
        for (; d < int_end; d++) v = v * 10 + (*d - '0');
        *out = PyLong_FromLongLong(neg ? -v : v);
        return *out ? OK : FAIL;
    }
    char buf[64];
    if (s - start >= (Py_ssize_t)sizeof buf) return BAIL;
    memcpy(buf, start, (size_t)(s - start));
    buf[s - start] = 0;
    double v = PyOS_string_to_double(buf, NULL, NULL);
    if (v == -1.0 && PyErr_Occurred()) return FAIL;
    if (isinf(v)) return BAIL; /* orjson refuses numbers that overflow a double */
    if (out == NULL) return OK;
    *out = PyFloat_FromDouble(v);
    return *out ? OK : FAIL;
}


/* A string value, or (out NULL) only checked. Keys go through the key cache. */
static int string(Cur *c, PyObject **out, int is_key) {
    const unsigned char *body;
    Py_ssize_t n;
    int flags, rc = string_span(c, &body, &n, &flags);
    if (rc != OK || out == NULL) return rc;
    if (!flags && n <= (is_key ? KEY_CACHE_MAX_LEN : c->share_values ? VALUE_CACHE_MAX_LEN : -1)) {
        *out = cached_str(is_key ? key_cache : value_cache, body, n);
        return *out ? OK : FAIL;
    }
    *out = make_str(body, n, flags, &rc);
    return *out ? OK : rc;
}

static int object(Cur *c, PyObject **out) {
    PyObject *d = NULL;
    int rc;
    if (++c->depth > MAX_DEPTH) return BAIL;
    if (out != NULL && (d = PyDict_New()) == NULL) return FAIL;
    c->p++; /* { */
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') { c->p++; goto done; }
    for (;;) {
        PyObject *k = NULL, *v = NULL;
        if (c->p >= c->end || *c->p != '"') { rc = BAIL; goto fail; }
        c->p++;
        if ((rc = string(c, d ? &k : NULL, 1)) != OK) goto fail;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') { Py_XDECREF(k); rc = BAIL; goto fail; }
        c->p++;
        skip_ws(c);
        if ((rc = value(c, d ? &v : NULL)) != OK) { Py_XDECREF(k); goto fail; }
        if (d != NULL) {
            int err = PyDict_SetItem(d, k, v); /* a repeated key keeps its place and takes the last value */
            Py_DECREF(k);
            Py_DECREF(v);
            if (err) { rc = FAIL; goto fail; }
        }
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; skip_ws(c); continue; }
        if (c->p < c->end && *c->p == '}') { c->p++; break; }
        rc = BAIL;
        goto fail;
    }
done:
    c->depth--;
    if (out != NULL) *out = d;
    return OK;
fail:
    Py_XDECREF(d);
    return rc;
}

static int array(Cur *c, PyObject **out) {
    PyObject *list = NULL;
    int rc;
    if (++c->depth > MAX_DEPTH) return BAIL;
    if (out != NULL && (list = PyList_New(0)) == NULL) return FAIL;
    c->p++; /* [ */
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') { c->p++; goto done; }
    for (;;) {
        PyObject *v = NULL;
        if ((rc = value(c, list ? &v : NULL)) != OK) goto fail;
        if (list != NULL) {
            int err = PyList_Append(list, v);
            Py_DECREF(v);
            if (err) { rc = FAIL; goto fail; }
        }
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; skip_ws(c); continue; }
        if (c->p < c->end && *c->p == ']') { c->p++; break; }
        rc = BAIL;
        goto fail;
    }
done:
    c->depth--;
    if (out != NULL) *out = list;
    return OK;
fail:
    Py_XDECREF(list);
    return rc;
}

static int literal(Cur *c, const char *word, size_t n, PyObject *obj, PyObject **out) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return BAIL;
    c->p += n;
    if (out != NULL) *out = Py_NewRef(obj);
    return OK;
}

/* One JSON value at c->p; built into *out, or only checked when out is NULL. */
int value(Cur *c, PyObject **out) {
    if (c->p >= c->end) return BAIL;
    switch (*c->p) {
        case '{': return object(c, out);
        case '[': return array(c, out);
        case '"': c->p++; return string(c, out, 0);
        case 't': return literal(c, "true", 4, Py_True, out);
        case 'f': return literal(c, "false", 5, Py_False, out);
        case 'n': return literal(c, "null", 4, Py_None, out);
        default: return number(c, out);
    }
}
