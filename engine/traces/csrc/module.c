/* `engine.traces._native`: the index build's hot loops in C (optional; see engine/traces/native.py). */
#include "native.h"

PyDoc_STRVAR(scan_halo_doc,
"scan_halo(lines: list[bytes]) -> tuple | None\n\n"
"The HALO span fields of each line: (trace_id, span_id, parent_span_id, name, start, end,\n"
"status code, status message, resource service.name, attributes, events), each a list of\n"
"what orjson gives for that field (None when absent). start and end are bytearrays of int64\n"
"epoch ns when every row's start and end times have the usual form, else both are lists of\n"
"values. None when a line is no JSON object, or holds what this reader leaves to orjson.");

PyDoc_STRVAR(split_lines_doc,
"split_lines(data: bytes) -> list[bytes]\n\n"
"The lines of data without their newlines; no empty last line after a final newline.");

PyDoc_STRVAR(codes_doc,
"codes(index: dict, distinct: list | None, values: list | tuple) -> bytearray\n\n"
"int32 codes of values in index. A value not in it gets the next code (len(distinct),\n"
"or len(index) when distinct is None), is added to index and appended to distinct.");

PyDoc_STRVAR(string_column_doc,
"string_column(values: list | tuple) -> (starts, lengths, blob) | None\n\n"
"values (str or None) as bytearrays of int64 starts and int32 lengths (-1 for None) into\n"
"blob, the bytes of their UTF-8 in row order. None when a value is neither, or cannot be\n"
"encoded strictly.");

PyDoc_STRVAR(byte_lengths_doc,
"byte_lengths(values: list | tuple) -> bytearray | None\n\n"
"The length of each value, as int32; None when a value is not bytes.");

PyDoc_STRVAR(integers_doc,
"integers(values: list | tuple, missing: int, itemsize: 1 | 8) -> bytearray | None\n\n"
"ints (bool and IntEnum too) as int8 or int64; None, and ints beyond int64, as missing.\n"
"None when a value is something else or does not fit int8.");

PyDoc_STRVAR(floats_doc,
"floats(values: list | tuple) -> bytearray | None\n\n"
"floats as float64, None as NaN; None when a value is something else.");

PyDoc_STRVAR(link_parents_doc,
"link_parents(key: uint64 array, parent_key: uint64 array) -> (parent_row, duplicate)\n\n"
"Per row: the earliest row whose key is its parent key (int32, -1 when none, when the\n"
"parent key is 0, or when that row is itself), and whether its key is on another row\n"
"too (one byte each), as bytearrays.");

static PyMethodDef methods[] = {
    {"scan_halo", scan_halo, METH_O, scan_halo_doc},
    {"split_lines", split_lines, METH_O, split_lines_doc},
    {"codes", (PyCFunction)(void (*)(void))codes, METH_FASTCALL, codes_doc},
    {"string_column", string_column, METH_O, string_column_doc},
    {"byte_lengths", byte_lengths, METH_O, byte_lengths_doc},
    {"integers", (PyCFunction)(void (*)(void))integers, METH_FASTCALL, integers_doc},
    {"floats", floats, METH_O, floats_doc},
    {"link_parents", (PyCFunction)(void (*)(void))link_parents, METH_FASTCALL, link_parents_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_native", "The index build's hot loops in C.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module_def); }
