// Command typecheck type-checks packages for another OS, cgo included,
// where `go vet` cannot: cross-compiling cgo needs that OS's C toolchain
// and SDK (macOS's, for vz and fyne). The C parts are not checked; every
// Go file is, with the C package's names left unresolved.
//
//	go run ./internal/typecheck -os darwin -arch arm64 ./vmhost/... ./app/...
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/tools/go/packages"
)

func main() {
	goos := flag.String("os", "darwin", "GOOS to check for")
	goarch := flag.String("arch", "arm64", "GOARCH to check for")
	flag.Parse()
	n, err := check(*goos, *goarch, flag.Args())
	if err != nil {
		fmt.Fprintf(os.Stderr, "typecheck: %v\n", err)
		os.Exit(1)
	}
	if n > 0 {
		fmt.Fprintf(os.Stderr, "typecheck: %d errors for %s/%s\n", n, *goos, *goarch)
		os.Exit(1)
	}
}

// check prints the type errors in patterns for goos/goarch and returns
// how many there were, not counting those that only say the C toolchain
// is missing.
func check(goos, goarch string, patterns []string) (int, error) {
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedImports | packages.NeedDeps |
			packages.NeedTypes | packages.NeedSyntax | packages.NeedTypesInfo,
		Env:   append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=1"),
		Tests: true,
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return 0, err
	}
	if len(pkgs) == 0 {
		return 0, fmt.Errorf("no packages match %v", patterns)
	}
	n := 0
	seen := map[string]bool{}
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		if !inModule(p) {
			return
		}
		for _, e := range p.Errors {
			msg := e.Error()
			if cgoOnly(msg) || seen[msg] {
				continue
			}
			seen[msg] = true
			fmt.Println(msg)
			n++
		}
	})
	return n, nil
}

// inModule limits the report to this module: a dependency's cgo files
// fail to load the same way and are not ours to check.
func inModule(p *packages.Package) bool {
	return strings.HasPrefix(p.PkgPath, "github.com/berthvm/berth")
}

// cgoOnly recognises errors that come from having no C toolchain for the
// target: the cgo pass fails, and so do the uses of package C.
func cgoOnly(msg string) bool {
	for _, s := range []string{
		`could not import C`, `clang`, `cgo`, `undefined: _C`, `_Cfunc_`, `_Ctype_`,
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
