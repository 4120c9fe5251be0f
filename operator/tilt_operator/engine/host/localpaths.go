package main

import "path"

// Tilt's v1alpha1 builtins read some fields as local paths: relative to the directory of the file
// executing now, as Tilt's value.LocalPath does. A Cmd with no dir runs there too.

// localPaths makes the local-path fields of obj, one of k's objects just built, absolute against
// dir: the fields Tilt's builtins read so, where k's schema has them.
func localPaths(k *kind, obj map[string]any, dir string) {
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		return
	}
	fields := k.spec.properties()
	switch {
	case k.kind == "Cmd" && fields["dir"] != nil:
		given, _ := spec["dir"].(string)
		spec["dir"] = against(dir, given)
	case k.kind == "FileWatch":
		if paths, ok := spec["watchedPaths"].([]any); ok {
			for i, item := range paths {
				if text, ok := item.(string); ok {
					paths[i] = against(dir, text)
				}
			}
		}
		if ignores, ok := spec["ignores"].([]any); ok {
			for _, item := range ignores {
				if ignore, ok := item.(map[string]any); ok {
					base, _ := ignore["basePath"].(string)
					ignore["basePath"] = against(dir, base)
				}
			}
		}
	}
}

// against is path made absolute against dir ("" is dir itself).
func against(dir, given string) string {
	if path.IsAbs(given) {
		return path.Clean(given)
	}
	return path.Join(dir, given)
}
