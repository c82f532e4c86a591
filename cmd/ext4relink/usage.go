package main

// Exit codes. They are part of the interface: scripts may rely on them.
const (
	exitOK          = 0 // done (or, with --dry-run, the plan is sound)
	exitInternal    = 1 // a bug in ext4relink; nothing was written after the problem was found
	exitUsage       = 2 // bad command line
	exitDevice      = 3 // the device cannot be opened, read or written
	exitBusy        = 4 // the device is mounted or otherwise in use
	exitCorrupt     = 5 // an on-disk structure is damaged or fails its checksum: refused, nothing written
	exitUnsupported = 6 // a valid feature or structure ext4relink does not handle: refused, nothing written
	exitRequest     = 7 // the request cannot be done: not an orphan, name exists, parent missing, ...
	exitVerify      = 8 // written, but the verification afterwards found a problem (see the message)
)

// manual is the one source of --help and of the man page ext4relink.8
// (rendered by manual.go). After changing it, run
// "go generate ./cmd/ext4relink" to rewrite ext4relink.8; a test fails
// until the page matches. Text is reflowed: break lines anywhere.
var manual = []section{
	{"NAME", []block{
		para("ext4relink - bring back files deleted while still open, by repairing ext4 offline"),
	}},
	{"SYNOPSIS", []block{synopsis{
		"ext4relink [relink] --dev DEV --inode N --name PATH [--dry-run] [--json] [--undo FILE] [--allow-ro-mount] [--keep-past-eof]",
		"ext4relink [relink] --dev DEV --all [--into DIR] [--scan] [--dry-run] [--json] [--undo FILE] [--allow-ro-mount] [--keep-past-eof]",
		"ext4relink extract --dev DEV (--inode N | --path PATH) --out FILE [--force] [--no-preserve] [--ignore-errors] [--superblock N --blocksize B] [--quiet] [--json]",
		"ext4relink extract --dev DEV --all [--scan] --out DIR [--force] [--no-preserve] [--ignore-errors] [--superblock N --blocksize B] [--quiet] [--json]",
		"ext4relink [relink] --dev DEV --inode N --original [--parents] [--dry-run] [--json] [--undo FILE]",
		"ext4relink [relink] --dev DEV --all --original [--into DIR] [--parents] [--dry-run] [--json] [--undo FILE]",
		"ext4relink list --dev DEV [--scan] [--json]",
		"ext4relink journal --dev DEV [--json]",
		"ext4relink extract --dev DEV --deleted [--inode N] --out FILE|DIR [--include-reused] [--force] [--no-preserve] [--quiet] [--json]",
		"ext4relink deleted --dev DEV [--json]",
		"ext4relink undelete --dev DEV --inode N --name PATH|--original [--dry-run] [--json] [--undo FILE]",
		"ext4relink partitions --dev DISK [--json]",
		"ext4relink demo [--dir DIR]",
		"ext4relink live [--pid PID,...] [--json]",
		"ext4relink live --copy PID:FD --out FILE [--freeze] [--force] [--json]",
		"ext4relink live --all --out DIR [--pid PID,...] [--freeze] [--force] [--json]",
		"ext4relink help | --help | --version",
	}}},
	{"DESCRIPTION", []block{
		para(`FIRST: IF THE PROCESS THAT HOLDS THE FILE IS STILL RUNNING, the file is
		not lost yet. Do not kill that process and do not shut the machine down
		cleanly: closing the last descriptor frees the inode at once, and nothing,
		not ext4relink either, can bring it back. Copy the file out now, through
		the descriptor the process holds (as root; see LIVE below):`),
		code{
			"ext4relink live",
			"ext4relink live --copy PID:FD --out /other/disk/rescued --freeze",
			"cp /proc/PID/fd/N /other/disk/rescued   # the same, without ext4relink",
		},
		para(`ext4relink is for what is left after a crash or power cut, when no
		process holds the file any more.`),
		para(`When a file is deleted while a process still holds it open, ext4 keeps its
		inode alive as an orphan: i_links_count 0, listed from the superblock's
		s_last_orphan through each inode's i_dtime, or in the orphan_file. After a
		crash or power cut the next mount, e2fsck, or even e2fsck -E journal_only
		deletes every orphan. ext4relink, run on the unmounted filesystem BEFORE any
		of those, gives the orphan a name again and takes it off the orphan list,
		keeping bitmaps, counters and every checksum right.`),
		para(`It replays the jbd2 journal in memory first, so it sees what the kernel
		would see, and validates every structure it relies on before the first
		write; on any doubt it refuses, names the structure, and writes nothing.`),
		para(`Do NOT mount the filesystem, not even read-only, and do not run fsck before
		ext4relink: a read-only mount still deletes orphans when the block device
		is writable.`),
	}},
	{"COMMANDS", []block{defs{
		{"[relink]", `The default command: "ext4relink relink --dev ..." is the same as
			"ext4relink --dev ...". Relink orphan inode N as PATH (relative to the
			filesystem root; a leading / is allowed), or with --original at the
			path it had. The parent directory must exist (or add --parents) and
			PATH must not, unless it already names inode N: then an earlier,
			interrupted run is completed. Re-running is always safe.
			With --all, every deleted-open orphan is relinked into DIR
			(default /lost+found) as #INODE, e.g. #14. Quote such names in a
			shell ('#14'): a word that starts with # begins a comment.`},
		{"list", `List every orphan: from the superblock chain (with its position)
			and from the orphan file (with its slot), as the replayed journal
			shows them, plus "stranded" ones a fast-commit replay cut off
			the chain (which the kernel and e2fsck would free). STATE is deleted-open (what ext4relink brings back),
			past-eof (also brought back: written blocks lie past a non-zero
			i_size, a write or shrinking truncate was in flight; see
			--keep-past-eof), truncating (links > 0: a truncate was in
			progress) or releasing (the kernel had begun freeing it: i_size
			already cut to 0); the last two are never touched. PATH is the
			orphan's original path, found in older copies of its directory's
			blocks still in the journal (checkpointed transactions too, each
			checked against its checksums), in the deleted entry's bytes left
			in the live directory block, or in a name that still links it; an
			entry counts only with the orphan's inode number and file type,
			and entries older than the file itself (an earlier file with the
			same inode number) are discarded. "?" when no entry survives (a
			file created and deleted within one journal transaction, an
			O_TMPFILE file) or the entries disagree: a wrong name is worse
			than none. A removed directory kept by a file open inside it
			shows "(parent of N)". With --json each object adds "path" (""
			when unknown), "path_from" (journal, remnant or live),
			"path_candidates" (every name found: path, parent, name, from,
			sequence and committed for the journal, block), "path_reason"
			when no path is given, and "parent_of". Never writes.
			Exit 5 when the orphan list itself is damaged (a loop, a link out
			of range): the orphans that could be read are still listed (with
			--json, the usual array) and the damage is named on stderr. With
			--scan, also the orphans on no list (WHERE and source "scan"),
			and what the scan read.`},
		{"extract", `Copy a file out without writing to DEV: orphan inode N
			(--inode), a linked file (--path, from the filesystem's root), or,
			with --all, every deleted-open orphan into the directory --out
			DIR (created if missing) at its original path under DIR, as list
			shows it, or as DIR/#INODE when that is not known (or taken by
			another orphan of the run). DEV is opened read-only,
			without O_EXCL (a read-only device or mount is fine, other readers
			are not blocked), and read through the journal replayed in memory,
			fast commits included. The copy is sparse (holes and unwritten
			extents stay holes), keeps mode, owner and times (not with
			--no-preserve), and symbolic links stay links. It is written under
			a temporary name next to FILE, flushed, read back from the disk
			and compared with what was read, and only then renamed to FILE;
			the size and sha256 are printed. An existing FILE is refused
			unless --force. A directory is refused (a deleted directory holds
			no names); --all skips it and says so. An output on the
			filesystem being read (DEV mounted somewhere, or an image attached
			to a mounted loop device) is refused: the copy could overwrite
			the very blocks it still has to read. A damaged extent block
			stops the copy (exit 5) unless --ignore-errors. A full output
			disk removes the partial file (exit 10). Large copies show
			progress on a terminal.`},
		{"deleted", `List the files deleted while closed (a plain rm, rm -rf) that the
			journal still describes: every transaction left in its log area,
			checkpointed ones too, is read (checksums validated) for the newest
			copy of each freed inode in which it was live. Columns: inode,
			original PATH (from logged copies of its directory's blocks,
			recursively for a removed tree; ? when the evidence is missing or
			disagrees: never a guess), type, mode, owner, size, mtime, DELETED
			(the freed inode's i_dtime) and STATE: intact (every block it needs,
			data and extent-tree or indirect blocks, is free now and was not
			taken since the deletion), reused (some are in use again, or were
			taken and freed since: their content may be another file's) or
			incomplete (its map, or a block of it, is not recoverable, or a
			transaction after its live copy was overwritten). A file deleted
			before the oldest transaction still in the log is not found: the
			journal has wrapped over it. With --json: one object, "files" (inode,
			path, path_from, type, size, mode, uid, gid, mtime, dtime, state,
			reason, sequence and commit time of the live copy, blocks), the
			number of transactions and the oldest one's commit time. Exit 6
			without an internal journal. Never writes.`},
		{"undelete", `Put a deleted file (see deleted) back in place, as PATH (--name)
			or under its original path (--original), when its state is intact
			and it is a regular file or a symbolic link: its blocks and its
			inode are marked in use again, the journal's copy of its inode is
			written back (links 1, dtime 0, generation kept, checksum renewed),
			freed extent-tree or indirect blocks are restored from their
			journal copies, and the directory entry is added, all in one
			journal transaction, then the device is re-read and the file read
			back by sha256. Refused, nothing written (exit 7), when anything it
			needs is in use again (named), when it is reused or incomplete, a
			directory, or the name exists; refused (exit 6) without an internal
			journal, when its extended attributes were in a separate block, or
			when its journal transaction would overwrite the journal copies
			the file is recovered from. Like every commit, the transaction
			goes right after the newest one in the log (where jbd2 would
			write next): other deleted files keep their evidence while the
			log has room there; otherwise the oldest copies are overwritten
			first, and the plan (--dry-run; JSON "journal_transaction") says
			how many.
			Re-running the same command after a crash finishes the job or finds
			it done.`},
		{"journal", `Show the journal's transactions as recovery would replay them:
			sequence, blocks, revokes, checksum state. Exit 5 when a logged
			copy the replay needs fails its checksum (the kernel's recovery,
			and so any mount, would fail). Never writes.`},
		{"partitions", `List the MBR or GPT partition table of a disk image or
			whole disk: number, start, size, type, name, and whether each holds
			an ext2/3/4 filesystem, with the option that selects it. Never
			writes.`},
		{"live", `List every deleted file still held on this running system:
			open descriptors (/proc/PID/fd), memory mappings (/proc/PID/maps) and
			loop devices whose backing file was deleted, each with its device
			(major:minor and /dev name), mount point, inode, size, the name it had,
			every holder (PID, command, descriptor, mapping, loop device) with the
			--copy argument for it, and the exact relink command to run from rescue
			media after a crash. With --copy, copy one out; with --all --out DIR,
			every one (as DIR/DEVNAME-INODE-NAME). Never writes to a held file.
			With --json: an object with "files" (each with "major", "minor",
			"device", "mount_point", "fstype", "inode", "size" and "blocks", -1
			when only a loop device holds it, "path", "fs_path",
			"rescue_command" and "holders", each with "kind" fd, map or loop,
			"pid", "command", "fd", "map", "loop" and "copy") and
			"what_is_possible"; a copy prints its "out", "size", "sha256",
			"blocks", "verified", "frozen". See LIVE.`},
		{"demo", `Unpack the bundled crash image (a database file and a log that
			were deleted while open, captured after sync), list its orphans
			with the original paths found in the journal and relink them
			there (--all --original), then check the result with e2fsck -fn when it
			is installed. Writes only the demo image (in DIR, default a new
			temporary directory).`},
	}}},
	// One entry per option: {"--name ARG", "description"}.
	{"OPTIONS", []block{para(`Flags may come before or after the command word; a flag that
		takes a value is given once. Numbers are decimal.`), defs{
		{"--dev DEV", "block device or image file holding the filesystem"},
		{"--partition N", `DEV is a disk image (or a disk without partition
			devices) with an MBR or GPT: work inside partition N only; every
			read and write is relative to its start and refused past its end.
			A DEV that starts with a partition table is refused (exit 3) with
			the list of its partitions and the --partition N to use; a whole
			disk whose partitions have devices (/dev/sda2) is pointed at them`},
		{"--offset BYTES", `the same from byte BYTES on (decimal, a multiple of
			512), up to the end of the partition holding it, or of DEV. Not
			with --partition`},
		{"--inode N", `the orphan's inode number, in decimal as ls -i, stat,
			debugfs and e2fsck print it (debugfs' <N> form is accepted; a
			leading zero, 0x or a sign is a usage error). See ext4relink list,
			or 'ls -l /proc/PID/fd | grep deleted', then 'stat -L'`},
		{"--name PATH", `the new name, inside the filesystem: from the filesystem's
			own root, not from where it is usually mounted (for a filesystem
			mounted at /mnt/data, /mnt/data/x is /x). Its directory must
			exist (or add --parents); /lost+found always does. A PATH ending in / is refused`},
		{"--all", `relink every deleted-open orphan; with live, copy every held
			deleted file into the directory --out (made if missing); with
			extract, copy every deleted-open and past-eof orphan into --out DIR`},
		{"--scan", `(list, --all, extract --all) also find orphans that are on no list: a torn
			write or a crash mid-update can cut the orphan chain, and e2fsck
			then frees every inode behind the cut. --scan reads every inode
			table the kernel has initialised (never an INODE_UNINIT group nor
			the bg_itable_unused tail), as the replayed journal shows it, and
			takes an inode with no links, a mode, i_dtime 0 or an inode number
			(a chain link), marked in use, every block it maps marked in use,
			and not being released. Each is listed with source "scan"; --all
			--scan relinks them with the listed ones, leaving the real list as
			it is. A single orphan off every list needs no scan: --inode N
			checks that one inode the same way, with or without --scan.
			extract --all --scan copies the scan's finds out too. On a
			large filesystem the scan takes as long as reading its used inode
			tables; progress goes to stderr when it is a terminal`},
		{"--path PATH", `extract: the linked file to copy, from the filesystem's
			root (as the replayed journal shows it)`},
		{"--no-preserve", `extract: leave mode, owner and times of the copy as a
			new file gets them`},
		{"--deleted", `extract: copy files deleted while closed (see deleted) through
			the maps of their journal copies: the one --inode N names to --out
			FILE, or every one listed into --out DIR, each at its original path
			under DIR, else DIR/#INODE. Directories and incomplete files are
			skipped (named); reused files too, unless --include-reused`},
		{"--include-reused", `extract --deleted: also copy reused files (some of
			their blocks are in use again or were taken since the deletion: the
			copy may hold another file's data there), each under its name
			with .REUSED appended and "state": "reused" in --json`},
		{"--ignore-errors", `extract: copy what can be read when an extent-tree
			or indirect block is damaged or a block cannot be read; the rest
			stays a hole, the missing byte ranges are listed, and the exit
			status is 9. The sha256 printed is the copy's`},
		{"--superblock N", `extract: read through the backup superblock at block
			N (like e2fsck -b) when the primary one or the group descriptors
			are destroyed: 32768 for 4 KiB blocks, 8193 for 1 KiB ones (or
			any later group's copy). The journal is replayed when it holds a
			log. Needs --blocksize`},
		{"--blocksize B", "extract: the block size of --superblock (like e2fsck -B)"},
		{"--quiet", "extract: no progress display"},
		{"--original", `instead of --name: relink inode N at its original path, the
			PATH list shows (refused, naming --name, when it is "?": unknown
			or ambiguous). A removed directory it was in that is itself an
			orphan (rm -rf around an open file leaves each removed ancestor
			as one) is relinked first, into its own parent, recursively.
			With --all, every orphan goes to its original path; one whose
			path is unknown or taken, or whose directory cannot come back,
			goes to --into as #INODE, and the output (JSON "original_path"
			and "why") says which went where and why. The names come from
			older copies of directory blocks in the journal; every commit
			writes its transaction after the newest one in the log, so it
			overwrites none of them while the log has room there, and the
			plan says how many it overwrites otherwise.
			--all --original needs the filesystem's journal. With
			undelete: put the deleted file back under its original path, as
			deleted shows it (its directory must still exist)`},
		{"--parents", `create the directories of the target path that do not
			exist (mkdir -p inside the filesystem): each gets a new inode
			and block from the free ones, mode 0755, owner root (uid and
			gid 0), every time set to now, and is linked into its parent
			in the same journal transaction as the relink (JSON
			"created"; --dry-run shows them). Refused without an
			internal journal, and under the quota or project features`},
		{"--into DIR", `directory for --all (default /lost+found); the names are
			#INODE, to be quoted in a shell ('#14')`},
		{"--dry-run", `print the plan (every block to be written and the fields
			that change) and write nothing`},
		{"--json", `machine-readable output on stdout. A refusal or failure is
			one object too: "error" (the message), "exit_code", and, when an
			on-disk structure is at fault, "structure", "block" and "offset"
			(inside that block; without a block, inside the device); the
			message also goes to stderr. A relink's object lists, in
			"remaining", the orphans it leaves on the list`},
		{"--undo FILE", `before changing any block, save its old content to FILE
			(a new file: an existing one is never overwritten) in the
			e2fsprogs undo format; 'e2undo FILE DEV' puts the device
			back exactly, as long as nothing else changed it since
			(e2undo refuses otherwise). With --dry-run no file is made`},
		{"--keep-past-eof", `for past-eof orphans, keep the blocks written past i_size
			and raise i_size to the end of the last one, instead of freeing
			them (the default, as the kernel's truncate would). They hold what
			reached the disk; the write in flight may not have. Refused when
			an unwritten block lies in between. Without a journal, or with
			quotas, the freeing is refused and this is the only way to relink
			such an orphan`},
		{"--allow-ro-mount", `write although the block device is mounted read-only
			(a root filesystem that cannot be unmounted). The kernel's cached
			view then goes stale: reboot afterwards and never remount it
			read-write before that. Not for image files: unmount those`},
		{"--copy PID:FD", `live: copy the deleted file process PID holds open as
			descriptor FD (decimal, as live prints it). PID:map:START-END copies a
			file the process only maps, loop:loopN (or /dev/loopN) the deleted
			backing file of a loop device, read through the device (from its
			offset on; blocks of zeros become holes)`},
		{"--out FILE", `live, extract: the output file (with --all, a directory). Put
			it on another disk. live: on the filesystem that holds the deleted file it is
			refused unless that has room for the copy plus a margin (64 MiB or 2%),
			and inside a loop device being copied it is always refused. extract:
			on the filesystem being read it is always refused`},
		{"--pid PID,...", `live: only the files these processes hold (decimal,
			separated by commas), for the list and for --all`},
		{"--force", "live, extract: replace an existing output (refused otherwise)"},
		{"--freeze", `live: stop every process that holds the file (SIGSTOP) for
			the copy, so a file being written is copied as it was at one
			instant, and always resume them (SIGCONT), also on errors and on
			SIGINT, SIGTERM or SIGHUP to ext4relink. A process stopped before
			is left stopped. Not for loop devices (the kernel writes them)`},
		{"-h, --help", "this text"},
		{"--version", "print the version, the VCS revision and the Go version it was built with"},
	}}},
	{"SAFETY", []block{
		para(`After a relink that leaves other orphans on the list, e2fsck -n reports
		them ("Deleted inode N has zero dtime", bitmap differences, exit 4): it
		never processes the orphan list. The next mount, even read-only, or
		e2fsck -p/-y frees them for good: relink every file you want first.`),
		para(`The device is opened with O_EXCL (block devices) or an exclusive lock (image
		files); a device mounted read-write is always refused. All changes of one run
		go into one journal transaction that is committed before any block is
		written in place, so a crash at any moment leaves either the old state (run
		the same command again) or the new one. A filesystem without an internal
		journal (none, or an external journal device with nothing to recover) is
		written in four flushed steps instead: the link count first (the orphan
		stays listed), then the directory entry, then the orphan list; a crash
		between steps loses nothing and the same command finishes the job. There,
		a name that needs a new directory block, and directory orphans, are
		refused.`),
		para(`A damaged orphan list (a chain that loops or links out of range, an
		orphan-file slot holding an impossible inode number) is still listed as
		far as it can be read, with exit 5. A relink takes the orphans read
		before the damage (and, with --scan, those behind it) and cuts the
		damage cleanly: the damaged link becomes 0, so the chain ends at its last
		readable member, and an impossible slot is emptied; e2fsck -fn is then
		clean once everything is relinked. Cutting loses nothing: the kernel's
		orphan cleanup stops at the same link and e2fsck frees what lies behind
		it either way, while those inodes keep every field --scan looks at, so
		it still finds them afterwards. --all on a damaged list is refused
		without --scan, since it would silently leave them out. Without a
		journal, orphans on no list are not relinked: the ordered steps cannot
		make their link count and their name one crash-safe change. A chain
		member that cannot be read (its inode fails its checksum) hides the
		members behind it: --all refuses; --all --scan relinks the others, the
		ones behind it found by the scan, and cuts the link to it, leaving that
		inode as it is for e2fsck.`),
	}},
	{"LIVE", []block{
		para(`While a process still holds a deleted file, the data is intact and
		readable through /proc/PID/fd/FD. live --copy copies it from there,
		read-only and sparse (SEEK_DATA and SEEK_HOLE: holes stay holes), into
		a temporary file next to --out; it is flushed, read back from the disk
		and its sha256 compared before it is renamed to --out, and the size
		and sha256 are printed. A full output disk stops the copy and the
		partial file is removed (exit 10). Without --freeze a file that changes
		during the copy gives a warning: the copy may mix old and new data.`),
		para(`Why not on the same filesystem: the held blocks are not free space,
		so writing there cannot overwrite them; but the copy takes as much space
		again on the very filesystem the holder is still writing to. Filling it
		makes the holder's own writes fail with ENOSPC (a database or VM, the
		thing being rescued, may then crash or corrupt its data) and uses up the
		reserve that keeps the system running. It is allowed only when the space
		available to ordinary users exceeds the file's allocated size plus the
		margin.`),
		para(`What is not possible: a deleted file cannot be given a name again
		while its filesystem is mounted, by any tool: linkat() on
		/proc/PID/fd/FD fails with ENOENT for a file whose link count is 0, and
		the frelink call that would allow it exists only as a kernel module.
		Killing the holders, or a clean shutdown, closes the last descriptor and
		frees the file for good. After a crash or power cut it waits on the
		orphan list instead: boot rescue media, do not mount the filesystem or
		run fsck, and run the command live printed for it,
		'ext4relink --dev DEV --inode N --name PATH' (DEV is the mount's source
		device, PATH the name inside the filesystem).`),
		para(`Should ext4relink itself be killed with SIGKILL during a --freeze
		copy, resume the holders with 'kill -CONT PID' (the PIDs are printed
		before they are stopped). Asynchronous I/O a process submitted before
		it was stopped (io_uring, AIO) can still complete during the copy. A
		holder in the foreground of a terminal is moved to the background by
		its shell when it stops: type fg there afterwards. If --out is on a
		FUSE filesystem whose daemon is a holder, the copy waits for it
		forever: Ctrl-C resumes the holders; write elsewhere.`),
	}},
	{"EXIT STATUS", []block{defs{
		{"0", "success"},
		{"1", "internal error (a bug; please report it with the message)"},
		{"2", "usage error"},
		{"3", `device error: cannot open, read or write DEV (for live: /proc or
			the held file; live without root when processes could not be read); also a device that is
			read-only (losetup -r, blockdev --setro, a write-protect switch),
			refused before anything is written, and running without root; and a
			DEV that holds a partition table instead of a filesystem (the message
			lists the partitions)`},
		{"4", "device busy: mounted, attached to a loop device, or held by another program"},
		{"5", `refused: an on-disk structure is corrupt or fails its checksum (named in
			the message); nothing was written`},
		{"6", `refused: a valid feature or structure ext4relink does not support (named
			in the message); nothing was written`},
		{"7", `refused: the request cannot be done (not an orphan, name exists, parent
			is not a directory, ...); nothing was written. For live: no such
			process, descriptor or loop device, not a deleted regular file, the
			output exists (without --force), the output on the holder's own
			filesystem without room, a holder that cannot be stopped`},
		{"8", "written, but verification afterwards failed (the message says what)"},
		{"9", `extract --ignore-errors: copied, but parts could not be read;
			they are holes in the copy and listed ("missing" with --json)`},
		{"10", `live, extract: the output cannot be written (its directory is
			missing, the disk is full, an I/O error) or, for extract, does not
			read back as written; a partial output was removed, the held file
			(live) or DEV (extract) is untouched`},
		{"130", `live, extract: SIGINT, SIGTERM (or, for live, SIGHUP) during a
			copy: the partial output was removed (live: the holders were
			resumed first)`},
	}}},
	{"EXAMPLES", []block{code{
		"ext4relink list --dev /dev/mapper/vg-root",
		"ext4relink --dev /dev/mapper/vg-root --inode 1573596 --name /home/me/rescued.iso --dry-run",
		"ext4relink --dev /dev/mapper/vg-root --inode 1573596 --name /home/me/rescued.iso",
		"ext4relink --dev disk.img --all --into /lost+found --json",
		"ext4relink extract --dev /dev/sdb2 --inode 1573596 --out /mnt/usb/rescued.iso",
		"ext4relink extract --dev disk.img --all --out /mnt/usb/rescued --superblock 32768 --blocksize 4096",
		"ext4relink --dev disk.img --all --original --parents --dry-run",
		"ext4relink partitions --dev vm-disk.raw",
		"ext4relink list --dev vm-disk.raw --partition 2",
		"ext4relink live",
		"ext4relink live --copy 4242:7 --out /media/usb/orders.db --freeze",
		"ext4relink live --all --out /media/usb/rescued --json",
		"ext4relink deleted --dev /dev/sdb1",
		"ext4relink undelete --dev /dev/sdb1 --inode 1311 --original --dry-run",
		"ext4relink undelete --dev /dev/sdb1 --inode 1311 --name /home/me/rescued.odt --undo /media/usb/sdb1.undo",
	}}},
}
