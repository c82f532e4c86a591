package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/ext4relink/ext4relink/internal/devio"
)

// partitions lists the partition table of a disk image or whole disk, and
// what each partition holds. It opens the device read-only and never writes.
func (a *app) partitions(args []string) int {
	fl := a.flags("partitions")
	if code, ok := a.parse(fl, args, true); !ok {
		return code
	}
	if a.partition != "" || a.offset != "" {
		return a.usageErr("partitions lists the whole disk's table; --partition and --offset do not apply")
	}
	r, err := devio.ReadPartitions(a.dev)
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		a.printJSON(toJSONPartitionReport(r))
		return exitOK
	}
	w := a.stdout
	if r.Table == "" {
		holds := r.Content
		if holds == "" {
			holds = "nothing ext4relink recognises"
		}
		fmt.Fprintf(w, "%s: no partition table (neither MBR nor GPT), %s; it holds %s\n", r.Dev, devio.HumanSize(r.DiskSize), holds)
		return exitOK
	}
	fmt.Fprintf(w, "%s: %s partition table, %d-byte sectors, %s, disk id %s\n", r.Dev, r.Table, r.SectorSize, devio.HumanSize(r.DiskSize), r.DiskID)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(r.Partitions) == 0 {
		fmt.Fprintln(w, "no partitions")
		return exitOK
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTART\tSIZE\tBYTES\tTYPE\tNAME\tHOLDS\tUSE")
	for _, p := range r.Partitions {
		use := ""
		switch {
		case p.Device != "":
			use = "--dev " + p.Device
		case !p.Extended && p.Problem == "":
			use = fmt.Sprintf("--dev %s --partition %d", r.Dev, p.Number)
		}
		holds := p.Content
		if p.Problem != "" {
			holds = "unusable: " + p.Problem
		}
		typ := p.TypeName
		if typ == "" {
			typ = p.Type
		}
		if p.Logical {
			typ += " (logical)"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%s\t%s\t%s\t%s\n", p.Number, p.Start, devio.HumanSize(p.Size), p.Size, typ, p.Name, holds, use)
	}
	tw.Flush()
	return exitOK
}
