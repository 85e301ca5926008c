package main

// JSON Lines on stdout, exactly as peers/CONTRACT.md says: one object per line, keys
// in a stable order, written with one unbuffered write per line; the result is the
// last line, whatever the library still reports after it.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	amqp "github.com/Azure/go-amqp"
)

// field is one key of an ordered JSON object.
type field struct {
	key   string
	value any
}

// obj is a JSON object whose keys keep their order.
type obj []field

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteString(": ")
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// perMessage are the events --quiet leaves out.
var perMessage = map[string]bool{"sent": true, "accepted": true, "message": true, "settled": true, "sendable": true}

type output struct {
	mu       sync.Mutex
	quiet    bool
	finished bool
}

func (o *output) write(line obj) {
	data, err := json.Marshal(line)
	if err != nil {
		data, _ = json.Marshal(obj{{"kind", "event"}, {"name", "encoding_error"}, {"error", err.Error()}})
	}
	data = append(data, '\n')
	for len(data) > 0 {
		n, err := os.Stdout.Write(data)
		if err != nil {
			os.Exit(1) // stdout is gone: nobody reads the contract lines any more
		}
		data = data[n:]
	}
}

// line writes one object unless the result line is already out.
func (o *output) line(line obj) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.finished {
		o.write(line)
	}
}

func (o *output) event(name string, fields ...field) {
	if o.quiet && perMessage[name] {
		return
	}
	o.line(append(obj{{"kind", "event"}, {"name", name}}, fields...))
}

// last writes the timeout line (when waitingFor is set) and the result, then no more lines.
func (o *output) last(waitingFor string, result obj) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.finished {
		return
	}
	if waitingFor != "" {
		o.write(obj{{"kind", "timeout"}, {"waiting_for", waitingFor}})
	}
	o.write(append(obj{{"kind", "result"}}, result...))
	o.finished = true
}

func oneLine(text string) string {
	return strings.Join(strings.Fields(text), " ")
}

func stderr(format string, a ...any) {
	fmt.Fprintln(os.Stderr, oneLine(fmt.Sprintf(format, a...)))
}

// jsonValue maps a decoded AMQP value to JSON the contract's way: binary as hex, uuid as
// its string form, maps as objects with string keys.
func jsonValue(v any) any {
	switch x := v.(type) {
	case nil, bool, string, float32:
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return x
	case []byte:
		return hex.EncodeToString(x)
	case amqp.UUID:
		return x.String()
	case amqp.Symbol:
		return string(x)
	case time.Time:
		return x.UnixMilli()
	case map[any]any:
		keys := make([]string, 0, len(x))
		byKey := make(map[string]any, len(x))
		for k, val := range x {
			key := fmt.Sprint(jsonValue(k))
			keys = append(keys, key)
			byKey[key] = jsonValue(val)
		}
		sort.Strings(keys)
		out := make(obj, 0, len(keys))
		for _, k := range keys {
			out = append(out, field{k, byKey[k]})
		}
		return out
	case map[string]any:
		m := make(map[any]any, len(x))
		for k, val := range x {
			m[k] = val
		}
		return jsonValue(m)
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = jsonValue(val)
		}
		return out
	case *string:
		if x == nil {
			return nil
		}
		return *x
	default:
		return fmt.Sprint(x)
	}
}

// body is a message's body as JSON: an amqp-value as its value, data sections as hex.
func body(m *amqp.Message) any {
	switch {
	case m.Value != nil:
		return jsonValue(m.Value)
	case len(m.Data) == 1:
		return jsonValue(m.Data[0])
	case len(m.Data) > 1:
		parts := make([]any, len(m.Data))
		for i, d := range m.Data {
			parts[i] = jsonValue(d)
		}
		return parts
	case m.Sequence != nil:
		return jsonValue(m.Sequence)
	}
	return nil
}

// bodyText is a request body as text, for upper-casing.
func bodyText(m *amqp.Message) string {
	if s, ok := m.Value.(string); ok {
		return s
	}
	if len(m.Data) > 0 {
		return string(bytes.Join(m.Data, nil))
	}
	return fmt.Sprint(body(m))
}

// messageID is the message's id (nil when it has none).
func messageID(m *amqp.Message) any {
	if m.Properties == nil {
		return nil
	}
	return m.Properties.MessageID
}

// messageFields are a message event's fields: id, body, and reply_to, correlation_id, to when set.
func messageFields(m *amqp.Message) obj {
	f := obj{{"id", jsonValue(messageID(m))}, {"body", body(m)}}
	if p := m.Properties; p != nil {
		if p.ReplyTo != nil {
			f = append(f, field{"reply_to", *p.ReplyTo})
		}
		if p.CorrelationID != nil {
			f = append(f, field{"correlation_id", jsonValue(p.CorrelationID)})
		}
		if p.To != nil {
			f = append(f, field{"to", *p.To})
		}
	}
	return f
}
