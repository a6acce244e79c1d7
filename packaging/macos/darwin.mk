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

# The guest image is built by Berth's own Go builder (packaging/cmd/mkguest,
# README "The guest image"), which builds it from Debian's archive on any OS
# with no apt, no root and no emulation (ARCHITECTURE.md, decision 9). On an
# Intel Mac vz boots a bzImage (vmhost/vz/plan.go), not the ELF vmlinux the
# amd64 image carries for QEMU: -bzimage keeps Debian's kernel as shipped.
# The welcome image's busybox comes from the same archive (mkguest -fetch).
GUEST_BUILDER ?= $(BIN)/mkguest
GUEST_BUILDER_ARGS ?= -recipe packaging/guest/recipe.json -arch $(ARCH) -cache $(BUILD)/cache/debs \
	-guestd $(BIN)/guestd-$(ARCH) -images $(CACHE)/images -out $(GUEST) $(if $(filter amd64,$(ARCH)),-bzimage)
# What the builder needs built first; the Linux test of these recipes,
# whose builder is a stub, empties it.
GUEST_PREREQS ?= $(BIN)/mkguest $(BIN)/guestd-$(ARCH) $(CACHE)/images/welcome.tar

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

guest-image: deps $(GUEST_PREREQS)
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct -- packaging/guest 2>/dev/null || echo 0) \
		$(GUEST_BUILDER) $(GUEST_BUILDER_ARGS)

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
