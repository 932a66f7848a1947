/* SHA-256 of many short messages in one call, by OpenSSL's libcrypto (credit/sha256many.py).
 *
 * Why C: hashing a million one-block messages from Python costs about 0.75 us a message, nearly
 * all of it the interpreter's per-call work (a bytes object, a hash object, a digest object);
 * OpenSSL itself needs about 0.1 us (SHA extensions where the CPU has them). This file only
 * loops; the digest is OpenSSL's, through its EVP interface. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#define DIGEST 32

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static EVP_MD *sha256_md(void) { return EVP_MD_fetch(NULL, "SHA256", NULL); }
static void sha256_md_free(EVP_MD *md) { EVP_MD_free(md); }
#else
static EVP_MD *sha256_md(void) { return (EVP_MD *)EVP_sha256(); }
static void sha256_md_free(EVP_MD *md) { (void)md; }
#endif

/* Hash prefix || data[i*width : (i+1)*width] for each i into out[i*32 : (i+1)*32]. The
 * prefix's state is made once and copied per message. Returns 0, or -1 on an OpenSSL error. */
static int hash_fixed(EVP_MD *md, const unsigned char *prefix, size_t prefix_len, const unsigned char *data,
                      size_t width, size_t n, unsigned char *out)
{
    int ok = 0;
    EVP_MD_CTX *base = EVP_MD_CTX_new(), *ctx = EVP_MD_CTX_new();
    if (base && ctx && EVP_DigestInit_ex(base, md, NULL) && EVP_DigestUpdate(base, prefix, prefix_len)) {
        ok = 1;
        for (size_t i = 0; i < n && ok; i++) {
            ok = EVP_MD_CTX_copy_ex(ctx, base) && EVP_DigestUpdate(ctx, data + i * width, width)
                 && EVP_DigestFinal_ex(ctx, out + i * DIGEST, NULL);
        }
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_CTX_free(base);
    return ok ? 0 : -1;
}

PyDoc_STRVAR(fixed_doc,
"fixed(prefix, data, width) -> bytes\n\n"
"SHA-256 of prefix + each width-byte record of data, the 32-byte digests one after another.");

static PyObject *fixed(PyObject *self, PyObject *args)
{
    Py_buffer prefix, data;
    Py_ssize_t width;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*n:fixed", &prefix, &data, &width))
        return NULL;
    if (width <= 0 || data.len % width) {
        PyErr_Format(PyExc_ValueError, "%zd bytes are not records of %zd bytes", data.len, width);
    }
    else {
        Py_ssize_t n = data.len / width;
        result = PyBytes_FromStringAndSize(NULL, n * DIGEST);
        EVP_MD *md = result ? sha256_md() : NULL;
        int failed = 1;
        if (md) {
            unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
            /* The buffers are held and the result not shared yet: the loop needs no interpreter. */
            Py_BEGIN_ALLOW_THREADS
            failed = hash_fixed(md, prefix.buf, (size_t)prefix.len, data.buf, (size_t)width, (size_t)n, out);
            Py_END_ALLOW_THREADS
            sha256_md_free(md);
        }
        if (result && failed) {
            Py_CLEAR(result);
            PyErr_SetString(PyExc_RuntimeError, "OpenSSL could not compute SHA-256");
        }
    }
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(each_doc,
"each(messages) -> bytes\n\n"
"SHA-256 of each bytes object of an iterable, the 32-byte digests one after another.");

static PyObject *each(PyObject *self, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "each() takes an iterable of bytes");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *result = PyBytes_FromStringAndSize(NULL, n * DIGEST);
    EVP_MD *md = result ? sha256_md() : NULL;
    EVP_MD_CTX *ctx = md ? EVP_MD_CTX_new() : NULL;
    if (result && !ctx) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL could not compute SHA-256");
    }
    unsigned char *out = result ? (unsigned char *)PyBytes_AS_STRING(result) : NULL;
    for (Py_ssize_t i = 0; result && i < n; i++) {
        PyObject *item = items[i];
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "message %zd is %.100s, not bytes", i, Py_TYPE(item)->tp_name);
            Py_CLEAR(result);
        } else if (!(EVP_DigestInit_ex(ctx, md, NULL)
                     && EVP_DigestUpdate(ctx, PyBytes_AS_STRING(item), (size_t)PyBytes_GET_SIZE(item))
                     && EVP_DigestFinal_ex(ctx, out + i * DIGEST, NULL))) {
            PyErr_SetString(PyExc_RuntimeError, "OpenSSL could not compute SHA-256");
            Py_CLEAR(result);
        }
    }
    EVP_MD_CTX_free(ctx);
    if (md)
        sha256_md_free(md);
    Py_DECREF(seq);
    return result;
}

static PyMethodDef methods[] = {
    {"fixed", fixed, METH_VARARGS, fixed_doc},
    {"each", each, METH_O, each_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sha256many", "SHA-256 of many short messages by OpenSSL (see credit/sha256many.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__sha256many(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddStringConstant(m, "OPENSSL_VERSION", OPENSSL_VERSION_TEXT) < 0)
        Py_CLEAR(m);
    return m;
}
