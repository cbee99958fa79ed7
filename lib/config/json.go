package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// member is one key of a JSON object, in file order.
type member struct {
	Key   string
	Value json.RawMessage
}

// objectMembers decodes a JSON object keeping its key order. A duplicate
// key is an error (encoding/json would silently keep the last one).
func objectMembers(data []byte) ([]member, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, jsonErr(err)
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("want a JSON object, found %s", describe(tok))
	}
	var out []member
	seen := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, jsonErr(err)
		}
		key := tok.(string)
		if seen[key] {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, jsonErr(err)
		}
		out = append(out, member{key, v})
	}
	if _, err := d.Token(); err != nil {
		return nil, jsonErr(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return out, nil
}

func jsonErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("unexpected end of JSON")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	return err
}

func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "a list"
		}
		return string(t)
	case string:
		return fmt.Sprintf("the string %q", t)
	case json.Number:
		return "the number " + t.String()
	case bool:
		return fmt.Sprint(t)
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

// kind names the JSON type of a raw value, for error messages.
func kind(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "nothing"
	}
	switch s[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func isString(raw json.RawMessage) (string, bool) {
	var s string
	if kind(raw) != "a string" || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// scalars decodes a JSON list of strings and numbers into their texts:
// 20140601 and "20140601" both give "20140601".
func scalars(raw json.RawMessage) ([]string, error) {
	if kind(raw) != "a list" {
		return nil, fmt.Errorf("want a list, found %s", kind(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, jsonErr(err)
	}
	out := make([]string, len(items))
	for i, it := range items {
		switch kind(it) {
		case "a string":
			s, _ := isString(it)
			out[i] = s
		case "a number":
			out[i] = strings.TrimSpace(string(it))
		default:
			return nil, fmt.Errorf("item %d is %s, want a string or a number", i+1, kind(it))
		}
	}
	return out, nil
}
