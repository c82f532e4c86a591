// Package ext4fs is the filesystem layer under ext4relink's engine: the
// read view of an ext4 filesystem as an explicit stack of block sources
// (device → jbd2 journal → fast-commit replay → pending changes, see
// source.go), geometry that needs the group descriptors (geometry.go), and
// the journal loading and replay (open.go). Nothing here writes unless a
// caller asks (WriteBlock, used by the engine's commit).
package ext4fs
