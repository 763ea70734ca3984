/* Listing and stat of many files without a Python object per file (see engine/traces/fs.py).
 *
 * Reopening a folder of 20,000 small trace files must list it and stat every
 * file (freshness: size, mtime, ctime, inode). Through os.scandir and os.stat
 * that is a DirEntry and a stat_result per file, ~5 us each here; the system
 * calls alone are ~2 us. These two functions make the same calls and return
 * names and a flat table of numbers.
 *
 *   scan_dir(path) -> (files, subdirs, others)
 *     names of the directory's regular files, subdirectories and other entries
 *     (symlinks, sockets, ...), names starting with "." left out, in listing
 *     order. Types come from d_type (lstat when the file system gives none),
 *     so symlinks are never followed here. OSError when it cannot be listed.
 *
 *   stat_names(directory, names) -> bytes
 *     5 little-endian int64 per name: size, mtime_ns, ctime_ns, inode, errno
 *     (0, or why stat failed: then the others are 0), from stat(directory/name)
 *     (symlinks followed, as os.stat). OSError when the directory cannot be opened.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int append_name(PyObject *list, const char *name) {
    PyObject *s = PyUnicode_DecodeFSDefault(name);
    if (s == NULL) return -1;
    int rc = PyList_Append(list, s);
    Py_DECREF(s);
    return rc;
}

static PyObject *scan_dir(PyObject *self, PyObject *arg) {
    PyObject *encoded = NULL;
    if (!PyUnicode_FSConverter(arg, &encoded)) return NULL;
    const char *path = PyBytes_AS_STRING(encoded);
    DIR *dir;
    Py_BEGIN_ALLOW_THREADS
    dir = opendir(path);
    Py_END_ALLOW_THREADS
    if (dir == NULL) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, arg);
        Py_DECREF(encoded);
        return NULL;
    }
    PyObject *files = PyList_New(0), *subdirs = PyList_New(0), *others = PyList_New(0);
    if (files == NULL || subdirs == NULL || others == NULL) goto fail;
    int fd = dirfd(dir);
    for (;;) {
        struct dirent *entry;
        errno = 0;
        entry = readdir(dir);
        if (entry == NULL) {
            if (errno) {
                PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, arg);
                goto fail;
            }
            break;
        }
        const char *name = entry->d_name;
        if (name[0] == '.') continue;
        unsigned char type = entry->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue; /* gone meanwhile */
            type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_LNK;
        }
        PyObject *into = type == DT_REG ? files : type == DT_DIR ? subdirs : others;
        if (append_name(into, name) < 0) goto fail;
    }
    closedir(dir);
    Py_DECREF(encoded);
    return Py_BuildValue("(NNN)", files, subdirs, others);
fail:
    closedir(dir);
    Py_DECREF(encoded);
    Py_XDECREF(files);
    Py_XDECREF(subdirs);
    Py_XDECREF(others);
    return NULL;
}

static PyObject *stat_names(PyObject *self, PyObject *args) {
    PyObject *directory, *names;
    if (!PyArg_ParseTuple(args, "OO!:stat_names", &directory, &PyList_Type, &names)) return NULL;
    PyObject *encoded = NULL;
    if (!PyUnicode_FSConverter(directory, &encoded)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(names);
    /* every name encoded first: the system calls then run without the GIL */
    PyObject *bytes_names = PyList_New(n);
    if (bytes_names == NULL) {
        Py_DECREF(encoded);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = NULL;
        if (!PyUnicode_FSConverter(PyList_GET_ITEM(names, i), &b)) {
            Py_DECREF(bytes_names);
            Py_DECREF(encoded);
            return NULL;
        }
        PyList_SET_ITEM(bytes_names, i, b);
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * 5 * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL) {
        Py_DECREF(bytes_names);
        Py_DECREF(encoded);
        return NULL;
    }
    int64_t *row = (int64_t *)PyBytes_AS_STRING(out);
    int fd, open_errno = 0;
    Py_BEGIN_ALLOW_THREADS
#ifdef O_PATH
    /* O_PATH: a directory one may search but not list (mode --x) still gives a descriptor */
    fd = open(PyBytes_AS_STRING(encoded), O_PATH | O_DIRECTORY | O_CLOEXEC);
#else
    fd = open(PyBytes_AS_STRING(encoded), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
#endif
    if (fd < 0) {
        open_errno = errno;
    } else {
        for (Py_ssize_t i = 0; i < n; i++, row += 5) {
            struct stat st;
            if (fstatat(fd, PyBytes_AS_STRING(PyList_GET_ITEM(bytes_names, i)), &st, 0) != 0) {
                row[0] = row[1] = row[2] = row[3] = 0;
                row[4] = errno;
                continue;
            }
            row[0] = (int64_t)st.st_size;
            row[1] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
            row[2] = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
            row[3] = (int64_t)(uint64_t)st.st_ino;
            row[4] = 0;
        }
        close(fd);
    }
    Py_END_ALLOW_THREADS
    Py_DECREF(bytes_names);
    if (fd < 0) {
        errno = open_errno;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, directory);
        Py_DECREF(encoded);
        Py_DECREF(out);
        return NULL;
    }
    Py_DECREF(encoded);
    return out;
}

static PyMethodDef methods[] = {
    {"scan_dir", scan_dir, METH_O, "(files, subdirs, others) names of a directory's entries (hidden ones left out)."},
    {"stat_names", stat_names, METH_VARARGS, "size, mtime_ns, ctime_ns, inode, errno (int64 each) per name."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dirscan", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__dirscan(void) { return PyModule_Create(&module); }
