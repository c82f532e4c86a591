package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// Numeric flags are decimal only. pflag's own integer flags parse with
// base 0, so "--inode 023" would be octal (inode 19) and "--inode 0x13"
// hex: a mistyped leading zero would relink another orphan. lsof, ls -i,
// stat, debugfs and e2fsck all print decimal.

// decimalValue is a pflag.Value for an unsigned decimal number of at most
// bits bits. debugfs' "<N>" form is accepted for inode numbers.
type decimalValue struct {
	p    *uint64
	bits int
	set  bool
}

func (d *decimalValue) String() string {
	if d.p == nil {
		return "0"
	}
	return strconv.FormatUint(*d.p, 10)
}

func (d *decimalValue) Type() string { return "decimal" }

func (d *decimalValue) Set(s string) error {
	n, err := parseInodeNumber(s, d.bits)
	if err != nil {
		return err
	}
	*d.p, d.set = n, true
	return nil
}

// parseInodeNumber is parseDecimal that also takes debugfs' "<N>" form
// and refuses 0, which names no inode.
func parseInodeNumber(s string, bits int) (uint64, error) {
	v := s
	if strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") {
		v = v[1 : len(v)-1]
	}
	n, err := parseDecimal(v, bits)
	if err == nil && n == 0 {
		err = fmt.Errorf("%q: there is no inode 0; inode numbers start at 1 (see 'ext4relink list')", s)
	}
	return n, err
}

// parseDecimal accepts decimal digits only, without sign, base prefix or
// leading zero.
func parseDecimal(s string, bits int) (uint64, error) {
	v := s
	bad := v == "" || (len(v) > 1 && v[0] == '0')
	for _, c := range v {
		if c < '0' || c > '9' {
			bad = true
		}
	}
	if bad {
		return 0, fmt.Errorf("%q is not a decimal number (write it as ls -i, stat and debugfs print it: digits only, no leading zero, no 0x)", s)
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range (at most %d)", s, uint64(1)<<bits-1)
	}
	return n, nil
}

// uint32Flag defines a decimal-only uint32 flag.
func uint32Flag(fl *pflag.FlagSet, p *uint32, name, usage string) {
	var v uint64
	fl.Var(&u32Value{decimalValue{p: &v, bits: 32}, p}, name, usage)
}

// u32Value mirrors a decimalValue into a uint32.
type u32Value struct {
	decimalValue
	out *uint32
}

func (u *u32Value) Set(s string) error {
	if err := u.decimalValue.Set(s); err != nil {
		return err
	}
	*u.out = uint32(*u.p)
	return nil
}

// onceValue refuses a second value for a flag that takes one:
// "--inode 13 --inode 14" is a usage error, not "last one wins".
type onceValue struct {
	pflag.Value
	name string
	seen bool
}

func (o *onceValue) Set(s string) error {
	if o.seen {
		return fmt.Errorf("--%s was given more than once; it takes one value", o.name)
	}
	if s == "" {
		// An unset shell variable ("--undo $UNDO") must not silently mean
		// "no undo file".
		return fmt.Errorf("--%s was given an empty value", o.name)
	}
	o.seen = true
	return o.Value.Set(s)
}

// singleValued wraps every flag that takes a value so that repeating it is
// an error. Boolean flags may repeat harmlessly.
func singleValued(fl *pflag.FlagSet) {
	fl.VisitAll(func(f *pflag.Flag) {
		if f.Value.Type() == "bool" {
			return
		}
		if _, ok := f.Value.(*onceValue); !ok {
			f.Value = &onceValue{Value: f.Value, name: f.Name}
		}
	})
}
