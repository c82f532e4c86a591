package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
	"golang.org/x/sys/unix"
)

// Fixtures the bad-input cases damage. Freeze captures have their metadata
// at home (no journal replay hides an edit); ext4-htree-1k has 8 groups:
// its orphans live in group 2, its /data directory (inode 6145) in group 3,
// the orphans' data and extent-tree blocks in group 1, and
// data/sparse.img has a depth-1 extent tree.
const (
	fx4k     = "ext4-4k-freeze"  // 1 group, 4 KiB, chain 47 -> ... -> 40
	fxGroups = "ext4-htree-1k"   // 8 groups, 1 KiB, freeze
	fxJrnl   = "ext4-4k-sync"    // journal recovery pending, 8 transactions
	fxOrphF  = "ext4-orphanfile" // orphan_file; replayed with debugfs jr first
)

// cliWant is what one CLI run must produce.
type cliWant struct {
	code int
	want []string // substrings of the single stderr line (on success: of a single warning line, or of stdout)
	warn bool     // success with exactly one "ext4relink: warning: " line on stderr
}

// badCase is one bad input. setup damages the private copy (or crafts the
// device) and returns substrings only known then (block numbers); args
// builds the relink command line.
type badCase struct {
	name    string
	fixture string // "" for cases without an image
	replay  bool   // replay the journal home (debugfs jr) before damaging
	setup   func(e *badEnv) []string
	args    func(e *badEnv) []string
	code    int
	want    []string
	list    *cliWant // also run `list --dev DEV` and expect this
}

// relinkAs is the single-orphan relink of the manifest orphan at path.
func relinkAs(path, name string) func(e *badEnv) []string {
	return func(e *badEnv) []string {
		return []string{"--dev", e.dev, "--inode", strconv.Itoa(int(e.orphan(path))), "--name", name}
	}
}

// relinkIno relinks inode ino (any number) as name.
func relinkIno(ino, name string) func(e *badEnv) []string {
	return func(e *badEnv) []string { return []string{"--dev", e.dev, "--inode", ino, "--name", name} }
}

func relinkAll(extra ...string) func(e *badEnv) []string {
	return func(e *badEnv) []string { return append([]string{"--dev", e.dev, "--all"}, extra...) }
}

// rawArgs is a command line with DEV replaced by the case's device.
func rawArgs(args ...string) func(e *badEnv) []string {
	return func(e *badEnv) []string {
		out := make([]string, len(args))
		for i, a := range args {
			out[i] = strings.ReplaceAll(a, "DEV", e.dev)
		}
		return out
	}
}

// editSB returns a setup that edits one superblock field (checksum fixed).
func editSB(fn func(sb *super.Superblock)) func(e *badEnv) []string {
	return func(e *badEnv) []string { e.editSuper(fn); return nil }
}

// at formats the location part of a FormatError message.
func at(blk uint64, off int) string { return fmt.Sprintf("(block %d, offset %d)", blk, off) }

var lsOK = &cliWant{code: exitOK}

func badCases() []badCase {
	const sparse = "data/sparse.img" // the orphan with a depth-1 extent tree
	return []badCase{
		// ---- superblock ----
		{
			name: "superblock bad magic", fixture: fx4k,
			setup: editSB(func(sb *super.Superblock) { sb.Magic = 0x1234 }),
			args:  relinkAs("data/small.bin", "/data/rescued"),
			code:  exitCorrupt, want: []string{"superblock (byte offset 1024)", "bad magic 0x1234"},
			list: &cliWant{code: exitCorrupt, want: []string{"superblock (byte offset 1024)", "bad magic"}},
		},
		{
			name: "superblock bad checksum", fixture: fx4k,
			setup: func(e *badEnv) []string {
				b := testfs.ReadAt(e.t, e.dev, super.Offset+0x3FC, 1)
				e.writeAt(super.Offset+0x3FC, []byte{b[0] ^ 0xFF})
				return nil
			},
			args: relinkAs("data/small.bin", "/data/rescued"),
			code: exitCorrupt, want: []string{"superblock (byte offset 1024)", "checksum"},
			list: &cliWant{code: exitCorrupt, want: []string{"superblock", "checksum"}},
		},
		{
			name: "s_log_block_size 20", fixture: fx4k,
			setup: editSB(func(sb *super.Superblock) { sb.LogBlockSize = 20 }),
			args:  relinkAs("data/small.bin", "/data/rescued"),
			code:  exitCorrupt, want: []string{"superblock (byte offset 1024)", "s_log_block_size 20"},
			list: &cliWant{code: exitCorrupt, want: []string{"superblock", "s_log_block_size 20"}},
		},
		{
			name: "s_inodes_per_group 0", fixture: fx4k,
			setup: editSB(func(sb *super.Superblock) { sb.InodesPerGroup = 0 }),
			args:  relinkAs("data/small.bin", "/data/rescued"),
			code:  exitCorrupt, want: []string{"superblock (byte offset 1024)", "s_inodes_per_group 0"},
			list: &cliWant{code: exitCorrupt, want: []string{"superblock", "s_inodes_per_group 0"}},
		},
		{
			name: "s_blocks_per_group huge", fixture: fx4k,
			setup: editSB(func(sb *super.Superblock) { sb.BlocksPerGroup = 1 << 31 }),
			args:  relinkAs("data/small.bin", "/data/rescued"),
			code:  exitCorrupt, want: []string{"superblock (byte offset 1024)", "s_blocks_per_group 2147483648"},
			list: &cliWant{code: exitCorrupt, want: []string{"superblock", "s_blocks_per_group"}},
		},
		{
			name: "s_inodes_count inconsistent", fixture: fx4k,
			setup: editSB(func(sb *super.Superblock) { sb.InodesCount += 8 }),
			args:  relinkAs("data/small.bin", "/data/rescued"),
			code:  exitCorrupt, want: []string{"superblock (byte offset 1024)", "s_inodes_count"},
			list: &cliWant{code: exitCorrupt, want: []string{"superblock", "s_inodes_count"}},
		},
		{
			name: "s_desc_size 48", fixture: fx4k,
			setup: editSB(func(sb *super.Superblock) { sb.DescSize = 48 }),
			args:  relinkAs("data/small.bin", "/data/rescued"),
			code:  exitCorrupt, want: []string{"superblock (byte offset 1024)", "s_desc_size 48"},
			list: &cliWant{code: exitCorrupt, want: []string{"superblock", "s_desc_size 48"}},
		},
		{
			name: "unknown INCOMPAT feature", fixture: fx4k,
			setup: editSB(func(sb *super.Superblock) { sb.FeatureIncompat |= 1 << 20 }),
			args:  relinkAs("data/small.bin", "/data/rescued"),
			code:  exitUnsupported, want: []string{"superblock features", "FEATURE_I20", "will not read"},
			list: &cliWant{code: exitUnsupported, want: []string{"superblock features", "FEATURE_I20"}},
		},
		{
			name: "unknown RO_COMPAT feature", fixture: fx4k,
			setup: editSB(func(sb *super.Superblock) { sb.FeatureRoCompat |= 1 << 20 }),
			args:  relinkAs("data/small.bin", "/data/rescued"),
			code:  exitUnsupported, want: []string{"superblock features", "FEATURE_R20", "will not write"},
			list: lsOK,
		},
		{
			name: "unknown RO_COMPAT feature --all", fixture: fx4k,
			setup: editSB(func(sb *super.Superblock) { sb.FeatureRoCompat |= 1 << 20 }),
			args:  relinkAll(),
			code:  exitUnsupported, want: []string{"superblock features", "FEATURE_R20"},
		},
		{
			name: "device shorter than the filesystem", fixture: fx4k,
			setup: func(e *badEnv) []string {
				if err := os.Truncate(e.dev, 32<<20); err != nil {
					e.t.Fatal(err)
				}
				return nil
			},
			args: relinkAs("data/small.bin", "/data/rescued"),
			code: exitCorrupt, want: []string{"superblock", "the device is only 33554432 bytes"},
			list: &cliWant{code: exitCorrupt, want: []string{"superblock", "the device is only"}},
		},

		// ---- group descriptors, inodes, directories, extents, bitmaps ----
		{
			name: "group descriptor checksum (orphan's group)", fixture: fxGroups,
			setup: func(e *badEnv) []string {
				g, _ := e.sb.GroupOfInode(e.orphan(sparse))
				_, blk, off := e.groupDesc(g)
				e.flip(blk, int(off)+0x1E) // bg_checksum
				return []string{fmt.Sprintf("group descriptor %d %s", g, at(blk, int(off))), "checksum"}
			},
			args: relinkAs(sparse, "/data/rescued"),
			code: exitCorrupt,
			list: &cliWant{code: exitCorrupt, want: []string{"group descriptor 2", "checksum"}},
		},
		{
			name: "group descriptor checksum (target directory's group)", fixture: fxGroups,
			setup: func(e *badEnv) []string {
				g, _ := e.sb.GroupOfInode(e.dir("data"))
				_, blk, off := e.groupDesc(g)
				e.flip(blk, int(off)+0x1E)
				return []string{fmt.Sprintf("group descriptor %d %s", g, at(blk, int(off))), "checksum"}
			},
			args: relinkAs(sparse, "/data/rescued"),
			code: exitCorrupt, want: []string{"group descriptor 3"},
			list: lsOK,
		},
		{
			name: "inode checksum (the orphan)", fixture: fxGroups,
			setup: func(e *badEnv) []string {
				ino := e.orphan(sparse)
				blk, off := e.breakInodeChecksum(ino)
				return []string{fmt.Sprintf("inode %d %s", ino, at(blk, off)), "checksum"}
			},
			args: relinkAs(sparse, "/data/rescued"),
			code: exitCorrupt,
			list: &cliWant{code: exitCorrupt, want: []string{"inode 6016", "checksum"}},
		},
		{
			name: "inode checksum (target directory)", fixture: fxGroups,
			setup: func(e *badEnv) []string {
				ino := e.dir("data")
				blk, off := e.breakInodeChecksum(ino)
				return []string{fmt.Sprintf("inode %d %s", ino, at(blk, off)), "checksum"}
			},
			args: relinkAs(sparse, "/data/rescued"),
			code: exitCorrupt,
			list: lsOK,
		},
		{
			name: "directory block checksum (target directory)", fixture: fxGroups,
			setup: func(e *badEnv) []string {
				blk := e.dataBlocks(e.dir("data"))[0]
				e.flip(blk, int(e.bs())-1) // the checksum tail's crc
				return []string{fmt.Sprintf("directory block %s", at(blk, int(e.bs())-4)), "checksum"}
			},
			args: relinkAs(sparse, "/data/rescued"),
			code: exitCorrupt,
			list: lsOK,
		},
		{
			name: "extent tree block checksum (depth-1 orphan)", fixture: fxGroups,
			setup: func(e *badEnv) []string {
				ino := e.orphan(sparse)
				blk := e.extentTreeBlock(ino)
				e.flip(blk, int(e.bs())-1) // et_checksum
				return []string{fmt.Sprintf("inode %d (block %d", ino, blk), "extent block checksum"}
			},
			args: relinkAs(sparse, "/data/rescued"),
			code: exitCorrupt,
			list: lsOK,
		},
		{
			name: "block bitmap checksum (orphan's data group)", fixture: fxGroups,
			setup: func(e *badEnv) []string {
				g, _ := e.sb.GroupOfBlock(e.dataBlocks(e.orphan(sparse))[0])
				var bm uint64
				e.editGroupDesc(g, func(gd *super.GroupDesc) {
					gd.SetBlockBitmapCsum(gd.BlockBitmapCsum() ^ 0x5A5A)
					bm = gd.BlockBitmap()
				})
				return []string{fmt.Sprintf("block bitmap of group %d (block %d)", g, bm), "checksum"}
			},
			args: relinkAs(sparse, "/data/rescued"),
			code: exitCorrupt,
			list: lsOK,
		},
		{
			name: "inode bitmap checksum (orphan's group)", fixture: fxGroups,
			setup: func(e *badEnv) []string {
				g, _ := e.sb.GroupOfInode(e.orphan(sparse))
				var bm uint64
				e.editGroupDesc(g, func(gd *super.GroupDesc) {
					gd.SetInodeBitmapCsum(gd.InodeBitmapCsum() ^ 0x5A5A)
					bm = gd.InodeBitmap()
				})
				return []string{fmt.Sprintf("inode bitmap of group %d (block %d)", g, bm), "checksum"}
			},
			args: relinkAs(sparse, "/data/rescued"),
			code: exitCorrupt,
			list: lsOK,
		},

		// ---- orphan chain ----
		{
			name: "orphan chain loops", fixture: fx4k,
			setup: func(e *badEnv) []string {
				head := e.sb.LastOrphan
				tail := e.orphan("data/empty") // the last link (i_dtime 0)
				e.editInode(tail, true, func(in *inode.Inode) {
					if in.Dtime != 0 {
						e.t.Fatalf("inode %d is not the chain's tail (i_dtime %d)", tail, in.Dtime)
					}
					in.Dtime = head
				})
				return nil
			},
			// A damaged list no longer blocks a single relink: the loop is
			// cut at the member whose link closes it.
			args: func(e *badEnv) []string {
				return append(relinkAs("data/small.bin", "/data/rescued")(e), "--dry-run")
			},
			code: exitOK, want: []string{"Would relink inode", "damaged orphan chain cut: link (i_dtime)"},
			list: &cliWant{code: exitCorrupt, want: []string{"orphan chain loops"}},
		},
		{
			name: "inode checksum (an orphan) --all", fixture: fxGroups,
			setup: func(e *badEnv) []string {
				ino := e.orphan(sparse)
				blk, off := e.breakInodeChecksum(ino)
				return []string{fmt.Sprintf("inode %d %s", ino, at(blk, off))}
			},
			args: relinkAll(),
			code: exitCorrupt, want: []string{"orphan list", "--all would leave out"},
		},
		{
			// data/small.bin (6015) sits behind data/sparse.img (6016) in the
			// chain: once 6016 is unreadable, the walk cannot reach 6015, but
			// --inode checks that one inode as --scan would.
			name: "orphan behind an unreadable chain member", fixture: fxGroups,
			setup: func(e *badEnv) []string {
				e.breakInodeChecksum(e.orphan(sparse))
				return nil
			},
			args: func(e *badEnv) []string {
				return append(relinkAs("data/small.bin", "/data/rescued")(e), "--dry-run")
			},
			code: exitOK, want: []string{"Would relink inode 6015", ", scan)"},
		},
		{
			name: "orphan chain loops --all --scan --dry-run", fixture: fx4k,
			setup: func(e *badEnv) []string {
				head := e.sb.LastOrphan
				e.editInode(e.orphan("data/empty"), true, func(in *inode.Inode) { in.Dtime = head })
				return nil
			},
			args: relinkAll("--scan", "--dry-run"),
			code: exitOK, want: []string{"Would relink inode", "s_last_orphan"},
		},
		{
			name: "orphan chain loops --all", fixture: fx4k,
			setup: func(e *badEnv) []string {
				head := e.sb.LastOrphan
				e.editInode(e.orphan("data/empty"), true, func(in *inode.Inode) { in.Dtime = head })
				return nil
			},
			args: relinkAll(),
			code: exitCorrupt, want: []string{"orphan chain", "loops", "add --scan"},
		},
		{
			name: "orphan chain link out of range", fixture: fx4k,
			setup: func(e *badEnv) []string {
				ino := e.orphan("data/falloc.db")
				e.editInode(ino, true, func(in *inode.Inode) { in.Dtime = 1 << 30 })
				return []string{"link (i_dtime) 1073741824 -> 0"}
			},
			args: func(e *badEnv) []string {
				return append(relinkAs("data/big.vmdk", "/data/rescued")(e), "--dry-run")
			},
			code: exitOK, want: []string{"Would relink inode"},
			list: &cliWant{code: exitCorrupt, want: []string{"inode 1073741824, outside"}},
		},
		{
			name: "s_last_orphan out of range", fixture: fx4k,
			setup: editSB(func(sb *super.Superblock) { sb.LastOrphan = 5 }),
			args: func(e *badEnv) []string {
				return append(relinkAs("data/big.vmdk", "/data/rescued")(e), "--dry-run")
			},
			code: exitOK, want: []string{"Would relink inode", ", scan)", "s_last_orphan 5 -> 0"},
			list: &cliWant{code: exitCorrupt, want: []string{"s_last_orphan points to inode 5"}},
		},

		// ---- orphan file ----
		{
			name: "orphan file block checksum", fixture: fxOrphF, replay: true,
			setup: func(e *badEnv) []string {
				blk := e.dataBlocks(e.sb.OrphanFileInum)[0]
				e.flip(blk, int(e.bs())-1) // ob_checksum
				return []string{fmt.Sprintf("orphan file block %s", at(blk, int(e.bs())-4)), "checksum"}
			},
			args: relinkAs("data/small.bin", "/data/rescued"),
			code: exitCorrupt,
			list: &cliWant{code: exitCorrupt, want: []string{"orphan file block", "checksum"}},
		},
		{
			name: "orphan file block magic", fixture: fxOrphF, replay: true,
			setup: func(e *badEnv) []string {
				blk := e.dataBlocks(e.sb.OrphanFileInum)[0]
				b := e.block(blk)
				copy(b[len(b)-8:], []byte{0xEF, 0xBE, 0xAD, 0xDE}) // ob_magic (not covered by ob_checksum)
				e.putBlock(blk, b)
				return []string{fmt.Sprintf("orphan file block (block %d)", blk), "bad magic 0xdeadbeef"}
			},
			args: relinkAs("data/small.bin", "/data/rescued"),
			code: exitCorrupt,
			list: &cliWant{code: exitCorrupt, want: []string{"orphan file block", "bad magic"}},
		},

		{
			name: "orphan file slot out of range", fixture: fxOrphF, replay: true,
			setup: func(e *badEnv) []string {
				e.editOrphanBlock(0, func(ob *super.OrphanBlock) { ob.Inodes[0] = 99999999 })
				return []string{"slot 0 held impossible inode 99999999, cleared"}
			},
			args: func(e *badEnv) []string {
				return append(relinkAs("data/small.bin", "/data/rescued")(e), "--dry-run")
			},
			code: exitOK, want: []string{"Would relink inode"},
			list: &cliWant{code: exitCorrupt, want: []string{"orphan file slot 0 holds inode 99999999"}},
		},

		{
			name: "inode checksum (an orphan-file orphan)", fixture: fxOrphF, replay: true,
			setup: func(e *badEnv) []string {
				ino := e.orphan("data/small.bin")
				blk, off := e.breakInodeChecksum(ino)
				return []string{fmt.Sprintf("inode %d %s", ino, at(blk, off)), "checksum"}
			},
			args: relinkAs("data/small.bin", "/data/rescued"),
			code: exitCorrupt,
			list: &cliWant{code: exitCorrupt, want: []string{"orphan file slot ", "checksum"}},
		},
		{
			name: "inode checksum (an orphan-file orphan) --all", fixture: fxOrphF, replay: true,
			setup: func(e *badEnv) []string {
				ino := e.orphan("data/small.bin")
				blk, off := e.breakInodeChecksum(ino)
				return []string{fmt.Sprintf("inode %d %s", ino, at(blk, off))}
			},
			args: relinkAll(),
			code: exitCorrupt, want: []string{"orphan list", "orphan file slot "},
		},

		// ---- journal (recovery pending) ----
		{
			name: "journal superblock magic", fixture: fxJrnl,
			setup: func(e *badEnv) []string {
				blk := e.journalBlocks()[0]
				e.flip(blk, 0)
				return []string{fmt.Sprintf("journal superblock (block %d)", blk), "bad magic"}
			},
			args: relinkAs("data/small.bin", "/data/rescued"),
			code: exitCorrupt,
			list: &cliWant{code: exitCorrupt, want: []string{"journal superblock", "bad magic"}},
		},
		{
			name: "journal superblock checksum", fixture: fxJrnl,
			setup: func(e *badEnv) []string {
				blk := e.journalBlocks()[0]
				e.flip(blk, 0xFC) // s_checksum
				return []string{fmt.Sprintf("journal superblock (block %d)", blk), "checksum"}
			},
			args: relinkAs("data/small.bin", "/data/rescued"),
			code: exitCorrupt,
			list: &cliWant{code: exitCorrupt, want: []string{"journal superblock", "checksum"}},
		},
		{
			name: "journal inode checksum", fixture: fxJrnl,
			setup: func(e *badEnv) []string {
				blk, off := e.breakInodeChecksum(e.sb.JournalInum)
				return []string{"journal inode", fmt.Sprintf("inode %d %s", e.sb.JournalInum, at(blk, off)), "checksum"}
			},
			args: relinkAs("data/small.bin", "/data/rescued"),
			code: exitCorrupt,
			list: &cliWant{code: exitCorrupt, want: []string{"journal inode", "checksum"}},
		},
		{
			// The kernel replays the transactions before the failed commit
			// and marks the filesystem as having errors: list shows that
			// state, the relink refuses to write on top of it.
			name: "journal commit block checksum in the middle", fixture: fxJrnl,
			setup: func(e *badEnv) []string {
				commits := e.commitBlocks()
				if len(commits) < 3 {
					e.t.Fatalf("only %d commit blocks in the log", len(commits))
				}
				c := commits[len(commits)/2]
				jblk, blk := c.jblk, c.fsblk
				e.flip(blk, 0x10) // h_chksum[0]
				return []string{fmt.Sprintf("journal commit block %d (block %d)", jblk, blk), "failed its commit checksum"}
			},
			args: relinkAs("data/small.bin", "/data/rescued"),
			code: exitCorrupt,
			list: &cliWant{code: exitOK, want: []string{"journal transaction", "failed its commit checksum"}, warn: true},
		},

		// ---- the name ----
		{
			name: "empty name", fixture: fx4k,
			args: relinkAs("data/small.bin", ""),
			code: exitUsage, want: []string{"--name was given an empty value"},
		},
		{
			name: "name is the root", fixture: fx4k,
			args: relinkAs("data/small.bin", "/"),
			code: exitRequest, want: []string{"--name \"/\"", "root directory"},
		},
		{
			name: "name with a .. component", fixture: fx4k,
			args: relinkAs("data/small.bin", "data/../rescued"),
			code: exitRequest, want: []string{"--name", `component ".."`, "reserved"},
		},
		{
			name: "name with a . component", fixture: fx4k,
			args: relinkAs("data/small.bin", "/data/./rescued"),
			code: exitRequest, want: []string{"--name", `component "."`, "reserved"},
		},
		{
			name: "name with an empty component", fixture: fx4k,
			args: relinkAs("data/small.bin", "/data//rescued"),
			code: exitUsage, want: []string{"--name", "empty component"},
		},
		{
			name: "name component of 256 bytes", fixture: fx4k,
			args: relinkAs("data/small.bin", "/data/"+strings.Repeat("n", 256)),
			code: exitRequest, want: []string{"--name", "name length 256", "255"},
		},
		{
			name: "name exists", fixture: fx4k,
			args: relinkAs("data/small.bin", "/keep/entry-00000-with-a-longish-name"),
			code: exitRequest, want: []string{"/keep/entry-00000-with-a-longish-name already exists", "inode 13"},
		},
		{
			name: "parent missing", fixture: fx4k,
			args: relinkAs("data/small.bin", "/nosuch/rescued"),
			code: exitRequest, want: []string{"parent directory /nosuch does not exist"},
		},
		{
			name: "parent is a regular file", fixture: fx4k,
			args: relinkAs("data/small.bin", "/keep/entry-00000-with-a-longish-name/rescued"),
			code: exitRequest, want: []string{"inode 13 is not a directory"},
		},
		{
			name: "--all --into a missing directory", fixture: fx4k,
			args: relinkAll("--into", "/nosuch"),
			code: exitRequest, want: []string{"/nosuch does not exist"},
		},

		// ---- the inode ----
		{
			name: "inode 0", fixture: fx4k,
			args: relinkIno("0", "/data/rescued"),
			code: exitUsage, want: []string{"--inode", "no inode 0"},
		},
		{
			name: "reserved inode 2 (root)", fixture: fx4k,
			args: relinkIno("2", "/data/rescued"),
			code: exitRequest, want: []string{"inode 2 is reserved"},
		},
		{
			name: "reserved inode 7", fixture: fx4k,
			args: relinkIno("7", "/data/rescued"),
			code: exitRequest, want: []string{"inode 7 is reserved"},
		},
		{
			name: "inode out of range", fixture: fx4k,
			args: relinkIno("99999999", "/data/rescued"),
			code: exitRequest, want: []string{"inode 99999999 is out of range", "16384 inodes"},
		},
		{
			name: "not an orphan: a directory", fixture: fx4k,
			args: relinkIno("12", "/data/rescued"),
			code: exitRequest, want: []string{"inode 12 is not an orphan"},
		},
		{
			name: "not an orphan: a kept file", fixture: fx4k,
			args: relinkIno("13", "/data/rescued"),
			code: exitRequest, want: []string{"inode 13 is not an orphan"},
		},
		{
			name: "not an orphan: a free inode", fixture: fx4k,
			args: relinkIno("100", "/data/rescued"),
			code: exitRequest, want: []string{"inode 100 is not on the orphan list", "free (not in use)"},
		},

		// ---- the command line ----
		{
			name: "--inode without --name", fixture: fx4k,
			args: rawArgs("--dev", "DEV", "--inode", "42"),
			code: exitUsage, want: []string{"give --inode N and --name PATH"},
		},
		{
			name: "--all with --inode", fixture: fx4k,
			args: rawArgs("--dev", "DEV", "--all", "--inode", "42"),
			code: exitUsage, want: []string{"--all", "--inode"},
		},
		{
			name: "--inode not a number", fixture: fx4k,
			args: rawArgs("--dev", "DEV", "--inode", "forty-two", "--name", "/data/rescued"),
			code: exitUsage, want: []string{"--inode"},
		},
		{
			name: "--inode beyond 32 bits", fixture: fx4k,
			args: rawArgs("--dev", "DEV", "--inode", "4294967338", "--name", "/data/rescued"),
			code: exitUsage, want: []string{"--inode"},
		},
		{
			name: "no --dev",
			args: rawArgs("--inode", "42", "--name", "/data/rescued"),
			code: exitUsage, want: []string{"--dev is required"},
		},

		// ---- the device ----
		{
			name: "device does not exist",
			setup: func(e *badEnv) []string {
				e.dev = filepath.Join(e.t.TempDir(), "missing.img")
				return nil
			},
			args: relinkIno("42", "/x"),
			code: exitDevice, want: []string{"device error", "missing.img", "no such file"},
			list: &cliWant{code: exitDevice, want: []string{"no such file"}},
		},
		{
			name: "device is a directory",
			setup: func(e *badEnv) []string {
				e.dev = e.t.TempDir()
				return nil
			},
			args: relinkIno("42", "/x"),
			code: exitDevice, want: []string{"device error", "is a directory"},
			list: &cliWant{code: exitDevice, want: []string{"is a directory"}},
		},
		{
			name: "device is a character device",
			setup: func(e *badEnv) []string {
				e.dev = "/dev/null"
				return nil
			},
			args: relinkIno("42", "/x"),
			code: exitDevice, want: []string{"device error", "/dev/null is neither a block device nor a regular image file"},
			list: &cliWant{code: exitDevice, want: []string{"neither a block device"}},
		},
		{
			name: "device is an empty file",
			setup: func(e *badEnv) []string {
				e.dev = filepath.Join(e.t.TempDir(), "empty.img")
				if err := os.WriteFile(e.dev, nil, 0o644); err != nil {
					e.t.Fatal(err)
				}
				return nil
			},
			args: relinkIno("42", "/x"),
			code: exitCorrupt, want: []string{"superblock", "the device is only 0 bytes"},
			list: &cliWant{code: exitCorrupt, want: []string{"superblock", "too small"}},
		},
		{
			name: "device is all zeros",
			setup: func(e *badEnv) []string {
				e.dev = filepath.Join(e.t.TempDir(), "zero.img")
				if err := os.WriteFile(e.dev, make([]byte, 8<<20), 0o644); err != nil {
					e.t.Fatal(err)
				}
				return nil
			},
			args: relinkIno("42", "/x"),
			code: exitCorrupt, want: []string{"superblock (byte offset 1024)", "bad magic 0x0000"},
			list: &cliWant{code: exitCorrupt, want: []string{"superblock", "bad magic"}},
		},
		{
			name: "device locked by another process", fixture: fx4k,
			setup: func(e *badEnv) []string {
				f, err := os.Open(e.dev)
				if err != nil {
					e.t.Fatal(err)
				}
				e.t.Cleanup(func() { f.Close() })
				if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
					e.t.Fatal(err)
				}
				return nil
			},
			args: relinkAs("data/small.bin", "/data/rescued"),
			code: exitBusy, want: []string{"device busy", "locked by another process"},
		},
		{
			name: "image attached to a loop device", fixture: fx4k,
			setup: func(e *badEnv) []string {
				loop := strings.TrimSpace(mustRun(e.t, "losetup", "-f", "--show", e.dev))
				e.t.Cleanup(func() { mustRun(e.t, "losetup", "-d", loop) })
				return []string{loop}
			},
			args: relinkAs("data/small.bin", "/data/rescued"),
			code: exitBusy, want: []string{"device busy"},
		},
	}
}

// TestBadInput runs every bad input through the CLI and demands a refusal:
// the documented exit code, exactly one stderr line "ext4relink: ..."
// naming the structure (and its block where the engine knows it), nothing
// on stdout, no panic (exit 1), and the device byte-for-byte unchanged.
func TestBadInput(t *testing.T) {
	cases := badCases()
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newBadEnv(t, c.fixture, c.replay)
			want := c.want
			if c.setup != nil {
				want = append(append([]string(nil), want...), c.setup(e)...)
			}
			sum := fileSum(t, e.dev)
			if c.list != nil {
				checkCLI(t, []string{"list", "--dev", e.dev}, *c.list, true)
				if got := fileSum(t, e.dev); got != sum {
					t.Errorf("list changed the device (sha256 %s -> %s)", sum, got)
				}
			}
			checkCLI(t, c.args(e), cliWant{code: c.code, want: want}, false)
			if got := fileSum(t, e.dev); got != sum {
				t.Errorf("the device changed (sha256 %s -> %s)", sum, got)
			}
		})
	}
}

// checkCLI runs one command line and checks the refusal. For list, stdout
// may carry the orphan table (the warnings go to stderr); a list that
// succeeds must say nothing on stderr.
func checkCLI(t *testing.T, args []string, w cliWant, isList bool) {
	t.Helper()
	code, want := w.code, w.want
	got, out, errs := runCLI(args...)
	show := fmt.Sprintf("%q: exit %d\nstdout: %s\nstderr: %s", args, got, out, errs)
	t.Logf("%s: exit %d: %s", args[0], got, strings.TrimSpace(errs))
	if got == exitInternal || strings.Contains(errs, "internal error") {
		t.Errorf("internal error or panic: %s", show)
		return
	}
	if got != code {
		t.Errorf("exit %d, want %d: %s", got, code, show)
	}
	if code == exitOK && w.warn {
		if !strings.HasPrefix(errs, "ext4relink: warning: ") || !strings.HasSuffix(errs, "\n") || strings.Count(errs, "\n") != 1 {
			t.Errorf("stderr is not exactly one warning line: %s", show)
		}
		for _, s := range want {
			if !strings.Contains(errs, s) {
				t.Errorf("the warning lacks %q: %s", s, show)
			}
		}
		return
	}
	if code == exitOK {
		if errs != "" {
			t.Errorf("stderr not empty on success: %s", show)
		}
		for _, s := range want {
			if !strings.Contains(out, s) {
				t.Errorf("stdout lacks %q: %s", s, show)
			}
		}
		return
	}
	if !isList && out != "" {
		t.Errorf("stdout not empty on a refusal: %s", show)
	}
	if !strings.HasPrefix(errs, "ext4relink: ") || !strings.HasSuffix(errs, "\n") || strings.Count(errs, "\n") != 1 {
		t.Errorf("stderr is not exactly one line starting \"ext4relink: \": %s", show)
	}
	for _, w := range want {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q: %s", w, show)
		}
	}
}
