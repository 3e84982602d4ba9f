// Command templatebench times Go's text/template rendering an Ollama chat template, for
// bench/templates.py. Standard library only.
//
// It reads one JSON object from stdin:
//
//	{"template": str, "messages": [...], "tools": [...]|null, "today": "YYYY-MM-DD",
//	 "batches": int, "target_s": float, "n": int}
//
// parses the template once (missingkey=zero, Ollama's FuncMap), and renders it as current
// Ollama does for a chat request on the messages path: collate same-role messages, convert
// the API values to the template types (template/template.go), Execute. It calibrates N so a
// batch takes about target_s (or uses n when given), runs `batches` batches of N renders of
// each kind, and writes
//
//	{"go": version, "n": N, "full_ns": [...], "exec_ns": [...], "output": str}
//
// full_ns: ns per render for collate + convert + Execute; exec_ns: Execute alone on data built
// once. Only what the benchmark needs is mirrored (no legacy path, no images, no think), so a
// template without .Messages is an error. Mirrors the type layout of
// tests/template/go/ollamarender, written separately to keep this program self-contained.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/template"
	"time"
)

// ---- API types (api/types.go) ----------------------------------------------------------------

type Message struct {
	Role      string     `json:"role"`
	Content   string     `json:"content"`
	Thinking  string     `json:"thinking,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	ToolName  string     `json:"tool_name,omitempty"`
	ToolID    string     `json:"tool_call_id,omitempty"`
}

type ToolCall struct {
	ID       string `json:"id,omitempty"`
	Function struct {
		Index int    `json:"index"`
		Name  string `json:"name"`
		// Ollama keeps arguments in an ordered map, but templates get a plain map
		// (templateArgs), so decoding straight into one gives the same values.
		Arguments map[string]any `json:"arguments"`
	} `json:"function"`
}

type Tool struct {
	Type     string `json:"type"`
	Items    any    `json:"items,omitempty"`
	Function struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		Parameters  struct {
			Type       string                  `json:"type"`
			Defs       any                     `json:"$defs,omitempty"`
			Items      any                     `json:"items,omitempty"`
			Required   []string                `json:"required,omitempty"`
			Properties map[string]ToolProperty `json:"properties"`
		} `json:"parameters"`
	} `json:"function"`
}

type PropertyType []string

func (pt *PropertyType) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*pt = []string{s}
		return nil
	}
	var a []string
	if err := json.Unmarshal(data, &a); err != nil {
		return err
	}
	*pt = a
	return nil
}

func (pt PropertyType) MarshalJSON() ([]byte, error) {
	if len(pt) == 1 {
		return json.Marshal(pt[0])
	}
	return json.Marshal([]string(pt))
}

// propertiesMap is api.ToolPropertiesMap: nested properties in request order.
type propertiesMap struct {
	keys   []string
	values map[string]ToolProperty
}

func (m *propertiesMap) UnmarshalJSON(data []byte) error {
	m.values = map[string]ToolProperty{}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("properties: not an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var v ToolProperty
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if _, seen := m.values[key]; !seen {
			m.keys = append(m.keys, key)
		}
		m.values[key] = v
	}
	return nil
}

func (m propertiesMap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k) // easyjson's key escaping agrees for plain keys
		vb, err := json.Marshal(m.values[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type ToolProperty struct {
	AnyOf       []ToolProperty `json:"anyOf,omitempty"`
	Type        PropertyType   `json:"type,omitempty"`
	Items       any            `json:"items,omitempty"`
	Description string         `json:"description,omitempty"`
	Enum        []any          `json:"enum,omitempty"`
	Properties  *propertiesMap `json:"properties,omitempty"`
	Required    []string       `json:"required,omitempty"`
}

// ---- template types (template/template.go, current Ollama) -----------------------------------

type templateTools []templateTool

func (t templateTools) String() string { b, _ := json.Marshal(t); return string(b) }

type templateArgs map[string]any

func (t templateArgs) String() string {
	if t == nil {
		return "{}"
	}
	b, _ := json.Marshal(t)
	return string(b)
}

type templateProperties map[string]ToolProperty

func (t templateProperties) String() string {
	if t == nil {
		return "{}"
	}
	b, _ := json.Marshal(t)
	return string(b)
}

type templateTool struct {
	Type     string               `json:"type"`
	Items    any                  `json:"items,omitempty"`
	Function templateToolFunction `json:"function"`
}

func (t templateTool) String() string { b, _ := json.Marshal(t); return string(b) }

type templateToolFunction struct {
	Name        string                         `json:"name"`
	Description string                         `json:"description"`
	Parameters  templateToolFunctionParameters `json:"parameters"`
}

type templateToolFunctionParameters struct {
	Type       string             `json:"type"`
	Defs       any                `json:"$defs,omitempty"`
	Items      any                `json:"items,omitempty"`
	Required   []string           `json:"required,omitempty"`
	Properties templateProperties `json:"properties"`
}

type templateToolCall struct {
	ID       string
	Function templateToolCallFunction
}

type templateToolCallFunction struct {
	Index     int
	Name      string
	Arguments templateArgs
}

type templateMessage struct {
	Role       string
	Content    string
	Thinking   string
	Images     [][]byte
	ToolCalls  []templateToolCall
	ToolName   string
	ToolCallID string
}

func convertTools(tools []Tool) templateTools {
	if tools == nil {
		return nil
	}
	out := make(templateTools, len(tools))
	for i, t := range tools {
		p := t.Function.Parameters
		out[i] = templateTool{Type: t.Type, Items: t.Items, Function: templateToolFunction{
			Name: t.Function.Name, Description: t.Function.Description,
			Parameters: templateToolFunctionParameters{
				Type: p.Type, Defs: p.Defs, Items: p.Items, Required: p.Required,
				Properties: templateProperties(p.Properties),
			},
		}}
	}
	return out
}

func convertMessages(msgs []*Message) []*templateMessage {
	out := make([]*templateMessage, len(msgs))
	for i, m := range msgs {
		var calls []templateToolCall
		for _, tc := range m.ToolCalls {
			calls = append(calls, templateToolCall{ID: tc.ID, Function: templateToolCallFunction{
				Index: tc.Function.Index, Name: tc.Function.Name,
				Arguments: templateArgs(tc.Function.Arguments),
			}})
		}
		out[i] = &templateMessage{Role: m.Role, Content: m.Content, Thinking: m.Thinking,
			ToolCalls: calls, ToolName: m.ToolName, ToolCallID: m.ToolID}
	}
	return out
}

// prepare is server/prompt.go + template.Execute's data for the messages path.
func prepare(in []Message, tools []Tool) map[string]any {
	msgs := append([]Message(nil), in...) // collation edits contents: work on a copy
	var system []string
	var collated []*Message
	for i := range msgs {
		m := &msgs[i]
		if m.Role == "system" {
			system = append(system, m.Content)
		}
		if n := len(collated); n > 0 && collated[n-1].Role == m.Role && m.Role != "tool" {
			collated[n-1].Content += "\n\n" + m.Content
		} else {
			collated = append(collated, m)
		}
	}
	return map[string]any{
		"System":     strings.Join(system, "\n\n"),
		"Messages":   convertMessages(collated),
		"Tools":      convertTools(tools),
		"Response":   "",
		"Think":      false,
		"ThinkLevel": "",
		"IsThinkSet": false,
	}
}

func funcMap(today time.Time) template.FuncMap {
	return template.FuncMap{
		"json":          func(v any) string { b, _ := json.Marshal(v); return string(b) },
		"currentDate":   func(...string) string { return today.Format("2006-01-02") },
		"yesterdayDate": func(...string) string { return today.AddDate(0, 0, -1).Format("2006-01-02") },
		"toTypeScriptType": func(v any) string {
			return "any" // not used by the benchmarked template
		},
	}
}

// ---- timing ----------------------------------------------------------------------------------

type input struct {
	Template string    `json:"template"`
	Messages []Message `json:"messages"`
	Tools    []Tool    `json:"tools"`
	Today    string    `json:"today"`
	Batches  int       `json:"batches"`
	TargetS  float64   `json:"target_s"`
	N        int       `json:"n"`
}

type output struct {
	Go     string    `json:"go"`
	N      int       `json:"n"`
	FullNs []float64 `json:"full_ns"`
	ExecNs []float64 `json:"exec_ns"`
	Output string    `json:"output"`
}

// batch runs f n times and returns ns per call.
func batch(n int, f func()) float64 {
	start := time.Now()
	for i := 0; i < n; i++ {
		f()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func run() error {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		return err
	}
	for i := range in.Messages {
		in.Messages[i].Role = strings.ToLower(in.Messages[i].Role)
	}
	today, err := time.ParseInLocation("2006-01-02", in.Today, time.Local)
	if err != nil {
		return err
	}
	if !strings.Contains(in.Template, ".Messages") {
		return errors.New("only templates on the messages path are supported")
	}
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcMap(today)).Parse(in.Template)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	var renderErr error
	full := func() {
		buf.Reset()
		if err := tmpl.Execute(&buf, prepare(in.Messages, in.Tools)); err != nil {
			renderErr = err
		}
	}
	data := prepare(in.Messages, in.Tools)
	exec := func() {
		buf.Reset()
		if err := tmpl.Execute(&buf, data); err != nil {
			renderErr = err
		}
	}
	full()
	if renderErr != nil {
		return renderErr
	}
	out := output{Go: runtime.Version(), Output: buf.String()}
	n := in.N
	if n < 1 {
		// Calibrate: double n until a batch of full renders takes a tenth of the target.
		n = 1
		for batch(n, full)*float64(n) < in.TargetS*1e8 {
			n *= 2
		}
		n = int(in.TargetS * 1e9 / batch(n, full))
		if n < 1 {
			n = 1
		}
	}
	out.N = n
	for b := 0; b < in.Batches; b++ {
		out.FullNs = append(out.FullNs, batch(n, full))
		out.ExecNs = append(out.ExecNs, batch(n, exec))
	}
	if renderErr != nil {
		return renderErr
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "templatebench:", err)
		os.Exit(1)
	}
}
