package main

import (
	"fmt"
	"io"

	"github.com/ext4relink/ext4relink/engine"
)

// printLogPlace says where the journal transaction goes (went) and which
// older logged copies it overwrites (overwrote): the evidence list
// --original, deleted and undelete use.
func printLogPlace(w io.Writer, lp *engine.LogPlace, dryRun bool) {
	if lp == nil {
		return
	}
	fmt.Fprintf(w, "%s.\n", lp.Sentence(dryRun))
}
