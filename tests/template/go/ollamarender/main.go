// Command ollamarender renders an Ollama Go chat template the way Ollama's server does, as the
// reference side of llmkit's differential tests.
//
// It reads one JSON object (or a JSON list of them) from stdin:
//
//	{"template": str, "messages": [...], "tools": [...]|null, "think": null|bool|"low"|...,
//	 "prompt": str, "suffix": str, "compat": "current"|"v0.14"|"v0.13", "today": "YYYY-MM-DD"}
//
// and writes {"output": str} or {"error": str, "stage": "request"|"parse"|"execute"} (or a list
// of those). Run with -version to print the Go version it was built with.
//
// The behaviour follows ollama/ollama's template/template.go, api/types.go and
// server/prompt.go (see shared/reference/ollama-template-semantics.md); the code is written
// from that description, not copied. Go types mirror Ollama's field names, field order, JSON
// tags and methods, because text/template and fmt print values according to them.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"
)

// ---------------------------------------------------------------------------------------------
// Insertion-ordered map: orderedMap stands in for ollama's internal/orderedmap.Map, pairs for
// the github.com/wk8/go-ordered-map/v2 map it wraps. As there, decoding JSON null leaves the
// inner map nil (encoding/json sets the inner pointer to nil), which reads as "unset".

type pairs[V any] struct {
	keys   []string
	values map[string]V
}

type orderedMap[V any] struct {
	om *pairs[V]
}

func newOrderedMap[V any]() *orderedMap[V] {
	return &orderedMap[V]{om: &pairs[V]{values: map[string]V{}}}
}

// set updates an existing key in place (keeping its position) or appends a new one.
func (p *pairs[V]) set(k string, v V) {
	if _, ok := p.values[k]; !ok {
		p.keys = append(p.keys, k)
	}
	p.values[k] = v
}

func (m *orderedMap[V]) toMap() map[string]V {
	if m == nil || m.om == nil {
		return nil
	}
	out := make(map[string]V, len(m.om.keys))
	for _, k := range m.om.keys {
		out[k] = m.om.values[k]
	}
	return out
}

// MarshalJSON writes keys in insertion order. Keys are escaped like mailru/easyjson's
// jwriter.String (which wk8's map uses): \t \r \n \\ \" short, other bytes < 0x20 and
// < > & as \u00XX, invalid UTF-8 as \ufffd, U+2028/U+2029 escaped. Values go through
// encoding/json.
func (m *orderedMap[V]) MarshalJSON() ([]byte, error) {
	if m == nil || m.om == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m.om.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeEasyJSONString(&b, k)
		b.WriteByte(':')
		vb, err := json.Marshal(m.om.values[k])
		if err != nil {
			return nil, err
		}
		if len(vb) == 0 {
			b.WriteString("null")
		} else {
			b.Write(vb)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

const hexDigits = "0123456789abcdef"

func writeEasyJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\t':
				b.WriteString(`\t`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\\':
				b.WriteString(`\\`)
			case c == '"':
				b.WriteString(`\"`)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			b.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			b.WriteString(`\u202`)
			b.WriteByte(hexDigits[r&0xf])
		default:
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	b.WriteByte('"')
}

// UnmarshalJSON: null leaves the map unset; anything but an object is an error (like
// buger/jsonparser.ObjectEach, which wk8's map uses); each value is decoded with
// encoding/json; a repeated key keeps its first position and takes the last value.
func (m *orderedMap[V]) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		m.om = nil
		return nil
	}
	m.om = &pairs[V]{values: map[string]V{}}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("Value looks like object, but can't find closing '}' symbol")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		var v V
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		m.om.set(key, v)
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// API types of current Ollama (v0.14 and later), mirroring api/types.go.

type ImageData []byte

type Message struct {
	Role       string      `json:"role"`
	Content    string      `json:"content"`
	Thinking   string      `json:"thinking,omitempty"`
	Images     []ImageData `json:"images,omitempty"`
	ToolCalls  []ToolCall  `json:"tool_calls,omitempty"`
	ToolName   string      `json:"tool_name,omitempty"`
	ToolCallID string      `json:"tool_call_id,omitempty"`
}

func (m *Message) UnmarshalJSON(b []byte) error {
	type plain Message
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*m = Message(p)
	m.Role = strings.ToLower(m.Role)
	return nil
}

type ToolCall struct {
	ID       string           `json:"id,omitempty"`
	Function ToolCallFunction `json:"function"`
}

type ToolCallFunction struct {
	Index     int                       `json:"index"`
	Name      string                    `json:"name"`
	Arguments ToolCallFunctionArguments `json:"arguments"`
}

// ToolCallFunctionArguments keeps the arguments in request order.
type ToolCallFunctionArguments struct {
	om *orderedMap[any]
}

func (t *ToolCallFunctionArguments) ToMap() map[string]any {
	if t == nil || t.om == nil {
		return nil
	}
	return t.om.toMap()
}

func (t *ToolCallFunctionArguments) String() string {
	if t == nil || t.om == nil {
		return "{}"
	}
	b, _ := json.Marshal(t.om)
	return string(b)
}

func (t *ToolCallFunctionArguments) UnmarshalJSON(data []byte) error {
	t.om = newOrderedMap[any]()
	return json.Unmarshal(data, t.om)
}

func (t ToolCallFunctionArguments) MarshalJSON() ([]byte, error) {
	if t.om == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(t.om)
}

type Tools []Tool

func (t Tools) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

func (t Tool) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

type Tool struct {
	Type     string       `json:"type"`
	Items    any          `json:"items,omitempty"`
	Function ToolFunction `json:"function"`
}

// PropertyType is a JSON-schema "type": a string or a list of strings.
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

func (pt PropertyType) String() string {
	switch len(pt) {
	case 0:
		return ""
	case 1:
		return pt[0]
	}
	return fmt.Sprintf("%v", []string(pt))
}

// ToolPropertiesMap keeps properties in request order.
type ToolPropertiesMap struct {
	om *orderedMap[ToolProperty]
}

func (t *ToolPropertiesMap) ToMap() map[string]ToolProperty {
	if t == nil || t.om == nil {
		return nil
	}
	return t.om.toMap()
}

func (t ToolPropertiesMap) MarshalJSON() ([]byte, error) {
	if t.om == nil {
		return []byte("null"), nil
	}
	return json.Marshal(t.om)
}

func (t *ToolPropertiesMap) UnmarshalJSON(data []byte) error {
	t.om = newOrderedMap[ToolProperty]()
	return json.Unmarshal(data, t.om)
}

type ToolProperty struct {
	AnyOf       []ToolProperty     `json:"anyOf,omitempty"`
	Type        PropertyType       `json:"type,omitempty"`
	Items       any                `json:"items,omitempty"`
	Description string             `json:"description,omitempty"`
	Enum        []any              `json:"enum,omitempty"`
	Properties  *ToolPropertiesMap `json:"properties,omitempty"`
	Required    []string           `json:"required,omitempty"`
}

func (tp ToolProperty) ToTypeScriptType() string {
	return typeScriptType(tp.Type, len(tp.AnyOf), func(i int) string {
		return tp.AnyOf[i].ToTypeScriptType()
	})
}

type ToolFunctionParameters struct {
	Type       string             `json:"type"`
	Defs       any                `json:"$defs,omitempty"`
	Items      any                `json:"items,omitempty"`
	Required   []string           `json:"required,omitempty"`
	Properties *ToolPropertiesMap `json:"properties"`
}

func (t *ToolFunctionParameters) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

type ToolFunction struct {
	Name        string                 `json:"name"`
	Description string                 `json:"description,omitempty"`
	Parameters  ToolFunctionParameters `json:"parameters"`
}

func (t *ToolFunction) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

func typeScriptType(types PropertyType, nAnyOf int, anyOf func(int) string) string {
	if nAnyOf > 0 {
		parts := make([]string, 0, nAnyOf)
		for i := 0; i < nAnyOf; i++ {
			parts = append(parts, anyOf(i))
		}
		return strings.Join(parts, " | ")
	}
	if len(types) == 0 {
		return "any"
	}
	parts := make([]string, 0, len(types))
	for _, t := range types {
		parts = append(parts, jsonTypeToTypeScript(t))
	}
	return strings.Join(parts, " | ")
}

func jsonTypeToTypeScript(t string) string {
	switch t {
	case "string":
		return "string"
	case "number", "integer":
		return "number"
	case "boolean":
		return "boolean"
	case "array":
		return "any[]"
	case "object":
		return "Record<string, any>"
	case "null":
		return "null"
	}
	return "any"
}

// ---------------------------------------------------------------------------------------------
// Values handed to templates since v0.14 (template/template.go's template* types).

type templateTools []templateTool

func (t templateTools) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

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

// templateTool.String exists since v0.30 ("current"); v0.14 to v0.29 lack it, see
// templateToolV14.
func (t templateTool) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

type templateTool struct {
	Type     string               `json:"type"`
	Items    any                  `json:"items,omitempty"`
	Function templateToolFunction `json:"function"`
}

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

// templateToolsV14 / templateToolV14: the same values without templateTool.String.
type templateToolsV14 []templateToolV14

func (t templateToolsV14) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

type templateToolV14 struct {
	Type     string               `json:"type"`
	Items    any                  `json:"items,omitempty"`
	Function templateToolFunction `json:"function"`
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
	Images     []ImageData
	ToolCalls  []templateToolCall
	ToolName   string
	ToolCallID string
}

func convertToolsForTemplate(tools Tools) templateTools {
	if tools == nil {
		return nil
	}
	out := make(templateTools, len(tools))
	for i, tool := range tools {
		p := tool.Function.Parameters
		out[i] = templateTool{
			Type:  tool.Type,
			Items: tool.Items,
			Function: templateToolFunction{
				Name:        tool.Function.Name,
				Description: tool.Function.Description,
				Parameters: templateToolFunctionParameters{
					Type:       p.Type,
					Defs:       p.Defs,
					Items:      p.Items,
					Required:   p.Required,
					Properties: templateProperties(p.Properties.ToMap()),
				},
			},
		}
	}
	return out
}

func convertToolsForTemplateV14(tools Tools) templateToolsV14 {
	if tools == nil {
		return nil
	}
	cur := convertToolsForTemplate(tools)
	out := make(templateToolsV14, len(cur))
	for i := range cur {
		out[i] = templateToolV14(cur[i])
	}
	return out
}

func convertMessagesForTemplate(msgs []*Message) []*templateMessage {
	if msgs == nil {
		return nil
	}
	out := make([]*templateMessage, len(msgs))
	for i, m := range msgs {
		var calls []templateToolCall
		for _, tc := range m.ToolCalls {
			calls = append(calls, templateToolCall{
				ID: tc.ID,
				Function: templateToolCallFunction{
					Index:     tc.Function.Index,
					Name:      tc.Function.Name,
					Arguments: templateArgs(tc.Function.Arguments.ToMap()),
				},
			})
		}
		out[i] = &templateMessage{
			Role:       m.Role,
			Content:    m.Content,
			Thinking:   m.Thinking,
			Images:     m.Images,
			ToolCalls:  calls,
			ToolName:   m.ToolName,
			ToolCallID: m.ToolCallID,
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// API types of Ollama up to v0.13.x: templates received these directly.

type Message13 struct {
	Role       string       `json:"role"`
	Content    string       `json:"content"`
	Thinking   string       `json:"thinking,omitempty"`
	Images     []ImageData  `json:"images,omitempty"`
	ToolCalls  []ToolCall13 `json:"tool_calls,omitempty"`
	ToolName   string       `json:"tool_name,omitempty"`
	ToolCallID string       `json:"tool_call_id,omitempty"`
}

func (m *Message13) UnmarshalJSON(b []byte) error {
	type plain Message13
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*m = Message13(p)
	m.Role = strings.ToLower(m.Role)
	return nil
}

type ToolCall13 struct {
	ID       string             `json:"id,omitempty"`
	Function ToolCallFunction13 `json:"function"`
}

type ToolCallFunction13 struct {
	Index     int                         `json:"index"`
	Name      string                      `json:"name"`
	Arguments ToolCallFunctionArguments13 `json:"arguments"`
}

type ToolCallFunctionArguments13 map[string]any

func (t *ToolCallFunctionArguments13) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

type Tools13 []Tool13

func (t Tools13) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

func (t Tool13) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

type Tool13 struct {
	Type     string         `json:"type"`
	Items    any            `json:"items,omitempty"`
	Function ToolFunction13 `json:"function"`
}

type ToolProperty13 struct {
	AnyOf       []ToolProperty13          `json:"anyOf,omitempty"`
	Type        PropertyType              `json:"type,omitempty"`
	Items       any                       `json:"items,omitempty"`
	Description string                    `json:"description,omitempty"`
	Enum        []any                     `json:"enum,omitempty"`
	Properties  map[string]ToolProperty13 `json:"properties,omitempty"`
}

func (tp ToolProperty13) ToTypeScriptType() string {
	return typeScriptType(tp.Type, len(tp.AnyOf), func(i int) string {
		return tp.AnyOf[i].ToTypeScriptType()
	})
}

type ToolFunctionParameters13 struct {
	Type       string                    `json:"type"`
	Defs       any                       `json:"$defs,omitempty"`
	Items      any                       `json:"items,omitempty"`
	Required   []string                  `json:"required,omitempty"`
	Properties map[string]ToolProperty13 `json:"properties"`
}

func (t *ToolFunctionParameters13) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

type ToolFunction13 struct {
	Name        string                   `json:"name"`
	Description string                   `json:"description,omitempty"`
	Parameters  ToolFunctionParameters13 `json:"parameters"`
}

func (t *ToolFunction13) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

// ---------------------------------------------------------------------------------------------
// Parsing (template.Parse) with the FuncMap.

func funcMap(today time.Time) template.FuncMap {
	return template.FuncMap{
		"json": func(v any) string {
			b, _ := json.Marshal(v)
			return string(b)
		},
		"currentDate": func(args ...string) string {
			return today.Format("2006-01-02")
		},
		"yesterdayDate": func(args ...string) string {
			return today.AddDate(0, 0, -1).Format("2006-01-02")
		},
		"toTypeScriptType": func(v any) string {
			switch p := v.(type) {
			case ToolProperty:
				return p.ToTypeScriptType()
			case *ToolProperty:
				if p != nil {
					return p.ToTypeScriptType()
				}
			case ToolProperty13:
				return p.ToTypeScriptType()
			case *ToolProperty13:
				if p != nil {
					return p.ToTypeScriptType()
				}
			}
			return "any"
		},
	}
}

type ollamaTemplate struct {
	*template.Template
	vars []string
}

func parseTemplate(text string, funcs template.FuncMap) (*ollamaTemplate, error) {
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, err
	}
	vars, err := templateVars(tmpl)
	if err != nil {
		return nil, err
	}
	if !contains(vars, "messages") && !contains(vars, "response") {
		// Ollama appends an action {{ .Response }} to the root template.
		tmpl.Tree.Root.Nodes = append(tmpl.Tree.Root.Nodes, &parse.ActionNode{
			NodeType: parse.NodeAction,
			Pipe: &parse.PipeNode{
				NodeType: parse.NodePipe,
				Cmds: []*parse.CommandNode{{
					NodeType: parse.NodeCommand,
					Args: []parse.Node{&parse.FieldNode{
						NodeType: parse.NodeField,
						Ident:    []string{"Response"},
					}},
				}},
			},
		})
	}
	return &ollamaTemplate{Template: tmpl, vars: vars}, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// templateVars: identifiers of field and variable nodes in action, if/range/with and
// template pipelines and bodies of every template in the set, lower-cased, sorted, unique.
func templateVars(tmpl *template.Template) ([]string, error) {
	var all []string
	for _, t := range tmpl.Templates() {
		for _, n := range t.Root.Nodes {
			ids, err := identifiers(n)
			if err != nil {
				return nil, err
			}
			all = append(all, ids...)
		}
	}
	set := map[string]bool{}
	for _, v := range all {
		set[strings.ToLower(v)] = true
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out, nil
}

func identifiers(n parse.Node) ([]string, error) {
	switch n := n.(type) {
	case *parse.ListNode:
		var names []string
		for _, c := range n.Nodes {
			ids, err := identifiers(c)
			if err != nil {
				return names, err
			}
			names = append(names, ids...)
		}
		return names, nil
	case *parse.TemplateNode:
		if n.Pipe == nil {
			return nil, errors.New("undefined template specified")
		}
		return identifiers(n.Pipe)
	case *parse.ActionNode:
		if n.Pipe == nil {
			return nil, errors.New("undefined action in template")
		}
		return identifiers(n.Pipe)
	case *parse.BranchNode:
		if n.Pipe == nil {
			return nil, errors.New("undefined branch")
		}
		names, err := identifiers(n.Pipe)
		if err != nil {
			return names, err
		}
		for _, l := range []*parse.ListNode{n.List, n.ElseList} {
			if l != nil {
				ids, err := identifiers(l)
				if err != nil {
					return names, err
				}
				names = append(names, ids...)
			}
		}
		return names, nil
	case *parse.IfNode:
		return identifiers(&n.BranchNode)
	case *parse.RangeNode:
		return identifiers(&n.BranchNode)
	case *parse.WithNode:
		return identifiers(&n.BranchNode)
	case *parse.PipeNode:
		var names []string
		for _, c := range n.Cmds {
			for _, a := range c.Args {
				ids, err := identifiers(a)
				if err != nil {
					return names, err
				}
				names = append(names, ids...)
			}
		}
		return names, nil
	case *parse.FieldNode:
		return n.Ident, nil
	case *parse.VariableNode:
		return n.Ident, nil
	}
	return nil, nil
}

// cutAtResponse removes everything after the first field node containing "Response" (document
// order, looking into action pipelines and if/range/with bodies, not their pipelines). Like
// Ollama's deleteNode it panics when such a field sits in a branch body that has an else.
func cutAtResponse(root parse.Node) parse.Node {
	cut := false
	pred := func(n parse.Node) bool {
		if f, ok := n.(*parse.FieldNode); ok && contains(f.Ident, "Response") {
			cut = true
			return false
		}
		return cut
	}
	var walk func(n parse.Node) parse.Node
	walk = func(n parse.Node) parse.Node {
		if pred(n) {
			return nil
		}
		switch t := n.(type) {
		case *parse.ListNode:
			var kept []parse.Node
			for _, c := range t.Nodes {
				if r := walk(c); r != nil {
					kept = append(kept, r)
				}
			}
			t.Nodes = kept
			return t
		case *parse.IfNode:
			t.BranchNode = *walk(&t.BranchNode).(*parse.BranchNode)
		case *parse.WithNode:
			t.BranchNode = *walk(&t.BranchNode).(*parse.BranchNode)
		case *parse.RangeNode:
			t.BranchNode = *walk(&t.BranchNode).(*parse.BranchNode)
		case *parse.BranchNode:
			t.List = walk(t.List).(*parse.ListNode)
			if t.ElseList != nil {
				t.ElseList = walk(t.ElseList).(*parse.ListNode)
			}
		case *parse.ActionNode:
			p := walk(t.Pipe)
			if p == nil {
				return nil
			}
			t.Pipe = p.(*parse.PipeNode)
		case *parse.PipeNode:
			var cmds []*parse.CommandNode
			for _, c := range t.Cmds {
				var args []parse.Node
				for _, a := range c.Args {
					if r := walk(a); r != nil {
						args = append(args, r)
					}
				}
				if len(args) == 0 {
					return nil
				}
				c.Args = args
				cmds = append(cmds, c)
			}
			if len(cmds) == 0 {
				return nil
			}
			t.Cmds = cmds
		}
		return n
	}
	return walk(root)
}

// ---------------------------------------------------------------------------------------------
// Execution (template.Execute) after server/prompt.go's image tagging.

type thinkValues struct {
	think      bool
	thinkLevel string
	isThinkSet bool
}

// prepared is what Execute needs from the collated messages, in the compat mode's types.
type prepared struct {
	system   string
	roles    []string // collated roles, for the legacy path
	contents []string // collated contents, for the legacy path
	messages any      // the value of .Messages
	tools    any      // the value of .Tools
}

func imageTag(content string, images []ImageData, counter *int) string {
	prefix := ""
	for range images {
		tag := fmt.Sprintf("[img-%d]", *counter)
		*counter++
		if !strings.Contains(content, "[img]") {
			prefix += tag
		} else {
			content = strings.Replace(content, "[img]", tag, 1)
		}
	}
	return prefix + content
}

func prepareCurrent(msgs []Message, tools Tools, v14 bool) prepared {
	n := 0
	for i := range msgs {
		msgs[i].Content = imageTag(msgs[i].Content, msgs[i].Images, &n)
	}
	var system []string
	var collated []*Message
	for i := range msgs {
		if msgs[i].Role == "system" {
			system = append(system, msgs[i].Content)
		}
		if len(collated) > 0 && collated[len(collated)-1].Role == msgs[i].Role && msgs[i].Role != "tool" {
			collated[len(collated)-1].Content += "\n\n" + msgs[i].Content
		} else {
			collated = append(collated, &msgs[i])
		}
	}
	p := prepared{system: strings.Join(system, "\n\n")}
	for _, m := range collated {
		p.roles = append(p.roles, m.Role)
		p.contents = append(p.contents, m.Content)
	}
	p.messages = convertMessagesForTemplate(collated)
	if v14 {
		p.tools = convertToolsForTemplateV14(tools)
	} else {
		p.tools = convertToolsForTemplate(tools)
	}
	return p
}

func prepareV13(msgs []Message13, tools Tools13) prepared {
	n := 0
	for i := range msgs {
		msgs[i].Content = imageTag(msgs[i].Content, msgs[i].Images, &n)
	}
	var system []string
	var collated []*Message13
	for i := range msgs {
		if msgs[i].Role == "system" {
			system = append(system, msgs[i].Content)
		}
		if len(collated) > 0 && collated[len(collated)-1].Role == msgs[i].Role && msgs[i].Role != "tool" {
			collated[len(collated)-1].Content += "\n\n" + msgs[i].Content
		} else {
			collated = append(collated, &msgs[i])
		}
	}
	p := prepared{system: strings.Join(system, "\n\n")}
	for _, m := range collated {
		p.roles = append(p.roles, m.Role)
		p.contents = append(p.contents, m.Content)
	}
	p.messages = collated
	p.tools = tools
	return p
}

func execute(t *ollamaTemplate, p prepared, prompt, suffix string, tv thinkValues) (string, error) {
	var w bytes.Buffer
	if prompt != "" && suffix != "" {
		err := t.Execute(&w, map[string]any{
			"Prompt":     prompt,
			"Suffix":     suffix,
			"Response":   "",
			"Think":      tv.think,
			"ThinkLevel": tv.thinkLevel,
			"IsThinkSet": tv.isThinkSet,
		})
		return w.String(), err
	}
	if contains(t.vars, "messages") {
		err := t.Execute(&w, map[string]any{
			"System":     p.system,
			"Messages":   p.messages,
			"Tools":      p.tools,
			"Response":   "",
			"Think":      tv.think,
			"ThinkLevel": tv.thinkLevel,
			"IsThinkSet": tv.isThinkSet,
		})
		return w.String(), err
	}

	// Legacy path: one execution per completed (system, prompt, response) turn.
	system, promptReg, response := "", "", ""
	data := func() map[string]any {
		return map[string]any{
			"System":     system,
			"Prompt":     promptReg,
			"Response":   response,
			"Think":      tv.think,
			"ThinkLevel": tv.thinkLevel,
			"IsThinkSet": tv.isThinkSet,
		}
	}
	flush := func() error {
		if err := t.Execute(&w, data()); err != nil {
			return err
		}
		system, promptReg, response = "", "", ""
		return nil
	}
	for i, role := range p.roles {
		content := p.contents[i]
		switch role {
		case "system":
			if promptReg != "" || response != "" {
				if err := flush(); err != nil {
					return w.String(), err
				}
			}
			system = content
		case "user":
			if response != "" {
				if err := flush(); err != nil {
					return w.String(), err
				}
			}
			promptReg = content
		case "assistant":
			response = content
		}
	}
	// The last turn runs a copy cut after .Response, in a fresh template without the FuncMap.
	nodes := cutAtResponse(t.Tree.Root.Copy())
	tree := parse.Tree{Root: nodes.(*parse.ListNode)}
	last := template.Must(template.New("").AddParseTree("", &tree))
	err := last.Execute(&w, data())
	return w.String(), err
}

// ---------------------------------------------------------------------------------------------
// Request decoding and the command.

type caseIn struct {
	Template string          `json:"template"`
	Messages json.RawMessage `json:"messages"`
	Tools    json.RawMessage `json:"tools"`
	Think    json.RawMessage `json:"think"`
	Prompt   string          `json:"prompt"`
	Suffix   string          `json:"suffix"`
	Compat   string          `json:"compat"`
	Today    string          `json:"today"`
}

type caseOut struct {
	Output *string `json:"output,omitempty"`
	Error  *string `json:"error,omitempty"`
	Stage  string  `json:"stage,omitempty"`
}

func fail(stage string, err error) caseOut {
	s := err.Error()
	return caseOut{Error: &s, Stage: stage}
}

func decodeThink(raw json.RawMessage, compat string) (thinkValues, error) {
	if len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return thinkValues{}, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		tv := thinkValues{think: b, isThinkSet: true}
		if b {
			tv.thinkLevel = "medium"
		}
		return tv, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		ok := s == "high" || s == "medium" || s == "low" || (s == "max" && compat != "v0.13")
		if !ok {
			return thinkValues{}, fmt.Errorf("invalid think value: %q", s)
		}
		return thinkValues{think: true, thinkLevel: s, isThinkSet: true}, nil
	}
	return thinkValues{}, errors.New("think must be a boolean or string")
}

func decodeInto(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, v)
}

func renderCase(c caseIn) (out caseOut) {
	stage := "request"
	defer func() {
		if r := recover(); r != nil {
			out = fail(stage, fmt.Errorf("panic: %v", r))
		}
	}()

	compat := c.Compat
	if compat == "" {
		compat = "current"
	}
	today := time.Now()
	if c.Today != "" {
		d, err := time.ParseInLocation("2006-01-02", c.Today, time.Local)
		if err != nil {
			return fail(stage, err)
		}
		today = d
	}
	tv, err := decodeThink(c.Think, compat)
	if err != nil {
		return fail(stage, err)
	}

	var p prepared
	switch compat {
	case "current", "v0.14":
		var msgs []Message
		var tools Tools
		if err := decodeInto(c.Messages, &msgs); err != nil {
			return fail(stage, err)
		}
		if err := decodeInto(c.Tools, &tools); err != nil {
			return fail(stage, err)
		}
		p = prepareCurrent(msgs, tools, compat == "v0.14")
	case "v0.13":
		var msgs []Message13
		var tools Tools13
		if err := decodeInto(c.Messages, &msgs); err != nil {
			return fail(stage, err)
		}
		if err := decodeInto(c.Tools, &tools); err != nil {
			return fail(stage, err)
		}
		p = prepareV13(msgs, tools)
	default:
		return fail(stage, fmt.Errorf("unknown compat %q", compat))
	}

	stage = "parse"
	t, err := parseTemplate(c.Template, funcMap(today))
	if err != nil {
		return fail(stage, err)
	}
	stage = "execute"
	s, err := execute(t, p, c.Prompt, c.Suffix, tv)
	if err != nil {
		return fail(stage, err)
	}
	return caseOut{Output: &s}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-version" {
		fmt.Println(runtime.Version())
		return
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	in = bytes.TrimSpace(in)
	enc := json.NewEncoder(os.Stdout)
	if len(in) > 0 && in[0] == '[' {
		var cases []caseIn
		if err := json.Unmarshal(in, &cases); err != nil {
			fmt.Fprintln(os.Stderr, "bad input:", err)
			os.Exit(2)
		}
		outs := make([]caseOut, len(cases))
		for i, c := range cases {
			outs[i] = renderCase(c)
		}
		if err := enc.Encode(outs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		return
	}
	var c caseIn
	if err := json.Unmarshal(in, &c); err != nil {
		fmt.Fprintln(os.Stderr, "bad input:", err)
		os.Exit(2)
	}
	if err := enc.Encode(renderCase(c)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
