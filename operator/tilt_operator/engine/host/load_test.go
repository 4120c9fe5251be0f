package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// extLoadRun runs dir/Tiltfile after writing files under dir, with the cluster's ExtensionRepos
// repos (their paths relative to dir), and returns what the run ended with and what it printed.
func extLoadRun(t *testing.T, files map[string]string, repos map[string]extRepo) (doneEvent, string) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cluster := map[string]extRepo{}
	for name, repo := range repos {
		if repo.Path != "" {
			repo.Path = filepath.Join(dir, repo.Path)
		}
		cluster[name] = repo
	}
	req := &request{Path: filepath.Join(dir, "Tiltfile"), Root: dir, ExtRepos: cluster}
	var printed strings.Builder
	emit := func(key string, value any) {
		if key == "print" {
			printed.WriteString(value.(string))
		}
	}
	return newRun(req, extLoadKinds(t), emit).execute(0), printed.String()
}

// extLoadKinds are the builtins of the project's CRDs.
func extLoadKinds(t *testing.T) *kindSet {
	t.Helper()
	paths, err := filepath.Glob("../../crds/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no CRDs: %v", err)
	}
	var documents []json.RawMessage
	for _, path := range paths {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var crd map[string]any
		if err := yaml.Unmarshal(text, &crd); err != nil {
			t.Fatal(err)
		}
		document, err := json.Marshal(crd)
		if err != nil {
			t.Fatal(err)
		}
		documents = append(documents, document)
	}
	kinds, err := newKindSet("test", documents)
	if err != nil {
		t.Fatal(err)
	}
	return kinds
}

func extLoadObject(t *testing.T, done doneEvent, kind, name string) map[string]any {
	t.Helper()
	for _, obj := range done.Objects {
		if obj["kind"] == kind && obj["metadata"].(map[string]any)["name"] == name {
			return obj
		}
	}
	t.Fatalf("no %s %s among %v", kind, name, done.Objects)
	return nil
}

func extLoadExpect(t *testing.T, got, want any, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %#v, want %#v", what, got, want)
	}
}

const extLoadSeedRecipe = `
v1alpha1.extension_repo(name='myrepo', url='https://example.com/myrepo')
v1alpha1.extension(name='myext', repo_name='myrepo', repo_path='myext')
print('before the load')
load('ext://myext', 'hello')
hello()
`

func TestAnExtensionTheRunRegisteredWinsOverDefault(t *testing.T) {
	done, printed := extLoadRun(t, map[string]string{
		"Tiltfile":                 extLoadSeedRecipe,
		"myrepo/myext/Tiltfile":    "def hello():\n    print('from myrepo')\n",
		"tilt-ext/myext/Tiltfile":  "def hello():\n    print('from default')\n",
		"tilt-ext/other/Tiltfile":  "x = 1\n",
		"unrelated/myext/Tiltfile": "fail('not this one')\n",
	}, map[string]extRepo{"default": {Path: "tilt-ext"}, "myrepo": {Path: "myrepo"}, "unrelated": {Path: "unrelated"}})

	extLoadExpect(t, done.Error, "", "error")
	extLoadExpect(t, printed, "before the load\nfrom myrepo\n", "output")
	ext := extLoadObject(t, done, "Extension", "myext")
	extLoadExpect(t, ext["spec"], map[string]any{"repoName": "myrepo", "repoPath": "myext"}, "spec")
	extLoadExpect(t, ext["metadata"].(map[string]any)["annotations"],
		map[string]any{"tilt.dev/managed-by": "tiltfile.loader"}, "annotations")
	repo := extLoadObject(t, done, "ExtensionRepo", "myrepo")
	if _, marked := repo["metadata"].(map[string]any)["annotations"]; marked {
		t.Fatal("only Extensions are the loader's")
	}
}

func TestALoadWhoseRepoIsNotReadyEndsTheRunWithWhatItRegistered(t *testing.T) {
	for what, repos := range map[string]map[string]extRepo{
		"not in the cluster": {},
		"not ready":          {"myrepo": {}},
	} {
		t.Run(what, func(t *testing.T) {
			done, printed := extLoadRun(t, map[string]string{"Tiltfile": extLoadSeedRecipe}, repos)

			extLoadExpect(t, done.Error, "", "error")
			if done.Waiting == nil || done.Waiting.Repo != "myrepo" {
				t.Fatalf("waiting: %#v", done.Waiting)
			}
			if !strings.Contains(done.Waiting.Message, "Tiltfile:5:1: cannot load ext://myext: ExtensionRepo 'myrepo' is not ready") {
				t.Fatalf("message: %q", done.Waiting.Message)
			}
			extLoadExpect(t, printed, "before the load\n", "output")
			extLoadExpect(t, len(done.Objects), 2, "objects")
			ext := extLoadObject(t, done, "Extension", "myext")
			extLoadExpect(t, ext["metadata"].(map[string]any)["annotations"],
				map[string]any{"tilt.dev/managed-by": "tiltfile.loader"}, "annotations")
		})
	}
}

func TestALoadHostRepoServesTheRestOfTheModule(t *testing.T) {
	done, printed := extLoadRun(t, map[string]string{
		"Tiltfile":                        "load('ext://custom/my-ext/subext', 'x')\nprint(x)\n",
		"ext-repo/my-ext/subext/Tiltfile": "x = 'sub ext'\n",
	}, map[string]extRepo{"custom": {LoadHost: "custom", Path: "ext-repo"}, "default": {Path: "nowhere"}})

	extLoadExpect(t, done.Error, "", "error")
	extLoadExpect(t, printed, "sub ext\n", "output")
	ext := extLoadObject(t, done, "Extension", "custom-my-ext-subext")
	extLoadExpect(t, ext["spec"], map[string]any{"repoName": "custom", "repoPath": "my-ext/subext"}, "spec")
	extLoadExpect(t, ext["metadata"].(map[string]any)["annotations"], map[string]any{
		"tilt.dev/managed-by": "tiltfile.loader",
		"tilt.dev/name":       "custom_my-ext_subext",
	}, "annotations")
}

func TestARepoTheRunRegisteredWinsTheLoadHostOverTheClusters(t *testing.T) {
	done, printed := extLoadRun(t, map[string]string{
		"Tiltfile":          "v1alpha1.extension_repo(name='mine', url='https://example.com/mine', load_host='team')\nload('ext://team/x', 'x')\nprint(x)\n",
		"mine/x/Tiltfile":   "x = 'mine'\n",
		"theirs/x/Tiltfile": "x = 'theirs'\n",
	}, map[string]extRepo{"aaa": {LoadHost: "team", Path: "theirs"}, "mine": {Path: "mine"}})

	extLoadExpect(t, done.Error, "", "error")
	extLoadExpect(t, printed, "mine\n", "output")
	extLoadExpect(t, extLoadObject(t, done, "Extension", "team-x")["spec"],
		map[string]any{"repoName": "mine", "repoPath": "x"}, "spec")
}

func TestWithoutALoadHostMatchTheWholeModuleIsAPathInDefault(t *testing.T) {
	done, printed := extLoadRun(t, map[string]string{
		"Tiltfile":                      "load('ext://nested/real', 'x')\nprint(x)\n",
		"tilt-ext/nested/real/Tiltfile": "x = 'real'\n",
	}, map[string]extRepo{"default": {Path: "tilt-ext"}, "other": {LoadHost: "other", Path: "other"}})

	extLoadExpect(t, done.Error, "", "error")
	extLoadExpect(t, printed, "real\n", "output")
	extLoadExpect(t, extLoadObject(t, done, "Extension", "nested-real")["spec"],
		map[string]any{"repoName": "default", "repoPath": "nested/real"}, "spec")
}

func TestAnExtensionLoadingAnotherRegistersBothAndARepeatedRegistrationIsTheSame(t *testing.T) {
	done, printed := extLoadRun(t, map[string]string{
		"Tiltfile": "load('ext://a', 'a')\n" +
			"v1alpha1.extension(name='a', repo_name='default', repo_path='a')\n" +
			"load('ext://a', 'a')\nprint(a)\n",
		"tilt-ext/a/Tiltfile": "load('ext://b', 'b')\na = 'a+' + b\n",
		"tilt-ext/b/Tiltfile": "b = 'b'\n",
	}, map[string]extRepo{"default": {Path: "tilt-ext"}})

	extLoadExpect(t, done.Error, "", "error")
	extLoadExpect(t, printed, "a+b\n", "output")
	extLoadExpect(t, len(done.Objects), 2, "objects")
	for _, name := range []string{"a", "b"} {
		ext := extLoadObject(t, done, "Extension", name)
		extLoadExpect(t, ext["spec"], map[string]any{"repoName": "default", "repoPath": name}, "spec of "+name)
	}
}

func TestAnExtensionCannotLeaveItsRepo(t *testing.T) {
	done, _ := extLoadRun(t, map[string]string{
		"Tiltfile":          "load('ext://../outside', 'x')\n",
		"outside/Tiltfile":  "x = 1\n",
		"tilt-ext/Tiltfile": "x = 2\n",
	}, map[string]extRepo{"default": {Path: "tilt-ext"}})

	if !strings.Contains(done.Error, "is outside") {
		t.Fatalf("error: %q", done.Error)
	}
}

func TestExtensionNamesAreSanitizedAsTiltDoes(t *testing.T) {
	for module, want := range map[string]string{
		"foo":         "foo",
		"nested/real": "nested_real",
		"a%b":         "a_b",
		".":           "_",
		"..":          "__",
	} {
		extLoadExpect(t, extensionName(module), want, module)
	}
	long := extensionName(strings.Repeat("x", 300))
	extLoadExpect(t, len(long), maxNameLength, "length")
	extLoadExpect(t, long[:maxNameLength-9], strings.Repeat("x", maxNameLength-9), "kept")
	extLoadExpect(t, long[maxNameLength-9], byte('-'), "separator")
}
