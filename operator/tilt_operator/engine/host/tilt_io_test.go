package main

import "testing"

// Tilt's io tests: read_file.
func TestTiltIO(t *testing.T) {
	withAssert := func(files map[string]string) map[string]string {
		files["assert.tilt"] = assertTilt
		return files
	}
	runCases(t, []tiltCase{
		{
			name: "TestReadFile",
			files: withAssert(map[string]string{
				"foo.txt":  "foo",
				"Tiltfile": "s = read_file('foo.txt')\nload('assert.tilt', 'assert')\nassert.equals('foo', str(s))\n",
			}),
			check: depends("foo.txt"),
		},
		{
			name: "TestReadFileDefault",
			files: withAssert(map[string]string{
				"Tiltfile": "s = read_file('dne.txt', 'foo')\nload('assert.tilt', 'assert')\nassert.equals('foo', str(s))\n",
			}),
			check: depends("dne.txt"),
		},
		{
			name: "TestReadFileDefaultEmptyString",
			files: withAssert(map[string]string{
				"Tiltfile": "s = read_file('dne.txt', '')\nload('assert.tilt', 'assert')\nassert.equals('', str(s))\n",
			}),
		},
		{
			name:  "TestReadFileInvalidDefaultFileExists",
			files: map[string]string{"foo.txt": "foo", "Tiltfile": "s = read_file('foo.txt', 5)\n"},
			error: "parameter default: expected starlark.String or None, got starlark.Int",
		},
		{
			name:  "TestReadFileMissing",
			files: map[string]string{"Tiltfile": "s = read_file('dne.txt')\n"},
			error: "open {root}/dne.txt: no such file or directory",
		},
	})
}
