/* Strict parser for the numeric body of an MNIST-style CSV: cells of 1-3 decimal digits (0-255),
 * separated by ',' with '\n' ending each row of exactly `ncols` cells. It writes uint8 cells into a
 * caller-supplied buffer and stops at the first byte that breaks those rules, so the caller can fall
 * back to its careful parser to say what is wrong. The GIL is released while it runs, so two files
 * can be parsed at once. An optional accelerator: mnist_cnn.csv_format works without it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *parse_uint8(PyObject *self, PyObject *args) {
    Py_buffer in, out;
    Py_ssize_t ncols;
    if (!PyArg_ParseTuple(args, "y*w*n", &in, &out, &ncols)) return NULL;
    const unsigned char *p = (const unsigned char *)in.buf;
    const unsigned char *end = p + in.len;
    unsigned char *o = (unsigned char *)out.buf;
    Py_ssize_t cap = out.len, n = 0, col = 0;
    int ok = ncols > 0;
    Py_BEGIN_ALLOW_THREADS
    while (ok && p < end) {
        unsigned v = 0;
        int digits = 0;
        while (p < end && (unsigned)(*p - '0') < 10u) {
            v = v * 10u + (unsigned)(*p - '0');
            p++;
            if (++digits > 3) break;
        }
        if (digits == 0 || digits > 3 || v > 255u || n >= cap) { ok = 0; break; }
        o[n++] = (unsigned char)v;
        col++;
        if (p == end) break;
        if (*p == ',') {
            p++;
            if (col >= ncols || p == end) ok = 0;
        } else if (*p == '\n') {
            p++;
            if (col != ncols) ok = 0;
            col = 0;
        } else {
            ok = 0;
        }
    }
    if (ok && col != 0 && col != ncols) ok = 0;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return Py_BuildValue("On", ok ? Py_True : Py_False, n);
}

static PyMethodDef methods[] = {
    {"parse_uint8", parse_uint8, METH_VARARGS,
     "parse_uint8(body, out, ncols) -> (ok, cells): parse CSV digits into the writable buffer out."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastcsv", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastcsv(void) { return PyModule_Create(&module); }
