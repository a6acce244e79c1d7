package macos

import (
	"bytes"
	"debug/macho"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The Darwin recipes of the Makefile (darwin.mk, bundle.sh, dmg.sh) run
// here on Linux with the commands a Mac provides replaced by stubs on
// PATH. Each stub appends its name and arguments (tab-separated) to a log
// and makes what the real command makes: codesign a signature marker (and
// a bundle's _CodeSignature), hdiutil the .dmg (here, a listing of the
// folder it was given), stapler a ticket marker. `go build` of the two
// cgo binaries writes a Mach-O header instead (cgo for darwin needs
// Apple's SDK); everything else is the real go.

const stubPrelude = `#!/bin/sh
log() { n=$1; shift; { printf '%s' "$n"; for a in "$@"; do printf '\t%s' "$a"; done; printf '\n'; } >> "$STUB_LOG"; }
`

var stubs = map[string]string{
	"uname": `log uname "$@"
case $1 in -m) echo "$STUB_ARCH";; *) echo Darwin;; esac`,
	"xcode-select": `log xcode-select "$@"
[ -z "$STUB_NO_XCODE" ] || { echo "xcode-select: error: unable to get active developer directory" >&2; exit 2; }
echo /Library/Developer/CommandLineTools`,
	"sw_vers": `log sw_vers "$@"
echo 14.5`,
	"open": `log open "$@"`,
	// The real codesign writes the signature into a binary and a bundle's
	// Contents/_CodeSignature; --verify fails on what was never signed.
	"codesign": `log codesign "$@"
for t; do :; done
case " $* " in
*" --verify "*) [ -e "$t/Contents/_CodeSignature/CodeResources" ] || { echo "$t: code object is not signed at all" >&2; exit 1; } ;;
*" --display "*) echo "Executable=$t" ;;
*" -s "*) if [ -d "$t" ]; then mkdir -p "$t/Contents/_CodeSignature"; echo "$*" > "$t/Contents/_CodeSignature/CodeResources"; else printf 'STUB-CODESIGN' >> "$t"; fi ;;
esac`,
	// hdiutil create … -srcfolder DIR … OUT.dmg: the image's contents.
	"hdiutil": `log hdiutil "$@"
src= prev=
for a; do [ "$prev" = -srcfolder ] && src=$a; prev=$a; out=$a; done
{ echo STUB-UDZO; cd "$src" && find . | sort | while read -r f; do if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else echo "$f"; fi; done; } > "$out.tmp" && mv "$out.tmp" "$out"`,
	"xcrun": `log xcrun "$@"
case $1 in
notarytool) echo "status: Accepted" ;;
stapler) for t; do :; done; printf 'STUB-STAPLED' >> "$t" ;;
esac`,
	"go": `log go "$@"
prev= out= pkg=
for a; do [ "$prev" = -o ] && out=$a; case $a in ./*) pkg=$a;; esac; prev=$a; done
if [ "$1" = build ] && { [ "$pkg" = ./app/berth ] || [ "$pkg" = ./app/berth-gui ]; }; then
  mkdir -p "$(dirname "$out")"
  # mach_header_64: MH_MAGIC_64, CPU_TYPE_ARM64, subtype 0, MH_EXECUTE, no commands.
  printf '\317\372\355\376\014\000\000\001\000\000\000\000\002\000\000\000' > "$out"
  printf '\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' >> "$out"
  chmod +x "$out"; exit 0
fi
exec "$REAL_GO" "$@"`,
	// The guest builder (packaging/cmd/mkguest).
	"mkguest": `log mkguest "$@"
prev= out=
for a; do [ "$prev" = -out ] && out=$a; prev=$a; done
mkdir -p "$out"; echo '{}' > "$out/manifest.json"
: > "$out/vmlinuz"; : > "$out/initrd.img"; : > "$out/system.img"`,
	// Runs a binary of the bundle, which Linux cannot exec.
	"macos-run": `log macos-run "$@"
od -An -tx1 -N4 "$1" | grep -q 'cf fa ed fe' || { echo "$1 is not a Mach-O binary" >&2; exit 1; }`,
}

type darwinMake struct {
	root, stubs, build, log string
	env                     []string
}

func newDarwinMake(t *testing.T) *darwinMake {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs make and a POSIX shell")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	realGo, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go on PATH")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	d := &darwinMake{root: root, stubs: filepath.Join(tmp, "stubs"), build: filepath.Join(tmp, "build"), log: filepath.Join(tmp, "commands.log")}
	if err := os.Mkdir(d.stubs, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(d.stubs, name), []byte(stubPrelude+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d.env = append(os.Environ(), "PATH="+d.stubs+string(os.PathListSeparator)+os.Getenv("PATH"),
		"STUB_LOG="+d.log, "STUB_ARCH=arm64", "REAL_GO="+realGo, "MAKEFLAGS=", "MFLAGS=", "MAKELEVEL=")
	return d
}

// make runs make TARGET with the stubs and returns its output and the
// commands the stubs saw, one line each.
func (d *darwinMake) make(t *testing.T, env []string, args ...string) (string, []string, error) {
	t.Helper()
	os.Remove(d.log)
	cmd := exec.Command("make", append([]string{"-C", d.root, "BUILD=" + d.build, "VERSION=1.2.3",
		"GUEST_BUILDER=" + filepath.Join(d.stubs, "mkguest"), "GUEST_PREREQS=", "MACOS_RUN=" + filepath.Join(d.stubs, "macos-run")}, args...)...)
	cmd.Env = append(append([]string{}, d.env...), env...)
	out, err := cmd.CombinedOutput()
	logged, _ := os.ReadFile(d.log)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(logged)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return string(out), lines, err
}

// show renders a logged command for a reader: arguments with spaces quoted,
// the test's temporary directories shortened.
func (d *darwinMake) show(line string) string {
	f := strings.Split(line, "\t")
	for i, a := range f {
		a = strings.ReplaceAll(a, d.build, "build")
		a = strings.ReplaceAll(a, d.stubs+"/", "")
		a = strings.ReplaceAll(a, d.root+"/", "")
		if strings.ContainsAny(a, " \"") {
			a = "'" + a + "'"
		}
		f[i] = a
	}
	return strings.Join(f, " ")
}

// recipeLines are make's own echo of the recipes it ran.
func (d *darwinMake) recipeLines(out string) []string {
	var r []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, "make") || strings.HasPrefix(l, "codesign: ") {
			continue
		}
		l = strings.ReplaceAll(l, d.build, "build")
		l = strings.ReplaceAll(l, d.stubs+"/", "")
		r = append(r, l)
	}
	return r
}

func TestDarwinMakeRun(t *testing.T) {
	d := newDarwinMake(t)
	out, cmds, err := d.make(t, nil, "run")
	t.Logf("make run on a stubbed Mac (arm64), make's output:\n  %s", strings.Join(d.recipeLines(out), "\n  "))
	var shown []string
	for _, c := range cmds {
		shown = append(shown, d.show(c))
	}
	t.Logf("make run, the commands a Mac provides (and go, the guest builder):\n  %s", strings.Join(shown, "\n  "))
	if err != nil {
		t.Fatalf("make run: %v\n%s", err, out)
	}
	for _, never := range []string{"install-deps.sh", "start-libvirtd.sh", "apt-get", "rootfs.sh", "debs.sh"} {
		if strings.Contains(out, never) {
			t.Errorf("make run on Darwin ran %s", never)
		}
	}
	app := filepath.Join(d.build, "Berth.app")
	checkBundle(t, d, app, cmds, "-")
	wantInOrder(t, cmds,
		"xcode-select\t-p",
		"sw_vers\t-productVersion",
		"mkguest\t-recipe\tpackaging/guest/recipe.json\t-arch\tarm64\t-cache\t"+d.build+"/cache/debs\t-guestd\t"+d.build+"/bin/guestd-arm64\t-images\t"+d.build+"/cache/trixie/arm64/images\t-out\t"+d.build+"/guest/arm64",
		"go\tbuild\t-trimpath\t-ldflags\t-s -w -X main.version=1.2.3\t-o\t"+d.build+"/bin/berth\t./app/berth",
		"codesign\t--force\t--options\truntime\t--entitlements\t",
		"codesign\t--verify\t--strict\t--verbose=2\t"+app,
		"macos-run\t"+app+"/Contents/MacOS/berth\tstart",
		"open\t"+app,
	)
}

func TestDarwinMakeRunOnIntel(t *testing.T) {
	d := newDarwinMake(t)
	out, cmds, err := d.make(t, []string{"STUB_ARCH=x86_64"}, "guest-image")
	if err != nil {
		t.Fatalf("make guest-image: %v\n%s", err, out)
	}
	// vz on Intel boots a bzImage: the builder keeps Debian's kernel so.
	wantInOrder(t, cmds, "mkguest\t-recipe\tpackaging/guest/recipe.json\t-arch\tamd64\t-cache\t"+d.build+"/cache/debs\t-guestd\t"+d.build+"/bin/guestd-amd64\t-images\t"+d.build+"/cache/trixie/amd64/images\t-out\t"+d.build+"/guest/amd64\t-bzimage")
}

func TestDarwinMakePackage(t *testing.T) {
	for _, tc := range []struct {
		name, identity, profile string
	}{
		{"ad hoc", "", ""},
		{"Developer ID, notarized", "Developer ID Application: Berth Test (ABCDE12345)", "berth-notary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDarwinMake(t)
			out, cmds, err := d.make(t, []string{"MACOS_SIGN_IDENTITY=" + tc.identity, "MACOS_NOTARY_PROFILE=" + tc.profile}, "package")
			var shown []string
			for _, c := range cmds {
				shown = append(shown, d.show(c))
			}
			t.Logf("make package (%s), the commands a Mac provides:\n  %s", tc.name, strings.Join(shown, "\n  "))
			if err != nil {
				t.Fatalf("make package: %v\n%s", err, out)
			}
			identity := tc.identity
			if identity == "" {
				identity = "-"
			}
			app := filepath.Join(d.build, "Berth.app")
			checkBundle(t, d, app, cmds, identity)
			dmg := filepath.Join(d.build, "dist", "Berth-1.2.3.dmg")
			data, err := os.ReadFile(dmg)
			if err != nil {
				t.Fatal(err)
			}
			// The .dmg step got the bundle, and the Applications link.
			for _, want := range []string{"STUB-UDZO\n", "./Berth.app/Contents/MacOS/berth\n", "./Berth.app/Contents/MacOS/berth-gui\n",
				"./Berth.app/Contents/Info.plist\n", "./Berth.app/Contents/Resources/berth.icns\n", "./Berth.app/Contents/Resources/guest/arm64/vmlinuz\n",
				"./Applications -> /Applications\n"} {
				if !bytes.Contains(data, []byte(want)) {
					t.Errorf("the .dmg lacks %q:\n%s", want, data)
				}
			}
			wantInOrder(t, cmds, "hdiutil\tcreate\t-volname\tBerth\t-srcfolder\t"+d.build+"/dist/dmg-staging\t-ov\t-format\tUDZO\t"+dmg)
			notarized := bytes.HasSuffix(data, []byte("STUB-STAPLED"))
			if tc.profile == "" {
				if notarized || strings.Contains(strings.Join(cmds, "\n"), "notarytool") {
					t.Error("an ad hoc package was sent for notarization")
				}
				return
			}
			wantInOrder(t, cmds,
				"codesign\t--force\t--timestamp\t-s\t"+identity+"\t"+dmg,
				"xcrun\tnotarytool\tsubmit\t"+dmg+"\t--keychain-profile\t"+tc.profile+"\t--wait",
				"xcrun\tstapler\tstaple\t"+dmg)
			if !notarized {
				t.Error("the ticket was not stapled to the .dmg")
			}
		})
	}
}

// Without Xcode's tools make stops at once and says how to get them.
func TestDarwinMakeSaysWhatIsMissing(t *testing.T) {
	d := newDarwinMake(t)
	out, cmds, err := d.make(t, []string{"STUB_NO_XCODE=1"}, "run")
	if err == nil || !strings.Contains(out, "xcode-select --install") {
		t.Errorf("without Xcode's tools: %v\n%s", err, out)
	}
	for _, c := range cmds {
		if strings.HasPrefix(c, "go\t") || strings.HasPrefix(c, "codesign") {
			t.Errorf("ran %q without Xcode's tools", d.show(c))
		}
	}
}

// checkBundle checks Berth.app as macOS would load it: every Mach-O file
// signed with the entitlements and the hardened runtime, by identity, the
// bundle signed last; Info.plist parses and names files that exist.
func checkBundle(t *testing.T, d *darwinMake, app string, cmds []string, identity string) {
	t.Helper()
	ent := filepath.Join(d.root, "packaging", "macos", "berth.entitlements")
	signed := map[string]string{} // path → its signing command
	var order []string
	for _, c := range cmds {
		f := strings.Split(c, "\t")
		if f[0] != "codesign" || !contains(f, "-s") {
			continue
		}
		target := f[len(f)-1]
		if strings.HasSuffix(target, ".dmg") {
			continue
		}
		signed[target] = c
		order = append(order, target)
	}
	var machos []string
	filepath.Walk(app, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		if f, err := macho.Open(p); err == nil {
			f.Close()
			machos = append(machos, p)
		}
		return nil
	})
	if len(machos) != 2 {
		t.Errorf("Mach-O files in the bundle: %v, want berth and berth-gui", machos)
	}
	for _, p := range append(machos, app) {
		c, ok := signed[p]
		if !ok {
			t.Errorf("%s was not signed", p)
			continue
		}
		f := strings.Split(c, "\t")
		if !hasPair(f, "--options", "runtime") || !hasPair(f, "--entitlements", ent) || !hasPair(f, "-s", identity) {
			t.Errorf("%s signed without the hardened runtime, the entitlements or identity %q: %s", p, identity, d.show(c))
		}
		if (identity != "-") != contains(f, "--timestamp") {
			t.Errorf("%s: a secure timestamp is for Developer ID signatures only: %s", p, d.show(c))
		}
		if p != app {
			if data, _ := os.ReadFile(p); !bytes.HasSuffix(data, []byte("STUB-CODESIGN")) {
				t.Errorf("%s carries no signature", p)
			}
		}
	}
	if len(order) == 0 || order[len(order)-1] != app {
		t.Errorf("the bundle must be signed after what it holds: %v", order)
	}

	plist := readPlist(t, filepath.Join(app, "Contents", "Info.plist"))
	exe := filepath.Join(app, "Contents", "MacOS", plist["CFBundleExecutable"])
	if fi, err := os.Stat(exe); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("CFBundleExecutable %q: %v", plist["CFBundleExecutable"], err)
	}
	icon := plist["CFBundleIconFile"]
	if filepath.Ext(icon) == "" {
		icon += ".icns" // what macOS appends
	}
	if data, err := os.ReadFile(filepath.Join(app, "Contents", "Resources", icon)); err != nil || !bytes.HasPrefix(data, []byte("icns")) {
		t.Errorf("CFBundleIconFile %q: not an .icns in Resources (%v)", plist["CFBundleIconFile"], err)
	}
	if plist["CFBundleShortVersionString"] != "1.2.3" {
		t.Errorf("version %q, want 1.2.3", plist["CFBundleShortVersionString"])
	}
	if _, err := os.Stat(filepath.Join(app, "Contents", "Resources", "guest", "arm64", "manifest.json")); err != nil {
		t.Errorf("the guest is not where berth looks for it: %v", err)
	}
	t.Logf("bundle checked: %d Mach-O files and the bundle signed (hardened runtime, %s, identity %q); Info.plist names %s and %s, both present",
		len(machos), filepath.Base(ent), identity, plist["CFBundleExecutable"], icon)
}

// readPlist parses a property list whose root is a dict of simple values
// (plistDict's reading, failing the test on error).
func readPlist(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(data, new(struct{})); err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	return plistDict(t, path)
}

func wantInOrder(t *testing.T, cmds []string, prefixes ...string) {
	t.Helper()
	i := 0
	for _, c := range cmds {
		if i < len(prefixes) && strings.HasPrefix(c, prefixes[i]) {
			i++
		}
	}
	if i < len(prefixes) {
		t.Errorf("no command %q (in this order) among:\n%s", strings.ReplaceAll(prefixes[i], "\t", " "), strings.Join(cmds, "\n"))
	}
}

func contains(f []string, s string) bool {
	for _, a := range f {
		if a == s {
			return true
		}
	}
	return false
}

func hasPair(f []string, k, v string) bool {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == k && f[i+1] == v {
			return true
		}
	}
	return false
}
