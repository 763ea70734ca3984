/* Blocks of Python values to the arrays of `build.PieceBuilder` (codes, string columns).
 *
 * Each replaces a few numpy.fromiter / map / join passes over the same list
 * with one loop, and gives exactly what those passes give (`build._new_codes`,
 * `columns.StringColumn.from_values`).
 */
#include "native.h"

#include <stdint.h>
#include <string.h>

PyObject *codes(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyDict_CheckExact(args[0]) || (args[1] != Py_None && !PyList_CheckExact(args[1]))) {
        PyErr_SetString(PyExc_TypeError, "codes(index: dict, distinct: list | None, values)");
        return NULL;
    }
    PyObject *index = args[0], *distinct = args[1] == Py_None ? NULL : args[1];
    PyObject *seq = PySequence_Fast(args[2], "codes() takes a list or tuple of values");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *out = PyByteArray_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int32_t));
    if (out == NULL) goto fail;
    int32_t *code = (int32_t *)PyByteArray_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *found = PyDict_GetItemWithError(index, items[i]);
        if (found != NULL) {
            long c = PyLong_AsLong(found);
            if (c == -1 && PyErr_Occurred()) goto fail;
            code[i] = (int32_t)c;
            continue;
        }
        if (PyErr_Occurred()) goto fail; /* unhashable */
        Py_ssize_t next = distinct != NULL ? PyList_GET_SIZE(distinct) : PyDict_GET_SIZE(index);
        PyObject *number = PyLong_FromSsize_t(next);
        if (number == NULL) goto fail;
        int err = PyDict_SetItem(index, items[i], number);
        Py_DECREF(number);
        if (err || (distinct != NULL && PyList_Append(distinct, items[i]))) goto fail;
        code[i] = (int32_t)next;
    }
    Py_DECREF(seq);
    return out;
fail:
    Py_XDECREF(out);
    Py_DECREF(seq);
    return NULL;
}

PyObject *string_column(PyObject *module, PyObject *values) {
    PyObject *seq = PySequence_Fast(values, "string_column() takes a list or tuple");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), total = 0;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *starts = NULL, *lengths = NULL, *blob = NULL;
    /* first pass: sizes (and the UTF-8 of non-ASCII texts, which CPython then keeps with the str) */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        Py_ssize_t size;
        if (v == Py_None) continue;
        if (!PyUnicode_CheckExact(v)) goto none;
        if (PyUnicode_IS_ASCII(v)) {
            size = PyUnicode_GET_LENGTH(v);
        } else if (PyUnicode_AsUTF8AndSize(v, &size) == NULL) {
            PyErr_Clear(); /* a lone surrogate: the Python path encodes it with surrogatepass */
            goto none;
        }
        if (size > INT32_MAX) goto none;
        total += size;
    }
    starts = PyByteArray_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t)); /* writable arrays */
    lengths = PyByteArray_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int32_t));
    blob = PyBytes_FromStringAndSize(NULL, total);
    if (starts == NULL || lengths == NULL || blob == NULL) goto fail;
    int64_t *start = (int64_t *)PyByteArray_AS_STRING(starts);
    int32_t *length = (int32_t *)PyByteArray_AS_STRING(lengths);
    char *at = PyBytes_AS_STRING(blob);
    int64_t pos = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        start[i] = pos;
        if (v == Py_None) { length[i] = -1; continue; }
        Py_ssize_t size;
        const char *utf8;
        if (PyUnicode_IS_ASCII(v)) {
            utf8 = (const char *)PyUnicode_DATA(v);
            size = PyUnicode_GET_LENGTH(v);
        } else {
            utf8 = PyUnicode_AsUTF8AndSize(v, &size); /* kept from the first pass: cannot fail */
        }
        memcpy(at + pos, utf8, (size_t)size);
        length[i] = (int32_t)size;
        pos += size;
    }
    Py_DECREF(seq);
    PyObject *result = PyTuple_Pack(3, starts, lengths, blob);
    Py_DECREF(starts);
    Py_DECREF(lengths);
    Py_DECREF(blob);
    return result;
none:
    Py_DECREF(seq);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(starts);
    Py_XDECREF(lengths);
    Py_XDECREF(blob);
    Py_DECREF(seq);
    return NULL;
}

PyObject *byte_lengths(PyObject *module, PyObject *values) {
    PyObject *seq = PySequence_Fast(values, "byte_lengths() takes a list or tuple of bytes");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *out = PyByteArray_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int32_t));
    if (out != NULL) {
        int32_t *length = (int32_t *)PyByteArray_AS_STRING(out);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (!PyBytes_Check(items[i]) || PyBytes_GET_SIZE(items[i]) > INT32_MAX) { /* for the Python path */
                Py_DECREF(out);
                out = Py_NewRef(Py_None);
                break;
            }
            length[i] = (int32_t)PyBytes_GET_SIZE(items[i]);
        }
    }
    Py_DECREF(seq);
    return out;
}

PyObject *integers(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "integers(values, missing, itemsize)");
        return NULL;
    }
    long long missing = PyLong_AsLongLong(args[1]);
    long itemsize = PyLong_AsLong(args[2]);
    if (PyErr_Occurred()) return NULL;
    if (itemsize != 1 && itemsize != 8) {
        PyErr_SetString(PyExc_ValueError, "integers() makes int8 or int64");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "integers() takes a list or tuple");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *out = PyByteArray_FromStringAndSize(NULL, n * itemsize);
    if (out == NULL) goto done;
    char *at = PyByteArray_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        long long x;
        if (v == Py_None) {
            x = missing;
        } else if (PyLong_Check(v)) { /* bool and IntEnum too, as numpy takes them */
            int overflow;
            x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (x == -1 && PyErr_Occurred()) { Py_CLEAR(out); goto done; }
            if (overflow) x = missing; /* beyond int64: as missing, like the Python path */
        } else {
            goto python; /* a float or anything else: the Python path decides */
        }
        if (itemsize == 8) {
            memcpy(at + i * 8, &x, 8);
        } else {
            if (x < -128 || x > 127) goto python;
            at[i] = (char)x;
        }
    }
    goto done;
python:
    Py_DECREF(out);
    out = Py_NewRef(Py_None);
done:
    Py_DECREF(seq);
    return out;
}

PyObject *floats(PyObject *module, PyObject *values) {
    PyObject *seq = PySequence_Fast(values, "floats() takes a list or tuple");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *out = PyByteArray_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(double));
    if (out != NULL) {
        double *at = (double *)PyByteArray_AS_STRING(out);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *v = items[i];
            if (v == Py_None) {
                at[i] = Py_NAN;
            } else if (PyFloat_CheckExact(v)) {
                at[i] = PyFloat_AS_DOUBLE(v);
            } else { /* an int or anything else: the Python path decides */
                Py_DECREF(out);
                out = Py_NewRef(Py_None);
                break;
            }
        }
    }
    Py_DECREF(seq);
    return out;
}
