// Command mkimagearchive builds a `docker load`-able image tarball from a
// directory, without a container engine or registry.
//
//	mkimagearchive -rootfs DIR -tag NAME:TAG [-tag ...] [-arch amd64]
//	    [-entrypoint JSON] [-cmd JSON] [-env K=V ...] [-expose 80/tcp ...]
//	    [-workdir DIR] [-user U] [-label K=V ...] -o OUT.tar
//
// If SOURCE_DATE_EPOCH is set, it is used as the image creation time and the
// mtime of every file; otherwise the Unix epoch is used, so output is
// reproducible either way.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthvm/berth/internal/atomicfile"
	"github.com/berthvm/berth/packaging/imagearchive"
)

func main() {
	err := run(os.Args[1:], os.Getenv("SOURCE_DATE_EPOCH"), os.Stderr)
	var usage usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		os.Exit(2) // the flag package already printed the error and usage
	case err != nil:
		fmt.Fprintln(os.Stderr, "mkimagearchive:", err)
		os.Exit(1)
	}
}

// usageError marks a flag parsing failure that has already been reported.
type usageError struct{ error }

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// jsonArgsFlag takes an exec-form JSON array, as in a Dockerfile's CMD.
type jsonArgsFlag []string

func (j *jsonArgsFlag) String() string {
	b, _ := json.Marshal([]string(*j))
	return string(b)
}

func (j *jsonArgsFlag) Set(v string) error {
	var args []string
	if err := json.Unmarshal([]byte(v), &args); err != nil {
		return fmt.Errorf("want a JSON array of strings like [\"/bin/sh\",\"-c\"]: %w", err)
	}
	*j = args
	return nil
}

func run(args []string, sourceDateEpoch string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkimagearchive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		img               imagearchive.Image
		tags, env, expose listFlag
		labels            listFlag
		entrypoint, cmd   jsonArgsFlag
		out, rootfs, arch string
		workdir, user     string
	)
	fs.StringVar(&rootfs, "rootfs", "", "directory whose contents become the image's only layer (required)")
	fs.Var(&tags, "tag", "image reference NAME:TAG (required, repeatable)")
	fs.StringVar(&arch, "arch", "amd64", "GOARCH-style architecture, optionally with variant (arm/v7)")
	fs.Var(&entrypoint, "entrypoint", "entrypoint as a JSON array")
	fs.Var(&cmd, "cmd", "command as a JSON array")
	fs.Var(&env, "env", "environment variable K=V (repeatable)")
	fs.Var(&expose, "expose", "exposed port like 80/tcp or 53/udp (repeatable)")
	fs.Var(&labels, "label", "image label K=V (repeatable)")
	fs.StringVar(&workdir, "workdir", "", "absolute working directory inside the image")
	fs.StringVar(&user, "user", "", "user to run as inside the image")
	fs.StringVar(&out, "o", "", "output tarball path (required)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if rootfs == "" || out == "" || len(tags) == 0 {
		return errors.New("-rootfs, -tag and -o are required (see -help)")
	}

	img.RootFS = rootfs
	img.Tags = tags
	img.Arch = arch
	img.Config = imagearchive.Config{
		Entrypoint:   entrypoint,
		Cmd:          cmd,
		Env:          env,
		WorkingDir:   workdir,
		User:         user,
		ExposedPorts: expose,
	}
	if len(labels) > 0 {
		img.Config.Labels = map[string]string{}
		for _, l := range labels {
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				return fmt.Errorf("invalid -label %q: want K=V", l)
			}
			img.Config.Labels[k] = v
		}
	}
	if sourceDateEpoch != "" {
		sec, err := strconv.ParseInt(sourceDateEpoch, 10, 64)
		if err != nil || sec < 0 {
			return fmt.Errorf("invalid SOURCE_DATE_EPOCH %q: want non-negative seconds", sourceDateEpoch)
		}
		img.Created = time.Unix(sec, 0)
	}
	// Stage the layer next to the output: /tmp may be a small tmpfs, and the
	// output's filesystem must hold the result anyway.
	img.TempDir = filepath.Dir(out)

	// Readers never see a partial archive.
	if err := atomicfile.WriteFunc(out, 0o644, func(w io.Writer) error { return imagearchive.Write(w, img) }); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
