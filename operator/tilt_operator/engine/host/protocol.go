package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// emitFunc writes one event line: {key: value}.
type emitFunc func(key string, value any)

// request is one line from the operator: a run of the Tiltfile at Path, or (Call set) one
// builtin call. CRDs is empty when the host already has the CRDs named by CRDsDigest. ExtRepos
// are the cluster's ExtensionRepos by name, for ext:// loads. Env is the environment the run sees
// (the one a Cmd gets); ExecEnabled says whether local() may run.
type request struct {
	Path        string             `json:"path"`
	Root        string             `json:"root"`
	Args        []string           `json:"args"`
	CRDsDigest  string             `json:"crds_digest"`
	CRDs        []json.RawMessage  `json:"crds"`
	ExtRepos    map[string]extRepo `json:"ext_repos"`
	Env         map[string]string  `json:"env"`
	ExecEnabled bool               `json:"exec_enabled"`
	Call        *builtinCall       `json:"call"`
}

// extRepo is one ExtensionRepo of the cluster as the operator sees it: its loadHost, and its
// extensions directory (checkout and gitSubpath), empty while it is not Ready.
type extRepo struct {
	LoadHost string `json:"load_host"`
	Path     string `json:"path"`
}

// builtinCall is one call of a kind's builtin (named by the kind) with keyword arguments as JSON.
type builtinCall struct {
	Kind   string         `json:"kind"`
	Kwargs map[string]any `json:"kwargs"`
}

// doneEvent ends every request. Error is the first line a user reads (file:line:column:
// message); Backtrace is the whole Starlark backtrace, for the Tiltfile's log. Waiting says that
// the run stopped, without failing, at a load whose ExtensionRepo is not Ready.
type doneEvent struct {
	Objects   []map[string]any `json:"objects"`
	Error     string           `json:"error,omitempty"`
	Backtrace string           `json:"backtrace,omitempty"`
	Waiting   *waitingEvent    `json:"waiting,omitempty"`
	Retire    bool             `json:"retire"`
}

// waitingEvent names the ExtensionRepo a run waits for, and the load that waits for it
// (file:line:column: message).
type waitingEvent struct {
	Repo    string `json:"repo"`
	Message string `json:"message"`
}

// kinds returns the builtins for the request's CRDs: the ones the host has, or new ones.
func (r *request) kinds(known *kindSet) (*kindSet, error) {
	if len(r.CRDs) == 0 {
		if known == nil || known.digest != r.CRDsDigest {
			return known, fmt.Errorf("internal error: the host has no CRDs named %s", r.CRDsDigest)
		}
		return known, nil
	}
	return newKindSet(r.CRDsDigest, r.CRDs)
}

// decodeRequest reads one request line; numbers stay integers where they are (UseNumber).
func decodeRequest(line []byte, req *request) error {
	decoder := json.NewDecoder(bytes.NewReader(line))
	decoder.UseNumber()
	if err := decoder.Decode(req); err != nil {
		return err
	}
	if req.Call != nil {
		for key, value := range req.Call.Kwargs {
			req.Call.Kwargs[key] = normalizeNumbers(value)
		}
	}
	return nil
}
