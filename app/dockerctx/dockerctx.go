// Package dockerctx creates and selects docker CLI contexts by writing the
// CLI's own files, so Berth needs no docker binary to set itself up.
//
// The layout follows github.com/docker/cli (cli/context/store): a context
// lives in <config>/contexts/meta/<sha256(name)>/meta.json, and the current
// one is "currentContext" in <config>/config.json. DOCKER_CONTEXT and
// DOCKER_HOST still override the file for the CLI; this package does not
// look at them.
package dockerctx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/berthvm/berth/internal/atomicfile"
	"github.com/berthvm/berth/internal/rawjson"
)

// DefaultName is the context the CLI uses when none is selected.
const DefaultName = "default"

// Store is a docker CLI config directory.
type Store struct{ Dir string }

// DefaultStore is $DOCKER_CONFIG, or ~/.docker as the CLI uses.
func DefaultStore() Store {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return Store{Dir: d}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return Store{} // methods report the missing directory
	}
	return Store{Dir: filepath.Join(home, ".docker")}
}

// validName is the CLI's restrictedNamePattern: anything else it refuses to use.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$`)

func checkName(name string) error {
	if name == DefaultName {
		return fmt.Errorf("%q is a reserved docker context name", name)
	}
	if !validName.MatchString(name) {
		return fmt.Errorf("docker context name %q is invalid: use letters, digits and _.+- (at least 2 characters)", name)
	}
	return nil
}

func (s Store) dir() (string, error) {
	if s.Dir == "" {
		return "", errors.New("docker config directory unknown: set DOCKER_CONFIG or HOME")
	}
	return s.Dir, nil
}

// contextID is how the CLI names a context's directories: the hex sha256 of
// the name, so any name is a safe path component.
func contextID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// MetaDir is the directory holding the context's meta.json.
func (s Store) MetaDir(name string) string {
	return filepath.Join(s.Dir, "contexts", "meta", contextID(name))
}

func (s Store) tlsDir(name string) string {
	return filepath.Join(s.Dir, "contexts", "tls", contextID(name))
}

// meta mirrors the CLI's store.Metadata. Fields are declared in the CLI's
// order and maps marshal sorted, so the bytes match `docker context create`.
// Metadata and Endpoints stay raw so fields added by the user or other tools
// (e.g. other endpoints, extra metadata) survive an update.
type meta struct {
	Name      string
	Metadata  map[string]json.RawMessage
	Endpoints map[string]json.RawMessage
}

// endpoint mirrors the CLI's context.EndpointMetaBase.
type endpoint struct {
	Host          string `json:",omitempty"`
	SkipTLSVerify bool
}

// Ensure creates the context, or updates its docker endpoint and description.
// host is a docker endpoint such as "unix:///path/docker.sock".
func (s Store) Ensure(name, host, description string) error {
	if err := checkName(name); err != nil {
		return err
	}
	root, err := s.dir()
	if err != nil {
		return err
	}
	dir := s.MetaDir(name)
	file := filepath.Join(dir, "meta.json")
	m := meta{Metadata: map[string]json.RawMessage{}, Endpoints: map[string]json.RawMessage{}}
	old, err := os.ReadFile(file)
	switch {
	case err == nil:
		// A broken file is replaced: it is ours, and the CLI could not read it either.
		_ = json.Unmarshal(old, &m)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("docker context %q: %w", name, err)
	}
	if m.Metadata == nil {
		m.Metadata = map[string]json.RawMessage{}
	}
	if m.Endpoints == nil {
		m.Endpoints = map[string]json.RawMessage{}
	}
	m.Name = name
	if description != "" {
		m.Metadata["Description"] = rawjson.Must(description)
	} else {
		delete(m.Metadata, "Description") // as the CLI omits an empty one
	}
	m.Endpoints["docker"] = rawjson.Must(endpoint{Host: host})
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("docker context %q: encoding: %w", name, err)
	}
	if bytes.Equal(b, old) {
		return nil
	}
	// The config dir holds credentials, so it is private (as the CLI makes
	// it); the context dirs below it are 0755 like the CLI's.
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("docker context %q: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("docker context %q: %w", name, err)
	}
	if err := atomicfile.Write(file, b, 0o644); err != nil {
		return fmt.Errorf("docker context %q: %w", name, err)
	}
	return nil
}

// Use makes name the CLI's current context, like `docker context use`.
func (s Store) Use(name string) error {
	if name != DefaultName {
		if err := checkName(name); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(s.MetaDir(name), "meta.json")); err != nil {
			return fmt.Errorf("using docker context %q: %w", name, err)
		}
	}
	return s.setCurrent(name)
}

// Current is the context selected in config.json ("default" when none is).
func (s Store) Current() (string, error) {
	cfg, _, err := s.readConfig()
	if err != nil {
		return "", err
	}
	var cur string
	if raw, ok := cfg["currentContext"]; ok {
		if err := json.Unmarshal(raw, &cur); err != nil {
			return "", fmt.Errorf("reading docker config: currentContext: %w", err)
		}
	}
	if cur == "" {
		return DefaultName, nil
	}
	return cur, nil
}

// Remove deletes the context; if it was current, the CLI goes back to "default".
// Removing a context that does not exist is not an error.
func (s Store) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := s.dir(); err != nil {
		return err
	}
	// Unselect first: a current context whose files are gone makes every
	// docker command fail, while a leftover unselected one harms nobody.
	cur, err := s.Current()
	if err != nil {
		return err
	}
	if cur == name {
		if err := s.setCurrent(DefaultName); err != nil {
			return err
		}
	}
	for _, dir := range []string{s.MetaDir(name), s.tlsDir(name)} {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("removing docker context %q: %w", name, err)
		}
	}
	return nil
}

// configFile is config.json, resolved through a symlink (dotfile managers link
// it) so the rename replaces the target, not the link.
func (s Store) configFile() (string, error) {
	dir, err := s.dir()
	if err != nil {
		return "", err
	}
	name := filepath.Join(dir, "config.json")
	if resolved, err := filepath.EvalSymlinks(name); err == nil {
		return resolved, nil
	}
	return name, nil
}

// readConfig decodes config.json into raw fields, so every field the user or
// other tools wrote (auths, credsStore, proxies, unknown ones) round-trips.
// A missing or empty file is an empty config, as for the CLI.
func (s Store) readConfig() (map[string]json.RawMessage, string, error) {
	name, err := s.configFile()
	if err != nil {
		return nil, "", err
	}
	cfg := map[string]json.RawMessage{}
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, name, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading docker config: %w", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return cfg, name, nil
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, "", fmt.Errorf("reading docker config %s: %w", name, err)
	}
	if cfg == nil { // the file said "null"
		cfg = map[string]json.RawMessage{}
	}
	return cfg, name, nil
}

func (s Store) setCurrent(name string) error {
	cfg, file, err := s.readConfig()
	if err != nil {
		return err
	}
	if name == DefaultName {
		if _, ok := cfg["currentContext"]; !ok {
			return nil
		}
		delete(cfg, "currentContext") // as `docker context use default` does
	} else {
		cfg["currentContext"] = rawjson.Must(name)
	}
	return writeConfig(file, cfg)
}

// writeConfig writes config.json as the CLI does, keeping its mode.
func writeConfig(file string, cfg map[string]json.RawMessage) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the user's strings byte-for-byte
	enc.SetIndent("", "\t")  // the CLI's own format
	if err := enc.Encode(cfg); err != nil {
		return fmt.Errorf("encoding docker config: %w", err)
	}
	// Keep the file's mode: it may hold credentials and be 0600 on purpose.
	mode := fs.FileMode(0o600)
	if fi, err := os.Stat(file); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("writing docker config: %w", err)
	}
	if err := atomicfile.Write(file, bytes.TrimRight(buf.Bytes(), "\n"), mode); err != nil {
		return fmt.Errorf("writing docker config: %w", err)
	}
	return nil
}

// Proxies are the proxy settings the docker CLI gives the containers and
// builds it starts (config.json's "proxies", per docker host).
type Proxies struct {
	HTTPProxy  string `json:"httpProxy,omitempty"`
	HTTPSProxy string `json:"httpsProxy,omitempty"`
	NoProxy    string `json:"noProxy,omitempty"`
}

// SetProxies sets the CLI's proxies for the docker host host (its
// DOCKER_HOST URL), or removes them when p is nil; the proxies of other
// hosts and "default" are the user's and stay.
func (s Store) SetProxies(host string, p *Proxies) error {
	cfg, file, err := s.readConfig()
	if err != nil {
		return err
	}
	all := map[string]json.RawMessage{}
	if raw, ok := cfg["proxies"]; ok {
		if err := json.Unmarshal(raw, &all); err != nil {
			return fmt.Errorf("reading docker config: proxies: %w", err)
		}
	}
	if p == nil {
		if _, ok := all[host]; !ok {
			return nil
		}
		delete(all, host)
	} else {
		var cur Proxies
		if raw, ok := all[host]; ok && json.Unmarshal(raw, &cur) == nil && cur == *p {
			return nil
		}
		all[host] = rawjson.Must(p)
	}
	if len(all) == 0 {
		delete(cfg, "proxies")
	} else {
		cfg["proxies"] = rawjson.Must(all)
	}
	return writeConfig(file, cfg)
}

// HostURL is the docker endpoint (DOCKER_HOST) of a socket: a unix socket
// path, or a Windows named pipe (\\.\pipe\NAME, npipe:////./pipe/NAME).
func HostURL(socket string) string {
	if strings.HasPrefix(socket, `\\.\pipe\`) {
		return "npipe://" + strings.ReplaceAll(socket, `\`, "/")
	}
	return "unix://" + socket
}
