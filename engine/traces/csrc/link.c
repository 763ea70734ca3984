/* Parent links of a chunk's spans by a hash table: what `segment._link` does with two sorts.
 *
 * Keys are already 64-bit hashes (of trace and span id, mixed with the file),
 * so an open-addressing table indexed by the key's high bits finds each
 * parent in one or two probes, where sorting 1.4M keys twice and searching
 * them took most of `_link`'s time in the serial end of an index build.
 */
#include "native.h"

#include <stdint.h>
#include <string.h>

PyObject *link_parents(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer keys = {0}, parents = {0};
    PyObject *rows = NULL, *dups = NULL;
    int64_t *table_key = NULL;
    int32_t *table_row = NULL;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "link_parents(key, parent_key) takes two uint64 arrays");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &keys, PyBUF_C_CONTIGUOUS) || PyObject_GetBuffer(args[1], &parents, PyBUF_C_CONTIGUOUS))
        goto done;
    Py_ssize_t n = keys.len / 8;
    if (keys.len % 8 || parents.len != keys.len || n >= INT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "link_parents() takes two uint64 arrays of one length");
        goto done;
    }
    const uint64_t *key = keys.buf, *parent = parents.buf;
    size_t size = 16;
    while (size < (size_t)n + (size_t)n / 2) size <<= 1; /* load factor below 2/3 */
    int shift = 64 - __builtin_ctzll(size);
    table_key = PyMem_Malloc(size * sizeof(int64_t));
    table_row = PyMem_Malloc(size * sizeof(int32_t));
    rows = PyByteArray_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int32_t));
    dups = PyByteArray_FromStringAndSize(NULL, n);
    if (table_key == NULL || table_row == NULL) { PyErr_NoMemory(); goto done; }
    if (rows == NULL || dups == NULL) goto done;
    int32_t *row = (int32_t *)PyByteArray_AS_STRING(rows);
    char *dup = PyByteArray_AS_STRING(dups);
    memset(table_row, 0xFF, size * sizeof(int32_t)); /* -1: empty */
    memset(dup, 0, (size_t)n);
    Py_BEGIN_ALLOW_THREADS
    /* each key's earliest row (the one a parent id names when a span id repeats) */
    for (Py_ssize_t i = 0; i < n; i++) {
        size_t at = (size_t)((key[i] * 0x9E3779B97F4A7C15ULL) >> shift);
        while (table_row[at] >= 0 && (uint64_t)table_key[at] != key[i]) at = (at + 1) & (size - 1);
        if (table_row[at] < 0) {
            table_row[at] = (int32_t)i;
            table_key[at] = (int64_t)key[i];
        } else {
            dup[i] = dup[table_row[at]] = 1;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        row[i] = -1;
        if (parent[i] == 0) continue; /* no parent id */
        size_t at = (size_t)((parent[i] * 0x9E3779B97F4A7C15ULL) >> shift);
        while (table_row[at] >= 0 && (uint64_t)table_key[at] != parent[i]) at = (at + 1) & (size - 1);
        if (table_row[at] >= 0 && table_row[at] != i) row[i] = table_row[at]; /* naming itself: a root */
    }
    Py_END_ALLOW_THREADS
done:
    PyMem_Free(table_key);
    PyMem_Free(table_row);
    if (keys.obj != NULL) PyBuffer_Release(&keys);
    if (parents.obj != NULL) PyBuffer_Release(&parents);
    if (PyErr_Occurred()) {
        Py_XDECREF(rows);
        Py_XDECREF(dups);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, rows, dups);
    Py_DECREF(rows);
    Py_DECREF(dups);
    return result;
}
