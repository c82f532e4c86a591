package super

import (
	"fmt"
	"strings"
)

// Feature flags (s_feature_compat, s_feature_ro_compat, s_feature_incompat).
const (
	CompatDirPrealloc   = 0x0001
	CompatImagicInodes  = 0x0002
	CompatHasJournal    = 0x0004
	CompatExtAttr       = 0x0008
	CompatResizeInode   = 0x0010
	CompatDirIndex      = 0x0020
	CompatLazyBG        = 0x0040
	CompatExcludeInode  = 0x0080
	CompatExcludeBitmap = 0x0100
	CompatSparseSuper2  = 0x0200
	CompatFastCommit    = 0x0400
	CompatStableInodes  = 0x0800
	CompatOrphanFile    = 0x1000

	RoCompatSparseSuper   = 0x0001
	RoCompatLargeFile     = 0x0002
	RoCompatBtreeDir      = 0x0004
	RoCompatHugeFile      = 0x0008
	RoCompatGdtCsum       = 0x0010
	RoCompatDirNlink      = 0x0020
	RoCompatExtraIsize    = 0x0040
	RoCompatHasSnapshot   = 0x0080
	RoCompatQuota         = 0x0100
	RoCompatBigalloc      = 0x0200
	RoCompatMetadataCsum  = 0x0400
	RoCompatReplica       = 0x0800
	RoCompatReadonly      = 0x1000
	RoCompatProject       = 0x2000
	RoCompatSharedBlocks  = 0x4000
	RoCompatVerity        = 0x8000
	RoCompatOrphanPresent = 0x10000

	IncompatCompression = 0x0001
	IncompatFiletype    = 0x0002
	IncompatRecover     = 0x0004
	IncompatJournalDev  = 0x0008
	IncompatMetaBG      = 0x0010
	IncompatExtents     = 0x0040
	Incompat64Bit       = 0x0080
	IncompatMMP         = 0x0100
	IncompatFlexBG      = 0x0200
	IncompatEAInode     = 0x0400
	IncompatDirdata     = 0x1000
	IncompatCsumSeed    = 0x2000
	IncompatLargedir    = 0x4000
	IncompatInlineData  = 0x8000
	IncompatEncrypt     = 0x10000
	IncompatCasefold    = 0x20000
)

type featureName struct {
	bit  uint32
	name string
}

var compatNames = []featureName{
	{CompatDirPrealloc, "dir_prealloc"}, {CompatImagicInodes, "imagic_inodes"},
	{CompatHasJournal, "has_journal"}, {CompatExtAttr, "ext_attr"},
	{CompatResizeInode, "resize_inode"}, {CompatDirIndex, "dir_index"},
	{CompatLazyBG, "lazy_bg"}, {CompatExcludeInode, "snapshot_exclude_inode"},
	{CompatExcludeBitmap, "snapshot_exclude_bitmap"}, {CompatSparseSuper2, "sparse_super2"},
	{CompatFastCommit, "fast_commit"}, {CompatStableInodes, "stable_inodes"},
	{CompatOrphanFile, "orphan_file"},
}

var roCompatNames = []featureName{
	{RoCompatSparseSuper, "sparse_super"}, {RoCompatLargeFile, "large_file"},
	{RoCompatBtreeDir, "btree_dir"}, {RoCompatHugeFile, "huge_file"},
	{RoCompatGdtCsum, "uninit_bg"}, {RoCompatDirNlink, "dir_nlink"},
	{RoCompatExtraIsize, "extra_isize"}, {RoCompatHasSnapshot, "snapshot"},
	{RoCompatQuota, "quota"}, {RoCompatBigalloc, "bigalloc"},
	{RoCompatMetadataCsum, "metadata_csum"}, {RoCompatReplica, "replica"},
	{RoCompatReadonly, "read-only"}, {RoCompatProject, "project"},
	{RoCompatSharedBlocks, "shared_blocks"}, {RoCompatVerity, "verity"},
	{RoCompatOrphanPresent, "orphan_present"},
}

var incompatNames = []featureName{
	{IncompatCompression, "compression"}, {IncompatFiletype, "filetype"},
	{IncompatRecover, "needs_recovery"}, {IncompatJournalDev, "journal_dev"},
	{IncompatMetaBG, "meta_bg"}, {IncompatExtents, "extent"}, {Incompat64Bit, "64bit"},
	{IncompatMMP, "mmp"}, {IncompatFlexBG, "flex_bg"}, {IncompatEAInode, "ea_inode"},
	{IncompatDirdata, "dirdata"}, {IncompatCsumSeed, "metadata_csum_seed"},
	{IncompatLargedir, "large_dir"}, {IncompatInlineData, "inline_data"},
	{IncompatEncrypt, "encrypt"}, {IncompatCasefold, "casefold"},
}

// HasCompat, HasRoCompat and HasIncompat test feature bits.
func (s *Superblock) HasCompat(f uint32) bool   { return s.FeatureCompat&f != 0 }
func (s *Superblock) HasRoCompat(f uint32) bool { return s.FeatureRoCompat&f != 0 }
func (s *Superblock) HasIncompat(f uint32) bool { return s.FeatureIncompat&f != 0 }

// FeatureNames lists the set features by their mke2fs names, unknown bits as
// FEATURE_C12 / FEATURE_R20 / FEATURE_I30 like e2fsprogs prints them.
func (s *Superblock) FeatureNames() []string {
	var out []string
	out = appendNames(out, s.FeatureCompat, compatNames, "C")
	out = appendNames(out, s.FeatureRoCompat, roCompatNames, "R")
	out = appendNames(out, s.FeatureIncompat, incompatNames, "I")
	return out
}

func appendNames(out []string, set uint32, names []featureName, kind string) []string {
	for bit := range 32 {
		m := uint32(1) << bit
		if set&m == 0 {
			continue
		}
		out = append(out, nameOf(m, names, kind, bit))
	}
	return out
}

func nameOf(m uint32, names []featureName, kind string, bit int) string {
	for _, n := range names {
		if n.bit == m {
			return n.name
		}
	}
	return fmt.Sprintf("FEATURE_%s%d", kind, bit)
}

// Feature sets ext4relink understands. Incompat features outside
// readIncompat make the filesystem unreadable to us, as they would to a
// kernel that does not know them. Features in the write sets may be present
// when the tool writes.
const (
	readIncompat = IncompatFiletype | IncompatRecover | IncompatMetaBG | IncompatExtents |
		Incompat64Bit | IncompatMMP | IncompatFlexBG | IncompatEAInode | IncompatCsumSeed |
		IncompatLargedir | IncompatInlineData | IncompatEncrypt | IncompatCasefold
	writeIncompat = readIncompat &^ IncompatMMP
	writeRoCompat = RoCompatSparseSuper | RoCompatLargeFile | RoCompatBtreeDir |
		RoCompatHugeFile | RoCompatGdtCsum | RoCompatDirNlink | RoCompatExtraIsize |
		RoCompatQuota | RoCompatBigalloc | RoCompatMetadataCsum | RoCompatProject |
		RoCompatVerity | RoCompatOrphanPresent
)

// refusal explains, for a feature we refuse, why and what the user can do.
var refusal = map[string]string{
	"journal_dev":   "this is an external journal device, not a filesystem; point --dev at the filesystem itself",
	"compression":   "the ext2 compression patches were never merged; no kernel reads this filesystem",
	"dirdata":       "dirdata (Lustre) directory entries are not supported",
	"mmp":           "multi-mount protection is on; ext4relink does not take part in the MMP protocol, so it will not write (use tune2fs -O ^mmp on a machine that owns the device, if you are sure no other node uses it)",
	"snapshot":      "next3 snapshots are not supported",
	"replica":       "replica filesystems are not supported",
	"read-only":     "the filesystem is marked read-only (RO_COMPAT_READONLY); ext4relink honours that and will not write",
	"shared_blocks": "shared_blocks (deduplicated, read-only) filesystems cannot be written",
}

// CheckRead refuses a filesystem with incompat features we do not know how to read.
func (s *Superblock) CheckRead() error {
	return checkSet(s.FeatureIncompat&^readIncompat, incompatNames, "I", "read")
}

// CheckWrite refuses writing to a filesystem with unknown or unsupported
// incompat or ro_compat features.
func (s *Superblock) CheckWrite() error {
	if err := checkSet(s.FeatureIncompat&^writeIncompat, incompatNames, "I", "write to"); err != nil {
		return err
	}
	return checkSet(s.FeatureRoCompat&^writeRoCompat, roCompatNames, "R", "write to")
}

func checkSet(bad uint32, names []featureName, kind, verb string) error {
	if bad == 0 {
		return nil
	}
	var list, why []string
	for bit := range 32 {
		m := uint32(1) << bit
		if bad&m == 0 {
			continue
		}
		n := nameOf(m, names, kind, bit)
		list = append(list, n)
		if r, ok := refusal[n]; ok {
			why = append(why, r)
		} else if strings.HasPrefix(n, "FEATURE_") {
			why = append(why, n+" is unknown to ext4relink (and possibly newer than it)")
		}
	}
	return Errorf(ErrUnsupported, "superblock features", NoBlock, Offset,
		"will not %s a filesystem with %s: %s", verb, strings.Join(list, ", "), strings.Join(why, "; "))
}
