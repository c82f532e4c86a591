// Package crosscheck holds tests only. They read the fixture images with
// github.com/dsoprea/go-ext4 (pinned at v0.0.0-20190528173430-c13b09fc0ff8,
// unmaintained since 2019) as an independent second reader and compare what
// it sees with ext4relink's own decoders, on the fixtures where go-ext4
// genuinely works. They also record, as assertions on real fixtures, why
// go-ext4 is never used outside tests: it verifies no checksum, ignores
// s_desc_size, refuses htree directories, inline data, meta_bg and
// non-extent inodes, misreads sparse files, and cannot replay a journal.
//
// Nothing outside this package may import go-ext4.
package crosscheck
