// Package p9share serves one host folder to the Linux guest over 9P2000.L,
// so that nothing the guest sends can reach outside the folder. Every file
// operation goes through an os.Root opened on the folder, which resolves
// names relative to the folder's handle and refuses "..", absolute paths
// and symlinks that leave it, on Windows too; and every name the guest
// sends must first pass CheckName, Windows' naming rules applied on every
// OS. A read-only share refuses every change itself, whatever the guest's
// mount says.
package p9share

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/hugelgupf/p9/p9"
)

// Share is a p9.Attacher for one host folder.
type Share struct {
	path     string
	readOnly bool
	log      *slog.Logger

	mu   sync.Mutex
	t    *tree // open while any file of it is
	refs int

	symlinkWarning sync.Once
}

// tree is the folder as opened for one stretch of use: its root handle
// and the device it is on.
type tree struct {
	root *os.Root
	dev  uint64
}

var _ p9.Attacher = (*Share)(nil)

// New serves the folder at path; readOnly refuses every change with EROFS.
func New(path string, readOnly bool, log *slog.Logger) *Share {
	return &Share{path: path, readOnly: readOnly, log: log}
}

// Attach opens the folder if no file of it is open, and returns its root.
// A folder that is gone (moved, deleted, a drive unplugged) is said with
// its path; the guest gets ENOENT.
func (s *Share) Attach() (p9.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.t == nil {
		t, err := openTree(s.path)
		if err != nil {
			s.log.Warn("cannot serve a shared folder to the VM", "path", s.path, "err", err)
			return nil, fmt.Errorf("shared folder %s: %w", s.path, err)
		}
		s.t = t
	}
	s.refs++
	return &file{s: s, t: s.t, rel: ".", dir: true}, nil
}

func openTree(path string) (*tree, error) {
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, err
	}
	in, err := lstatAt(root, ".")
	if err != nil {
		root.Close() //nolint:errcheck // a read-only handle
		return nil, err
	}
	return &tree{root: root, dev: in.dev}, nil
}

// newFile is another file of t, which an open file already holds.
func (s *Share) newFile(t *tree, rel string, dir bool) *file {
	s.mu.Lock()
	s.refs++
	s.mu.Unlock()
	return &file{s: s, t: t, rel: rel, dir: dir}
}

// release drops a file's hold on the tree; the last one closes the root,
// so an idle share keeps nothing of the host's folder open.
func (s *Share) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	if s.refs == 0 && s.t != nil {
		s.t.root.Close() //nolint:errcheck // a read-only handle
		s.t = nil
	}
}

// fail logs a refused or failed request and says it as a Linux errno.
func (s *Share) fail(op, name string, err error) error {
	e := errno(err)
	s.log.Debug("9P request failed", "share", s.path, "op", op, "name", name, "errno", e, "err", err)
	return e
}
