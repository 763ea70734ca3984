/* Strict JSON to Python objects: what `halo_scan.c` needs of a JSON parser. */
#ifndef HALO_JSON_VALUES_H
#define HALO_JSON_VALUES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { OK = 0, BAIL = -1, FAIL = -2 }; /* BAIL: leave the line to orjson; FAIL: a Python exception is set */
enum { ESCAPED = 1, NON_ASCII = 2 };   /* what `string_span` says of a string body */

/* A read position in one line. */
typedef struct {
    const unsigned char *p, *end;
    int depth;
    int share_values; /* short string values come from the cache of shared str objects */
} Cur;

int valid_utf8(const unsigned char *s, const unsigned char *end);
PyObject *ascii_str(const unsigned char *s, Py_ssize_t n);
/* The body of the string at c->p (just past its opening quote), checked, with its ESCAPED / NON_ASCII flags. */
int string_span(Cur *c, const unsigned char **body, Py_ssize_t *n, int *flags);
/* The str of a string body; NULL with *rc set to BAIL or FAIL. */
PyObject *make_str(const unsigned char *body, Py_ssize_t n, int flags, int *rc);
/* The decoded bytes of an escaped string body into buf (at least end - s bytes long). */
int unescape(const unsigned char *s, const unsigned char *end, unsigned char *buf, Py_ssize_t *len);
/* One JSON value at c->p: built into *out, or only checked when out is NULL. */
int value(Cur *c, PyObject **out);


static inline void skip_ws(Cur *c) {
    while (c->p < c->end && *c->p <= ' ' && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n')) c->p++;
}

#endif
