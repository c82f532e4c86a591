package super

import "github.com/ext4relink/ext4relink/internal/layout"

// SuperblockFields and GroupDescFields expose the layout tables to tests.
func SuperblockFields(s *Superblock) []layout.Field { return s.fields() }
func GroupDescFields(g *GroupDesc) []layout.Field   { return g.fields() }
