package parttable

import "fmt"

// gptTypes names the partition type GUIDs one meets on Linux and VM disks
// (the names util-linux's fdisk prints).
var gptTypes = map[string]string{
	"C12A7328-F81F-11D2-BA4B-00A0C93EC3B8": "EFI System",
	"21686148-6449-6E6F-744E-656564454649": "BIOS boot",
	"0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
	"E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
	"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
	"A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
	"933AC7E1-2EB4-4F13-B844-0E14E2AEF915": "Linux home",
	"3B8F8425-20E0-4F3B-907F-1A25A76F98E8": "Linux server data",
	"BC13C2FF-59E6-4262-A352-B275FD6F7172": "Linux extended boot",
	"CA7D7CCB-63ED-4C53-861C-1742536059CC": "Linux LUKS",
	"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
	"44479540-F297-41B2-9AF7-D131D5F0458A": "Linux root (x86)",
	"B921B045-1DF0-41C3-AF44-4C6F280D3FAE": "Linux root (ARM-64)",
	"4D21B016-B534-45C2-A9FB-5C16E091FD2D": "Linux variable data",
	"7EC6F557-3BC5-4ACA-B293-16EF5DF639D1": "Linux temporary data",
	"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
	"E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft reserved",
	"DE94BBA4-06D1-4D40-A16A-BFD50179D6AC": "Windows recovery environment",
	"48465300-0000-11AA-AA11-00306543ECAC": "Apple HFS/HFS+",
	"7C3457EF-0000-11AA-AA11-00306543ECAC": "Apple APFS",
	"516E7CBA-6ECF-11D6-8FF8-00022D09712B": "FreeBSD data",
	"6A898CC3-1DD2-11B2-99A6-080020736631": "Solaris /usr & Apple ZFS",
	"024DEE41-33E7-11D3-9D69-0008C781F39F": "MBR partition scheme",
}

// mbrTypes names the common MBR partition types.
var mbrTypes = map[uint8]string{
	0x01: "FAT12", 0x04: "FAT16 <32M", 0x05: "Extended", 0x06: "FAT16", 0x07: "HPFS/NTFS/exFAT",
	0x0b: "W95 FAT32", 0x0c: "W95 FAT32 (LBA)", 0x0e: "W95 FAT16 (LBA)", 0x0f: "W95 Ext'd (LBA)",
	0x11: "Hidden FAT12", 0x27: "Hidden NTFS WinRE", 0x42: "SFS",
	0x82: "Linux swap / Solaris", 0x83: "Linux", 0x85: "Linux extended", 0x8e: "Linux LVM",
	0xa5: "FreeBSD", 0xa6: "OpenBSD", 0xa8: "Darwin UFS", 0xa9: "NetBSD", 0xaf: "HFS / HFS+",
	0xda: "Non-FS data", 0xee: "GPT", 0xef: "EFI (FAT-12/16/32)", 0xfd: "Linux raid autodetect",
}

// GPTTypeName names a partition type GUID ("" when unknown).
func GPTTypeName(guid string) string { return gptTypes[guid] }

// MBRTypeName names an MBR partition type ("" when unknown).
func MBRTypeName(t uint8) string { return mbrTypes[t] }

func mbrTypeString(t uint8) string { return fmt.Sprintf("0x%02x", t) }
