/* The functions of `engine.traces._native` (the method table is in module.c). */
#ifndef HALO_NATIVE_H
#define HALO_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *scan_halo(PyObject *module, PyObject *lines);
PyObject *split_lines(PyObject *module, PyObject *data);
PyObject *codes(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *string_column(PyObject *module, PyObject *values);
PyObject *byte_lengths(PyObject *module, PyObject *values);
PyObject *integers(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *floats(PyObject *module, PyObject *values);
PyObject *link_parents(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
