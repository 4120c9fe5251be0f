package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"go.starlark.net/starlark"
)

// load('ext://MODULE') as Tilt's loader resolves it (docs/design.md, "load() and include()"):
// every such load names an Extension, registered by the run or registered now, and that
// Extension's repo and path say which Tiltfile is loaded. Every Extension a load names is marked
// as the loader's, so the operator runs no Tiltfile of its own for it and every Tiltfile that
// loads it shares it.

const (
	annotationManagedBy = "tilt.dev/managed-by"
	managedByLoader     = "tiltfile.loader"
	defaultRepo         = "default"
)

// repoNotReady ends a run at a load whose ExtensionRepo is not Ready (or does not exist yet): not
// a failure, since the run registers that repo itself more often than not; the operator runs it
// again once the repo is Ready.
type repoNotReady struct {
	repo string
}

func (e *repoNotReady) Error() string {
	return fmt.Sprintf("ExtensionRepo %s is not ready", quoted(e.repo))
}

// resolveExtension is the file ext://module loads and the root it runs with: the Tiltfile at the
// Extension's repoPath in its repo's extensions directory.
func (r *run) resolveExtension(module string) (path string, root string, err error) {
	if module == "" {
		return "", "", errors.New("no extension named")
	}
	spec, err := r.loadedExtension(module)
	if err != nil {
		return "", "", err
	}
	repoName, _ := spec["repoName"].(string)
	repoPath, _ := spec["repoPath"].(string)
	repo := r.req.ExtRepos[repoName]
	if repo.Path == "" {
		return "", "", &repoNotReady{repo: repoName}
	}
	path, err = confine(repo.Path+"/"+repoPath+"/"+extensionFile, repo.Path, extPrefix+module)
	return path, mustResolve(repo.Path), err
}

// loadedExtension is the spec of the Extension ext://module names, in Tilt's order: the one the
// run registered under that name; else a new one, in the repo whose loadHost is the module's first
// segment (at the rest of it), or else in the repo "default" (at the whole module).
func (r *run) loadedExtension(module string) (map[string]any, error) {
	tiltName := extensionName(module)
	name, err := objectName(tiltName)
	if err != nil {
		return nil, err
	}
	r.loaded[name] = true
	if registered := r.registry.find("Extension", name); registered != nil {
		spec, _ := registered["spec"].(map[string]any)
		return spec, nil
	}
	repo, repoPath := defaultRepo, module
	if host, rest, ok := strings.Cut(module, "/"); ok {
		if found := r.repoWithLoadHost(host); found != "" {
			repo, repoPath = found, rest
		}
	}
	return r.registerExtension(tiltName, repo, repoPath)
}

// repoWithLoadHost names the ExtensionRepo whose loadHost is host: one the run registered (the
// first), else one of the cluster's (by name); "" when there is none.
func (r *run) repoWithLoadHost(host string) string {
	if host == "" {
		return ""
	}
	for _, obj := range r.registry.objects() {
		spec, _ := obj["spec"].(map[string]any)
		if obj["kind"] == "ExtensionRepo" && spec["loadHost"] == host {
			return obj["metadata"].(map[string]any)["name"].(string)
		}
	}
	for _, name := range sortedKeys(r.req.ExtRepos) {
		if r.req.ExtRepos[name].LoadHost == host {
			return name
		}
	}
	return ""
}

// registerExtension registers the Extension a load names when the run did not, built by the
// extension builtin itself so that it fits the CRD as any other registration does.
func (r *run) registerExtension(tiltName, repo, repoPath string) (map[string]any, error) {
	k := r.kinds.byName["extension"]
	if k == nil {
		return nil, errors.New("no CRD for Extension: ext:// loads need one")
	}
	given := map[string]starlark.Value{
		"name":      starlark.String(tiltName),
		"repo_name": starlark.String(repo),
		"repo_path": starlark.String(repoPath),
	}
	obj, err := k.object(given, []string{"repo_name", "repo_path"})
	if err != nil {
		return nil, err
	}
	if err := r.registry.add(k, obj); err != nil {
		return nil, err
	}
	return obj["spec"].(map[string]any), nil
}

// markLoaded annotates every registered Extension a load named as the loader's. It is done once
// the run ends rather than at the load, so that registering the same Extension again after
// loading it still counts as the same registration.
func (r *run) markLoaded(objects []map[string]any) []map[string]any {
	for _, obj := range objects {
		metadata := obj["metadata"].(map[string]any)
		if obj["kind"] != "Extension" || !r.loaded[metadata["name"].(string)] {
			continue
		}
		annotations, _ := metadata["annotations"].(map[string]any)
		if annotations == nil {
			annotations = map[string]any{}
			metadata["annotations"] = annotations
		}
		annotations[annotationManagedBy] = managedByLoader
	}
	return objects
}

// find is the registered object of kind called name, or nil.
func (r *registry) find(kind, name string) map[string]any {
	if i, ok := r.index[kind+"/"+name]; ok {
		return r.order[i]
	}
	return nil
}

// extensionName is the Tilt name of the Extension ext://module names, as Tilt sanitizes it: "/"
// and "%" become "_", "." and ".." become "_" and "__", and a name longer than an object name may
// be is cut, with a hash of the whole module at its end.
func extensionName(module string) string {
	name := strings.NewReplacer("/", "_", "%", "_").Replace(module)
	if module == "." || module == ".." {
		name = strings.ReplaceAll(module, ".", "_")
	}
	if len(name) > maxNameLength {
		hash := fnv.New32a()
		hash.Write([]byte(module))
		name = name[:maxNameLength-9] + "-" + hex.EncodeToString(hash.Sum(nil))
	}
	return name
}
