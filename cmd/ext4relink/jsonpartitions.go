package main

// The JSON schema of partitions --json, of the partition table a refusal
// of a partitioned --dev lists, and of the "section" of relink and extract
// lives here; package types (devio.PartitionReport, devio.PartitionInfo,
// parttable.Partition, devio.Section) carry no tags.

import "github.com/ext4relink/ext4relink/internal/devio"

// jsonPartitionReport is a disk's partition table (devio.PartitionReport).
type jsonPartitionReport struct {
	Dev        string          `json:"dev"`
	Table      string          `json:"table"` // "MBR", "GPT", or "" when there is none
	SectorSize int             `json:"sector_size,omitempty"`
	DiskSize   int64           `json:"disk_size"`
	DiskID     string          `json:"disk_id,omitempty"`
	Partitions []jsonPartition `json:"partitions"`
	Notes      []string        `json:"notes,omitempty"`
	Content    string          `json:"content,omitempty"` // the whole device's, when it has no table
}

// jsonPartition is one partition and what it holds (devio.PartitionInfo).
type jsonPartition struct {
	Number   int    `json:"number"`
	Start    int64  `json:"start"` // bytes from the start of the disk
	Size     int64  `json:"size"`  // bytes
	Type     string `json:"type"`  // "0x83" or a GUID
	TypeName string `json:"type_name,omitempty"`
	Name     string `json:"name,omitempty"` // GPT partition name
	UUID     string `json:"uuid,omitempty"` // GPT unique partition GUID
	Bootable bool   `json:"bootable,omitempty"`
	Extended bool   `json:"extended,omitempty"`
	Logical  bool   `json:"logical,omitempty"`
	Problem  string `json:"problem,omitempty"`
	Content  string `json:"content"`
	Device   string `json:"device,omitempty"`
}

// jsonSection is the partition or offset a run worked in (devio.Section).
type jsonSection struct {
	Start     int64  `json:"start"`
	Size      int64  `json:"size"`
	Partition int    `json:"partition,omitempty"`
	Label     string `json:"label"`
}

func toJSONPartitionReport(r *devio.PartitionReport) *jsonPartitionReport {
	if r == nil {
		return nil
	}
	j := &jsonPartitionReport{Dev: r.Dev, Table: r.Table, SectorSize: r.SectorSize, DiskSize: r.DiskSize,
		DiskID: r.DiskID, Notes: r.Notes, Content: r.Content}
	if r.Partitions != nil {
		j.Partitions = make([]jsonPartition, 0, len(r.Partitions))
	}
	for _, p := range r.Partitions {
		j.Partitions = append(j.Partitions, jsonPartition{
			Number: p.Number, Start: p.Start, Size: p.Size, Type: p.Type, TypeName: p.TypeName,
			Name: p.Name, UUID: p.UUID, Bootable: p.Bootable, Extended: p.Extended, Logical: p.Logical,
			Problem: p.Problem, Content: p.Content, Device: p.Device,
		})
	}
	return j
}

func toJSONSection(s *devio.Section) *jsonSection {
	if s == nil {
		return nil
	}
	return &jsonSection{Start: s.Start, Size: s.Size, Partition: s.Partition, Label: s.Label}
}
