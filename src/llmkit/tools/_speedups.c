/* Compiled twins of llmkit's two incremental scanners (llmkit.tools.scan.PureJsonScanner
 * and llmkit.tools.scan_python.PurePythonListScanner).
 *
 * The Python classes are the reference: these types have the same constructor, the same
 * attributes and the same send((text, pos)) / feed(text, pos) methods, and they stop at
 * the same places with the same error messages; tests/tools/test_speedups.py holds them
 * to that on random and broken input cut at random places. They exist because a piece of
 * a model's output is a few characters long and the scanners are the per-character part
 * of the tool-call parser: in C a piece costs a few hundred nanoseconds instead of a few
 * microseconds.
 *
 * Both only read the text (any PEP 393 kind) and keep their state in the object; nothing
 * here runs code from the text. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#define MAX_DEPTH 512

enum { OBJ = 0, ARR = 1 };
enum { E_VALUE, E_VALUE_OR_END, E_KEY_OR_END, E_KEY, E_COLON, E_AFTER };
enum { W_NONE, W_NUMBER, W_LITERAL };

static PyObject *json_decode = NULL; /* json.JSONDecoder(strict=False).decode */

#define IS_WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define IS_NUMBER_CHAR(c) (IS_DIGIT(c) || (c) == '-' || (c) == '+' || (c) == '.' || (c) == 'e' || (c) == 'E')

/* ---------------------------------------------------------------- JsonScanner */

typedef struct {
    PyObject_HEAD
    PyObject *name_keys;
    PyObject *args_keys;
    Py_ssize_t consumed;
    char done;
    char stop;
    PyObject *error;      /* str or None */
    Py_ssize_t keys_seen;
    PyObject *name;       /* str or None */
    PyObject *args_start; /* int or None */
    PyObject *args_end;   /* int or None */
    /* scanning state */
    int depth;
    int expect;
    char in_string, escape, is_key, in_args;
    int word_kind;
    char *word;
    Py_ssize_t word_len, word_cap;
    PyObject *capture; /* list of str, or NULL */
    int capture_kind;  /* 1: a top-level key, 2: the name's value */
    PyObject *key;     /* the last top-level key, or NULL */
    unsigned char stack[MAX_DEPTH];
} JsonScannerObject;

static int
json_init(JsonScannerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name_keys", "args_keys", NULL};
    PyObject *name_keys = NULL, *args_keys = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$OO:JsonScanner", kwlist, &name_keys, &args_keys))
        return -1;
    if (name_keys == NULL)
        name_keys = PyTuple_New(0);
    else
        name_keys = PySequence_Tuple(name_keys);
    if (name_keys == NULL)
        return -1;
    if (args_keys == NULL)
        args_keys = PyTuple_New(0);
    else
        args_keys = PySequence_Tuple(args_keys);
    if (args_keys == NULL) {
        Py_DECREF(name_keys);
        return -1;
    }
    Py_XSETREF(self->name_keys, name_keys);
    Py_XSETREF(self->args_keys, args_keys);
    self->consumed = 0;
    self->done = self->stop = 0;
    Py_XSETREF(self->error, Py_NewRef(Py_None));
    self->keys_seen = 0;
    Py_XSETREF(self->name, Py_NewRef(Py_None));
    Py_XSETREF(self->args_start, Py_NewRef(Py_None));
    Py_XSETREF(self->args_end, Py_NewRef(Py_None));
    self->depth = 0;
    self->expect = E_VALUE;
    self->in_string = self->escape = self->is_key = self->in_args = 0;
    self->word_kind = W_NONE;
    self->word_len = 0;
    Py_CLEAR(self->capture);
    self->capture_kind = 0;
    Py_CLEAR(self->key);
    return 0;
}

static int
json_traverse(JsonScannerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->name_keys);
    Py_VISIT(self->args_keys);
    Py_VISIT(self->error);
    Py_VISIT(self->name);
    Py_VISIT(self->args_start);
    Py_VISIT(self->args_end);
    Py_VISIT(self->capture);
    Py_VISIT(self->key);
    return 0;
}

static int
json_clear(JsonScannerObject *self)
{
    Py_CLEAR(self->name_keys);
    Py_CLEAR(self->args_keys);
    Py_CLEAR(self->error);
    Py_CLEAR(self->name);
    Py_CLEAR(self->args_start);
    Py_CLEAR(self->args_end);
    Py_CLEAR(self->capture);
    Py_CLEAR(self->key);
    return 0;
}

static void
json_dealloc(JsonScannerObject *self)
{
    PyObject_GC_UnTrack(self);
    json_clear(self);
    PyMem_Free(self->word);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
word_push(JsonScannerObject *self, Py_UCS4 c)
{
    if (self->word_len == self->word_cap) {
        Py_ssize_t cap = self->word_cap ? self->word_cap * 2 : 32;
        char *word = PyMem_Realloc(self->word, (size_t)cap);
        if (word == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->word = word;
        self->word_cap = cap;
    }
    self->word[self->word_len++] = (char)c;
    return 0;
}

/* -?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)? */
static int
is_json_number(const char *w, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    if (i < n && w[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (w[i] == '0')
        i++;
    else if (w[i] >= '1' && w[i] <= '9')
        while (i < n && IS_DIGIT(w[i]))
            i++;
    else
        return 0;
    if (i < n && w[i] == '.') {
        i++;
        if (!(i < n && IS_DIGIT(w[i])))
            return 0;
        while (i < n && IS_DIGIT(w[i]))
            i++;
    }
    if (i < n && (w[i] == 'e' || w[i] == 'E')) {
        i++;
        if (i < n && (w[i] == '+' || w[i] == '-'))
            i++;
        if (!(i < n && IS_DIGIT(w[i])))
            return 0;
        while (i < n && IS_DIGIT(w[i]))
            i++;
    }
    return i == n;
}

static int
is_literal(const char *w, Py_ssize_t n)
{
    return (n == 4 && memcmp(w, "true", 4) == 0) || (n == 5 && memcmp(w, "false", 5) == 0) ||
           (n == 4 && memcmp(w, "null", 4) == 0);
}

static PyObject *
unexpected(Py_UCS4 c, int expect, JsonScannerObject *self)
{
    const char *wanted;
    if (expect == E_VALUE || expect == E_VALUE_OR_END)
        wanted = self->depth ? "a JSON value" : "'{' or '['";
    else if (expect == E_KEY)
        wanted = "a quoted key";
    else if (expect == E_KEY_OR_END)
        wanted = "a quoted key or '}'";
    else if (expect == E_COLON)
        wanted = "':'";
    else
        wanted = (self->depth && self->stack[self->depth - 1] == OBJ) ? "',' or '}'" : "',' or ']'";
    PyObject *ch = PyUnicode_FromOrdinal((int)c);
    if (ch == NULL)
        return NULL;
    PyObject *msg = PyUnicode_FromFormat("expected %s, found %R", wanted, ch);
    Py_DECREF(ch);
    return msg;
}

static int
capture_append(PyObject *capture, PyObject *text, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *piece = PyUnicode_Substring(text, start, end);
    if (piece == NULL)
        return -1;
    int rc = PyList_Append(capture, piece);
    Py_DECREF(piece);
    return rc;
}

/* Scan text[pos:]; returns where it stopped, or -1 with an exception set. */
static Py_ssize_t
json_scan(PyObject *op, PyObject *text, Py_ssize_t pos)
{
    JsonScannerObject *self = (JsonScannerObject *)op;
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const Py_ssize_t base = self->consumed - pos;
    PyObject *error = NULL;
    if (self->done || self->error != Py_None)
        return pos; /* the value is over: nothing more to read */
#define CH(i) PyUnicode_READ(kind, data, (i))
    while (pos < n) {
        if (self->in_string) {
            if (self->escape) {
                self->escape = 0;
                if (self->capture != NULL && capture_append(self->capture, text, pos, pos + 1) < 0)
                    return -1;
                pos += 1;
                continue;
            }
            Py_ssize_t end = pos;
            Py_UCS4 c = 0;
            while (end < n) {
                c = CH(end);
                if (c == '"' || c == '\\')
                    break;
                end++;
            }
            if (end > pos) {
                if (self->capture != NULL && capture_append(self->capture, text, pos, end) < 0)
                    return -1;
                pos = end;
                if (pos == n)
                    break;
            }
            if (c == '"') {
                pos += 1;
                self->in_string = 0;
                if (self->capture == NULL) { /* strings are never top-level values here */
                    self->expect = self->is_key ? E_COLON : E_AFTER;
                    continue;
                }
                PyObject *empty = PyUnicode_New(0, 0);
                if (empty == NULL)
                    return -1;
                PyObject *value = PyUnicode_Join(empty, self->capture);
                Py_DECREF(empty);
                if (value == NULL)
                    return -1;
                int captured = self->capture_kind;
                Py_CLEAR(self->capture);
                self->capture_kind = 0;
                if (PyUnicode_FindChar(value, '\\', 0, PyUnicode_GET_LENGTH(value), 1) >= 0) {
                    PyObject *quoted = PyUnicode_FromFormat("\"%U\"", value);
                    Py_DECREF(value);
                    if (quoted == NULL)
                        return -1;
                    value = PyObject_CallOneArg(json_decode, quoted);
                    Py_DECREF(quoted);
                    if (value == NULL) {
                        if (!PyErr_ExceptionMatches(PyExc_ValueError))
                            return -1;
                        PyErr_Clear();
                        error = PyUnicode_FromString("a string with an invalid escape");
                        if (error == NULL)
                            return -1;
                        break;
                    }
                }
                if (self->is_key) {
                    if (captured == 1)
                        Py_XSETREF(self->key, value);
                    else
                        Py_DECREF(value);
                    self->expect = E_COLON;
                    continue;
                }
                if (captured == 2) {
                    Py_SETREF(self->name, value);
                    self->stop = 1;
                }
                else
                    Py_DECREF(value);
                if (self->depth) {
                    self->expect = E_AFTER;
                    continue;
                }
                self->done = self->stop = 1;
                break;
            }
            /* A backslash: it and the next character belong to the string. */
            if (self->capture != NULL) {
                Py_ssize_t end2 = pos + 1 < n ? pos + 2 : pos + 1;
                if (capture_append(self->capture, text, pos, end2) < 0)
                    return -1;
            }
            if (pos + 1 < n)
                pos += 2;
            else {
                self->escape = 1;
                pos += 1;
            }
            continue;
        }
        if (self->word_kind != W_NONE) {
            int number = self->word_kind == W_NUMBER;
            while (pos < n) {
                Py_UCS4 c = CH(pos);
                if (number ? !IS_NUMBER_CHAR(c) : !IS_ALPHA(c))
                    break;
                if (word_push(self, c) < 0)
                    return -1;
                pos++;
            }
            if (pos == n)
                break;
            if (number ? !is_json_number(self->word, self->word_len) : !is_literal(self->word, self->word_len)) {
                PyObject *word = PyUnicode_FromStringAndSize(self->word, self->word_len);
                if (word == NULL)
                    return -1;
                error = PyUnicode_FromFormat(number ? "%R is not a JSON number" : "%R is not a JSON value", word);
                Py_DECREF(word);
                if (error == NULL)
                    return -1;
                break;
            }
            self->word_len = 0;
            self->word_kind = W_NONE;
            self->expect = E_AFTER; /* words are never top-level values */
            continue;
        }
        Py_UCS4 c = CH(pos);
        int expect = self->expect;
        if (IS_WS(c)) {
            pos++;
            while (pos < n && IS_WS(CH(pos)))
                pos++;
            continue;
        }
        if (c == '"') {
            if (expect == E_KEY || expect == E_KEY_OR_END) {
                self->in_string = self->is_key = 1;
                if (self->depth == 1) {
                    self->keys_seen += 1;
                    PyObject *capture = PyList_New(0);
                    if (capture == NULL)
                        return -1;
                    Py_XSETREF(self->capture, capture);
                    self->capture_kind = 1;
                }
                pos++;
                continue;
            }
            if ((expect == E_VALUE || expect == E_VALUE_OR_END) && self->depth) {
                self->in_string = 1;
                self->is_key = 0;
                if (self->key != NULL && self->depth == 1 && self->stack[0] == OBJ && self->name == Py_None) {
                    int found = PySequence_Contains(self->name_keys, self->key);
                    if (found < 0)
                        return -1;
                    if (found) {
                        PyObject *capture = PyList_New(0);
                        if (capture == NULL)
                            return -1;
                        Py_XSETREF(self->capture, capture);
                        self->capture_kind = 2;
                    }
                }
                pos++;
                continue;
            }
        }
        else if (c == ':') {
            if (expect == E_COLON) {
                self->expect = E_VALUE;
                pos++;
                if (pos < n && CH(pos) == ' ') /* the usual single space after it */
                    pos++;
                continue;
            }
        }
        else if (c == ',') {
            if (expect == E_AFTER) {
                self->expect = self->stack[self->depth - 1] == OBJ ? E_KEY : E_VALUE;
                pos++;
                if (pos < n && CH(pos) == ' ')
                    pos++;
                continue;
            }
        }
        else if (c == '}' || c == ']') {
            int top = self->depth ? self->stack[self->depth - 1] : -1;
            if ((c == '}' && top == OBJ && (expect == E_AFTER || expect == E_KEY_OR_END)) ||
                (c == ']' && top == ARR && (expect == E_AFTER || expect == E_VALUE_OR_END))) {
                self->depth--;
                if (self->in_args && self->depth == 1) {
                    self->in_args = 0;
                    PyObject *end = PyLong_FromSsize_t(base + pos + 1);
                    if (end == NULL)
                        return -1;
                    Py_SETREF(self->args_end, end);
                    self->stop = 1;
                }
                pos++;
                if (self->depth) {
                    self->expect = E_AFTER;
                    continue;
                }
                self->done = self->stop = 1;
                break;
            }
        }
        else if (c == '{' || c == '[') {
            if (expect == E_VALUE || expect == E_VALUE_OR_END) {
                if (self->depth >= MAX_DEPTH) {
                    error = PyUnicode_FromFormat("nested deeper than %d levels", MAX_DEPTH);
                    if (error == NULL)
                        return -1;
                    break;
                }
                if (c == '{' && self->key != NULL && self->depth == 1 && self->stack[0] == OBJ &&
                    self->args_start == Py_None) {
                    int found = PySequence_Contains(self->args_keys, self->key);
                    if (found < 0)
                        return -1;
                    if (found) {
                        PyObject *start = PyLong_FromSsize_t(base + pos);
                        if (start == NULL)
                            return -1;
                        Py_SETREF(self->args_start, start);
                        self->in_args = self->stop = 1;
                    }
                }
                self->stack[self->depth++] = c == '{' ? OBJ : ARR;
                self->expect = c == '{' ? E_KEY_OR_END : E_VALUE_OR_END;
                pos++;
                continue;
            }
        }
        else if ((IS_DIGIT(c) || c == '-' || c == 't' || c == 'f' || c == 'n') && self->depth &&
                 (expect == E_VALUE || expect == E_VALUE_OR_END)) {
            self->word_len = 0;
            if (word_push(self, c) < 0)
                return -1;
            self->word_kind = (IS_DIGIT(c) || c == '-') ? W_NUMBER : W_LITERAL;
            pos++;
            continue;
        }
        error = unexpected(c, expect, self);
        if (error == NULL)
            return -1;
        break;
    }
#undef CH
    self->consumed = base + pos;
    if (error != NULL) {
        Py_SETREF(self->error, error);
        self->stop = 1;
    }
    return pos;
}

static PyObject *
scan_result(Py_ssize_t pos)
{
    return pos < 0 ? NULL : PyLong_FromSsize_t(pos);
}

static int
parse_piece(PyObject *text, PyObject *pos_obj, Py_ssize_t *pos)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "a scanner is fed str, not %.100s", Py_TYPE(text)->tp_name);
        return -1;
    }
    *pos = PyLong_AsSsize_t(pos_obj);
    if (*pos == -1 && PyErr_Occurred())
        return -1;
    if (*pos < 0) {
        PyErr_SetString(PyExc_ValueError, "a scanner's position cannot be negative");
        return -1;
    }
    return 0;
}

typedef Py_ssize_t (*scan_fn)(PyObject *self, PyObject *text, Py_ssize_t pos);

/* send((text, pos)) and feed(text, pos), for either scanner. */
static PyObject *
scanner_send(PyObject *self, PyObject *arg, scan_fn scan)
{
    Py_ssize_t pos;
    if (!PyTuple_Check(arg) || PyTuple_GET_SIZE(arg) != 2) {
        PyErr_SetString(PyExc_TypeError, "send() takes a (text, pos) tuple");
        return NULL;
    }
    PyObject *text = PyTuple_GET_ITEM(arg, 0);
    if (parse_piece(text, PyTuple_GET_ITEM(arg, 1), &pos) < 0)
        return NULL;
    return scan_result(scan(self, text, pos));
}

static PyObject *
scanner_feed(PyObject *self, PyObject *const *args, Py_ssize_t nargs, scan_fn scan)
{
    Py_ssize_t pos;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "feed() takes text and pos");
        return NULL;
    }
    if (parse_piece(args[0], args[1], &pos) < 0)
        return NULL;
    return scan_result(scan(self, args[0], pos));
}

static PyObject *
json_send(PyObject *self, PyObject *arg)
{
    return scanner_send(self, arg, json_scan);
}

static PyObject *
json_feed(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return scanner_feed(self, args, nargs, json_scan);
}

static PyMethodDef json_methods[] = {
    {"send", (PyCFunction)json_send, METH_O, "send((text, pos)) -> where it stopped"},
    {"feed", (PyCFunction)(void (*)(void))json_feed, METH_FASTCALL, "feed(text, pos) -> where it stopped"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef json_members[] = {
    {"consumed", T_PYSSIZET, offsetof(JsonScannerObject, consumed), READONLY, NULL},
    {"done", T_BOOL, offsetof(JsonScannerObject, done), READONLY, NULL},
    {"stop", T_BOOL, offsetof(JsonScannerObject, stop), 0, NULL},
    {"error", T_OBJECT, offsetof(JsonScannerObject, error), READONLY, NULL},
    {"keys_seen", T_PYSSIZET, offsetof(JsonScannerObject, keys_seen), READONLY, NULL},
    {"name", T_OBJECT, offsetof(JsonScannerObject, name), READONLY, NULL},
    {"args_start", T_OBJECT, offsetof(JsonScannerObject, args_start), READONLY, NULL},
    {"args_end", T_OBJECT, offsetof(JsonScannerObject, args_end), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject JsonScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "llmkit.tools._speedups.JsonScanner",
    .tp_doc = PyDoc_STR("The compiled JsonScanner; see llmkit.tools.scan.PureJsonScanner."),
    .tp_basicsize = sizeof(JsonScannerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)json_init,
    .tp_dealloc = (destructor)json_dealloc,
    .tp_traverse = (traverseproc)json_traverse,
    .tp_clear = (inquiry)json_clear,
    .tp_methods = json_methods,
    .tp_members = json_members,
};

/* ---------------------------------------------------------- PythonListScanner */

typedef struct {
    PyObject_HEAD
    PyObject *commas; /* list of int */
    Py_ssize_t consumed;
    char done;
    char stop;
    char looks_like_calls;
    PyObject *error; /* str or None */
    Py_ssize_t depth;
    int signature; /* 0: before '[', 1: want a name, 2: in the name, 3: want '(', 4: ok */
    Py_UCS4 quote; /* 0 outside strings */
    int quote_len; /* 1 or 3 */
    char escape;
} PyListScannerObject;

static int
pylist_init(PyListScannerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, ":PythonListScanner", kwlist))
        return -1;
    PyObject *commas = PyList_New(0);
    if (commas == NULL)
        return -1;
    Py_XSETREF(self->commas, commas);
    Py_XSETREF(self->error, Py_NewRef(Py_None));
    self->consumed = 0;
    self->done = self->stop = self->looks_like_calls = 0;
    self->depth = 0;
    self->signature = 0;
    self->quote = 0;
    self->quote_len = 0;
    self->escape = 0;
    return 0;
}

static int
pylist_traverse(PyListScannerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->commas);
    Py_VISIT(self->error);
    return 0;
}

static int
pylist_clear(PyListScannerObject *self)
{
    Py_CLEAR(self->commas);
    Py_CLEAR(self->error);
    return 0;
}

static void
pylist_dealloc(PyListScannerObject *self)
{
    PyObject_GC_UnTrack(self);
    pylist_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#define IS_NAME_START(c) (IS_ALPHA(c) || (c) == '_')
#define IS_NAME_CHAR(c) (IS_ALPHA(c) || IS_DIGIT(c) || (c) == '_' || (c) == '.')

static int
set_error(PyListScannerObject *self, const char *format, Py_UCS4 c)
{
    PyObject *ch = PyUnicode_FromOrdinal((int)c);
    if (ch == NULL)
        return -1;
    PyObject *msg = PyUnicode_FromFormat(format, ch);
    Py_DECREF(ch);
    if (msg == NULL)
        return -1;
    Py_SETREF(self->error, msg);
    return 0;
}

/* The opening of the list: '[', a dotted name, '('. Returns the new position or -1. */
static Py_ssize_t
check_signature(PyListScannerObject *self, int kind, const void *data, Py_ssize_t pos, Py_ssize_t n)
{
    Py_UCS4 c = PyUnicode_READ(kind, data, pos);
    int state = self->signature;
    if (state == 0) {
        if (c != '[')
            return set_error(self, "expected '[', found %R", c) < 0 ? -1 : pos;
        self->depth = 1;
        self->signature = 1;
        return pos + 1;
    }
    if (IS_WS(c) && state != 2) {
        pos++;
        while (pos < n && IS_WS(PyUnicode_READ(kind, data, pos)))
            pos++;
        return pos;
    }
    if (state == 1) {
        if (c == ']') {
            self->depth = 0;
            self->done = 1;
            self->signature = 4;
            return pos + 1;
        }
        if (!IS_NAME_START(c))
            return set_error(self, "expected a function name, found %R", c) < 0 ? -1 : pos;
        self->signature = 2;
        return pos;
    }
    if (state == 2) {
        Py_ssize_t end = pos;
        while (end < n && IS_NAME_CHAR(PyUnicode_READ(kind, data, end)))
            end++;
        if (end == pos || end < n)
            self->signature = 3;
        return end;
    }
    if (c != '(')
        return set_error(self, "expected '(' after the function name, found %R", c) < 0 ? -1 : pos;
    self->signature = 4;
    self->looks_like_calls = 1;
    self->depth = 2;
    return pos + 1;
}

static Py_ssize_t
pylist_scan(PyObject *op, PyObject *text, Py_ssize_t pos)
{
    PyListScannerObject *self = (PyListScannerObject *)op;
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const Py_ssize_t base = self->consumed - pos;
    if (self->done || self->error != Py_None)
        return pos; /* the list is over: nothing more to read */
#define CH(i) PyUnicode_READ(kind, data, (i))
    while (pos < n) {
        if (self->signature < 4) {
            pos = check_signature(self, kind, data, pos, n);
            if (pos < 0)
                return -1;
            if (self->done || self->error != Py_None)
                break;
            continue;
        }
        if (self->quote) {
            if (self->escape) {
                self->escape = 0;
                pos++;
                continue;
            }
            Py_UCS4 q = self->quote, c = 0;
            while (pos < n) {
                c = CH(pos);
                if (c == q || c == '\\')
                    break;
                pos++;
            }
            if (pos == n)
                break;
            if (c == '\\') {
                if (pos + 1 < n)
                    pos += 2;
                else {
                    self->escape = 1;
                    pos += 1;
                }
                continue;
            }
            /* A quote character of the string's kind. */
            if (self->quote_len == 1) {
                self->quote = 0;
                pos += 1;
            }
            else if (pos + 2 < n && CH(pos + 1) == q && CH(pos + 2) == q) {
                self->quote = 0;
                pos += 3;
            }
            else if (n - pos < 3 && (pos + 1 >= n || CH(pos + 1) == q))
                break; /* maybe the closing triple quote, cut by the piece: wait */
            else
                pos += 1;
            continue;
        }
        Py_UCS4 c = CH(pos);
        if (c == '\'' || c == '"') {
            if (pos + 2 < n && CH(pos + 1) == c && CH(pos + 2) == c) {
                self->quote = c;
                self->quote_len = 3;
                pos += 3;
            }
            else if (n - pos < 3 && (pos + 1 >= n || CH(pos + 1) == c))
                break; /* '' or ' at the end: wait to see whether a third quote follows */
            else {
                self->quote = c;
                self->quote_len = 1;
                pos += 1;
            }
        }
        else if (c == '(' || c == '[' || c == '{') {
            self->depth++;
            pos++;
        }
        else if (c == ')' || c == ']' || c == '}') {
            self->depth--;
            pos++;
            if (self->depth == 0) {
                self->done = 1;
                break;
            }
        }
        else if (c == ',') {
            if (self->depth == 1) {
                PyObject *at = PyLong_FromSsize_t(base + pos);
                if (at == NULL)
                    return -1;
                int rc = PyList_Append(self->commas, at);
                Py_DECREF(at);
                if (rc < 0)
                    return -1;
            }
            pos++;
        }
        else {
            pos++;
            while (pos < n) {
                Py_UCS4 d = CH(pos);
                if (d == '\'' || d == '"' || d == '(' || d == ')' || d == '[' || d == ']' || d == '{' ||
                    d == '}' || d == ',')
                    break;
                pos++;
            }
        }
    }
#undef CH
    self->consumed = base + pos;
    if (pos != n || self->done || self->error != Py_None)
        self->stop = 1;
    return pos;
}

static PyObject *
pylist_send(PyObject *self, PyObject *arg)
{
    return scanner_send(self, arg, pylist_scan);
}

static PyObject *
pylist_feed(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return scanner_feed(self, args, nargs, pylist_scan);
}

static PyMethodDef pylist_methods[] = {
    {"send", (PyCFunction)pylist_send, METH_O, "send((text, pos)) -> where it stopped"},
    {"feed", (PyCFunction)(void (*)(void))pylist_feed, METH_FASTCALL, "feed(text, pos) -> where it stopped"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef pylist_members[] = {
    {"commas", T_OBJECT, offsetof(PyListScannerObject, commas), READONLY, NULL},
    {"consumed", T_PYSSIZET, offsetof(PyListScannerObject, consumed), READONLY, NULL},
    {"done", T_BOOL, offsetof(PyListScannerObject, done), READONLY, NULL},
    {"stop", T_BOOL, offsetof(PyListScannerObject, stop), 0, NULL},
    {"error", T_OBJECT, offsetof(PyListScannerObject, error), READONLY, NULL},
    {"looks_like_calls", T_BOOL, offsetof(PyListScannerObject, looks_like_calls), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject PyListScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "llmkit.tools._speedups.PythonListScanner",
    .tp_doc = PyDoc_STR("The compiled PythonListScanner; see llmkit.tools.scan_python.PurePythonListScanner."),
    .tp_basicsize = sizeof(PyListScannerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)pylist_init,
    .tp_dealloc = (destructor)pylist_dealloc,
    .tp_traverse = (traverseproc)pylist_traverse,
    .tp_clear = (inquiry)pylist_clear,
    .tp_methods = pylist_methods,
    .tp_members = pylist_members,
};

/* ----------------------------------------------------------------- the module */

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "llmkit.tools._speedups",
    .m_doc = "Compiled twins of llmkit's incremental tool-call scanners.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&JsonScannerType) < 0 || PyType_Ready(&PyListScannerType) < 0)
        return NULL;
    if (json_decode == NULL) {
        PyObject *json = PyImport_ImportModule("json");
        if (json == NULL)
            return NULL;
        PyObject *decoder_type = PyObject_GetAttrString(json, "JSONDecoder");
        Py_DECREF(json);
        if (decoder_type == NULL)
            return NULL;
        PyObject *no_args = PyTuple_New(0);
        PyObject *kwargs = Py_BuildValue("{s:O}", "strict", Py_False);
        PyObject *decoder = (no_args && kwargs) ? PyObject_Call(decoder_type, no_args, kwargs) : NULL;
        Py_XDECREF(no_args);
        Py_XDECREF(kwargs);
        Py_DECREF(decoder_type);
        if (decoder == NULL)
            return NULL;
        json_decode = PyObject_GetAttrString(decoder, "decode");
        Py_DECREF(decoder);
        if (json_decode == NULL)
            return NULL;
    }
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "JsonScanner", (PyObject *)&JsonScannerType) < 0 ||
        PyModule_AddObjectRef(module, "PythonListScanner", (PyObject *)&PyListScannerType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
