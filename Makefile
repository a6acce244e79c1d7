# Berth build. `make run` builds everything and boots Berth; `make test` runs
# the unit tests and the end-to-end suite (which boots a real VM).
# On macOS (Darwin) the same two commands take the recipes of
# packaging/macos/darwin.mk instead of this file's Linux ones: nothing from
# apt, Berth.app signed, and the guest for the Mac's own architecture.

UNAME_S := $(shell uname -s)
ifeq ($(UNAME_S),Darwin)
UNAME_M := $(shell uname -m)
ARCH ?= $(if $(filter arm64,$(UNAME_M)),arm64,amd64)
endif
ARCH ?= amd64
# The Debian release the guest is built from (README "The guest image").
# SUITE=bookworm builds the previous image (dockerd 20.10) into directories
# of its own: the engine-upgrade test boots it.
SUITE ?= trixie
# See README "Guest kernel" for why (measured boot times and modules).
KERNEL_FLAVOUR ?= cloud
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

ifeq ($(KERNEL_FLAVOUR),generic)
KERNEL_PKG := linux-image-$(ARCH)
else
KERNEL_PKG := linux-image-$(KERNEL_FLAVOUR)-$(ARCH)
endif

# How system.img holds its files' data (mkguest -uncompressed; README
# "Linux package" and "Windows installer"): compressed for the images booted from build/ and the
# Mac's disk image, whose compressor works in chunks; stored for the images
# a package compresses as one stream (the .deb, the Windows installer),
# which then come out a third smaller.
GUEST_DATA ?= compressed

BUILD := build
BIN   := $(BUILD)/bin
CACHE := $(BUILD)/cache/$(SUITE)/$(ARCH)
SUITE_DIR := $(if $(filter trixie,$(SUITE)),,-$(SUITE))
GUEST := $(BUILD)/guest$(SUITE_DIR)/$(ARCH)
GO_SOURCES := go.mod go.sum $(shell find . -name '*.go' -not -path './build/*')
GUESTD_SOURCES := go.mod go.sum $(shell find guestd netproxy/relay -name '*.go' -not -name '*_test.go')

.PHONY: all deps run test unit lint fuzz cross e2e reliability bench bench-compare bench-share bench-boot stall-repro guest-image guest-image-generic guest-image-stored guest-image-hyperv guest-image-bookworm guest-image-arm64 package test-package clean
all: guest-image

ifeq ($(UNAME_S),Darwin)
include packaging/macos/darwin.mk
else
deps:
	bash packaging/install-deps.sh
	bash packaging/start-libvirtd.sh

# Nothing from the host but Go: no deps, so a normal user builds it.
guest-image: $(GUEST)/manifest.json
endif

# Single packages (busybox for the welcome image, the CLI plugins) come
# from the same verified archive as the guest, unpacked by the Go builder
# without apt (mkguest -fetch).
MKGUEST_FETCH = $(BIN)/mkguest -recipe packaging/guest/recipe.json -cache $(BUILD)/cache/debs \
	$(if $(MIRROR),-mirror $(MIRROR))

$(CACHE)/busybox: $(BIN)/mkguest
	rm -rf $(CACHE)/busybox-deb
	$(MKGUEST_FETCH) -suite $(SUITE) -arch $(ARCH) -fetch busybox-static -out $(CACHE)/busybox-deb
	cp $$(find $(CACHE)/busybox-deb -path '*bin/busybox' -type f) $@

$(BIN)/guestd-$(ARCH): $(GUESTD_SOURCES)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $@ ./guestd

$(BIN)/berth: $(GO_SOURCES)
	go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $@ ./app/berth

# The window and tray (fyne on GLFW): cgo, X11 and OpenGL headers.
# Both without the symbol table and DWARF, as Debian strips binaries: a
# panic's trace keeps its function names and lines.
$(BIN)/berth-gui: $(GO_SOURCES)
	CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o $@ ./app/berth-gui

$(BIN)/mkimagearchive: $(shell find packaging -name '*.go')
	go build -o $@ ./packaging/cmd/mkimagearchive

$(BIN)/mkicons: $(shell find assets packaging/cmd/mkicons -type f)
	go build -o $@ ./packaging/cmd/mkicons

$(CACHE)/images/welcome.tar: $(CACHE)/busybox $(BIN)/mkimagearchive packaging/guest/busybox-rootfs.sh packaging/guest/welcome/index.html
	bash packaging/guest/busybox-rootfs.sh $(CACHE)/busybox $(CACHE)/welcome-rootfs
	cp packaging/guest/welcome/index.html $(CACHE)/welcome-rootfs/www/
	mkdir -p $(dir $@)
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct -- packaging/guest/welcome 2>/dev/null || echo 0) \
	$(BIN)/mkimagearchive -rootfs $(CACHE)/welcome-rootfs -tag berth/welcome:latest -arch $(ARCH) \
		-cmd '["/bin/httpd","-f","-v","-p","80","-h","/www"]' -expose 80/tcp -o $@

# The guest image from Berth's own Go builder (packaging/imagebuild, README
# "The guest image"): Debian's archive to squashfs image and initrd with no
# root and no Debian tools. The kernel as Debian ships it (a bzImage on
# amd64) is kept beside the cache for Hyper-V's boot disk.
$(BIN)/mkguest: $(shell find packaging -name '*.go')
	go build -o $@ ./packaging/cmd/mkguest

$(GUEST)/manifest.json: $(BIN)/mkguest $(BIN)/guestd-$(ARCH) $(CACHE)/images/welcome.tar \
		packaging/guest/recipe.json packaging/guest/packages.txt
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct -- packaging/guest 2>/dev/null || echo 0) \
	$(BIN)/mkguest -recipe packaging/guest/recipe.json -arch $(ARCH) -suite $(SUITE) -kernel $(KERNEL_PKG) \
		-cache $(BUILD)/cache/debs $(if $(MIRROR),-mirror $(MIRROR)) -guestd $(BIN)/guestd-$(ARCH) \
		$(if $(filter stored,$(GUEST_DATA)),-uncompressed) -images $(CACHE)/images -kernel-shipped $(CACHE)/vmlinuz-$(KERNEL_FLAVOUR) \
		-modules-list $(CACHE)/modules-$(KERNEL_FLAVOUR).txt -out $(GUEST)

# The host side must keep building for macOS and Windows, which cannot run
# here; the guest side (guestd, e2e) is Linux only and tagged so.
# fyne's widgets and vz on macOS are cgo (Objective-C), which cannot be
# compiled here: go vet skips the packages that need them for darwin, and
# internal/typecheck type-checks every darwin package, cgo ones included,
# without a C compiler (arm64 and Intel Macs).
DARWIN_PURE_GO = $$(GOOS=darwin go list -f '{{.ImportPath}} {{join .Deps " "}}' ./... | grep -Ev 'fyne.io/fyne|Code-Hex/vz' | cut -d' ' -f1)
# The packages with goroutines of their own, also run under the race
# detector (the rest gain little and would double the run).
RACE_PKGS := ./app/daemon/... ./app/launcher/... ./app/control/... ./netproxy/... ./guestd/... ./filesharing/... ./vmhost/...
unit: lint
	go test ./...
	go test -race $(RACE_PKGS)
	GOOS=darwin GOARCH=arm64 go vet $(DARWIN_PURE_GO)
	go run ./internal/typecheck -os darwin -arch arm64 ./...
	go run ./internal/typecheck -os darwin -arch amd64 ./...
	GOOS=windows GOARCH=amd64 go build ./...
	GOOS=windows GOARCH=amd64 go vet ./...

# golangci-lint (.golangci.yml), pinned, built from the Go module proxy into
# build/tools. Linted for linux and windows; darwin's packages are cgo (vz,
# fyne) and need Apple's SDK, so internal/typecheck is what checks them.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BUILD)/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)
$(GOLANGCI_LINT):
	mkdir -p $(BUILD)/tools
	GOBIN=$(CURDIR)/$(BUILD)/tools go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BUILD)/tools/golangci-lint $@

lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...
	GOOS=windows $(GOLANGCI_LINT) run ./...

# Hostile input: each Go fuzz target for FUZZTIME, printing its executions.
# A crash fails the target and leaves the input in the package's
# testdata/fuzz, where plain `go test` replays it from then on.
# Go's fuzz coordinator can report its own -fuzztime deadline as a failure
# ("context deadline exceeded", no input written: a race between the
# deadline's parent and child contexts in internal/fuzz). Such a run found
# nothing, so the target runs once more; a second failure of any kind fails.
FUZZTIME ?= 20s
FUZZ_TARGETS := ./app/daemon:FuzzControlAPI ./app/settings:FuzzDecode ./filesharing:FuzzRewriteCreate \
	./filesharing:FuzzBind ./filesharing/p9share:FuzzWalk ./guestd/protocol:FuzzParseOptions \
	./netproxy/apifilter:FuzzRequests ./netproxy/hostdns:FuzzServe
fuzz:
	@mkdir -p $(BUILD)
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t#*:}; log=$(BUILD)/fuzz-$$name.log; \
		go test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) >$$log 2>&1; rc=$$?; \
		if [ $$rc -ne 0 ] && grep -qE '^[[:space:]]*context deadline exceeded$$' $$log && ! grep -q 'Failing input written' $$log; then \
			echo "$$name: the fuzz coordinator's own deadline race, nothing found; running it again"; \
			go test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) >$$log 2>&1; rc=$$?; fi; \
		echo "$$name: $$(grep -o 'execs: [0-9]*' $$log | tail -1 | cut -d' ' -f2) executions in $(FUZZTIME), $$(tail -1 $$log)"; \
		if [ $$rc -ne 0 ]; then cat $$log; exit 1; fi; done

# The dashboard for Windows, cgo and all, with MinGW (fyne's GLFW is C):
# the one host binary `make unit` cannot check by go vet alone. macOS's
# needs Apple's SDK; internal/typecheck is what runs for it here.
# Then the installer, build/dist/Berth-Setup-<version>.exe (README
# "Windows installer"), with the Hyper-V disks; it cannot run here, so
# its contents are checked.
WIN_BIN := $(BIN)/windows-amd64
INSTALLER = $(BUILD)/dist/Berth-Setup-$(VERSION).exe
cross: deps guest-image-hyperv $(WIN_BIN)/docker.exe
	bash packaging/windows/check-nsi.sh
	CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc \
		go build -trimpath -ldflags "-s -w -H=windowsgui" -o $(WIN_BIN)/berth-gui.exe ./app/berth-gui
	GOOS=windows GOARCH=amd64 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(WIN_BIN)/berth.exe ./app/berth
	bash packaging/windows/build.sh '$(VERSION)' $(WIN_BIN) $(GENERIC_GUEST) $(BUILD)/dist
	bash packaging/windows/test-installer.sh $(INSTALLER) $(WIN_BIN) $(GENERIC_GUEST)

GENERIC_GUEST := $(BUILD)/guest-generic$(SUITE_DIR)/$(ARCH)

# The docker CLI the installer ships, built from docker/cli's source on the
# Go module proxy (README "Windows installer"). 28.5.2 speaks API 1.51 and
# negotiates down to the guest engine's 1.45.
DOCKER_CLI_VERSION := 28.5.2
DOCKER_CLI := $(BUILD)/cache/docker-cli-$(DOCKER_CLI_VERSION)/docker.exe
$(DOCKER_CLI): packaging/windows/docker-cli.sh
	bash packaging/windows/docker-cli.sh $(DOCKER_CLI_VERSION) $@ $(BUILD)/cache/docker-cli-src

$(WIN_BIN)/docker.exe: $(DOCKER_CLI)
	mkdir -p $(dir $@)
	cp $< $@

# The generic kernel's image: the only one with 9p, the sharing fallback.
# Stored, as the Windows installer carries it (its Hyper-V disks).
guest-image-generic:
	$(MAKE) guest-image KERNEL_FLAVOUR=generic GUEST_DATA=stored GUEST=$(GENERIC_GUEST)

# The image the .deb carries: the default one, stored.
PKG_GUEST := $(BUILD)/guest-stored$(SUITE_DIR)/$(ARCH)
guest-image-stored:
	$(MAKE) guest-image GUEST_DATA=stored GUEST=$(PKG_GUEST)

# Hyper-V's disks (README "Windows"), from the generic kernel's image
# (Hyper-V shares are 9p): the kernel, initrd and this command line as one
# EFI program. vmhost/hyperv's BootCmdline must equal it (its test checks).
HYPERV_CMDLINE := console=ttyS0 quiet panic=-1 no_timer_check berth.system_disk=scsi-lun:1 berth.vsock_options=1024 berth.vsock_log=1026

guest-image-hyperv: guest-image-generic
	$(MAKE) $(GENERIC_GUEST)/hyperv/boot.vhdx

$(GENERIC_GUEST)/hyperv/boot.vhdx: $(GENERIC_GUEST)/manifest.json packaging/guest/hyperv-boot.sh
	bash packaging/guest/hyperv-boot.sh $(CACHE)/vmlinuz-generic \
		$(GENERIC_GUEST)/initrd.img $(GENERIC_GUEST)/system.img '$(HYPERV_CMDLINE)' \
		$(GENERIC_GUEST)/hyperv $(CACHE)/hyperv-work

BOOKWORM_GUEST := $(BUILD)/guest-bookworm/$(ARCH)

# The previous guest (Debian 12, dockerd 20.10), which the engine-upgrade
# test boots before the current one on the same data disk.
guest-image-bookworm:
	$(MAKE) guest-image SUITE=bookworm

# The arm64 guest (what vz boots on Apple silicon), which TestArm64Guest
# boots under emulation.
guest-image-arm64:
	$(MAKE) guest-image ARCH=arm64

# The docker CLI's buildx and compose plugins for the e2e suite's docker
# config, from Debian 13's docker-buildx and docker-compose packages (static
# binaries): unpacked, nothing installed on the host.
HOST_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
CLI_PLUGINS := $(BUILD)/cache/cli-plugins-$(HOST_ARCH)
$(CLI_PLUGINS)/docker-buildx: $(BIN)/mkguest
	rm -rf $(CLI_PLUGINS) $(CLI_PLUGINS)-deb
	$(MKGUEST_FETCH) -arch $(HOST_ARCH) -fetch docker-buildx,docker-compose -out $(CLI_PLUGINS)-deb
	mkdir -p $(CLI_PLUGINS)
	cp $(CLI_PLUGINS)-deb/usr/libexec/docker/cli-plugins/docker-buildx $(CLI_PLUGINS)-deb/usr/libexec/docker/cli-plugins/docker-compose $(CLI_PLUGINS)/

# A Debian 13 host's root filesystem (QEMU 10.0, libvirt 11.3, the Rust
# virtiofsd), from the same verified archive by the same Go builder, which
# TestDebian13Host enters to run Berth on a Debian 13 host stack. Its
# packages stay in build/cache/debs; it is rebuilt when its recipe changes.
HOST13_ROOT := $(BUILD)/cache/host-trixie/root.tar
$(HOST13_ROOT): $(BIN)/mkguest packaging/host/recipe.json packaging/host/packages.txt
	$(BIN)/mkguest -recipe packaging/host/recipe.json -arch $(HOST_ARCH) -cache $(BUILD)/cache/debs \
		$(if $(MIRROR),-mirror $(MIRROR)) -root-only -tar $@

# Variables that change what the e2e suite tests, cleared so that none
# leaks in from the environment: BERTH_ACCEL would hide the KVM fall back,
# BERTH_LOAD_CALLS shrink the load test, BERTH_BENCH* pick benchmarks.
E2E_CLEAN_ENV := env -u BERTH_ACCEL -u BERTH_LOAD_CALLS -u BERTH_BENCH -u BERTH_BENCH_ROUNDS -u BERTH_BENCH_SHARE -u BERTH_BENCH_SHARE_TUNING -u BERTH_VIRTIOFS \
	-u BERTH_BENCH_COMPARE -u BERTH_BENCH_BOOT -u BERTH_BENCH_GUEST -u BERTH_PPROF -u BERTH_STALL_REPRO -u BERTH_STALL_MACHINE

# Runs go test with a log under build/, then lists every skipped test with
# its reason; the status is go test's.
define logged_test
	@mkdir -p $(BUILD)/bench
	{ $(2); echo $$? > $(1).status; } 2>&1 | tee $(1)
	@bash e2e/skips.sh $(1)
	@echo "log: $(CURDIR)/$(1)"
	@exit $$(cat $(1).status)
endef

# Screenshots of the GUI test land in build/artifacts/gui. TestBench runs
# as a smoke (each group once, small: README "Performance"), so that the
# benchmarks' code runs in every CI run; make bench measures.
e2e: deps guest-image guest-image-generic guest-image-hyperv guest-image-bookworm guest-image-arm64 $(BIN)/berth $(BIN)/berth-gui package $(CLI_PLUGINS)/docker-buildx $(HOST13_ROOT)
	$(call logged_test,$(BUILD)/e2e.log,$(E2E_CLEAN_ENV) BERTH_BENCH=smoke \
		BERTH_DEB=$(CURDIR)/$(DEB) BERTH_GUEST_DIR=$(CURDIR)/$(GUEST) BERTH_GUEST_DIR_GENERIC=$(CURDIR)/$(GENERIC_GUEST) \
		BERTH_GUEST_DIR_BOOKWORM=$(CURDIR)/$(BOOKWORM_GUEST) BERTH_GUEST_DIR_ARM64=$(CURDIR)/$(BUILD)/guest/arm64 BERTH_CLI_PLUGINS=$(CURDIR)/$(CLI_PLUGINS) \
		BERTH_BUSYBOX=$(CURDIR)/$(CACHE)/busybox BERTH_BIN=$(CURDIR)/$(BIN)/berth \
		BERTH_ARTIFACTS=$(CURDIR)/$(BUILD)/artifacts BERTH_HOST13_ROOT=$(CURDIR)/$(HOST13_ROOT) \
		go test -tags e2e -count=1 -timeout 75m -parallel 2 -v ./e2e/)

ifneq ($(UNAME_S),Darwin)
test: unit fuzz cross e2e test-package
endif

# The reliability suite alone (README "Reliability"): daemon and power
# crashes, full host and data disks, restart policies. `make e2e` (and so
# `make test`) runs it with the rest; it is sized to fit in 15 minutes
# under emulation.
# Its log is kept in build/bench/reliability-TIME.log.
reliability: deps guest-image $(BIN)/berth
	$(call logged_test,$(BUILD)/bench/reliability-$(RUN_TIME).log,$(E2E_CLEAN_ENV) \
		BERTH_GUEST_DIR=$(CURDIR)/$(GUEST) BERTH_BUSYBOX=$(CURDIR)/$(CACHE)/busybox BERTH_BIN=$(CURDIR)/$(BIN)/berth \
		go test -tags e2e -count=1 -timeout 30m -parallel 2 -run TestReliability -v ./e2e/)

# A run's time, for its log's name.
RUN_TIME := $(shell date -u +%Y%m%dT%H%M%SZ)

# Shared folders against the guest's own ext4: virtiofs on the shipped image,
# then virtiofs and 9p on the generic kernel's image (the cloud kernel has no
# 9p), in one run.
bench-share: deps guest-image guest-image-generic $(BIN)/berth
	$(call logged_test,$(BUILD)/bench/bench-share-$(RUN_TIME).log,BERTH_BENCH_SHARE=1 BERTH_BENCH_ROUNDS=$(BERTH_BENCH_ROUNDS) \
		BERTH_GUEST_DIR=$(CURDIR)/$(GUEST) BERTH_GUEST_DIR_GENERIC=$(CURDIR)/$(GENERIC_GUEST) \
		BERTH_BUSYBOX=$(CURDIR)/$(CACHE)/busybox BERTH_BIN=$(CURDIR)/$(BIN)/berth \
		go test -tags e2e -count=1 -timeout 90m -run TestShareBench -v ./e2e/)

# Berth against its references, side by side in one run (e2e/bench_test.go):
# start against bare QEMU, published ports against QEMU's user network, the
# docker API against the engine's own port, shares against the guest's ext4,
# and the daemon's idle cost. Prints one table; JSON lands in build/bench.
# BERTH_BENCH=net,api (groups: start net api share idle) runs a part;
# BERTH_BENCH_ROUNDS is how many times each start and transfer is repeated
# (the median is reported; 1 for a quick run on a busy machine).
# BERTH_PPROF=1 also profiles the daemon during each kind of transfer
# (build/bench/*.pprof); BERTH_BENCH_GUEST='cmd' runs cmd in the guest
# first, to measure one guest setting's effect.
BERTH_BENCH ?= 1
BERTH_BENCH_ROUNDS ?= 3
bench: deps guest-image $(BIN)/berth
	$(call logged_test,$(BUILD)/bench/bench-$(RUN_TIME).log,BERTH_BENCH=$(BERTH_BENCH) BERTH_BENCH_ROUNDS=$(BERTH_BENCH_ROUNDS) \
		BERTH_BENCH_OUT=$(CURDIR)/$(BUILD)/bench BERTH_GUEST_DIR=$(CURDIR)/$(GUEST) \
		BERTH_BUSYBOX=$(CURDIR)/$(CACHE)/busybox BERTH_BIN=$(CURDIR)/$(BIN)/berth \
		go test -tags e2e -count=1 -timeout 120m -run 'TestBench$$' -v ./e2e/)

# Several Berth builds side by side (e2e/bench_compare_test.go): berth start
# until the engine answers, each started in turn; then, all running at once
# and measured in turn, published-port throughput and a docker build while a
# container holds 65 % of the guest's memory: how one change's effect is
# told apart from a noisy machine. BERTH_BENCH_COMPARE (in the environment)
# is a JSON list of {"name", "bin", "guest_dir", "guest"} (guest_dir: its
# guest image, default this tree's; guest: a command run in the guest after
# start); the first is the baseline.
bench-compare: deps guest-image $(BIN)/berth
	BERTH_BENCH_ROUNDS=$(BERTH_BENCH_ROUNDS) BERTH_GUEST_DIR=$(CURDIR)/$(GUEST) \
		BERTH_BUSYBOX=$(CURDIR)/$(CACHE)/busybox BERTH_BIN=$(CURDIR)/$(BIN)/berth \
		go test -tags e2e -count=1 -timeout 120m -run 'TestBenchCompare$$' -v ./e2e/

# Boot milestones of the previous (Debian 12) and the current guest image,
# booted in turn; prints medians and ratios.
bench-boot: deps guest-image guest-image-bookworm
	BERTH_BENCH_BOOT=1 BERTH_GUEST_DIR=$(CURDIR)/$(GUEST) BERTH_GUEST_DIR_BOOKWORM=$(CURDIR)/$(BOOKWORM_GUEST) \
		go test -tags e2e -count=1 -timeout 60m -run TestBootBench -v ./e2e/

# How often the workload that once stalled the data disk under emulation
# stalls it: RUNS fresh machines, MINUTES of churn each (STALL_MACHINE: berth
# start's flags, e.g. "--cpus 2"). Its log is kept in
# build/bench/stall-repro-TIME.log.
RUNS ?= 10
MINUTES ?= 15
STALL_MACHINE ?=
STALL_SPEC = $(RUNS),$(MINUTES)
stall-repro: deps guest-image $(BIN)/berth
	$(call logged_test,$(BUILD)/bench/stall-repro-$(RUN_TIME).log,$(E2E_CLEAN_ENV) \
		BERTH_STALL_REPRO=$(STALL_SPEC) BERTH_STALL_MACHINE="$(STALL_MACHINE)" \
		BERTH_GUEST_DIR=$(CURDIR)/$(GUEST) BERTH_BUSYBOX=$(CURDIR)/$(CACHE)/busybox BERTH_BIN=$(CURDIR)/$(BIN)/berth \
		go test -tags e2e -count=1 -timeout 0 -run TestStallRepro -v ./e2e/)

# Starts the machine, then opens the dashboard when there is a display.
ifneq ($(UNAME_S),Darwin)
run: deps guest-image $(BIN)/berth $(BIN)/berth-gui
	$(BIN)/berth start
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" != Linux ]; then $(BIN)/berth gui; \
	else echo "No display: the dashboard opens with \`$(BIN)/berth\` on a desktop."; fi
endif

# The Debian package, build/dist/berth_<version>_<arch>.deb, with dpkg-deb
# alone (README "Linux package"). The version comes from git
# (packaging/deb/version.sh) unless DEB_VERSION is given.
DEB_VERSION ?= $(shell bash packaging/deb/version.sh)
DEB = $(BUILD)/dist/berth_$(DEB_VERSION)_$(ARCH).deb
DEB_COMPRESS ?= xz
DEB_COMPRESS_LEVEL ?= 9
DEB_MAINTAINER ?= Berth maintainers <maintainers@berth.dev>
ifneq ($(UNAME_S),Darwin)
package: guest-image-stored $(BIN)/berth $(BIN)/berth-gui $(BIN)/mkicons
	rm -rf $(BUILD)/icons
	$(BIN)/mkicons -o $(BUILD)/icons
	DEB_COMPRESS=$(DEB_COMPRESS) DEB_COMPRESS_LEVEL=$(DEB_COMPRESS_LEVEL) DEB_MAINTAINER='$(DEB_MAINTAINER)' bash packaging/deb/build.sh \
		'$(DEB_VERSION)' $(ARCH) $(BIN) $(PKG_GUEST) $(BUILD)/icons $(BUILD)/deb $(BUILD)/dist
endif

# Installs the package with apt (as root), checks it, removes it, and
# checks that a user's data outlived the removal.
test-package: package
	bash packaging/deb/test-resolve.sh $(DEB)
	bash packaging/deb/test-install.sh $(DEB)

clean:
	rm -rf $(BUILD)
