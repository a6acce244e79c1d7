package hyperv

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Each user's machine boots from copies of the installed guest disks, kept
// beside the user's data disk, never from the files in Program Files:
//   - A VM can open only files whose ACL grants its service SID (NT
//     VIRTUAL MACHINE\<VM ID>); Hyper-V adds that entry when it attaches a
//     disk, working as the caller, and a disk without it fails to power on
//     with "General access denied error" (0x80070005). An unelevated user
//     may not change the ACL of a file in Program Files; a file under the
//     user's own folder is the user's to grant. (Read, not run here.)
//   - A VHDX attached read-write is held exclusively: two users' machines
//     cannot attach the same file at once.
//   - A differencing disk over a read-only parent would save the copy's
//     space, but every VM's service SID must then read the parent in
//     Program Files (an ACL the installer would have to grant to the
//     Virtual Machines group) and Berth would have to write VHDX child
//     disks; podman machine keeps a copy of the image per machine, and the
//     copy costs seconds once per guest image.

// userDisks are where a user's copies of the Hyper-V disks live.
func userDisks(dataDisk string) (boot, system string) {
	dir := filepath.Join(filepath.Dir(dataDisk), "hyperv")
	return filepath.Join(dir, "boot.vhdx"), filepath.Join(dir, "system.vhdx")
}

// stampFile records which installed guest image the copies were made from.
const stampFile = "source.json"

// diskStamp identifies an installed guest image: the manifest that lists
// what went into it, and each disk's size and time.
type diskStamp struct {
	Manifest string     `json:"manifest"` // SHA-256 of manifest.json
	Files    []fileMark `json:"files"`
}

type fileMark struct {
	Path string    `json:"path"`
	Size int64     `json:"size"`
	Time time.Time `json:"time"`
}

func stampOf(guestDir string, files []string) (diskStamp, error) {
	var s diskStamp
	m, err := os.ReadFile(filepath.Join(guestDir, "manifest.json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	s.Manifest = fmt.Sprintf("%x", sha256.Sum256(m))
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return s, fmt.Errorf("the installed guest image: %w", err)
		}
		s.Files = append(s.Files, fileMark{Path: f, Size: fi.Size(), Time: fi.ModTime().UTC()})
	}
	return s, nil
}

// copyPair is one installed disk and the user's copy of it.
type copyPair struct{ From, To string }

// refreshDisks makes the user's copies equal the installed guest image's
// disks: copied when missing or when the installed image changed since
// (an upgrade), replacing the old copies, and otherwise left as they are.
// Each copy is written beside its final name and renamed into place, so an
// interrupted copy never passes for a whole one. progress hears how far
// the copy has got.
func refreshDisks(guestDir string, pairs []copyPair, progress func(string)) error {
	var from []string
	for _, p := range pairs {
		from = append(from, p.From)
	}
	want, err := stampOf(guestDir, from)
	if err != nil {
		return err
	}
	dir := filepath.Dir(pairs[0].To)
	stamp := filepath.Join(dir, stampFile)
	if fresh(stamp, want, pairs) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("guest disks: %w", err)
	}
	// The copies are stale from here on, whatever happens next.
	if err := os.Remove(stamp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("guest disks: %w", err)
	}
	var total, done int64
	for _, f := range want.Files {
		total += f.Size
	}
	for _, p := range pairs {
		if err := copyFile(p.From, p.To, func(n int64) {
			if progress != nil && total > 0 {
				progress(fmt.Sprintf("copying the guest's disks for this user (%d%%)", (done+n)*100/total))
			}
		}); err != nil {
			return fmt.Errorf("copy the guest disk %s to %s: %w", p.From, p.To, err)
		}
		fi, _ := os.Stat(p.From)
		done += fi.Size()
	}
	b, _ := json.MarshalIndent(want, "", "  ")
	if err := os.WriteFile(stamp, b, 0o600); err != nil {
		return fmt.Errorf("guest disks: %w", err)
	}
	return nil
}

// fresh says whether the copies were made from the image want stands for
// and are all there.
func fresh(stamp string, want diskStamp, pairs []copyPair) bool {
	b, err := os.ReadFile(stamp)
	if err != nil {
		return false
	}
	var have diskStamp
	if json.Unmarshal(b, &have) != nil || have.Manifest != want.Manifest || len(have.Files) != len(want.Files) {
		return false
	}
	for i, f := range want.Files {
		h := have.Files[i]
		if h.Path != f.Path || h.Size != f.Size || !h.Time.Equal(f.Time) {
			return false
		}
		if fi, err := os.Stat(pairs[i].To); err != nil || fi.Size() != f.Size {
			return false
		}
	}
	return true
}

// copyFile copies from to to through to.partial, reporting bytes copied
// every 64 MiB.
func copyFile(from, to string, copied func(int64)) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := to + ".partial"
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	var n int64
	buf := make([]byte, 1<<20)
	for {
		m, rerr := src.Read(buf)
		if m > 0 {
			if _, err := dst.Write(buf[:m]); err != nil {
				dst.Close()
				return err
			}
			if n/(64<<20) != (n+int64(m))/(64<<20) {
				copied(n + int64(m))
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			dst.Close()
			return rerr
		}
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	copied(n)
	return os.Rename(tmp, to)
}
