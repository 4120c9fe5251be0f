package main

import (
	"fmt"
	"strings"
	"unicode"
)

// echoLimit: how much of a value a message quotes before it is clipped (tilt_operator.messages).
const echoLimit = 200

// quoted is how messages quote what a user wrote, as the operator's Python does: 'main'.
func quoted(value any) string {
	var text string
	switch v := value.(type) {
	case string:
		text = pyRepr(v)
	case nil:
		text = "None"
	case bool:
		text = map[bool]string{true: "True", false: "False"}[v]
	default:
		text = fmt.Sprint(v)
	}
	if runes := []rune(text); len(runes) > echoLimit {
		return string(runes[:echoLimit-1]) + "…"
	}
	return text
}

// pyRepr quotes a string the way the operator's other messages do (Python's repr).
func pyRepr(s string) string {
	quote := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		quote = `"`
	}
	var b strings.Builder
	b.WriteString(quote)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case string(r) == quote:
			b.WriteString(`\` + quote)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case !unicode.IsPrint(r):
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString(quote)
	return b.String()
}
