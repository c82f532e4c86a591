package main

// The JSON schema of a refusal or failure under --json lives here (the
// partition table it may carry is in jsonpartitions.go); package types
// carry no tags.

// errorReport is what --json prints on stdout for a refusal or failure.
type errorReport struct {
	Error     string `json:"error"`
	ExitCode  int    `json:"exit_code"`
	Structure string `json:"structure,omitempty"`
	Block     *int64 `json:"block,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
	// PartitionTable is set when DEV holds a partition table instead of a
	// filesystem: the partitions, what each holds, which to choose.
	PartitionTable *jsonPartitionReport `json:"partition_table,omitempty"`
}
