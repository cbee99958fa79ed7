# Thin wrappers: `go build ./...` and `go test ./...` work without make.
# Binaries are static (CGO_ENABLED=0: everything is pure Go, SQLite too):
# a static binary starts about 0.6 ms faster, which counts for tools run
# once per job.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man
BASHDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR = $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHDIR = $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d

GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
LDFLAGS = -X github.com/stolos-sched/stolos/lib/cli.Version=$(VERSION)
BIN ?= bin
TOOLS = $(patsubst cmd/%/main.go,%,$(wildcard cmd/stolos/main.go cmd/stolos-*/main.go))
# Each tool but stolos, whose completion files are the shared ones, gets a
# link to them.
LINKED = $(filter-out stolos,$(TOOLS))

.PHONY: all build test race lint check docs docs-check install uninstall clean bench demo

all: build

build:
	mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

test:
	$(GO) test ./...

# Without atexit_sleep_ms every process built with -race sleeps 1s at exit.
race:
	GORACE=atexit_sleep_ms=10 $(GO) test -race ./...

# gofmt, go mod tidy, vet (Linux and darwin), staticcheck, shellcheck,
# mandoc and the generated docs' drift test; the test command runs it too.
lint:
	GO=$(GO) sh testdata/setup/lint.sh

check: lint test

# The flag entries of the man pages and the completion tables are written
# from the tools' flag sets (lib/docgen); go test fails when they are
# out of date.
docs:
	$(GO) generate ./lib/docgen

# The drift check alone: the generated parts match the flag sets, and every
# flag is documented and completed.
docs-check:
	$(GO) test -count=1 -run 'TestDoc(Generated|ManPagesCoverFlags|CompletionTables)$$' .

bench:
	$(GO) test -run '^$$' -bench . ./lib/...
	if [ -f testdata/bench/run.sh ]; then sh testdata/bench/run.sh; fi

demo:
	sh testdata/demo/demo.sh

# Completions are found by command name (bash-completion's lazy loader,
# fish), so each tool gets a link to the one file.
install: build
	mkdir -p $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man7 $(BASHDIR) $(ZSHDIR) $(FISHDIR)
	for t in $(TOOLS); do cp $(BIN)/$$t $(BINDIR)/$$t || exit 1; done
	cp man/*.1 $(MANDIR)/man1/
	cp man/*.7 $(MANDIR)/man7/
	cp completions/stolos.bash $(BASHDIR)/stolos
	cp completions/_stolos $(ZSHDIR)/_stolos
	cp completions/stolos.fish $(FISHDIR)/stolos.fish
	for t in $(LINKED); do \
		ln -sf stolos $(BASHDIR)/$$t && \
		ln -sf stolos.fish $(FISHDIR)/$$t.fish || exit 1; \
	done

uninstall:
	for t in $(TOOLS); do \
		rm -f $(BINDIR)/$$t $(BASHDIR)/$$t $(FISHDIR)/$$t.fish; \
	done
	for p in man/*.1; do rm -f $(MANDIR)/man1/$${p#man/}; done
	for p in man/*.7; do rm -f $(MANDIR)/man7/$${p#man/}; done
	rm -f $(BASHDIR)/stolos $(ZSHDIR)/_stolos $(FISHDIR)/stolos.fish

clean:
	rm -rf $(BIN)
