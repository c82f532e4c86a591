package fastcommit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/journal"
)

// TestStrandedByFastCommit: a fast-commit INODE record that carries the
// chain head with one link and i_dtime 0 (the kernel logged it after a
// truncate had taken it off the list again, before that list change was
// committed; the stress campaign captured this) cuts the chain after the
// head when replayed, by the kernel, by e2fsck and by ext4relink alike. The
// orphans behind it still have no links and intact data: they are listed as
// "stranded" and --all relinks them with their original content.
//
// The image is the ext4-fastcommit fixture with its last INODE record
// rewritten to carry the chain head that way (checksums recomputed).
func TestStrandedByFastCommit(t *testing.T) {
	fx := fixtures.Get(t, "ext4-fastcommit")
	a := loadFCArea(t, fx.Path)
	last, ok := a.last(journal.FCTagInode)
	if !ok {
		t.Fatal("the fixture's fast commit has no INODE record")
	}
	orig, err := engine.LoadFS(&fcMemDev{a.img})
	if err != nil {
		t.Fatal(err)
	}
	before, err := orig.Orphans()
	if err != nil || len(before.Orphans) < 3 {
		t.Fatalf("the fixture's chain: %v %v", before, err)
	}
	head := before.Orphans[0].Inode
	in, _, err := orig.ReadInode(head)
	if err != nil {
		t.Fatal(err)
	}
	in.LinksCount, in.Dtime = 1, 0
	in.SetChecksum(orig.SB, head)
	rawHead := in.Encode()

	raw := a.with(func(b map[uint64][]byte) {
		v := b[last.Block][last.Offset+4 : last.Offset+4+int(last.Len)]
		binary.LittleEndian.PutUint32(v, head)
		copy(v[4:], rawHead[:len(v)-4])
	})
	p := filepath.Join(t.TempDir(), "stranded.img")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	fsOp, err := engine.OpenFS(p, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fs, dev := fsOp.FS, fsOp.Dev
	if fs.Journal.FastCommitsRefused != nil {
		dev.Close()
		t.Fatalf("the rewritten fast commit is not replayed: %v", fs.Journal.FastCommitsRefused)
	}
	l, err := fs.Orphans()
	dev.Close()
	if err != nil {
		t.Fatal(err)
	}
	stranded := map[uint32]bool{}
	for _, o := range l.Orphans {
		switch {
		case o.Inode == head:
			if o.Source != engine.SourceChain || o.State != engine.StateTruncating {
				t.Errorf("head %d: %+v", head, o)
			}
		case o.Source == engine.SourceStranded:
			stranded[o.Inode] = true
		default:
			t.Errorf("inode %d listed as %s", o.Inode, o.Source)
		}
	}
	if len(stranded) != len(before.Orphans)-1 {
		t.Fatalf("%d stranded orphans listed, want %d", len(stranded), len(before.Orphans)-1)
	}

	plan, err := relinkImage(t, p, engine.Request{All: true})
	if err != nil {
		t.Fatal(err)
	}
	fsOp, err = engine.OpenFS(p, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fs, dev = fsOp.FS, fsOp.Dev
	defer dev.Close()
	n := 0
	for _, r := range plan.Relinks {
		if !stranded[r.Inode] {
			t.Errorf("relinked inode %d, which was not stranded", r.Inode)
			continue
		}
		o := manifestOrphan(t, fx, r.Inode)
		data, err := fs.ReadPath(r.Path)
		if err != nil {
			t.Fatal(err)
		}
		if s := sha256.Sum256(data); o.Kind != "dir" && hex.EncodeToString(s[:]) != o.SHA256 {
			t.Errorf("%s (inode %d) has the wrong content", r.Path, r.Inode)
		}
		n++
	}
	if n != len(stranded) {
		t.Fatalf("relinked %d of the %d stranded orphans", n, len(stranded))
	}
	// e2fsck may complain only about the head (one link, no name: this
	// test made it up) and the inode whose INODE record it replaced.
	out, _ := exec.Command("e2fsck", "-fn", p).CombinedOutput()
	for _, m := range regexp.MustCompile(`[Ii]node (\d+)`).FindAllSubmatch(out, -1) {
		if got := string(m[1]); got != fmt.Sprint(head) && got != fmt.Sprint(last.Ino) {
			t.Fatalf("e2fsck complains about inode %s:\n%s", got, out)
		}
	}
	if bytes.Contains(out, []byte("Entry '")) {
		t.Fatalf("e2fsck complains about a directory entry:\n%s", out)
	}
	t.Logf("%d stranded orphans relinked; e2fsck -fn:\n%s", n, out)
}
