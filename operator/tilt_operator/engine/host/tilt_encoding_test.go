package main

import (
	"strings"
	"testing"
)

// compare is a Tiltfile tail that fails the run, saying both, unless expected == observed.
const compare = `
def test():
    if expected != observed:
        print('expected: %s' % (expected))
        print('observed: %s' % (observed))
        fail()

test()
`

// Tilt's encoding tests: JSON.
func TestTiltEncodingJSON(t *testing.T) {
	decodeJSONCase := func(name, argument string) tiltCase {
		return tiltCase{
			name: name,
			files: map[string]string{"Tiltfile": "observed = decode_json(" + argument + ")\n" +
				"expected = ['foo', {'baz': ['bar', '', 1, 2]}]\n" + compare},
		}
	}
	runCases(t, []tiltCase{
		{
			name: "TestReadJSON",
			files: map[string]string{
				"options.json": `{"key1": "foo", "key2": {"key3": "bar", "key4": true}, "key5": 3}`,
				"Tiltfile": "result = read_json('options.json')\n" +
					"expected = {'key1': 'foo', 'key2': {'key3': 'bar', 'key4': True}, 'key5': 3}\n" +
					"observed = result\n" + compare,
			},
			check: depends("options.json"),
		},
		{
			name:  "TestJSONDoesNotExist",
			files: map[string]string{"Tiltfile": "result = read_json('dne.json')\n"},
			error: "{root}/dne.json: no such file or directory",
			check: depends("dne.json"),
		},
		{
			name: "TestMalformedJSON",
			files: map[string]string{
				"options.json": `["foo", {"baz":["bar", "", 1, 2]}`,
				"Tiltfile":     "result = read_json('options.json')\n",
			},
			error: "error parsing JSON from {root}/options.json: unexpected EOF",
			check: depends("options.json"),
		},
		decodeJSONCase("TestDecodeJSON/blob:_false", `'["foo", {"baz":["bar", "", 1, 2]}]'`),
		decodeJSONCase("TestDecodeJSON/blob:_true", `blob('["foo", {"baz":["bar", "", 1, 2]}]')`),
		{
			name: "TestEncodeJSON",
			files: map[string]string{"Tiltfile": "expected = '''[\n  \"foo\",\n  {\n    \"baz\": [\n      \"bar\",\n" +
				"      \"\",\n      1,\n      2\n    ]\n  }\n]\n'''\n" +
				"observed = encode_json(['foo', {'baz': ['bar', '', 1, 2]}])\n" + compare},
		},
		{
			name:  "TestEncodeJSONNonStringMapKey",
			files: map[string]string{"Tiltfile": "encode_json({1: 'hello'})\n"},
			error: "only string keys are supported in maps. found key '1' of type int64",
		},
		{
			name:  "TestEncodeJSONNonJSONable",
			files: map[string]string{"Tiltfile": "encode_json(blob('hello'))\n"},
			error: "unsupported type io.Blob",
		},
		{
			name: "TestDecodeJSONIntFloat",
			files: map[string]string{"Tiltfile": `x = decode_json('{"int":42,"float":3.14,"intfloat":3.0}')
print(repr(x["int"]), repr(x["float"]), repr(x["intfloat"]))
`},
			output: "42 3.14 3.0\n",
		},
		{
			name: "TestDecodeInvalidJSONMultipleValues",
			files: map[string]string{
				"stream.json": "{\"a\":1,\"b\":2}\n{\"a\":2,\"b\":3}",
				"Tiltfile":    "read_json('stream.json')\n",
			},
			error: "multiple JSON values",
		},
	})
}

// yamlStream and yamlStreamAsStarlark are one stream of two documents, and what it decodes to.
const yamlStream = `- foo
- baz:
  - bar
  - ""
  - 1
  - 2
---
quu:
- qux
- a:
  - 3
`

const yamlStreamAsStarlark = `[['foo', {'baz': ['bar', '', 1, 2]}], {'quu': ['qux', {'a': [3]}]}]`

// Tilt's encoding tests: YAML.
func TestTiltEncodingYAML(t *testing.T) {
	withAssert := func(files map[string]string) map[string]string {
		files["assert.tilt"] = assertTilt
		return files
	}
	decodeYAMLCase := func(name, argument string) tiltCase {
		return tiltCase{
			name: name,
			files: withAssert(map[string]string{"Tiltfile": "observed = decode_yaml(" + argument + ")\n" +
				"load('assert.tilt', 'assert')\nassert.equals(['foo', {'baz': ['bar', '', 1, 2]}], observed)\n"}),
		}
	}
	runCases(t, []tiltCase{
		{
			name: "TestReadYAML",
			files: withAssert(map[string]string{
				"options.yaml": "\nkey1: foo\nkey2:\n    key3: \"bar\"\n    key4: true\nkey5: 3\n",
				"Tiltfile": "observed = read_yaml('options.yaml')\nload('assert.tilt', 'assert')\n" +
					"assert.equals({'key1': 'foo', 'key2': {'key3': 'bar', 'key4': True}, 'key5': 3}, observed)\n",
			}),
			check: depends("options.yaml"),
		},
		{
			name: "TestReadYAMLDefaultValue",
			files: withAssert(map[string]string{
				"Tiltfile": "result = read_yaml('dne.yaml', 'hello')\nload('assert.tilt', 'assert')\nassert.equals('hello', result)\n",
			}),
		},
		{
			name: "TestReadYAMLStreamDefaultValue",
			files: withAssert(map[string]string{
				"Tiltfile": "result = read_yaml_stream('dne.yaml', ['hello', 'goodbye'])\nload('assert.tilt', 'assert')\n" +
					"assert.equals(['hello', 'goodbye'], result)\n",
			}),
		},
		{
			name:  "TestYAMLDoesNotExist",
			files: map[string]string{"Tiltfile": "result = read_yaml('dne.yaml')\n"},
			error: "{root}/dne.yaml: no such file or directory",
			check: depends("dne.yaml"),
		},
		{
			name: "TestMalformedYAML",
			files: map[string]string{
				"options.yaml": "\nkey1: foo\nkey2:\n    key3: \"bar\n    key4: true\nkey5: 3\n",
				"Tiltfile":     "result = read_yaml('options.yaml')\n",
			},
			error: "error parsing YAML from options.yaml: error converting YAML to JSON: yaml: line 7: found unexpected end of stream",
			check: depends("options.yaml"),
		},
		decodeYAMLCase("TestDecodeYAMLDocument/blob:_false", `'- "foo"\n- baz:\n  - "bar"\n  - ""\n  - 1\n  - 2'`),
		decodeYAMLCase("TestDecodeYAMLDocument/blob:_true", `blob('- "foo"\n- baz:\n  - "bar"\n  - ""\n  - 1\n  - 2')`),
		{
			name: "TestDecodeYAMLEmptyString",
			files: withAssert(map[string]string{
				"Tiltfile": "observed = decode_yaml('')\nload('assert.tilt', 'assert')\nassert.equals(None, observed)\n",
			}),
		},
		{
			name: "TestReadYAMLStream",
			files: map[string]string{
				"test.yaml": yamlStream,
				"Tiltfile":  "observed = read_yaml_stream('test.yaml')\nexpected = " + yamlStreamAsStarlark + "\n" + compare,
			},
		},
		{
			name:  "TestReadYAMLUnexpectedStream",
			files: map[string]string{"test.yaml": yamlStream, "Tiltfile": "observed = read_yaml('test.yaml')\n"},
			error: "expected a yaml document but found a yaml stream",
		},
		{
			name: "TestDecodeYAMLStream",
			files: withAssert(map[string]string{
				"Tiltfile": "observed = decode_yaml_stream('''" + yamlStream + "''')\nload('assert.tilt', 'assert')\n" +
					"assert.equals(" + yamlStreamAsStarlark + ", observed)\n",
			}),
		},
		{
			name: "TestDecodeYAMLStreamEmptyEntries",
			files: withAssert(map[string]string{
				"Tiltfile": "observed = decode_yaml_stream('''name: hello\n---\n\n---\nname: goodbye\n---\n\n---''')\n" +
					"load('assert.tilt', 'assert')\nassert.equals(['hello', 'goodbye'], [r['name'] for r in observed])\n",
			}),
		},
		{
			name:  "TestDecodeYAMLUnexpectedStream",
			files: map[string]string{"Tiltfile": "observed = decode_yaml('''" + yamlStream + "''')\n"},
			error: "expected a yaml document but found a yaml stream",
		},
		{
			name: "TestEncodeYAML",
			files: withAssert(map[string]string{
				"Tiltfile": "expected = '''key1: foo\nkey2:\n  key3: bar\n  key4: true\nkey5: 3\nkey6:\n- foo\n- 7\nkey7: []\n'''\n" +
					"observed = encode_yaml({'key1': 'foo', 'key2': {'key3': 'bar', 'key4': True}, 'key5': 3, " +
					"'key6': ['foo', 7], 'key7': []})\n" +
					"load('assert.tilt', 'assert')\nassert.equals(expected, str(observed))\n",
			}),
		},
		{
			name: "TestEncodeYAMLStream",
			files: withAssert(map[string]string{
				"Tiltfile": "expected = '''" + yamlStream + "'''\nobserved = encode_yaml_stream(" + yamlStreamAsStarlark + ")\n" +
					"load('assert.tilt', 'assert')\nassert.equals(expected, str(observed))\n",
			}),
		},
		{
			name:  "TestEncodeYAMLNonStringMapKey",
			files: map[string]string{"Tiltfile": "encode_yaml({1: 'hello'})\n"},
			error: "only string keys are supported in maps. found key '1' of type int64",
		},
		{
			name:  "TestEncodeYAMLNonYAMLable",
			files: map[string]string{"Tiltfile": "encode_yaml(blob('hello'))\n"},
			error: "unsupported type io.Blob",
		},
		{
			name: "TestDecodeYAMLIntFloat",
			files: map[string]string{"Tiltfile": strings.Join([]string{
				"x = decode_yaml('''---\nint: 42\nfloat: 3.14\n''')",
				"print(repr(x['int']), repr(x['float']))",
			}, "\n") + "\n"},
			output: "42 3.14\n",
		},
	})
}
