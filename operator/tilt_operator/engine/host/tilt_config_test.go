package main

import (
	"fmt"
	"strings"
	"testing"
)

// resourceSelection is why Tilt's tests of enabled resources do not run here.
const resourceSelection = "Tilt's engine: which resources Tilt enables is its engine's state; here every " +
	"resource of a Tiltfile runs, and set_enabled_resources() only says so in the log"

// Tilt's config tests.
func TestTiltConfig(t *testing.T) {
	countries := strings.Fields("united states canada mexico panama haiti jamaica peru")
	keywords := strings.Fields("republic dominican cuba caribbean greenland el salvador too")
	var keywordArgs []string
	for _, word := range keywords {
		keywordArgs = append(keywordArgs, "--foo", word)
	}
	cases := []tiltCase{}
	for _, name := range []string{
		"neither", "neither, with config.parse", "args only", "args only, with config.parse", "tiltfile only",
		"tiltfile only, with config.parse", "both", "both, with config.parse",
	} {
		cases = append(cases, tiltCase{name: "TestSetResources/" + strings.ReplaceAll(name, " ", "_"), skip: resourceSelection})
	}
	cases = append(cases, []tiltCase{
		{name: "TestClearEnabledResources", skip: resourceSelection},
		{
			name:    "TestClearEnabledResourcesWithArgs",
			files:   map[string]string{"Tiltfile": "config.clear_enabled_resources('foo')\n"},
			options: runOptions{args: countries},
			error:   "got 1 arguments, want at most 0",
		},
		{
			name:    "TestParsePositional",
			files:   map[string]string{"Tiltfile": "config.define_string_list('foo', args=True)\ncfg = config.parse()\nprint(cfg['foo'])\n"},
			options: runOptions{args: countries},
			printed: []string{starlarkList(countries)},
		},
		{
			name:    "TestParseKeyword",
			files:   map[string]string{"Tiltfile": "config.define_string_list('foo')\ncfg = config.parse()\nprint(cfg['foo'])\n"},
			options: runOptions{args: keywordArgs},
			printed: []string{starlarkList(keywords)},
		},
		{
			name: "TestParsePositionalAndMultipleInterspersedKeyword",
			files: map[string]string{"Tiltfile": "config.define_string_list('foo', args=True)\n" +
				"config.define_string_list('bar')\nconfig.define_string_list('baz')\ncfg = config.parse()\n" +
				"print('foo:', cfg['foo'])\nprint('bar:', cfg['bar'])\nprint('baz:', cfg['baz'])\n"},
			options: runOptions{args: []string{"--bar", "puerto rico", "--baz", "colombia", "--bar", "venezuela",
				"--baz", "honduras", "--baz", "guyana", "and", "still"}},
			printed: []string{`foo: ["and", "still"]`, `bar: ["puerto rico", "venezuela"]`, `baz: ["colombia", "honduras", "guyana"]`},
		},
		{
			name: "TestParseKeywordAfterPositional",
			files: map[string]string{"Tiltfile": "config.define_string_list('foo', args=True)\nconfig.define_string('bar')\n" +
				"cfg = config.parse()\nprint('foo:', cfg['foo'])\nprint('bar:', cfg['bar'])\n"},
			options: runOptions{args: []string{"--bar", "puerto rico", "colombia"}},
			printed: []string{`foo: ["colombia"]`, `bar: puerto rico`},
		},
		{
			name:    "TestMultiplePositionalDefs",
			files:   map[string]string{"Tiltfile": "config.define_string_list('foo', args=True)\nconfig.define_string_list('bar', args=True)\n"},
			message: "both bar and foo are defined as positional args",
		},
		{
			name:    "TestMultipleArgsSameName",
			files:   map[string]string{"Tiltfile": "config.define_string_list('foo')\nconfig.define_string_list('foo')\n"},
			message: "foo defined multiple times",
		},
		{
			name:    "TestUndefinedArg",
			files:   map[string]string{"Tiltfile": "config.define_string_list('foo')\nconfig.parse()\n"},
			options: runOptions{args: []string{"--bar", "hello"}},
			message: "invalid Tiltfile config args: unknown flag: --bar\nUsage:\n      --foo list[string]   \n",
		},
		{
			name:  "TestUnprovidedArg",
			files: map[string]string{"Tiltfile": "config.define_string_list('foo')\ncfg = config.parse()\nprint('foo:',cfg['foo'])\n"},
			error: `key "foo" not in dict`,
		},
		{
			name:  "TestUnprovidedPositionalArg",
			files: map[string]string{"Tiltfile": "config.define_string_list('foo', args=True)\ncfg = config.parse()\nprint('foo:',cfg['foo'])\n"},
			error: `key "foo" not in dict`,
		},
		{
			name:    "TestProvidedButUnexpectedPositionalArgs",
			files:   map[string]string{"Tiltfile": "cfg = config.parse()\n"},
			options: runOptions{args: []string{"do", "re", "mi"}},
			message: "invalid Tiltfile config args: positional CLI args (\"do re mi\") were specified, but none were expected.\n" +
				"See https://docs.tilt.dev/tiltfile_config.html#positional-arguments for examples.",
		},
		{
			name:    "TestUsage",
			files:   map[string]string{"Tiltfile": "config.define_string_list('foo', usage='what can I foo for you today?')\nconfig.parse()\n"},
			options: runOptions{args: []string{"--bar", "hello"}},
			message: "invalid Tiltfile config args: unknown flag: --bar\nUsage:\n" +
				"      --foo list[string]   what can I foo for you today?\n",
		},
		{name: "TestDefaultTiltBehavior", skip: resourceSelection},
	}...)
	for _, c := range []struct {
		name     string
		args     []string
		config   string
		expected map[string]string
	}{
		{"args only", []string{"--a", "1", "--a", "2", "--b", "3", "--a", "4", "5", "6"}, "",
			map[string]string{"a": `["1", "2", "4"]`, "b": `["3"]`, "c": `["5", "6"]`}},
		{"config only", nil, `{"b": ["7", "8"], "c": ["9"]}`,
			map[string]string{"b": `["7", "8"]`, "c": `["9"]`}},
		{"args trump config", []string{"--a", "1", "--a", "2", "--a", "4", "5", "6"}, `{"b": ["7", "8"], "c": ["9"]}`,
			map[string]string{"a": `["1", "2", "4"]`, "b": `["7", "8"]`, "c": `["5", "6"]`}},
	} {
		files := map[string]string{"Tiltfile": "config.define_string_list('a')\nconfig.define_string_list('b')\n" +
			"config.define_string_list('c', args=True)\ncfg = config.parse()\n" +
			"print('a=', cfg.get('a', 'missing'))\nprint('b=', cfg.get('b', 'missing'))\nprint('c=', cfg.get('c', 'missing'))\n"}
		if c.config != "" {
			files["tilt_config.json"] = c.config
		}
		var printed []string
		for _, setting := range []string{"a", "b", "c"} {
			value, ok := c.expected[setting]
			if !ok {
				value = "missing"
			}
			printed = append(printed, setting+"= "+value)
		}
		cases = append(cases, tiltCase{
			name: "TestSettingsFromConfigAndArgs/" + strings.ReplaceAll(c.name, " ", "_"), files: files,
			options: runOptions{args: c.args}, printed: printed,
		})
	}
	readsFoo := "config.define_string_list('foo')\ncfg = config.parse()\nprint('foo:',cfg.get('foo', []))\n"
	cases = append(cases, []tiltCase{
		{
			name:  "TestUndefinedArgInConfigFile",
			files: map[string]string{"Tiltfile": readsFoo, "tilt_config.json": `{"bar": "1"}`},
			error: "specified unknown setting name 'bar'",
		},
		{
			name:  "TestWrongTypeArgInConfigFile",
			files: map[string]string{"Tiltfile": readsFoo, "tilt_config.json": `{"foo": "1"}`},
			error: "specified invalid value for setting foo: expected array",
		},
		{
			name: "TestConfigParseFromMultipleDirs",
			files: map[string]string{
				"Tiltfile":     "config.define_string_list('foo')\ncfg = config.parse()\ninclude('inc/Tiltfile')\n",
				"inc/Tiltfile": "cfg = config.parse()\n",
			},
			error: "config.parse can only be called from one Tiltfile working directory per run. " +
				"It was called from {root} and {root}/inc",
		},
		{
			name:  "TestDefineSettingAfterParse",
			files: map[string]string{"Tiltfile": "cfg = config.parse()\nconfig.define_string_list('foo')\n"},
			error: "config.define_string_list cannot be called after config.parse is called",
		},
		{
			name:  "TestConfigFileRecordedRead",
			files: map[string]string{"Tiltfile": "cfg = config.parse()\n"},
			check: depends("tilt_config.json"),
		},
		{
			name: "TestSubCommand",
			skip: "differs on purpose: Tilt says the subcommand it was started with; the operator runs " +
				"every Tiltfile as `tilt up` does, so config.tilt_subcommand is always up",
		},
		{
			name: "TestTiltfilePath",
			files: map[string]string{
				"foo/Tiltfile": "print(config.main_path)\n",
				"Tiltfile":     "include('./foo/Tiltfile')\nprint(config.main_path)\n",
			},
			output: "{root}/Tiltfile\n{root}/Tiltfile\n",
		},
		{
			name: "TestTiltfileDir",
			files: map[string]string{
				"foo/Tiltfile": "print(config.main_dir)\n",
				"Tiltfile":     "include('./foo/Tiltfile')\nprint(config.main_dir)\n",
			},
			output: "{root}\n{root}\n",
		},
	}...)
	for _, c := range []struct {
		name, define, config, expected, error string
		args                                  []string
	}{
		{name: "string_list from args", define: "config.define_string_list('foo')", args: []string{"--foo", "1", "--foo", "2"}, expected: "['1', '2']"},
		{name: "string_list from config", define: "config.define_string_list('foo')", config: `{"foo": ["1", "2"]}`, expected: "['1', '2']"},
		{name: "invalid string_list from config", define: "config.define_string_list('foo')", config: `{"foo": [1, 2]}`, error: "expected string, got float64"},
		{name: "string from args", define: "config.define_string('foo')", args: []string{"--foo", "bar"}, expected: "'bar'"},
		{name: "string from config", define: "config.define_string('foo')", config: `{"foo": "bar"}`, expected: "'bar'"},
		{name: "string defined multiple times", define: "config.define_string('foo')", args: []string{"--foo", "bar", "--foo", "baz"}, error: "string settings can only be specified once"},
		{name: "invalid string from config", define: "config.define_string('foo')", config: `{"foo": 5}`, error: "expected string, found float64"},
		{name: "bool from args w/ implicit value", define: "config.define_bool('foo')", args: []string{"--foo"}, expected: "True"},
		{name: "bool from config", define: "config.define_bool('foo')", config: `{"foo": true}`, expected: "True"},
		{name: "bool defined multiple times", define: "config.define_bool('foo')", args: []string{"--foo", "--foo"}, error: "bool settings can only be specified once"},
		{name: "invalid bool from config", define: "config.define_bool('foo')", config: `{"foo": 5}`, error: "expected bool, found float64"},
		{name: "obj from args", define: "config.define_object('foo')", args: []string{"--foo", `["a", "b", "c"]`}, expected: `["a", "b", "c"]`},
		{name: "obj from config", define: "config.define_object('foo')", config: `{"foo": ["a", "b", "c"]}`, expected: `["a", "b", "c"]`},
	} {
		source := c.define + "\ncfg = config.parse()\n"
		if c.expected != "" {
			source += "observed = cfg['foo']\nexpected = " + c.expected + "\n" + compare
		}
		files := map[string]string{"Tiltfile": source}
		if c.config != "" {
			files["tilt_config.json"] = c.config
		}
		cases = append(cases, tiltCase{
			name: "TestTypes/" + strings.ReplaceAll(c.name, " ", "_"), files: files,
			options: runOptions{args: c.args}, error: c.error,
		})
	}
	runCases(t, cases)
}

// starlarkList is how Starlark prints a list of strings.
func starlarkList(items []string) string {
	quoted := make([]string, len(items))
	for i, item := range items {
		quoted[i] = fmt.Sprintf("%q", item)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
