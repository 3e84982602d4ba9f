// Command fmtcheck prints values the way Go does, for tests/template/test_gofmt.py.
//
// It reads a JSON array of cases from stdin and writes a JSON array of results, one per
// case: {"out": hex of the output bytes} or {"err": message}. A case is
// {"op": OP, "fmt": hex, "args": [value...]}; a value is tagged: {"t": "nil"},
// {"t": "bool", "v": true}, {"t": "int", "v": "12"}, {"t": "float", "v": "1e21"},
// {"t": "complex", "re": "1", "im": "2"}, {"t": "str", "v": hex}, {"t": "list", "v": [...]},
// {"t": "map", "v": [[hex key, value]...]}, {"t": "nilslice"}, {"t": "nilmap"},
// {"t": "nilptr"} or {"t": "struct", "name": N, "ptr": bool, "v": [field values...]}.
// Standard library only.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"text/template"
	"unicode"
)

// Pair is a plain struct.
type Pair struct {
	A any
	B any
}

// Named is a struct with a String method.
type Named struct {
	A any
	B any
}

func (n Named) String() string { return fmt.Sprintf("named(%v)", n.A) }

// Outer nests structs and pointers.
type Outer struct {
	Name  string
	Inner any
	Ptr   *Pair
	List  []any
}

// JPair has JSON tags.
type JPair struct {
	A string         `json:"a,omitempty"`
	B int            `json:"b,omitempty"`
	C any            `json:"c,omitempty"`
	D []any          `json:"d,omitempty"`
	E bool           `json:"-"`
	F map[string]any `json:"f,omitempty"`
	G float64        `json:",omitempty"`
	H any            `json:"h"`
}

// Raw has a MarshalJSON method returning its S field.
type Raw struct{ S string }

func (r Raw) MarshalJSON() ([]byte, error) { return []byte(r.S), nil }

var structs = map[string]reflect.Type{
	"Pair":  reflect.TypeOf(Pair{}),
	"Named": reflect.TypeOf(Named{}),
	"Outer": reflect.TypeOf(Outer{}),
	"JPair": reflect.TypeOf(JPair{}),
	"Raw":   reflect.TypeOf(Raw{}),
}

type value struct {
	T    string          `json:"t"`
	V    json.RawMessage `json:"v"`
	Re   string          `json:"re"`
	Im   string          `json:"im"`
	Name string          `json:"name"`
	Ptr  bool            `json:"ptr"`
}

type tcase struct {
	Op   string  `json:"op"`
	Fmt  string  `json:"fmt"`
	Args []value `json:"args"`
}

type result struct {
	Out *string `json:"out,omitempty"`
	Err *string `json:"err,omitempty"`
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func unhex(s string) string {
	b, err := hex.DecodeString(s)
	must(err)
	return string(b)
}

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !strings.Contains(err.Error(), "range") {
		panic(err)
	}
	return f
}

func decode(v value) any {
	switch v.T {
	case "nil":
		return nil
	case "bool":
		var b bool
		must(json.Unmarshal(v.V, &b))
		return b
	case "int":
		var s string
		must(json.Unmarshal(v.V, &s))
		n, err := strconv.ParseInt(s, 10, 64)
		must(err)
		return int(n)
	case "float":
		var s string
		must(json.Unmarshal(v.V, &s))
		return parseFloat(s)
	case "complex":
		return complex(parseFloat(v.Re), parseFloat(v.Im))
	case "str":
		var s string
		must(json.Unmarshal(v.V, &s))
		return unhex(s)
	case "list":
		var items []value
		must(json.Unmarshal(v.V, &items))
		out := make([]any, len(items))
		for i, item := range items {
			out[i] = decode(item)
		}
		return out
	case "map":
		var items [][2]json.RawMessage
		must(json.Unmarshal(v.V, &items))
		out := make(map[string]any, len(items))
		for _, kv := range items {
			var k string
			var item value
			must(json.Unmarshal(kv[0], &k))
			must(json.Unmarshal(kv[1], &item))
			out[unhex(k)] = decode(item)
		}
		return out
	case "nilslice":
		return []any(nil)
	case "nilmap":
		return map[string]any(nil)
	case "nilptr":
		return (*struct{})(nil)
	case "struct":
		var fields []value
		must(json.Unmarshal(v.V, &fields))
		t, ok := structs[v.Name]
		if !ok {
			panic("unknown struct " + v.Name)
		}
		s := reflect.New(t).Elem()
		for i, f := range fields {
			d := decode(f)
			if d == nil {
				continue
			}
			target := s.Field(i)
			dv := reflect.ValueOf(d)
			if target.Kind() == reflect.Pointer && dv.Kind() == reflect.Pointer && dv.IsNil() {
				continue
			}
			if !dv.Type().AssignableTo(target.Type()) {
				dv = dv.Convert(target.Type())
			}
			target.Set(dv)
		}
		if v.Ptr {
			return s.Addr().Interface()
		}
		return s.Interface()
	}
	panic("unknown tag " + v.T)
}

func printable(runs func(rune) bool) string {
	var out []string
	prev, run := false, 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		p := runs(r)
		if p != prev {
			out = append(out, strconv.FormatInt(int64(run), 36))
			run, prev = 0, p
		}
		run++
	}
	out = append(out, strconv.FormatInt(int64(run), 36))
	return strings.Join(out, ",")
}

func run(c tcase) (out string, err error) {
	args := make([]any, len(c.Args))
	for i, a := range c.Args {
		args[i] = decode(a)
	}
	str := func(i int) string { return args[i].(string) }
	switch c.Op {
	case "version":
		return runtime.Version() + " " + unicode.Version, nil
	case "isprint":
		return printable(strconv.IsPrint), nil
	case "unicode_isprint":
		return printable(unicode.IsPrint), nil
	case "sprint":
		return fmt.Sprint(args...), nil
	case "sprintln":
		return fmt.Sprintln(args...), nil
	case "sprintf":
		return fmt.Sprintf(unhex(c.Fmt), args...), nil
	case "template":
		// {{.}} on the value, as text/template prints it.
		var buf bytes.Buffer
		tmpl := template.Must(template.New("t").Parse("{{.}}"))
		err = tmpl.Execute(&buf, args[0])
		return buf.String(), err
	case "json":
		b, err := json.Marshal(args[0])
		return string(b), err
	case "html":
		return template.HTMLEscaper(args...), nil
	case "js":
		return template.JSEscaper(args...), nil
	case "urlquery":
		return template.URLQueryEscaper(args...), nil
	case "htmlstring":
		return template.HTMLEscapeString(str(0)), nil
	case "jsstring":
		return template.JSEscapeString(str(0)), nil
	case "querystring":
		return url.QueryEscape(str(0)), nil
	case "quote":
		return strconv.Quote(str(0)), nil
	}
	return "", fmt.Errorf("unknown op %q", c.Op)
}

func main() {
	var cases []tcase
	must(json.NewDecoder(os.Stdin).Decode(&cases))
	results := make([]result, len(cases))
	for i, c := range cases {
		out, err := run(c)
		if err != nil {
			msg := err.Error()
			results[i].Err = &msg
		} else {
			h := hex.EncodeToString([]byte(out))
			results[i].Out = &h
		}
	}
	must(json.NewEncoder(os.Stdout).Encode(results))
}
