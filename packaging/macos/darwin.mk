# macOS recipes of `make run`, `make test` and `make package`, included by
# the Makefile when `uname -s` is Darwin. They need Go and Xcode's
# command-line tools (clang for cgo, codesign, hdiutil's companions); never
# apt, never Homebrew. README "macOS" says what each step makes.
#
# packaging/macos/darwin_make_test.go runs these recipes on Linux with the
# commands a Mac provides replaced by stubs (`make unit` runs it).

APP := $(BUILD)/Berth.app
ICNS := $(BUILD)/icons/berth.icns
DMG = $(BUILD)/dist/Berth-$(VERSION).dmg

# Signing: a "Developer ID Application: …" identity from the keychain, or
# "-" for an ad-hoc signature (enough on the Mac that built the app; see
# README "macOS" for what Gatekeeper does with it on another Mac).
# MACOS_NOTARY_PROFILE names a keychain profile of `xcrun notarytool
# store-credentials`; with it (and an identity) `make package` notarizes
# the .dmg and staples the ticket.
MACOS_SIGN_IDENTITY ?= -
MACOS_NOTARY_PROFILE ?=

# The guest image builder is Berth's own Go command, which builds the image
# from Debian's archive on any OS (ARCHITECTURE.md, decision 9). It is
# issue #23's, written in parallel on another branch, and not on this one
# yet: until it lands `make guest-image` stops here with a message saying
# so. Its command line below is the expected one; match it when #23 lands.
# On an Intel Mac vz boots a bzImage (vmhost/vz/plan.go), not the ELF
# vmlinux the amd64 image carries for QEMU: the builder must keep Debian's
# vmlinuz as shipped for this build.
DEFAULT_GUEST_BUILDER := go run ./packaging/cmd/mkguest
GUEST_BUILDER ?= $(DEFAULT_GUEST_BUILDER)
GUEST_BUILDER_ARGS ?= -suite $(SUITE) -arch $(ARCH) -kernel-flavour $(KERNEL_FLAVOUR) -o $(GUEST)

# What runs a binary of the bundle: nothing on a Mac. The Linux test of
# these recipes sets it to a stub, since Linux cannot exec Mach-O.
MACOS_RUN ?=

.PHONY: xcode-tools app

# Nothing to install: Go is the developer's, Xcode's command-line tools
# Apple's. LSMinimumSystemVersion (Info.plist) is 12.3: vz's disk serials.
deps: xcode-tools

xcode-tools:
	@xcode-select -p >/dev/null 2>&1 || { \
		echo "Xcode's command-line tools are missing (clang for cgo, codesign): run \`xcode-select --install\`, then make again." >&2; exit 1; }
	@v=$$(sw_vers -productVersion); major=$${v%%.*}; rest=$${v#*.}; minor=$${rest%%.*}; \
	if [ "$$major" -lt 12 ] || { [ "$$major" -eq 12 ] && [ "$$minor" -lt 3 ]; }; then \
		echo "macOS $$v: Berth needs macOS 12.3 or newer (Apple's Virtualization framework with disk serials)." >&2; exit 1; fi

guest-image: deps
	@if [ "$(GUEST_BUILDER)" = "$(DEFAULT_GUEST_BUILDER)" ] && [ ! -d packaging/cmd/mkguest ]; then \
		if [ -f $(GUEST)/manifest.json ]; then \
			echo "No guest image builder in this tree (issue #23): using the image already in $(GUEST)/." >&2; exit 0; fi; \
		echo "The guest image builder (packaging/cmd/mkguest, issue #23) is not in this tree yet, and the" >&2; \
		echo "Debian-only shell builder cannot run on a Mac. Merge #23, or point GUEST_BUILDER at a built one" >&2; \
		echo "(make GUEST_BUILDER=/path/to/mkguest), or copy a guest image built elsewhere to $(GUEST)/." >&2; \
		exit 1; \
	else $(GUEST_BUILDER) $(GUEST_BUILDER_ARGS); fi

$(ICNS): $(BIN)/mkicons
	$(BIN)/mkicons -icns $@

# Berth.app, assembled and signed every time (cheap: the guest is cloned on
# APFS): the identity may differ from the last build's.
app: guest-image $(BIN)/berth $(BIN)/berth-gui $(ICNS)
	bash packaging/macos/bundle.sh '$(VERSION)' $(BIN) $(GUEST) $(ICNS) $(BUILD) '$(MACOS_SIGN_IDENTITY)'

# Berth from the bundle: the signed berth inside it is the only binary that
# runs the daemon (and so calls vz); `open` shows the dashboard.
run: app
	$(MACOS_RUN) $(APP)/Contents/MacOS/berth start
	open $(APP)
	@echo "berth on your PATH: ln -sf $(abspath $(APP))/Contents/MacOS/berth /usr/local/bin/berth (README \"macOS\")."

# The unit tests (macOS's own, vz's cgo included), then the bundle's
# signature as macOS checks it. The e2e suite boots QEMU: Linux only.
test: unit app
	codesign --verify --strict --verbose=2 $(APP)
	codesign --display --entitlements - $(APP)/Contents/MacOS/berth

package: app
	bash packaging/macos/dmg.sh $(APP) $(DMG) '$(MACOS_SIGN_IDENTITY)' '$(MACOS_NOTARY_PROFILE)'
